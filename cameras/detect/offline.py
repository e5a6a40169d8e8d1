"""The server's per-frame motion + object pipeline without RTSP, a store or threads: frames in, labelled events out.

For benchmarks and labelled clips (precision/recall, false alerts per hour): ``ObjectPipeline`` runs the same
pieces as ``CameraAnalyser`` — ``BackgroundDetector`` on the luma at ``motion.analysis_fps``, ``EventTracker``,
the camera's ``detect_fps`` budget, the motion crops (``regions``), the detector and the ``objects`` filters
(cameras/detect/objects.py) — but detects synchronously on the calling thread instead of on the shared pool,
so nothing is skipped for lack of a free worker (the server may skip when the box is busy; it counts those).

    pipe = ObjectPipeline(MotionSettings(...), ObjectSettings(...))
    for wall, bgr in frames:            # every decoded frame, wall-clock seconds (not necessarily real time)
        pipe.feed(wall, bgr)            # luma=... optional (the decoder's Y plane; default: gray of bgr)
    events = pipe.finish()              # list[LabelledEvent], in order
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2

from cameras.detect.model import Detection, ObjectModel
from cameras.detect.objects import DetectSchedule, EventObjects, LiveKeys, crops_of, keep
from cameras.detect.regions import PixelBox
from cameras.motion.detector import BackgroundDetector, MotionResult
from cameras.motion.events import EventTracker, Step, TrackedEvent
from mediaserver.config import MotionSettings, ObjectSettings

ANALYSE_SLACK_S = 0.02  # as the analyser: a frame this close to its due time is analysed


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """A finished motion event and what the detector kept in it (kind None: no review item)."""

    start: float
    end: float
    peak_score: float
    motion_zones: list[str]
    kind: str | None  # "alert" | "detection" | None
    labels: list[str]
    top_score: float
    zones: list[str]  # zones the kept objects stood in
    boxes: list[list[Any]]  # [[t, label, score, x, y, w, h], ...]
    detected_frames: int  # frames of this event the detector ran on


def labelled(ev: TrackedEvent, objs: EventObjects) -> LabelledEvent:
    """Return an ended motion event with what the detector kept in it."""
    assert ev.end is not None
    return LabelledEvent(ev.start, ev.end, ev.peak_score, sorted(ev.zones), objs.kind, sorted(objs.labels),
                         objs.top_score, sorted(objs.zones), objs.boxes(), objs.detected_frames)


@dataclass
class PipelineStats:
    """What an ``ObjectPipeline`` did."""

    frames_fed: int = 0
    frames_analysed: int = 0
    frames_detected: int = 0
    crops_detected: int = 0
    detect_ms: list[float] = field(default_factory=list)  # one entry per crop


class ObjectPipeline:
    """Motion events with object labels from decoded frames (see the module doc); not thread-safe."""

    def __init__(self, motion: MotionSettings, objects: ObjectSettings, *, model: ObjectModel | None = None,
                 input_px: int = 320) -> None:
        self.motion = motion
        self.objects = objects
        self.model = model if model is not None or not objects.enabled else ObjectModel(input_px)
        self.detector = BackgroundDetector(motion, name="offline pipeline")
        self.tracker = EventTracker(min_event_s=motion.min_event_s)
        self.schedule = DetectSchedule(objects.detect_fps)
        self.interval_s = 1.0 / motion.analysis_fps
        self.events: list[LabelledEvent] = []
        self.stats = PipelineStats()
        self._keys = LiveKeys()
        self._objects: dict[int, EventObjects] = {}
        self._started: dict[int, int] = {}  # tracker seq -> live key
        self._next_due = float("-inf")

    def feed(self, wall: float, bgr: Any, luma: Any = None) -> bool:
        """Feed one decoded frame (BGR, optional luma) at wall time ``wall``; return whether it was analysed."""
        self.stats.frames_fed += 1
        if wall + ANALYSE_SLACK_S < self._next_due:
            return False
        self._next_due = max(self._next_due + self.interval_s, wall + self.interval_s / 2)
        if luma is None:
            luma = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        result: MotionResult = self.detector.detect(luma)
        self.stats.frames_analysed += 1
        step = self.tracker.update(wall, result.score, result.boxes, result.zones)
        self._step(step)
        live = self.tracker.event or self.tracker.candidate
        key = self._keys.key(live)
        if (self.model is not None and result.boxes and key is not None
                and self.schedule.due(wall)):
            self._detect(key, wall, bgr, result)
        return True

    def finish(self) -> list[LabelledEvent]:
        """End the event in progress; return every event, in order."""
        ended = self.tracker.finish()
        if ended is not None:
            self._end(ended)
        return self.events

    def _detect(self, key: int, wall: float, bgr: Any, result: MotionResult) -> None:
        per_crop: list[tuple[PixelBox, list[Detection]]] = []
        assert self.model is not None
        for crop, pixels in crops_of(bgr, result.boxes):
            t0 = time.perf_counter()
            per_crop.append((crop, self.model.detect(pixels)))
            self.stats.detect_ms.append((time.perf_counter() - t0) * 1000.0)
            self.stats.crops_detected += 1
        self.stats.frames_detected += 1
        fh, fw = bgr.shape[:2]
        hits = keep(per_crop, fw, fh, self.objects, self.motion.zones)
        self._objects.setdefault(key, EventObjects()).add(wall, hits)

    def _step(self, step: Step) -> None:
        if step.ended is not None:
            self._end(step.ended)
        if step.started is not None:
            key = self._keys.key(self.tracker.event)
            assert key is not None
            self._started[step.started.seq] = key
            for k in [k for k in self._objects if k < key]:  # candidates that never became events
                del self._objects[k]

    def _end(self, ev: TrackedEvent) -> None:
        key = self._started.pop(ev.seq, None)
        objs = self._objects.pop(key, EventObjects()) if key is not None else EventObjects()
        self.events.append(labelled(ev, objs))


__all__ = ["LabelledEvent", "ObjectPipeline", "PipelineStats", "labelled"]
