"""Routes: the shared scheduler's jobs and their run history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import SCHEDULER_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.config import IDENT_PATTERN
from mediaserver.scheduler import JobBusy
from mediaserver.storage.repos import Job

SCHEDULE_ROLES = (Role.ADMIN, Role.OPERATOR)


class JobOut(BaseModel):
    id: str
    action: str
    kind: str
    spec: str
    timezone: str
    grace_s: float
    args: dict[str, Any]
    enabled: bool
    source: str
    next_run_at: str | None
    last_run_at: str | None

    @classmethod
    def of(cls, j: Job) -> JobOut:
        return cls(id=j.id, action=j.action, kind=j.kind, spec=j.spec, timezone=j.timezone, grace_s=j.grace_s,
                   args=j.args, enabled=j.enabled, source=j.source, next_run_at=iso(j.next_run_at),
                   last_run_at=iso(j.last_run_at))


class JobList(BaseModel):
    items: list[JobOut]


class JobIn(Body):
    id: str = Field(..., pattern=IDENT_PATTERN)
    action: str = Field(..., pattern=r"^[a-z_]+(\.[a-z_]+)+$", description="A registered action.")
    kind: Literal["once", "interval", "cron"]
    spec: str = Field(..., min_length=1, max_length=200,
                      description="once: ISO time; interval: seconds; cron: five-field expression.")
    timezone: str | None = Field(None, description="Default: the server's time zone.")
    grace_s: float = Field(300.0, ge=0, le=7 * 86400)
    args: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class RunOut(BaseModel):
    id: int
    job_id: str
    scheduled_for: str | None
    started_at: str | None
    ended_at: str | None
    outcome: str
    late_s: float
    error: str | None


class RunList(BaseModel):
    items: list[RunOut]


class RunStarted(BaseModel):
    run_id: int


def register(api: Api) -> None:
    """Add the schedule routes."""

    @api.route("GET", "/api/v1/schedules", roles=SCHEDULE_ROLES, response=JobList, tag="schedules",
               summary="List scheduled jobs.")
    async def list_jobs(ctx: Ctx) -> JobList:
        return JobList(items=[JobOut.of(j) for j in await ctx.app[STORE_KEY].jobs.all()])

    @api.route("POST", "/api/v1/schedules", roles=SCHEDULE_ROLES, body=JobIn, response=JobOut, status=201,
               tag="schedules", summary="Create or replace a scheduled job.")
    async def create_job(ctx: Ctx) -> JobOut:
        b: JobIn = ctx.body
        store = ctx.app[STORE_KEY]
        existing = await store.jobs.get(b.id)
        if existing is not None and existing.source != "api":
            raise ApiError(409, "defined_in_config", f"job {b.id!r} is defined in {existing.source}; not editable")
        try:
            await ctx.app[SCHEDULER_KEY].add_job(
                b.id, b.action, b.kind, b.spec, timezone=b.timezone, grace_s=b.grace_s, args=b.args,
                enabled=b.enabled, source="api",
            )
        except ValueError as exc:
            raise ApiError(422, "invalid_input", str(exc)) from exc
        await ctx.audit("schedule.upsert", b.id, job_action=b.action, kind=b.kind, spec=b.spec)
        job = await store.jobs.get(b.id)
        assert job is not None
        return JobOut.of(job)

    @api.route("DELETE", "/api/v1/schedules/{job_id}", roles=SCHEDULE_ROLES, status=204, tag="schedules",
               summary="Delete an API-defined job.")
    async def delete_job(ctx: Ctx) -> None:
        job = await _job(ctx)
        if job.source != "api":
            raise ApiError(409, "defined_in_config", f"job {job.id!r} is defined in {job.source}; not deletable")
        await ctx.app[SCHEDULER_KEY].remove_job(job.id)
        await ctx.audit("schedule.delete", job.id)

    @api.route("POST", "/api/v1/schedules/{job_id}/run", roles=SCHEDULE_ROLES, response=RunStarted,
               status=202, tag="schedules", summary="Run a job now, outside its schedule.")
    async def run_now(ctx: Ctx) -> RunStarted:
        job = await _job(ctx)
        try:
            run_id = await ctx.app[SCHEDULER_KEY].run_now(job.id)
        except JobBusy as exc:
            # A second click while the run is still going: say so, do not start it twice.
            raise ApiError(409, "job_busy", str(exc)) from exc
        await ctx.audit("schedule.run_now", job.id)
        return RunStarted(run_id=run_id)

    @api.route("GET", "/api/v1/schedules/{job_id}/runs", roles=SCHEDULE_ROLES, response=RunList,
               tag="schedules", summary="List a job's runs, newest first.")
    async def runs(ctx: Ctx) -> RunList:
        job = await _job(ctx)
        rows = await ctx.app[STORE_KEY].jobs.runs(job.id)
        return RunList(items=[
            RunOut(id=r.id, job_id=r.job_id, scheduled_for=iso(r.scheduled_for), started_at=iso(r.started_at),
                   ended_at=iso(r.ended_at), outcome=r.outcome, late_s=r.late_s, error=r.error) for r in rows
        ])


async def _job(ctx: Ctx) -> Job:
    job = await ctx.app[STORE_KEY].jobs.get(ctx.param("job_id"))
    if job is None:
        raise ApiError(404, "not_found", f"job {ctx.param('job_id')!r} does not exist")
    return job
