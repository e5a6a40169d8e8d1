"""Routes: the camera inventory, camera groups, live views, PTZ (moves and the camera's own presets), snapshots."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from aiohttp import web
from pydantic import BaseModel, Field

from cameras.live import ViewError
from cameras.manager import camera_config
from cameras.motion.analyser import SNAPSHOT_MAX_AGE_S
from cameras.onvif.onboarding import (
    CameraInfo,
    OnvifError,
    discover,
    get_presets,
    goto_preset,
    remove_preset,
    set_preset,
)
from cameras.onvif.ptz_errors import ptz_problem
from mediaserver.api import peer
from mediaserver.api.common import Body, Ok
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import (
    CAMERAS_KEY,
    CONFIG_KEY,
    ENGINE_KEY,
    LIVE_VIEWS_KEY,
    MOTION_KEY,
    RECORDERS_KEY,
    SECRETS_KEY,
    STORE_KEY,
)
from mediaserver.auth import Role
from mediaserver.config import IDENT_PATTERN, redact_url
from mediaserver.storage.repos import Camera

T = TypeVar("T")

log = logging.getLogger(__name__)

CAMERA_STAFF = (Role.ADMIN, Role.SECURITY)
# Operators may list cameras to put one into a meeting as a virtual site; they cannot change them.
CAMERA_READERS = (Role.ADMIN, Role.SECURITY, Role.OPERATOR)


class ActivityOut(BaseModel):
    motion: bool = Field(False, description="The analyser sees a motion event on this camera now.")
    objects: list[str] = Field(default_factory=list, description="Objects kept in the last few seconds "
                               "(person, bicycle, motorcycle, car, truck, bus).")
    since: float | None = Field(None, description="When the current motion started (epoch s); null: no motion.")


class CameraOut(BaseModel):
    id: str
    name: str
    source: str
    main_url: str | None = Field(None, description="Main stream URL without credentials.")
    sub_url: str | None = Field(None, description="Sub stream URL without credentials.")
    onvif_host: str | None = None
    record_mode: str | None = None
    info: dict[str, Any] = Field(default_factory=dict, description="What ONVIF onboarding learned.")
    status: dict[str, Any] | None = Field(None, description="Live state: phase, per stream state/fps/bitrate, and "
                                          "the recorder's (mode, state, current segment, totals, last error).")
    activity: ActivityOut = Field(default_factory=ActivityOut, description="What the motion analyser and the "
                                  "object detector see now (the live tiles' badges).")


class CameraList(BaseModel):
    items: list[CameraOut]


class ViewIn(Body):
    stream: Literal["main", "sub"] = Field("sub", description="Sub stream for tiles, main for the big view.")
    transcode: bool = Field(
        False, description="For an H.265 stream only: view a low-fps H.264 transcode (costs server CPU)."
    )


class ViewOut(BaseModel):
    view_id: str
    sdp: str = Field(..., description="The server's offer: answer it with POST …/views/{view_id}/answer.")
    stream: str = Field("sub", description="The stream shown: main when a one-stream camera was asked for sub.")


class AnswerIn(Body):
    sdp: str = Field(..., min_length=10, max_length=256 * 1024)


class PtzIn(Body):
    action: Literal["move", "stop", "goto_preset", "set_preset"]
    pan: float = Field(0.0, ge=-1, le=1, description="Pan speed, -1 (left) … 1 (right).")
    tilt: float = Field(0.0, ge=-1, le=1, description="Tilt speed, -1 (down) … 1 (up).")
    zoom: float = Field(0.0, ge=-1, le=1, description="Zoom speed, -1 (out) … 1 (in).")
    preset: str | None = Field(None, max_length=64, description="Preset token (goto) or name (set).")


class PresetOut(BaseModel):
    token: str = Field(..., description="The camera's preset token (GotoPreset/RemovePreset take it).")
    name: str = Field(..., description="The preset's name as the camera stores it.")


class PresetList(BaseModel):
    items: list[PresetOut] = Field(..., description="The camera's presets, as GetPresets lists them.")


class PresetIn(Body):
    name: str = Field(..., min_length=1, max_length=64, pattern=r"\S",
                      description="Name of the new preset (the camera's current position is stored).")


class CameraGroupOut(BaseModel):
    id: str
    name: str
    cameras: list[str] = Field(..., description="Camera ids, in wall order.")


class CameraGroupList(BaseModel):
    items: list[CameraGroupOut] = Field(..., description="Groups from config.yaml (camera_groups), in order.")


class OnvifIn(Body):
    host: str = Field(..., min_length=1, max_length=255)
    port: int = Field(80, ge=1, le=65535)
    username: str = Field("admin", max_length=128)
    password: str = Field("", max_length=256, description="Stored encrypted; never returned.")


class StreamsIn(Body):
    main_url: str | None = Field(None, pattern=r"^rtsps?://", description="Credentials in the URL are "
                                 "moved out and stored encrypted.")
    sub_url: str | None = Field(None, pattern=r"^rtsps?://")
    transport: Literal["tcp", "udp"] = "tcp"


class CameraIn(Body):
    id: str = Field(..., pattern=IDENT_PATTERN)
    name: str = Field(..., min_length=1, max_length=120)
    onvif: OnvifIn | None = Field(None, description="Onboard over ONVIF (streams, snapshot, PTZ discovered).")
    streams: StreamsIn | None = Field(None, description="Or plain RTSP URLs (non-ONVIF cameras).")


def local_state(app: web.Application, camera_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Return a camera's live status (None: not running on this node) and motion activity, as this node sees them."""
    status = app[CAMERAS_KEY].status(camera_id)
    if status is not None:
        status["recording"] = app[RECORDERS_KEY].status(camera_id)
    return status, app[MOTION_KEY].activity(camera_id)


