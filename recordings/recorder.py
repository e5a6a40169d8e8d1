"""Camera recorders: every camera's main stream recorded as segments, in the mode its config or schedule says.

``Recorders`` is a camera-manager stream listener: when a camera's ``main`` stream starts it runs a
``CameraRecorder`` for it unless the camera's mode is ``off``. A ``CameraRecorder`` owns an engine sink on
the stream's source, its ``SegmentWriter`` thread, and a task that indexes what the writer finishes (with
the motion score and heatmap the motion analyser reports for its span).

The sink is a ``RecorderSink``: instead of queueing frames for a task to ``await sink.next()`` and pass
on (two loop wake-ups and a thread wake-up per frame — measured as most of the recorder's CPU), its
``offer`` appends each frame straight to the writer's queue, which the writer thread drains a few times a
second. The queue stays bounded (``capacity``, deep: the writer may pause for an fsync): a writer that falls
that far behind loses what it had not taken and restarts on the next keyframe, which it records as a gap.

Modes: ``continuous`` and ``motion`` both write every segment — the mode is stored on each row and
retention later deletes motion-mode segments without motion (after the padding window); ``off`` writes
nothing (the sink is detached, so an off camera costs the recorder nothing). A mode change — from the
scheduler action ``recording.set_mode`` (args ``camera``, ``mode``) or ``Recorders.set_mode`` — applies at
the next segment boundary. Schedule windows survive restarts: at start-up the mode each camera's most recent
``recording.set_mode`` occurrence set is applied again (``scheduled_modes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from mediaserver.config import RecordSettings, is_ident
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.scheduler import JobContext, next_run
from mediaserver.storage import Store
from mediaserver.storage.repos import Conflict, Job, Segment
from mediaserver.storage.segments import Fenced
from recordings.segmenter import MODES, FinishedSegment, Mode, SegmentWriter, WriterEvent

if TYPE_CHECKING:
    from cameras.ingest import CameraIngest
    from cameras.manager import ManagedCamera

logger = logging.getLogger(__name__)

SET_MODE_ACTION = "recording.set_mode"
RECORDED_STREAM = "main"
# The recorder's sink queue: at 25 fps, 24 s of frames — an fsync or a slow disk never makes it drop.
SINK_CAPACITY_FRAMES = 600
# Longest stop() waits for the writer thread to finish its last segment (a hung disk must not hang shutdown).
STOP_TIMEOUT_S = 15.0

# (score, heatmap) of a camera's motion over [start, end]: the heatmap format is mediaserver.storage.heatmap's.
MotionResult = tuple[float, bytes | None]
MotionSummary = Callable[[str, float, float], MotionResult | Awaitable[MotionResult]]
# Told (on the loop) about every segment once it is indexed, e.g. to ask retention for a disk check.
SegmentListener = Callable[[FinishedSegment], None]
# Why new footage cannot be kept right now, and since when (UTC epoch s): retention's disk-full alarm; None: it can.
BlockedReason = Callable[[], tuple[str, float] | None]
# The recorder state shown while retention cannot keep new footage (the console: "không ghi được: đĩa đầy").
DISK_FULL_STATE = "disk_full"


def check_mode(mode: object, where: str) -> Mode:
    """Return ``mode`` if it is a recording mode; raise ValueError naming ``where`` otherwise."""
    if mode not in MODES:
        raise ValueError(f"{where}: unknown recording mode {mode!r} (expected one of: {', '.join(MODES)})")
    return mode


def _last_fire(job: Job, now: float) -> float | None:
    """Return when ``job`` last fired (or was due) at or before ``now``; None if it has not yet."""
    if job.kind == "cron":
        zone = ZoneInfo(job.timezone)
        prev: datetime = croniter(job.spec, datetime.fromtimestamp(now, zone)).get_prev(datetime)
        return prev.timestamp()
    if job.kind == "once":
        at = next_run("once", job.spec, job.timezone, -math.inf)
        return at if at is not None and at <= now else None
    return job.last_run_at  # interval jobs: their last recorded run


def scheduled_modes(jobs: Iterable[Job], now: float) -> dict[str, Mode]:
    """Return, per camera, the mode its most recent ``recording.set_mode`` occurrence set (schedule windows)."""
    latest: dict[str, tuple[float, Mode]] = {}
    for job in jobs:
        if job.action != SET_MODE_ACTION or not job.enabled:
            continue
        try:
            cameras, mode = _set_mode_args(job.args, f"job {job.id}")
            fired = _last_fire(job, now)
        except (ValueError, KeyError) as exc:
            logger.warning("ignoring scheduled recording mode: %s", exc)
            continue
        if fired is None:
            continue
        for cam in cameras:
            if cam not in latest or fired > latest[cam][0]:
                latest[cam] = (fired, mode)
    return {cam: mode for cam, (_, mode) in latest.items()}


def _set_mode_args(args: dict[str, Any], where: str) -> tuple[list[str], Mode]:
    """Validate ``recording.set_mode`` args: ``camera`` (an id or a list of ids) and ``mode``."""
    camera = args.get("camera")
    cameras = [camera] if isinstance(camera, str) else camera
    if not isinstance(cameras, list) or not cameras or not all(isinstance(c, str) and is_ident(c)
                                                                for c in cameras):
        raise ValueError(f"{where}: args.camera must be a camera id or a list of them, got {camera!r}")
    return cameras, check_mode(args.get("mode"), f"{where}: args.mode")


class RecorderSink(Sink):
    """An engine sink whose frames go straight to a segment writer's queue (bounded by ``capacity``)."""

    def __init__(self, engine: Engine, sink_id: str, writer: SegmentWriter, capacity: int) -> None:
        super().__init__(engine, sink_id, "video", capacity)
        self.writer = writer
        self._keyframe_wait = True

    def attach(self, source: Source | None) -> None:
        """Follow ``source`` (None: none), starting on its next keyframe; never a pending switch."""
        if source is not self.source:
            self._keyframe_wait = True
            if self.source is not None and source is not None:
                super().attach(None)  # the writer sees the timestamp jump and starts a new segment
        super().attach(source)

    def offer(self, source: Source, frame: EncodedFrame) -> None:
        """Hand a frame of our source to the writer (called by Source.publish; never blocks)."""
        if self.closed or source is not self.source:
            return
        if self._keyframe_wait:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._keyframe_wait = False
        writer = self.writer
        if writer.backlog >= self.capacity:  # the writer fell behind (a stuck disk): restart on a keyframe
            self.frames_dropped += writer.drop_backlog()
            if not frame.keyframe:
                self.frames_dropped += 1
                self._keyframe_wait = True
                return
        writer.put(frame, source.codec)
        self.frames_out += 1

    def queued(self) -> int:
        """Return the frames the writer has not taken yet."""
        return self.writer.backlog


