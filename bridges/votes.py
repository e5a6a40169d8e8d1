"""Votes (biểu quyết) in a live meeting: the chair opens a question, every present site votes once.

Rules (decided here, documented in README's meeting section):
- one question open at a time per room; the chair's page or staff (console) open and close it;
- every site present while the question is open may vote, the chair too (Vietnamese practice);
- a site votes once: a second ballot is refused (``vote_already_cast``), there is no changing it;
- a ballot is committed to the index before the site is told ``vote_recorded``, so a crash loses no
  acknowledged ballot; an open question left by a stopped server is resumed when the room runs again;
- the chair sees live counts and who has not voted; everybody sees the result when it closes;
- a ``secret`` question never reveals a site's choice to anyone and does not store it: its live progress
  shows only who has voted (counts appearing ballot by ballot would tell the chair each site's choice).

Messages (bridges/signalling.py): from sites ``vote_open {text, secret}`` (chair), ``vote_cast {question,
choice}``, ``vote_close {question}`` (chair); to sites ``vote_opened``, ``vote_recorded`` (to the voter),
``vote_progress`` (to the chair), ``vote_result`` (to all).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediaserver.errors import CodedError
from mediaserver.storage.votes import CHOICES, Choice, VoteQuestion, VoteRepo, VoteTally

if TYPE_CHECKING:
    from bridges.conference import Conference
    from bridges.room import LiveRoom
    from bridges.session import SiteSession

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500


class VoteRefused(CodedError):
    """A vote action was not accepted; ``code`` is the signalling and API error code."""


def clean_question(text: str) -> str:
    """Return the question text to keep, or raise VoteRefused when it is empty or too long."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        raise VoteRefused("vote_question_empty", "write the question to vote on")
    if len(text) > MAX_QUESTION_CHARS:
        raise VoteRefused("vote_question_too_long",
                          f"a question has at most {MAX_QUESTION_CHARS} characters, this one {len(text)}")
    return text


def question_wire(q: VoteQuestion) -> dict[str, Any]:
    """Return a question as sites and the console receive it."""
    return {"id": q.id, "text": q.text, "secret": q.secret, "opened_at": q.opened_at, "opened_by": q.opened_by,
            "closed_at": q.closed_at}


def tally_wire(t: VoteTally, live: bool = False) -> dict[str, Any]:
    """Return a tally; ``live`` on a secret question hides the counts until it closes."""
    hide = live and t.question.secret
    return {"question": question_wire(t.question), "yes": None if hide else t.yes, "no": None if hide else t.no,
            "abstain": None if hide else t.abstain, "voted": sorted(t.voted), "not_voted": sorted(t.not_voted),
            "ballots": {} if t.question.secret else dict(sorted(t.ballots.items()))}


@dataclass
class _Open:
    """The open question as the room holds it (the index holds the same, committed first)."""

    question: VoteQuestion
    counts: dict[str, int]
    eligible: set[str]
    voted: set[str] = field(default_factory=set)
    choices: dict[str, str] = field(default_factory=dict)  # empty for a secret question

    def tally(self) -> VoteTally:
        return VoteTally(self.question, self.counts["yes"], self.counts["no"], self.counts["abstain"],
                         sorted(self.eligible - self.voted), dict(self.choices), sorted(self.voted))


