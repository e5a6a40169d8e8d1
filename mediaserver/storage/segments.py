"""Repositories: the recordings index — segments, motion events, evidence holds and exports."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mediaserver.storage.base import Conflict, NotFound, _now, _Repo, in_chunks

# No segment is longer than this (segment_seconds <= 120 plus a GOP): bounding "overlaps [since, until)" from
# below with it turns a scan of a camera's whole history into an index range of the window.
SEGMENT_LOOKBACK_S = 3600.0


class Fenced(Conflict):
    """A segment of a camera another node took over before the segment ended (see ``SegmentRepo.add``)."""


# Motion events last seconds to minutes; a closed one longer than this that began before a timeline window
# is not shown in it (open events always are).
EVENT_LOOKBACK_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    camera_id: str | None
    stream: str
    room_session_id: int | None
    site_id: str | None
    path: str
    start_at: float
    end_at: float
    bytes: int
    keyframes: int
    motion_score: float
    track: str = "video"
    codec: str = "h264"
    mode: str = "continuous"  # 'continuous' | 'motion' | 'conference': the rule in force when written
    has_motion: bool = False
    gap_before: bool = False
    node_id: str | None = None  # the node whose disk holds the file; None: the one node of a set-up without cluster


@dataclass(frozen=True, slots=True)
class MotionEvent:
    id: int
    camera_id: str
    start_at: float
    end_at: float | None
    peak_score: float
    zones: list[str]
    thumbnail_path: str | None
    boxes: list[Any] = field(default_factory=list)  # [[t, x, y, w, h], ...] relative coordinates over time


@dataclass(frozen=True, slots=True)
class EvidenceHold:
    id: int
    camera_id: str
    start_at: float
    end_at: float
    reason: str
    created_by: str
    created_at: float
    released_at: float | None


@dataclass(frozen=True, slots=True)
class Export:
    id: str
    camera_id: str
    start_at: float
    end_at: float
    status: str  # 'queued' | 'running' | 'done' | 'failed'
    progress: float  # 0..1
    path: str | None
    bytes: int | None
    sha256: str | None
    hold_id: int | None
    error: str | None
    created_by: str
    created_at: float
    finished_at: float | None
    # How much of [start_at, end_at) has footage (None for exports made before this was recorded).
    covered_s: float | None = None
    missing_s: float | None = None
    gaps: tuple[tuple[float, float], ...] = ()  # uncovered spans, UTC epoch seconds, oldest first


class SegmentRepo(_Repo):
    @staticmethod
    def _seg(r: sqlite3.Row) -> Segment:
        return Segment(
            r["id"], r["camera_id"], r["stream"], r["room_session_id"], r["site_id"], r["path"], r["start_at"],
            r["end_at"], r["bytes"], r["keyframes"], r["motion_score"], r["track"], r["codec"], r["mode"],
            bool(r["has_motion"]), bool(r["gap_before"]), r["node_id"],
        )

    async def add(self, seg: Segment, heatmap: bytes | None = None, *, pre_padding_s: float = 0.0,
                  post_padding_s: float = 0.0) -> int:
        """Index a finished segment; return its id.

        A camera segment is marked ``has_motion`` here when a known motion event (open, or ended less than
        ``post_padding_s`` before the segment starts, or starting within ``pre_padding_s`` of its end)
        overlaps it; events that start later mark it through ``MotionEventRepo``.

        Fencing (a cluster): a camera segment written by ``seg.node_id`` is refused (``Fenced``) when another node
        took the camera's lease before the segment ended — that node records the camera since, so indexing this
        one would give the camera two overlapping recordings (a node that was paused or cut off past its lease).
        """
        if seg.node_id is not None and seg.camera_id is not None:
            # A separate read is enough: a lease taken after it was acquired after the segment ended.
            taker = await self.db.fetchone(
                "SELECT node_id FROM leases WHERE resource = ? AND node_id <> ? AND acquired_at < ?",
                ("camera:" + seg.camera_id, seg.node_id, seg.end_at))
            if taker is not None:
                raise Fenced(f"segment {seg.path!r}: camera {seg.camera_id!r} was taken over by node "
                             f"{taker['node_id']!r} before the segment ended")
        try:
            return await self.db.execute(
                "INSERT INTO recording_segments (camera_id, stream, room_session_id, site_id, path, start_at,"
                " end_at, bytes, keyframes, motion_score, heatmap, track, codec, mode, has_motion, gap_before,"
                " node_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " CASE WHEN ? = 1 OR EXISTS (SELECT 1 FROM motion_events e WHERE e.camera_id = ? AND e.start_at <= ?"
                "   AND (e.end_at IS NULL OR e.end_at >= ?)) THEN 1 ELSE 0 END, ?, ?)",
                (seg.camera_id, seg.stream, seg.room_session_id, seg.site_id, seg.path, seg.start_at, seg.end_at,
                 seg.bytes, seg.keyframes, seg.motion_score, heatmap, seg.track, seg.codec, seg.mode,
                 int(seg.has_motion), seg.camera_id, seg.end_at + pre_padding_s, seg.start_at - post_padding_s,
                 int(seg.gap_before), seg.node_id),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"segment {seg.path!r}: {exc}") from exc

    async def get(self, segment_id: int) -> Segment | None:
        """Return one segment."""
        r = await self.db.fetchone("SELECT * FROM recording_segments WHERE id = ?", (segment_id,))
        return self._seg(r) if r else None

    async def for_camera(self, camera_id: str, since: float, until: float, stream: str = "main") -> list[Segment]:
        """Return a camera stream's segments overlapping [since, until), oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM recording_segments WHERE camera_id = ? AND stream = ? AND start_at > ? AND start_at < ?"
            " AND end_at > ? ORDER BY start_at",
            (camera_id, stream, since - SEGMENT_LOOKBACK_S, until, since),
        )
        return [self._seg(r) for r in rows]

    async def for_session(self, room_session_id: int) -> list[Segment]:
        """Return a recorded meeting's segments (every site and track), oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM recording_segments WHERE room_session_id = ? ORDER BY site_id, track, start_at",
            (room_session_id,),
        )
        return [self._seg(r) for r in rows]

    async def heatmaps(self, camera_id: str, since: float, until: float,
                       stream: str = "main") -> list[tuple[int, float, float, bytes]]:
        """Return (segment id, start, end, heatmap) of a camera's segments in [since, until) that have one."""
        rows = await self.db.fetchall(
            "SELECT id, start_at, end_at, heatmap FROM recording_segments WHERE camera_id = ? AND stream = ?"
            " AND start_at > ? AND start_at < ? AND end_at > ? AND heatmap IS NOT NULL ORDER BY start_at",
            (camera_id, stream, since - SEGMENT_LOOKBACK_S, until, since),
        )
        return [(r["id"], r["start_at"], r["end_at"], bytes(r["heatmap"])) for r in rows]

    async def coverage(self, camera_id: str, since: float, until: float,
                       stream: str = "main") -> list[tuple[float, float, float, bool]]:
        """Return (start, end, motion score, gap before) of a camera stream's segments overlapping [since, until).

        Only the columns a timeline needs, oldest first: a day of 10 s segments is one index range.
        """
        rows = await self.db.fetchall(
            "SELECT start_at, end_at, motion_score, gap_before FROM recording_segments WHERE camera_id = ?"
            " AND stream = ? AND start_at > ? AND start_at < ? AND end_at > ? ORDER BY start_at",
            (camera_id, stream, since - SEGMENT_LOOKBACK_S, until, since),
        )
        return [(r["start_at"], r["end_at"], r["motion_score"], bool(r["gap_before"])) for r in rows]

    async def last_for_stream(self, camera_id: str, stream: str) -> Segment | None:
        """Return the newest segment of a camera stream (to tell whether the next one continues it)."""
        r = await self.db.fetchone(
            "SELECT * FROM recording_segments WHERE camera_id = ? AND stream = ? ORDER BY start_at DESC LIMIT 1",
            (camera_id, stream),
        )
        return self._seg(r) if r else None

    async def mark_motion(self, camera_id: str, since: float, until: float) -> int:
        """Mark a camera's segments overlapping [since, until] as holding motion; return how many changed."""
        return await self.db.execute_rowcount(
            "UPDATE recording_segments SET has_motion = 1 WHERE camera_id = ? AND start_at <= ? AND end_at >= ?"
            " AND has_motion = 0",
            (camera_id, until, since),
        )

    async def paths(self, node_id: str | None = None) -> set[str]:
        """Return every indexed segment path, or only those on ``node_id``'s disk (start-up reconciliation)."""
        if node_id is None:
            rows = await self.db.fetchall("SELECT path FROM recording_segments")
        else:
            rows = await self.db.fetchall("SELECT path FROM recording_segments WHERE node_id = ?", (node_id,))
        return {r["path"] for r in rows}

    async def oldest_unprotected(self, limit: int, camera_id: str | None = None,
                                 before: float | None = None, *, node_id: str | None = None) -> list[Segment]:
        """Return the oldest segments no active evidence hold covers (deletion candidates), oldest first.

        ``node_id``: only those on that node's disk (a cluster's retention frees its own disk).
        """
        where = ["NOT EXISTS (SELECT 1 FROM evidence_holds h WHERE h.released_at IS NULL"
                 " AND h.camera_id = s.camera_id AND h.start_at < s.end_at AND h.end_at > s.start_at)"]
        params: list[Any] = []
        if node_id is not None:
            where.append("s.node_id = ?")
            params.append(node_id)
        if camera_id is not None:
            where.append("s.camera_id = ?")
            params.append(camera_id)
        if before is not None:
            where.append("s.start_at < ?")
            params.append(before)
        rows = await self.db.fetchall(
            f"SELECT s.* FROM recording_segments s WHERE {' AND '.join(where)} ORDER BY s.start_at LIMIT ?",
            (*params, limit),
        )
        return [self._seg(r) for r in rows]

    async def is_protected(self, segment_id: int) -> bool:
        """Return whether an active evidence hold covers the segment."""
        r = await self.db.fetchone(
            "SELECT 1 FROM recording_segments s JOIN evidence_holds h ON h.camera_id = s.camera_id"
            " AND h.released_at IS NULL AND h.start_at < s.end_at AND h.end_at > s.start_at WHERE s.id = ?",
            (segment_id,),
        )
        return r is not None

    async def delete(self, segment_ids: Iterable[int]) -> int:
        """Remove segments from the index (their files are deleted by the caller first); return the count."""
        ids = list(segment_ids)
        if not ids:
            return 0
        return await self.db.execute_rowcount(
            f"DELETE FROM recording_segments WHERE id IN ({','.join('?' * len(ids))})", ids
        )

    async def delete_paths(self, paths: Iterable[str]) -> int:
        """Remove index rows whose files are gone (reconciliation); return the count."""
        count = 0
        for marks, chunk in in_chunks(list(paths)):
            count += await self.db.execute_rowcount(f"DELETE FROM recording_segments WHERE path IN ({marks})", chunk)
        return count

    async def adopt(self, paths: Iterable[str], node_id: str) -> int:
        """Mark segments from before the cluster (no node) whose files are on ``node_id``'s disk as its own."""
        return await self._adopt("recording_segments", "path", list(paths), node_id)

    async def total_bytes(self) -> int:
        """Return the bytes of every indexed segment."""
        r = await self.db.fetchone("SELECT COALESCE(SUM(bytes), 0) AS n FROM recording_segments")
        return int(r["n"]) if r else 0

    async def bytes_since(self, after_id: int, node_id: str | None = None) -> tuple[int, int]:
        """Return (highest id, bytes) of the segments with an id above ``after_id`` (a running footage total),
        counting only ``node_id``'s segments when given (its highest id is still the index's)."""
        if node_id is None:
            r = await self.db.fetchone(
                "SELECT COALESCE(MAX(id), 0) AS m, COALESCE(SUM(bytes), 0) AS n FROM recording_segments WHERE id > ?",
                (after_id,))
        else:
            r = await self.db.fetchone(
                "SELECT COALESCE(MAX(id), 0) AS m, COALESCE(SUM(CASE WHEN node_id = ? THEN bytes ELSE 0 END), 0) AS n"
                " FROM recording_segments WHERE id > ?", (node_id, after_id))
        return (int(r["m"]), int(r["n"])) if r else (0, 0)

    async def expired(self, camera_id: str, rules: Iterable[tuple[str, bool, float]], limit: int, *,
                      node_id: str | None = None) -> list[Segment]:
        """Return a camera's unprotected segments matching a (mode, has_motion, ended before) rule, oldest first
        (only those on ``node_id``'s disk when given)."""
        # One index range scan per rule (recording_segments_retention), merged.
        mine = "" if node_id is None else " AND s.node_id = ?"
        arm = ("SELECT * FROM (SELECT s.* FROM recording_segments s WHERE s.camera_id = ? AND s.mode = ?"
               f" AND s.has_motion = ? AND s.end_at < ?{mine} AND NOT EXISTS (SELECT 1 FROM evidence_holds h"
               " WHERE h.released_at IS NULL AND h.camera_id = s.camera_id AND h.start_at < s.end_at"
               " AND h.end_at > s.start_at) ORDER BY s.end_at LIMIT ?) AS arm")
        arms: list[str] = []
        params: list[Any] = []
        for mode, has_motion, before in rules:
            arms.append(arm)
            params.extend([camera_id, mode, int(has_motion), before, *([] if node_id is None else [node_id]), limit])
        if not arms:
            return []
        rows = await self.db.fetchall(f"{' UNION ALL '.join(arms)} ORDER BY end_at LIMIT ?", (*params, limit))
        return [self._seg(r) for r in rows]


