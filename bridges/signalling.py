"""Signalling over a WebSocket: versioned JSON messages between a site's page and its session.

Protocol v1 (client → server): ``join {v, token}`` first, within JOIN_TIMEOUT_S; then ``answer {sdp}``,
``screen {on}``, ``state {audio_muted, video_muted}``, ``ping``, ``leave`` (on purpose: no grace re-entry),
``hand {up}`` (a speaking request), ``chat {text, to}`` (``to``: all, chair, or — from the chair — a site),
``stats {width, height, fps}``. Server → client: ``welcome`` (with ``ice_servers``, the browser's
``RTCIceServer`` list with this join's own TURN credentials, and ``ice_transport_policy``), ``offer``, ``slots``,
``speaker``, ``talking``, ``roster``, ``screen``, ``pinned``, ``moderation``, ``floor``, ``chat``,
``chat_history``, ``lobby_waiting`` (to the chair), ``document_present`` and ``documents`` (meeting documents,
see bridges/documents.py), ``error {code, message, …}``, ``bye {reason}``, ``pong``;
``redirect {url, room}`` right after a valid join when the room runs on another node (then the socket closes).
A site that must wait (a locked room, not invited) gets ``lobby {reason}`` instead of ``welcome`` and may only
``ping`` or ``leave`` until the chair decides: ``admitted`` (then ``welcome`` as usual) or ``error {code: refused}``
and close.
A bad message gets an ``error`` and the session carries on; only a bad or missing ``join`` closes the
socket, and the server closes it after every ``bye``. A site that reconnects (same token, same site)
replaces its old session. Because the room works in the background, ``slots``,
``roster`` and ``speaker`` may arrive before ``welcome``/``offer``; a full ``slots`` map always follows
the answer, so a client can simply apply them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridges import documents
from bridges.chat import ChatRefused
from bridges.conference import Conference
from bridges.room import JoinRefused, LiveRoom
from bridges.session import SiteSession
from bridges.votes import RoomVotes, VoteRefused, votes_for

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
JOIN_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 256 * 1024  # an answer SDP with ~50 m-lines is ~60 KB
HEARTBEAT_S = 15.0


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinMsg(_Msg):
    type: Literal["join"]
    v: int = Field(..., description="Protocol version the client speaks.")
    token: str = Field(..., min_length=10, max_length=4096)


class AnswerMsg(_Msg):
    type: Literal["answer"]
    sdp: str = Field(..., min_length=10, max_length=MAX_MESSAGE_BYTES)


class ScreenMsg(_Msg):
    type: Literal["screen"]
    on: bool


class StateMsg(_Msg):
    type: Literal["state"]
    audio_muted: bool = False
    video_muted: bool = False


class PingMsg(_Msg):
    type: Literal["ping"]


class LeaveMsg(_Msg):
    type: Literal["leave"]


class HandMsg(_Msg):
    type: Literal["hand"]
    up: bool


class ChatMsg(_Msg):
    type: Literal["chat"]
    # The length is checked after cleaning (chat_too_long); this bound only stops absurd frames early.
    text: str = Field(..., max_length=20_000)
    to: str = Field("all", min_length=1, max_length=64)


class StatsMsg(_Msg):
    type: Literal["stats"]
    width: int | None = Field(None, ge=0, le=16384)
    height: int | None = Field(None, ge=0, le=16384)
    fps: float | None = Field(None, ge=0, le=240)


MESSAGES: dict[str, type[_Msg]] = {"answer": AnswerMsg, "screen": ScreenMsg, "state": StateMsg, "ping": PingMsg,
                                   "leave": LeaveMsg, "hand": HandMsg, "chat": ChatMsg, "stats": StatsMsg}


# --- votes (biểu quyết; rules and server → site messages in bridges/votes.py) ---
class VoteOpenMsg(_Msg):
    type: Literal["vote_open"]
    # The length is checked after cleaning (vote_question_too_long); this bound only stops absurd frames early.
    text: str = Field(..., max_length=5000, description="The question put to the vote (the chair only).")
    secret: bool = Field(False, description="A secret vote: nobody learns a site's choice, none is stored.")


class VoteCastMsg(_Msg):
    type: Literal["vote_cast"]
    question: int = Field(..., ge=1, le=2**53, description="The open question's id (from vote_opened).")
    choice: Literal["yes", "no", "abstain"] = Field(..., description="tán thành, không tán thành, không ý kiến.")


class VoteCloseMsg(_Msg):
    type: Literal["vote_close"]
    question: int | None = Field(None, ge=1, le=2**53, description="The question to close; null: the open one.")


MESSAGES.update({"vote_open": VoteOpenMsg, "vote_cast": VoteCastMsg, "vote_close": VoteCloseMsg})
# --- end votes ---


@dataclass(frozen=True)
class Grant:
    """What a verified join token allows: one site in one room."""

    site_id: str
    room_id: str


Authenticate = Callable[[str], Awaitable[Grant]]  # raises JoinRefused
# Where a room runs when it is not here: the base URL of the node that runs it, None to run it here. With several
# nodes a room must fit on one of them; a site that reached another node gets ``redirect {url}`` and the socket
# closes (the join page reloads itself from ``url`` with the same join link). The app wires the decision.
Placement = Callable[[str], Awaitable[str | None]]


async def _send(ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
    if not ws.closed:
        await ws.send_str(json.dumps(msg, ensure_ascii=False))


async def _error(ws: web.WebSocketResponse, code: str, message: str, **extra: Any) -> None:
    await _send(ws, {"type": "error", "code": code, "message": message, **extra})


async def _read_json(ws: web.WebSocketResponse, wait_s: float | None) -> dict[str, Any] | None:
    """Return the next JSON object, None when the socket closed; raise ValueError on a bad frame."""
    msg = await ws.receive(timeout=wait_s)
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        return None
    if msg.type == WSMsgType.ERROR:
        raise ConnectionError(str(ws.exception()))
    if msg.type != WSMsgType.TEXT:
        raise ValueError("messages must be JSON text frames")
    try:
        data = json.loads(msg.data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("a message is a JSON object with a string 'type'")
    return data


async def serve_site(request: web.Request, room_id: str, conference: Conference, authenticate: Authenticate,
                     audit: Callable[..., Awaitable[Any]], place: Placement | None = None) -> web.WebSocketResponse:
    """Run one site's signalling WebSocket from join to leave (or send it to the node running its room)."""
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_S)
    await ws.prepare(request)
    try:
        first = await _read_json(ws, JOIN_TIMEOUT_S)
        if first is None:
            return ws
        join = JoinMsg.model_validate(first)
        if join.v != PROTOCOL_VERSION:
            raise JoinRefused("unsupported_version", f"this server speaks protocol v{PROTOCOL_VERSION}")
        grant = await authenticate(join.token)
        if grant.room_id != room_id:
            raise JoinRefused("wrong_room", "this join link is for another room")
        elsewhere = None if place is None else await place(room_id)
        if elsewhere is not None:  # after the token check: only a room's own sites learn where it runs
            await _send(ws, {"type": "redirect", "url": elsewhere, "room": room_id})
            await ws.close()
            return ws
        conference.admit(room_id)
        room = await conference.room(room_id)
        wait_reason = room.entry(grant.site_id)
        if wait_reason is not None and not await _wait_in_lobby(ws, room, grant.site_id, wait_reason):
            return ws
        session = await room.join(grant.site_id, lambda m: _send(ws, m), ws.close, admitted=wait_reason is not None)
    except TimeoutError:
        await _error(ws, "join_timeout", f"send a 'join' message within {JOIN_TIMEOUT_S:.0f} s")
        await ws.close()
        return ws
    except (ValueError, ValidationError) as exc:
        await _error(ws, "bad_join", f"the first message must be a valid 'join': {_brief(exc)}")
        await ws.close()
        return ws
    except JoinRefused as exc:
        await _error(ws, exc.code, exc.message, **exc.extra)
        await ws.close()
        return ws
    votes_for(room, conference)  # votes (bridges/votes.py): the room's vote box, before any message
    await audit(actor=f"site:{grant.site_id}", actor_role="participant", action="conference.join",
                target=room_id, detail={}, remote=request.remote or "")
    async def site_audit(action: str, **detail: Any) -> None:
        await audit(actor=f"site:{grant.site_id}", actor_role="participant", action=action, target=room_id,
                    detail=detail, remote=request.remote or "")

    # Fresh per join: the TURN REST credentials in it expire (server.ice_servers' credential_ttl_s).
    ice = {"ice_servers": conference.browser_ice_servers(grant.site_id),
           "ice_transport_policy": conference.ice_transport_policy}
    try:
        await _run(ws, room, session, site_audit, ice)
    finally:
        await room.leave(session, "disconnected")
    return ws


