"""Export a camera's time range as one MP4 file: a remux of its segments (no transcoding), hashed and held.

``remux_range`` is the one remux both exports and playback use. It copies the H.264 packets of the segments
that overlap [start, end) into one MP4 (``+faststart``: the index up front, so a browser can play and seek
it over HTTP range requests), byte for byte:

- It starts at the keyframe at or before ``start`` — an export may begin up to one GOP (the camera's
  keyframe interval, typically 1–4 s) early, because a clip cannot be decoded from a frame that is not a
  keyframe and re-encoding is not allowed. It stops before the first frame at or after ``end``.
- Timestamps stay continuous across segments: a segment that continues the previous one (no
  ``gap_before``, starts within ``GAP_TOLERANCE_S`` of its end) is placed exactly where the previous one's
  last frame ends, so clocks that drift a few milliseconds from the wall never make pts step back or overlap.
  A real outage stays visible as a jump in the timeline, placed at its wall-clock position (the file's
  media time is wall time minus the first frame's wall time).
- A frame's wall time is its segment's indexed start plus its pts offset from the segment's first frame.

``Exporter`` runs exports one at a time in a worker thread (a remux reads whole files: it is disk I/O and
must not run on the event loop), writes progress (0..1) to the index at most every ``PROGRESS_EVERY_S``,
writes ``exports/<name>.mp4.part`` and renames it when the SHA-256 of the finished file is known. When an
export is created an evidence hold is placed on [start, end], so no retention rule or disk emergency can
delete its source segments while it runs or after (the export is "locked" until someone releases the
hold). A failed export keeps its hold too: someone asked for that footage to be kept, and only a person
releases a hold. Exports left queued or running by a crash are marked failed at start-up (re-request them).
Export files stay in ``data_dir/exports/`` (they are evidence: no retention rule touches them). Their names
carry the range in local time (the configured ``timezone``, as the console shows it) with its UTC offset:
``cong-chinh_20261207T143000+0700_20261207T150000+0700_<id>.mp4``. An export whose range is not fully covered
by footage says so from the start: ``coverage`` measures the recorded spans against the range and the export
record keeps ``covered_s``, ``missing_s`` and the ``gaps`` (the 202 answer already carries them).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import av
import av.error

from mediaserver.config import DEFAULT_TIMEZONE
from mediaserver.errors import CodedError
from mediaserver.storage import Store
from mediaserver.storage.repos import Export, Segment

if TYPE_CHECKING:
    from recordings.signing.office import SigningService

logger = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
EXPORT_MAX_S = 24 * 3600.0
# Segments further apart than this are separated by an outage, even when the recorder did not flag it.
GAP_TOLERANCE_S = 1.0
PROGRESS_EVERY_S = 0.5
HASH_CHUNK_BYTES = 1 << 20
# How often the remux thread looks at its cancel flag and reports progress.
CHECK_EVERY_PACKETS = 50
# Spans between segments shorter than this are not missing footage (contiguous segments meet within a frame);
# the segment writer calls a media-clock jump of more than GAP_MIN_S (0.5 s) an outage.
COVERAGE_TOLERANCE_S = 0.5
# At most this many gaps are listed per export (the totals always count them all).
MAX_LISTED_GAPS = 50
# A failed export's stored error is "<code>: <message>" so the console can say why in the reader's language
# (errors.js err.<code>) and keep the English message as the detail; see split_error.
EXPORT_FAILED_CODE = "export_failed"  # an unexpected failure (the log has the traceback)
INTERRUPTED_CODE = "interrupted"  # the server stopped while the export ran
_CODED_ERROR = re.compile(r"^([a-z_]+)(?:: (.*))?$", re.S)


class FootageError(Exception):
    """A request for footage that cannot be served: ``code`` and ``status`` say why, ``field`` names the input."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def split_error(error: str | None) -> tuple[str | None, str | None]:
    """Return a stored export error's code and message: "no_footage: …" → ("no_footage", "…")."""
    if error is None:
        return None, None
    m = _CODED_ERROR.match(error)
    if m is None:  # written without a code: the index's restart recovery, or an export from before codes
        return (INTERRUPTED_CODE if error.startswith("interrupted") else None), error
    return m.group(1), m.group(2) or m.group(1)


