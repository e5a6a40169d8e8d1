"""Repository: scheduled meetings, their invited sites and roll call, chat and speaking requests."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mediaserver.storage.base import not_in
from mediaserver.storage.db import Database


@dataclass(frozen=True, slots=True)
class Meeting:
    id: int
    room_id: str
    title: str
    agenda: str
    starts_at: float
    ends_at: float
    chair_site_id: str
    test_before_s: float
    remind_before_s: float | None
    mode: str
    cancelled: bool
    invitations_sent_at: float | None
    created_by: str
    invited: tuple[str, ...]
    reminded_at: float | None = None  # every invited site with an e-mail address has had its reminder

    @property
    def opens_at(self) -> float:
        """Return when the room opens for the technicians' sound and picture test."""
        return self.starts_at - self.test_before_s


@dataclass(frozen=True, slots=True)
class Invitee:
    meeting_id: int
    site_id: str
    absence_reason: str | None
    invited_at: float | None
    invite_error: str | None
    reminded_at: float | None = None
    remind_error: str | None = None


@dataclass(frozen=True, slots=True)
class Presence:
    """One connection of a site to one of a scheduled meeting's held sessions."""

    site_id: str
    joined_at: float
    left_at: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ChatRecord:
    id: int
    room_session_id: int
    at: float
    from_site: str
    to_site: str | None
    text: str


class MeetingRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _meeting(self, r: sqlite3.Row) -> Meeting:
        # Sorted here, not by ORDER BY: by code point on both engines, whatever PostgreSQL's collation.
        sites = sorted(await self.db.fetchall("SELECT site_id FROM meeting_sites WHERE meeting_id = ?", (r["id"],)),
                       key=lambda s: str(s[0]))
        return Meeting(r["id"], r["room_id"], r["title"], r["agenda"], r["starts_at"], r["ends_at"],
                       r["chair_site_id"], r["test_before_s"], r["remind_before_s"], r["mode"], bool(r["cancelled"]),
                       r["invitations_sent_at"], r["created_by"], tuple(s[0] for s in sites), r["reminded_at"])

    async def create(self, m: Meeting) -> Meeting:
        """Store a new scheduled meeting with its invited sites; return it with its id."""
        now = time.time()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO meetings (room_id, title, agenda, starts_at, ends_at, chair_site_id, test_before_s,"
                " remind_before_s, mode, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (m.room_id, m.title, m.agenda, m.starts_at, m.ends_at, m.chair_site_id, m.test_before_s,
                 m.remind_before_s, m.mode, m.created_by, now, now),
            )
            mid = cur.lastrowid
            assert mid is not None
            await conn.executemany("INSERT INTO meeting_sites (meeting_id, site_id) VALUES (?, ?)",
                                   [(mid, s) for s in m.invited])
        got = await self.get(mid)
        assert got is not None
        return got

    async def update(self, m: Meeting) -> None:
        """Replace a meeting's editable fields and invited sites (roll-call notes of kept sites stay).

        The reminder job looks at the meeting again (a newly invited site gets its reminder); a new start time
        means a new reminder for every site.
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE meeting_sites SET reminded_at = NULL, remind_error = NULL WHERE meeting_id = ?"
                " AND (SELECT starts_at FROM meetings WHERE id = ?) != ?", (m.id, m.id, m.starts_at))
            await conn.execute(
                "UPDATE meetings SET room_id = ?, title = ?, agenda = ?, starts_at = ?, ends_at = ?,"
                " chair_site_id = ?, test_before_s = ?, remind_before_s = ?, mode = ?, updated_at = ?,"
                " reminded_at = NULL WHERE id = ?",
                (m.room_id, m.title, m.agenda, m.starts_at, m.ends_at, m.chair_site_id, m.test_before_s,
                 m.remind_before_s, m.mode, time.time(), m.id),
            )
            keep = list(m.invited)
            await conn.execute(
                f"DELETE FROM meeting_sites WHERE meeting_id = ? AND {not_in('site_id', keep)}",
                (m.id, *keep),
            )
            await conn.executemany(
                "INSERT INTO meeting_sites (meeting_id, site_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(m.id, s) for s in keep])

    async def cancel(self, meeting_id: int) -> bool:
        """Cancel a meeting; return False if there is no such meeting."""
        return bool(await self.db.execute_rowcount(
            "UPDATE meetings SET cancelled = 1, updated_at = ? WHERE id = ?", (time.time(), meeting_id)))

    async def get(self, meeting_id: int) -> Meeting | None:
        """Return one meeting."""
        r = await self.db.fetchone("SELECT * FROM meetings WHERE id = ?", (meeting_id,))
        return await self._meeting(r) if r else None

    async def between(self, since: float, until: float, room_id: str | None = None) -> list[Meeting]:
        """Return meetings overlapping [since, until), earliest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM meetings WHERE starts_at < ? AND ends_at > ? AND (? IS NULL OR room_id = ?)"
            " ORDER BY starts_at, id", (until, since, room_id, room_id))
        return [await self._meeting(r) for r in rows]

    async def for_room(self, room_id: str, after: float) -> list[Meeting]:
        """Return a room's meetings not cancelled that end after ``after``, earliest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM meetings WHERE room_id = ? AND cancelled = 0 AND ends_at > ? ORDER BY starts_at, id",
            (room_id, after))
        return [await self._meeting(r) for r in rows]

    async def invitees(self, meeting_id: int) -> list[Invitee]:
        """Return the invited sites with their roll-call notes."""
        rows = sorted(await self.db.fetchall("SELECT * FROM meeting_sites WHERE meeting_id = ?", (meeting_id,)),
                      key=lambda r: str(r["site_id"]))  # by code point on both engines (see _meeting)
        return [Invitee(r["meeting_id"], r["site_id"], r["absence_reason"], r["invited_at"], r["invite_error"],
                        r["reminded_at"], r["remind_error"]) for r in rows]

    async def set_absence_reason(self, meeting_id: int, site_id: str, reason: str | None) -> bool:
        """Record why an invited site was absent; return False if it was not invited."""
        return bool(await self.db.execute_rowcount(
            "UPDATE meeting_sites SET absence_reason = ? WHERE meeting_id = ? AND site_id = ?",
            (reason, meeting_id, site_id)))

    async def record_invitations(self, meeting_id: int, results: Iterable[tuple[str, str | None]]) -> None:
        """Record each site's invitation outcome (None: sent) and when invitations went out."""
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE meeting_sites SET invited_at = CASE WHEN ? IS NULL THEN ? ELSE invited_at END,"
                " invite_error = ? WHERE meeting_id = ? AND site_id = ?",
                [(err, now, err, meeting_id, site) for site, err in results])
            await conn.execute("UPDATE meetings SET invitations_sent_at = ? WHERE id = ?", (now, meeting_id))

    async def due_reminders(self, now: float) -> list[Meeting]:
        """Return meetings not cancelled nor over whose reminder time has come and whose reminder is not done."""
        rows = await self.db.fetchall(
            "SELECT * FROM meetings WHERE reminded_at IS NULL AND cancelled = 0 AND remind_before_s IS NOT NULL"
            " AND starts_at - remind_before_s <= ? AND ends_at > ? ORDER BY starts_at, id", (now, now))
        return [await self._meeting(r) for r in rows]

    async def record_reminders(self, meeting_id: int, results: Iterable[tuple[str, str | None]],
                               done: bool) -> None:
        """Record each site's reminder outcome (None: sent); ``done``: no site is left to remind."""
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE meeting_sites SET reminded_at = CASE WHEN ? IS NULL THEN ? ELSE reminded_at END,"
                " remind_error = ? WHERE meeting_id = ? AND site_id = ?",
                [(err, now, err, meeting_id, site) for site, err in results])
            if done:
                await conn.execute("UPDATE meetings SET reminded_at = ? WHERE id = ?", (now, meeting_id))

    async def session_ids(self, meeting_id: int) -> list[int]:
        """Return the held sessions (room_sessions) of a scheduled meeting, oldest first."""
        rows = await self.db.fetchall("SELECT id FROM room_sessions WHERE meeting_id = ? ORDER BY id",
                                      (meeting_id,))
        return [r[0] for r in rows]

    async def held(self, meeting_ids: Iterable[int]) -> dict[int, tuple[float, float | None, list[int]]]:
        """Return, per meeting that was held: first start, last end (None while running) and session ids."""
        ids = list(meeting_ids)
        if not ids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT id, meeting_id, started_at, ended_at FROM room_sessions WHERE meeting_id IN"
            f" ({','.join('?' * len(ids))}) ORDER BY id", ids)
        out: dict[int, tuple[float, float | None, list[int]]] = {}
        for r in rows:
            start, end, sids = out.get(r["meeting_id"], (r["started_at"], r["ended_at"], []))
            end = None if r["ended_at"] is None else max(end or 0.0, r["ended_at"])
            out[r["meeting_id"]] = (min(start, r["started_at"]), end, [*sids, r["id"]])
        return out

    async def presence(self, meeting_id: int) -> list[Presence]:
        """Return every site connection to the meeting's held sessions, in join order."""
        rows = await self.db.fetchall(
            "SELECT ss.site_id, ss.joined_at, ss.left_at, ss.leave_reason FROM site_sessions ss"
            " JOIN room_sessions rs ON rs.id = ss.room_session_id WHERE rs.meeting_id = ? ORDER BY ss.joined_at, ss.id",
            (meeting_id,))
        return [Presence(r[0], r[1], r[2], r[3]) for r in rows]

    async def recorded(self, session_ids: Iterable[int]) -> set[int]:
        """Return which of these held sessions have recorded segments."""
        ids = list(session_ids)
        if not ids:
            return set()
        rows = await self.db.fetchall(
            f"SELECT DISTINCT room_session_id FROM recording_segments WHERE room_session_id IN"
            f" ({','.join('?' * len(ids))})", ids)
        return {r[0] for r in rows}

    # ------------------------------------------------------------------------------------------- chat

    async def add_chat(self, room_session_id: int, at: float, from_site: str, to_site: str | None,
                       text: str) -> int:
        """Keep a chat message with its meeting; return its id."""
        return await self.db.execute(
            "INSERT INTO chat_messages (room_session_id, at, from_site, to_site, text) VALUES (?, ?, ?, ?, ?)",
            (room_session_id, at, from_site, to_site, text))

    async def chat(self, room_session_ids: Iterable[int], limit: int = 2000) -> list[ChatRecord]:
        """Return the chat of these held sessions, oldest first (at most ``limit``, the newest)."""
        ids = list(room_session_ids)
        if not ids:
            return []
        rows = await self.db.fetchall(
            f"SELECT * FROM (SELECT * FROM chat_messages WHERE room_session_id IN ({','.join('?' * len(ids))})"
            f" ORDER BY id DESC LIMIT ?) AS newest ORDER BY id", (*ids, limit))
        return [ChatRecord(r["id"], r["room_session_id"], r["at"], r["from_site"], r["to_site"], r["text"])
                for r in rows]

    # ------------------------------------------------------------------------------ speaking requests

    async def request_opened(self, room_session_id: int, site_id: str, at: float) -> int:
        """Log a speaking request; return its id."""
        return await self.db.execute(
            "INSERT INTO speaking_requests (room_session_id, site_id, requested_at) VALUES (?, ?, ?)",
            (room_session_id, site_id, at))

    async def request_granted(self, request_id: int, at: float) -> None:
        """Log that the chair gave a site the floor."""
        await self.db.execute("UPDATE speaking_requests SET granted_at = ? WHERE id = ?", (at, request_id))

    async def request_closed(self, request_id: int, at: float, outcome: str) -> None:
        """Log how a speaking request ended."""
        await self.db.execute(
            "UPDATE speaking_requests SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
            (at, outcome, request_id))
