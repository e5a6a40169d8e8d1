"""Object-detection part of `make bench-recordings`: the cost of one detection on one core, and a projection.

- detect_ms_p50 / detect_ms_p95: one YOLOv3-tiny detection (cameras.detect.model) of a 320x320 motion-region
  crop on one core (OpenCV's dnn with one thread, process pinned to one CPU), beside the baseline of the
  same network on the whole frame at 416x416 (what a detector that ignores motion regions would run).
- cameras_per_core_objects_projected: 1 / (motion analysis per camera + motion share x detections per
  second x detection cost), with the motion analysis cost from bench_motion's cameras_per_core when it ran
  first. A projection from measured parts, not a run of the integrated pipeline (not built yet).
- photo_recall / photo_false_positives: on scikit-image's bundled photographs (people: camera, astronaut;
  vehicle: motorcycle_left; none: grass, gravel, coffee, rocket) at the default min score.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import cv2
import numpy as np

from cameras.detect.model import ObjectModel

MOTION_SHARE = 0.2  # share of the time something moves in front of a camera
DETECT_FPS = 1.0  # detections per second per camera while it moves (the default bounded rate)
MIN_SCORE = 0.5  # the default minimum score
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
    result = {"detect_ms_p50": round(p50, 1), "detect_ms_p95": round(p95, 1),
              "detect_ms_p50_baseline_full_frame_416": round(b50, 1),
              "cameras_per_core_objects_projected": round(1.0 / per_camera_core, 1),
              "photo_recall": round(hits / len(expected), 2), "photo_false_positives": fps}
    print(f"detect 320 crop: p50 {p50:.1f} ms p95 {p95:.1f} ms; baseline whole frame 416: p50 {b50:.1f} ms", flush=True)
    print(f"projected cameras per core with objects ({MOTION_SHARE:.0%} motion, {DETECT_FPS} det/s): "
          f"{result['cameras_per_core_objects_projected']}; photo recall {result['photo_recall']}, "
          f"false positives {fps}", flush=True)
    return result


if __name__ == "__main__":
    print(run(os.environ.get("QUICK") == "1"))
