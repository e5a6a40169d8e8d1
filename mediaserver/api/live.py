"""Routes: running meetings — signalling WebSocket, live state and stats, moderation, the join page."""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bridges.room import JoinRefused, LiveRoom
from bridges.signalling import Grant, serve_site
from mediaserver.api.common import Body, Ok, package_file, web_files
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import AUDIT_KEY, CONFERENCE_KEY, CONFIG_KEY, ENGINE_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.auth import AuthError, Principal, Role
from mediaserver.config import IDENT_PATTERN
from mediaserver.rooms_placement import ROOM_PLACEMENT_KEY
from mediaserver.security import WS_POLICY_VIOLATION, OriginCheck

CHAIRS = (Role.ADMIN, Role.OPERATOR)
# The host site's page moderates too: participant tokens are admitted, then checked to be the host's.
MODERATORS = (Role.ADMIN, Role.OPERATOR, Role.PARTICIPANT)
_JOIN_FILES = web_files("bridges.web")


# Per-site quality warnings (codes the console and the chair's page translate).
HIGH_LOSS_PCT = 5.0
HIGH_RTT_MS = 400.0
LOW_FPS = 10.0
LOW_BITRATE_KBPS = 100.0


def warnings_for(media: str | None, loss_pct: float, rtt_ms: float | None, fps_in: float,
                 bitrate_in_kbps: float, video_muted: bool) -> list[str]:
    """Return the quality warnings of one connected site (pure; thresholds above)."""
    if media == "lost":
        return ["media_lost"]
    out = []
    if loss_pct >= HIGH_LOSS_PCT:
        out.append("high_loss")
    if rtt_ms is not None and rtt_ms >= HIGH_RTT_MS:
        out.append("high_rtt")
    if media == "ok" and not video_muted:
        if fps_in < LOW_FPS:
            out.append("low_fps")
        if bitrate_in_kbps < LOW_BITRATE_KBPS:
            out.append("low_bitrate")
    return out


class SiteLive(BaseModel):
    site: str
    name: str
    name_en: str | None = None
    host: bool
    connected: bool
    connection: str | None
    muted: dict[str, bool] | None
    moderated: dict[str, bool] | None
    sharing: bool
    bitrate_in_kbps: float | None = None
    bitrate_out_kbps: float | None = None
    packet_loss_pct: float | None = None
    rtt_ms: float | None = None
    frames_forwarded: int | None = None
    frames_dropped: int | None = None
    media: Literal["ok", "lost"] | None = Field(None, description="lost: connected, but no media for 2 s.")
    hand: bool = False
    invited: bool = True
    speaking: bool = False
    fps_in: float | None = None
    width: int | None = Field(None, description="Camera width the site reports sending.")
    height: int | None = None
    fps_sent: float | None = None
    warnings: list[str] = Field(default_factory=list, description="media_lost, high_loss, high_rtt, low_fps, "
                                                                  "low_bitrate")
    layer: Literal["high", "low"] | None = Field(None, description="The camera layer this site receives: high "
                                                                   "(HD) or low (thumbnails, its link is weak).")
    layer_reason: str | None = Field(None, description="Why: ok, probe (trying HD again), loss, bandwidth.")
    remb_kbps: float | None = Field(None, description="The site's browser's latest estimate of its downlink.")
    thumb: bool = Field(False, description="Whether the site publishes the thumbnail layer.")


class LobbyEntry(BaseModel):
    site: str
    name: str
    name_en: str | None
    since: float
    reason: str


class FloorOut(BaseModel):
    queue: list[dict[str, Any]]
    speaking: str | None


class LiveOut(BaseModel):
    room_id: str
    running: bool
    locked: bool
    closed: bool = Field(False, description="The chair ended the meeting; only staff or the next scheduled "
                                            "meeting reopen the room.")
    speaker: str | None
    pinned: str | None
    screen: str | None
    sites: list[SiteLive]
    mode: str = "free"
    floor: FloorOut | None = None
    lobby: list[LobbyEntry] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    meeting: dict[str, Any] | None = None
    session_id: int | None = None


class GrantIn(Body):
    site_id: str = Field(..., min_length=1, max_length=64)


class ModeIn(Body):
    mode: Literal["free", "chaired"]


class ChatItem(BaseModel):
    id: int
    at: float
    from_: str = Field(..., alias="from")
    from_name: str
    to: str
    text: str


class ChatList(BaseModel):
    items: list[ChatItem]


class MutedOut(BaseModel):
    muted: int


class MuteIn(Body):
    kind: Literal["audio", "video"]
    muted: bool


class PresentIn(Body):
    camera_id: str | None = Field(None, description="Camera to show to every site; null stops showing it.")
    stream: Literal["main", "sub"] = "main"


class PinIn(Body):
    site_id: str | None = Field(None, description="Site to spotlight; null follows the active speaker.")


