"""The motion analysers: per camera, decode the sub stream, detect motion, index events as they happen.

``MotionAnalysers`` is a camera ``StreamListener``: for every camera with motion enabled it analyses the
``sub`` stream (the ``main`` stream when the camera has no sub stream) with one ``CameraAnalyser``:

    ingest source ──► engine Sink ──► pump task (loop) ──► backlog ──► worker thread: decode every frame,
                                                                        detect at analysis_fps, events
                                                        writer task (loop) ◄── event start/end + JPEG
                                                        index: events.add/update, segments.mark_motion

Threading, and why: decoding and detection are CPU work that must never run on the event loop. Each
camera gets exactly **one** worker thread for its whole life, because an H.264 decoder is a sequential
state machine (every P-frame depends on the previous frames): one thread per camera owns its decoder with
no locking and no reordering, whereas a shared pool would have to serialise each camera's frames anyway.
PyAV's decode and OpenCV release the GIL, so the threads of many cameras use every core; the decoder runs
with ``thread_count=1`` (FFmpeg's own threads would multiply threads per camera for no gain at 640x360).
Measured (``benchmarks/bench_motion.py``, 640x360 25 fps sub streams, process pinned to one core): 48
cameras — 48 worker threads — kept up at 5 fps using ~0.4 core with ~700 context switches a second in all;
detection added ~17 % to decoding alone through the same plumbing. Decoding, not the thread per camera, is
what bounds the cameras one core can analyse (~120 here).

The loop side costs one task wake-up per frame (the sink), and wakes the worker only when a frame is due
for analysis (or a few frames have accumulated), so the worker runs ``analysis_fps`` times a second and
decodes the frames in between in one go. Queues are bounded: a worker that falls too far behind drops its
backlog and resumes at the next keyframe (the decoder needs an unbroken chain from one).

Events are indexed as they happen: ``store.events.add`` when an event starts (with a JPEG thumbnail of the
peak frame so far), ``update`` when it ends (end, peak score, zones, boxes, the peak frame's thumbnail at
``thumbnails/<camera>/<event id>.jpg``), and the camera's segments are marked as holding motion (with the
recording paddings) at both moments. Each camera keeps a short history of analysed frames (time, score,
moved cells) so the recorder can ask ``summary(camera, start, end)`` for a closed segment's peak score and
heatmap; the history outlives the analyser so a last segment closed at shutdown is still summarised.

Objects (when the camera's ``objects`` are enabled and a shared ``DetectionPool`` is given): while motion is in
progress (a candidate or an event), at most ``objects.detect_fps`` analysed frames a second are converted to
BGR and cut into at most two square crops around the motion (``regions``), which go to the pool — never
waiting: a full pool is a skipped frame, counted. The pool's thread maps the crops' detections back to the
frame, deduplicates and filters them (cameras/detect/objects.py) and posts the kept objects to the index
writer, which joins them to the motion event and writes its review item and snapshot (ReviewWriter).
``activity()`` is what the live badges show: motion now, and the objects seen in the last few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import av
import av.error
import cv2
import numpy as np

from cameras.detect.model import Detection, ModelUnavailable, weights_dir
from cameras.detect.objects import DetectSchedule, LiveKeys, ObjectHit, crops_of, keep
from cameras.detect.offline import LabelledEvent
from cameras.detect.pool import DetectionPool
from cameras.detect.regions import PixelBox
from cameras.detect.review_writer import ReviewWriter
from cameras.motion.detector import BackgroundDetector, Detector, Luma, MotionResult
from cameras.motion.events import EventTracker, Step, TrackedEvent
from mediaserver.config import DetectionSettings, MotionSettings, ObjectSettings, RecordSettings
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.storage import Store
from mediaserver.storage.heatmap import HEATMAP_CELLS, HEATMAP_H, HEATMAP_W, CellMask, encode

if TYPE_CHECKING:
    from cameras.ingest import CameraIngest
    from cameras.manager import ManagedCamera

logger = logging.getLogger(__name__)

HISTORY_S = 600.0  # analysed-frame history kept per camera for summary() (segments are at most 120 s)
SINK_CAPACITY_FRAMES = 64  # the engine sink's queue (the pump drains it every frame)
BACKLOG_MAX_FRAMES = 100  # a worker this far behind drops its backlog and resumes at a keyframe
WAKE_BATCH_FRAMES = 8  # wake the worker at least every this many frames, even if none is due
ANALYSE_SLACK_S = 0.02  # a frame this close to its due time is analysed (arrival jitter)
THUMBNAIL_DIR = "thumbnails"
JPEG_QUALITY = 80
STATS_WINDOW_S = 5.0
THREAD_JOIN_POLL_S = 0.005
IDLE_CHECK_S = 1.0  # with no frames, the worker checks this often whether an open event should end
WRITES_DRAIN_TIMEOUT_S = 10.0
# A snapshot from the analysed stream is served only if its picture is at most this old.
SNAPSHOT_MAX_AGE_S = 10.0
ACTIVITY_WINDOW_S = 5.0  # an object seen this recently is still "in view" for the live badges
DETECT_DRAIN_TIMEOUT_S = 5.0  # at stop, wait this long for the pool to answer the frames already sent
DETECT_MS_KEPT = 64  # recent per-crop detection times kept for the stats
PTS_PER_S = 1_000_000  # packets carry their wall time as pts in µs, so reordered pictures keep theirs
_DECODERS = {"h264": "h264", "h265": "hevc", "hevc": "hevc"}
# Decoder output formats whose first plane is 8-bit luma, one byte per pixel.
LUMA_FIRST_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12",
                                "nv21", "gray"})


class FrameFeed(Protocol):
    """What an analyser attaches to: a camera ingest (or anything with its source and a primed attach)."""

    source: Source

    def attach_sink(self, sink: Sink) -> int:
        """Attach ``sink`` to the source, priming it with the cached GOP."""


DetectorFactory = Callable[[MotionSettings, str], Detector]


def default_detector(settings: MotionSettings, camera_id: str) -> Detector:
    """Return the default detector for a camera (raises ValueError naming a bad mask or zone)."""
    return BackgroundDetector(settings, name=f"camera {camera_id!r}")


@dataclass(frozen=True, slots=True)
class AnalyserStats:
    """A snapshot of one camera analyser's work."""

    camera_id: str
    stream: str
    running: bool
    frames_decoded: int
    frames_analysed: int
    frames_dropped: int  # dropped because the worker fell behind (or could not be decoded)
    decode_errors: int
    analysed_fps: float
    decode_ms: float  # mean CPU per decoded frame over the last window
    detect_ms: float  # mean CPU per analysed frame over the last window
    events: int
    lighting_changes: int
    backlog: int
    object_frames: int = 0  # frames sent to the object detector
    object_skipped: int = 0  # frames whose crops the pool refused (full) or could not detect
    objects_kept: int = 0  # objects kept after the filters
    object_ms: float = 0.0  # mean detector time per crop over the recent ones
    review_items_written: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the stats as plain JSON-able values."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