class CameraRecorder:
    """Records one camera stream: sink → writer thread → index task; ``stop()`` is idempotent."""

    def __init__(self, camera_id: str, stream: str, ingest: CameraIngest, engine: Engine, store: Store,
                 data_dir: Path, settings: RecordSettings, mode: Mode, *,
                 motion_summary: Callable[[], MotionSummary | None] = lambda: None,
                 on_segment: Callable[[], SegmentListener | None] = lambda: None,
                 sink_capacity: int = SINK_CAPACITY_FRAMES, node_id: str | None = None) -> None:
        self.camera_id = camera_id
        self.node_id = node_id  # a cluster's node whose disk this is (segments say so); None: one node
        self.stream = stream
        self.ingest = ingest
        self.engine = engine
        self.store = store
        self.data_dir = data_dir
        self.settings = settings
        self.mode: Mode = mode
        self._motion_summary = motion_summary
        self._on_segment = on_segment
        self._sink_capacity = sink_capacity
        self._sink: RecorderSink | None = None
        self._writer: SegmentWriter | None = None
        self._events: asyncio.Queue[WriterEvent] = asyncio.Queue()
        self._events_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_lock = asyncio.Lock()
        self._started = False
        self._stopped = False
        # status (loop side)
        self.state = "starting"  # starting → recording | waiting (no keyframe yet) | off | stopped | failed
        self.segment_started_at: float | None = None
        self.segments_written = 0
        self.bytes_written = 0
        self.last_segment_end: float | None = None
        self.last_error: str | None = None

    async def start(self) -> None:
        """Start the writer thread and the tasks, and attach the sink to the camera stream."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        last = await self.store.segments.last_for_stream(self.camera_id, self.stream)
        self.last_segment_end = last.end_at if last is not None else None
        self._writer = SegmentWriter(self.data_dir, self.camera_id, self.stream, self._report,
                                     segment_s=self.settings.segment_seconds, mode=self.mode,
                                     prev_end=self.last_segment_end, codec=self.ingest.source.codec)
        self._writer.start()
        self._events_task = asyncio.create_task(self._run_events(), name=f"recorder-index-{self.camera_id}")
        self._sink = RecorderSink(self.engine, f"recorder/{self.camera_id}/{self.stream}", self._writer,
                                  self._sink_capacity)
        self.state = "waiting"
        if self.mode != "off":
            self.ingest.attach_sink(self._sink)

    def set_mode(self, mode: Mode) -> None:
        """Switch mode at the next segment boundary ('off': no further segment; the sink detaches)."""
        mode = check_mode(mode, f"camera {self.camera_id}")
        if mode == self.mode or self._writer is None or self._sink is None or self._stopped:
            self.mode = mode
            return
        was_off, self.mode = self.mode == "off", mode
        self._writer.set_mode(mode)
        if was_off:  # frames flow again, starting with the camera's cached GOP
            self.ingest.attach_sink(self._sink)
        logger.info("camera %s: recording mode %s from the next segment", self.camera_id, mode)

    async def stop(self) -> None:
        """Finish the current segment (close, rename, index) and stop every task and the thread; idempotent."""
        async with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if self._sink is not None:
                self._sink.close()  # no more frames; what the writer already holds is still written
            if self._writer is not None:
                self._writer.close()
            if self._events_task is not None:
                try:
                    await asyncio.wait_for(self._events_task, STOP_TIMEOUT_S)
                except TimeoutError:
                    logger.error("camera %s: the segment writer did not finish within %.0f s", self.camera_id,
                                 STOP_TIMEOUT_S)
            self.state = "stopped"
            self.segment_started_at = None

    @property
    def sink(self) -> RecorderSink | None:
        """Return the recorder's engine sink (once started)."""
        return self._sink

    def status(self) -> dict[str, Any]:
        """Return the recorder's mode, state, current segment start, totals and last error."""
        return {"mode": self.mode, "state": self.state, "segment_started_at": self.segment_started_at,
                "segments_written": self.segments_written, "bytes_written": self.bytes_written,
                "last_segment_end": self.last_segment_end, "last_error": self.last_error}

    # ------------------------------------------------------------------------------ tasks

    def _report(self, event: WriterEvent) -> None:
        """Called on the writer thread: hand the event to the loop."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    async def _run_events(self) -> None:
        """Track the writer's state and index every segment it finishes, in order."""
        while True:
            event = await self._events.get()
            if event.kind == "exited":
                if not self._stopped:
                    self.state = "failed"
                    logger.error("camera %s: the segment writer stopped unexpectedly", self.camera_id)
                return
            if event.kind == "opened":
                self.state, self.segment_started_at = "recording", event.start
            elif event.kind == "finished" and event.segment is not None:
                self.segment_started_at = None
                await self._index(event.segment)
            elif event.kind == "error":
                self.last_error = event.message
                logger.warning("camera %s: recording: %s", self.camera_id, event.message)
            elif event.kind == "idle":
                self.state, self.segment_started_at = "off", None
                if self.mode == "off" and self._sink is not None:
                    self._sink.attach(None)  # an off camera costs the recorder nothing

    async def _index(self, seg: FinishedSegment) -> None:
        """Index a finished segment with the motion analyser's score and heatmap for its span."""
        self.segments_written += 1
        self.bytes_written += seg.bytes
        self.last_segment_end = seg.end
        score, heatmap = 0.0, None
        summary = self._motion_summary()
        if summary is not None:
            try:
                result = summary(self.camera_id, seg.start, seg.end)
                score, heatmap = await result if inspect.isawaitable(result) else result
            except Exception:
                logger.exception("camera %s: motion summary failed; segment indexed without it", self.camera_id)
        row = Segment(0, self.camera_id, seg.stream, None, None, seg.path, seg.start, seg.end, seg.bytes,
                      seg.keyframes, float(score), "video", seg.codec, seg.mode, False, seg.gap_before,
                      self.node_id)
        try:
            await self.store.segments.add(row, heatmap, pre_padding_s=self.settings.pre_padding_s,
                                          post_padding_s=self.settings.post_padding_s)
        except Fenced as exc:
            # Another node has recorded this camera since before this segment ended: this copy would overlap.
            self.last_error = str(exc)
            logger.warning("camera %s: %s; file removed", self.camera_id, exc)
            await asyncio.to_thread((self.data_dir / seg.path).unlink, missing_ok=True)
        except Conflict as exc:
            self.last_error = str(exc)
            logger.warning("camera %s: %s", self.camera_id, exc)
        except Exception as exc:  # the file is complete on disk: start-up reconciliation will index it
            self.last_error = f"cannot index {seg.path}: {exc}"
            logger.error("camera %s: %s", self.camera_id, self.last_error)
        listener = self._on_segment()
        if listener is not None:
            try:
                listener(seg)
            except Exception:
                logger.exception("camera %s: segment listener failed", self.camera_id)


