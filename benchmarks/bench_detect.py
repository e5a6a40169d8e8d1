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
- cameras_per_core_objects: the server's own path — 16 cameras replaying (bench_motion's ClipFeed, real time)
  a 640x360 25 fps x264 clip of people/motorbikes in view 20 % of the time, each camera at another point of
  the loop, through the engine, MotionAnalysers and the shared DetectionPool (1 worker), process pinned to one
  core: 16 / the cores its CPU time used. Beside it, the same 16 cameras without detection
  (cameras_per_core_motion_only) and the ratio; also the detections skipped (the pool's bounded queue when
  several cameras' crops arrive at once) — a camera that skips a frame still detects on the next one.
- cameras_per_core_objects_offline: the same kind of clip at the simulator's 10 fps, decoded (PyAV, one
  thread) and analysed by ObjectPipeline (nothing skipped, no plumbing): clip seconds / CPU seconds, beside
  motion only.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
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
SERVER_CAMERAS = 16  # cameras replayed through the server's path at once (the target: 16 per core)
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
    result.update(asyncio.run(_server_cameras_per_core(quick)))
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


def _encoded_units(clip: clips.Clip, fps: int, kbps: int) -> list[tuple[bytes, bool]]:
    """Return the clip encoded once by x264 (baseline, SPS/PPS on every keyframe): (access unit, keyframe)."""
    import av

    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 640, 360, "yuv420p"
    enc.framerate = Fraction(fps)
    enc.time_base = Fraction(1, fps)
    enc.bit_rate = kbps * 1000
    enc.gop_size = fps
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "threads": "1",
                   "x264-params": "repeat-headers=1"}
    units: list[tuple[bytes, bool]] = []
    for k, (_t, bgr, _y) in enumerate(clips.frames(clip, fps)):
        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
        frame.pts = k
        units.extend((bytes(p), bool(p.is_keyframe)) for p in enc.encode(frame))
    units.extend((bytes(p), bool(p.is_keyframe)) for p in enc.encode(None))
    return units


def _encoded(clip: clips.Clip) -> list[Any]:
    """Return the clip encoded once as x264 baseline packets at the sub stream's rate (like the simulator)."""
    return [data for data, _ in _encoded_units(clip, SUB_FPS, 300)]


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
    out = {"cameras_per_core_objects_offline": round(clip.seconds / cpu_objects, 1),
           "cameras_per_core_motion_only_offline": round(clip.seconds / cpu_motion, 1)}
    out["cameras_per_core_objects_offline_ratio"] = round(
        out["cameras_per_core_objects_offline"] / out["cameras_per_core_motion_only_offline"], 3)
    share = sum(t.end - t.start for t in clips.truth(clip)) / clip.seconds
    print(f"cameras per core, {clip.seconds:.0f} s clip at 10 fps with objects in view {share:.0%} of the time "
          f"(decode + analysis, one core): with detection {out['cameras_per_core_objects_offline']} "
          f"({cpu_objects / clip.seconds * 1000:.1f} ms CPU per camera-second, {pipe.stats.crops_detected} crops "
          f"detected); baseline motion only {out['cameras_per_core_motion_only_offline']} "
          f"({cpu_motion / clip.seconds * 1000:.1f} ms/s); ratio {out['cameras_per_core_objects_offline_ratio']}",
          flush=True)
    return out



