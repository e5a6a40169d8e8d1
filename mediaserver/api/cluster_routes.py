"""Node-to-node routes (``/api/v1/cluster/...``): what one node of a cluster asks of the node holding footage.

Only other nodes call these: every request must carry a valid ``X-Cluster-Auth`` signature
(mediaserver/cluster_client.py), checked before anything else; without ``cluster`` in the config they always
answer 401. The asking node has already checked the person's bearer token and role and writes the audit record
(it knows who asked), so these routes audit nothing themselves — except an export, which records who made it.
They answer exactly what the public footage routes answer for a local file (same headers, ranges, errors).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from mediaserver.api.cameras import (
    AnswerIn,
    ViewIn,
    ViewOut,
    answer_local_view,
    local_snapshot,
    local_state,
    open_local_view,
)
from mediaserver.api.common import Ok
from mediaserver.api.errors import ApiError
from mediaserver.api.footage import (
    ExportIn,
    ExportOut,
    PlaybackIn,
    PlaybackQuery,
    _api_error,
    _done_export,
    _download_headers,
    _export_out,
    _playback_headers,
)
from mediaserver.api.peer import CLUSTER_PREFIX, note_export
from mediaserver.api.recordings import THUMBNAIL_MAX_AGE_S, thumbnail_file
from mediaserver.api.room_forwarding import ROOM_JOB_PATH, ROOM_JOBS_KEY
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CAMERAS_KEY, CONFIG_KEY, EXPORTER_KEY, LIVE_VIEWS_KEY, PLAYBACK_KEY, STORE_KEY
from mediaserver.cluster_client import CLUSTER_CLIENT_KEY, NodeAuthError
from mediaserver.scheduler import JobContext
from recordings.export import FootageError

CALLER_KEY = web.RequestKey("cluster_caller", str)  # the node whose signature was accepted


class PingOut(BaseModel):
    node_id: str = Field(..., description="The node that answered.")
    caller: str = Field(..., description="The node whose signature was accepted.")


class PreparedOut(BaseModel):
    media_start: float
    media_end: float
    bytes: int


class CameraState(BaseModel):
    status: dict[str, Any] | None
    activity: dict[str, Any]


class CameraStatesOut(BaseModel):
    cameras: dict[str, CameraState] = Field(..., description="Camera id → its state, for the cameras running here.")


class RoomJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(..., min_length=1, max_length=64, description="The scheduled job whose run this is.")
    args: dict[str, Any] = Field(..., description="The job's arguments (``room`` names the room).")
    scheduled_for: float = Field(..., ge=0, description="When the run was due (UTC epoch seconds).")


class NodeExportIn(ExportIn):
    created_by: str = Field(..., min_length=1, max_length=128, description="Who asked (through the other node).")


async def require_node(ctx: Ctx) -> None:
    """Refuse (401 node_auth_failed) a request not signed by a node of this cluster; always without a cluster."""
    client = ctx.app.get(CLUSTER_CLIENT_KEY)
    if client is None:
        raise ApiError(401, "node_auth_failed", "this server is not part of a cluster (no 'cluster' in its config)")
    try:
        ctx.request[CALLER_KEY] = await client.verify(ctx.request)
    except NodeAuthError as exc:
        raise ApiError(401, exc.code, exc.message) from exc


def register(api: Api) -> None:
    """Add the node-to-node routes."""
    p = CLUSTER_PREFIX

    @api.route("GET", f"{p}/ping", roles=None, check=require_node, response=PingOut, tag="cluster",
               summary="Node-to-node: check a signed request is accepted (answers who answered and who asked).")
    async def ping(ctx: Ctx) -> PingOut:
        client = ctx.app[CLUSTER_CLIENT_KEY]
        return PingOut(node_id=client.node_id, caller=ctx.request[CALLER_KEY])

    @api.route("GET", f"{p}/segments/{{segment_id}}/file", roles=None, check=require_node, content_type="video/mp4",
               tag="cluster", summary="Node-to-node: one segment recorded here, as written (range requests).")
    async def segment_file(ctx: Ctx) -> web.StreamResponse:
        raw = ctx.param("segment_id")
        if not raw.isdigit() or not 0 < int(raw) < 2**63:
            raise ApiError(404, "not_found", f"no segment {raw!r}")
        try:
            seg, path = await ctx.app[PLAYBACK_KEY].segment(int(raw))
        except FootageError as exc:
            raise _api_error(exc) from exc
        return web.FileResponse(path, headers={
            "Content-Type": "video/mp4", "X-Segment-Start": f"{seg.start_at:.3f}",
            "X-Segment-End": f"{seg.end_at:.3f}", "Cache-Control": "private, max-age=3600"})

    @api.route("GET", f"{p}/cameras/{{camera_id}}/playback.mp4", roles=None, check=require_node, query=PlaybackQuery,
               content_type="video/mp4", tag="cluster",
               summary="Node-to-node: a time range of footage recorded here as one seekable MP4 (range requests).")
    async def playback(ctx: Ctx) -> web.StreamResponse:
        q: PlaybackQuery = ctx.query
        try:
            pb = await ctx.app[PLAYBACK_KEY].range_file(ctx.param("camera_id"), q.start, q.end, q.stream)
        except FootageError as exc:
            raise _api_error(exc) from exc
        return web.FileResponse(pb.path, headers={"Content-Type": "video/mp4", **_playback_headers(pb)})

    @api.route("POST", f"{p}/cameras/{{camera_id}}/playback", roles=None, check=require_node, body=PlaybackIn,
               response=PreparedOut, tag="cluster",
               summary="Node-to-node: build (or find cached) a range's playback MP4; say where media time 0 is.")
    async def prepare(ctx: Ctx) -> PreparedOut:
        b: PlaybackIn = ctx.body
        try:
            pb = await ctx.app[PLAYBACK_KEY].range_file(ctx.param("camera_id"), b.start, b.end, b.stream)
        except FootageError as exc:
            raise _api_error(exc) from exc
        return PreparedOut(media_start=pb.first_wall, media_end=pb.last_wall, bytes=pb.size)

    @api.route("POST", f"{p}/exports", roles=None, check=require_node, body=NodeExportIn, response=ExportOut,
               status=202, tag="cluster", summary="Node-to-node: export footage recorded here (file kept here).")
    async def create_export(ctx: Ctx) -> ExportOut:
        b: NodeExportIn = ctx.body
        try:
            export = await ctx.app[EXPORTER_KEY].create(b.camera_id, b.start, b.end, b.reason, b.created_by)
        except FootageError as exc:
            raise _api_error(exc) from exc
        await note_export(ctx.app, export.id)
        return _export_out(export)

    @api.route("GET", f"{p}/exports/{{export_id}}/file", roles=None, check=require_node, content_type="video/mp4",
               tag="cluster", summary="Node-to-node: a finished export whose file is here.")
    async def export_file(ctx: Ctx) -> web.StreamResponse:
        export = await _done_export(ctx)
        path = ctx.app[EXPORTER_KEY].path_of(export)
        if path is None or not await asyncio.to_thread(path.is_file):
            raise ApiError(410, "gone", f"export {export.id}'s file is gone")
        return web.FileResponse(path, headers={"Content-Type": "video/mp4", **_download_headers(export)})

    @api.route("DELETE", f"{p}/exports/{{export_id}}/file", roles=None, check=require_node, status=204,
               tag="cluster", summary="Node-to-node: stop an export running here and delete its file (the other "
                                      "node deletes the record).")
    async def delete_export_file(ctx: Ctx) -> None:
        exporter = ctx.app[EXPORTER_KEY]
        export = await ctx.app[STORE_KEY].exports.get(ctx.param("export_id"))
        if export is None:
            raise ApiError(404, "not_found", f"no export {ctx.param('export_id')!r}")
        await exporter.cancel(export.id)
        export = await ctx.app[STORE_KEY].exports.get(export.id) or export
        await exporter.remove_files(export)  # the video, its signed manifest and .p7s

    @api.route("POST", ROOM_JOB_PATH, roles=None, check=require_node, body=RoomJobIn,
               response=Ok, tag="cluster",
               summary="Node-to-node: run a scheduled job's run for a room placed here (e.g. room.record).")
    async def room_job(ctx: Ctx) -> Ok:
        b: RoomJobIn = ctx.body
        action = ctx.param("action")
        handler = ctx.app.get(ROOM_JOBS_KEY, {}).get(action)
        if handler is None:
            raise ApiError(404, "not_found", f"no room action {action!r} on this node")
        run = JobContext(job_id=b.job_id, action=action, args=b.args, scheduled_for=b.scheduled_for,
                         late_s=max(0.0, time.time() - b.scheduled_for))
        try:
            await handler(run)
        except ValueError as exc:  # the job's arguments, judged where the room is
            raise ApiError(422, "invalid_input", str(exc), "args") from exc
        return Ok()

    @api.route("GET", f"{p}/cameras/states", roles=None, check=require_node, response=CameraStatesOut,
               tag="cluster", summary="Node-to-node: the live status and motion activity of the cameras running here.")
    async def camera_states(ctx: Ctx) -> CameraStatesOut:
        running = [cid for cid in ctx.app[CAMERAS_KEY].wanted if ctx.app[CAMERAS_KEY].get(cid) is not None]
        states = {cid: local_state(ctx.app, cid) for cid in running}
        return CameraStatesOut(cameras={cid: CameraState(status=st, activity=act) for cid, (st, act) in states.items()})

    @api.route("GET", f"{p}/cameras/{{camera_id}}/snapshot", roles=None, check=require_node, content_type="image/jpeg",
               tag="cluster", summary="Node-to-node: a JPEG of a camera running here.")
    async def snapshot(ctx: Ctx) -> web.StreamResponse:
        return await local_snapshot(ctx.app, ctx.param("camera_id"))

    @api.route("POST", f"{p}/cameras/{{camera_id}}/views", roles=None, check=require_node, body=ViewIn,
               response=ViewOut, tag="cluster", summary="Node-to-node: open a live view of a camera running here.")
    async def open_view(ctx: Ctx) -> ViewOut:
        view, _ = await open_local_view(ctx.app, ctx.param("camera_id"), ctx.body)
        return view

    @api.route("POST", f"{p}/cameras/views/{{view_id}}/answer", roles=None, check=require_node, body=AnswerIn,
               response=Ok, tag="cluster", summary="Node-to-node: the viewer's SDP answer to a view opened here.")
    async def answer_view(ctx: Ctx) -> Ok:
        await answer_local_view(ctx.app, ctx.param("view_id"), ctx.body.sdp)
        return Ok()

    @api.route("DELETE", f"{p}/cameras/views/{{view_id}}", roles=None, check=require_node, status=204,
               tag="cluster", summary="Node-to-node: close a live view opened here.")
    async def close_view(ctx: Ctx) -> None:
        if not await ctx.app[LIVE_VIEWS_KEY].close(ctx.param("view_id")):
            raise ApiError(404, "not_found", "no such live view")

    @api.route("GET", f"{p}/events/{{event_id}}/thumbnail", roles=None, check=require_node, content_type="image/jpeg",
               tag="cluster", summary="Node-to-node: the JPEG of a motion event analysed here.")
    async def thumbnail(ctx: Ctx) -> web.StreamResponse:
        raw = ctx.param("event_id")
        event = await ctx.app[STORE_KEY].events.get(int(raw)) if raw.isdigit() and len(raw) < 19 else None
        if event is None or not event.thumbnail_path:
            raise ApiError(404, "not_found", f"motion event {raw!r} has no thumbnail")
        path = await asyncio.to_thread(thumbnail_file, ctx.app[CONFIG_KEY].storage.data_dir, event.thumbnail_path)
        if path is None:
            raise ApiError(404, "not_found", f"the thumbnail of motion event {event.id} is gone")
        return web.FileResponse(path, headers={"Content-Type": "image/jpeg",
                                               "Cache-Control": f"private, max-age={THUMBNAIL_MAX_AGE_S}"})


__all__ = ["register", "require_node"]
