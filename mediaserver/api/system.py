"""Routes: health, readiness, metrics, the OpenAPI document, the audit log, the redacted config, the console."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field

from mediaserver import __version__
from mediaserver.api.common import excel_csv, iso, package_file, web_files
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx, openapi_document
from mediaserver.app_keys import CONFIG_KEY, METRICS_KEY, RECORDERS_KEY, RETENTION_KEY, SCHEDULER_KEY, STORE_KEY
from mediaserver.audit_texts import action_words, actor_words, role_words
from mediaserver.auth import Role
from mediaserver.config import redacted
from mediaserver.storage.repos import AuditEntry

STAFF = (Role.ADMIN, Role.OPERATOR, Role.SECURITY)
_CONSOLE_FILES = web_files("mediaserver.web")


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    ready: bool = Field(..., description="The index answers and the scheduler runs (false: 503).")
    status: Literal["ready", "degraded", "not_ready"] = Field(
        ..., description="degraded: serving, but something staff must fix (e.g. recording blocked by a full disk).")
    reasons: list[str] = Field(..., description="Why it is degraded or not ready, one line each.")
    checks: dict[str, str]


class Alarm(BaseModel):
    code: Literal["disk_full"] = Field(..., description="What is wrong (the console's error catalogue: err.<code>).")
    since: float = Field(..., description="When it began, UTC epoch seconds.")
    message: str = Field(..., description="One line for staff (English; the console shows its own text).")
    cameras: list[str] = Field(..., description="Cameras it affects.")


class AlarmList(BaseModel):
    alarms: list[Alarm]


class AuditOut(BaseModel):
    id: int
    at: str | None
    actor: str
    actor_role: str
    action: str
    target: str
    detail: dict[str, Any]
    remote: str
    action_vi: str = Field(..., description="The action in Vietnamese words.")
    action_en: str = Field(..., description="The action in English words.")
    actor_vi: str = Field(..., description="Who acted, in Vietnamese words (a site, a service token, the CLI).")
    actor_en: str = Field(..., description="Who acted, in English words.")

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        return cls(id=e.id, at=iso(e.at), actor=e.actor, actor_role=e.actor_role, action=e.action, target=e.target,
                   detail=e.detail, remote=e.remote, action_vi=action_words(e.action, "vi"),
                   action_en=action_words(e.action, "en"), actor_vi=actor_words(e.actor, "vi"),
                   actor_en=actor_words(e.actor, "en"))


class AuditList(BaseModel):
    items: list[AuditOut]
    next_before_id: int | None


class AuditQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)
    before_id: int | None = Field(None, ge=1)
    action: str = Field("", max_length=64, description="Only actions starting with this prefix.")
    actor: str = Field("", max_length=128, description="Only this actor (a user name, site:<id>, service:<name>).")
    target: str = Field("", max_length=200, description="Only targets containing this (a camera, room, user).")
    since: float | None = Field(None, ge=0, description="From this time (epoch seconds).")
    until: float | None = Field(None, ge=0, description="Before this time (epoch seconds).")


class AuditCsvQuery(AuditQuery):
    limit: int = Field(10_000, ge=1, le=100_000)


class ConfigOut(BaseModel):
    config: dict[str, Any] = Field(..., description="The running configuration; secrets are masked.")


async def _audit_rows(ctx: Ctx, q: AuditQuery) -> list[AuditEntry]:
    if q.since is not None and q.until is not None and q.until <= q.since:
        raise ApiError(422, "invalid_input", "until must be after since", "until")
    return await ctx.app[STORE_KEY].audit.all(q.limit, q.before_id, q.action, actor=q.actor, target=q.target,
                                              since=q.since, until=q.until)


def audit_csv(rows: list[AuditEntry], timezone: str) -> bytes:
    """Return audit entries as CSV for Excel: UTF-8 with BOM, Vietnamese headers and words, local time."""
    tz = ZoneInfo(timezone)
    return excel_csv(
        ["STT", "Thời gian", "Người thực hiện", "Vai trò", "Thao tác", "Đối tượng", "Địa chỉ máy", "Chi tiết",
         "Mã thao tác"],
        ([n, datetime.fromtimestamp(e.at, tz).strftime("%H:%M:%S %d/%m/%Y"), actor_words(e.actor),
          role_words(e.actor_role), action_words(e.action), e.target, e.remote,
          "; ".join(f"{k}: {v}" for k, v in e.detail.items()), e.action] for n, e in enumerate(rows, start=1)))


def register(api: Api) -> None:
    """Add the system routes."""

    @api.route("GET", "/healthz", roles=None, response=Health, tag="system", summary="Liveness probe.")
    async def healthz(ctx: Ctx) -> Health:
        return Health(status="ok", version=__version__)

    @api.route("GET", "/readyz", roles=None, response=Ready, tag="system",
               summary="Readiness: the index answers and the scheduler runs (503 otherwise); "
                       "status degraded (200) while a full disk blocks recording.")
    async def readyz(ctx: Ctx) -> web.StreamResponse:
        checks: dict[str, str] = {}
        try:
            await ctx.app[STORE_KEY].db.fetchone("SELECT 1")
            checks["index"] = "ok"
        except Exception as exc:
            checks["index"] = f"error: {exc}"
        sched = ctx.app[SCHEDULER_KEY].status()
        checks["scheduler"] = "ok" if sched["loop_alive"] else f"not running (state {sched['state']})"
        ready = all(v == "ok" for v in checks.values())
        reasons = [f"{k}: {v}" for k, v in checks.items() if v != "ok"]
        alarm = ctx.app[RETENTION_KEY].disk_alarm
        checks["disk"] = "ok" if alarm is None else alarm.message.replace("disk full: ", "full: ", 1)
        if alarm is not None:
            reasons.append(f"recording blocked: {alarm.message}")
        status = "not_ready" if not ready else "degraded" if alarm is not None else "ready"
        body = Ready(ready=ready, status=status, reasons=reasons, checks=checks)
        # Degraded still answers 200: live views and the API work; staff must free the disk.
        return web.json_response(body.model_dump(), status=200 if ready else 503)

    @api.route("GET", "/api/v1/system/alarms", roles=STAFF, response=AlarmList, tag="system",
               summary="What staff must act on now (the console's banner): a full disk blocking recording.")
    async def alarms(ctx: Ctx) -> AlarmList:
        items = []
        alarm = ctx.app[RETENTION_KEY].disk_alarm
        if alarm is not None:
            cameras = sorted(ctx.app[RECORDERS_KEY].blocked_cameras())
            items.append(Alarm(code="disk_full", since=alarm.since, message=alarm.message, cameras=cameras))
        return AlarmList(alarms=items)

    @api.route("GET", "/metrics", roles=STAFF, tag="system", content_type="text/plain",
               summary="Prometheus metrics (scrape with a bearer token).")
    async def metrics(ctx: Ctx) -> web.StreamResponse:
        body = ctx.app[METRICS_KEY].render()
        return web.Response(body=body, content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    @api.route("GET", "/api/openapi.json", roles=None, tag="system", summary="This API's OpenAPI 3 document.")
    async def openapi(ctx: Ctx) -> web.StreamResponse:
        return web.json_response(openapi_document(api.specs, "mediaserver", __version__))

    @api.route("GET", "/api/v1/audit", roles=(Role.ADMIN,), query=AuditQuery, response=AuditList, tag="system",
               summary="Read the audit log of operator actions, newest first.")
    async def audit(ctx: Ctx) -> AuditList:
        q: AuditQuery = ctx.query
        rows = await _audit_rows(ctx, q)
        return AuditList(items=[AuditOut.of(e) for e in rows],
                         next_before_id=rows[-1].id if len(rows) == q.limit else None)

    @api.route("GET", "/api/v1/audit.csv", roles=(Role.ADMIN,), query=AuditCsvQuery, tag="system",
               content_type="text/csv", summary="The audit log as CSV for Excel (UTF-8 with BOM, Vietnamese headers, "
                                                "Vietnam time), with the same filters.")
    async def audit_csv_route(ctx: Ctx) -> web.StreamResponse:
        rows = await _audit_rows(ctx, ctx.query)
        body = await asyncio.to_thread(audit_csv, rows, ctx.app[CONFIG_KEY].timezone)
        return web.Response(body=body, headers={"Content-Type": "text/csv; charset=utf-8",
                                                "Content-Disposition": 'attachment; filename="nhat-ky.csv"'})

    @api.route("GET", "/api/v1/system/config", roles=(Role.ADMIN,), response=ConfigOut, tag="system",
               summary="The running configuration, secrets masked.")
    async def config(ctx: Ctx) -> ConfigOut:
        return ConfigOut(config=redacted(ctx.app[CONFIG_KEY]))

    @api.route("GET", "/", roles=None, tag="console", content_type="text/html",
               summary="The web console (Vietnamese by default, English on a toggle).")
    async def index(ctx: Ctx) -> web.StreamResponse:
        return await package_file("mediaserver.web", "index.html", _CONSOLE_FILES)

    @api.route("GET", "/console/{name}", roles=None, tag="console", content_type="text/plain",
               summary="The console's scripts and styles.")
    async def console_file(ctx: Ctx) -> web.StreamResponse:
        return await package_file("mediaserver.web", ctx.param("name"), _CONSOLE_FILES)