async def _wait_in_lobby(ws: web.WebSocketResponse, room: LiveRoom, site: str, reason: str) -> bool:
    """Keep a site in the lobby until the chair decides; return True if admitted (False: refused or gone)."""
    entry = await room.wait_in_lobby(site, reason)
    await _send(ws, {"type": "lobby", "reason": reason, "room_name": room.policy.name,
                     "meeting": room.policy.meeting.wire() if room.policy.meeting else None})
    reader: asyncio.Task[dict[str, Any] | None] | None = None
    try:
        while True:
            reader = asyncio.ensure_future(_read_json(ws, None))
            waiting: set[asyncio.Future[Any]] = {entry.decision, reader}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if entry.decision.done():
                break
            try:
                data = reader.result()
            except ValueError as exc:
                await _error(ws, "bad_message", str(exc))
                continue
            except ConnectionError:
                data = None
            if data is None or data["type"] == "leave":
                await room.left_lobby(entry)
                await ws.close()
                return False
            if data["type"] == "ping":
                await _send(ws, {"type": "pong"})
            else:
                await _error(ws, "in_lobby", "waiting for the chair to let this site in")
    finally:
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    if entry.decision.result():
        await _send(ws, {"type": "admitted"})
        return True
    await _error(ws, "refused", "the chair did not let this site into the meeting")
    await ws.close()
    return False


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        return f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
    return str(exc)