# ------------------------------------------------------------------------------------------ history


class MotionHistory:
    """A camera's recent analysed frames (time, score, moved cells), thread-safe; answers ``summary``."""

    def __init__(self, keep_s: float = HISTORY_S) -> None:
        self.keep_s = keep_s
        self._frames: deque[tuple[float, float, bytes | None]] = deque()
        self._lock = threading.Lock()

    def add(self, t: float, score: float, cells: CellMask | None) -> None:
        """Record one analysed frame (``cells`` None: nothing moved)."""
        packed = np.packbits(cells).tobytes() if cells is not None else None
        with self._lock:
            self._frames.append((t, score, packed))
            horizon = t - self.keep_s
            while self._frames and self._frames[0][0] < horizon:
                self._frames.popleft()

    def summary(self, start: float, end: float) -> tuple[float, bytes | None]:
        """Return the peak score and heatmap of frames in [start, end); (0.0, None) when none was analysed."""
        with self._lock:
            window = []
            for item in reversed(self._frames):  # recent windows are asked for: walk back from the newest
                if item[0] < start:
                    break
                if item[0] < end:
                    window.append(item)
        if not window:
            return 0.0, None
        counts = np.zeros(HEATMAP_CELLS, dtype=np.uint32)
        for _, _, packed in window:
            if packed is not None:
                counts += np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=HEATMAP_CELLS)
        peak = max(score for _, score, _ in window)
        return peak, encode(counts.reshape(HEATMAP_H, HEATMAP_W), len(window))


# ------------------------------------------------------------------------------------------ one camera


def _mean(values: Sequence[float]) -> float:
    """Return the mean of ``values`` rounded to 0.01 (0.0 for none)."""
    return round(sum(values) / len(values), 2) if values else 0.0


def luma_view(picture: av.VideoFrame) -> Luma:
    """Return a decoded picture's Y plane as a (height, width) uint8 view (no copy; rows keep their stride)."""
    if picture.format.name not in LUMA_FIRST_FORMATS:  # e.g. 10-bit H.265: convert (rare, and costs more)
        picture = picture.reformat(format="gray")
    plane = picture.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * plane.height)
    view: Luma = rows.reshape(plane.height, plane.line_size)[:, :plane.width]
    return view