async def _server_phase(units: list[tuple[bytes, bool]], n: int, warm_s: float, measure_s: float,
                        objects: bool) -> dict[str, Any]:
    """Replay the clip as ``n`` cameras through the server's MotionAnalysers (detection pool when ``objects``)."""
    from benchmarks.bench_motion import FPS, ClipFeed
    from cameras.motion.analyser import MotionAnalysers
    from mediaserver.config import DetectionSettings, RecordSettings
    from mediaserver.engine import Engine

    engine = Engine()
    gops = max(1, len(units) // FPS)
    # Cameras start spread over the whole loop, so at any moment about the motion share of them see someone.
    feeds = [ClipFeed(f"cam-{i:02d}", units, (i * gops // n) * FPS) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        analysers = MotionAnalysers(None, engine, Path(tmp), detection=DetectionSettings() if objects else None)
        for feed in feeds:
            await analysers.analyse(feed.source.owner, "sub", feed, MotionSettings(analysis_fps=ANALYSIS_FPS),
                                    RecordSettings(), objects=ObjectSettings(enabled=objects))
        tasks = [asyncio.create_task(f.run(i / FPS / n)) for i, f in enumerate(feeds)]
        try:
            await asyncio.sleep(warm_s)
            pool = analysers.pool
            before = analysers.stats()
            done0 = sum(pool.done.values()) if pool else 0
            skipped0 = sum(pool.skipped.values()) if pool else 0
            published = {f.source.owner: f.published for f in feeds}
            c0, t0 = time.process_time(), time.monotonic()
            await asyncio.sleep(measure_s)
            cpu, elapsed = time.process_time() - c0, time.monotonic() - t0
            after = analysers.stats()
            done = (sum(pool.done.values()) - done0) if pool else 0
            skipped = (sum(pool.skipped.values()) - skipped0) if pool else 0
            published = {f.source.owner: f.published - published[f.source.owner] for f in feeds}
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await analysers.stop()
            engine.close()
    behind = max(published[c] * ANALYSIS_FPS / FPS - (after[c].frames_analysed - before[c].frames_analysed)
                 for c in after)
    dropped = sum(a.frames_dropped - before[c].frames_dropped for c, a in after.items())
    return {"cores": cpu / elapsed, "detections": done, "skipped": skipped, "behind_max": behind,
            "dropped": dropped, "elapsed": elapsed}


async def _server_cameras_per_core(quick: bool) -> dict[str, Any]:
    """Cameras per core through the server's own path (engine → analysers → shared detection pool), one core."""
    from benchmarks.bench_motion import FPS, KBPS, KEEP_UP_SLACK_FRAMES

    n = SERVER_CAMERAS
    clip = clips.share_clip(60.0, MOTION_SHARE)
    units = await asyncio.to_thread(_encoded_units, clip, FPS, KBPS)
    warm_s, measure_s = (4.0, 15.0) if quick else (5.0, 40.0)
    motion = await _server_phase(units, n, warm_s, measure_s, objects=False)
    objects = await _server_phase(units, n, warm_s, measure_s, objects=True)
    kept_up = (objects["skipped"] == 0 and objects["dropped"] == 0
               and objects["behind_max"] <= KEEP_UP_SLACK_FRAMES)
    tried = objects["detections"] + objects["skipped"]
    out = {"cameras_per_core_objects": round(n / objects["cores"], 1),
           "cameras_per_core_motion_only": round(n / motion["cores"], 1),
           "server_cameras_measured": n, "server_objects_kept_up": kept_up,
           "server_detections_per_s": round(objects["detections"] / objects["elapsed"], 2),
           "server_detections_skipped": objects["skipped"],
           "server_detections_skipped_share": round(objects["skipped"] / tried, 3) if tried else 0.0}
    out["cameras_per_core_objects_ratio"] = round(
        out["cameras_per_core_objects"] / out["cameras_per_core_motion_only"], 3)
    print(f"server path, {n} cameras replaying a {FPS} fps {KBPS} kbit/s clip (people/motorbikes in view "
          f"{MOTION_SHARE:.0%} of the time), one core: with detection {100 * objects['cores']:.1f} % of a core "
          f"({out['server_detections_per_s']} detections/s, {objects['skipped']} skipped, {objects['dropped']} "
          f"frames dropped, kept up: {kept_up}) → cameras_per_core_objects {out['cameras_per_core_objects']} (CPU); "
          f"baseline motion only {100 * motion['cores']:.1f} % → {out['cameras_per_core_motion_only']}; ratio "
          f"{out['cameras_per_core_objects_ratio']}",
          flush=True)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(os.environ.get("QUICK") == "1")))