class Recorders:
    """Follows camera streams (a CameraManager listener) and records each camera's main stream."""

    def __init__(self, store: Store, engine: Engine, data_dir: Path, *,
                 motion_summary: MotionSummary | None = None, sink_capacity: int = SINK_CAPACITY_FRAMES) -> None:
        self.store = store
        self.engine = engine
        self.data_dir = data_dir
        # The motion analyser's per-segment (score, heatmap) for [start, end]; set by the app when it runs.
        self.motion_summary = motion_summary
        # Told about every finished segment (the app asks retention for a disk check).
        self.on_segment: SegmentListener | None = None
        # Retention's disk-full alarm (set by the app): while it holds, recording cameras show disk_full.
        self.blocked: BlockedReason | None = None
        self.sink_capacity = sink_capacity
        self.node_id: str | None = None  # set by the app in a cluster: every segment names the node it is on
        self._streams: dict[str, tuple[ManagedCamera, CameraIngest]] = {}
        self._recorders: dict[str, CameraRecorder] = {}
        self._modes: dict[str, Mode] = {}  # set at run time (schedule, API); wins over the config
        self._lock = asyncio.Lock()
        self._stopped = False

    # ------------------------------------------------------------------------------ listener

    async def stream_started(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """Start recording a camera's main stream (unless its mode is off)."""
        if stream != RECORDED_STREAM:
            return
        async with self._lock:
            if self._stopped:
                return
            old = self._recorders.pop(cam.id, None)
            if old is not None:
                await old.stop()
            self._streams[cam.id] = (cam, ingest)
            await self._apply(cam.id)

    async def stream_stopping(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """Finish the camera's current segment before its ingest stops."""
        if stream != RECORDED_STREAM:
            return
        async with self._lock:
            entry = self._streams.get(cam.id)
            if entry is None or entry[1] is not ingest:
                return
            del self._streams[cam.id]
            rec = self._recorders.pop(cam.id, None)
        if rec is not None:
            await rec.stop()

    # ------------------------------------------------------------------------------ modes

    def mode_of(self, camera_id: str) -> Mode | None:
        """Return the mode in force for a camera (run-time setting, else its config); None if unknown."""
        if camera_id in self._modes:
            return self._modes[camera_id]
        entry = self._streams.get(camera_id)
        return (entry[0].config.record or RecordSettings()).mode if entry is not None else None

    async def set_mode(self, camera_id: str, mode: str) -> None:
        """Record ``camera_id`` in ``mode`` from its next segment boundary; LookupError if the camera is unknown."""
        checked = check_mode(mode, f"camera {camera_id}")
        if camera_id not in self._streams and await self.store.cameras.get(camera_id) is None:
            raise LookupError(f"unknown camera {camera_id!r}")
        async with self._lock:
            self._modes[camera_id] = checked
            await self._apply(camera_id)

    async def restore_modes(self, jobs: Iterable[Job], now: float | None = None) -> dict[str, Mode]:
        """Apply the modes the schedule's most recent occurrences set (after a restart); return them."""
        modes = scheduled_modes(jobs, time.time() if now is None else now)
        async with self._lock:
            for camera_id, mode in modes.items():
                self._modes[camera_id] = mode
                await self._apply(camera_id)
        if modes:
            logger.info("recording modes from the schedule: %s",
                        ", ".join(f"{c}={m}" for c, m in sorted(modes.items())))
        return modes

    async def run_set_mode(self, ctx: JobContext) -> None:
        """Scheduler action ``recording.set_mode``: args ``camera`` (id or list) and ``mode``."""
        cameras, mode = _set_mode_args(ctx.args, f"{SET_MODE_ACTION} (job {ctx.job_id})")
        for camera_id in cameras:
            await self.set_mode(camera_id, mode)

    async def _apply(self, camera_id: str) -> None:
        """Make the camera's recorder match its mode (called with the lock held)."""
        entry = self._streams.get(camera_id)
        mode = self.mode_of(camera_id)
        if entry is None or mode is None or self._stopped:
            return
        cam, ingest = entry
        rec = self._recorders.get(camera_id)
        if rec is not None:
            rec.set_mode(mode)
            return
        if mode == "off":
            return
        settings = cam.config.record or RecordSettings()
        rec = CameraRecorder(camera_id, RECORDED_STREAM, ingest, self.engine, self.store, self.data_dir, settings,
                             mode, motion_summary=lambda: self.motion_summary, on_segment=lambda: self.on_segment,
                             sink_capacity=self.sink_capacity, node_id=self.node_id)
        self._recorders[camera_id] = rec
        await rec.start()

    # ------------------------------------------------------------------------------ status, stop

    def status(self, camera_id: str) -> dict[str, Any] | None:
        """Return a camera's recorder status (mode, state, current segment, totals, last error); None if unknown."""
        rec = self._recorders.get(camera_id)
        if rec is not None:
            return self._with_block(rec.status())
        mode = self.mode_of(camera_id)
        if mode is None:
            return None
        return {"mode": mode, "state": "off" if mode == "off" else "stopped", "segment_started_at": None,
                "segments_written": 0, "bytes_written": 0, "last_segment_end": None, "last_error": None,
                "disk_full_since": None}

    def _with_block(self, status: dict[str, Any]) -> dict[str, Any]:
        """Show a camera that writes footage retention cannot keep as ``disk_full``, with since-when and why."""
        block = self.blocked() if self.blocked is not None else None
        status["disk_full_since"] = None
        if block is not None and status["state"] in ("recording", "waiting"):
            message, since = block
            status.update(state=DISK_FULL_STATE, disk_full_since=since, last_error=message)
        return status

    def blocked_cameras(self) -> dict[str, float]:
        """Return the cameras whose footage cannot be kept now, with since when."""
        return {cid: st["disk_full_since"] for cid, st in self.statuses().items() if st["state"] == DISK_FULL_STATE}

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Return every known camera's recorder status."""
        ids = set(self._streams) | set(self._recorders)
        return {cid: st for cid in sorted(ids) if (st := self.status(cid)) is not None}

    def recorder(self, camera_id: str) -> CameraRecorder | None:
        """Return a camera's running recorder."""
        return self._recorders.get(camera_id)

    async def stop(self) -> None:
        """Finish every camera's current segment and stop all recorders; idempotent."""
        async with self._lock:
            self._stopped = True
            recs = list(self._recorders.values())
            self._recorders.clear()
            self._streams.clear()
        await asyncio.gather(*(r.stop() for r in recs), return_exceptions=True)


__all__ = ["DISK_FULL_STATE", "SET_MODE_ACTION", "SINK_CAPACITY_FRAMES", "BlockedReason", "CameraRecorder",
           "MotionResult", "MotionSummary", "RecorderSink", "Recorders", "SegmentListener", "check_mode",
           "scheduled_modes"]
