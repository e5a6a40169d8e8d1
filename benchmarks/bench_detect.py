"""Object-detection part of `make bench-recordings`: the cost of one detection on one core, and a projection.

- detect_ms_p50 / detect_ms_p95: one YOLOv3-tiny detection (cameras.detect.model) of a 320x320 motion-region
  crop on one core (OpenCV's dnn with one thread, process pinned to one CPU), beside the baseline of the
  same network on the whole frame at 416x416 (what a detector that ignores motion regions would run).
- cameras_per_core_objects_projected: 1 / (motion analysis per camera + motion share x detections per
  second x detection cost), with the motion analysis cost from bench_motion's cameras_per_core when it ran
  first. A projection from measured parts, not a run of the integrated pipeline (not built yet).
- photo_recall / photo_false_positives: on scikit-image's bundled photographs (people: camera, astronaut;
  vehicle: motorcycle_left; none: grass, gravel, coffee, rocket) at the default min score.

Labelled clips (cameras/simulator/clips.py: the simulator's photo scenes rendered offline, 640x360 like the
sub stream, analysed at 5 fps through cameras.detect.offline.ObjectPipeline at the default settings):
- precision_person / recall_person, precision_vehicle / recall_vehicle (and precision / recall over both):
  per event — an event is a true positive when it carries the class of an object in view during it; an
  object is found when an event during it carries its class. Baseline: motion alone (every motion event an
  alert), precision_baseline_motion_only.
- false_alerts_per_hour on a clip with only lighting changes and swaying foliage (10 min; QUICK 3 min),
  beside the motion events per hour a motion-only system would raise on it (motion_alerts_per_hour_baseline).
- cameras_per_core_objects: a 640x360 10 fps clip with people/motorbikes in view 20 % of the time, encoded
  once with x264 (like the simulator's sub stream), then decoded (PyAV, one thread) and analysed with
  detection on, on one core: clip seconds / CPU seconds. Baseline in the same run: the same with detection
  off (cameras_per_core_motion_only), and the ratio between them.
"""

from __future__ import annotations

import os
import statistics
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from cameras.detect.model import ObjectModel
from cameras.detect.offline import LabelledEvent, ObjectPipeline
from cameras.simulator import clips
from mediaserver.config import MotionSettings, ObjectSettings

MOTION_SHARE = 0.2  # share of the time something moves in front of a camera
DETECT_FPS = 1.0  # detections per second per camera while it moves (the default bounded rate)
MIN_SCORE = 0.5  # the default minimum score
ANALYSIS_FPS = 5.0  # the default motion.analysis_fps
SUB_FPS = 10  # the simulated sub stream's frame rate
DEFAULT_CAMERAS_PER_CORE = 120.0  # motion analysis alone, when bench_motion did not run (BENCHMARKS.md)


def _photos() -> dict[str, Any]:
    from skimage import data

    out: dict[str, Any] = {}
    for name in ("camera", "astronaut", "grass", "gravel", "coffee", "rocket"):
        rgb = getattr(data, name)()
        out[name] = cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR if rgb.ndim == 2 else cv2.COLOR_RGB2BGR)
    out["motorcycle_left"] = cv2.imread(f"{data.data_dir}/motorcycle_left.png")
    return out


