"""Issue a meeting's minutes: gather, render, attach the recordings' SHA-256 listing, sign (PAdES), store, record.

A draft (conclusions, include_chat) stays editable until staff issue it. Issuing is a short job per meeting
(``MinutesIssuer.start``; its progress is the share of recording bytes hashed): the PDF is rendered and signed
in worker threads, written as ``data_dir/minutes/<meeting>/bien-ban-<meeting>-v<n>.pdf.part``, fsync'd and
hard-linked to its final name — ``os.link`` fails if that name exists, so an issued version is never
overwritten — then recorded with its SHA-256. A re-issue makes version n+1; earlier versions stay.

Signing: with ``signing.backend`` pkcs12, pkcs11 or demo the PDF carries a PAdES signature whose visible stamp
sits in the chair's signature box. With ``none`` the office has chosen not to sign digitally (it prints and
signs by hand): the minutes are issued unsigned, and both the PDF ("BẢN CHƯA KÝ SỐ") and the API
(``signed: false``) say so. A signer that is configured but cannot be used (wrong password, token unplugged)
refuses the issue with its own code: the office wanted a signature, so an unsigned copy would mislead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Literal

from aiohttp import web
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from mediaserver.app_keys import CONFERENCE_KEY, CONFIG_KEY, STORE_KEY
from mediaserver.errors import CodedError
from mediaserver.storage.meetings import Meeting
from mediaserver.storage.minutes import IssuedMinutes
from recordings.minutes.content import MinutesContent, gather
from recordings.minutes.render import MinutesRenderError, RenderedMinutes, render_minutes
from recordings.signing import SigningError, StampPlacement, sign_pdf_async
from recordings.signing.office import SIGNING_KEY

logger = logging.getLogger(__name__)

MINUTES_DIR = "minutes"
LISTING_NAME = "recordings.sha256"
SIGNATURE_FIELD = "ChuKySoBienBan"
# Hashing takes the first 90 % of the progress bar; rendering, signing and storing the rest.
HASH_SHARE = 0.9

State = Literal["running", "done", "failed"]


class MinutesError(CodedError):
    """Minutes cannot be issued now: ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


@dataclass
class IssueJob:
    """One issue run of one meeting's minutes."""

    meeting_id: int
    by: str
    started_at: float
    state: State = "running"
    stage: str = "gathering"  # gathering, hashing, rendering, signing, storing
    progress: float = 0.0
    result: IssuedMinutes | None = None
    error_code: str | None = None
    error_message: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


def minutes_relpath(meeting_id: int, version: int) -> str:
    """Return where a version is stored, relative to data_dir."""
    return f"{MINUTES_DIR}/{meeting_id}/bien-ban-{meeting_id}-v{version}.pdf"


def attach_listing(pdf: bytes, listing: str) -> bytes:
    """Embed the recordings' ``sha256sum`` listing in the PDF as an attached file (blocking)."""
    w = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    data = listing.encode()
    spec = embed.FileSpec(
        file_spec_string=LISTING_NAME, file_name=LISTING_NAME,
        embedded_data=embed.EmbeddedFileObject.from_file_data(w, data=data, mime_type="text/plain"),
        description="SHA-256 của từng tệp ghi hình cuộc họp (sha256sum -c, trong thư mục dữ liệu)")
    embed.embed_file(w, spec)
    out = BytesIO()
    w.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def store_pdf(data_dir: Path, rel: str, pdf: bytes) -> str:
    """Write a PDF under its final name, never replacing one (blocking); return its SHA-256."""
    final = data_dir / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    with part.open("wb") as f:
        f.write(pdf)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(part, final)  # atomic, and refuses an existing name: an issued version is never overwritten
    except FileExistsError as exc:
        raise MinutesError(409, "minutes_version_exists", f"{rel} already exists; not overwritten") from exc
    finally:
        part.unlink(missing_ok=True)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return hashlib.sha256(pdf).hexdigest()


