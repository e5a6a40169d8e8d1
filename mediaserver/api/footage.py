"""Routes: playback of recorded footage, exports with their evidence holds, and evidence holds themselves.

Footage is for ``security`` and ``admin`` only. A browser cannot attach the bearer token to ``<video src>``
or a download link, so the playback and download routes also hand out a short-lived ticket URL
(``/api/v1/media/{ticket}``, see ``recordings.playback.Tickets``) that the page puts in ``src``/``href``.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from mediaserver.api import peer
from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.recordings import FOOTAGE_ROLES
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import EXPORTER_KEY, PLAYBACK_KEY, STORE_KEY
from mediaserver.config import IDENT_PATTERN
from mediaserver.storage.repos import EvidenceHold, Export
from recordings.export import FootageError, split_error
from recordings.playback import PlaybackFile

MEDIA_PREFIX = "/api/v1/media/"


def _api_error(exc: FootageError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field)


# Times a camera's footage can have: from 1970 to 2100 (a time beyond that cannot even be shown as a date).
EPOCH_MAX_S = 4_102_444_800.0  # 2100-01-01T00:00:00Z


class _Range(BaseModel):
    start: float = Field(..., ge=0, le=EPOCH_MAX_S, allow_inf_nan=False, description="Start, UTC epoch seconds.")
    end: float = Field(..., ge=0, le=EPOCH_MAX_S, allow_inf_nan=False,
                       description="End, UTC epoch seconds (after start).")

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: float, info: ValidationInfo) -> float:
        start = info.data.get("start")
        if start is not None and not end > start:
            raise ValueError("end must be after start")
        return end


class PlaybackQuery(_Range):
    stream: Literal["main", "sub"] = Field("main", description="Which recorded stream.")


class PlaybackIn(Body, PlaybackQuery):
    pass


class PlaybackOut(BaseModel):
    url: str = Field(..., description="Ticket URL for <video src> (no token needed; expires when unused).")
    media_start: float = Field(..., description="Wall time (UTC epoch s) of media time 0: the keyframe at or "
                               "before start.")
    media_end: float = Field(..., description="Wall time where the last frame ends.")
    bytes: int


class ExportIn(Body, _Range):
    camera_id: str = Field(..., pattern=IDENT_PATTERN)
    reason: str = Field(..., min_length=1, max_length=500, description="Why (kept on the evidence hold).")


class GapOut(BaseModel):
    start: str | None = Field(..., description="UTC, ISO 8601.")
    end: str | None = Field(..., description="UTC, ISO 8601.")


class ExportOut(BaseModel):
    id: str
    camera_id: str
    start_at: str | None
    end_at: str | None
    status: str = Field(..., description="queued, running, done or failed.")
    progress: float = Field(..., description="0..1")
    bytes: int | None
    sha256: str | None = Field(None, description="SHA-256 of the file, hex.")
    hold_id: int | None
    error: str | None = Field(None, description="Why a failed export failed (English, for the log and the detail).")
    error_code: str | None = Field(None, description="The failure's error code (no_footage, segment_unreadable, "
                                   "insufficient_storage, cancelled, interrupted, export_failed); null if none.")
    created_by: str
    created_at: str | None
    finished_at: str | None
    file_name: str | None = Field(None, description="The download's file name (range in local time, with offset).")
    covered_s: float | None = Field(None, description="Seconds of the range with recorded footage.")
    missing_s: float | None = Field(None, description="Seconds of the range without footage (0: fully covered).")
    gaps: list[GapOut] = Field(default_factory=list, description="The spans without footage, oldest first (≤ 50).")


class ExportList(BaseModel):
    items: list[ExportOut]


class ExportQuery(BaseModel):
    limit: int = Field(100, ge=1, le=500)


class LinkOut(BaseModel):
    url: str = Field(..., description="Ticket URL for a download link (no token needed; expires when unused).")


class HoldIn(Body, _Range):
    camera_id: str = Field(..., pattern=IDENT_PATTERN)
    reason: str = Field(..., min_length=1, max_length=500)


class HoldOut(BaseModel):
    id: int
    camera_id: str
    start_at: str | None
    end_at: str | None
    reason: str
    created_by: str
    created_at: str | None
    released_at: str | None


class HoldList(BaseModel):
    items: list[HoldOut]


class HoldQuery(BaseModel):
    camera_id: str | None = Field(None, pattern=IDENT_PATTERN)


def _export_out(e: Export) -> ExportOut:
    code, message = split_error(e.error)
    return ExportOut(id=e.id, camera_id=e.camera_id, start_at=iso(e.start_at), end_at=iso(e.end_at),
                     status=e.status, progress=e.progress, bytes=e.bytes, sha256=e.sha256, hold_id=e.hold_id,
                     error=message, error_code=code, created_by=e.created_by, created_at=iso(e.created_at),
                     finished_at=iso(e.finished_at), file_name=e.path.rsplit("/", 1)[-1] if e.path else None,
                     covered_s=e.covered_s, missing_s=e.missing_s,
                     gaps=[GapOut(start=iso(a), end=iso(b)) for a, b in e.gaps])


def _hold_out(h: EvidenceHold) -> HoldOut:
    return HoldOut(id=h.id, camera_id=h.camera_id, start_at=iso(h.start_at), end_at=iso(h.end_at), reason=h.reason,
                   created_by=h.created_by, created_at=iso(h.created_at), released_at=iso(h.released_at))


def _first_read(request: web.Request) -> bool:
    """Return whether a request starts reading a file (not a player's follow-up range request)."""
    rng = request.headers.get("Range", "")
    return not rng or rng.replace(" ", "").startswith("bytes=0-")


def _range_query(q: PlaybackQuery) -> dict[str, str]:
    """Return a range as query parameters for another node (repr: the same float arrives)."""
    return {"start": repr(q.start), "end": repr(q.end), "stream": q.stream}


def _playback_headers(pb: PlaybackFile) -> dict[str, str]:
    return {"X-Playback-Start": f"{pb.first_wall:.3f}", "X-Playback-End": f"{pb.last_wall:.3f}",
            "Cache-Control": "private, no-cache"}


async def _done_export(ctx: Ctx) -> Export:
    export = await ctx.app[STORE_KEY].exports.get(ctx.param("export_id"))
    if export is None:
        raise ApiError(404, "not_found", f"no export {ctx.param('export_id')!r}")
    if export.status != "done" or export.path is None:
        raise ApiError(409, "not_ready", f"export {export.id} is {export.status}, not done")
    return export


def _download_headers(export: Export) -> dict[str, str]:
    name = export.path.rsplit("/", 1)[-1] if export.path else f"{export.id}.mp4"
    return {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": export.sha256 or "",
            "Cache-Control": "private, no-store"}


def register(api: Api) -> None:
    """Add the footage routes."""

    @api.route("GET", "/api/v1/cameras/{camera_id}/playback.mp4", roles=FOOTAGE_ROLES, query=PlaybackQuery,
               content_type="video/mp4", tag="recordings",
               summary="Play a time range (at most 1 h) as one seekable MP4 (HTTP range requests).")
    async def playback(ctx: Ctx) -> web.StreamResponse:
        q: PlaybackQuery = ctx.query
        camera_id = ctx.param("camera_id")
        # cluster: footage recorded on another node is streamed from it (mediaserver/api/peer.py)
        node = await peer.range_owner(ctx.app, camera_id, q.start, q.end, q.stream)
        if node is not None:
            if _first_read(ctx.request):
                await ctx.audit("footage.playback", camera_id, start=q.start, end=q.end, stream=q.stream, node=node)
            return await peer.forward(ctx, node, f"/cameras/{camera_id}/playback.mp4", _range_query(q))
        try:
            pb = await ctx.app[PLAYBACK_KEY].range_file(camera_id, q.start, q.end, q.stream)
        except FootageError as exc:
            raise _api_error(exc) from exc
        if _first_read(ctx.request):
            await ctx.audit("footage.playback", camera_id, start=q.start, end=q.end, stream=q.stream)
        return web.FileResponse(pb.path, headers={"Content-Type": "video/mp4", **_playback_headers(pb)})

    @api.route("POST", "/api/v1/cameras/{camera_id}/playback", roles=FOOTAGE_ROLES, body=PlaybackIn,
               response=PlaybackOut, tag="recordings",
               summary="Prepare a time range for <video>: returns a ticket URL and where media time 0 is.")
    async def playback_ticket(ctx: Ctx) -> PlaybackOut:
        b: PlaybackIn = ctx.body
        camera_id = ctx.param("camera_id")
        # cluster: the owning node builds the file; the ticket reads it from there
        node = await peer.range_owner(ctx.app, camera_id, b.start, b.end, b.stream)
        if node is not None:
            ready = await peer.call(ctx, node, "POST", f"/cameras/{camera_id}/playback", b.model_dump())
            ticket = peer.remote_ticket(ctx, node, f"/cameras/{camera_id}/playback.mp4", _range_query(b),
                                        "playback.mp4", {})
            await ctx.audit("footage.playback", camera_id, start=b.start, end=b.end, stream=b.stream, node=node)
            return PlaybackOut(url=MEDIA_PREFIX + ticket, media_start=ready["media_start"],
                               media_end=ready["media_end"], bytes=ready["bytes"])
        try:
            pb = await ctx.app[PLAYBACK_KEY].range_file(camera_id, b.start, b.end, b.stream)
        except FootageError as exc:
            raise _api_error(exc) from exc
        user = ctx.user()
        ticket = ctx.app[PLAYBACK_KEY].tickets.issue(pb.path, subject=user.subject, role=user.role,
                                                     headers=_playback_headers(pb))
        await ctx.audit("footage.playback", camera_id, start=b.start, end=b.end, stream=b.stream)
        return PlaybackOut(url=MEDIA_PREFIX + ticket, media_start=pb.first_wall, media_end=pb.last_wall,
                           bytes=pb.size)

    @api.route("GET", "/api/v1/recordings/{segment_id}/file", roles=FOOTAGE_ROLES, content_type="video/mp4",
               tag="recordings", summary="One recorded segment as written (fragmented MP4, range requests).")
    async def segment_file(ctx: Ctx) -> web.StreamResponse:
        raw = ctx.param("segment_id")
        if not raw.isdigit() or not 0 < int(raw) < 2**63:
            raise ApiError(404, "not_found", f"no segment {raw!r}")
        remote = await peer.remote_segment(ctx.app, int(raw))  # cluster: recorded on another node
        if remote is not None:
            if _first_read(ctx.request):
                await ctx.audit("footage.segment", remote[0].camera_id or "", segment_id=remote[0].id, node=remote[1])
            return await peer.forward(ctx, remote[1], f"/segments/{remote[0].id}/file")
        try:
            seg, path = await ctx.app[PLAYBACK_KEY].segment(int(raw))
        except FootageError as exc:
            raise _api_error(exc) from exc
        if _first_read(ctx.request):
            await ctx.audit("footage.segment", seg.camera_id or "", segment_id=seg.id)
        return web.FileResponse(path, headers={
            "Content-Type": "video/mp4", "X-Segment-Start": f"{seg.start_at:.3f}",
            "X-Segment-End": f"{seg.end_at:.3f}", "Cache-Control": "private, max-age=3600"})

    @api.route("GET", "/api/v1/media/{ticket}", roles=None, content_type="video/mp4", tag="recordings",
               summary="A file by ticket URL (issued to security/admin by the playback and export routes).")
    async def media(ctx: Ctx) -> web.StreamResponse:
        playback_svc = ctx.app[PLAYBACK_KEY]
        ticket = playback_svc.tickets.get(ctx.param("ticket"))
        if ticket is not None and ticket.remote is not None:  # cluster: the file is on another node
            if ticket.audit_action and not ticket.served:
                ticket.served = True
                await ctx.app[STORE_KEY].audit.add(ticket.subject, ticket.role, ticket.audit_action,
                                                   ticket.path.name, {"via": "ticket", "node": ticket.remote[0]},
                                                   ctx.request.remote or "")
            return await peer.forward_ticket(ctx, ticket.remote)
        if ticket is None or not await asyncio.to_thread(ticket.path.is_file):
            raise ApiError(404, "not_found", "no such media link (it may have expired: ask for a new one)")
        if ticket.audit_action and not ticket.served:
            ticket.served = True
            await ctx.app[STORE_KEY].audit.add(ticket.subject, ticket.role, ticket.audit_action,
                                               ticket.path.name, {"via": "ticket"}, ctx.request.remote or "")
        return web.FileResponse(ticket.path, headers={"Content-Type": "video/mp4", **ticket.headers})

    # ----------------------------------------------------------------------------------------- exports

    @api.route("POST", "/api/v1/exports", roles=FOOTAGE_ROLES, body=ExportIn, response=ExportOut, status=202,
               tag="recordings", summary="Export a time range as one MP4 (remux) under an evidence hold.")
    async def create_export(ctx: Ctx) -> ExportOut:
        b: ExportIn = ctx.body
        node = await peer.range_owner(ctx.app, b.camera_id, b.start, b.end)  # cluster: run where the footage is
        try:
            if node is not None:
                made = await peer.call(ctx, node, "POST", "/exports",
                                       {**b.model_dump(), "created_by": ctx.user().subject})
                export = await ctx.app[STORE_KEY].exports.get(made["id"])
                assert export is not None, "the other node recorded it in the shared index"
            else:
                export = await ctx.app[EXPORTER_KEY].create(b.camera_id, b.start, b.end, b.reason,
                                                            ctx.user().subject)
                await peer.note_export(ctx.app, export.id)
        except FootageError as exc:
            raise _api_error(exc) from exc
        await ctx.audit("export.create", export.id, camera_id=b.camera_id, start=b.start, end=b.end,
                        reason=b.reason, hold_id=export.hold_id)
        return _export_out(export)

    @api.route("GET", "/api/v1/exports", roles=FOOTAGE_ROLES, query=ExportQuery, response=ExportList,
               tag="recordings", summary="List exports, newest first.")
    async def list_exports(ctx: Ctx) -> ExportList:
        q: ExportQuery = ctx.query
        return ExportList(items=[_export_out(e) for e in await ctx.app[STORE_KEY].exports.all(q.limit)])

    @api.route("GET", "/api/v1/exports/{export_id}", roles=FOOTAGE_ROLES, response=ExportOut, tag="recordings",
               summary="One export: status, progress, size and SHA-256.")
    async def get_export(ctx: Ctx) -> ExportOut:
        export = await ctx.app[STORE_KEY].exports.get(ctx.param("export_id"))
        if export is None:
            raise ApiError(404, "not_found", f"no export {ctx.param('export_id')!r}")
        return _export_out(export)

    @api.route("GET", "/api/v1/exports/{export_id}/file", roles=FOOTAGE_ROLES, content_type="video/mp4",
               tag="recordings", summary="Download a finished export (X-Content-SHA256 carries its hash).")
    async def export_file(ctx: Ctx) -> web.StreamResponse:
        export = await _done_export(ctx)
        node = await peer.export_owner(ctx.app, export.id)  # cluster: the file is on the node that made it
        if node is not None:
            if _first_read(ctx.request):
                await ctx.audit("export.download", export.id, camera_id=export.camera_id, sha256=export.sha256,
                                node=node)
            return await peer.forward(ctx, node, f"/exports/{export.id}/file")
        path = ctx.app[EXPORTER_KEY].path_of(export)
        if path is None or not await asyncio.to_thread(path.is_file):
            raise ApiError(410, "gone", f"export {export.id}'s file is gone")
        if _first_read(ctx.request):
            await ctx.audit("export.download", export.id, camera_id=export.camera_id, sha256=export.sha256)
        return web.FileResponse(path, headers={"Content-Type": "video/mp4", **_download_headers(export)})

    @api.route("POST", "/api/v1/exports/{export_id}/link", roles=FOOTAGE_ROLES, response=LinkOut,
               tag="recordings", summary="A ticket URL to download a finished export from a plain link.")
    async def export_link(ctx: Ctx) -> LinkOut:
        export = await _done_export(ctx)
        node = await peer.export_owner(ctx.app, export.id)  # cluster: the ticket reads the file from its node
        if node is not None:
            return LinkOut(url=MEDIA_PREFIX + peer.remote_ticket(
                ctx, node, f"/exports/{export.id}/file", None, export.path or export.id,
                _download_headers(export), audit_action="export.download"))
        path = ctx.app[EXPORTER_KEY].path_of(export)
        if path is None or not await asyncio.to_thread(path.is_file):
            raise ApiError(410, "gone", f"export {export.id}'s file is gone")
        user = ctx.user()
        ticket = ctx.app[PLAYBACK_KEY].tickets.issue(path, subject=user.subject, role=user.role,
                                                     headers=_download_headers(export),
                                                     audit_action="export.download")
        return LinkOut(url=MEDIA_PREFIX + ticket)

    @api.route("DELETE", "/api/v1/exports/{export_id}", roles=FOOTAGE_ROLES, status=204, tag="recordings",
               summary="Delete an export: its file and its record; a queued or running export is stopped first. "
                       "Refused (409 export_held) while the export's evidence hold is active.")
    async def delete_export(ctx: Ctx) -> None:
        store = ctx.app[STORE_KEY]
        exporter = ctx.app[EXPORTER_KEY]
        export = await store.exports.get(ctx.param("export_id"))
        if export is None:
            raise ApiError(404, "not_found", f"no export {ctx.param('export_id')!r}")
        hold = await store.holds.get(export.hold_id) if export.hold_id is not None else None
        if hold is not None and hold.released_at is None:
            # The hold marks the export as evidence: deleting it is a deliberate second step.
            raise ApiError(409, "export_held", f"export {export.id} is under evidence hold {hold.id}: "
                           "release the hold first")
        node = await peer.export_owner(ctx.app, export.id)  # cluster: its run and file are on that node
        if node is not None:
            await peer.call(ctx, node, "DELETE", f"/exports/{export.id}/file")
            stopped = False
        else:
            stopped = await exporter.cancel(export.id)
            export = await store.exports.get(export.id) or export  # a run that finished meanwhile left a file
            await exporter.remove_files(export)  # the video, its signed manifest and .p7s
        await store.exports.delete(export.id)
        await ctx.audit("export.delete", export.id, camera_id=export.camera_id, status=export.status,
                        stopped=stopped, sha256=export.sha256, bytes=export.bytes)

    # ------------------------------------------------------------------------------------------- holds

    @api.route("GET", "/api/v1/holds", roles=FOOTAGE_ROLES, query=HoldQuery, response=HoldList, tag="recordings",
               summary="List active evidence holds.")
    async def list_holds(ctx: Ctx) -> HoldList:
        q: HoldQuery = ctx.query
        return HoldList(items=[_hold_out(h) for h in await ctx.app[STORE_KEY].holds.active(q.camera_id)])

    @api.route("POST", "/api/v1/holds", roles=FOOTAGE_ROLES, body=HoldIn, response=HoldOut, status=201,
               tag="recordings", summary="Protect a camera's footage in a time range from any deletion.")
    async def create_hold(ctx: Ctx) -> HoldOut:
        b: HoldIn = ctx.body
        store = ctx.app[STORE_KEY]
        if await store.cameras.get(b.camera_id) is None:
            raise ApiError(404, "not_found", f"no camera {b.camera_id!r}", "camera_id")
        hold_id = await store.holds.add(b.camera_id, b.start, b.end, b.reason, ctx.user().subject)
        hold = await store.holds.get(hold_id)
        assert hold is not None
        await ctx.audit("hold.create", str(hold_id), camera_id=b.camera_id, start=b.start, end=b.end,
                        reason=b.reason)
        return _hold_out(hold)

    @api.route("DELETE", "/api/v1/holds/{hold_id}", roles=FOOTAGE_ROLES, response=HoldOut, tag="recordings",
               summary="Release an evidence hold (its footage is subject to retention again).")
    async def release_hold(ctx: Ctx) -> HoldOut:
        raw = ctx.param("hold_id")
        store = ctx.app[STORE_KEY]
        hold = await store.holds.get(int(raw)) if raw.isdigit() and int(raw) < 2**63 else None
        if hold is None:
            raise ApiError(404, "not_found", f"no evidence hold {raw!r}")
        if not await store.holds.release(hold.id):
            raise ApiError(409, "conflict", f"evidence hold {hold.id} was already released")
        released = await store.holds.get(hold.id)
        assert released is not None
        await ctx.audit("hold.release", str(hold.id), camera_id=hold.camera_id, reason=hold.reason)
        return _hold_out(released)


__all__ = ["register"]
