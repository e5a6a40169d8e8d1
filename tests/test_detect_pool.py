"""Detection regions from motion boxes, and the shared pool's bounded queue (real model, real photo)."""

from __future__ import annotations

import threading

import cv2
import pytest

from cameras.detect.model import Detection
from cameras.detect.pool import DetectionPool
from cameras.detect.regions import regions

skimage_data = pytest.importorskip("skimage.data")


def test_overlapping_boxes_merge_into_one_square_inside_the_frame() -> None:
    got = regions([(0.10, 0.20, 0.05, 0.30), (0.13, 0.25, 0.05, 0.30), (0.9, 0.9, 0.02, 0.02)], 640, 360)
    assert len(got) == 2
    for x, y, w, h in got:
        assert w == h and x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360
    x, y, w, _ = got[0]
    assert x <= 0.10 * 640 and x + w >= 0.18 * 640  # covers both merged boxes


def test_a_box_taller_than_the_frame_gives_the_largest_square() -> None:
    assert regions([(0.4, 0.0, 0.2, 1.0)], 640, 360) == [(140, 0, 360, 360)]


def test_pool_detects_and_skips_when_full() -> None:
    photo = cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR)
    results: list[list[Detection]] = []
    done = threading.Event()
    gate = threading.Event()

    def on_done(found: list[Detection], ms: float) -> None:
        gate.wait(10)  # hold the worker so the queue fills
        results.append(found)
        if len(results) == 2:
            done.set()

    pool = DetectionPool(workers=1, queue_max=1)
    try:
        accepted = [pool.submit("cam", photo, on_done) for _ in range(6)]
        assert accepted.count(True) in (1, 2) and pool.skipped["cam"] == accepted.count(False)
        gate.set()
        if accepted.count(True) == 2:
            assert done.wait(20)
    finally:
        gate.set()
        pool.close()
    assert results and results[0][0].label == "person"
    assert pool.done["cam"] == accepted.count(True)