class MinutesIssuer:
    """Runs issue jobs, one at a time per meeting; keeps the last job of each meeting for its progress."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._jobs: dict[int, IssueJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def job(self, meeting_id: int) -> IssueJob | None:
        """Return the meeting's running or last job."""
        return self._jobs.get(meeting_id)

    async def check(self, meeting: Meeting) -> None:
        """Raise MinutesError unless the meeting's minutes can be issued now."""
        job = self._jobs.get(meeting.id)
        if job is not None and job.state == "running":
            raise MinutesError(409, "minutes_issuing", f"the minutes of meeting {meeting.id} are being issued")
        if meeting.cancelled:
            raise MinutesError(409, "cancelled", f"meeting {meeting.id} was cancelled")
        if not await self._app[STORE_KEY].meetings.session_ids(meeting.id):
            raise MinutesError(409, "minutes_not_held", f"meeting {meeting.id} has not been held yet")
        if self._app[CONFERENCE_KEY].meeting_of(meeting.room_id) == meeting.id:
            raise MinutesError(409, "minutes_meeting_running",
                               f"meeting {meeting.id} is still running: end it before issuing its minutes")
        signing = self._app[SIGNING_KEY].current
        if signing.error is not None:
            raise MinutesError(503, signing.error.code, signing.error.message)

    async def start(self, meeting: Meeting, by: str) -> IssueJob:
        """Check and start issuing the next version of a meeting's minutes."""
        await self.check(meeting)
        job = self._jobs[meeting.id] = IssueJob(meeting.id, by, time.time())
        task = asyncio.create_task(self._run(job, meeting), name=f"minutes-{meeting.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def wait(self, meeting_id: int) -> IssueJob | None:
        """Wait for the meeting's running job to end; return it."""
        job = self._jobs.get(meeting_id)
        if job is not None:
            await job.finished.wait()
        return job

    async def stop(self) -> None:
        """Cancel running jobs (their partial files are removed; nothing is recorded)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, job: IssueJob, meeting: Meeting) -> None:
        try:
            job.result = await self.issue(meeting, job.by, job)
            job.state = "done"
            job.progress = 1.0
        except (MinutesError, SigningError) as exc:
            job.state, job.error_code, job.error_message = "failed", exc.code, exc.message
            logger.error("minutes of meeting %d not issued: %s", meeting.id, exc.message)
        except MinutesRenderError as exc:
            job.state, job.error_code, job.error_message = "failed", "minutes_render_failed", str(exc)
            logger.error("minutes of meeting %d not rendered: %s", meeting.id, exc)
        except asyncio.CancelledError:
            job.state, job.error_code, job.error_message = "failed", "interrupted", "the server stopped"
            raise
        except Exception as exc:  # a bug must end the job with a reason, not leave it "running" for ever
            job.state, job.error_code, job.error_message = "failed", "internal", f"{type(exc).__name__}: {exc}"
            logger.exception("minutes of meeting %d failed", meeting.id)
        finally:
            job.finished.set()

    async def issue(self, meeting: Meeting, by: str, job: IssueJob | None = None) -> IssuedMinutes:
        """Issue the next version now (the job's body; also callable directly)."""
        cfg = self._app[CONFIG_KEY]
        store = self._app[STORE_KEY]
        data_dir = cfg.storage.data_dir
        signing = self._app[SIGNING_KEY].current
        signer = signing.signer
        draft = await store.minutes.draft(meeting.id)
        version = await store.minutes.next_version(meeting.id)

        def progress(value: float) -> None:
            if job is not None:
                job.stage, job.progress = "hashing", value * HASH_SHARE

        content: MinutesContent = await gather(
            self._app, meeting, conclusions=draft.conclusions if draft else "",
            include_chat=draft.include_chat if draft else False, version=version, issued_by=by,
            signed=signer is not None, demo_signature=signing.demo, organisation=cfg.signing.organisation,
            location=cfg.signing.location, timezone=cfg.timezone, data_dir=data_dir, progress=progress)
        if job is not None:
            job.stage, job.progress = "rendering", HASH_SHARE
        rendered: RenderedMinutes = await asyncio.to_thread(render_minutes, content)
        pdf = rendered.pdf
        if content.recordings:
            pdf = await asyncio.to_thread(attach_listing, pdf, content.recording_listing)
        signer_name = None
        if signer is not None:
            if job is not None:
                job.stage = "signing"
            stamp = StampPlacement(page=rendered.signature_page, box=rendered.signature_box, timezone=cfg.timezone)
            pdf = await sign_pdf_async(pdf, signer, reason=cfg.signing.reason, location=cfg.signing.location,
                                       field_name=SIGNATURE_FIELD, stamp=stamp)
            cert = signing.certificate
            if cert is None:  # a token: read its certificate (after the signature, so the PIN was right)
                cert = await asyncio.to_thread(signer.certificate)
            signer_name = cert.display()
        if job is not None:
            job.stage = "storing"
        rel = minutes_relpath(meeting.id, version)
        digest = await asyncio.to_thread(store_pdf, data_dir, rel, pdf)
        issued = await store.minutes.add_issued(
            meeting.id, version, rel, len(pdf), digest, signed=signer is not None, signer=signer_name,
            signer_kind=signing.backend if signer is not None else None, conclusions=content.conclusions,
            include_chat=content.chat is not None, issued_by=by, issued_at=content.issued_at)
        logger.info("minutes of meeting %d issued: version %d, %d page(s), %d bytes, %s, sha256 %s", meeting.id,
                    version, rendered.pages, len(pdf), f"signed by {signer_name}" if signer_name else "UNSIGNED",
                    digest)
        return issued


MINUTES_KEY: web.AppKey[MinutesIssuer] = web.AppKey("minutes_issuer", MinutesIssuer)
