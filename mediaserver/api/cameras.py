"""Routes: the camera inventory (ingest, live view and PTZ arrive with the camera subsystem)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mediaserver.api.common import Body
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.config import redact_url
from mediaserver.storage.repos import Camera

CAMERA_STAFF = (Role.ADMIN, Role.SECURITY)
# Operators may list cameras to put one into a meeting as a virtual site; they cannot change them.
CAMERA_READERS = (Role.ADMIN, Role.SECURITY, Role.OPERATOR)


class CameraOut(BaseModel):
    id: str
    name: str
    source: str
    main_url: str | None = Field(None, description="Main stream URL without credentials.")
    sub_url: str | None = Field(None, description="Sub stream URL without credentials.")
    onvif_host: str | None = None
    record_mode: str | None = None
    info: dict[str, Any] = Field(default_factory=dict, description="What ONVIF onboarding learned.")


class CameraList(BaseModel):
    items: list[CameraOut]


class CameraIn(Body):
    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(..., min_length=1, max_length=120)


def _out(ctx: Ctx, cam: Camera) -> CameraOut:
    cfg = ctx.app[CONFIG_KEY].cameras.get(cam.id)
    if cfg is None:
        return CameraOut(id=cam.id, name=cam.name, source=cam.source, info=cam.info)
    return CameraOut(
        id=cam.id, name=cam.name, source=cam.source, main_url=redact_url(cfg.streams.main_url),
        sub_url=redact_url(cfg.streams.sub_url), onvif_host=cfg.onvif.host if cfg.onvif else None,
        record_mode=cfg.record.mode if cfg.record else None, info=cam.info,
    )


def register(api: Api) -> None:
    """Add the camera routes."""

    @api.route("GET", "/api/v1/cameras", roles=CAMERA_READERS, response=CameraList, tag="cameras",
               summary="List cameras.")
    async def list_cameras(ctx: Ctx) -> CameraList:
        return CameraList(items=[_out(ctx, c) for c in await ctx.app[STORE_KEY].cameras.all()])

    @api.route("GET", "/api/v1/cameras/{camera_id}", roles=CAMERA_READERS, response=CameraOut, tag="cameras",
               summary="Describe one camera (never its credentials).")
    async def get_camera(ctx: Ctx) -> CameraOut:
        cam = await ctx.app[STORE_KEY].cameras.get(ctx.param("camera_id"))
        if cam is None or not cam.active:
            raise ApiError(404, "not_found", f"camera {ctx.param('camera_id')!r} does not exist")
        return _out(ctx, cam)

    @api.route("POST", "/api/v1/cameras", roles=CAMERA_STAFF, body=CameraIn, response=CameraOut, status=201,
               tag="cameras", summary="Register a camera by id and name.")
    async def create_camera(ctx: Ctx) -> CameraOut:
        b: CameraIn = ctx.body
        store = ctx.app[STORE_KEY]
        existing = await store.cameras.get(b.id)
        if existing is not None and existing.active:
            raise ApiError(409, "conflict", f"camera {b.id!r} already exists")
        await store.cameras.upsert(b.id, b.name, "api")
        await ctx.audit("camera.create", b.id)
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
        await store.cameras.delete(cam.id)
        await ctx.audit("camera.delete", cam.id)