def _timed(model: ObjectModel, img: Any, n: int) -> list[float]:
    model.detect(img)  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.detect(img)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def run(quick: bool, cameras_per_core_motion: float | None = None) -> dict[str, Any]:
    """Measure and return the detection figures (see the module doc)."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        return _run(quick, cameras_per_core_motion)
    finally:
        os.sched_setaffinity(0, cpus)


def _run(quick: bool, cameras_per_core_motion: float | None) -> dict[str, Any]:
    cv2.setNumThreads(1)
    n = 15 if quick else 60
    photos = _photos()
    frame = np.full((360, 640, 3), 100, dtype=np.uint8)
    frame[:, 64:576] = cv2.resize(photos["camera"], (512, 360))
    crop = frame[0:320, 160:480]
    m320, m416 = ObjectModel(320), ObjectModel(416)
    t320 = sorted(_timed(m320, crop, n))
    t416 = sorted(_timed(m416, frame, n))
    p50, p95 = statistics.median(t320), t320[min(len(t320) - 1, int(0.95 * len(t320)))]
    b50 = statistics.median(t416)
    motion_cpc = cameras_per_core_motion or DEFAULT_CAMERAS_PER_CORE
    per_camera_core = 1.0 / motion_cpc + MOTION_SHARE * DETECT_FPS * p95 / 1000.0
    expected = {"camera": "person", "astronaut": "person", "motorcycle_left": "motorcycle"}
    hits = sum(1 for k, label in expected.items()
               if any(d.label == label and d.score >= MIN_SCORE for d in m320.detect(photos[k])))
    fps = sum(1 for k in ("grass", "gravel", "coffee", "rocket")
              for d in m320.detect(photos[k]) if d.score >= MIN_SCORE)
    result: dict[str, Any] = {
        "detect_ms_p50": round(p50, 1), "detect_ms_p95": round(p95, 1),
        "detect_ms_p50_baseline_full_frame_416": round(b50, 1),
        "cameras_per_core_objects_projected": round(1.0 / per_camera_core, 1),
        "photo_recall": round(hits / len(expected), 2), "photo_false_positives": fps}
    print(f"detect 320 crop: p50 {p50:.1f} ms p95 {p95:.1f} ms; baseline whole frame 416: p50 {b50:.1f} ms", flush=True)
    print(f"projected cameras per core with objects ({MOTION_SHARE:.0%} motion, {DETECT_FPS} det/s): "
          f"{result['cameras_per_core_objects_projected']}; photo recall {result['photo_recall']}, "
          f"false positives {fps}", flush=True)
    result.update(_clips(quick, m320))
    result.update(_cameras_per_core(quick, m320))
    return result


def _pipeline(clip: clips.Clip, model: ObjectModel, *, objects: bool = True) -> list[LabelledEvent]:
    """Return the labelled events of a clip rendered offline and analysed at the default settings."""
    pipe = ObjectPipeline(MotionSettings(), ObjectSettings(enabled=objects), model=model if objects else None)
    for t, bgr, luma in clips.frames(clip, ANALYSIS_FPS):
        pipe.feed(t, bgr, luma)
    return pipe.finish()


def _clips(quick: bool, model: ObjectModel) -> dict[str, Any]:
    """Precision/recall on the labelled object clips and false alerts per hour on the distractor clip."""
    t0 = time.monotonic()
    scores: dict[str, list[clips.ClassScore]] = {"person": [], "vehicle": []}
    motion_events = motion_true = 0
    for seed in range(1, (3 if quick else 7)):
        clip = clips.objects_clip(seed)
        truth = clips.truth(clip)
        found = _pipeline(clip, model)
        events = [(e.start, e.end, e.labels) for e in found]
        for kind in scores:
            scores[kind].append(clips.score(events, truth, kind))
        motion_events += len(found)
        motion_true += sum(1 for e in found if any(e.start <= t.end + 1 and t.start - 1 <= e.end for t in truth))
        missed = [t for t in truth if not any(t.kind in clips.kinds(e.labels) and e.start <= t.end + 1
                                              and t.start - 1 <= e.end for e in found)]
        wrong = [(round(e.start, 1), e.labels) for e in found if e.labels and not any(
            k == t.kind and e.start <= t.end + 1 and t.start - 1 <= e.end
            for t in truth for k in clips.kinds(e.labels))]
        print(f"  {clip.name} ({clip.seconds:.0f} s, {clip.scene['backdrop']}): {len(truth)} objects, "
              f"{len(found)} motion events; missed {missed or 'none'}; wrong labels {wrong or 'none'}", flush=True)
    out: dict[str, Any] = {}
    totals = []
    for kind, per_clip in scores.items():
        total = clips.ClassScore(*(sum(getattr(c, f) for c in per_clip)
                                   for f in ("events", "true_events", "objects", "found")))
        totals.append(total)
        out[f"precision_{kind}"], out[f"recall_{kind}"] = round(total.precision, 3), round(total.recall, 3)
        out[f"{kind}_objects"] = total.objects
    both = clips.ClassScore(*(sum(getattr(c, f) for c in totals)
                              for f in ("events", "true_events", "objects", "found")))
    out["precision"], out["recall"] = round(both.precision, 3), round(both.recall, 3)
    out["precision_baseline_motion_only"] = round(motion_true / motion_events, 3) if motion_events else None
    distract = clips.distractor_clip(180.0 if quick else 600.0)
    found = _pipeline(distract, model)
    hours = distract.seconds / 3600.0
    alerts = [e for e in found if e.kind == "alert"]
    out["false_alerts_per_hour"] = round(len(alerts) / hours, 2)
    out["motion_alerts_per_hour_baseline"] = round(len(found) / hours, 1)
    out["distractor_clip_s"] = distract.seconds
    print(f"labelled clips: person precision {out['precision_person']} recall {out['recall_person']} "
          f"({out['person_objects']} people); vehicle precision {out['precision_vehicle']} recall "
          f"{out['recall_vehicle']} ({out['vehicle_objects']} motorbikes); baseline motion-only precision "
          f"{out['precision_baseline_motion_only']}", flush=True)
    print(f"distractors only ({distract.seconds:.0f} s of lighting + foliage): {len(alerts)} alerts = "
          f"{out['false_alerts_per_hour']} per hour (labels {[e.labels for e in alerts] or 'none'}); baseline "
          f"motion-only {len(found)} events = {out['motion_alerts_per_hour_baseline']} per hour; "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    return out


def _encoded(clip: clips.Clip) -> list[Any]:
    """Return the clip encoded once as x264 baseline packets at the sub stream's rate (like the simulator)."""
    import av

    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 640, 360, "yuv420p"
    enc.framerate = Fraction(SUB_FPS)
    enc.time_base = Fraction(1, SUB_FPS)
    enc.bit_rate = 300_000
    enc.gop_size = SUB_FPS
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "threads": "1"}
    packets: list[Any] = []
    for k, (_t, bgr, _y) in enumerate(clips.frames(clip, SUB_FPS)):
        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
        frame.pts = k
        packets.extend(bytes(p) for p in enc.encode(frame))
    packets.extend(bytes(p) for p in enc.encode(None))
    return packets


