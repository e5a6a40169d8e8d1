"""Repository: which node holds a piece of footage (segments, exports, event thumbnails) — issue 16.

Footage stays on the disk of the node that wrote it; ``recording_segments.node_id`` and ``exports.node_id``
say which (NULL: the single node of a set-up without a cluster). A node asked for footage it does not hold
fetches it from the owner (mediaserver/api/peer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.storage.db import Database

# Same bound as the segments repository's: no segment is longer than an hour.
SEGMENT_LOOKBACK_S = 3600.0


@dataclass(frozen=True, slots=True)
class Holding:
    """How much of a range of footage one node holds."""

    node_id: str | None
    bytes: int
    segments: int


class FootageNodes:
    """Where footage is: per segment, per range of a camera stream, per export."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def segment(self, segment_id: int) -> tuple[bool, str | None]:
        """Return (the camera segment exists, the node holding it)."""
        r = await self.db.fetchone("SELECT node_id FROM recording_segments WHERE id = ? AND camera_id IS NOT NULL",
                                   (segment_id,))
        return (False, None) if r is None else (True, r["node_id"])

    async def range(self, camera_id: str, since: float, until: float, stream: str = "main") -> list[Holding]:
        """Return the nodes holding a camera stream's segments overlapping [since, until), most bytes first."""
        rows = await self.db.fetchall(
            "SELECT node_id, SUM(bytes) AS total, COUNT(*) AS n FROM recording_segments WHERE camera_id = ?"
            " AND stream = ? AND start_at > ? AND start_at < ? AND end_at > ? GROUP BY node_id",
            (camera_id, stream, since - SEGMENT_LOOKBACK_S, until, since))
        held = [Holding(r["node_id"], int(r["total"] or 0), int(r["n"])) for r in rows]
        return sorted(held, key=lambda h: (-h.bytes, h.node_id or ""))

    async def at(self, camera_id: str, when: float) -> str | None:
        """Return the node that recorded a camera at an instant (the main stream's segment covering it), if any."""
        r = await self.db.fetchone(
            "SELECT node_id FROM recording_segments WHERE camera_id = ? AND start_at > ? AND start_at <= ?"
            " AND end_at >= ? ORDER BY start_at DESC LIMIT 1",
            (camera_id, when - SEGMENT_LOOKBACK_S, when, when))
        return None if r is None else r["node_id"]

    async def set_export(self, export_id: str, node_id: str) -> None:
        """Record which node runs (and keeps the file of) an export."""
        await self.db.execute("UPDATE exports SET node_id = ? WHERE id = ?", (node_id, export_id))

    async def export(self, export_id: str) -> str | None:
        """Return the node holding an export's file (None: this single node, or unknown)."""
        r = await self.db.fetchone("SELECT node_id FROM exports WHERE id = ?", (export_id,))
        return None if r is None else r["node_id"]

    async def interrupt_exports(self, node_id: str, now: float) -> int:
        """Fail the exports a restart of ``node_id`` interrupted (never another node's); return how many."""
        return await self.db.execute_rowcount(
            "UPDATE exports SET status = 'failed', error = 'interrupted by a restart', finished_at = ?"
            " WHERE status IN ('queued', 'running') AND node_id = ?", (now, node_id))
