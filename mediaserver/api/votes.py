"""Routes: votes (biểu quyết) — a meeting's results for staff and the minutes, and the live room's vote controls.

The rules are bridges/votes.py's: the console's live-room box (or the chair's page) opens one question at a
time, every present site votes once from its join page, the result goes to every site when it closes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bridges.votes import VoteRefused, tally_wire, votes_for
from mediaserver.api.common import Body
from mediaserver.api.errors import ApiError
from mediaserver.api.live import MODERATORS, _host_or_chair, _live_room
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFERENCE_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.storage.votes import VoteTally

STAFF = (Role.ADMIN, Role.OPERATOR)
_REFUSED_STATUS = {"vote_already_open": 409, "vote_not_open": 409, "vote_question_empty": 422,
                   "vote_question_too_long": 422}


class QuestionOut(BaseModel):
    id: int
    text: str
    secret: bool = Field(..., description="A secret vote: no site's choice is stored or shown.")
    opened_at: float = Field(..., description="UTC epoch seconds.")
    opened_by: str = Field(..., description="'site:<id>' (the chair's page) or a staff username.")
    closed_at: float | None = Field(None, description="UTC epoch seconds; null while the vote is open.")


class TallyOut(BaseModel):
    question: QuestionOut
    yes: int | None = Field(..., description="Tán thành; null while a secret vote is open.")
    no: int | None = Field(..., description="Không tán thành; null while a secret vote is open.")
    abstain: int | None = Field(..., description="Không ý kiến; null while a secret vote is open.")
    voted: list[str] = Field(..., description="Sites that voted.")
    not_voted: list[str] = Field(..., description="Sites present while it was open that did not vote (yet).")
    ballots: dict[str, str] = Field(..., description="site id → yes | no | abstain; empty for a secret vote.")


class TallyList(BaseModel):
    items: list[TallyOut]


class RoomVoteOut(BaseModel):
    open: TallyOut | None = Field(None, description="The question open now with its live counts, if any.")


class VoteOpenIn(Body):
    text: str = Field(..., min_length=1, max_length=5000, description="The question (500 characters after "
                                                                      "cleaning).")
    secret: bool = Field(False, description="A secret vote: nobody learns a site's choice, none is stored.")


def _out(t: VoteTally, live: bool = False) -> TallyOut:
    return TallyOut.model_validate(tally_wire(t, live=live))


def _refused(exc: VoteRefused) -> ApiError:
    return ApiError(_REFUSED_STATUS.get(exc.code, 409), exc.code, exc.message,
                    "text" if exc.code.startswith("vote_question") else None)


def register(api: Api) -> None:
    """Add the vote routes."""

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/votes", roles=STAFF, response=TallyList,
               tag="schedule", summary="The votes taken in a scheduled meeting and their results, oldest first.")
    async def meeting_votes(ctx: Ctx) -> TallyList:
        raw = ctx.param("meeting_id")
        store = ctx.app[STORE_KEY]
        if not raw.isdigit() or len(raw) > 18 or await store.meetings.get(int(raw)) is None:
            raise ApiError(404, "not_found", f"no scheduled meeting {raw!r}")
        return TallyList(items=[_out(t) for t in await store.votes.for_meeting(int(raw))])

    @api.route("GET", "/api/v1/rooms/{room_id}/vote", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               response=RoomVoteOut, tag="live", summary="The running meeting's open vote with its live counts.")
    async def room_vote(ctx: Ctx) -> RoomVoteOut:
        room = await _live_room(ctx)
        snap = votes_for(room, ctx.app[CONFERENCE_KEY]).snapshot()
        return RoomVoteOut(open=None if snap is None else _out(snap, live=True))

    @api.route("POST", "/api/v1/rooms/{room_id}/vote/open", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               body=VoteOpenIn, response=TallyOut, status=201, tag="live", errors=(409, 422),
               summary="Put a question to the vote of every site present (one open question at a time).")
    async def open_vote(ctx: Ctx) -> TallyOut:
        room = await _live_room(ctx)
        b: VoteOpenIn = ctx.body
        box = votes_for(room, ctx.app[CONFERENCE_KEY])
        try:
            q = await box.open(b.text, b.secret, ctx.user().subject)
        except VoteRefused as exc:
            raise _refused(exc) from exc
        await ctx.audit("conference.vote_open", room.policy.room_id, question=q.id, text=q.text, secret=q.secret)
        snap = box.snapshot()
        assert snap is not None
        return _out(snap, live=True)

    @api.route("POST", "/api/v1/rooms/{room_id}/vote/close", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               response=TallyOut, tag="live", errors=(409,),
               summary="Close the open vote and send its result to every site.")
    async def close_vote(ctx: Ctx) -> TallyOut:
        room = await _live_room(ctx)
        try:
            t = await votes_for(room, ctx.app[CONFERENCE_KEY]).close(ctx.user().subject)
        except VoteRefused as exc:
            raise _refused(exc) from exc
        await ctx.audit("conference.vote_close", room.policy.room_id, question=t.question.id, yes=t.yes, no=t.no,
                        abstain=t.abstain, not_voted=len(t.not_voted))
        return _out(t)