def register(api: Api) -> None:
    """Add the live-meeting routes."""

    @api.route("GET", "/api/v1/rooms/{room_id}/signal", roles=None, tag="live", content_type="application/json",
               errors=(400,),  # not a WebSocket upgrade
               summary="Signalling WebSocket for one site (protocol v1; the first message carries the join "
                       "token, see bridges/signalling.py).")
    async def signal(ctx: Ctx) -> web.StreamResponse:
        room_id = ctx.param("room_id")
        refused = OriginCheck(ctx.app[CONFIG_KEY].server).refused(ctx.request)
        if refused is not None:  # a page of another site: accept, then close with the reason a page can read
            ws = web.WebSocketResponse()
            await ws.prepare(ctx.request)
            await ws.close(code=WS_POLICY_VIOLATION, message=f"origin_not_allowed: {refused}"[:120].encode())
            return ws
        tokens = ctx.app[TOKENS_KEY]

        async def authenticate(token: str) -> Grant:
            try:
                p = await tokens.verify(token)
            except AuthError as exc:
                raise JoinRefused(exc.code, exc.message) from exc
            if p.role != Role.PARTICIPANT or p.site_id is None or p.room_id is None:
                raise JoinRefused("not_a_join_token", "join with a site's join link, not a staff login")
            return Grant(p.site_id, p.room_id)

        placement = ctx.app.get(ROOM_PLACEMENT_KEY)  # a cluster: the room runs on one node
        return await serve_site(ctx.request, room_id, ctx.app[CONFERENCE_KEY], authenticate, ctx.app[AUDIT_KEY],
                                placement.redirect_for if placement is not None else None)

    @api.route("GET", "/api/v1/rooms/{room_id}/live", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               response=LiveOut, tag="live", summary="Who is connected, who speaks, and each site's live stats.")
    async def live(ctx: Ctx) -> LiveOut:
        room_id = await _check_room(ctx)
        conference = ctx.app[CONFERENCE_KEY]
        room = conference.live(room_id)
        stored = await ctx.app[STORE_KEY].rooms.get(room_id)
        closed = bool(stored and stored.closed_at is not None)
        if room is None:
            return LiveOut(room_id=room_id, running=False, locked=bool(stored and stored.locked), closed=closed,
                           speaker=None, pinned=None, screen=None, sites=[])
        sites = []
        for entry in room.roster():
            s = room.sessions.get(entry["site"])
            extra: dict[str, Any] = {}
            if s is not None:
                st = s.stats
                extra = {"bitrate_in_kbps": round(st.bitrate_in_kbps, 1),
                         "bitrate_out_kbps": round(st.bitrate_out_kbps, 1),
                         "packet_loss_pct": round(st.packet_loss_pct, 2), "rtt_ms": st.rtt_ms,
                         "frames_forwarded": st.frames_forwarded, "frames_dropped": st.frames_dropped,
                         "fps_in": round(st.fps_in, 1), "width": st.width, "height": st.height,
                         "fps_sent": st.fps_sent, "layer": s.layer.layer.value, "layer_reason": s.layer.reason,
                         "remb_kbps": None if s.link.remb_bps is None else round(s.link.remb_bps / 1000, 1),
                         "thumb": s.sources["thumb"].frames > 0,
                         "warnings": warnings_for(entry["media"], st.packet_loss_pct, st.rtt_ms, st.fps_in,
                                                  st.bitrate_in_kbps, s.muted["video"] or s.moderated["video"])}
            sites.append(SiteLive(**entry, **extra))
        snap = room.floor.snapshot()
        return LiveOut(room_id=room_id, running=True, locked=room.locked, closed=closed,
                       speaker=room.current_speaker, pinned=room.pinned, screen=room.screen_site, sites=sites,
                       mode=room.floor.mode, floor=FloorOut(queue=snap["queue"], speaking=room.floor.speaking),
                       lobby=[LobbyEntry(**e) for e in room.lobby.snapshot(room.policy.sites,
                                                                             room.policy.names_en)],
                       removed=sorted(room.removed),
                       meeting=room.policy.meeting.wire() if room.policy.meeting else None,
                       session_id=conference.session_of(room_id))

    for verb, admit in (("admit", True), ("refuse", False)):

        def make_lobby(verb: str, admit: bool) -> None:
            @api.route("POST", f"/api/v1/rooms/{{room_id}}/lobby/{{site_id}}/{verb}", room_node="follow",
                       roles=MODERATORS, check=_host_or_chair, response=Ok, tag="live",
                       summary=f"{verb.capitalize()} a site waiting in the lobby.")
            async def decide(ctx: Ctx) -> Ok:
                room = await _live_room(ctx)
                site = ctx.param("site_id")
                if not await room.decide(site, admit):
                    raise ApiError(404, "not_waiting", f"site {site!r} is not waiting in the lobby")
                await ctx.audit(f"conference.lobby_{verb}", f"{room.policy.room_id}/{site}")
                return Ok()

        make_lobby(verb, admit)

    @api.route("POST", "/api/v1/rooms/{room_id}/sites/{site_id}/readmit", room_node="follow",
               roles=MODERATORS, check=_host_or_chair,
               response=Ok, tag="live", summary="Let a site the chair removed join the meeting again.")
    async def readmit(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        site = ctx.param("site_id")
        if not await room.readmit(site):
            raise ApiError(404, "not_removed", f"site {site!r} was not removed from the meeting")
        await ctx.audit("conference.readmit", f"{room.policy.room_id}/{site}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/floor/grant", room_node="follow",
               roles=MODERATORS, check=_host_or_chair, body=GrantIn, response=Ok, tag="live",
               summary="Give a site the floor: unmute its microphone and spotlight it.")
    async def grant(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: GrantIn = ctx.body
        if b.site_id == room.policy.host_site:
            raise ApiError(422, "invalid_input", "the chair always has the floor", "site_id")
        if not await room.grant(b.site_id):
            raise ApiError(404, "not_connected", f"site {b.site_id!r} is not in the meeting", "site_id")
        await ctx.audit("conference.floor_grant", f"{room.policy.room_id}/{b.site_id}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/floor/end-turn", room_node="follow",
               roles=MODERATORS, check=_host_or_chair,
               response=Ok, tag="live", summary="End the current speaker's turn (its microphone is muted).")
    async def end_turn(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        site = await room.end_turn()
        if site is None:
            raise ApiError(409, "no_speaker", "nobody has the floor")
        await ctx.audit("conference.floor_end_turn", f"{room.policy.room_id}/{site}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/floor/mode", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               body=ModeIn, response=Ok, tag="live",
               summary="Free discussion, or chair-controlled (sites speak only when given the floor).")
    async def floor_mode(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: ModeIn = ctx.body
        room.set_mode(b.mode)
        await ctx.audit("conference.floor_mode", room.policy.room_id, mode=b.mode)
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/mute-all", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               response=MutedOut, tag="live", summary="Mute every site's microphone but the chair's.")
    async def mute_all(ctx: Ctx) -> MutedOut:
        room = await _live_room(ctx)
        n = room.mute_all()
        await ctx.audit("conference.mute_all", room.policy.room_id, muted=n)
        return MutedOut(muted=n)

    @api.route("GET", "/api/v1/rooms/{room_id}/chat", room_node="follow",
               roles=MODERATORS, check=_host_or_chair, response=ChatList,
               tag="live", summary="The running meeting's chat, oldest first (the chair sees every message).")
    async def chat(ctx: Ctx) -> ChatList:
        room = await _live_room(ctx)
        host = room.policy.host_site
        return ChatList(items=[ChatItem.model_validate(m.wire(host)) for m in room.chat_log])

    @api.route("POST", "/api/v1/rooms/{room_id}/reopen", room_node="follow", roles=CHAIRS, response=Ok, tag="live",
               summary="Reopen a room the chair's End closed (staff only).")
    async def reopen(ctx: Ctx) -> Ok:
        room_id = ctx.param("room_id")
        store = ctx.app[STORE_KEY]
        room = await store.rooms.get(room_id)
        if room is None or not room.active:
            raise ApiError(404, "not_found", f"room {room_id!r} does not exist")
        if room.closed_at is None:
            raise ApiError(409, "not_closed", f"room {room_id!r} is not closed")
        await store.rooms.set_closed(room_id, None)
        await ctx.audit("room.reopen", room_id)
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/sites/{site_id}/mute", room_node="follow",
               roles=MODERATORS, check=_host_or_chair, body=MuteIn,
               response=Ok, tag="live", summary="Mute or unmute a site's audio or video for everyone.")
    async def mute(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: MuteIn = ctx.body
        site = ctx.param("site_id")
        if not room.moderate_mute(site, b.kind, b.muted):
            raise ApiError(404, "not_connected", f"site {site!r} is not in the meeting")
        await ctx.audit(f"conference.{'mute' if b.muted else 'unmute'}_{b.kind}", f"{room.policy.room_id}/{site}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/sites/{site_id}/remove", room_node="follow",
               roles=MODERATORS, check=_host_or_chair, response=Ok,
               tag="live", summary="Disconnect a site from the meeting.")
    async def remove(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        site = ctx.param("site_id")
        if site == room.policy.host_site:
            raise ApiError(409, "conflict", "the host site cannot be removed; end the meeting instead")
        if not await room.remove(site):
            raise ApiError(404, "not_connected", f"site {site!r} is not in the meeting")
        await ctx.audit("conference.remove", f"{room.policy.room_id}/{site}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/pin", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               body=PinIn, response=Ok, tag="live",
               summary="Spotlight a site in every speaker slot, or follow the active speaker again.")
    async def pin(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: PinIn = ctx.body
        if b.site_id is not None and b.site_id not in room.policy.sites:
            raise ApiError(422, "invalid_input", f"site {b.site_id!r} is not a member of the room", "site_id")
        room.pin(b.site_id)
        await ctx.audit("conference.pin", room.policy.room_id, site=b.site_id)
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/camera", room_node="follow",
               roles=MODERATORS, check=_host_or_chair, body=PresentIn, response=Ok, tag="live",
               summary="Show a camera to every site as the presentation (no transcoding: H.264 rooms).")
    async def present(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: PresentIn = ctx.body
        source = None
        if b.camera_id is not None:
            source = ctx.app[ENGINE_KEY].sources.get(f"camera/{b.camera_id}/{b.stream}")
            if source is None:
                raise ApiError(409, "not_streaming", f"camera {b.camera_id!r} ({b.stream}) is not streaming",
                               "camera_id")
        try:
            room.present(source)
        except JoinRefused as exc:
            raise ApiError(409, exc.code, exc.message, "camera_id") from exc
        await ctx.audit("conference.present_camera", room.policy.room_id, camera=b.camera_id)
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/end", room_node="follow", roles=MODERATORS, check=_host_or_chair,
               response=Ok, tag="live", summary="End the meeting for every site.")
    async def end(ctx: Ctx) -> Ok:
        room_id = await _check_room(ctx)
        conference = ctx.app[CONFERENCE_KEY]
        if conference.live(room_id) is None or not await conference.end(room_id, "ended", close=True):
            raise ApiError(404, "not_running", f"no meeting is running in room {room_id!r}")
        await ctx.audit("conference.end", room_id)
        return Ok()

    for verb, locked in (("lock", True), ("unlock", False)):

        def make(locked: bool, verb: str) -> None:
            @api.route("POST", f"/api/v1/rooms/{{room_id}}/{verb}", room_node="follow",
                       roles=MODERATORS, check=_host_or_chair,
                       response=Ok, tag="live", summary=f"{verb.capitalize()} a room against new joins.")
            async def lock(ctx: Ctx) -> Ok:
                room_id = ctx.param("room_id")
                store = ctx.app[STORE_KEY]
                room = await store.rooms.get(room_id)
                if room is None or not room.active:
                    raise ApiError(404, "not_found", f"room {room_id!r} does not exist")
                await store.rooms.set_locked(room_id, locked)
                await ctx.app[CONFERENCE_KEY].set_locked(room_id, locked)
                await ctx.audit(f"room.{verb}", room_id)
                return Ok()

        make(locked, verb)

    @api.route("GET", "/join", roles=None, tag="live", content_type="text/html",
               summary="The site's conference page (the join token is in the URL fragment).")
    async def join_page(ctx: Ctx) -> web.StreamResponse:
        room_id = ctx.request.query.get("room")
        placement = ctx.app.get(ROOM_PLACEMENT_KEY)
        if placement is not None and room_id is not None and re.fullmatch(IDENT_PATTERN, room_id):
            elsewhere = await placement.current_elsewhere(room_id)
            if elsewhere is not None:  # the browser keeps the #token fragment across a redirect
                raise web.HTTPTemporaryRedirect(f"{elsewhere.rstrip('/')}/join?{ctx.request.query_string}")
        return await package_file("bridges.web", "join.html", _JOIN_FILES)

    @api.route("GET", "/join/{name}", roles=None, tag="live", content_type="text/plain",
               summary="The conference page's script and styles.")
    async def join_asset(ctx: Ctx) -> web.StreamResponse:
        return await package_file("bridges.web", ctx.param("name"), _JOIN_FILES)


async def _host_or_chair(ctx: Ctx) -> None:
    await _check_room(ctx)


async def _check_room(ctx: Ctx) -> str:
    """Return the room id after checking a participant caller is that room's host site."""
    room_id = ctx.param("room_id")
    p: Principal = ctx.user()
    if p.role == Role.PARTICIPANT:
        room = await ctx.app[STORE_KEY].rooms.get(room_id)
        live = ctx.app[CONFERENCE_KEY].live(room_id)
        chair = live.policy.host_site if live is not None else room.host_site_id if room is not None else None
        if p.room_id != room_id or room is None or p.site_id != chair:
            raise ApiError(403, "forbidden", "only the host site's page may moderate this room")
    return room_id


async def _live_room(ctx: Ctx) -> LiveRoom:
    room_id = await _check_room(ctx)
    room = ctx.app[CONFERENCE_KEY].live(room_id)
    if room is None:
        raise ApiError(404, "not_running", f"no meeting is running in room {room_id!r}")
    return room