def _out(ctx: Ctx, cam: Camera, elsewhere: peer.CameraStates | None = None) -> CameraOut:
    # config.yaml's cameras, else the config an API-added camera was brought up with (its URLs redacted below)
    cfg = ctx.app[CONFIG_KEY].cameras.get(cam.id) or ctx.app[CAMERAS_KEY].wanted.get(cam.id)
    status, active = local_state(ctx.app, cam.id)
    if status is None and elsewhere and cam.id in elsewhere:  # cluster: running on another node
        status, active = elsewhere[cam.id]
    activity = ActivityOut(**active)
    if cfg is None:
        return CameraOut(id=cam.id, name=cam.name, source=cam.source, info=cam.info, status=status,
                         activity=activity)
    return CameraOut(
        id=cam.id, name=cam.name, source=cam.source, main_url=redact_url(cfg.streams.main_url),
        sub_url=redact_url(cfg.streams.sub_url), onvif_host=cfg.onvif.host if cfg.onvif else None,
        record_mode=cfg.record.mode if cfg.record else None, info=cam.info, status=status, activity=activity,
    )


def _split_secret(b: CameraIn) -> tuple[dict[str, Any], str]:
    """Return the camera's source without credentials, and its one password (sealed separately)."""
    source: dict[str, Any] = {}
    password = ""
    if b.onvif is not None:
        source["onvif"] = {"host": b.onvif.host, "port": b.onvif.port, "username": b.onvif.username}
        password = b.onvif.password
    if b.streams is not None:
        streams = b.streams.model_dump()
        for key in ("main_url", "sub_url"):
            url = streams[key]
            if url and "@" in url:
                parts = urlsplit(url)
                source["rtsp_user"] = unquote(parts.username or "")
                password = password or unquote(parts.password or "")
                streams[key] = redact_url(url)
        source["streams"] = streams
    return source, password


