"""Repositories: the only place SQL lives. Callers get and give typed records, never rows or SQL.

A PostgreSQL backend later replaces ``Database`` and the SQL dialect here; no handler changes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mediaserver.storage.db import Database
from mediaserver.storage.meetings import MeetingRepo
from mediaserver.storage.service_tokens import ServiceTokenRepo

ROLES = ("admin", "operator", "security", "participant")
# No segment is longer than this (segment_seconds <= 120 plus a GOP): bounding "overlaps [since, until)" from
# below with it turns a scan of a camera's whole history into an index range of the window.
SEGMENT_LOOKBACK_S = 3600.0
# Motion events last seconds to minutes; a closed one longer than this that began before a timeline window
# is not shown in it (open events always are).
EVENT_LOOKBACK_S = 6 * 3600.0


def _now() -> float:
    return time.time()


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    password_hash: str
    role: str
    must_change_password: bool
    disabled: bool
    created_at: float
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class TokenRecord:
    jti: str
    user_id: int | None
    kind: str
    role: str
    site_id: str | None
    room_id: str | None
    issued_at: float
    expires_at: float
    revoked_at: float | None
    label: str


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


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    action: str
    kind: str
    spec: str
    timezone: str
    grace_s: float
    args: dict[str, Any]
    enabled: bool
    source: str
    next_run_at: float | None
    last_run_at: float | None


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int
    job_id: str
    scheduled_for: float
    started_at: float
    ended_at: float | None
    outcome: str
    late_s: float
    error: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    actor_role: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    remote: str = ""


class NotFound(LookupError):
    """The record does not exist."""


class Conflict(ValueError):
    """The write would break a uniqueness or reference rule."""


# ------------------------------------------------------------------------------------ repositories


class _Repo:
    def __init__(self, db: Database) -> None:
        self.db = db


class UserRepo(_Repo):
    @staticmethod
    def _user(r: sqlite3.Row) -> User:
        return User(
            r["id"], r["username"], r["password_hash"], r["role"], bool(r["must_change_password"]),
            bool(r["disabled"]), r["created_at"], r["password_changed_at"],
        )

    async def create(self, username: str, password_hash: str, role: str, must_change: bool = False) -> User:
        """Create a user; raise Conflict if the name is taken."""
        now = _now()
        try:
            uid = await self.db.execute(
                "INSERT INTO users (username, password_hash, role, must_change_password, created_at,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (username, password_hash, role, int(must_change), now, now),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"user {username!r} already exists") from exc
        return User(uid, username, password_hash, role, must_change, False, now, now)

    async def get(self, user_id: int) -> User | None:
        """Return the user with this id."""
        r = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return self._user(r) if r else None

    async def by_name(self, username: str) -> User | None:
        """Return the user with this name."""
        r = await self.db.fetchone("SELECT * FROM users WHERE username = ?", (username,))
        return self._user(r) if r else None

    async def all(self) -> list[User]:
        """Return every user, by name."""
        return [self._user(r) for r in await self.db.fetchall("SELECT * FROM users ORDER BY username")]

    async def count(self) -> int:
        """Return how many users exist."""
        r = await self.db.fetchone("SELECT COUNT(*) FROM users")
        return int(r[0]) if r else 0

    async def set_password(self, user_id: int, password_hash: str, must_change: bool = False) -> None:
        """Replace a user's password hash."""
        n = await self.db.execute_rowcount(
            "UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = ? WHERE id = ?",
            (password_hash, int(must_change), _now(), user_id),
        )
        if not n:
            raise NotFound(f"user {user_id}")

    async def update(self, user_id: int, *, role: str | None = None, disabled: bool | None = None) -> None:
        """Change a user's role or disabled flag."""
        n = await self.db.execute_rowcount(
            "UPDATE users SET role = COALESCE(?, role), disabled = COALESCE(?, disabled) WHERE id = ?",
            (role, None if disabled is None else int(disabled), user_id),
        )
        if not n:
            raise NotFound(f"user {user_id}")

    async def delete(self, user_id: int) -> None:
        """Delete a user and (by cascade) their tokens."""
        if not await self.db.execute_rowcount("DELETE FROM users WHERE id = ?", (user_id,)):
            raise NotFound(f"user {user_id}")


