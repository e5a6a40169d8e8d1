"""Repository: meeting minutes (biên bản) — the staff's draft, the issued versions, and the speaking turns."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mediaserver.storage.db import Database


@dataclass(frozen=True, slots=True)
class MinutesDraft:
    """What staff add before issuing: the conclusions (kết luận) and whether the chat goes in."""

    meeting_id: int
    conclusions: str
    include_chat: bool
    updated_by: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class IssuedMinutes:
    """One issued version of a meeting's minutes: a stored PDF, read-only."""

    id: int
    meeting_id: int
    version: int
    path: str  # relative to data_dir
    bytes: int
    sha256: str
    signed: bool
    signer: str | None  # "CN, O" of the certificate
    signer_kind: str | None
    conclusions: str
    include_chat: bool
    issued_by: str
    issued_at: float


@dataclass(frozen=True, slots=True)
class SpeakingTurn:
    """One speaking request of a held session: asked, given the floor (or not), and how it ended."""

    id: int
    room_session_id: int
    site_id: str
    requested_at: float
    granted_at: float | None
    ended_at: float | None
    outcome: str | None


class MinutesRepo:
    """Drafts and issued versions of minutes; issued rows are only ever added."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _issued(r: sqlite3.Row) -> IssuedMinutes:
        return IssuedMinutes(r["id"], r["meeting_id"], r["version"], r["path"], r["bytes"], r["sha256"],
                             bool(r["signed"]), r["signer"], r["signer_kind"], r["conclusions"],
                             bool(r["include_chat"]), r["issued_by"], r["issued_at"])

    async def draft(self, meeting_id: int) -> MinutesDraft | None:
        """Return a meeting's draft, or None when nobody has written one."""
        r = await self.db.fetchone("SELECT * FROM minutes_drafts WHERE meeting_id = ?", (meeting_id,))
        if r is None:
            return None
        return MinutesDraft(r["meeting_id"], r["conclusions"], bool(r["include_chat"]), r["updated_by"],
                            r["updated_at"])

    async def save_draft(self, meeting_id: int, conclusions: str, include_chat: bool, by: str) -> MinutesDraft:
        """Create or replace a meeting's draft."""
        now = time.time()
        await self.db.execute(
            "INSERT INTO minutes_drafts (meeting_id, conclusions, include_chat, updated_by, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET conclusions = excluded.conclusions,"
            " include_chat = excluded.include_chat, updated_by = excluded.updated_by,"
            " updated_at = excluded.updated_at",
            (meeting_id, conclusions, int(include_chat), by, now))
        return MinutesDraft(meeting_id, conclusions, include_chat, by, now)

    async def next_version(self, meeting_id: int) -> int:
        """Return the number the next issued version of a meeting's minutes will get."""
        r = await self.db.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM minutes_versions WHERE meeting_id = ?",
                                   (meeting_id,))
        return int(r["v"]) + 1 if r is not None else 1

    async def add_issued(self, meeting_id: int, version: int, path: str, size: int, sha256: str, *, signed: bool,
                         signer: str | None, signer_kind: str | None, conclusions: str, include_chat: bool,
                         issued_by: str, issued_at: float) -> IssuedMinutes:
        """Record an issued version (its file already stored); a version number taken twice is an IntegrityError."""
        async with self.db.transaction() as conn, conn.execute(
                "INSERT INTO minutes_versions (meeting_id, version, path, bytes, sha256, signed, signer,"
                " signer_kind, conclusions, include_chat, issued_by, issued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (meeting_id, version, path, size, sha256, int(signed), signer, signer_kind, conclusions,
                 int(include_chat), issued_by, issued_at)) as cur:
            row = await cur.fetchone()
        assert row is not None
        return IssuedMinutes(int(row["id"]), meeting_id, version, path, size, sha256, signed, signer, signer_kind,
                             conclusions, include_chat, issued_by, issued_at)

    async def versions(self, meeting_id: int) -> list[IssuedMinutes]:
        """Return a meeting's issued versions, newest first."""
        rows = await self.db.fetchall("SELECT * FROM minutes_versions WHERE meeting_id = ? ORDER BY version DESC",
                                      (meeting_id,))
        return [self._issued(r) for r in rows]

    async def version(self, meeting_id: int, version: int) -> IssuedMinutes | None:
        """Return one issued version."""
        r = await self.db.fetchone("SELECT * FROM minutes_versions WHERE meeting_id = ? AND version = ?",
                                   (meeting_id, version))
        return self._issued(r) if r else None

    async def speaking_turns(self, room_session_ids: Iterable[int]) -> list[SpeakingTurn]:
        """Return the speaking requests of these held sessions, in the order they were made."""
        ids = list(room_session_ids)
        if not ids:
            return []
        rows = await self.db.fetchall(
            f"SELECT id, room_session_id, site_id, requested_at, granted_at, ended_at, outcome FROM speaking_requests"
            f" WHERE room_session_id IN ({','.join('?' * len(ids))}) ORDER BY requested_at, id", ids)
        return [SpeakingTurn(r["id"], r["room_session_id"], r["site_id"], r["requested_at"], r["granted_at"],
                             r["ended_at"], r["outcome"]) for r in rows]
