"""Repository: votes (biểu quyết) taken in meetings — questions, who may vote, ballots and counts.

A question's counts are kept on its row and raised in the same transaction that records a ballot, so a
secret question needs no per-site choice at all: its ballot rows say only that the site voted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mediaserver.storage.db import Database

Choice = Literal["yes", "no", "abstain"]
CHOICES: tuple[Choice, ...] = ("yes", "no", "abstain")  # tán thành, không tán thành, không ý kiến
_COUNT_COLUMN: dict[str, str] = {"yes": "yes_count", "no": "no_count", "abstain": "abstain_count"}

CastOutcome = Literal["recorded", "already_cast", "closed"]


@dataclass(frozen=True, slots=True)
class VoteQuestion:
    id: int
    meeting_id: int | None
    room_session_id: int | None
    text: str
    opened_at: float
    closed_at: float | None
    opened_by: str  # 'site:<id>' (the chair's page) or a staff username
    room_id: str = ""
    secret: bool = False
    closed_by: str | None = None


@dataclass(frozen=True, slots=True)
class VoteTally:
    question: VoteQuestion
    yes: int
    no: int
    abstain: int
    not_voted: list[str]  # sites present while the question was open that did not vote
    ballots: dict[str, str]  # site_id -> "yes"|"no"|"abstain"; always empty for a secret question
    voted: list[str] = field(default_factory=list)  # sites that voted (also for a secret question)

    @property
    def total(self) -> int:
        """Return how many ballots were cast."""
        return self.yes + self.no + self.abstain


class VoteRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _question(r: sqlite3.Row) -> VoteQuestion:
        return VoteQuestion(r["id"], r["meeting_id"], r["room_session_id"], r["text"], r["opened_at"],
                            r["closed_at"], r["opened_by"], r["room_id"], bool(r["secret"]), r["closed_by"])

    async def _tally(self, r: sqlite3.Row) -> VoteTally:
        q = self._question(r)
        # Sorted here, not by ORDER BY: by code point on both engines, whatever PostgreSQL's collation.
        rows = sorted(await self.db.fetchall(
            "SELECT site_id, choice, voted_at FROM vote_ballots WHERE question_id = ?", (q.id,)),
            key=lambda b: str(b["site_id"]))
        voted = [b["site_id"] for b in rows if b["voted_at"] is not None]
        ballots = {} if q.secret else {b["site_id"]: b["choice"] for b in rows if b["choice"] is not None}
        return VoteTally(q, r["yes_count"], r["no_count"], r["abstain_count"],
                         [b["site_id"] for b in rows if b["voted_at"] is None], ballots, voted)

    async def open(self, room_id: str, meeting_id: int | None, room_session_id: int | None, text: str,
                   secret: bool, opened_by: str, at: float, present: Iterable[str]) -> VoteQuestion | None:
        """Store a new open question with the sites present now; return None if the room has one open."""
        async with self.db.transaction() as conn:
            # The one-open-question index decides, not a SELECT first: two nodes on PostgreSQL may both see no
            # open question, and the second INSERT would then fail instead of giving None.
            async with conn.execute(
                "INSERT INTO vote_questions (room_id, meeting_id, room_session_id, text, secret, opened_at,"
                " opened_by) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (room_id) WHERE closed_at IS NULL DO NOTHING RETURNING *",
                (room_id, meeting_id, room_session_id, text, int(secret), at, opened_by),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            q = self._question(row)
            await conn.executemany(
                "INSERT INTO vote_ballots (question_id, site_id) VALUES (?, ?)"
                " ON CONFLICT (question_id, site_id) DO NOTHING", [(q.id, s) for s in present])
        return q

    async def present(self, question_id: int, site_id: str) -> None:
        """Record that a site was present while the question was open (it may vote; not yet voted)."""
        await self.db.execute("INSERT INTO vote_ballots (question_id, site_id) VALUES (?, ?)"
                              " ON CONFLICT (question_id, site_id) DO NOTHING", (question_id, site_id))

    async def cast(self, question_id: int, site_id: str, choice: Choice, at: float) -> CastOutcome:
        """Record one site's ballot and count it, once; the row is committed before this returns."""
        column = _COUNT_COLUMN[choice]
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT secret, closed_at FROM vote_questions WHERE id = ?",
                                    (question_id,)) as cur:
                q = await cur.fetchone()
            if q is None or q["closed_at"] is not None:
                return "closed"
            stored = None if q["secret"] else choice
            cur = await conn.execute(
                "INSERT INTO vote_ballots (question_id, site_id, choice, voted_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (question_id, site_id) DO UPDATE SET choice = excluded.choice,"
                " voted_at = excluded.voted_at WHERE vote_ballots.voted_at IS NULL",
                (question_id, site_id, stored, at))
            changed = cur.rowcount
            await cur.close()
            if changed == 0:
                return "already_cast"
            await conn.execute(f"UPDATE vote_questions SET {column} = {column} + 1 WHERE id = ?", (question_id,))
        return "recorded"

    async def close(self, question_id: int, at: float, closed_by: str) -> VoteTally | None:
        """Close an open question; return its final tally (None if it is unknown or was already closed)."""
        changed = await self.db.execute_rowcount(
            "UPDATE vote_questions SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
            (at, closed_by, question_id))
        return await self.tally(question_id) if changed else None

    async def tally(self, question_id: int) -> VoteTally | None:
        """Return one question with its counts and ballots."""
        r = await self.db.fetchone("SELECT * FROM vote_questions WHERE id = ?", (question_id,))
        return None if r is None else await self._tally(r)

    async def open_in_room(self, room_id: str) -> VoteTally | None:
        """Return the room's open question, if one is open (e.g. left open when the server stopped)."""
        r = await self.db.fetchone("SELECT * FROM vote_questions WHERE room_id = ? AND closed_at IS NULL",
                                   (room_id,))
        return None if r is None else await self._tally(r)

    async def for_meeting(self, meeting_id: int) -> list[VoteTally]:
        """Return every question taken in a scheduled meeting with its result, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM vote_questions WHERE meeting_id = ? ORDER BY opened_at, id",
                                      (meeting_id,))
        return [await self._tally(r) for r in rows]
