"""Routes: a scheduled meeting's minutes (biên bản) — the draft, issuing, the issued PDFs and their signature check."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.api.scheduled import STAFF, _get
from mediaserver.api.signatures import VerifyOut, verify_out
from mediaserver.app_keys import CONFIG_KEY, STORE_KEY
from mediaserver.storage.minutes import IssuedMinutes
from recordings.minutes.issue import MINUTES_DIR, MINUTES_KEY, IssueJob, MinutesError
from recordings.signing import verify_async
from recordings.signing.office import SIGNING_KEY

MAX_CONCLUSIONS_CHARS = 20_000


class DraftIn(Body):
    conclusions: str = Field("", max_length=MAX_CONCLUSIONS_CHARS, description="Kết luận của cuộc họp.")
    include_chat: bool = Field(False, description="Put the meeting's chat in the minutes.")


class DraftOut(BaseModel):
    conclusions: str
    include_chat: bool
    updated_by: str | None
    updated_at: str | None


class VersionOut(BaseModel):
    version: int
    issued_at: str | None
    issued_by: str
    signed: bool = Field(..., description="False: issued without a digital signature (signing.backend none).")
    signer: str | None = Field(..., description="The certificate's CN and O.")
    signer_kind: str | None = Field(..., description="pkcs12, pkcs11 or demo (test-only certificate).")
    bytes: int
    sha256: str
    url: str = Field(..., description="The PDF (GET with the bearer token).")


class JobOut(BaseModel):
    state: Literal["running", "done", "failed"]
    stage: str = Field(..., description="gathering, hashing, rendering, signing or storing.")
    progress: float = Field(..., description="0..1")
    version: int | None
    error_code: str | None
    error_message: str | None


class SigningOut(BaseModel):
    backend: str = Field(..., description="none, pkcs12, pkcs11 or demo.")
    enabled: bool = Field(..., description="Issued minutes are signed.")
    demo: bool = Field(..., description="The signer is the test-only demo certificate (CHỈ DÙNG THỬ).")
    signer: str | None
    error_code: str | None = Field(..., description="Signing is configured but cannot be used: why.")


class MinutesOut(BaseModel):
    meeting_id: int
    draft: DraftOut
    versions: list[VersionOut] = Field(..., description="Issued versions, newest first (read-only).")
    job: JobOut | None
    signing: SigningOut


class VersionQuery(BaseModel):
    version: int | None = Field(None, ge=1, le=100_000, description="Default: the newest.")


def _version_out(meeting_id: int, v: IssuedMinutes) -> VersionOut:
    return VersionOut(version=v.version, issued_at=iso(v.issued_at), issued_by=v.issued_by, signed=v.signed,
                      signer=v.signer, signer_kind=v.signer_kind, bytes=v.bytes, sha256=v.sha256,
                      url=f"/api/v1/scheduled-meetings/{meeting_id}/minutes.pdf?version={v.version}")


def _job_out(job: IssueJob | None) -> JobOut | None:
    if job is None:
        return None
    return JobOut(state=job.state, stage=job.stage, progress=round(job.progress, 3),
                  version=job.result.version if job.result else None, error_code=job.error_code,
                  error_message=job.error_message)


async def minutes_out(app: web.Application, meeting_id: int) -> MinutesOut:
    """Return a meeting's minutes state."""
    store = app[STORE_KEY]
    draft = await store.minutes.draft(meeting_id)
    signing = app[SIGNING_KEY].current
    cert = signing.certificate
    return MinutesOut(
        meeting_id=meeting_id,
        draft=DraftOut(conclusions=draft.conclusions if draft else "",
                       include_chat=bool(draft and draft.include_chat), updated_by=draft.updated_by if draft else None,
                       updated_at=iso(draft.updated_at) if draft else None),
        versions=[_version_out(meeting_id, v) for v in await store.minutes.versions(meeting_id)],
        job=_job_out(app[MINUTES_KEY].job(meeting_id)),
        signing=SigningOut(backend=signing.backend, enabled=signing.signer is not None, demo=signing.demo,
                           signer=cert.display() if cert else None,
                           error_code=signing.error.code if signing.error else None))


