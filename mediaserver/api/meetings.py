"""Routes: a recorded meeting's segments (by site and track), their files, and the side-by-side player page."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, Field

from mediaserver.api.common import iso, package_file
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, MEETING_RECORDINGS_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.storage.repos import RoomSession, Segment
from recordings.meeting import MEETINGS_DIR

CONFERENCE_STAFF = (Role.ADMIN, Role.OPERATOR)
_PLAYER_FILES = frozenset({"meeting.html", "meeting.js", "meeting.css"})
_MEDIA_TYPES = {".webm": "video/webm", ".mp4": "video/mp4"}
_TRACK_ORDER = {"video": 0, "screen": 1, "audio": 2}


class SegmentItem(BaseModel):
    id: int
    start_at: str | None
    end_at: str | None
    start: float = Field(..., description="UTC epoch seconds (for players lining tracks up).")
    end: float
    bytes: int
    keyframes: int
    gap_before: bool = Field(..., description="The track was interrupted (left, muted, stalled) before this.")
    url: str = Field(..., description="The file (GET with the same bearer token; Range requests supported).")


class TrackItem(BaseModel):
    track: str = Field(..., description="'video', 'audio' or 'screen'.")
    codec: str
    content_type: str
    segments: list[SegmentItem]


class SiteItem(BaseModel):
    site_id: str
    name: str
    name_en: str | None
    tracks: list[TrackItem]


class MeetingRecordingsOut(BaseModel):
    session_id: int
    room_id: str
    room_name: str
    host_site_id: str | None
    started_at: str | None
    ended_at: str | None
    recording: bool = Field(..., description="Segments are still being added (the meeting is being recorded).")
    start: float | None = Field(..., description="Earliest recorded instant, UTC epoch seconds.")
    end: float | None = Field(..., description="Latest recorded instant, UTC epoch seconds.")
    bytes: int
    sites: list[SiteItem]


def _session_id(ctx: Ctx) -> int:
    raw = ctx.param("session_id")
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no meeting {raw!r}")
    return int(raw)


async def _session(ctx: Ctx) -> RoomSession:
    sid = _session_id(ctx)
    session = await ctx.app[STORE_KEY].rooms.session(sid)
    if session is None:
        raise ApiError(404, "not_found", f"no meeting {sid}")
    return session


def _media_type(seg: Segment) -> str:
    kind = _MEDIA_TYPES.get(Path(seg.path).suffix, "application/octet-stream")
    return "audio/webm" if seg.track == "audio" and kind == "video/webm" else kind


def register(api: Api) -> None:
    """Add the meeting recording routes and the player page."""

    @api.route("GET", "/api/v1/meetings/{session_id}/recordings", roles=CONFERENCE_STAFF,
               response=MeetingRecordingsOut, tag="meetings",
               summary="A meeting's recorded segments, grouped by site and track, oldest first.")
    async def recordings(ctx: Ctx) -> MeetingRecordingsOut:
        session = await _session(ctx)
        store = ctx.app[STORE_KEY]
        room = await store.rooms.get(session.room_id)
        segs = await store.segments.for_session(session.id)
        sites = {s.id: s for s in await store.sites.all(include_inactive=True)}
        grouped: dict[str, dict[str, list[Segment]]] = {}
        for seg in segs:
            if seg.site_id is not None:
                grouped.setdefault(seg.site_id, {}).setdefault(seg.track, []).append(seg)
        base = f"/api/v1/meetings/{session.id}/recordings"
        out_sites = []
        for site_id in sorted(grouped, key=lambda s: (s != (room.host_site_id if room else None), s)):
            tracks = grouped[site_id]
            site = sites.get(site_id)
            out_sites.append(SiteItem(
                site_id=site_id, name=site.name if site else site_id, name_en=site.name_en if site else None,
                tracks=[TrackItem(
                    track=track, codec=rows[0].codec, content_type=_media_type(rows[0]),
                    segments=[SegmentItem(id=r.id, start_at=iso(r.start_at), end_at=iso(r.end_at), start=r.start_at,
                                          end=r.end_at, bytes=r.bytes, keyframes=r.keyframes,
                                          gap_before=r.gap_before, url=f"{base}/{r.id}") for r in rows],
                ) for track, rows in sorted(tracks.items(), key=lambda kv: _TRACK_ORDER.get(kv[0], 9))],
            ))
        rec = ctx.app[MEETING_RECORDINGS_KEY].recorder(session.room_id)
        return MeetingRecordingsOut(
            session_id=session.id, room_id=session.room_id, room_name=room.name if room else session.room_id,
            host_site_id=room.host_site_id if room else None,
            started_at=iso(session.started_at), ended_at=iso(session.ended_at),
            recording=rec is not None and rec.room_session_id == session.id,
            start=min((s.start_at for s in segs), default=None), end=max((s.end_at for s in segs), default=None),
            bytes=sum(s.bytes for s in segs), sites=out_sites,
        )

    @api.route("GET", "/api/v1/meetings/{session_id}/recordings/{segment_id}", roles=CONFERENCE_STAFF,
               tag="meetings", content_type="application/octet-stream",
               summary="One recorded segment file (WebM or MP4; Range requests supported).")
    async def segment_file(ctx: Ctx) -> web.StreamResponse:
        sid = _session_id(ctx)
        raw = ctx.param("segment_id")
        seg = await ctx.app[STORE_KEY].segments.get(int(raw)) if raw.isdigit() and len(raw) <= 18 else None
        if seg is None or seg.room_session_id != sid:
            raise ApiError(404, "not_found", f"meeting {sid} has no recording {raw!r}")
        data_dir = ctx.app[CONFIG_KEY].storage.data_dir.resolve()
        path = (data_dir / seg.path).resolve()
        # Indexed paths are relative and ours; still, never serve anything outside the meetings directory.
        if not path.is_relative_to(data_dir / MEETINGS_DIR) or not path.is_file():
            raise ApiError(404, "not_found", f"the file of recording {seg.id} is missing")
        return web.FileResponse(path, headers={"Content-Type": _media_type(seg),
                                               "Cache-Control": "private, max-age=3600"})

    @api.route("GET", "/meetings/{session_id}/player", roles=None, tag="meetings", content_type="text/html",
               summary="The side-by-side player of a recorded meeting (signs in with a staff login).")
    async def player(ctx: Ctx) -> web.StreamResponse:
        return await package_file("recordings.web", "meeting.html", _PLAYER_FILES)

    @api.route("GET", "/meeting-player/{name}", roles=None, tag="meetings", content_type="text/plain",
               summary="The meeting player's script and style.")
    async def player_file(ctx: Ctx) -> web.StreamResponse:
        return await package_file("recordings.web", ctx.param("name"), _PLAYER_FILES)
