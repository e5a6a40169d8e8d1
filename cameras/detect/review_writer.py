"""A camera's review items, on the event loop: kept detections joined to their motion events, snapshots, upserts.

The motion analyser's index writer calls this in order with the event starts and ends it indexes and with the
kept objects of each detected frame (which its detection pool answers, on another thread, whenever it can).
Detections are keyed by the motion in progress (``LiveKeys``), not by event id, because they may come before
the event's start is indexed — or while the motion is still a candidate that has no event yet. They wait in
the key's ``EventObjects`` until the start arrives; a candidate that never became an event is forgotten.

Per event with a kept object: ``store.review.upsert(...)`` with the union so far (throttled to one write per
``UPSERT_MIN_INTERVAL_S`` unless the kind, labels or zones changed, and always at the end), and a snapshot
(the best detection's whole frame, no boxes drawn) at ``review/<camera>/<event id>.jpg`` written off the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2

from cameras.detect.objects import EventObjects, ObjectHit
from cameras.detect.offline import LabelledEvent, labelled
from cameras.motion.events import TrackedEvent
from mediaserver.storage import Store

logger = logging.getLogger(__name__)

REVIEW_DIR = "review"
SNAPSHOT_JPEG_QUALITY = 85
UPSERT_MIN_INTERVAL_S = 1.0  # at most one unchanged-shape update per event per second (by frame time)
ENDED_KEPT = 4  # ended events still accepting late detections (a busy pool answers after the end)
FINISHED_KEPT = 1000  # finished events kept in memory for ``object_events`` (benchmarks, store=None)


def write_snapshot(path: Path, bgr: Any) -> bool:
    """Encode a BGR frame as JPEG and write it atomically; return whether it was written."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_JPEG_QUALITY])
    if not ok:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)
    return True


class _Item:
    """One key's state: its objects, its event id once indexed, what was last written."""

    __slots__ = ("event", "event_id", "last_shape", "last_write_t", "objects", "snapshot")

    def __init__(self) -> None:
        self.objects = EventObjects()
        self.event: TrackedEvent | None = None  # known once started (the end's copy once ended)
        self.event_id: int | None = None
        self.snapshot: str | None = None
        self.last_write_t = float("-inf")
        self.last_shape: tuple[str | None, tuple[str, ...], tuple[str, ...]] | None = None


class ReviewWriter:
    """Joins a camera's kept detections to its motion events and writes review items (see the module doc)."""

    def __init__(self, camera_id: str, store: Store | None, data_dir: Path) -> None:
        self.camera_id = camera_id
        self.store = store
        self.data_dir = data_dir
        self.items_written = 0
        self.snapshots_written = 0
        self._live: dict[int, _Item] = {}
        self._ended: OrderedDict[int, _Item] = OrderedDict()
        self._finished: deque[_Item] = deque(maxlen=FINISHED_KEPT)

    def object_events(self) -> list[LabelledEvent]:
        """Return the finished motion events with what was detected in them, oldest first."""
        return [labelled(it.event, it.objects) for it in self._finished if it.event is not None]

    async def started(self, key: int | None, ev: TrackedEvent, event_id: int | None) -> None:
        """The event of ``key`` started (``event_id`` None: not indexed); write what waited for it."""
        if key is None:
            return
        for k in [k for k, it in self._live.items() if k < key and it.event is None]:
            del self._live[k]  # candidates that never became events
        item = self._live.setdefault(key, _Item())
        item.event, item.event_id = ev, event_id
        item.objects.start_at = ev.start
        if item.objects.kind is not None:
            await self._write(item, force=True)

    async def detected(self, key: int, t: float, hits: Sequence[ObjectHit], picture: Any) -> None:
        """Add a detected frame's kept objects to ``key``'s motion (late ones to a recently ended event)."""
        item = self._live.get(key) or self._ended.get(key)
        if item is None:
            if self._ended and key <= next(reversed(self._ended)):
                return  # long ended and forgotten
            for k in [k for k, it in self._live.items() if k < key and it.event is None]:
                del self._live[k]  # one motion is live at a time: an older one still without an event is gone
            item = self._live[key] = _Item()
        item.objects.add(t, hits, picture)
        if hits and item.event is not None:
            # A late answer for an ended event is written at once: no end will come to write it later.
            await self._write(item, force=item.objects.end_at is not None)

    async def ended(self, key: int | None, ev: TrackedEvent, event_id: int | None) -> None:
        """The event of ``key`` ended: write its final review item and keep it a while for late detections."""
        item = self._live.pop(key, None) if key is not None else None
        if item is None:
            item = _Item()
            item.event_id = event_id
        item.event = ev
        if item.event_id is None:
            item.event_id = event_id
        item.objects.start_at, item.objects.end_at = ev.start, ev.end
        self._finished.append(item)
        if key is not None:
            self._ended[key] = item
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)
        if item.objects.kind is not None:
            await self._write(item, force=True)

    async def _write(self, item: _Item, *, force: bool) -> None:
        """Save a better snapshot and upsert the review item (throttled unless ``force`` or its shape changed)."""
        objs = item.objects
        if item.event_id is None or self.store is None:
            objs.best_picture = None  # nowhere to put it
            return
        shape = (objs.kind, tuple(sorted(objs.labels)), tuple(sorted(objs.zones)))
        last_t = objs.frames[-1][0] if objs.frames else 0.0
        if not force and shape == item.last_shape and last_t - item.last_write_t < UPSERT_MIN_INTERVAL_S:
            return
        if objs.best_picture is not None:
            picture, objs.best_picture = objs.best_picture, None
            rel = f"{REVIEW_DIR}/{self.camera_id}/{item.event_id}.jpg"
            if await asyncio.to_thread(write_snapshot, self.data_dir / rel, picture):
                item.snapshot = rel
                self.snapshots_written += 1
        review = getattr(self.store, "review", None)  # the review repo (helper R's) may not exist yet
        if review is None:
            return
        await review.upsert(item.event_id, self.camera_id, snapshot_path=item.snapshot, **objs.fields())
        item.last_shape, item.last_write_t = shape, last_t
        self.items_written += 1


__all__ = ["REVIEW_DIR", "ReviewWriter", "write_snapshot"]