def register(api: Api) -> None:
    """Add the camera routes."""
    register_live(api)
    register_control(api)
    register_presets(api)

    @api.route("GET", "/api/v1/cameras", roles=CAMERA_READERS, response=CameraList, tag="cameras",
               summary="List cameras.")
    async def list_cameras(ctx: Ctx) -> CameraList:
        elsewhere = await peer.camera_states(ctx.app)  # cluster: the other nodes' cameras, one request per node
        return CameraList(items=[_out(ctx, c, elsewhere) for c in await ctx.app[STORE_KEY].cameras.all()])

    @api.route("GET", "/api/v1/camera-groups", roles=CAMERA_READERS, response=CameraGroupList, tag="cameras",
               summary="The camera groups of config.yaml (a wall per group in the console).")
    async def camera_groups(ctx: Ctx) -> CameraGroupList:
        groups = ctx.app[CONFIG_KEY].camera_groups
        return CameraGroupList(items=[CameraGroupOut(id=gid, name=g.name, cameras=list(g.cameras))
                                      for gid, g in groups.items()])

    @api.route("GET", "/api/v1/cameras/{camera_id}", roles=CAMERA_READERS, response=CameraOut, tag="cameras",
               summary="Describe one camera (never its credentials).")
    async def get_camera(ctx: Ctx) -> CameraOut:
        cam = await ctx.app[STORE_KEY].cameras.get(ctx.param("camera_id"))
        if cam is None or not cam.active:
            raise ApiError(404, "not_found", f"camera {ctx.param('camera_id')!r} does not exist")
        return _out(ctx, cam, await peer.camera_states(ctx.app))

    @api.route("POST", "/api/v1/cameras", roles=CAMERA_STAFF, body=CameraIn, response=CameraOut, status=201,
               tag="cameras", summary="Register a camera by id and name.")
    async def create_camera(ctx: Ctx) -> CameraOut:
        b: CameraIn = ctx.body
        store = ctx.app[STORE_KEY]
        existing = await store.cameras.get(b.id)
        if existing is not None and existing.active:
            raise ApiError(409, "conflict", f"camera {b.id!r} already exists")
        if b.onvif is None and (b.streams is None or b.streams.main_url is None):
            raise ApiError(422, "invalid_input", "give 'onvif' (address and credentials) or 'streams.main_url'",
                           "onvif")
        source, password = _split_secret(b)
        await store.cameras.upsert(b.id, b.name, "api")
        await store.cameras.set_source(b.id, source, ctx.app[SECRETS_KEY].seal(password) if password else None)
        ctx.app[CAMERAS_KEY].add(b.id, camera_config(b.name, source, password, ctx.app[CONFIG_KEY]))
        await ctx.audit("camera.create", b.id, onvif=b.onvif is not None)
        cam = await store.cameras.get(b.id)
        assert cam is not None
        return _out(ctx, cam)

    @api.route("DELETE", "/api/v1/cameras/{camera_id}", roles=CAMERA_STAFF, status=204, tag="cameras",
               summary="Remove an API-defined camera (its footage stays until retention removes it).")
    async def delete_camera(ctx: Ctx) -> None:
        store = ctx.app[STORE_KEY]
        cam = await store.cameras.get(ctx.param("camera_id"))
        if cam is None or not cam.active:
            raise ApiError(404, "not_found", f"camera {ctx.param('camera_id')!r} does not exist")
        if cam.source == "config":
            raise ApiError(409, "defined_in_config", "this camera is defined in config.yaml; remove it there")
        await ctx.app[CAMERAS_KEY].remove(cam.id)
        await store.cameras.delete(cam.id)
        await ctx.audit("camera.delete", cam.id)


class DiscoveredOut(BaseModel):
    host: str | None
    port: int | None
    name: str | None
    hardware: str | None
    xaddrs: list[str]


class DiscoveredList(BaseModel):
    items: list[DiscoveredOut]


class DiscoverQuery(BaseModel):
    timeout_s: float = Field(3.0, ge=0.5, le=15, description="How long to listen for answers.")


