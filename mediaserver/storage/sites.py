"""Repositories: conference sites, rooms and their members, held meetings and site connections."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mediaserver.storage.base import Conflict, NotFound, _now, _Repo, not_in


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    name_en: str | None
    role: str
    source: str
    active: bool
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    host_site_id: str
    all_sites: bool
    site_ids: tuple[str, ...]
    max_sites: int
    auto_record: bool
    locked: bool
    source: str
    active: bool
    video_codec: str = "vp8"
    audible_sites: int = 3
    closed_at: float | None = None  # ended by the chair: no joins until staff or a later scheduled meeting reopen it


@dataclass(frozen=True, slots=True)
class RoomSession:
    id: int
    room_id: str
    started_at: float
    ended_at: float | None
    started_by: str
    meeting_id: int | None = None


class SiteRepo(_Repo):
    @staticmethod
    def _site(r: sqlite3.Row) -> Site:
        return Site(r["id"], r["name"], r["name_en"], r["role"], r["source"], bool(r["active"]), r["email"])

    async def sync_config(self, sites: Iterable[Site]) -> None:
        """Make config-defined sites match the config: upsert these, deactivate config ones not listed."""
        now = _now()
        sites = list(sites)
        async with self.db.transaction() as conn:
            for s in sites:
                await conn.execute(
                    "INSERT INTO sites (id, name, name_en, role, source, active, created_at, updated_at, email)"
                    " VALUES (?, ?, ?, ?, 'config', 1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
                    " name_en = excluded.name_en, role = excluded.role, source = 'config', active = 1,"
                    " updated_at = excluded.updated_at, email = excluded.email",
                    (s.id, s.name, s.name_en, s.role, now, now, s.email),
                )
            ids = [s.id for s in sites]
            await conn.execute(
                f"UPDATE sites SET active = 0, updated_at = ? WHERE source = 'config' AND {not_in('id', ids)}",
                (now, *ids),
            )

    async def create(self, site: Site) -> Site:
        """Create an API-defined site; raise Conflict if the id exists."""
        now = _now()
        try:
            await self.db.execute(
                "INSERT INTO sites (id, name, name_en, role, source, active, created_at, updated_at, email)"
                " VALUES (?, ?, ?, ?, 'api', 1, ?, ?, ?)",
                (site.id, site.name, site.name_en, site.role, now, now, site.email),
            )
        except sqlite3.IntegrityError as exc:
            # A removed API site keeps its row (attendance and audit refer to it): adding it back revives it.
            revived = await self.db.execute_rowcount(
                "UPDATE sites SET name = ?, name_en = ?, role = ?, email = ?, active = 1, updated_at = ?"
                " WHERE id = ? AND source = 'api' AND active = 0",
                (site.name, site.name_en, site.role, site.email, now, site.id),
            )
            if not revived:
                raise Conflict(f"site {site.id!r} already exists") from exc
        return Site(site.id, site.name, site.name_en, site.role, "api", True, site.email)

    async def update(self, site: Site) -> bool:
        """Change an active API-defined site's name, English name, kind and e-mail; False if there is none."""
        return bool(await self.db.execute_rowcount(
            "UPDATE sites SET name = ?, name_en = ?, role = ?, email = ?, updated_at = ?"
            " WHERE id = ? AND source = 'api' AND active = 1",
            (site.name, site.name_en, site.role, site.email, _now(), site.id),
        ))

    async def get(self, site_id: str) -> Site | None:
        """Return one site."""
        r = await self.db.fetchone("SELECT * FROM sites WHERE id = ?", (site_id,))
        return self._site(r) if r else None

    async def all(self, include_inactive: bool = False) -> list[Site]:
        """Return sites, host first, then by id."""
        # Ids are sorted here, by code point as SQLite does: a PostgreSQL database made with a language's
        # collation (vi_VN, en_US) would put "xa-b", "xa_a" and "xa1" in another order.
        rows = await self.db.fetchall("SELECT * FROM sites WHERE active = 1 OR ? = 1", (int(include_inactive),))
        return sorted((self._site(r) for r in rows), key=lambda s: (s.role != "host", s.id))

    async def delete(self, site_id: str) -> None:
        """Deactivate an API-defined site (its history stays)."""
        n = await self.db.execute_rowcount(
            "UPDATE sites SET active = 0, updated_at = ? WHERE id = ? AND active = 1", (_now(), site_id)
        )
        if not n:
            raise NotFound(f"site {site_id}")