class TokenRepo(_Repo):
    @staticmethod
    def _tok(r: sqlite3.Row) -> TokenRecord:
        return TokenRecord(
            r["jti"], r["user_id"], r["kind"], r["role"], r["site_id"], r["room_id"], r["issued_at"],
            r["expires_at"], r["revoked_at"], r["label"],
        )

    async def add(self, rec: TokenRecord) -> None:
        """Record a token that was just signed."""
        await self.db.execute(
            "INSERT INTO api_tokens (jti, user_id, kind, role, site_id, room_id, issued_at, expires_at,"
            " revoked_at, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.jti, rec.user_id, rec.kind, rec.role, rec.site_id, rec.room_id, rec.issued_at,
             rec.expires_at, rec.revoked_at, rec.label),
        )

    async def get(self, jti: str) -> TokenRecord | None:
        """Return a token's record."""
        r = await self.db.fetchone("SELECT * FROM api_tokens WHERE jti = ?", (jti,))
        return self._tok(r) if r else None

    async def get_with_user(self, jti: str) -> tuple[TokenRecord, User | None] | None:
        """Return a token's record and its user (None for join tokens) in one query."""
        r = await self.db.fetchone(
            "SELECT t.*, u.id AS u_id, u.username, u.password_hash, u.role AS u_role, u.must_change_password,"
            " u.disabled, u.created_at, u.password_changed_at"
            " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.jti = ?",
            (jti,),
        )
        if r is None:
            return None
        user = None
        if r["u_id"] is not None:
            user = User(r["u_id"], r["username"], r["password_hash"], r["u_role"], bool(r["must_change_password"]),
                        bool(r["disabled"]), r["created_at"], r["password_changed_at"])
        return self._tok(r), user

    async def revoke(self, jti: str) -> bool:
        """Revoke one token; return whether it existed and was live."""
        n = await self.db.execute_rowcount(
            "UPDATE api_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", (_now(), jti)
        )
        return n > 0

    async def revoke_for_user(self, user_id: int) -> int:
        """Revoke every live token of a user (password change, disable); return how many."""
        return await self.db.execute_rowcount(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (_now(), user_id)
        )

    async def purge_expired(self, before: float) -> int:
        """Delete records of tokens that expired before ``before``."""
        return await self.db.execute_rowcount("DELETE FROM api_tokens WHERE expires_at < ?", (before,))


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
                f"UPDATE sites SET active = 0, updated_at = ? WHERE source = 'config'"
                f" AND id NOT IN ({','.join('?' * len(ids))})",
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

    async def get(self, site_id: str) -> Site | None:
        """Return one site."""
        r = await self.db.fetchone("SELECT * FROM sites WHERE id = ?", (site_id,))
        return self._site(r) if r else None

    async def all(self, include_inactive: bool = False) -> list[Site]:
        """Return sites, host first, then by name."""
        rows = await self.db.fetchall(
            "SELECT * FROM sites WHERE active = 1 OR ? ORDER BY role != 'host', id", (int(include_inactive),)
        )
        return [self._site(r) for r in rows]

    async def delete(self, site_id: str) -> None:
        """Deactivate an API-defined site (its history stays)."""
        n = await self.db.execute_rowcount(
            "UPDATE sites SET active = 0, updated_at = ? WHERE id = ? AND active = 1", (_now(), site_id)
        )
        if not n:
            raise NotFound(f"site {site_id}")


