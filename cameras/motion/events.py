"""Motion events from per-frame motion: a pure state machine (no clock, no I/O), fed analysed frames in order.

- A *candidate* begins at the first moving frame. It becomes an event once motion has lasted ``min_event_s``
  over at least ``START_MIN_FRAMES`` moving frames with no pause of ``start_gap_s`` or more (a pause that
  long drops the candidate: sensor blips and single-frame glitches never become events). The event's start
  is the candidate's first moving frame, so starting late never shifts the reported start.
- An event ends once no motion has been seen for ``hold_s``; its end is its last moving frame. Motion that
  resumes within ``hold_s`` continues the same event (a person stopping briefly is one event).
- An event longer than ``max_event_s`` (a tree in the wind) is split, so every event ends in bounded time
  and its peak thumbnail stays meaningful.
- Each event keeps its peak score and when it happened, the zones touched, and bounding boxes over time
  (sampled: at most one set per ``BOX_SAMPLE_S``, thinned as the event grows, so its size is bounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

START_MIN_FRAMES = 2  # one moving frame is never an event
START_GAP_S = 0.5  # a candidate pausing this long is dropped
HOLD_S = 1.5  # an event ends after this long without motion
MAX_EVENT_S = 600.0  # longer events are split
BOX_SAMPLE_S = 0.5  # boxes are sampled at most this often ...
MAX_BOX_SAMPLES = 240  # ... and thinned (every other sample dropped, interval doubled) beyond this many
MAX_BOXES_PER_FRAME = 4  # the largest boxes of a frame are kept

BoxTuple = tuple[float, float, float, float]  # x, y, w, h in relative (0..1) coordinates


@dataclass
class TrackedEvent:
    """One motion event as it develops (a copy is handed out at start and at end)."""

    seq: int  # this tracker's running number, 1, 2, ...
    start: float
    last_motion: float
    peak_score: float
    peak_at: float
    end: float | None = None
    zones: set[str] = field(default_factory=set)
    frames: int = 0  # moving frames seen
    box_samples: list[tuple[float, tuple[BoxTuple, ...]]] = field(default_factory=list)
    box_interval_s: float = BOX_SAMPLE_S

    def boxes(self) -> list[list[float]]:
        """Return the boxes over time as ``[[t, x, y, w, h], ...]`` (the index's format)."""
        return [[round(t, 3), *b] for t, boxes in self.box_samples for b in boxes]

    def copy(self) -> TrackedEvent:
        """Return a snapshot that later frames do not change."""
        return TrackedEvent(self.seq, self.start, self.last_motion, self.peak_score, self.peak_at, self.end,
                            set(self.zones), self.frames, list(self.box_samples), self.box_interval_s)

    def _add(self, t: float, score: float, boxes: Sequence[BoxTuple], zones: Iterable[str]) -> bool:
        """Count a moving frame; return whether it is the new peak."""
        self.frames += 1
        self.last_motion = t
        self.zones.update(zones)
        if not self.box_samples or t - self.box_samples[-1][0] >= self.box_interval_s:
            largest = sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)[:MAX_BOXES_PER_FRAME]
            self.box_samples.append((t, tuple(tuple(b) for b in largest)))  # type: ignore[misc]
            if len(self.box_samples) > MAX_BOX_SAMPLES:
                self.box_samples = self.box_samples[::2]
                self.box_interval_s *= 2
        if score > self.peak_score:
            self.peak_score, self.peak_at = score, t
            return True
        return False


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame changed: an event ended and/or started, and whether the frame is the new peak."""

    ended: TrackedEvent | None = None
    started: TrackedEvent | None = None
    peak: bool = False  # the frame is the peak so far of the current candidate or event


NOTHING = Step()


class EventTracker:
    """Turns analysed frames (time, score, boxes, zones) into motion events; see the module doc."""

    def __init__(self, *, min_event_s: float, hold_s: float = HOLD_S, start_gap_s: float = START_GAP_S,
                 max_event_s: float = MAX_EVENT_S) -> None:
        if min_event_s < 0 or hold_s <= 0 or start_gap_s <= 0 or max_event_s <= max(min_event_s, hold_s):
            raise ValueError("event timing must satisfy 0 <= min_event_s, 0 < hold_s, 0 < start_gap_s,"
                             " max_event_s > min_event_s and hold_s")
        self.min_event_s = min_event_s
        self.hold_s = hold_s
        self.start_gap_s = start_gap_s
        self.max_event_s = max_event_s
        self.event: TrackedEvent | None = None  # the event in progress
        self.candidate: TrackedEvent | None = None  # motion that may become an event
        self._seq = 0

    def update(self, t: float, score: float, boxes: Sequence[BoxTuple], zones: Iterable[str] = ()) -> Step:
        """Feed one analysed frame (``boxes`` empty: no motion); return what changed."""
        moving = bool(boxes)
        event = self.event
        if event is not None:
            if moving:
                if t - event.start >= self.max_event_s:
                    ended = self._end(event, t)
                    started = self._new(t, score, boxes, zones)
                    self._seq += 1
                    started.seq = self._seq
                    self.event = started
                    return Step(ended=ended, started=started.copy(), peak=True)
                return Step(peak=event._add(t, score, boxes, zones))
            if t - event.last_motion >= self.hold_s:
                self.event = None
                return Step(ended=self._end(event, event.last_motion))
            return NOTHING
        cand = self.candidate
        if not moving:
            if cand is not None and t - cand.last_motion >= self.start_gap_s:
                self.candidate = None
            return NOTHING
        if cand is None:
            cand = self.candidate = self._new(t, score, boxes, zones)
            peak = True
        else:
            peak = cand._add(t, score, boxes, zones)
        if cand.frames >= START_MIN_FRAMES and cand.last_motion - cand.start >= self.min_event_s:
            self._seq += 1
            cand.seq = self._seq
            self.event, self.candidate = cand, None
            return Step(started=cand.copy(), peak=peak)
        return Step(peak=peak)

    def finish(self) -> TrackedEvent | None:
        """End the event in progress at its last motion (the stream stopped); return it, or None."""
        event, self.event, self.candidate = self.event, None, None
        return self._end(event, event.last_motion) if event is not None else None

    def _new(self, t: float, score: float, boxes: Sequence[BoxTuple], zones: Iterable[str]) -> TrackedEvent:
        ev = TrackedEvent(0, t, t, score, t)  # numbered when it becomes an event
        ev._add(t, score, boxes, zones)
        return ev

    @staticmethod
    def _end(event: TrackedEvent, at: float) -> TrackedEvent:
        event.end = at
        return event.copy()
