"""From raw detections on motion crops to the objects a camera keeps, and a motion event's review record.

Pure functions and small state, no clock, no I/O, no threads: the motion analyser (cameras/motion/analyser.py)
and the offline pipeline (cameras/detect/offline.py) share them, so the benchmark measures the very filters the
server runs.

- ``crops_of``: motion boxes -> the square pixel crops to detect on (``regions``), as views of the frame.
- ``keep``: raw detections of the crops -> frame-relative objects, deduplicated across crops (a person in the
  overlap of two crops is one person), filtered by the camera's ``objects`` settings (tracked labels,
  ``min_score``, ``min_size_pct``, ``masks``), each with its zones and whether it is an alert.
- A point (the box's bottom-centre: where the object stands) decides masks and zones, as Frigate does.
- ``EventObjects``: the union of a motion event's kept objects (labels, zones, top score, boxes over time,
  the best frame for the snapshot) -> the review item's fields.
- ``DetectSchedule``: the per-camera ``detect_fps`` budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cameras.detect.model import Detection
from cameras.detect.regions import PixelBox, regions
from mediaserver.config import ObjectSettings

Point = tuple[float, float]
Polygon = Sequence[Point]
RelBox = tuple[float, float, float, float]  # x, y, w, h relative to the frame (0..1)

DEDUPE_IOU = 0.5  # two same-label boxes overlapping this much (from two crops) are one object
MAX_BOX_FRAMES = 120  # an event keeps the boxes of at most this many detected frames (then every other one)
COORD_DECIMALS = 4
SCHEDULE_SLACK_S = 0.02  # a frame this close to its detection slot takes it (frame time jitter)


@dataclass(frozen=True, slots=True)
class ObjectHit:
    """One kept object in a frame: label, score, box relative to the frame, zones it stands in, alert or not."""

    label: str
    score: float
    x: float
    y: float
    w: float
    h: float
    zones: tuple[str, ...] = ()
    alert: bool = False

    @property
    def box(self) -> RelBox:
        """Return the box as (x, y, w, h)."""
        return self.x, self.y, self.w, self.h


def point_in_polygon(p: Point, polygon: Polygon) -> bool:
    """Return whether ``p`` is inside ``polygon`` (even-odd rule; a point on an edge may fall either way)."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        if (y0 > y) != (y1 > y):
            cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            if x < cross:
                inside = not inside
    return inside


def bottom_centre(box: RelBox) -> Point:
    """Return where a boxed object stands: the middle of the box's bottom edge."""
    x, y, w, h = box
    return x + w / 2, y + h


def iou(a: RelBox, b: RelBox) -> float:
    """Return the intersection over union of two (x, y, w, h) boxes (0 when either is empty)."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def zones_of(box: RelBox, zones: Mapping[str, Polygon]) -> tuple[str, ...]:
    """Return the names of the zones the object stands in (its bottom-centre), sorted."""
    p = bottom_centre(box)
    return tuple(sorted(name for name, poly in zones.items() if point_in_polygon(p, poly)))


def is_masked(box: RelBox, masks: Iterable[Polygon]) -> bool:
    """Return whether the object stands in a mask (its bottom-centre is inside one)."""
    p = bottom_centre(box)
    return any(point_in_polygon(p, m) for m in masks)


def is_alert(label: str, zones: Iterable[str], settings: ObjectSettings) -> bool:
    """Return whether an object makes an alert: an alert label, in an alert zone (or anywhere if none)."""
    if label not in settings.alerting():
        return False
    return not settings.alert_zones or not set(settings.alert_zones).isdisjoint(zones)


def to_frame(det: Detection, crop: PixelBox, fw: int, fh: int) -> RelBox:
    """Return a detection in a crop's pixels as a box relative to the whole ``fw`` x ``fh`` frame."""
    cx, cy, _, _ = crop
    return (det.x + cx) / fw, (det.y + cy) / fh, det.w / fw, det.h / fh


def dedupe(found: Sequence[tuple[str, float, RelBox]], iou_max: float = DEDUPE_IOU) -> list[tuple[str, float, RelBox]]:
    """Return the detections without same-label duplicates (greedy non-maximum suppression, best first)."""
    out: list[tuple[str, float, RelBox]] = []
    for label, score, box in sorted(found, key=lambda d: d[1], reverse=True):
        if all(lb != label or iou(b, box) <= iou_max for lb, _, b in out):
            out.append((label, score, box))
    return out