class RoomRepo(_Repo):
    async def _room(self, r: sqlite3.Row) -> Room:
        members = await self.db.fetchall("SELECT site_id FROM room_members WHERE room_id = ? ORDER BY site_id",
                                         (r["id"],))
        return Room(
            r["id"], r["name"], r["host_site_id"], bool(r["all_sites"]), tuple(m[0] for m in members),
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
            f"UPDATE rooms SET active = 0 WHERE source = 'config' AND id NOT IN ({','.join('?' * len(ids))})",
            ids,
        )

    async def get(self, room_id: str) -> Room | None:
        """Return one room."""
        r = await self.db.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
        return await self._room(r) if r else None

    async def all(self) -> list[Room]:
        """Return the active rooms."""
        return [await self._room(r) for r in await self.db.fetchall(
            "SELECT * FROM rooms WHERE active = 1 ORDER BY id")]

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
        """Return a room's meetings, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM room_sessions WHERE room_id = ? ORDER BY started_at DESC LIMIT ?", (room_id, limit)
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

    async def close_open_sessions(self, reason: str) -> int:
        """End meetings left open by a crash; return how many."""
        now = _now()
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE site_sessions SET left_at = ?, leave_reason = ? WHERE left_at IS NULL", (now, reason)
            )
            cur = await conn.execute("UPDATE room_sessions SET ended_at = ? WHERE ended_at IS NULL", (now,))
            return cur.rowcount


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
            f"UPDATE cameras SET active = 0 WHERE source = 'config' AND id NOT IN ({','.join('?' * len(ids))})",
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


class SegmentRepo(_Repo):
    @staticmethod
    def _seg(r: sqlite3.Row) -> Segment:
        return Segment(
            r["id"], r["camera_id"], r["stream"], r["room_session_id"], r["site_id"], r["path"], r["start_at"],
            r["end_at"], r["bytes"], r["keyframes"], r["motion_score"], r["track"], r["codec"], r["mode"],
            bool(r["has_motion"]), bool(r["gap_before"]),
        )

    async def add(self, seg: Segment, heatmap: bytes | None = None, *, pre_padding_s: float = 0.0,
                  post_padding_s: float = 0.0) -> int:
        """Index a finished segment; return its id.

        A camera segment is marked ``has_motion`` here when a known motion event (open, or ended less than
        ``post_padding_s`` before the segment starts, or starting within ``pre_padding_s`` of its end)
        overlaps it; events that start later mark it through ``MotionEventRepo``.
        """
        try:
            return await self.db.execute(
                "INSERT INTO recording_segments (camera_id, stream, room_session_id, site_id, path, start_at,"
                " end_at, bytes, keyframes, motion_score, heatmap, track, codec, mode, has_motion, gap_before)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ? OR EXISTS (SELECT 1 FROM motion_events e WHERE e.camera_id = ? AND e.start_at <= ?"
                "   AND (e.end_at IS NULL OR e.end_at >= ?)), ?)",
                (seg.camera_id, seg.stream, seg.room_session_id, seg.site_id, seg.path, seg.start_at, seg.end_at,
                 seg.bytes, seg.keyframes, seg.motion_score, heatmap, seg.track, seg.codec, seg.mode,
                 int(seg.has_motion), seg.camera_id, seg.end_at + pre_padding_s, seg.start_at - post_padding_s,
                 int(seg.gap_before)),
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

    async def paths(self) -> set[str]:
        """Return every indexed segment path (for start-up reconciliation)."""
        rows = await self.db.fetchall("SELECT path FROM recording_segments")
        return {r["path"] for r in rows}

    async def oldest_unprotected(self, limit: int, camera_id: str | None = None,
                                 before: float | None = None) -> list[Segment]:
        """Return the oldest segments no active evidence hold covers (deletion candidates), oldest first."""
        where = ["NOT EXISTS (SELECT 1 FROM evidence_holds h WHERE h.released_at IS NULL"
                 " AND h.camera_id = s.camera_id AND h.start_at < s.end_at AND h.end_at > s.start_at)"]
        params: list[Any] = []
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
        items = list(paths)
        count = 0
        for i in range(0, len(items), 500):
            chunk = items[i:i + 500]
            count += await self.db.execute_rowcount(
                f"DELETE FROM recording_segments WHERE path IN ({','.join('?' * len(chunk))})", chunk
            )
        return count

    async def total_bytes(self) -> int:
        """Return the bytes of every indexed segment."""
        r = await self.db.fetchone("SELECT COALESCE(SUM(bytes), 0) AS n FROM recording_segments")
        return int(r["n"]) if r else 0

    async def bytes_since(self, after_id: int) -> tuple[int, int]:
        """Return (highest id, bytes) of the segments with an id above ``after_id`` (a running footage total)."""
        r = await self.db.fetchone(
            "SELECT COALESCE(MAX(id), 0) AS m, COALESCE(SUM(bytes), 0) AS n FROM recording_segments WHERE id > ?",
            (after_id,))
        return (int(r["m"]), int(r["n"])) if r else (0, 0)

    async def expired(self, camera_id: str, rules: Iterable[tuple[str, bool, float]], limit: int) -> list[Segment]:
        """Return a camera's unprotected segments matching a (mode, has_motion, ended before) rule, oldest first."""
        # One index range scan per rule (recording_segments_retention), merged.
        arm = ("SELECT * FROM (SELECT s.* FROM recording_segments s WHERE s.camera_id = ? AND s.mode = ?"
               " AND s.has_motion = ? AND s.end_at < ? AND NOT EXISTS (SELECT 1 FROM evidence_holds h"
               " WHERE h.released_at IS NULL AND h.camera_id = s.camera_id AND h.start_at < s.end_at"
               " AND h.end_at > s.start_at) ORDER BY s.end_at LIMIT ?)")
        arms: list[str] = []
        params: list[Any] = []
        for mode, has_motion, before in rules:
            arms.append(arm)
            params.extend([camera_id, mode, int(has_motion), before, limit])
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
                  zones: list[str], thumbnail_path: str | None = None, boxes: list[Any] | None = None) -> int:
        """Index a motion event (open when ``end_at`` is None); return its id."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO motion_events (camera_id, start_at, end_at, peak_score, zones_json, boxes_json,"
                " thumbnail_path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (camera_id, start_at, end_at, peak_score, json.dumps(zones), json.dumps(boxes or []),
                 thumbnail_path),
            )
            event_id = cur.lastrowid
            assert event_id is not None
            await conn.executemany(
                "INSERT OR IGNORE INTO motion_event_zones (event_id, camera_id, zone, start_at) VALUES (?, ?, ?, ?)",
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
                    "INSERT OR IGNORE INTO motion_event_zones (event_id, camera_id, zone, start_at)"
                    " VALUES (?, ?, ?, ?)",
                    [(event_id, row[0], z, row[1]) for z in zones],
                )

    async def get(self, event_id: int) -> MotionEvent | None:
        """Return one event."""
        r = await self.db.fetchone("SELECT * FROM motion_events WHERE id = ?", (event_id,))
        return self._event(r) if r else None

    async def close_open(self, at: float) -> int:
        """End events left open by a crash at ``at`` (their last known time); return how many."""
        return await self.db.execute_rowcount(
            "UPDATE motion_events SET end_at = MAX(start_at, ?) WHERE end_at IS NULL", (at,)
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
            sql = " UNION ALL ".join(f"SELECT * FROM ({a})" for a in arms) + \
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

    async def expired(self, camera_id: str, before: float, limit: int) -> list[tuple[int, str | None]]:
        """Return (id, thumbnail path) of a camera's events that ended before ``before`` and no hold covers."""
        rows = await self.db.fetchall(
            "SELECT e.id, e.thumbnail_path FROM motion_events e WHERE e.camera_id = ? AND e.end_at IS NOT NULL"
            " AND e.end_at < ? AND NOT EXISTS (SELECT 1 FROM evidence_holds h WHERE h.released_at IS NULL"
            " AND h.camera_id = e.camera_id AND h.start_at <= e.end_at AND h.end_at >= e.start_at)"
            " ORDER BY e.end_at LIMIT ?",
            (camera_id, before, limit),
        )
        return [(r["id"], r["thumbnail_path"]) for r in rows]

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


