"""A small detection pool shared by every camera: bounded, off the event loop, skipping (and counting) when busy.

Cameras submit jobs from their own analyser threads; ``workers`` threads each own one ``ObjectModel`` (a dnn
net is not thread-safe) and run jobs in arrival order. The queue holds at most ``queue_max`` jobs: a camera
that submits while it is full gets False back and its skip is counted (``skipped[camera]``), so a busy box
loses detections, never recording or live view.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cameras.detect.model import Detection, ObjectModel

logger = logging.getLogger(__name__)

Job = tuple[str, Any, Callable[[list[Detection], float], None]]  # camera, BGR picture, on_done(dets, ms)


class DetectionPool:
    """Bounded shared detection workers (see the module doc)."""

    def __init__(self, *, workers: int = 1, queue_max: int = 4, input_px: int = 320,
                 model_factory: Callable[[], ObjectModel] | None = None) -> None:
        if not 1 <= workers <= 8 or not 1 <= queue_max <= 64:
            raise ValueError("workers must be 1..8 and queue_max 1..64")
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_max)
        self._factory = model_factory or (lambda: ObjectModel(input_px))
        self.skipped: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.errors = 0
        self.unavailable: str | None = None  # why a worker could not load the model
        # Started at the first job: a server whose cameras never move never loads the model (~1 s of CPU).
        self._threads = [threading.Thread(target=self._work, name=f"detect-{i}", daemon=True)
                         for i in range(workers)]
        self._start_lock = threading.Lock()
        self._running = False
        self._closed = False

    def start(self) -> None:
        """Start the workers (each loads its model first); idempotent, and done by the first ``submit``."""
        with self._start_lock:
            if self._running or self._closed:
                return
            self._running = True
            for t in self._threads:
                t.start()

    def submit(self, camera_id: str, bgr: Any, on_done: Callable[[list[Detection], float], None]) -> bool:
        """Queue a detection; return False (and count a skip) when the pool is full."""
        if self.unavailable is not None or self._closed:
            self.skipped[camera_id] += 1
            return False
        if not self._running:
            self.start()
        try:
            self._jobs.put_nowait((camera_id, bgr, on_done))
        except queue.Full:
            self.skipped[camera_id] += 1
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers after the queued jobs (blocks up to ``timeout_s`` per worker: call it off the loop)."""
        with self._start_lock:
            self._closed = True
            if not self._running:
                return
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout_s)

    def _work(self) -> None:
        import cv2

        cv2.setNumThreads(1)  # one core per worker: the pool's size is the detection budget
        try:
            model: ObjectModel | None = self._factory()
        except Exception as exc:  # no weights, or a broken install: every job is answered with nothing
            self.unavailable = str(exc)
            logger.error("object detection unavailable: %s", exc)
            model = None
        while True:
            job = self._jobs.get()
            if job is None:
                return
            camera_id, bgr, on_done = job
            t0 = time.perf_counter()
            found: list[Detection] = []
            if model is None:
                self.skipped[camera_id] += 1
            else:
                try:
                    found = model.detect(bgr)
                    self.done[camera_id] += 1
                except Exception:  # a bad picture must not kill the worker shared by every camera
                    self.errors += 1
            try:  # always answered: a camera waiting for all its frame's crops must not wait forever
                on_done(found, (time.perf_counter() - t0) * 1000.0)
            except Exception:
                self.errors += 1
                logger.exception("camera %s: a detection callback failed", camera_id)
