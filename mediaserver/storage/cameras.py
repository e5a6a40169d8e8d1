"""Repository: the camera inventory and its outages."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mediaserver.storage.base import NotFound, _now, _Repo, not_in


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    name: str
    source: str
    active: bool
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outage:
    id: int
    camera_id: str
    started_at: float
    ended_at: float | None
    reason: str


class CameraRepo(_Repo):
    @staticmethod
    def _cam(r: sqlite3.Row) -> Camera:
        return Camera(r["id"], r["name"], r["source"], bool(r["active"]), json.loads(r["info_json"]))

    async def upsert(self, camera_id: str, name: str, source: str) -> None:
        """Create a camera or update its name; learned info is kept."""
        now = _now()
        await self.db.execute(
            "INSERT INTO cameras (id, name, source, active, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name = excluded.name, source = excluded.source, active = 1,"
            " updated_at = excluded.updated_at",
            (camera_id, name, source, now, now),
        )

    async def set_source(self, camera_id: str, source: dict[str, Any], secret: bytes | None) -> None:
        """Store how to reach an API-added camera (no credentials in ``source``; ``secret`` is sealed)."""
        if not await self.db.execute_rowcount(
            "UPDATE cameras SET source_json = ?, secret = ?, updated_at = ? WHERE id = ?",
            (json.dumps(source), secret, _now(), camera_id),
        ):
            raise NotFound(f"camera {camera_id}")

    async def api_sources(self) -> list[tuple[Camera, dict[str, Any], bytes | None]]:
        """Return every active API-added camera with its stored source and sealed secret."""
        rows = await self.db.fetchall(
            "SELECT * FROM cameras WHERE active = 1 AND source = 'api' AND source_json IS NOT NULL ORDER BY id")
        return [(self._cam(r), json.loads(r["source_json"]), r["secret"]) for r in rows]

    async def deactivate_config_cameras_except(self, keep: Iterable[str]) -> None:
        """Deactivate config cameras no longer configured (their footage stays indexed)."""
        ids = list(keep)
        await self.db.execute(
            f"UPDATE cameras SET active = 0 WHERE source = 'config' AND {not_in('id', ids)}",
            ids,
        )

    async def set_info(self, camera_id: str, info: dict[str, Any]) -> None:
        """Store what onboarding learned about a camera (never credentials)."""
        if not await self.db.execute_rowcount(
            "UPDATE cameras SET info_json = ?, updated_at = ? WHERE id = ?", (json.dumps(info), _now(), camera_id)
        ):
            raise NotFound(f"camera {camera_id}")

    async def get(self, camera_id: str) -> Camera | None:
        """Return one camera."""
        r = await self.db.fetchone("SELECT * FROM cameras WHERE id = ?", (camera_id,))
        return self._cam(r) if r else None

    async def all(self) -> list[Camera]:
        """Return the active cameras."""
        return [self._cam(r) for r in await self.db.fetchall("SELECT * FROM cameras WHERE active = 1 ORDER BY id")]

    async def all_ids(self) -> list[str]:
        """Return the id of every camera ever indexed, removed ones included (their footage stays)."""
        return [r["id"] for r in await self.db.fetchall("SELECT id FROM cameras ORDER BY id")]

    async def delete(self, camera_id: str) -> None:
        """Deactivate a camera."""
        if not await self.db.execute_rowcount(
            "UPDATE cameras SET active = 0, updated_at = ? WHERE id = ? AND active = 1", (_now(), camera_id)
        ):
            raise NotFound(f"camera {camera_id}")

    async def open_outage(self, camera_id: str, reason: str, at: float | None = None) -> int:
        """Record the start of an outage; return its id."""
        return await self.db.execute(
            "INSERT INTO camera_outages (camera_id, started_at, reason) VALUES (?, ?, ?)",
            (camera_id, at or _now(), reason),
        )

    async def close_outage(self, outage_id: int, at: float | None = None) -> None:
        """Record the end of an outage."""
        await self.db.execute("UPDATE camera_outages SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                              (at or _now(), outage_id))

    async def outages(self, camera_id: str, since: float, until: float) -> list[Outage]:
        """Return a camera's outages that overlap [since, until)."""
        rows = await self.db.fetchall(
            "SELECT * FROM camera_outages WHERE camera_id = ? AND started_at < ?"
            " AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at",
            (camera_id, until, since),
        )
        return [Outage(r["id"], r["camera_id"], r["started_at"], r["ended_at"], r["reason"]) for r in rows]