class JobRepo(_Repo):
    @staticmethod
    def _job(r: sqlite3.Row) -> Job:
        return Job(
            r["id"], r["action"], r["kind"], r["spec"], r["timezone"], r["grace_s"], json.loads(r["args_json"]),
            bool(r["enabled"]), r["source"], r["next_run_at"], r["last_run_at"],
        )

    @staticmethod
    def _run(r: sqlite3.Row) -> JobRun:
        return JobRun(r["id"], r["job_id"], r["scheduled_for"], r["started_at"], r["ended_at"], r["outcome"],
                      r["late_s"], r["error"])

    async def upsert(self, job: Job) -> None:
        """Create or update a job definition; keep its next run if the timing is unchanged."""
        now = _now()
        await self.db.execute(
            "INSERT INTO jobs (id, action, kind, spec, timezone, grace_s, args_json, enabled, source, next_run_at,"
            " last_run_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET action = excluded.action, args_json = excluded.args_json,"
            " grace_s = excluded.grace_s, enabled = excluded.enabled, source = excluded.source,"
            " next_run_at = CASE WHEN jobs.kind = excluded.kind AND jobs.spec = excluded.spec"
            "   AND jobs.timezone = excluded.timezone THEN jobs.next_run_at ELSE excluded.next_run_at END,"
            " kind = excluded.kind, spec = excluded.spec, timezone = excluded.timezone,"
            " updated_at = excluded.updated_at",
            (job.id, job.action, job.kind, job.spec, job.timezone, job.grace_s, json.dumps(job.args),
             int(job.enabled), job.source, job.next_run_at, job.last_run_at, now, now),
        )

    async def get(self, job_id: str) -> Job | None:
        """Return one job."""
        r = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(r) if r else None

    async def all(self) -> list[Job]:
        """Return every job."""
        return [self._job(r) for r in await self.db.fetchall("SELECT * FROM jobs ORDER BY id")]

    async def delete(self, job_id: str) -> None:
        """Delete a job and its run history."""
        if not await self.db.execute_rowcount("DELETE FROM jobs WHERE id = ?", (job_id,)):
            raise NotFound(f"job {job_id}")

    async def disable_config_jobs_except(self, keep: Iterable[str]) -> None:
        """Disable config jobs no longer configured (their history stays)."""
        ids = list(keep)
        await self.db.execute(
            f"UPDATE jobs SET enabled = 0 WHERE source = 'config' AND id NOT IN ({','.join('?' * len(ids))})",
            ids,
        )

    async def set_next_run(self, job_id: str, next_run_at: float | None, last_run_at: float | None = None) -> None:
        """Store when a job runs next (None: never again)."""
        await self.db.execute(
            "UPDATE jobs SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at), updated_at = ? WHERE id = ?",
            (next_run_at, last_run_at, _now(), job_id),
        )

    async def start_run(self, job_id: str, scheduled_for: float, late_s: float) -> int:
        """Record that a run started; return the run id."""
        return await self.db.execute(
            "INSERT INTO job_runs (job_id, scheduled_for, started_at, outcome, late_s) VALUES (?, ?, ?, 'running', ?)",
            (job_id, scheduled_for, _now(), late_s),
        )

    async def finish_run(self, run_id: int, outcome: str, error: str | None = None) -> None:
        """Record a run's end and outcome."""
        await self.db.execute("UPDATE job_runs SET ended_at = ?, outcome = ?, error = ? WHERE id = ?",
                              (_now(), outcome, error, run_id))

    async def record_missed(self, job_id: str, scheduled_for: float, late_s: float) -> int:
        """Record a run skipped because the server was down past its grace window."""
        now = _now()
        return await self.db.execute(
            "INSERT INTO job_runs (job_id, scheduled_for, started_at, ended_at, outcome, late_s, error)"
            " VALUES (?, ?, ?, ?, 'missed', ?, 'server was down past the grace window')",
            (job_id, scheduled_for, now, now, late_s),
        )

    async def interrupt_running(self) -> int:
        """Mark runs left 'running' by a killed process as interrupted; return how many."""
        return await self.db.execute_rowcount(
            "UPDATE job_runs SET outcome = 'interrupted', ended_at = ?, error = 'server stopped during the run'"
            " WHERE outcome = 'running'",
            (_now(),),
        )

    async def runs(self, job_id: str | None = None, limit: int = 100) -> list[JobRun]:
        """Return runs, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM job_runs WHERE ? IS NULL OR job_id = ? ORDER BY id DESC LIMIT ?",
            (job_id, job_id, limit),
        )
        return [self._run(r) for r in rows]


class AuditRepo(_Repo):
    async def add(self, actor: str, actor_role: str, action: str, target: str = "",
                  detail: dict[str, Any] | None = None, remote: str = "") -> int:
        """Append an entry to the audit log."""
        return await self.db.execute(
            "INSERT INTO audit_log (at, actor, actor_role, action, target, detail_json, remote)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), actor, actor_role, action, target, json.dumps(detail or {}, ensure_ascii=False), remote),
        )

    async def all(self, limit: int = 100, before_id: int | None = None, action_prefix: str = "", *,
                  actor: str = "", target: str = "", since: float | None = None,
                  until: float | None = None) -> list[AuditEntry]:
        """Return entries newest first, keyset-paginated by ``before_id``, filtered by action prefix, actor,
        target (a substring, e.g. a camera or room id), and time."""
        rows = await self.db.fetchall(
            "SELECT * FROM audit_log WHERE (? IS NULL OR id < ?) AND action LIKE ? AND (? = '' OR actor = ?)"
            " AND (? = '' OR instr(target, ?) > 0) AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?)"
            " ORDER BY id DESC LIMIT ?",
            (before_id, before_id, action_prefix + "%", actor, actor, target, target, since, since, until, until,
             limit),
        )
        return [AuditEntry(r["id"], r["at"], r["actor"], r["actor_role"], r["action"], r["target"],
                           json.loads(r["detail_json"]), r["remote"]) for r in rows]


class Store:
    """The storage index: one database and a repository per kind of record."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserRepo(db)
        self.tokens = TokenRepo(db)
        self.sites = SiteRepo(db)
        self.rooms = RoomRepo(db)
        self.cameras = CameraRepo(db)
        self.segments = SegmentRepo(db)
        self.events = MotionEventRepo(db)
        self.holds = HoldRepo(db)
        self.exports = ExportRepo(db)
        self.jobs = JobRepo(db)
        self.audit = AuditRepo(db)
        self.meetings = MeetingRepo(db)
        self.service_tokens = ServiceTokenRepo(db)
        # Imported here: review.py uses this module's NotFound, so a top-level import would be circular.
        from mediaserver.storage.review import ReviewRepo

        self.review = ReviewRepo(db)
        from mediaserver.storage.documents import DocumentRepo

        self.documents = DocumentRepo(db)
        from mediaserver.storage.minutes import MinutesRepo

        self.minutes = MinutesRepo(db)