SiteAudit = Callable[..., Awaitable[None]]


async def _run(ws: web.WebSocketResponse, room: LiveRoom, session: SiteSession, audit: SiteAudit,
               ice: dict[str, Any]) -> None:
    policy = room.policy
    await _send(ws, {
        "type": "welcome", "v": PROTOCOL_VERSION, "room": policy.room_id, "room_name": policy.name,
        "site": session.site_id, "site_name": policy.sites[session.site_id],
        "site_name_en": policy.names_en.get(session.site_id),
        "host": session.is_host, "host_site": policy.host_site, "codec": policy.video_codec,
        "mode": room.floor.mode, "meeting": policy.meeting.wire() if policy.meeting else None,
        **ice,  # ice_servers: [{urls, username?, credential?}], ice_transport_policy: "all" | "relay"
    })
    await _send(ws, {"type": "chat_history", "messages": room.chat_history(session.site_id)})
    if policy.meeting is not None:  # meeting documents: what is presented now (bridges/documents.py)
        await _send(ws, documents.state(room))
    await votes_for_room(room).greet(session)  # votes: an open question reaches a site that joins late
    try:
        offer = await session.make_offer()
    except ConnectionError:
        return  # replaced or removed while the offer was being made
    await _send(ws, offer)
    await room.broadcast_roster()
    while not ws.closed and session.state != "closed":
        try:
            data = await _read_json(ws, None)
        except ValueError as exc:
            await _error(ws, "bad_message", str(exc))
            continue
        except ConnectionError:
            break
        if data is None:
            break
        kind = data["type"]
        model = MESSAGES.get(kind)
        if model is None:
            await _error(ws, "unknown_type", f"unknown message type {kind!r}")
            continue
        try:
            msg = model.model_validate(data)
        except ValidationError as exc:
            await _error(ws, "bad_message", f"{kind}: {_brief(exc)}")
            continue
        try:
            await _handle(ws, room, session, msg, audit)
        except ChatRefused as exc:
            await _error(ws, exc.code, exc.message)
        except ValueError as exc:
            await _error(ws, "bad_sdp" if isinstance(msg, AnswerMsg) else "bad_message", str(exc))


