"""Repository: the review queue — one item per motion event in which the object detector kept something.

An item is written (``upsert``) by the analyser while its event develops and again when it ends; each call
carries the union of what was kept so far. An update may upgrade a detection to an alert, never downgrade it;
labels and zones only grow. An upgrade to an alert after the item was marked reviewed makes it unreviewed
again: the person who looked at "a car" has not seen "a person at the gate".

Filters are served by indexes (see migration 0012): a label or zone filter walks ``review_labels`` /
``review_zones`` in time order, a camera filter runs one index range per camera (merged, as
``MotionEventRepo.search`` does), and the unreviewed queue and its counts read partial indexes.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mediaserver.storage.base import in_chunks
from mediaserver.storage.db import Database
from mediaserver.storage.repos import NotFound

KINDS = ("alert", "detection")
# Items loaded by one mark call at most (the API bounds the bulk body below this).
MARK_MAX_IDS = 1000


@dataclass(frozen=True, slots=True)
class ReviewItem:
    id: int
    event_id: int
    camera_id: str
    kind: str  # "alert" | "detection"
    labels: list[str]
    top_score: float
    zones: list[str]
    boxes: list[list[Any]]  # [[t, label, score, x, y, w, h], ...] relative 0..1 coords, t epoch s
    start_at: float
    end_at: float | None
    snapshot_path: str | None  # relative to data_dir, JPEG of the best detection's frame (boxes NOT drawn)
    reviewed_by: str | None
    reviewed_at: float | None


def _union(old: list[str], new: Iterable[str]) -> list[str]:
    """Return ``old`` followed by the items of ``new`` it lacks (order kept, no duplicates)."""
    return list(dict.fromkeys([*old, *new]))


class ReviewRepo:
    """Review items: written by the analyser, listed, counted and marked reviewed by staff."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _item(r: sqlite3.Row) -> ReviewItem:
        return ReviewItem(r["id"], r["event_id"], r["camera_id"], r["kind"], json.loads(r["labels_json"]),
                          r["top_score"], json.loads(r["zones_json"]), json.loads(r["boxes_json"]), r["start_at"],
                          r["end_at"], r["snapshot_path"], r["reviewed_by"], r["reviewed_at"])

    async def upsert(self, event_id: int, camera_id: str, *, kind: str, labels: list[str], top_score: float,
                     zones: list[str], boxes: list[list[Any]], start_at: float, end_at: float | None,
                     snapshot_path: str | None = None) -> int:
        """Create or update the item of a motion event; return its id (alerts stay alerts, labels/zones grow)."""
        if kind not in KINDS:
            raise ValueError(f"review kind {kind!r} is not one of {', '.join(KINDS)}")
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT * FROM review_items WHERE event_id = ?", (event_id,))
            row = await cur.fetchone()
            await cur.close()
            if row is None:
                labels, zones = _union([], labels), _union([], zones)
                cur = await conn.execute(
                    "INSERT INTO review_items (event_id, camera_id, kind, labels_json, top_score, zones_json,"
                    " boxes_json, start_at, end_at, snapshot_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (event_id, camera_id, kind, json.dumps(labels), top_score, json.dumps(zones),
                     json.dumps(boxes), start_at, end_at, snapshot_path),
                )
                item_id = cur.lastrowid
                await cur.close()
                assert item_id is not None
            else:
                old = self._item(row)
                item_id = old.id
                new_kind = "alert" if "alert" in (old.kind, kind) else "detection"
                labels, zones = _union(old.labels, labels), _union(old.zones, zones)
                start_at = min(old.start_at, start_at)
                upgraded = new_kind == "alert" and old.kind != "alert"
                await conn.execute(
                    "UPDATE review_items SET kind = ?, labels_json = ?, top_score = ?, zones_json = ?,"
                    " boxes_json = ?, start_at = ?, end_at = ?, snapshot_path = ?,"
                    " reviewed_by = CASE WHEN ? = 1 THEN NULL ELSE reviewed_by END,"
                    " reviewed_at = CASE WHEN ? = 1 THEN NULL ELSE reviewed_at END WHERE id = ?",
                    (new_kind, json.dumps(labels), max(old.top_score, top_score), json.dumps(zones),
                     json.dumps(boxes if boxes else old.boxes), start_at,
                     end_at if end_at is not None else old.end_at,
                     snapshot_path if snapshot_path is not None else old.snapshot_path,
                     upgraded, upgraded, item_id),
                )
                if start_at != old.start_at:
                    for table in ("review_labels", "review_zones"):
                        await conn.execute(f"UPDATE {table} SET start_at = ? WHERE item_id = ?", (start_at, item_id))
            await conn.executemany(
                "INSERT INTO review_labels (item_id, label, camera_id, start_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(item_id, label, camera_id, start_at) for label in labels])
            await conn.executemany(
                "INSERT INTO review_zones (item_id, zone, camera_id, start_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(item_id, zone, camera_id, start_at) for zone in zones])
        return item_id

    async def get(self, item_id: int) -> ReviewItem:
        """Return one item; NotFound when there is none."""
        r = await self.db.fetchone("SELECT * FROM review_items WHERE id = ?", (item_id,))
        if r is None:
            raise NotFound(f"review item {item_id}")
        return self._item(r)

    async def for_event(self, event_id: int) -> ReviewItem | None:
        """Return the item of a motion event, if it has one."""
        r = await self.db.fetchone("SELECT * FROM review_items WHERE event_id = ?", (event_id,))
        return self._item(r) if r else None

    async def list(self, *, camera_ids: list[str] | None = None, label: str | None = None, zone: str | None = None,
                   kind: str | None = None, reviewed: bool | None = None, since: float | None = None,
                   until: float | None = None, limit: int = 50, before_id: int | None = None) -> list[ReviewItem]:
        """Return items starting in [since, until), newest first (start, then id), after item ``before_id``.

        The page continues after the (start, id) of ``before_id`` (the last item of the previous page), so a
        deep page costs an index range like the first; an unknown ``before_id`` gives an empty page.
        """
        cursor: tuple[float, int] | None = None
        if before_id is not None:
            r = await self.db.fetchone("SELECT start_at FROM review_items WHERE id = ?", (before_id,))
            if r is None:
                return []
            cursor = (float(r["start_at"]), before_id)
        arms: list[str] = []
        params: list[Any] = []
        cameras: builtins.list[str | None] = [*dict.fromkeys(camera_ids or [])]
        for camera_id in cameras or [None]:
            sql, arm_params = self._arm(camera_id, label, zone, kind, reviewed, since, until, cursor, limit)
            arms.append(sql)
            params.extend(arm_params)
        if len(arms) == 1:
            sql = arms[0]
        else:
            sql = " UNION ALL ".join(f"SELECT * FROM ({a}) AS arm{i}" for i, a in enumerate(arms)) \
                + " ORDER BY start_at DESC, id DESC LIMIT ?"
            params.append(limit)
        return [self._item(r) for r in await self.db.fetchall(sql, params)]

    @staticmethod
    def _arm(camera_id: str | None, label: str | None, zone: str | None, kind: str | None, reviewed: bool | None,
             since: float | None, until: float | None, cursor: tuple[float, int] | None,
             limit: int) -> tuple[str, builtins.list[Any]]:
        """Return the SQL and parameters of one camera's (or every camera's) newest matching items."""
        # The table whose index orders the page: the zone or label rows when filtering by them.
        if zone is not None:
            t, key, source = "z", "z.item_id", "review_zones z JOIN review_items i ON i.id = z.item_id"
        elif label is not None:
            t, key, source = "l", "l.item_id", "review_labels l JOIN review_items i ON i.id = l.item_id"
        else:
            t, key, source = "i", "i.id", "review_items i"
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if camera_id is not None:
            where.append(f"{t}.camera_id = ?")
            params.append(camera_id)
        if zone is not None:
            where.append("z.zone = ?")
            params.append(zone)
            if label is not None:
                where.append("EXISTS (SELECT 1 FROM review_labels l WHERE l.item_id = z.item_id AND l.label = ?)")
                params.append(label)
        elif label is not None:
            where.append("l.label = ?")
            params.append(label)
        if since is not None:
            where.append(f"{t}.start_at >= ?")
            params.append(since)
        if until is not None:
            where.append(f"{t}.start_at < ?")
            params.append(until)
        if cursor is not None:
            # start_at <= cursor bounds the index range; the OR only breaks ties at the cursor's instant.
            where.append(f"{t}.start_at <= ? AND ({t}.start_at < ? OR {key} < ?)")
            params.extend([cursor[0], cursor[0], cursor[1]])
        if kind is not None:
            where.append("i.kind = ?")
            params.append(kind)
        if reviewed is not None:
            where.append("i.reviewed_at IS NOT NULL" if reviewed else "i.reviewed_at IS NULL")
        params.append(limit)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return f"SELECT i.* FROM {source}{clause} ORDER BY {t}.start_at DESC, {key} DESC LIMIT ?", params

    async def summary(self) -> dict[str, Any]:
        """Return the unreviewed counts: {"unreviewed", "unreviewed_alerts", "by_camera": {id: {...}}}."""
        # SQLite's planner must be told to use the partial index; PostgreSQL picks it (and has no INDEXED BY).
        hint = " INDEXED BY review_items_unreviewed_camera" if self.db.dialect == "sqlite" else ""
        rows = await self.db.fetchall(
            f"SELECT camera_id, kind, COUNT(*) AS n FROM review_items{hint}"
            " WHERE reviewed_at IS NULL GROUP BY camera_id, kind")
        by_camera: dict[str, dict[str, int]] = {}
        for r in rows:
            cam = by_camera.setdefault(r["camera_id"], {"unreviewed": 0, "unreviewed_alerts": 0})
            cam["unreviewed"] += r["n"]
            if r["kind"] == "alert":
                cam["unreviewed_alerts"] += r["n"]
        return {"unreviewed": sum(c["unreviewed"] for c in by_camera.values()),
                "unreviewed_alerts": sum(c["unreviewed_alerts"] for c in by_camera.values()),
                "by_camera": by_camera}

    async def mark(self, ids: builtins.list[int], reviewed_by: str | None, at: float | None) -> int:
        """Mark items reviewed by ``reviewed_by`` at ``at`` (default now), or unreviewed (None); return the count.

        An item already reviewed keeps its first reviewer and time.
        """
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        if len(unique) > MARK_MAX_IDS:
            raise ValueError(f"at most {MARK_MAX_IDS} items can be marked at once")
        marks = ",".join("?" * len(unique))
        if reviewed_by is None:
            return await self.db.execute_rowcount(
                f"UPDATE review_items SET reviewed_by = NULL, reviewed_at = NULL"
                f" WHERE id IN ({marks}) AND reviewed_at IS NOT NULL", unique)
        return await self.db.execute_rowcount(
            f"UPDATE review_items SET reviewed_by = ?, reviewed_at = ? WHERE id IN ({marks}) AND reviewed_at IS NULL",
            [reviewed_by, time.time() if at is None else at, *unique])

    async def snapshot_paths(self, event_ids: Iterable[int]) -> builtins.list[str]:
        """Return the snapshot files of the items of these motion events (retention deletes them first)."""
        out: builtins.list[str] = []
        for marks, chunk in in_chunks(builtins.list(event_ids)):
            rows = await self.db.fetchall(
                f"SELECT snapshot_path FROM review_items WHERE event_id IN ({marks}) AND snapshot_path IS NOT NULL",
                chunk)
            out.extend(r["snapshot_path"] for r in rows)
        return out