class MotionEventRepo(_Repo):
    @staticmethod
    def _event(r: sqlite3.Row) -> MotionEvent:
        return MotionEvent(r["id"], r["camera_id"], r["start_at"], r["end_at"], r["peak_score"],
                           json.loads(r["zones_json"]), r["thumbnail_path"], json.loads(r["boxes_json"]))

    async def add(self, camera_id: str, start_at: float, end_at: float | None, peak_score: float,
                  zones: list[str], thumbnail_path: str | None = None, boxes: list[Any] | None = None, *,
                  node_id: str | None = None) -> int:
        """Index a motion event (open when ``end_at`` is None) analysed on ``node_id``; return its id."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO motion_events (camera_id, start_at, end_at, peak_score, zones_json, boxes_json,"
                " thumbnail_path, node_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (camera_id, start_at, end_at, peak_score, json.dumps(zones), json.dumps(boxes or []),
                 thumbnail_path, node_id),
            )
            event_id = cur.lastrowid
            assert event_id is not None
            await conn.executemany(
                "INSERT INTO motion_event_zones (event_id, camera_id, zone, start_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(event_id, camera_id, z, start_at) for z in zones],
            )
        return event_id

    async def update(self, event_id: int, *, end_at: float | None = None, peak_score: float | None = None,
                     zones: list[str] | None = None, boxes: list[Any] | None = None,
                     thumbnail_path: str | None = None) -> None:
        """Update an event as it develops (end, peak, zones touched, boxes, thumbnail)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT camera_id, start_at FROM motion_events WHERE id = ?", (event_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"motion event {event_id}")
            sets: list[str] = []
            params: list[Any] = []
            for column, value in (("end_at", end_at), ("peak_score", peak_score),
                                  ("zones_json", None if zones is None else json.dumps(zones)),
                                  ("boxes_json", None if boxes is None else json.dumps(boxes)),
                                  ("thumbnail_path", thumbnail_path)):
                if value is not None:
                    sets.append(f"{column} = ?")
                    params.append(value)
            if sets:
                await conn.execute(f"UPDATE motion_events SET {', '.join(sets)} WHERE id = ?", (*params, event_id))
            if zones is not None:
                await conn.executemany(
                    "INSERT INTO motion_event_zones (event_id, camera_id, zone, start_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(event_id, row[0], z, row[1]) for z in zones],
                )

    async def get(self, event_id: int) -> MotionEvent | None:
        """Return one event."""
        r = await self.db.fetchone("SELECT * FROM motion_events WHERE id = ?", (event_id,))
        return self._event(r) if r else None

    async def close_open(self, at: float, camera_ids: Sequence[str] | None = None) -> int:
        """End events left open by a crash at ``at`` (their last known time), of every camera or only
        ``camera_ids`` (a cluster: not those another node is recording now); return how many."""
        where, params = "end_at IS NULL", [at, at]
        if camera_ids is not None:
            if not camera_ids:
                return 0
            where += f" AND camera_id IN ({','.join('?' * len(camera_ids))})"
        return await self.db.execute_rowcount(
            f"UPDATE motion_events SET end_at = CASE WHEN start_at > ? THEN start_at ELSE ? END WHERE {where}",
            (*params, *(camera_ids or ())),
        )

    async def search(self, camera_ids: list[str] | None, since: float, until: float, limit: int = 50,
                     before_id: int | None = None, *, zone: str | None = None, min_duration_s: float = 0.0,
                     min_score: float = 0.0, before_start: float | None = None) -> list[MotionEvent]:
        """Return events starting in [since, until), newest first, keyset-paginated.

        Pages continue from (``before_start``, ``before_id``) — the last event of the previous page — so a
        page costs an index range scan whatever its depth. ``before_id`` alone pages by id (older API).
        Several cameras are searched one index range each (newest ``limit`` of each, merged), so a page never
        sorts a whole week of events; a zone search walks the zone index in time order.
        """
        arms: list[str] = []
        params: list[Any] = []
        cameras: list[str | None] = list(dict.fromkeys(camera_ids or []))
        for camera_id in cameras or [None]:
            sql, arm_params = self._search_arm(camera_id, since, until, limit, before_id, before_start, zone,
                                               min_duration_s, min_score)
            arms.append(sql)
            params.extend(arm_params)
        if len(arms) == 1:
            sql = arms[0]
        else:
            sql = " UNION ALL ".join(f"SELECT * FROM ({a}) AS arm{i}" for i, a in enumerate(arms)) + \
                " ORDER BY start_at DESC, id DESC LIMIT ?"
            params.append(limit)
        return [self._event(r) for r in await self.db.fetchall(sql, params)]

    @staticmethod
    def _search_arm(camera_id: str | None, since: float, until: float, limit: int, before_id: int | None,
                    before_start: float | None, zone: str | None, min_duration_s: float,
                    min_score: float) -> tuple[str, list[Any]]:
        """Return the SQL and parameters of one camera's (or every camera's) newest matching events."""
        # The table whose index gives the page its order: the zone index for a zone search.
        t, key = ("z", "z.event_id") if zone is not None else ("e", "e.id")
        source = "motion_event_zones z JOIN motion_events e ON e.id = z.event_id" if zone is not None \
            else "motion_events e"
        where = [f"{t}.start_at >= ?"]
        params: list[Any] = [since]
        if before_start is not None and before_id is not None and before_start < until:
            # start_at <= cursor bounds the index range; the OR only breaks ties at the cursor's instant.
            where.append(f"{t}.start_at <= ? AND ({t}.start_at < ? OR {key} < ?)")
            params.extend([before_start, before_start, before_id])
        else:
            where.append(f"{t}.start_at < ?")
            params.append(until)
            if before_id is not None and before_start is None:
                where.append(f"{key} < ?")
                params.append(before_id)
        if camera_id is not None:
            where.append(f"{t}.camera_id = ?")
            params.append(camera_id)
        if zone is not None:
            where.append("z.zone = ?")
            params.append(zone)
        if min_duration_s > 0:
            where.append("e.end_at IS NOT NULL AND e.end_at - e.start_at >= ?")
            params.append(min_duration_s)
        if min_score > 0:
            where.append("e.peak_score >= ?")
            params.append(min_score)
        params.append(limit)
        return (f"SELECT e.* FROM {source} WHERE {' AND '.join(where)}"
                f" ORDER BY {t}.start_at DESC, {key} DESC LIMIT ?"), params

    async def overlapping(self, camera_id: str, since: float, until: float) -> list[MotionEvent]:
        """Return a camera's events overlapping [since, until), oldest first (timelines)."""
        rows = await self.db.fetchall(
            "SELECT * FROM motion_events WHERE camera_id = ? AND start_at < ? AND (end_at IS NULL OR end_at >= ?)"
            " ORDER BY start_at",
            (camera_id, until, since),
        )
        return [self._event(r) for r in rows]

    async def in_window(self, camera_id: str, since: float, until: float, limit: int) -> list[MotionEvent]:
        """Return up to ``limit`` of a camera's events overlapping [since, until), oldest first (a day's timeline).

        Two index ranges: events that began at most EVENT_LOOKBACK_S before the window, and events still open.
        """
        rows = await self.db.fetchall(
            "SELECT * FROM motion_events WHERE camera_id = ? AND start_at >= ? AND start_at < ?"
            " AND (end_at IS NULL OR end_at >= ?)"
            " UNION SELECT * FROM motion_events WHERE camera_id = ? AND end_at IS NULL AND start_at < ?"
            " ORDER BY start_at, id LIMIT ?",
            (camera_id, since - EVENT_LOOKBACK_S, until, since, camera_id, until, limit),
        )
        return [self._event(r) for r in rows]

    async def delete_before(self, camera_id: str, before: float) -> list[str]:
        """Delete a camera's events that ended before ``before``; return their thumbnail paths."""
        rows = await self.db.fetchall(
            "SELECT thumbnail_path FROM motion_events WHERE camera_id = ? AND end_at IS NOT NULL AND end_at < ?",
            (camera_id, before),
        )
        await self.db.execute_rowcount(
            "DELETE FROM motion_events WHERE camera_id = ? AND end_at IS NOT NULL AND end_at < ?",
            (camera_id, before),
        )
        return [r["thumbnail_path"] for r in rows if r["thumbnail_path"]]

    async def expired(self, camera_id: str, before: float, limit: int, *,
                      node_id: str | None = None) -> list[tuple[int, str | None]]:
        """Return (id, thumbnail path) of a camera's events that ended before ``before`` and no hold covers.

        ``node_id``: only those analysed on that node, whose files are on its disk, and those from before the
        cluster that have no file (any node may delete them; ``adopt`` gave the others a node).
        """
        mine = "" if node_id is None else (
            " AND (e.node_id = ? OR (e.node_id IS NULL AND e.thumbnail_path IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM review_items r WHERE r.event_id = e.id AND r.snapshot_path IS NOT NULL)))")
        rows = await self.db.fetchall(
            "SELECT e.id, e.thumbnail_path FROM motion_events e WHERE e.camera_id = ? AND e.end_at IS NOT NULL"
            " AND e.end_at < ? AND NOT EXISTS (SELECT 1 FROM evidence_holds h WHERE h.released_at IS NULL"
            f" AND h.camera_id = e.camera_id AND h.start_at <= e.end_at AND h.end_at >= e.start_at){mine}"
            " ORDER BY e.end_at LIMIT ?",
            (camera_id, before, *(() if node_id is None else (node_id,)), limit),
        )
        return [(r["id"], r["thumbnail_path"]) for r in rows]

    async def unowned_files(self, after_id: int, limit: int) -> list[tuple[int, list[str]]]:
        """Return (id, its file paths) of events from before the cluster (no node) that have files, by id."""
        rows = await self.db.fetchall(
            "SELECT e.id, e.thumbnail_path, r.snapshot_path FROM motion_events e"
            " LEFT JOIN review_items r ON r.event_id = e.id WHERE e.node_id IS NULL AND e.id > ?"
            " AND (e.thumbnail_path IS NOT NULL OR r.snapshot_path IS NOT NULL) ORDER BY e.id LIMIT ?",
            (after_id, limit))
        return [(r["id"], [p for p in (r["thumbnail_path"], r["snapshot_path"]) if p]) for r in rows]

    async def adopt(self, event_ids: Iterable[int], node_id: str) -> int:
        """Mark events from before the cluster (no node) whose files are on ``node_id``'s disk as its own."""
        return await self._adopt("motion_events", "id", list(event_ids), node_id)

    async def delete_ids(self, event_ids: Iterable[int]) -> int:
        """Delete events (their thumbnails are deleted by the caller first); return the count."""
        ids = list(event_ids)
        if not ids:
            return 0
        return await self.db.execute_rowcount(
            f"DELETE FROM motion_events WHERE id IN ({','.join('?' * len(ids))})", ids)


