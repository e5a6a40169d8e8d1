"""Routes: running meetings — signalling WebSocket, live state and stats, moderation, the join page."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bridges.room import JoinRefused, LiveRoom
from bridges.signalling import Grant, serve_site
from mediaserver.api.common import Body, Ok, package_file, web_files
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import AUDIT_KEY, CONFERENCE_KEY, ENGINE_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.auth import AuthError, Principal, Role

CHAIRS = (Role.ADMIN, Role.OPERATOR)
# The host site's page moderates too: participant tokens are admitted, then checked to be the host's.
MODERATORS = (Role.ADMIN, Role.OPERATOR, Role.PARTICIPANT)
_JOIN_FILES = web_files("bridges.web")


class SiteLive(BaseModel):
    site: str
    name: str
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


class LiveOut(BaseModel):
    room_id: str
    running: bool
    locked: bool
    speaker: str | None
    pinned: str | None
    screen: str | None
    sites: list[SiteLive]


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
               summary="Signalling WebSocket for one site (protocol v1; the first message carries the join "
                       "token, see bridges/signalling.py).")
    async def signal(ctx: Ctx) -> web.StreamResponse:
        room_id = ctx.param("room_id")
        tokens = ctx.app[TOKENS_KEY]

        async def authenticate(token: str) -> Grant:
            try:
                p = await tokens.verify(token)
            except AuthError as exc:
                raise JoinRefused(exc.code, exc.message) from exc
            if p.role != Role.PARTICIPANT or p.site_id is None or p.room_id is None:
                raise JoinRefused("not_a_join_token", "join with a site's join link, not a staff login")
            return Grant(p.site_id, p.room_id)

        return await serve_site(ctx.request, room_id, ctx.app[CONFERENCE_KEY], authenticate, ctx.app[AUDIT_KEY])

    @api.route("GET", "/api/v1/rooms/{room_id}/live", roles=MODERATORS, check=_host_or_chair,
               response=LiveOut, tag="live",
               summary="Who is connected, who speaks, and each site's live stats.")
    async def live(ctx: Ctx) -> LiveOut:
        room_id = await _check_room(ctx)
        room = ctx.app[CONFERENCE_KEY].live(room_id)
        if room is None:
            stored = await ctx.app[STORE_KEY].rooms.get(room_id)
            return LiveOut(room_id=room_id, running=False, locked=bool(stored and stored.locked), speaker=None,
                           pinned=None, screen=None, sites=[])
        sites = []
        for entry in room.roster():
            s = room.sessions.get(entry["site"])
            extra: dict[str, Any] = {}
            if s is not None:
                st = s.stats
                extra = {"bitrate_in_kbps": round(st.bitrate_in_kbps, 1),
                         "bitrate_out_kbps": round(st.bitrate_out_kbps, 1),
                         "packet_loss_pct": round(st.packet_loss_pct, 2), "rtt_ms": st.rtt_ms,
                         "frames_forwarded": st.frames_forwarded, "frames_dropped": st.frames_dropped}
            sites.append(SiteLive(**entry, **extra))
        return LiveOut(room_id=room_id, running=True, locked=room.locked, speaker=room.current_speaker,
                       pinned=room.pinned, screen=room.screen_site, sites=sites)

    @api.route("POST", "/api/v1/rooms/{room_id}/sites/{site_id}/mute", roles=MODERATORS, check=_host_or_chair,
               body=MuteIn,
               response=Ok, tag="live", summary="Mute or unmute a site's audio or video for everyone.")
    async def mute(ctx: Ctx) -> Ok:
        room = await _live_room(ctx)
        b: MuteIn = ctx.body
        site = ctx.param("site_id")
        if not room.moderate_mute(site, b.kind, b.muted):
            raise ApiError(404, "not_connected", f"site {site!r} is not in the meeting")
        await ctx.audit(f"conference.{'mute' if b.muted else 'unmute'}_{b.kind}", f"{room.policy.room_id}/{site}")
        return Ok()

    @api.route("POST", "/api/v1/rooms/{room_id}/sites/{site_id}/remove", roles=MODERATORS, check=_host_or_chair,
               response=Ok,
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

    @api.route("POST", "/api/v1/rooms/{room_id}/pin", roles=MODERATORS, check=_host_or_chair,
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

    @api.route("POST", "/api/v1/rooms/{room_id}/camera", roles=MODERATORS, check=_host_or_chair, body=PresentIn,
               response=Ok, tag="live",
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

    @api.route("POST", "/api/v1/rooms/{room_id}/end", roles=MODERATORS, check=_host_or_chair,
               response=Ok, tag="live",
               summary="End the meeting for every site.")
    async def end(ctx: Ctx) -> Ok:
        room_id = await _check_room(ctx)
        if not await ctx.app[CONFERENCE_KEY].end(room_id, "ended"):
            raise ApiError(404, "not_running", f"no meeting is running in room {room_id!r}")
        await ctx.audit("conference.end", room_id)
        return Ok()

    for verb, locked in (("lock", True), ("unlock", False)):

        def make(locked: bool, verb: str) -> None:
            @api.route("POST", f"/api/v1/rooms/{{room_id}}/{verb}", roles=MODERATORS, check=_host_or_chair,
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
        if p.room_id != room_id or room is None or p.site_id != room.host_site_id:
            raise ApiError(403, "forbidden", "only the host site's page may moderate this room")
    return room_id


async def _live_room(ctx: Ctx) -> LiveRoom:
    room_id = await _check_room(ctx)
    room = ctx.app[CONFERENCE_KEY].live(room_id)
    if room is None:
        raise ApiError(404, "not_running", f"no meeting is running in room {room_id!r}")
    return room