def jpeg_of(picture: av.VideoFrame) -> bytes | None:
    """Return a JPEG of a decoded picture (None if it cannot be encoded)."""
    try:
        ok, buf = cv2.imencode(".jpg", picture.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    except (ValueError, cv2.error, av.error.FFmpegError) as exc:
        logger.warning("thumbnail encoding failed: %s", exc)
        return None
    return buf.tobytes() if ok else None


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class _Write:
    """One item for a camera's index writer: an event start/end, or a detected frame's kept objects."""

    kind: str  # "start" | "end" | "objects"
    event: TrackedEvent | None
    jpeg: bytes | None
    key: int | None  # the motion's live key (LiveKeys)
    t: float = 0.0
    hits: tuple[ObjectHit, ...] = ()
    picture: Any = None  # the detected frame (BGR) when it kept objects: a snapshot candidate


class _FrameJob:
    """One frame's crops in the detection pool: collects their answers, then hands the frame on once."""

    def __init__(self, analyser: CameraAnalyser, key: int, wall: float, bgr: Any, crops: int) -> None:
        self.analyser = analyser
        self.key = key
        self.wall = wall
        self.bgr = bgr
        self.results: list[tuple[PixelBox, list[Detection]]] = []
        self.ms: list[float] = []
        self.failed = False
        self._pending = crops
        self._lock = threading.Lock()

    def callback(self, crop: PixelBox) -> Callable[[list[Detection], float], None]:
        """Return the pool's on_done for one crop."""
        def done(found: list[Detection], ms: float) -> None:
            with self._lock:
                self.results.append((crop, found))
                self.ms.append(ms)
            self._one_less()
        return done

    def refused(self) -> None:
        """Count a crop the pool refused (full)."""
        self.failed = True
        self._one_less()

    def _one_less(self) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self.analyser._frame_detected(self)


class CameraAnalyser:
    """Analyses one camera stream for motion: owns its sink, pump task, worker thread and index writer."""

    def __init__(self, camera_id: str, stream: str, settings: MotionSettings, record: RecordSettings,
                 store: Store | None, engine: Engine, data_dir: Path, history: MotionHistory, *,
                 detector: Detector | None = None, objects: ObjectSettings | None = None,
                 pool: DetectionPool | None = None, node_id: str | None = None) -> None:
        self.camera_id = camera_id
        self.node_id = node_id  # a cluster: this node, whose disk holds the event's files
        self.stream = stream
        self.settings = settings
        self.record = record
        self.store = store  # None: analyse without indexing (benchmarks)
        self.engine = engine
        self.data_dir = data_dir
        self.history = history
        self.detector = detector or default_detector(settings, camera_id)
        self.tracker = EventTracker(min_event_s=settings.min_event_s)
        self.interval_s = 1.0 / settings.analysis_fps
        self.sink = engine.new_sink(f"motion/{camera_id}/{stream}", "video", capacity=SINK_CAPACITY_FRAMES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source: Source | None = None
        # loop side
        self._pump_task: asyncio.Task[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._writes: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._next_due = 0.0
        self._since_wake = 0
        self._need_keyframe = False
        self._started = False
        self._stopped = False
        self._stop_lock = asyncio.Lock()
        self._thread: threading.Thread | None = None
        self._thread_done: asyncio.Future[None] | None = None
        # shared with the worker (under _cond)
        self._cond = threading.Condition()
        self._backlog: deque[tuple[EncodedFrame, bool, str]] = deque()  # (frame, due, codec)
        self._stop_flag = False
        # worker thread only: the picture of the peak in progress, and the peak the start thumbnail shows
        self._peak_picture: av.VideoFrame | None = None
        # The last analysed picture and its wall time (written by the worker, read by ``snapshot``): a camera
        # without a snapshot endpoint still gets thumbnails, from pictures this analyser decodes anyway.
        self._latest: tuple[float, av.VideoFrame] | None = None
        self._thumb_peak_at: float | None = None
        # statistics (counters written by one side each; reads are snapshots)
        self.frames_decoded = 0
        self.frames_analysed = 0
        self.frames_dropped = 0
        self.decode_errors = 0
        self.events = 0
        self._win: deque[tuple[float, int, int, float, float]] = deque()  # (t, decoded, analysed, dec s, det s)
        self._decode_cpu_s = 0.0
        self._detect_cpu_s = 0.0
        # objects: None when the camera's detection is off (or there is no pool)
        self.pool = pool
        self.objects = objects if pool is not None and objects is not None and objects.enabled else None
        self.review = ReviewWriter(camera_id, store, data_dir)
        self._schedule = DetectSchedule(objects.detect_fps if objects is not None else 1.0)
        self._keys = LiveKeys()  # worker thread only
        self._seq_keys: dict[int, int] = {}  # worker thread only: tracker seq -> live key
        self.object_frames = 0
        self.object_skipped = 0
        self.objects_kept = 0
        self._object_ms: deque[float] = deque(maxlen=DETECT_MS_KEPT)
        self._activity_lock = threading.Lock()
        self._motion_since: float | None = None
        self._seen: dict[str, float] = {}  # label -> wall time last kept
        self._jobs_lock = threading.Lock()
        self._jobs_out = 0  # frames sent to the pool and not yet answered
        self._jobs_idle = threading.Event()
        self._jobs_idle.set()

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self, feed: FrameFeed) -> None:
        """Attach to ``feed`` and start the pump, the writer and the worker thread; returns at once."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._source = feed.source
        self._thread_done = self._loop.create_future()
        self._thread = threading.Thread(target=self._worker, name=f"motion-{self.camera_id}", daemon=True)
        self._thread.start()
        self._writer_task = asyncio.create_task(self._write_events(), name=f"motion-index-{self.camera_id}")
        feed.attach_sink(self.sink)
        self._pump_task = asyncio.create_task(self._pump(), name=f"motion-pump-{self.camera_id}")

    async def stop(self) -> None:
        """Stop analysing: end the open event, finish index writes, end the thread; idempotent."""
        async with self._stop_lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
            self.sink.close()
            if self._pump_task is not None:
                self._pump_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pump_task
            with self._cond:
                self._stop_flag = True
                self._cond.notify()
            if self._thread is not None and self._thread_done is not None:
                await self._thread_done  # posted as the thread's very last act
                while self._thread.is_alive():  # noqa: ASYNC110 - a thread, not an asyncio event
                    await asyncio.sleep(THREAD_JOIN_POLL_S)
            if not self._jobs_idle.is_set():  # the frames in the pool still belong to this camera's events
                await asyncio.to_thread(self._jobs_idle.wait, DETECT_DRAIN_TIMEOUT_S)
            if self._writer_task is not None:
                self._writes.put_nowait(None)
                try:
                    await asyncio.wait_for(self._writer_task, WRITES_DRAIN_TIMEOUT_S)
                except TimeoutError:
                    logger.warning("camera %s: motion index writes did not finish at stop", self.camera_id)

    async def snapshot(self, max_age_s: float = SNAPSHOT_MAX_AGE_S) -> tuple[float, bytes] | None:
        """Return (wall time, JPEG) of the last analysed picture, None if there is none this recent."""
        latest = self._latest
        if latest is None or time.time() - latest[0] > max_age_s:
            return None
        jpeg = await asyncio.to_thread(jpeg_of, latest[1])
        return (latest[0], jpeg) if jpeg is not None else None

    def stats(self) -> AnalyserStats:
        """Return what this analyser has done (rates over the last few seconds)."""
        win = list(self._win)
        fps = dec_ms = det_ms = 0.0
        if len(win) >= 2:
            (t0, d0, a0, dc0, tc0), (t1, d1, a1, dc1, tc1) = win[0], win[-1]
            if t1 > t0:
                fps = (a1 - a0) / (t1 - t0)
            dec_ms = (dc1 - dc0) / (d1 - d0) * 1000 if d1 > d0 else 0.0
            det_ms = (tc1 - tc0) / (a1 - a0) * 1000 if a1 > a0 else 0.0
        lighting = getattr(self.detector, "lighting_changes", 0)
        return AnalyserStats(self.camera_id, self.stream, self._started and not self._stopped, self.frames_decoded,
                             self.frames_analysed, self.frames_dropped, self.decode_errors, round(fps, 2),
                             round(dec_ms, 3), round(det_ms, 3), self.events, int(lighting), len(self._backlog),
                             self.object_frames, self.object_skipped, self.objects_kept,
                             _mean(tuple(self._object_ms)),
                             self.review.items_written)

    def activity(self, now: float | None = None) -> dict[str, Any]:
        """Return what the camera shows now: motion (since when) and the objects kept in the last few seconds."""
        with self._activity_lock:
            since, seen = self._motion_since, dict(self._seen)
        now = time.time() if now is None else now
        labels = sorted(lb for lb, t in seen.items() if now - t <= ACTIVITY_WINDOW_S)
        return {"motion": since is not None, "objects": labels, "since": since}

    @property
    def object_events(self) -> list[LabelledEvent]:
        """Return the finished motion events with what the detector kept in them (also without a store)."""
        return self.review.object_events()

    # ------------------------------------------------------------------------------ loop side

    async def _pump(self) -> None:
        """Move frames from the sink to the worker's backlog; wake it when a frame is due for analysis."""
        while True:
            frame, _ = await self.sink.next()
            if frame.data is None:
                continue  # not a camera frame: nothing to decode
            if self._need_keyframe:
                if not frame.keyframe:
                    self.frames_dropped += 1
                    continue
                self._need_keyframe = False
            due = frame.wall + ANALYSE_SLACK_S >= self._next_due
            if due:
                # Next due one interval on; after a gap (or at start) from this frame, not in a burst.
                self._next_due = max(self._next_due + self.interval_s, frame.wall + self.interval_s / 2)
            self._since_wake += 1
            with self._cond:
                if len(self._backlog) >= BACKLOG_MAX_FRAMES:
                    self.frames_dropped += len(self._backlog)
                    self._backlog.clear()
                    if not frame.keyframe:
                        self._need_keyframe = True
                        self.frames_dropped += 1
                        continue
                # The ingest learns the codec when it connects (and again on a reconnect): pass it along.
                self._backlog.append((frame, due, self._source.codec if self._source is not None else "h264"))
                if due or self._since_wake >= WAKE_BATCH_FRAMES:
                    self._since_wake = 0
                    self._cond.notify()

    def _post(self, kind: str, event: TrackedEvent, jpeg: bytes | None, key: int | None = None) -> None:
        """Hand an event transition to the index writer (from the worker thread)."""
        self._post_write(_Write(kind, event, jpeg, key))

    def _post_write(self, item: _Write) -> None:
        """Queue an item for the index writer (from any thread)."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._writes.put_nowait, item)

    async def _write_events(self) -> None:
        """Index event starts and ends in order, save thumbnails and mark segments, off the frame path."""
        ids: dict[int, int] = {}  # tracker seq -> index id
        while True:
            item = await self._writes.get()
            if item is None:
                return
            if item.kind == "start":
                self.events += 1
            event_id: int | None = None
            if item.event is not None:
                event_id = ids.get(item.event.seq)
                if self.store is not None:
                    try:
                        event_id = await self._index(item.kind, item.event, item.jpeg, ids)
                    except Exception as exc:  # the index being unavailable must not stop the analysis
                        logger.warning("camera %s: cannot index motion event %s: %s", self.camera_id, item.kind,
                                       exc)
            try:
                await self._review_step(item, event_id)
            except Exception as exc:  # nor the review queue
                logger.warning("camera %s: cannot write a review item: %s", self.camera_id, exc)

    async def _review_step(self, item: _Write, event_id: int | None) -> None:
        """Pass an event transition or a detected frame to the review writer."""
        if item.kind == "objects":
            assert item.key is not None
            await self.review.detected(item.key, item.t, item.hits, item.picture)
        elif item.event is not None and self.objects is not None:
            if item.kind == "start":
                await self.review.started(item.key, item.event, event_id)
            else:
                await self.review.ended(item.key, item.event, event_id)

    async def _index(self, kind: str, ev: TrackedEvent, jpeg: bytes | None, ids: dict[int, int]) -> int | None:
        """Index an event's start or end; return its index id (None: its start could not be indexed)."""
        assert self.store is not None
        pre, post = self.record.pre_padding_s, self.record.post_padding_s
        if kind == "start":
            event_id = ids[ev.seq] = await self.store.events.add(
                self.camera_id, ev.start, None, ev.peak_score, sorted(ev.zones), None, ev.boxes(),
                node_id=self.node_id)
            if jpeg is not None:
                await self.store.events.update(event_id, thumbnail_path=await self._save_thumbnail(event_id, jpeg))
            await self.store.segments.mark_motion(self.camera_id, ev.start - pre, ev.last_motion + post)
            return event_id
        event_id_or_none = ids.pop(ev.seq, None)
        if event_id_or_none is None:
            return None  # its start could not be indexed
        event_id = event_id_or_none
        thumb = await self._save_thumbnail(event_id, jpeg) if jpeg is not None else None
        await self.store.events.update(event_id, end_at=ev.end, peak_score=ev.peak_score, zones=sorted(ev.zones),
                                       boxes=ev.boxes(), thumbnail_path=thumb)
        assert ev.end is not None
        await self.store.segments.mark_motion(self.camera_id, ev.start - pre, ev.end + post)
        return event_id

    async def _save_thumbnail(self, event_id: int, jpeg: bytes) -> str:
        """Write an event's thumbnail; return its path relative to the data dir."""
        rel = f"{THUMBNAIL_DIR}/{self.camera_id}/{event_id}.jpg"
        await asyncio.to_thread(_write_file, self.data_dir / rel, jpeg)
        return rel

    def _on_thread_exit(self) -> None:
        if self._thread_done is not None and not self._thread_done.done():
            self._thread_done.set_result(None)

    # ------------------------------------------------------------------------------ worker thread

    def _worker(self) -> None:
        """Decode every frame, analyse the due ones, track events (the camera's one thread)."""
        try:
            decoder: av.VideoCodecContext | None = None
            decoder_codec = ""
            due_walls: dict[int, bool] = {}
            last_wall = 0.0
            while True:
                with self._cond:
                    if not self._backlog and not self._stop_flag:
                        self._cond.wait(IDLE_CHECK_S)
                    if self._stop_flag:
                        break
                    batch = list(self._backlog)
                    self._backlog.clear()
                if not batch:
                    # No frames (the camera is offline): end an event once the hold has passed without them.
                    now = time.time()
                    if self.tracker.event is not None and now - last_wall >= self.tracker.hold_s:
                        self._handle(self.tracker.update(now, 0.0, ()), None)
                    continue
                for frame, due, codec in batch:
                    assert frame.data is not None
                    last_wall = frame.wall
                    if codec != decoder_codec:
                        decoder, decoder_codec = self._decoder(codec), codec
                    if decoder is None:
                        self.frames_dropped += 1
                        continue
                    pts = int(frame.wall * PTS_PER_S)
                    due_walls[pts] = due
                    c0 = time.thread_time()
                    try:
                        packet = av.Packet(frame.data)
                        packet.pts = pts
                        pictures = decoder.decode(packet)
                    except (av.error.FFmpegError, ValueError):
                        self.decode_errors += 1
                        self.frames_dropped += 1
                        due_walls.pop(pts, None)
                        continue
                    self._decode_cpu_s += time.thread_time() - c0
                    for picture in pictures:
                        self.frames_decoded += 1
                        pic_pts = picture.pts if picture.pts is not None else pts
                        if due_walls.pop(pic_pts, False):
                            self._analyse(picture, pic_pts / PTS_PER_S)
                    if len(due_walls) > BACKLOG_MAX_FRAMES:  # pictures the decoder never returned
                        due_walls.clear()
                self._sample_stats()
        except Exception:  # a bug: report it rather than die silently
            logger.exception("camera %s: motion worker failed", self.camera_id)
        finally:
            ended = self.tracker.finish()
            if ended is not None:
                self._post("end", ended, self._end_thumbnail(ended), self._seq_keys.pop(ended.seq, None))
            self._peak_picture = None
            self._set_motion(None)
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._on_thread_exit)

    def _decoder(self, codec: str) -> av.VideoCodecContext | None:
        """Return a new single-threaded decoder for ``codec`` (None, logged, when it cannot be analysed)."""
        name = _DECODERS.get(codec)
        if name is None:
            logger.error("camera %s: cannot analyse a %s stream for motion", self.camera_id, codec)
            return None
        decoder = cast("av.VideoCodecContext", av.CodecContext.create(name, "r"))
        decoder.thread_count = 1
        return decoder

    def _analyse(self, picture: av.VideoFrame, wall: float) -> None:
        """Detect motion in one picture and advance the events."""
        c0 = time.thread_time()
        result: MotionResult = self.detector.detect(luma_view(picture))
        self.history.add(wall, result.score, result.cells)
        self._handle(self.tracker.update(wall, result.score, result.boxes, result.zones), picture)
        self._latest = (wall, picture)
        self.frames_analysed += 1
        self._detect_cpu_s += time.thread_time() - c0
        if self.objects is not None and result.boxes:
            key = self._keys.key(self.tracker.event or self.tracker.candidate)
            if key is not None and self._schedule.due(wall):
                self._submit(picture, wall, key, result.boxes)

    def _submit(self, picture: av.VideoFrame, wall: float, key: int, boxes: Sequence[tuple[float, float, float, float]]
                ) -> None:
        """Send a frame's motion crops to the detection pool; a full pool skips the frame (counted)."""
        assert self.pool is not None and self.objects is not None
        try:
            bgr = picture.to_ndarray(format="bgr24")
        except (ValueError, av.error.FFmpegError):
            self.object_skipped += 1
            return
        crops = crops_of(bgr, boxes)
        job = _FrameJob(self, key, wall, bgr, len(crops))
        self.object_frames += 1
        with self._jobs_lock:
            self._jobs_out += 1
            self._jobs_idle.clear()
        for crop, pixels in crops:
            if not self.pool.submit(self.camera_id, pixels, job.callback(crop)):
                job.refused()

    def _frame_detected(self, job: _FrameJob) -> None:
        """Handle a frame whose crops are all answered or refused (on a pool thread); count it as answered."""
        assert self.objects is not None
        try:
            self._kept(job)
        finally:
            with self._jobs_lock:
                self._jobs_out -= 1
                if self._jobs_out == 0:
                    self._jobs_idle.set()

    def _kept(self, job: _FrameJob) -> None:
        """Filter a frame's detections, note the labels for the badges and post the kept objects."""
        assert self.objects is not None
        if job.failed:
            self.object_skipped += 1
        if not job.results:
            return
        fh, fw = job.bgr.shape[:2]
        hits = keep(job.results, fw, fh, self.objects, self.settings.zones)
        self._object_ms.extend(job.ms)
        self.objects_kept += len(hits)
        if hits:
            with self._activity_lock:
                for h in hits:  # pool workers may answer out of order: keep the latest sighting
                    self._seen[h.label] = max(job.wall, self._seen.get(h.label, job.wall))
        self._post_write(_Write("objects", None, None, job.key, job.wall, tuple(hits), job.bgr if hits else None))

    def _set_motion(self, since: float | None) -> None:
        """Set when the motion event in progress started (None: no event), for the badges."""
        with self._activity_lock:
            self._motion_since = since

    def _handle(self, step: Step, picture: av.VideoFrame | None) -> None:
        """Index what a tracker step changed; keep the picture of the peak in progress for its thumbnail."""
        if step.ended is not None:
            # The ended event's peak is the picture held before this one (a split starts anew here).
            self._post("end", step.ended, self._end_thumbnail(step.ended), self._seq_keys.pop(step.ended.seq, None))
            self._peak_picture = self._thumb_peak_at = None
        if step.peak and picture is not None:
            self._peak_picture = picture
        if step.started is not None:
            jpeg = jpeg_of(self._peak_picture) if self._peak_picture is not None else None
            self._thumb_peak_at = step.started.peak_at if jpeg is not None else None
            key = self._keys.key(self.tracker.event)  # the candidate's key: its detections are this event's
            if key is not None:
                self._seq_keys[step.started.seq] = key
            self._post("start", step.started, jpeg, key)
        if step.ended is not None or step.started is not None:
            self._set_motion(self.tracker.event.start if self.tracker.event is not None else None)
        if self.tracker.event is None and self.tracker.candidate is None:
            self._peak_picture = None  # nothing in progress: do not pin a decoded picture

    def _end_thumbnail(self, ended: TrackedEvent) -> bytes | None:
        """Return the JPEG of an ending event's peak, unless the thumbnail written at its start shows it."""
        if self._peak_picture is None or ended.peak_at == self._thumb_peak_at:
            return None
        return jpeg_of(self._peak_picture)

    def _sample_stats(self) -> None:
        now = time.monotonic()
        self._win.append((now, self.frames_decoded, self.frames_analysed, self._decode_cpu_s, self._detect_cpu_s))
        while len(self._win) > 2 and now - self._win[0][0] > STATS_WINDOW_S:
            self._win.popleft()


# ------------------------------------------------------------------------------------------ every camera


def _has_sub_stream(cam: ManagedCamera) -> bool:
    """Return whether a camera has (or will have) a sub stream, from its config or what ONVIF reported."""
    if cam.config.streams.sub_url:
        return True
    info = cam.info
    return bool(info is not None and info.sub is not None and info.sub.stream_uri)


class MotionAnalysers:
    """The motion analysis of every camera: a ``StreamListener`` the app registers with the camera manager."""

    def __init__(self, store: Store | None, engine: Engine, data_dir: Path, *,
                 detector_factory: DetectorFactory = default_detector, history_s: float = HISTORY_S,
                 detection: DetectionSettings | None = None, pool: DetectionPool | None = None) -> None:
        """Analyse cameras; ``detection`` (or a ready ``pool``, not closed here) turns object detection on."""
        self.detection = detection
        self.pool = pool
        self._own_pool = False
        self.detection_error: str | None = None  # why object detection is off (e.g. no weights installed)
        self.store = store
        self.engine = engine
        self.data_dir = data_dir
        self.node_id: str | None = None  # a cluster: this node (events are indexed as analysed here)
        self.detector_factory = detector_factory
        self.history_s = history_s
        self.analysers: dict[str, CameraAnalyser] = {}
        self.histories: dict[str, MotionHistory] = {}
        self.errors: dict[str, str] = {}  # camera id -> why it is not analysed (a bad mask or zone)
        self._stopped = False

    async def stream_started(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """Start analysing a camera's sub stream (its main stream when it has no sub stream)."""
        await self.analyse(cam.id, stream, ingest, cam.config.motion or MotionSettings(),
                           cam.config.record or RecordSettings(), has_sub=_has_sub_stream(cam),
                           objects=cam.config.objects)

    async def stream_stopping(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """Stop analysing a camera stream that is about to stop."""
        analyser = self.analysers.get(cam.id)
        if analyser is not None and analyser.stream == stream:
            del self.analysers[cam.id]
            await analyser.stop()

    async def analyse(self, camera_id: str, stream: str, feed: FrameFeed, settings: MotionSettings,
                      record: RecordSettings, *, has_sub: bool = False,
                      objects: ObjectSettings | None = None) -> CameraAnalyser | None:
        """Start analysing ``feed`` for ``camera_id`` per its settings; return the analyser (None: not analysed)."""
        if self._stopped or not settings.enabled or stream not in ("main", "sub"):
            return None
        current = self.analysers.get(camera_id)
        if stream == "main" and (has_sub or (current is not None and current.stream == "sub")):
            return None  # the sub stream is the one analysed
        try:
            detector = self.detector_factory(settings, camera_id)
            history = self.histories.setdefault(camera_id, MotionHistory(self.history_s))
            pool = self._detection_pool() if objects is not None and objects.enabled else None
            analyser = CameraAnalyser(camera_id, stream, settings, record, self.store, self.engine, self.data_dir,
                                      history, detector=detector, objects=objects, pool=pool,
                                      node_id=self.node_id)
        except ValueError as exc:
            self.errors[camera_id] = str(exc)
            logger.error("%s: motion analysis not started: %s", camera_id, exc)
            return None
        if current is not None:
            del self.analysers[camera_id]
            await current.stop()
        self.analysers[camera_id] = analyser
        self.errors.pop(camera_id, None)
        await analyser.start(feed)
        logger.info("%s: analysing the %s stream for motion at %g fps%s", camera_id, stream, settings.analysis_fps,
                    f", objects at most {objects.detect_fps:g} fps" if analyser.objects is not None and objects else "")
        return analyser

    def _detection_pool(self) -> DetectionPool | None:
        """Return the shared detection pool, made at the first camera that wants it (None: detection is off)."""
        if self.pool is not None or self.detection is None or not self.detection.enabled:
            return self.pool
        if self.detection_error is not None:
            return None
        try:
            weights_dir()  # only located here; the workers load the model off the loop, at their first job
        except ModelUnavailable as exc:
            self.detection_error = str(exc)
            logger.warning("object detection off: %s", exc)
            return None
        self.pool = DetectionPool(workers=self.detection.workers, queue_max=self.detection.queue_max,
                                  input_px=self.detection.input_px)
        self._own_pool = True
        return self.pool

    def activity(self, camera_id: str) -> dict[str, Any]:
        """Return a camera's live activity for the badges: {"motion", "objects", "since"}."""
        analyser = self.analysers.get(camera_id)
        if analyser is None:
            return {"motion": False, "objects": [], "since": None}
        return analyser.activity()

    def summary(self, camera_id: str, start: float, end: float) -> tuple[float, bytes | None]:
        """Return a camera's peak motion score and heatmap over [start, end) (UTC seconds).

        (0.0, None) when no frame of that window was analysed (motion off, camera down, window too old).
        """
        history = self.histories.get(camera_id)
        return history.summary(start, end) if history is not None else (0.0, None)

    async def snapshot(self, camera_id: str) -> tuple[float, bytes] | None:
        """Return (wall time, JPEG) of a camera's last analysed picture; None when not analysed recently."""
        analyser = self.analysers.get(camera_id)
        return await analyser.snapshot() if analyser is not None else None

    def stats(self) -> dict[str, AnalyserStats]:
        """Return every running analyser's statistics by camera id."""
        return {cid: a.stats() for cid, a in self.analysers.items()}

    async def stop(self) -> None:
        """Stop every analyser (ending open events in the index); idempotent."""
        self._stopped = True
        analysers = list(self.analysers.values())
        self.analysers.clear()
        await asyncio.gather(*(a.stop() for a in analysers), return_exceptions=True)
        if self._own_pool and self.pool is not None:
            await asyncio.to_thread(self.pool.close)  # joins the workers: off the loop


__all__ = ["AnalyserStats", "CameraAnalyser", "MotionAnalysers", "MotionHistory", "luma_view"]