class HoldRepo(_Repo):
    @staticmethod
    def _hold(r: sqlite3.Row) -> EvidenceHold:
        return EvidenceHold(r["id"], r["camera_id"], r["start_at"], r["end_at"], r["reason"], r["created_by"],
                            r["created_at"], r["released_at"])

    async def add(self, camera_id: str, start_at: float, end_at: float, reason: str, created_by: str) -> int:
        """Place an evidence hold on a camera's footage in [start_at, end_at]; return its id."""
        try:
            return await self.db.execute(
                "INSERT INTO evidence_holds (camera_id, start_at, end_at, reason, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (camera_id, start_at, end_at, reason, created_by, _now()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"evidence hold on {camera_id!r}: {exc}") from exc

    async def release(self, hold_id: int) -> bool:
        """Release a hold (its footage becomes subject to retention again); return whether it was active."""
        return bool(await self.db.execute_rowcount(
            "UPDATE evidence_holds SET released_at = ? WHERE id = ? AND released_at IS NULL", (_now(), hold_id)
        ))

    async def get(self, hold_id: int) -> EvidenceHold | None:
        """Return one hold."""
        r = await self.db.fetchone("SELECT * FROM evidence_holds WHERE id = ?", (hold_id,))
        return self._hold(r) if r else None

    async def active(self, camera_id: str | None = None) -> list[EvidenceHold]:
        """Return active holds (of one camera, or all), oldest first."""
        if camera_id is None:
            rows = await self.db.fetchall(
                "SELECT * FROM evidence_holds WHERE released_at IS NULL ORDER BY start_at")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM evidence_holds WHERE released_at IS NULL AND camera_id = ? ORDER BY start_at",
                (camera_id,))
        return [self._hold(r) for r in rows]