class RoomRepo(_Repo):
    async def _room(self, r: sqlite3.Row) -> Room:
        # Sorted here, not by ORDER BY: by code point on both engines, whatever PostgreSQL's collation (SiteRepo.all).
        members = await self.db.fetchall("SELECT site_id FROM room_members WHERE room_id = ?", (r["id"],))
        return Room(
            r["id"], r["name"], r["host_site_id"], bool(r["all_sites"]), tuple(sorted(m[0] for m in members)),
            r["max_sites"], bool(r["auto_record"]), bool(r["locked"]), r["source"], bool(r["active"]),
            r["video_codec"], r["audible_sites"], r["closed_at"],
        )

    async def upsert(self, room: Room, source: str) -> None:
        """Create or replace a room and its member list."""
        now = _now()
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO rooms (id, name, host_site_id, all_sites, max_sites, auto_record, locked, source,"
                    " active, created_at, updated_at, video_codec, audible_sites)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, 1, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET name = excluded.name, host_site_id = excluded.host_site_id,"
                    " all_sites = excluded.all_sites, max_sites = excluded.max_sites,"
                    " auto_record = excluded.auto_record, source = excluded.source, active = 1,"
                    " updated_at = excluded.updated_at, video_codec = excluded.video_codec,"
                    " audible_sites = excluded.audible_sites",
                    (room.id, room.name, room.host_site_id, int(room.all_sites), room.max_sites,
                     int(room.auto_record), source, now, now, room.video_codec, room.audible_sites),
                )
                await conn.execute("DELETE FROM room_members WHERE room_id = ?", (room.id,))
                await conn.executemany(
                    "INSERT INTO room_members (room_id, site_id) VALUES (?, ?)",
                    [(room.id, s) for s in room.site_ids],
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"room {room.id!r} names an unknown site") from exc

    async def deactivate_config_rooms_except(self, keep: Iterable[str]) -> None:
        """Deactivate config-defined rooms no longer in the config."""
        ids = list(keep)
        await self.db.execute(
            f"UPDATE rooms SET active = 0 WHERE source = 'config' AND {not_in('id', ids)}",
            ids,
        )

    async def get(self, room_id: str) -> Room | None:
        """Return one room."""
        r = await self.db.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
        return await self._room(r) if r else None

    async def all(self) -> list[Room]:
        """Return the active rooms, by id."""
        rows = await self.db.fetchall("SELECT * FROM rooms WHERE active = 1")
        return [await self._room(r) for r in sorted(rows, key=lambda r: str(r["id"]))]  # see SiteRepo.all

    async def set_locked(self, room_id: str, locked: bool) -> None:
        """Lock or unlock a room against new joins."""
        if not await self.db.execute_rowcount(
            "UPDATE rooms SET locked = ?, updated_at = ? WHERE id = ?", (int(locked), _now(), room_id)
        ):
            raise NotFound(f"room {room_id}")

    async def delete(self, room_id: str) -> None:
        """Deactivate a room (its meeting history stays)."""
        if not await self.db.execute_rowcount(
            "UPDATE rooms SET active = 0, updated_at = ? WHERE id = ? AND active = 1", (_now(), room_id)
        ):
            raise NotFound(f"room {room_id}")

    async def set_closed(self, room_id: str, closed_at: float | None) -> None:
        """Close a room after the chair's End (at ``closed_at``), or reopen it (None)."""
        if not await self.db.execute_rowcount(
            "UPDATE rooms SET closed_at = ?, updated_at = ? WHERE id = ?", (closed_at, _now(), room_id)
        ):
            raise NotFound(f"room {room_id}")

    async def start_session(self, room_id: str, started_by: str, meeting_id: int | None = None) -> RoomSession:
        """Record the start of a meeting (of a scheduled one when ``meeting_id`` is given)."""
        now = _now()
        sid = await self.db.execute(
            "INSERT INTO room_sessions (room_id, started_at, started_by, meeting_id) VALUES (?, ?, ?, ?)",
            (room_id, now, started_by, meeting_id),
        )
        return RoomSession(sid, room_id, now, None, started_by, meeting_id)

    async def end_session(self, session_id: int) -> None:
        """Record the end of a meeting and of every site connection still open in it."""
        now = _now()
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE room_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                               (now, session_id))
            await conn.execute(
                "UPDATE site_sessions SET left_at = ?, leave_reason = 'meeting ended'"
                " WHERE room_session_id = ? AND left_at IS NULL",
                (now, session_id),
            )

    async def sessions(self, room_id: str, limit: int = 50) -> list[RoomSession]:
        """Return a room's meetings, newest first (the later one first when two start in one clock tick)."""
        # id breaks ties: without it PostgreSQL returns tied rows in any order, SQLite in its index order.
        rows = await self.db.fetchall(
            "SELECT * FROM room_sessions WHERE room_id = ? ORDER BY started_at DESC, id DESC LIMIT ?", (room_id, limit)
        )
        return [self._session(r) for r in rows]

    async def session(self, session_id: int) -> RoomSession | None:
        """Return one meeting."""
        r = await self.db.fetchone("SELECT * FROM room_sessions WHERE id = ?", (session_id,))
        return self._session(r) if r else None

    @staticmethod
    def _session(r: sqlite3.Row) -> RoomSession:
        return RoomSession(r["id"], r["room_id"], r["started_at"], r["ended_at"], r["started_by"], r["meeting_id"])

    async def site_joined(self, room_session_id: int, site_id: str) -> int:
        """Record a site connecting to a meeting; return the connection's id."""
        return await self.db.execute(
            "INSERT INTO site_sessions (room_session_id, site_id, joined_at) VALUES (?, ?, ?)",
            (room_session_id, site_id, _now()),
        )

    async def site_left(self, site_session_id: int, reason: str) -> None:
        """Record a site's connection ending."""
        await self.db.execute(
            "UPDATE site_sessions SET left_at = ?, leave_reason = ? WHERE id = ? AND left_at IS NULL",
            (_now(), reason, site_session_id),
        )

    async def close_open_sessions(self, reason: str, keep_rooms: Sequence[str] = ()) -> int:
        """End meetings left open by a crash, except in ``keep_rooms`` (running on another node); return how many."""
        now = _now()
        keep = list(keep_rooms)
        async with self.db.transaction() as conn:
            kept = (" AND room_session_id NOT IN (SELECT id FROM room_sessions WHERE ended_at IS NULL AND room_id IN"
                    f" ({','.join('?' * len(keep))}))") if keep else ""
            await conn.execute(
                f"UPDATE site_sessions SET left_at = ?, leave_reason = ? WHERE left_at IS NULL{kept}",
                (now, reason, *keep),
            )
            cur = await conn.execute(
                f"UPDATE room_sessions SET ended_at = ? WHERE ended_at IS NULL AND {not_in('room_id', keep)}",
                (now, *keep),
            )
            return cur.rowcount