async def _issued(ctx: Ctx, meeting_id: int, version: int | None) -> tuple[IssuedMinutes, Path]:
    store = ctx.app[STORE_KEY]
    if version is None:
        versions = await store.minutes.versions(meeting_id)
        found = versions[0] if versions else None
    else:
        found = await store.minutes.version(meeting_id, version)
    if found is None:
        raise ApiError(404, "minutes_not_issued",
                       f"meeting {meeting_id} has no issued minutes" + (f" version {version}" if version else ""))
    data_dir = ctx.app[CONFIG_KEY].storage.data_dir.resolve()
    path = (data_dir / found.path).resolve()
    if not path.is_relative_to(data_dir / MINUTES_DIR) or not await asyncio.to_thread(path.is_file):
        raise ApiError(410, "gone", f"the file of minutes version {found.version} is missing")
    return found, path


def register(api: Api) -> None:
    """Add the minutes routes."""

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/minutes", roles=STAFF, response=MinutesOut,
               tag="schedule", summary="A meeting's minutes: the draft, the issued versions, the issue job.")
    async def get_minutes(ctx: Ctx) -> MinutesOut:
        m = await _get(ctx)
        return await minutes_out(ctx.app, m.id)

    @api.route("PUT", "/api/v1/scheduled-meetings/{meeting_id}/minutes", roles=STAFF, body=DraftIn,
               response=MinutesOut, tag="schedule",
               summary="Save the draft (conclusions, whether the chat goes in); issued versions never change.")
    async def put_minutes(ctx: Ctx) -> MinutesOut:
        m = await _get(ctx)
        b: DraftIn = ctx.body
        await ctx.app[STORE_KEY].minutes.save_draft(m.id, b.conclusions.strip(), b.include_chat, ctx.user().subject)
        await ctx.audit("minutes.draft", str(m.id), include_chat=b.include_chat, chars=len(b.conclusions))
        return await minutes_out(ctx.app, m.id)

    @api.route("POST", "/api/v1/scheduled-meetings/{meeting_id}/minutes/issue", roles=STAFF, response=MinutesOut,
               status=202, tag="schedule", errors=(409, 503),
               summary="Issue the next version: render, sign (PAdES) and store the PDF; poll GET …/minutes.")
    async def issue(ctx: Ctx) -> MinutesOut:
        m = await _get(ctx)
        try:
            await ctx.app[MINUTES_KEY].start(m, ctx.user().subject)
        except MinutesError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc
        await ctx.audit("minutes.issue", str(m.id))
        return await minutes_out(ctx.app, m.id)

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/minutes.pdf", roles=STAFF, query=VersionQuery,
               content_type="application/pdf", tag="schedule", errors=(404, 410),
               summary="An issued version of the minutes (default: the newest), as stored.")
    async def minutes_pdf(ctx: Ctx) -> web.StreamResponse:
        m = await _get(ctx)
        q: VersionQuery = ctx.query
        found, path = await _issued(ctx, m.id, q.version)
        await ctx.audit("minutes.download", str(m.id), version=found.version)
        return web.FileResponse(path, headers={
            "Content-Type": "application/pdf", "X-Content-SHA256": found.sha256, "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="bien-ban-{m.id}-v{found.version}.pdf"'})

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/minutes/verify", roles=STAFF, query=VersionQuery,
               response=VerifyOut, tag="schedule", errors=(404, 410),
               summary="Check the stored PDF's signature: who signed, when, whether anything changed.")
    async def minutes_verify(ctx: Ctx) -> VerifyOut:
        m = await _get(ctx)
        q: VersionQuery = ctx.query
        _, path = await _issued(ctx, m.id, q.version)
        signing = ctx.app[SIGNING_KEY].current
        result = await verify_async(path, signing.trust_roots)
        return verify_out(result, ctx.app[CONFIG_KEY].timezone, signing.demo)


__all__ = ["register"]