class RemuxCancelled(Exception):
    """The remux was asked to stop."""


@dataclass(frozen=True, slots=True)
class RemuxResult:
    """What a remux wrote."""

    packets: int
    first_wall: float  # wall time of the first frame (the keyframe at or before the range start)
    last_wall: float  # wall time at which the last frame ends
    size: int  # bytes of the output file


def _ticks(value: Fraction, tb: Fraction) -> int:
    return round(value / tb)


def remux_range(data_dir: Path, segments: Sequence[Segment], start: float, end: float, out_path: Path, *,
                skip_missing: bool = False, progress: Callable[[float], None] | None = None,
                cancel: threading.Event | None = None) -> RemuxResult:
    """Copy the packets of [start, end) from ``segments`` (oldest first) into one MP4 at ``out_path`` (blocking).

    Raises ``FootageError`` (404) when the range holds no frame, and for a missing or unreadable segment
    unless ``skip_missing`` (playback) treats it as a gap.
    """
    out: av.container.OutputContainer | None = None
    ostream: av.video.stream.VideoStream | None = None
    work_tb: Fraction | None = None
    # Before the range start: the packets since the last keyframe at or before it, as (packet, pts, dts, wall).
    pending: list[tuple[av.Packet[Any], int, int, int, float]] = []
    origin: int | None = None  # timeline ticks of the first frame written
    first_wall = last_wall = 0.0
    written = seen = 0
    timeline_end = 0  # timeline ticks where the last frame seen ends
    first_seg_start: float | None = None
    prev: Segment | None = None
    span = max(end - start, 1e-6)

    def emit(packet: av.Packet[Any], pts: int, dts: int, duration: int) -> None:
        nonlocal written
        assert out is not None and ostream is not None and origin is not None and work_tb is not None
        packet.pts, packet.dts, packet.duration = pts - origin, dts - origin, duration
        packet.time_base = work_tb
        packet.stream = ostream
        out.mux(packet)
        written += 1

    try:
        done = False
        for seg in segments:
            if done:
                break
            try:
                inp = av.open(str(data_dir / seg.path))
            except (OSError, av.error.FFmpegError) as exc:
                if skip_missing:
                    logger.warning("segment %s unreadable, played as a gap: %s", seg.path, exc)
                    continue
                raise FootageError(409, "segment_unreadable", f"segment {seg.path} cannot be read: {exc}") from exc
            with inp:
                if not inp.streams.video:
                    raise FootageError(409, "segment_unreadable", f"segment {seg.path} has no video track")
                vs = inp.streams.video[0]
                tb = vs.time_base
                assert tb is not None
                if out is None:
                    work_tb = tb
                    out = av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"})
                    ostream = out.add_stream_from_template(vs)
                    first_seg_start = seg.start_at
                assert work_tb is not None and first_seg_start is not None
                contiguous = prev is not None and not seg.gap_before and seg.start_at - prev.end_at <= GAP_TOLERANCE_S
                if prev is None:
                    base = 0
                elif contiguous:
                    base = timeline_end
                else:  # an outage: keep it where the wall clock puts it, never before what is written
                    base = max(timeline_end, _ticks(Fraction(seg.start_at - first_seg_start), work_tb))
                prev = seg
                first_pts = first_dts = None
                last_duration = 0
                for packet in inp.demux(vs):
                    if not packet.size or packet.pts is None or packet.dts is None:
                        continue
                    if first_pts is None:
                        first_pts, first_dts = packet.pts, packet.dts
                    assert first_dts is not None
                    pts = base + _ticks((packet.pts - first_dts) * tb, work_tb)
                    dts = base + _ticks((packet.dts - first_dts) * tb, work_tb)
                    duration = _ticks(packet.duration * tb, work_tb) if packet.duration else last_duration
                    last_duration = duration
                    wall = seg.start_at + float((packet.pts - first_pts) * tb)
                    if wall >= end:
                        done = True
                        break
                    seen += 1
                    if seen % CHECK_EVERY_PACKETS == 0:
                        if cancel is not None and cancel.is_set():
                            raise RemuxCancelled()
                        if progress is not None:
                            progress(min(1.0, max(0.0, (wall - start) / span)))
                    timeline_end = dts + duration
                    if origin is not None:
                        emit(packet, pts, dts, duration)
                        last_wall = wall + float(duration * work_tb)
                        continue
                    # Before the range: keep the frames since the newest keyframe at or before its start (or,
                    # when the footage begins later, since its first keyframe).
                    item = (packet, pts, dts, duration, wall)
                    if packet.is_keyframe and (wall <= start or not pending):
                        pending = [item]
                    elif pending:
                        pending.append(item)
                    if wall >= start and pending:
                        origin, first_wall = pending[0][2], pending[0][4]
                        for p, p_pts, p_dts, p_dur, _ in pending:
                            emit(p, p_pts, p_dts, p_dur)
                        pending = []
                        last_wall = wall + float(duration * work_tb)
        if out is None or written == 0:
            raise FootageError(404, "no_footage", f"no recorded frame between {_iso(start)} and {_iso(end)}")
    except BaseException:
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
            out = None
        out_path.unlink(missing_ok=True)
        raise
    out.close()
    return RemuxResult(written, first_wall, last_wall, out_path.stat().st_size)


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, hex (blocking: run it in a thread)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_stamp(ts: float, zone: ZoneInfo) -> str:
    """Return ``ts`` as a file-name-safe local time with its offset: 20261207T143000+0700."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y%m%dT%H%M%S%z")


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a range recorded footage covers."""

    covered_s: float
    missing_s: float
    gaps: tuple[tuple[float, float], ...]  # uncovered spans (UTC epoch s), oldest first, at most MAX_LISTED_GAPS