async def _handle(ws: web.WebSocketResponse, room: LiveRoom, session: SiteSession, msg: _Msg,
                  audit: SiteAudit) -> None:
    if isinstance(msg, AnswerMsg):
        if session.pc.remoteDescription is not None:
            raise ValueError("an answer was already applied to this session")
        await session.accept_answer(msg.sdp)
        room.relayout()
        room.send_assignments(session)
    elif isinstance(msg, ScreenMsg):
        session.sharing = msg.on
        room.set_screen(session.site_id, msg.on)
        await room.broadcast_roster()
    elif isinstance(msg, StateMsg):
        session.muted = {"audio": msg.audio_muted, "video": msg.video_muted}
        await room.broadcast_roster()
    elif isinstance(msg, PingMsg):
        await _send(ws, {"type": "pong"})
    elif isinstance(msg, LeaveMsg):
        await audit("conference.leave")  # first: leaving closes this socket
        await room.leave(session, "left")
    elif isinstance(msg, HandMsg):
        if session.is_host:
            raise ChatRefused("not_allowed", "the chair gives the floor; it does not ask for it")
        await room.hand(session.site_id, msg.up)
        await audit("conference.hand_up" if msg.up else "conference.hand_down")
    elif isinstance(msg, ChatMsg):
        await room.chat(session.site_id, msg.text, msg.to)
    elif isinstance(msg, StatsMsg):
        st = session.stats
        st.width, st.height, st.fps_sent = msg.width, msg.height, msg.fps
    elif isinstance(msg, VoteOpenMsg | VoteCastMsg | VoteCloseMsg):
        await _vote(ws, room, session, msg, audit)


# --- votes ---
def votes_for_room(room: LiveRoom) -> RoomVotes:
    """Return the room's vote box (serve_site sets it up at join)."""
    assert room.votes is not None
    return room.votes


async def _vote(ws: web.WebSocketResponse, room: LiveRoom, session: SiteSession,
                msg: VoteOpenMsg | VoteCastMsg | VoteCloseMsg, audit: SiteAudit) -> None:
    """Handle a site's vote message; a refusal is an error to that site only."""
    box = votes_for_room(room)
    try:
        if isinstance(msg, VoteCastMsg):
            await box.cast(session.site_id, msg.question, msg.choice)
            # Only now: the ballot is committed to the index (a crash after this loses nothing).
            await _send(ws, {"type": "vote_recorded", "question": msg.question, "choice": msg.choice})
            return
        if not session.is_host:
            raise VoteRefused("vote_chair_only", "only the chair opens and closes a vote")
        if isinstance(msg, VoteOpenMsg):
            q = await box.open(msg.text, msg.secret, f"site:{session.site_id}")
            await audit("conference.vote_open", question=q.id, text=q.text, secret=q.secret)
        else:
            t = await box.close(f"site:{session.site_id}", msg.question)
            await audit("conference.vote_close", question=t.question.id, yes=t.yes, no=t.no, abstain=t.abstain,
                        not_voted=len(t.not_voted))
    except VoteRefused as exc:
        await _error(ws, exc.code, exc.message)
# --- end votes ---


__all__ = ["Grant", "serve_site"]