def keep(per_crop: Sequence[tuple[PixelBox, Sequence[Detection]]], fw: int, fh: int, settings: ObjectSettings,
         zones: Mapping[str, Polygon]) -> list[ObjectHit]:
    """Return a frame's kept objects from its crops' raw detections (see the module doc), best first."""
    raw = [(d.label, d.score, to_frame(d, crop, fw, fh)) for crop, dets in per_crop for d in dets
           if d.label in settings.track and d.score >= settings.min_score]
    hits = []
    for label, score, box in dedupe(raw):
        if box[2] * box[3] * 100.0 < settings.min_size_pct or is_masked(box, settings.masks):
            continue
        inside = zones_of(box, zones)
        x, y, w, h = (round(v, COORD_DECIMALS) for v in box)
        hits.append(ObjectHit(label, round(score, 4), x, y, w, h, zones=inside,
                              alert=is_alert(label, inside, settings)))
    return hits


def crops_of(bgr: Any, boxes: Sequence[RelBox]) -> list[tuple[PixelBox, Any]]:
    """Return the square regions of a BGR frame to detect on, each with its pixels (a view, no copy)."""
    fh, fw = bgr.shape[:2]
    return [((x, y, w, h), bgr[y:y + h, x:x + w]) for x, y, w, h in regions(boxes, fw, fh)]


class DetectSchedule:
    """A camera's detection budget: at most ``detect_fps`` detected frames a second (by frame wall time)."""

    def __init__(self, detect_fps: float) -> None:
        self.interval_s = 1.0 / detect_fps
        self._next = float("-inf")

    def due(self, wall: float) -> bool:
        """Return whether a frame at ``wall`` may be detected (and book it if so)."""
        if wall + SCHEDULE_SLACK_S < self._next:
            return False
        # On time: keep the cadence. After a pause: count from this frame, so no burst follows a quiet spell.
        late = wall - self._next >= self.interval_s
        self._next = wall + self.interval_s if late else self._next + self.interval_s
        return True


class LiveKeys:
    """Numbers the motion in progress (a tracker's candidate, then the event it becomes) so detections find it.

    A candidate has no event number until it lasts ``min_event_s``, yet its detections count for the event it
    becomes: each new live object (by identity) gets the next key, and keeps it when promoted.
    """

    def __init__(self) -> None:
        self._live: object | None = None
        self._no = 0

    def key(self, live: object | None) -> int | None:
        """Return the key of ``live`` (the tracker's event or candidate), None when nothing is in progress."""
        if live is None:
            return None
        if live is not self._live:  # holding the reference keeps identities from being reused
            self._live = live
            self._no += 1
        return self._no


@dataclass
class EventObjects:
    """The kept objects of one motion event so far: what its review item says (see ReviewRepo.upsert)."""

    start_at: float | None = None  # None until the event's start is known (detections may come first)
    end_at: float | None = None
    labels: set[str] = field(default_factory=set)
    zones: set[str] = field(default_factory=set)
    alert: bool = False
    top_score: float = 0.0
    frames: list[tuple[float, tuple[ObjectHit, ...]]] = field(default_factory=list)
    best_t: float | None = None  # the frame of the top score: its picture is the snapshot
    best_picture: Any = None  # that frame (BGR) until it is written; then None
    detected_frames: int = 0

    @property
    def kind(self) -> str | None:
        """Return "alert", "detection", or None when nothing was kept (no review item)."""
        if not self.labels:
            return None
        return "alert" if self.alert else "detection"

    def add(self, t: float, hits: Sequence[ObjectHit], picture: Any = None) -> bool:
        """Add one frame's kept objects; return whether it is the new best frame (its picture kept)."""
        self.detected_frames += 1
        if not hits:
            return False
        self.labels.update(h.label for h in hits)
        for h in hits:
            self.zones.update(h.zones)
        self.alert = self.alert or any(h.alert for h in hits)
        self.frames.append((t, tuple(hits)))
        if len(self.frames) > MAX_BOX_FRAMES:  # thin, but never lose the snapshot's boxes
            self.frames = [f for i, f in enumerate(self.frames) if i % 2 == 0 or f[0] == self.best_t]
        best = max(h.score for h in hits)
        if best > self.top_score:
            self.top_score, self.best_t, self.best_picture = best, t, picture
            return True
        return False

    def boxes(self) -> list[list[Any]]:
        """Return the boxes over time as ``[[t, label, score, x, y, w, h], ...]`` (the review item's format)."""
        return [[round(t, 3), h.label, h.score, h.x, h.y, h.w, h.h] for t, hits in self.frames for h in hits]

    def fields(self) -> dict[str, Any]:
        """Return the keyword arguments of ``ReviewRepo.upsert`` (besides event id, camera and snapshot)."""
        return {"kind": self.kind or "detection", "labels": sorted(self.labels), "top_score": self.top_score,
                "zones": sorted(self.zones), "boxes": self.boxes(),
                "start_at": self.start_at if self.start_at is not None else 0.0, "end_at": self.end_at}