def register_control(api: Api) -> None:
    """Add PTZ and snapshot routes."""

    @api.route("POST", "/api/v1/cameras/discover", roles=CAMERA_STAFF, query=DiscoverQuery,
               response=DiscoveredList, tag="cameras",
               summary="Find ONVIF cameras on the local network (WS-Discovery multicast probe).")
    async def discover_cameras(ctx: Ctx) -> DiscoveredList:
        q: DiscoverQuery = ctx.query
        found = await discover(q.timeout_s)
        return DiscoveredList(items=[DiscoveredOut(host=d.host, port=d.port, name=d.name, hardware=d.hardware,
                                                   xaddrs=list(d.xaddrs)) for d in found])

    @api.route("POST", "/api/v1/cameras/{camera_id}/ptz", roles=CAMERA_STAFF, body=PtzIn, response=Ok,
               tag="cameras", summary="Pan/tilt/zoom: continuous move, stop, go to or set a preset.")
    async def ptz(ctx: Ctx) -> Ok:
        b: PtzIn = ctx.body
        camera_id = ctx.param("camera_id")
        try:
            await ctx.app[CAMERAS_KEY].ptz(camera_id, b.action, b.pan, b.tilt, b.zoom, b.preset)
        except LookupError as exc:
            raise ApiError(409, "no_ptz", str(exc)) from exc
        except ValueError as exc:
            raise ApiError(422, "invalid_input", str(exc), "preset") from exc
        except OnvifError as exc:
            raise _ptz_error(camera_id, b.action, exc) from exc
        if b.action != "move":  # moves come many a second while a button is held; log the outcome only
            await ctx.audit(f"camera.ptz_{b.action}", camera_id, preset=b.preset)
        return Ok()

    @api.route("GET", "/api/v1/cameras/{camera_id}/snapshot", roles=CAMERA_READERS, tag="cameras",
               content_type="image/jpeg",
               summary="A JPEG from the camera's snapshot endpoint, or else its last analysed picture (for "
                       "thumbnails; header X-Snapshot-Source says which).")
    async def snapshot(ctx: Ctx) -> web.StreamResponse:
        camera_id = ctx.param("camera_id")
        node = await peer.camera_owner(ctx.app, camera_id)  # cluster: another node runs this camera
        if node is not None:
            return await peer.forward(ctx, node, f"/cameras/{camera_id}/snapshot")
        return await local_snapshot(ctx.app, camera_id)


async def local_snapshot(app: web.Application, camera_id: str) -> web.Response:
    """Return a JPEG of a camera running on this node: its snapshot endpoint's, else its last analysed picture."""
    if app[CAMERAS_KEY].get(camera_id) is None:
        raise ApiError(404, "not_found", f"no camera {camera_id!r}")
    try:
        jpeg = await app[CAMERAS_KEY].snapshot(camera_id)
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store", "X-Snapshot-Source": "camera"})
    except (LookupError, OnvifError) as exc:
        # No endpoint (a plain RTSP camera) or a failing one: the motion analyser's last picture will do.
        latest = await app[MOTION_KEY].snapshot(camera_id)
        if latest is None:
            if isinstance(exc, LookupError):
                raise ApiError(404, "not_found", f"{exc}, and no picture was analysed in the last "
                               f"{SNAPSHOT_MAX_AGE_S:g} s") from exc
            raise ApiError(502, "camera_error", str(exc)) from exc
    at, jpeg = latest
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Snapshot-Source": "stream",
                                 "X-Snapshot-Time": f"{at:.3f}"})


def _ptz_error(camera_id: str, what: str, exc: OnvifError) -> ApiError:
    """Return the plain-language API error of a failed PTZ call; the camera's own (SOAP) text goes to the log."""
    problem = ptz_problem(exc)
    log.warning("%s: PTZ %s failed (%s): %s", camera_id, what, problem.code, exc)
    return ApiError(problem.status, problem.code, problem.message)