class ExportRepo(_Repo):
    @staticmethod
    def _export(r: sqlite3.Row) -> Export:
        gaps = tuple((float(a), float(b)) for a, b in json.loads(r["gaps_json"])) if r["gaps_json"] else ()
        return Export(r["id"], r["camera_id"], r["start_at"], r["end_at"], r["status"], r["progress"], r["path"],
                      r["bytes"], r["sha256"], r["hold_id"], r["error"], r["created_by"], r["created_at"],
                      r["finished_at"], r["covered_s"], r["missing_s"], gaps)

    async def create(self, export_id: str, camera_id: str, start_at: float, end_at: float, created_by: str,
                     hold_id: int | None, *, covered_s: float | None = None, missing_s: float | None = None,
                     gaps: Sequence[tuple[float, float]] = ()) -> Export:
        """Record a queued export (with how much of its range has footage, when known)."""
        try:
            await self.db.execute(
                "INSERT INTO exports (id, camera_id, start_at, end_at, status, created_by, created_at, hold_id,"
                " covered_s, missing_s, gaps_json) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (export_id, camera_id, start_at, end_at, created_by, _now(), hold_id, covered_s, missing_s,
                 json.dumps([list(g) for g in gaps]) if gaps else None),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"export of {camera_id!r}: {exc}") from exc
        exp = await self.get(export_id)
        assert exp is not None
        return exp

    async def set_progress(self, export_id: str, progress: float) -> None:
        """Mark an export running at ``progress`` (0..1)."""
        await self.db.execute_rowcount(
            "UPDATE exports SET status = 'running', progress = ? WHERE id = ?", (progress, export_id))

    async def finish(self, export_id: str, *, path: str | None = None, size: int | None = None,
                     sha256: str | None = None, error: str | None = None) -> None:
        """Mark an export done (with its file, size and hash) or failed (with why)."""
        await self.db.execute_rowcount(
            "UPDATE exports SET status = ?, progress = CASE WHEN ? IS NULL THEN 1 ELSE progress END, path = ?,"
            " bytes = ?, sha256 = ?, error = ?, finished_at = ? WHERE id = ?",
            ("failed" if error else "done", error, path, size, sha256, error, _now(), export_id),
        )

    async def get(self, export_id: str) -> Export | None:
        """Return one export."""
        r = await self.db.fetchone("SELECT * FROM exports WHERE id = ?", (export_id,))
        return self._export(r) if r else None

    async def all(self, limit: int = 100) -> list[Export]:
        """Return the newest exports."""
        rows = await self.db.fetchall("SELECT * FROM exports ORDER BY created_at DESC LIMIT ?", (limit,))
        return [self._export(r) for r in rows]

    async def delete(self, export_id: str) -> bool:
        """Remove an export's record; return whether it existed."""
        return await self.db.execute_rowcount("DELETE FROM exports WHERE id = ?", (export_id,)) > 0

    async def interrupt_running(self) -> int:
        """Fail exports a crash interrupted (at start-up); return how many."""
        return await self.db.execute_rowcount(
            "UPDATE exports SET status = 'failed', error = 'interrupted by a restart', finished_at = ?"
            " WHERE status IN ('queued', 'running')", (_now(),))
