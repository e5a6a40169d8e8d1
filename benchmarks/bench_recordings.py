"""Recordings benchmark (`make bench-recordings`, `QUICK=1` within 5 minutes): runs the five parts and merges.

1. benchmarks.bench_motion — motion_cost_ratio (decode + detect ÷ decode alone) and cameras_per_core.
2. benchmarks.bench_record — record_cpu_ratio (our ingest + segment recorder ÷ `ffmpeg -c copy`).
3. benchmarks.bench_search — search_ms_p95 over an index of 50 cameras × 1 year of events.
4. benchmarks.bench_detect — detect_ms_p50/p95 (YOLOv3-tiny, 320 crop, one core) beside the whole-frame 416
   baseline, cameras_per_core_objects_projected (from part 1's cameras_per_core); on the simulator's labelled
   photo clips: precision/recall for person and vehicle, false_alerts_per_hour on lighting + foliage only, and
   the measured cameras_per_core_objects at a 20 % motion share through the server's path (beside motion only).
5. benchmarks.bench_takeover — takeover_s: two nodes on one PostgreSQL index, one killed with SIGKILL → all its
   cameras recording on the other, beside one node's cold start of its cameras.
Each part prints its own results beside its baseline; the last line here is one JSON object with them all.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

QUICK = os.environ.get("QUICK") == "1"
PARTS = ("bench_motion", "bench_record", "bench_search", "bench_detect", "bench_takeover")
TARGETS = {"motion_cost_ratio": ("≤", 1.3), "cameras_per_core": ("≥", 16), "record_cpu_ratio": ("≤", 1.5),
           "search_ms_p95": ("≤", 50), "search_pg_ms_p95": ("≤", 50), "cameras_per_core_objects_projected": ("≥", 16),
           "cameras_per_core_objects": ("≥", 16), "precision": ("≥", 0.9), "recall": ("≥", 0.9),
           "precision_person": ("≥", 0.9), "recall_person": ("≥", 0.9), "precision_vehicle": ("≥", 0.9),
           "recall_vehicle": ("≥", 0.9), "false_alerts_per_hour": ("≤", 1), "takeover_s": ("≤", 30)}


def main() -> int:
    """Run every part in turn, print a summary against the targets and the merged JSON."""
    t0 = time.monotonic()
    merged: dict[str, Any] = {"bench": "recordings", "quick": QUICK}
    failed: list[str] = []
    for i, name in enumerate(PARTS, start=1):
        print(f"=== [{i}/{len(PARTS)}] {name} ({'QUICK' if QUICK else 'full'}) ===", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            if name == "bench_detect":  # projects from the motion part's measured cost per camera
                merged.update(module.run(QUICK, merged.get("cameras_per_core")))
            else:
                merged.update(module.run(QUICK))
        except Exception as exc:  # one part failing still reports the others
            print(f"{name} failed: {exc!r}", file=sys.stderr, flush=True)
            failed.append(name)
    merged.pop("bench", None)
    print("=== results ===", flush=True)
    for key, (op, target) in TARGETS.items():
        value = merged.get(key)
        met = value is not None and (value <= target if op == "≤" else value >= target)
        print(f"  {key} = {value} (target {op} {target}: {'met' if met else 'NOT met'})", flush=True)
    print(f"  run time {time.monotonic() - t0:.0f} s", flush=True)
    if failed:
        merged["failed_parts"] = failed
    print(json.dumps({"bench": "recordings", **merged}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