def _ptz_camera(ctx: Ctx) -> tuple[str, CameraInfo, str, str]:
    """Return (camera id, ONVIF info, user, password) of a running PTZ camera, or raise 404/409."""
    camera_id = ctx.param("camera_id")
    cam = ctx.app[CAMERAS_KEY].get(camera_id)
    if cam is None:
        raise ApiError(404, "not_found", f"camera {camera_id!r} does not exist")
    if cam.info is None or not cam.info.ptz:
        raise ApiError(409, "no_ptz", f"camera {camera_id!r} has no PTZ (or was not onboarded over ONVIF yet)")
    return camera_id, cam.info, cam.user, cam.password


async def _preset_call(ctx: Ctx, operation: str, call: Callable[..., Awaitable[T]], *args: str) -> tuple[str, T]:
    """Run one ONVIF preset call on the route's camera; return the camera id and the answer, faults as PTZ codes."""
    camera_id, info, user, pw = _ptz_camera(ctx)
    try:
        return camera_id, await call(info, user, pw, *args)
    except OnvifError as exc:
        raise _ptz_error(camera_id, operation, exc) from exc


def register_presets(api: Api) -> None:
    """Add the routes of a PTZ camera's presets: read from the camera, set, removed and gone to."""

    @api.route("GET", "/api/v1/cameras/{camera_id}/presets", roles=CAMERA_STAFF, response=PresetList,
               tag="cameras", summary="The camera's PTZ presets (ONVIF GetPresets), as the camera stores them.")
    async def list_presets(ctx: Ctx) -> PresetList:
        _, presets = await _preset_call(ctx, "GetPresets", get_presets)
        return PresetList(items=[PresetOut(token=k, name=v) for k, v in presets.items()])

    @api.route("POST", "/api/v1/cameras/{camera_id}/presets", roles=CAMERA_STAFF, body=PresetIn,
               response=PresetOut, status=201, tag="cameras",
               summary="Store the camera's current position as a new named preset (ONVIF SetPreset).")
    async def add_preset(ctx: Ctx) -> PresetOut:
        b: PresetIn = ctx.body
        name = b.name.strip()
        camera_id, token = await _preset_call(ctx, "SetPreset", set_preset, name)
        await ctx.audit("camera.preset_set", camera_id, preset=token, name=name)
        return PresetOut(token=token, name=name)

    @api.route("DELETE", "/api/v1/cameras/{camera_id}/presets/{token}", roles=CAMERA_STAFF, status=204,
               tag="cameras", summary="Remove a preset from the camera (ONVIF RemovePreset).")
    async def delete_preset(ctx: Ctx) -> None:
        token = ctx.param("token")
        camera_id, _ = await _preset_call(ctx, "RemovePreset", remove_preset, token)
        await ctx.audit("camera.preset_remove", camera_id, preset=token)

    @api.route("POST", "/api/v1/cameras/{camera_id}/presets/{token}/goto", roles=CAMERA_STAFF, response=Ok,
               tag="cameras", summary="Move the camera to a preset (ONVIF GotoPreset).")
    async def goto(ctx: Ctx) -> Ok:
        token = ctx.param("token")
        camera_id, _ = await _preset_call(ctx, "GotoPreset", goto_preset, token)
        await ctx.audit("camera.ptz_goto_preset", camera_id, preset=token)
        return Ok()