def _analysis_cpu_s(packets: list[Any], model: ObjectModel | None) -> tuple[float, ObjectPipeline]:
    """Return the CPU seconds to decode every packet and analyse it (objects when a model is given)."""
    import av

    pipe = ObjectPipeline(MotionSettings(), ObjectSettings(enabled=model is not None), model=model)
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    c0 = time.thread_time()
    k = 0
    for data in packets:
        for frame in dec.decode(av.Packet(data)):
            wall = k / SUB_FPS
            k += 1
            if k % (SUB_FPS // int(ANALYSIS_FPS)):  # the analyser looks at every 2nd frame of 10 fps
                continue
            pipe.feed(wall, frame.to_ndarray(format="bgr24"))
    pipe.finish()
    return time.thread_time() - c0, pipe


def _cameras_per_core(quick: bool, model: ObjectModel) -> dict[str, Any]:
    """Cameras per core with detection on at a 20 % motion share, beside motion-only, measured."""
    clip = clips.share_clip(60.0 if quick else 180.0, MOTION_SHARE)
    packets = _encoded(clip)
    cpu_motion, _ = _analysis_cpu_s(packets, None)
    cpu_objects, pipe = _analysis_cpu_s(packets, model)
    out = {"cameras_per_core_objects": round(clip.seconds / cpu_objects, 1),
           "cameras_per_core_motion_only": round(clip.seconds / cpu_motion, 1)}
    out["cameras_per_core_objects_ratio"] = round(
        out["cameras_per_core_objects"] / out["cameras_per_core_motion_only"], 3)
    share = sum(t.end - t.start for t in clips.truth(clip)) / clip.seconds
    print(f"cameras per core, {clip.seconds:.0f} s clip at 10 fps with objects in view {share:.0%} of the time "
          f"(decode + analysis, one core): with detection {out['cameras_per_core_objects']} "
          f"({cpu_objects / clip.seconds * 1000:.1f} ms CPU per camera-second, {pipe.stats.crops_detected} crops "
          f"detected); baseline motion only {out['cameras_per_core_motion_only']} "
          f"({cpu_motion / clip.seconds * 1000:.1f} ms/s); ratio {out['cameras_per_core_objects_ratio']}", flush=True)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(os.environ.get("QUICK") == "1")))