def coverage(segments: Sequence[Segment], start: float, end: float) -> Coverage:
    """Return the seconds of [start, end) with and without footage, and the spans without."""
    gaps: list[tuple[float, float]] = []
    missing = 0.0
    cursor = start
    for seg in sorted(segments, key=lambda s: s.start_at):
        if seg.end_at <= cursor:
            continue
        if seg.start_at >= end:
            break
        if seg.start_at - cursor > COVERAGE_TOLERANCE_S:
            gaps.append((cursor, seg.start_at))
            missing += seg.start_at - cursor
        cursor = max(cursor, seg.end_at)
    if end - cursor > COVERAGE_TOLERANCE_S:
        gaps.append((cursor, end))
        missing += end - cursor
    missing = round(missing, 3)
    return Coverage(round(max(0.0, end - start - missing), 3), missing, tuple(gaps[:MAX_LISTED_GAPS]))


def check_range(start: float, end: float, max_s: float) -> None:
    """Raise FootageError (422) unless [start, end) is a forward range of at most ``max_s`` seconds."""
    if not end > start:
        raise FootageError(422, "invalid_input", "end must be after start", "end")
    if end - start > max_s:
        raise FootageError(422, "invalid_input", f"the range may be at most {max_s:.0f} s long", "end")


def _clear_parts(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for part in directory.glob("*.part"):
        part.unlink(missing_ok=True)
        count += 1
    return count


class Exporter:
    """Create exports (with their evidence hold) and run them one at a time; ``stop()`` is idempotent."""

    def __init__(self, store: Store, data_dir: Path, *, min_free_bytes: int = 0,
                 clock: Callable[[], float] = time.time, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.store = store
        self.zone = ZoneInfo(timezone)
        self.data_dir = data_dir
        self.dir = data_dir / EXPORTS_DIR
        self._min_free = min_free_bytes
        self._clock = clock
        # The office's signer (set by the app): each finished export gets a signed manifest beside it.
        self.signing: SigningService | None = None
        self.sign_errors: dict[str, CodedError] = {}  # exports whose manifest could not be signed, and why
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._cancel = threading.Event()
        self._done: dict[str, asyncio.Event] = {}
        self._cancelled: set[str] = set()  # queued or running exports asked to stop (deleted)
        self._running: tuple[str, threading.Event] | None = None  # the export the worker runs, and its stop flag
        # Fails the exports a crash left queued or running; a cluster node replaces it with one that fails only
        # its own (mediaserver/app.py), since the other nodes' exports are still running there.
        self.interrupt_running: Callable[[], Awaitable[int]] = store.exports.interrupt_running

    async def start(self) -> None:
        """Mark exports a crash interrupted as failed, drop their partial files and start the worker."""
        if self._worker is not None:
            return
        failed = await self.interrupt_running()
        parts = await asyncio.to_thread(_clear_parts, self.dir)
        if failed or parts:
            logger.warning("marked %d export(s) interrupted by a restart as failed; removed %d partial file(s)",
                           failed, parts)
        self._cancel.clear()
        self._worker = asyncio.create_task(self._work(), name="exporter")

    async def stop(self) -> None:
        """Stop the worker; an export in progress is marked failed (idempotent)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._cancel.set()
        if self._running is not None:
            self._running[1].set()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    def path_of(self, export: Export) -> Path | None:
        """Return the file of a finished export."""
        return None if export.path is None else self.data_dir / export.path

    async def remove_files(self, export: Export) -> None:
        """Delete an export's file and, beside it, its signed manifest and that manifest's signature."""
        # Imported here: recordings.signing imports this module (file_sha256).
        from recordings.signing.manifest import MANIFEST_SUFFIX, SIGNATURE_SUFFIX

        path = self.path_of(export)
        if path is None:
            return
        manifest = path.with_name(path.name + MANIFEST_SUFFIX)
        for p in (path, manifest, manifest.with_name(manifest.name + SIGNATURE_SUFFIX)):
            await asyncio.to_thread(p.unlink, missing_ok=True)

    async def create(self, camera_id: str, start: float, end: float, reason: str, created_by: str) -> Export:
        """Check the request, place the evidence hold, record the export as queued and queue it."""
        check_range(start, end, EXPORT_MAX_S)
        if await self.store.cameras.get(camera_id) is None:
            raise FootageError(404, "not_found", f"no camera {camera_id!r}", "camera_id")
        segments = await self.store.segments.for_camera(camera_id, start, end)
        if not segments:
            raise FootageError(404, "no_footage", f"camera {camera_id!r} has no footage between {_iso(start)} "
                               f"and {_iso(end)}")
        estimate = sum(s.bytes for s in segments)
        free = await asyncio.to_thread(self._free_bytes)
        if free - estimate < self._min_free:
            raise FootageError(507, "insufficient_storage",
                               f"the export needs about {estimate / 1e6:.1f} MB and only {free / 1e6:.1f} MB are free "
                               f"above the disk floor of {self._min_free / 1e6:.1f} MB")
        export_id = secrets.token_hex(8)
        covered = coverage(segments, start, end)
        hold_id = await self.store.holds.add(camera_id, start, end, f"export {export_id}: {reason}", created_by)
        export = await self.store.exports.create(export_id, camera_id, start, end, created_by, hold_id,
                                                 covered_s=covered.covered_s, missing_s=covered.missing_s,
                                                 gaps=covered.gaps)
        self._done[export_id] = asyncio.Event()
        self._queue.put_nowait(export_id)
        logger.info("export %s of %s %s..%s queued (%d segment(s), %.1f s without footage, hold %d) by %s",
                    export_id, camera_id, _iso(start), _iso(end), len(segments), covered.missing_s, hold_id,
                    created_by)
        return export

    async def cancel(self, export_id: str) -> bool:
        """Stop an export queued or running here and wait until the worker has let go of it; return whether it was."""
        event = self._done.get(export_id)
        if event is None:
            return False
        self._cancelled.add(export_id)
        running = self._running
        if running is not None and running[0] == export_id:
            running[1].set()  # the remux thread stops at its next cancel check and removes its partial file
            await event.wait()
        else:  # still queued: the worker skips it when its turn comes
            self._done.pop(export_id, None)
            event.set()
        return True

    async def wait(self, export_id: str) -> Export:
        """Wait until an export queued here is done or failed; return it."""
        event = self._done.get(export_id)
        if event is not None:
            await event.wait()
        export = await self.store.exports.get(export_id)
        if export is None:
            raise FootageError(404, "not_found", f"no export {export_id!r}")
        return export

    def _free_bytes(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    async def _work(self) -> None:
        while True:
            export_id = await self._queue.get()
            try:
                await self._run(export_id)
            finally:
                event = self._done.pop(export_id, None)
                if event is not None:
                    event.set()

    async def _run(self, export_id: str) -> None:
        export = await self.store.exports.get(export_id)
        if export is None or export.status != "queued" or export_id in self._cancelled:
            self._cancelled.discard(export_id)
            return
        cancel = threading.Event()
        if self._cancel.is_set():
            cancel.set()
        self._running = (export_id, cancel)
        try:
            await self._remux(export, cancel)
        finally:
            self._running = None
            self._cancelled.discard(export_id)

    async def _remux(self, export: Export, cancel: threading.Event) -> None:
        export_id = export.id
        await self.store.exports.set_progress(export_id, 0.0)
        segments = await self.store.segments.for_camera(export.camera_id, export.start_at, export.end_at)
        stamps = f"{local_stamp(export.start_at, self.zone)}_{local_stamp(export.end_at, self.zone)}"
        name = f"{export.camera_id}_{stamps}_{export_id}.mp4"
        final = self.dir / name
        part = final.with_name(name + ".part")
        shared = {"progress": 0.0}

        def report(value: float) -> None:
            shared["progress"] = value

        def job() -> tuple[RemuxResult, str]:
            result = remux_range(self.data_dir, segments, export.start_at, export.end_at, part,
                                 progress=report, cancel=cancel)
            digest = file_sha256(part)
            os.replace(part, final)
            return result, digest

        started = time.perf_counter()
        work = asyncio.ensure_future(asyncio.to_thread(job))
        try:
            while not work.done():
                await asyncio.wait({work}, timeout=PROGRESS_EVERY_S)
                if not work.done():
                    await self.store.exports.set_progress(export_id, shared["progress"])
            result, digest = work.result()
        except asyncio.CancelledError:
            cancel.set()
            with contextlib.suppress(BaseException):
                await work  # the thread stops at its next cancel check and removes its partial file
            await asyncio.shield(self.store.exports.finish(export_id,
                                                           error=f"{INTERRUPTED_CODE}: interrupted by shutdown"))
            raise
        except RemuxCancelled:
            logger.info("export %s stopped: it was deleted while running", export_id)
            await asyncio.to_thread(part.unlink, missing_ok=True)
            await self.store.exports.finish(export_id, error="cancelled: deleted while running")
            return
        except Exception as exc:
            message = exc.message if isinstance(exc, FootageError) else f"{type(exc).__name__}: {exc}"
            code = (exc.code if isinstance(exc, FootageError)
                    else "insufficient_storage" if isinstance(exc, OSError) and exc.errno == errno.ENOSPC
                    else EXPORT_FAILED_CODE)
            logger.error("export %s failed (%s): %s", export_id, code, message)
            await asyncio.to_thread(part.unlink, missing_ok=True)
            await self.store.exports.finish(export_id, error=f"{code}: {message}")
            return
        rel = str(final.relative_to(self.data_dir))
        if self.signing is not None and self.signing.current.signer is not None:
            await self._sign(export, rel, result.size, digest)
        await self.store.exports.finish(export_id, path=rel, size=result.size, sha256=digest)
        logger.info("export %s done: %d frames, %.1f MB, %.1f s, sha256 %s", export_id, result.packets,
                    result.size / 1e6, time.perf_counter() - started, digest)

    async def _sign(self, export: Export, rel: str, size: int, digest: str) -> None:
        """Write the export's signed manifest beside it before it is marked done (a failure is kept, not raised)."""
        from dataclasses import replace

        # Imported here: recordings.signing imports this module (file_sha256).
        from recordings.signing import SigningError, export_manifest, write_signed_manifest_async

        assert self.signing is not None and self.signing.current.signer is not None
        done = replace(export, status="done", path=rel, bytes=size, sha256=digest, finished_at=self._clock())
        camera = await self.store.cameras.get(export.camera_id)
        hold = await self.store.holds.get(export.hold_id) if export.hold_id is not None else None
        reason = hold.reason.removeprefix(f"export {export.id}: ") if hold is not None else None
        started = time.perf_counter()
        try:
            manifest = export_manifest(done, camera_name=camera.name if camera else None, reason=reason,
                                       timezone=self.zone.key)
            out = await write_signed_manifest_async(self.dir, manifest, self.signing.current.signer)
        except SigningError as exc:
            self.sign_errors[export.id] = exc
            logger.error("export %s: its manifest was not signed: %s", export.id, exc.message)
            return
        logger.info("export %s: signed manifest %s (%.2f s)", export.id, out.signature_path.name,
                    time.perf_counter() - started)