class RoomVotes:
    """The votes of one live room; every change goes through one lock so the index and memory agree."""

    def __init__(self, room: LiveRoom, repo: VoteRepo, session_of: Callable[[], int | None]) -> None:
        self.room = room
        self.repo = repo
        self._session_of = session_of
        self._lock = asyncio.Lock()
        self._loaded = False
        self.current: _Open | None = None

    @property
    def _meeting_id(self) -> int | None:
        m = self.room.policy.meeting
        return None if m is None else m.id

    async def _load(self) -> None:
        """Pick up a question a stopped server left open (its ballots are in the index)."""
        if self._loaded:
            return
        self._loaded = True
        left = await self.repo.open_in_room(self.room.policy.room_id)
        if left is None:
            return
        if left.question.meeting_id != self._meeting_id:
            # Another meeting's question: it cannot go on in this one; keep what was cast.
            await self.repo.close(left.question.id, time.time(), "interrupted")
            logger.info("room %s: closed vote %d left open by an earlier meeting", self.room.policy.room_id,
                        left.question.id)
            return
        self.current = _Open(left.question, {"yes": left.yes, "no": left.no, "abstain": left.abstain},
                             set(left.voted) | set(left.not_voted), set(left.voted), dict(left.ballots))
        logger.info("room %s: resumed open vote %d", self.room.policy.room_id, left.question.id)

    def _chair(self) -> SiteSession | None:
        return self.room.sessions.get(self.room.policy.host_site)

    def _progress(self) -> None:
        chair = self._chair()
        if chair is not None and self.current is not None:
            self.room._notify(chair, {"type": "vote_progress", **tally_wire(self.current.tally(), live=True)})

    def snapshot(self) -> VoteTally | None:
        """Return the open question's live tally, if one is open."""
        return None if self.current is None else self.current.tally()

    async def open(self, text: str, secret: bool, opened_by: str) -> VoteQuestion:
        """Open a question to every present site; raise VoteRefused if one is open already."""
        text = clean_question(text)
        async with self._lock:
            await self._load()
            if self.current is not None:
                raise VoteRefused("vote_already_open", "close the open question before opening another")
            present = sorted(self.room.sessions)
            q = await self.repo.open(self.room.policy.room_id, self._meeting_id, self._session_of(), text, secret,
                                     opened_by, time.time(), present)
            if q is None:
                raise VoteRefused("vote_already_open", "close the open question before opening another")
            self.current = _Open(q, dict.fromkeys(CHOICES, 0), set(present))
            wire = {"type": "vote_opened", "question": question_wire(q), "voted": False, "choice": None}
            for session in self.room.sessions.values():
                self.room._notify(session, wire)
            self._progress()
        logger.info("room %s: vote %d opened by %s (%d sites present%s)", self.room.policy.room_id, q.id, opened_by,
                    len(present), ", secret" if secret else "")
        return q

    async def cast(self, site: str, question_id: int, choice: str) -> None:
        """Record one site's ballot (committed before this returns); raise VoteRefused."""
        if choice not in CHOICES:
            raise VoteRefused("vote_bad_choice", f"choose one of {', '.join(CHOICES)}")
        ballot: Choice = choice  # narrowed by the check above
        async with self._lock:
            await self._load()
            cur = self.current
            if cur is None or cur.question.id != question_id:
                raise VoteRefused("vote_not_open", "this question is not open for voting")
            if site in cur.voted:
                raise VoteRefused("vote_already_cast", "this site has already voted on this question")
            outcome = await self.repo.cast(question_id, site, ballot, time.time())
            if outcome == "already_cast":
                raise VoteRefused("vote_already_cast", "this site has already voted on this question")
            if outcome == "closed":
                raise VoteRefused("vote_not_open", "this question is not open for voting")
            cur.eligible.add(site)
            cur.voted.add(site)
            cur.counts[ballot] += 1
            if not cur.question.secret:
                cur.choices[site] = ballot
            self._progress()

    async def close(self, closed_by: str, question_id: int | None = None) -> VoteTally:
        """Close the open question and send its result to every site; raise VoteRefused if none is open."""
        async with self._lock:
            await self._load()
            cur = self.current
            if cur is None or (question_id is not None and cur.question.id != question_id):
                raise VoteRefused("vote_not_open", "no question is open for voting")
            tally = await self.repo.close(cur.question.id, time.time(), closed_by)
            self.current = None
            if tally is None:  # closed behind our back (another process): say what the index holds
                tally = await self.repo.tally(cur.question.id) or cur.tally()
            wire = {"type": "vote_result", **tally_wire(tally)}
            for session in self.room.sessions.values():
                self.room._notify(session, wire)
        logger.info("room %s: vote %d closed by %s: %d yes, %d no, %d abstain, %d not voted",
                    self.room.policy.room_id, tally.question.id, closed_by, tally.yes, tally.no, tally.abstain,
                    len(tally.not_voted))
        return tally

    async def greet(self, session: SiteSession) -> None:
        """Give a site that (re)joined the open question (it may vote on it), the chair its progress too."""
        async with self._lock:
            await self._load()
            cur = self.current
            if cur is None:
                return
            if session.site_id not in cur.eligible:
                await self.repo.present(cur.question.id, session.site_id)
                cur.eligible.add(session.site_id)
            voted = session.site_id in cur.voted
            self.room._notify(session, {"type": "vote_opened", "question": question_wire(cur.question),
                                        "voted": voted, "choice": cur.choices.get(session.site_id)})
            self._progress()

    async def room_ended(self) -> None:
        """Close an open question when the meeting ends (nobody is left to see the result live)."""
        async with self._lock:
            cur = self.current
            if cur is None:
                return
            self.current = None
            await self.repo.close(cur.question.id, time.time(), "meeting ended")


def votes_for(room: LiveRoom, conference: Conference) -> RoomVotes:
    """Return the room's votes, setting them up on first use (one per live room)."""
    if room.votes is None:
        room_id = room.policy.room_id
        room.votes = RoomVotes(room, conference.store.votes, lambda: conference.session_of(room_id))
    return room.votes