def register_live(api: Api) -> None:
    """Add the live-view routes (WebRTC, H.264 passed through)."""

    @api.route("POST", "/api/v1/cameras/{camera_id}/views", roles=CAMERA_STAFF, body=ViewIn, response=ViewOut,
               status=201, tag="cameras", summary="Open a live view of a camera stream (returns an SDP offer).")
    async def open_view(ctx: Ctx) -> ViewOut:
        b: ViewIn = ctx.body
        camera_id = ctx.param("camera_id")
        cam = await ctx.app[STORE_KEY].cameras.get(camera_id)
        if cam is None or not cam.active:
            raise ApiError(404, "not_found", f"camera {camera_id!r} does not exist")
        # cluster: the node running the camera opens the view; only the offer and answer pass through this node,
        # the media flows from that node to the browser (no relay hop). The view id names the node (answer, close).
        node = await peer.camera_owner(ctx.app, camera_id)
        if node is not None:
            out = ViewOut.model_validate(await peer.call(ctx, node, "POST", f"/cameras/{camera_id}/views",
                                                         b.model_dump()))
            await ctx.audit("camera.view", camera_id, stream=out.stream, transcode=b.transcode, node=node)
            return out.model_copy(update={"view_id": peer.remote_view_id(node, out.view_id)})
        view, transcoded = await open_local_view(ctx.app, camera_id, b)
        await ctx.audit("camera.view", camera_id, stream=view.stream, transcode=transcoded)
        return view

    @api.route("POST", "/api/v1/cameras/views/{view_id}/answer", roles=CAMERA_STAFF, body=AnswerIn,
               response=Ok, tag="cameras", summary="Send the viewer's SDP answer; the picture starts.")
    async def answer_view(ctx: Ctx) -> Ok:
        b: AnswerIn = ctx.body
        remote = peer.split_view_id(ctx.app, ctx.param("view_id"))  # cluster: a view opened on another node
        if remote is not None:
            await peer.call(ctx, remote[0], "POST", f"/cameras/views/{remote[1]}/answer", b.model_dump())
            return Ok()
        await answer_local_view(ctx.app, ctx.param("view_id"), b.sdp)
        return Ok()

    @api.route("DELETE", "/api/v1/cameras/views/{view_id}", roles=CAMERA_STAFF, status=204, tag="cameras",
               summary="Close a live view.")
    async def close_view(ctx: Ctx) -> None:
        remote = peer.split_view_id(ctx.app, ctx.param("view_id"))  # cluster: a view opened on another node
        if remote is not None:
            await peer.call(ctx, remote[0], "DELETE", f"/cameras/views/{remote[1]}")
            return
        if not await ctx.app[LIVE_VIEWS_KEY].close(ctx.param("view_id")):
            raise ApiError(404, "not_found", "no such live view")


async def open_local_view(app: web.Application, camera_id: str, b: ViewIn) -> tuple[ViewOut, bool]:
    """Open a live view of a camera stream on this node; return it and whether it shows a transcode."""
    manager = app[CAMERAS_KEY]
    stream = b.stream
    running = manager.get(camera_id)
    if stream == "sub" and running is not None and "sub" not in running.ingests and "main" in running.ingests:
        stream = "main"  # a camera with one stream (a plain main_url): its tile shows that stream
    source_id = f"camera/{camera_id}/{stream}"
    source = app[ENGINE_KEY].sources.get(source_id)
    on_close: Callable[[], Awaitable[None]] | None = None
    if source is not None and source.codec == "h265":
        if not b.transcode:
            raise ApiError(409, "needs_transcode",
                           f"camera {camera_id!r} sends H.265 on its {stream} stream, which browsers cannot"
                           " play; open the view with transcode=true for a low-fps H.264 picture", "transcode")
        try:
            tx = await manager.acquire_transcode(camera_id, stream)
        except LookupError as exc:
            raise ApiError(409, "not_streaming", str(exc)) from exc
        source_id = tx.output.id

        async def on_close() -> None:
            await manager.release_transcode(camera_id, stream)
    try:
        view = await app[LIVE_VIEWS_KEY].open(source_id, on_close)
    except ViewError as exc:
        if on_close is not None:
            await on_close()
        raise ApiError(409, exc.code, exc.message) from exc
    return ViewOut(view_id=view.id, sdp=await view.offer(), stream=stream), source_id.endswith("/transcoded")


async def answer_local_view(app: web.Application, view_id: str, sdp: str) -> None:
    """Apply the viewer's SDP answer to a live view opened on this node."""
    view = app[LIVE_VIEWS_KEY].views.get(view_id)
    if view is None:
        raise ApiError(404, "not_found", "no such live view (it may have expired)")
    try:
        await view.answer(sdp)
    except ViewError as exc:
        log.warning("%s: live view %s refused its answer: %s", view.source.id, view_id, exc.message)
        raise ApiError(422, exc.code, exc.message, "sdp") from exc
