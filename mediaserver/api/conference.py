"""Routes: conference sites, rooms, meetings, join tokens and room moderation."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, Field

from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, MEETING_RECORDINGS_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.auth import Role
from mediaserver.config import IDENT_PATTERN, EmailAddress, SiteRole
from mediaserver.storage.repos import Room, Site
from recordings.meeting import MAX_RECORDING_S, RecordingState

CONFERENCE_STAFF = (Role.ADMIN, Role.OPERATOR)
IDENT = IDENT_PATTERN


class SiteOut(BaseModel):
    id: str
    name: str
    name_en: str | None
    role: str
    source: str
    email: str | None = None

    @classmethod
    def of(cls, s: Site) -> SiteOut:
        return cls(id=s.id, name=s.name, name_en=s.name_en, role=s.role, source=s.source, email=s.email)


class SiteList(BaseModel):
    items: list[SiteOut]


class SiteIn(Body):
    id: str = Field(..., pattern=IDENT)
    name: str = Field(..., min_length=1, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    role: SiteRole = SiteRole.COMMUNE
    email: EmailAddress | None = Field(None, description="Where invitations and reminders are sent.")


class SitePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=120, description="Display name (Vietnamese).")
    name_en: str | None = Field(None, max_length=120, description="English name; an empty string removes it.")
    role: SiteRole | None = Field(None, description="Kind of site (not host: the host site is set in config.yaml).")
    email: EmailAddress | Literal[""] | None = Field(None, description="Invitations go here; an empty string "
                                                     "removes it.")


class RoomOut(BaseModel):
    id: str
    name: str
    host_site_id: str
    sites: list[str] | Literal["all"]
    max_sites: int
    auto_record: bool
    locked: bool
    source: str
    video_codec: str
    audible_sites: int
    closed_at: str | None = Field(None, description="When the chair's End closed the room (no joins until it is "
                                  "reopened: POST …/reopen, or its next scheduled meeting); null: open.")

    @classmethod
    def of(cls, r: Room) -> RoomOut:
        return cls(id=r.id, name=r.name, host_site_id=r.host_site_id,
                   sites="all" if r.all_sites else list(r.site_ids), max_sites=r.max_sites,
                   auto_record=r.auto_record, locked=r.locked, source=r.source, video_codec=r.video_codec,
                   audible_sites=r.audible_sites, closed_at=iso(r.closed_at))


class RoomList(BaseModel):
    items: list[RoomOut]


class RoomIn(Body):
    id: str = Field(..., pattern=IDENT)
    name: str = Field(..., min_length=1, max_length=120)
    host_site_id: str = Field(..., pattern=IDENT)
    sites: list[str] | Literal["all"] = "all"
    max_sites: int = Field(40, ge=2, le=64)
    auto_record: bool = False
    video_codec: Literal["vp8", "h264"] = "vp8"
    audible_sites: int = Field(3, ge=1, le=8)


class RoomPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=120, description="New display name.")
    host_site_id: str | None = Field(None, pattern=IDENT, description="The chairing site.")
    sites: list[str] | Literal["all"] | None = Field(None, description="Member sites (the host always is one).")
    max_sites: int | None = Field(None, ge=2, le=64, description="Most sites connected at once.")
    auto_record: bool | None = Field(None, description="Record every meeting of the room.")


class JoinTokenIn(Body):
    site_id: str = Field(..., pattern=IDENT)
    ttl_hours: float | None = Field(None, gt=0, le=90 * 24, description="Default: auth.join_token_ttl_s.")


class JoinTokenOut(BaseModel):
    token: str
    site_id: str
    room_id: str
    expires_at: str | None
    join_url: str


class SessionOut(BaseModel):
    id: int
    started_at: str | None
    ended_at: str | None
    started_by: str
    recorded: bool = Field(False, description="Whether the meeting has recorded segments (it has a player).")


class RecordingIn(Body):
    duration_s: float | None = Field(None, gt=0, le=MAX_RECORDING_S,
                                     description="Stop after this long (default: when the meeting ends).")


class RecordingOut(BaseModel):
    room_id: str
    state: Literal["recording", "armed"] = Field(
        ..., description="'armed': no meeting is running; the room's next meeting will be recorded.")
    room_session_id: int | None = Field(..., description="The meeting being recorded (its recordings: "
                                                         "GET /api/v1/meetings/{session_id}/recordings).")
    requested_by: str
    requested_at: str | None
    until: str | None
    tracks: int = Field(..., description="Site tracks being written now.")
    segments: int = Field(..., description="Segments written so far in this meeting.")

    @classmethod
    def of(cls, s: RecordingState) -> RecordingOut:
        return cls(room_id=s.room_id, state="recording" if s.state == "recording" else "armed",
                   room_session_id=s.room_session_id, requested_by=s.requested_by,
                   requested_at=iso(s.requested_at), until=iso(s.until), tracks=s.tracks, segments=s.segments)



class SessionList(BaseModel):
    items: list[SessionOut]
    recording: RecordingOut | None = Field(
        None, description="What is being recorded in the room now (null: nothing), so one poll shows both.")

def register(api: Api) -> None:
    """Add the conference routes."""

    @api.route("GET", "/api/v1/sites", roles=(*CONFERENCE_STAFF, Role.PARTICIPANT), response=SiteList,
               tag="conference", summary="List the conference sites.")
    async def list_sites(ctx: Ctx) -> SiteList:
        return SiteList(items=[SiteOut.of(s) for s in await ctx.app[STORE_KEY].sites.all()])

    @api.route("POST", "/api/v1/sites", roles=CONFERENCE_STAFF, body=SiteIn, response=SiteOut, status=201,
               tag="conference", errors=(409,), summary="Add a site (config-defined sites are edited in config.yaml).")
    async def create_site(ctx: Ctx) -> SiteOut:
        b: SiteIn = ctx.body
        if b.role == SiteRole.HOST:
            raise ApiError(422, "invalid_input", "the district has one host site, set in config.yaml", "role")
        site = await ctx.app[STORE_KEY].sites.create(Site(b.id, b.name, b.name_en, b.role, "api", True, b.email))
        await ctx.audit("site.create", b.id)
        return SiteOut.of(site)

    @api.route("PATCH", "/api/v1/sites/{site_id}", roles=CONFERENCE_STAFF, body=SitePatch, response=SiteOut,
               tag="conference", summary="Change an API-defined site's name, English name, kind or e-mail.")
    async def patch_site(ctx: Ctx) -> SiteOut:
        b: SitePatch = ctx.body
        store = ctx.app[STORE_KEY]
        site = await store.sites.get(ctx.param("site_id"))
        if site is None or not site.active:
            raise ApiError(404, "not_found", f"site {ctx.param('site_id')!r} does not exist")
        if site.source == "config":
            raise ApiError(409, "defined_in_config", "this site is defined in config.yaml; change it there")
        if b.role == SiteRole.HOST:
            raise ApiError(422, "invalid_input", "the district has one host site, set in config.yaml", "role")
        new = replace(site, name=b.name if b.name is not None else site.name,
                      name_en=(b.name_en or None) if b.name_en is not None else site.name_en,
                      role=b.role.value if b.role is not None else site.role,
                      email=(b.email or None) if b.email is not None else site.email)
        if not await store.sites.update(new):
            raise ApiError(404, "not_found", f"site {site.id!r} does not exist")
        await ctx.audit("site.update", site.id, **b.model_dump(exclude_none=True, mode="json"))
        return SiteOut.of(new)

    @api.route("DELETE", "/api/v1/sites/{site_id}", roles=CONFERENCE_STAFF, status=204, tag="conference",
               summary="Remove an API-defined site.")
    async def delete_site(ctx: Ctx) -> None:
        store = ctx.app[STORE_KEY]
        site = await store.sites.get(ctx.param("site_id"))
        if site is None or not site.active:
            raise ApiError(404, "not_found", f"site {ctx.param('site_id')!r} does not exist")
        if site.source == "config":
            raise ApiError(409, "defined_in_config", "this site is defined in config.yaml; remove it there")
        await store.sites.delete(site.id)
        await ctx.audit("site.delete", site.id)

    @api.route("GET", "/api/v1/rooms", roles=CONFERENCE_STAFF, response=RoomList, tag="conference",
               summary="List rooms.")
    async def list_rooms(ctx: Ctx) -> RoomList:
        return RoomList(items=[RoomOut.of(r) for r in await ctx.app[STORE_KEY].rooms.all()])

    @api.route("GET", "/api/v1/rooms/{room_id}", roles=(*CONFERENCE_STAFF, Role.PARTICIPANT), response=RoomOut,
               tag="conference", summary="Describe a room (participants: only their own).")
    async def get_room(ctx: Ctx) -> RoomOut:
        return RoomOut.of(await _room(ctx))

    @api.route("POST", "/api/v1/rooms", roles=CONFERENCE_STAFF, body=RoomIn, response=RoomOut, status=201,
               tag="conference", summary="Create a room.")
    async def create_room(ctx: Ctx) -> RoomOut:
        b: RoomIn = ctx.body
        store = ctx.app[STORE_KEY]
        if await store.rooms.get(b.id) is not None:
            raise ApiError(409, "conflict", f"room {b.id!r} already exists")
        await _check_sites(ctx, b.host_site_id, b.sites)
        room = Room(b.id, b.name, b.host_site_id, b.sites == "all", tuple([] if b.sites == "all" else b.sites),
                    b.max_sites, b.auto_record, False, "api", True, b.video_codec, b.audible_sites)
        await store.rooms.upsert(room, "api")
        await ctx.audit("room.create", b.id)
        return RoomOut.of(room)

    @api.route("PATCH", "/api/v1/rooms/{room_id}", roles=CONFERENCE_STAFF, body=RoomPatch, response=RoomOut,
               tag="conference", summary="Change an API-defined room: name, chairing site, member sites, size, "
                                         "auto-record (a running meeting keeps its sites until it ends).")
    async def patch_room(ctx: Ctx) -> RoomOut:
        b: RoomPatch = ctx.body
        room = await _room(ctx)
        if room.source == "config":
            raise ApiError(409, "defined_in_config", "this room is defined in config.yaml; change it there")
        await _check_sites(ctx, b.host_site_id, b.sites)
        sites = b.sites if b.sites is not None else ("all" if room.all_sites else list(room.site_ids))
        new = replace(room, name=b.name if b.name is not None else room.name,
                      host_site_id=b.host_site_id or room.host_site_id, all_sites=sites == "all",
                      site_ids=tuple([] if sites == "all" else sites),
                      max_sites=b.max_sites if b.max_sites is not None else room.max_sites,
                      auto_record=b.auto_record if b.auto_record is not None else room.auto_record)
        await ctx.app[STORE_KEY].rooms.upsert(new, "api")
        await ctx.audit("room.update", room.id, **b.model_dump(exclude_none=True))
        fresh = await ctx.app[STORE_KEY].rooms.get(room.id)
        assert fresh is not None
        return RoomOut.of(fresh)

    @api.route("DELETE", "/api/v1/rooms/{room_id}", roles=CONFERENCE_STAFF, status=204, tag="conference",
               summary="Remove an API-defined room.")
    async def delete_room(ctx: Ctx) -> None:
        room = await _room(ctx)
        if room.source == "config":
            raise ApiError(409, "defined_in_config", "this room is defined in config.yaml; remove it there")
        await ctx.app[STORE_KEY].rooms.delete(room.id)
        await ctx.audit("room.delete", room.id)

    @api.route("GET", "/api/v1/rooms/{room_id}/sessions", roles=CONFERENCE_STAFF, response=SessionList,
               tag="conference", summary="List a room's meetings, newest first.")
    async def sessions(ctx: Ctx) -> SessionList:
        room = await _room(ctx)
        store = ctx.app[STORE_KEY]
        rows = await store.rooms.sessions(room.id)
        recorded = await store.meetings.recorded(s.id for s in rows)
        state = ctx.app[MEETING_RECORDINGS_KEY].state(room.id)
        return SessionList(items=[SessionOut(id=s.id, started_at=iso(s.started_at), ended_at=iso(s.ended_at),
                                             started_by=s.started_by, recorded=s.id in recorded) for s in rows],
                           recording=None if state is None else RecordingOut.of(state))

    @api.route("POST", "/api/v1/rooms/{room_id}/recording", room_node="place", roles=CONFERENCE_STAFF, body=RecordingIn,
               response=RecordingOut, tag="conference",
               summary="Record the room: its running meeting now, else its next one (each site's tracks as sent).")
    async def start_recording(ctx: Ctx) -> RecordingOut:
        b: RecordingIn = ctx.body
        room = await _room(ctx)
        p = ctx.user()
        state = await ctx.app[MEETING_RECORDINGS_KEY].start_recording(room.id, duration_s=b.duration_s,
                                                                      by=f"{p.role}:{p.subject}")
        await ctx.audit("room.record.start", room.id, duration_s=b.duration_s, session=state.room_session_id)
        return RecordingOut.of(state)

    @api.route("GET", "/api/v1/rooms/{room_id}/recording", room_node="follow",
               roles=CONFERENCE_STAFF, response=RecordingOut,
               tag="conference", summary="Whether the room is being recorded (404: it is not).")
    async def recording_state(ctx: Ctx) -> RecordingOut:
        room = await _room(ctx)
        state = ctx.app[MEETING_RECORDINGS_KEY].state(room.id)
        if state is None:
            raise ApiError(404, "not_recording", f"room {room.id!r} is not being recorded")
        return RecordingOut.of(state)

    @api.route("DELETE", "/api/v1/rooms/{room_id}/recording", room_node="follow", roles=CONFERENCE_STAFF, status=204,
               tag="conference", summary="Stop recording the room (finished segments stay).")
    async def stop_recording(ctx: Ctx) -> None:
        room = await _room(ctx)
        if not await ctx.app[MEETING_RECORDINGS_KEY].stop_recording(room.id):
            raise ApiError(404, "not_recording", f"room {room.id!r} is not being recorded")
        await ctx.audit("room.record.stop", room.id)

    @api.route("POST", "/api/v1/rooms/{room_id}/join-tokens", roles=CONFERENCE_STAFF, body=JoinTokenIn,
               response=JoinTokenOut, status=201, tag="conference",
               summary="Issue a join token (and link) for one site to join this room.")
    async def join_token(ctx: Ctx) -> JoinTokenOut:
        b: JoinTokenIn = ctx.body
        room = await _room(ctx)
        out = await issue_join(ctx, room, b.site_id, None if b.ttl_hours is None else b.ttl_hours * 3600)
        await ctx.audit("room.join_token", room.id, site=b.site_id)
        return out


async def _check_sites(ctx: Ctx, host_site_id: str | None, sites: list[str] | Literal["all"] | None) -> None:
    """Refuse (422, naming the field) a chairing or member site that does not exist."""
    store = ctx.app[STORE_KEY]
    named = ([("host_site_id", host_site_id)] if host_site_id else []) + [
        ("sites", s) for s in ([] if sites in (None, "all") else sites)]
    for field, sid in named:
        site = await store.sites.get(sid)
        if site is None or not site.active:
            raise ApiError(422, "invalid_input", f"unknown site {sid!r}", field)


async def issue_join(ctx: Ctx, room: Room, site_id: str, ttl_s: float | None) -> JoinTokenOut:
    """Issue a join token after checking the site may join the room."""
    site = await ctx.app[STORE_KEY].sites.get(site_id)
    if site is None or not site.active:
        raise ApiError(422, "invalid_input", f"unknown site {site_id!r}", "site_id")
    if not room.all_sites and site_id not in room.site_ids and site_id != room.host_site_id:
        raise ApiError(422, "invalid_input", f"site {site_id!r} is not a member of room {room.id!r}", "site_id")
    token, exp = await ctx.app[TOKENS_KEY].issue_join(site_id, room.id, ttl_s)
    return JoinTokenOut(token=token, site_id=site_id, room_id=room.id, expires_at=iso(exp),
                        join_url=join_url(ctx, token))


def join_url(ctx: Ctx, token: str) -> str:
    """Return the browser link a site opens to join with ``token``."""
    base = ctx.app[CONFIG_KEY].server.public_url or f"{ctx.request.scheme}://{ctx.request.host}"
    return f"{base.rstrip('/')}/join#token={token}"


async def _room(ctx: Ctx) -> Room:
    room_id = ctx.param("room_id")
    p = ctx.user()
    if p.role == Role.PARTICIPANT and p.room_id != room_id:
        raise ApiError(403, "forbidden", "a join token only grants access to its own room")
    room = await ctx.app[STORE_KEY].rooms.get(room_id)
    if room is None or not room.active:
        raise ApiError(404, "not_found", f"room {room_id!r} does not exist")
    return room
