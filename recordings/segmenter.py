"""The segment writer: one camera stream's access units remuxed into fragmented MP4 files, on its own thread.

What it writes (the contract with playback, export and the tests): fragmented MP4 (``movflags
frag_keyframe+empty_moov+default_base_moof``) holding one video track copied as-is — PyAV muxes the
``av.Packet`` objects it is given; nothing is decoded or encoded. Each file is self-contained (its own
``moov``), starts with a keyframe, has its own media timeline starting at 0 (like ``ffmpeg -f segment
-reset_timestamps 1``) in a 90 kHz timescale, and is cut only on a keyframe once ``segment_s`` is reached.
It is written as ``<name>.mp4.part``, closed, fsync'd, renamed to ``<name>.mp4`` and its directory fsync'd:
after a power cut only the file being written can be incomplete (start-up reconciliation repairs it).

Time: a frame's 90 kHz ``timestamp`` (unwrapped past 2^32) is the media clock; its ``wall`` (UTC at
arrival) anchors it once per continuous run. A healthy stream's segments are contiguous on both clocks:
each frame's duration runs to the next frame's timestamp (the writer holds one frame back to know it), so a
segment's last frame ends exactly where the next segment's keyframe starts, and the next segment's wall
start is this one's wall end. The wall span follows the media duration, slewed by at most ``SLEW_MAX`` of
it towards the arrival clock so a camera whose clock drifts does not walk away from UTC. A media-clock jump
larger than ``GAP_MIN_S`` and ``GAP_FRAMES`` frame intervals (an outage, a reconnect, frames dropped) ends
the segment at its last frame; the next one starts on the next keyframe at its arrival time with
``gap_before``.

Threading, and why: muxing and file I/O (writes, fsync, rename) must never run on the event loop, and
FFmpeg's muxer is not thread-safe per container, so each recorded stream owns exactly one thread for its
whole life. The loop appends frames to a deque (``put``: no lock, no wake-up, no system call per frame);
the thread wakes every ``DRAIN_INTERVAL_S`` (or at once for a mode change or stop), takes everything queued
and writes it — a frame reaches the file at most that much later, which recording does not mind, and the
per-frame cost stays a few hundred nanoseconds on the loop. The thread reports back through ``report``
(which the owner makes post to the loop), once per segment. Nothing is logged per frame.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.container import OutputContainer
from av.video.stream import VideoStream

from mediaserver.engine import EncodedFrame
from mediaserver.engine.frames import VIDEO_CLOCK_HZ
from recordings.paths import part_path, segment_relpath

logger = logging.getLogger(__name__)

SEGMENT_S = 10.0
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# Hand each finished fragment (one GOP) to the OS at once rather than when FFmpeg's 32 KB buffer fills: a
# killed process then leaves every complete GOP in the .part file (one write per GOP, not per frame).
MUX_OPTIONS = {"movflags": MOVFLAGS, "flush_packets": "1"}
# A media-clock jump larger than both of these is an outage (the segment ends; the next has gap_before).
GAP_MIN_S = 0.5
GAP_FRAMES = 4
# Assumed frame interval until two frames have been seen (10 fps).
DEFAULT_FRAME_S = 0.1
# Largest share of a segment's media duration by which its wall span may be stretched or shrunk towards
# the arrival clock (0.2 %: 20 ms per 10 s, far above camera clock drift, far below anything visible).
SLEW_MAX = 0.002
# The arrival clock and the media-derived wall time differ by more than this: the wall clock was stepped
# (NTP, manual) — start the next segment at the arrival time as an explicit discontinuity.
CLOCK_STEP_S = 5.0
# A fresh start (after a restart or a pause) within this of the previous segment's end continues it.
CONTIGUOUS_S = 0.5
# A keyframe up to this much older than the previous segment's end is a replay of footage already recorded
# (the camera's cached GOP): skipped. Older still, the wall clock went back: recorded, as a gap.
REPLAY_MAX_S = 30.0
# How often the writer thread takes the frames queued for it (a mode change or stop wakes it at once).
DRAIN_INTERVAL_S = 0.25
# FFmpeg muxer names of the engine's codecs.
MUX_CODECS = {"h264": "h264", "h265": "hevc"}
TIME_BASE = Fraction(1, VIDEO_CLOCK_HZ)
_TS_MOD = 1 << 32

Mode = Literal["continuous", "motion", "off"]
MODES: tuple[Mode, ...] = ("continuous", "motion", "off")


@dataclass(frozen=True, slots=True)
class FinishedSegment:
    """A segment closed, renamed and ready to index."""

    camera_id: str
    stream: str
    path: str  # relative to the data dir
    start: float  # UTC epoch seconds
    end: float
    bytes: int
    frames: int
    keyframes: int
    codec: str  # 'h264' | 'h265'
    mode: str  # 'continuous' | 'motion'
    gap_before: bool


@dataclass(frozen=True, slots=True)
class WriterEvent:
    """What the writer thread tells its owner: a segment opened or finished, an error, idle, exited."""

    kind: Literal["opened", "finished", "error", "idle", "exited"]
    segment: FinishedSegment | None = None
    start: float | None = None
    message: str | None = None


class _Open:
    """The segment being written (writer thread only)."""

    __slots__ = ("codec", "container", "final", "frames", "gap_before", "keyframes", "mode", "part", "relpath",
                 "start", "start_ts", "stream")

    def __init__(self, relpath: str, final: Path, part: Path, container: OutputContainer, stream: VideoStream,
                 start: float, start_ts: int, codec: str, mode: str, gap_before: bool) -> None:
        self.relpath, self.final, self.part = relpath, final, part
        self.container, self.stream = container, stream
        self.start, self.start_ts = start, start_ts
        self.codec, self.mode, self.gap_before = codec, mode, gap_before
        self.frames = 0
        self.keyframes = 0


def frame_size(codec: str, access_unit: bytes) -> tuple[int, int]:
    """Return (width, height) from a keyframe's parameter sets with FFmpeg's parser (no decoding)."""
    ctx = av.CodecContext.create(MUX_CODECS[codec], "r")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.parse(access_unit)
    ctx.parse(b"")  # flush: the parser reports the dimensions of the unit it has completed
    return int(ctx.width), int(ctx.height)


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """Writes one camera stream's frames into fragmented MP4 segments on one owned thread."""

    def __init__(self, data_dir: Path, camera_id: str, stream: str, report: Callable[[WriterEvent], None], *,
                 segment_s: float = SEGMENT_S, mode: Mode = "continuous", prev_end: float | None = None,
                 codec: str = "h264") -> None:
        if segment_s <= 0:
            raise ValueError(f"camera {camera_id}: segment_seconds must be positive, got {segment_s!r}")
        if mode not in MODES:
            raise ValueError(f"camera {camera_id}: unknown recording mode {mode!r} (expected one of {MODES})")
        segment_relpath(camera_id, stream, 0.0)  # validates the names before any thread starts
        self.data_dir = data_dir
        self.camera_id = camera_id
        self.stream = stream
        self.segment_s = segment_s
        self._report = report
        # Appended on the loop, popped on the thread (deque appends and pops are atomic).
        self._frames: deque[tuple[EncodedFrame, str]] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._mode_request: str = mode  # set on the loop, applied by the thread
        self._thread: threading.Thread | None = None
        # ---- writer-thread state (touched by the thread only once it runs)
        self._mode: str = mode
        self._codec = codec
        self._prev_end = prev_end  # wall end of the last finished segment of this stream (also from the index)
        self._discontinuity = False  # frames were lost since _prev_end
        self._seg: _Open | None = None
        self._pending: tuple[bytes, int, bool] | None = None  # the held-back frame: (data, ts, keyframe)
        self._raw_last: int | None = None
        self._ts_last: int | None = None
        self._interval = int(DEFAULT_FRAME_S * VIDEO_CLOCK_HZ)
        self._intervals_seen = 0
        self._idle_reported = False
        self._last_error: str | None = None

    # ------------------------------------------------------------------------------ loop side

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"recorder-{self.camera_id}/{self.stream}",
                                        daemon=True)
        self._thread.start()

    def put(self, frame: EncodedFrame, codec: str) -> None:
        """Hand a frame (of ``codec``) to the writer; never blocks."""
        self._frames.append((frame, codec))

    @property
    def backlog(self) -> int:
        """Return the frames handed over and not yet taken by the thread."""
        return len(self._frames)

    def drop_backlog(self) -> int:
        """Forget the frames not yet taken (the writer fell behind); return how many."""
        n = len(self._frames)
        self._frames.clear()
        return n

    def set_mode(self, mode: Mode) -> None:
        """Record in ``mode`` from the next segment on ('off': write no further segment)."""
        if mode not in MODES:
            raise ValueError(f"camera {self.camera_id}: unknown recording mode {mode!r} (expected one of {MODES})")
        self._mode_request = mode
        self._wake.set()

    def close(self) -> None:
        """Finish the current segment and end the thread (after the frames already handed over)."""
        self._closing = True
        self._wake.set()

    @property
    def alive(self) -> bool:
        """Return whether the writer thread is running."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        try:
            frames, wake, on_frame = self._frames, self._wake, self._on_frame
            while True:
                wake.wait(DRAIN_INTERVAL_S)
                wake.clear()
                closing = self._closing  # read before draining: frames handed over before close() are written
                if self._mode_request != self._mode:
                    self._apply_mode(self._mode_request)
                while frames:
                    frame, codec = frames.popleft()
                    if codec != self._codec:
                        self._set_codec(codec)
                    on_frame(frame)
                if closing:
                    break
            self._finish()
        except Exception as exc:  # a bug: report it, never die silently
            logger.exception("camera %s/%s: segment writer failed", self.camera_id, self.stream)
            self._error(f"writer failed: {exc}")
            self._abort()
        finally:
            self._report(WriterEvent("exited"))

    def _apply_mode(self, mode: str) -> None:
        was_off, self._mode = self._mode == "off", mode
        if mode == "off" and self._seg is None:
            self._go_idle()
        elif mode != "off" and was_off:
            # Frames resume with a replay of the camera's cached GOP: start a new timeline, and let the wall
            # clock tell whether it continues the last segment.
            self._idle_reported = False
            self._raw_last = self._ts_last = None

    def _set_codec(self, codec: str) -> None:
        self._codec = codec
        if self._seg is not None:  # never mix codecs in a file: end here, restart on a keyframe
            self._finish()
            self._discontinuity = True

    def _on_frame(self, frame: EncodedFrame) -> None:
        data = frame.data
        if data is None:
            return  # not a camera frame (no access unit): nothing to record
        raw = frame.timestamp
        last = self._ts_last
        if self._raw_last is None or last is None:
            ts = raw
        else:
            d = (raw - self._raw_last) % _TS_MOD
            ts = last + (d - _TS_MOD if d >= _TS_MOD // 2 else d)  # unwrapped past 2^32 (13 h at 90 kHz)
        if last is not None:
            delta = ts - last
            gap = max(int(GAP_MIN_S * VIDEO_CLOCK_HZ), GAP_FRAMES * self._interval)
            if delta > gap or -delta > gap:
                self._finish()
                self._discontinuity = True
            elif delta <= 0:
                # Timestamps not increasing (B-frames in presentation order, or a broken camera clock): MP4
                # needs increasing decode times, so the frame is dropped rather than corrupting the file.
                self._error("timestamps not increasing (B-frames?): frames dropped")
                return
            elif self._intervals_seen == 0:
                self._interval, self._intervals_seen = delta, 1
            else:
                self._interval += (delta - self._interval) // 8
                self._intervals_seen += 1
        self._raw_last, self._ts_last = raw, ts
        seg = self._seg
        if seg is None:
            if frame.keyframe:
                self._start_fresh(frame, data, ts)
            return
        if frame.keyframe and ts - seg.start_ts >= self.segment_s * VIDEO_CLOCK_HZ - self._interval // 2:
            self._cut(frame, data, ts)
            return
        self._write_pending(ts)
        self._pending = (data, ts, frame.keyframe)

    def _start_fresh(self, frame: EncodedFrame, data: bytes, ts: int) -> None:
        """Open a segment on a keyframe after a start, an outage or a pause."""
        if self._mode == "off":
            self._go_idle()
            return
        wall = frame.wall or time.time()
        prev = self._prev_end
        gap = False
        start = wall
        if prev is not None:
            if wall < prev - REPLAY_MAX_S:
                logger.warning("camera %s/%s: the wall clock is %.1f s behind the last segment's end",
                               self.camera_id, self.stream, prev - wall)
                gap = True
            elif self._discontinuity or wall > prev + CONTIGUOUS_S:
                gap, start = True, max(wall, prev)
            elif wall < prev - CONTIGUOUS_S:
                return  # already recorded (a replayed GOP): wait for the next keyframe
            else:
                start = prev  # continues the previous segment
        self._open(data, ts, start, gap)

    def _cut(self, frame: EncodedFrame, data: bytes, ts: int) -> None:
        """End the segment at keyframe ``ts`` and start the next one on it, contiguously."""
        seg = self._seg
        assert seg is not None
        natural = seg.start + (ts - seg.start_ts) / VIDEO_CLOCK_HZ
        drift = (frame.wall or natural) - natural
        stepped = abs(drift) > CLOCK_STEP_S
        if stepped:
            end = natural
            logger.warning("camera %s/%s: wall clock and stream clock differ by %.1f s: re-anchoring",
                           self.camera_id, self.stream, drift)
        else:
            room = SLEW_MAX * (natural - seg.start)
            end = natural + max(-room, min(room, drift))
        self._write_pending(ts)
        self._close(ts, end)
        if self._mode == "off":
            self._go_idle()
            return
        if not self._discontinuity:
            self._open(data, ts, frame.wall if stepped else end, stepped)
        else:
            self._start_fresh(frame, data, ts)

    def _finish(self) -> None:
        """End the segment after its last frame (stop, outage, codec change)."""
        seg = self._seg
        if seg is None:
            return
        end_ts = self._pending[1] + self._interval if self._pending is not None else seg.start_ts
        self._write_pending(end_ts)
        self._close(end_ts, seg.start + (end_ts - seg.start_ts) / VIDEO_CLOCK_HZ)

    # ------------------------------------------------------------------------------ files

    def _open(self, data: bytes, ts: int, start: float, gap_before: bool) -> None:
        codec = self._codec
        relpath = segment_relpath(self.camera_id, self.stream, start)
        final = self.data_dir / relpath
        part = part_path(final)
        container: OutputContainer | None = None
        try:
            width, height = frame_size(codec, data)
            final.parent.mkdir(parents=True, exist_ok=True)
            container = av.open(str(part), "w", format="mp4", options=MUX_OPTIONS)
            stream = container.add_mux_stream(MUX_CODECS[codec], width=width, height=height)
            stream.time_base = TIME_BASE
        except (av.error.FFmpegError, OSError, ValueError, KeyError) as exc:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
            with contextlib.suppress(OSError):
                part.unlink()
            self._error(f"cannot start segment {relpath}: {exc}")
            self._discontinuity = True  # what follows until the next keyframe is lost
            return
        assert isinstance(stream, VideoStream)
        self._seg = _Open(relpath, final, part, container, stream, start, ts, codec, self._mode, gap_before)
        self._pending = (data, ts, True)
        self._discontinuity = False
        self._idle_reported = False
        self._report(WriterEvent("opened", start=start))

    def _write_pending(self, next_ts: int) -> None:
        """Mux the held-back frame, lasting until ``next_ts``."""
        pending, seg = self._pending, self._seg
        if pending is None or seg is None:
            return
        self._pending = None
        data, ts, keyframe = pending
        packet = av.Packet(data)
        packet.stream = seg.stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = ts - seg.start_ts
        packet.duration = max(1, next_ts - ts)
        packet.is_keyframe = keyframe
        try:
            seg.container.mux_one(packet)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._error(f"cannot write {seg.relpath}: {exc}")
            end = seg.start + (ts - seg.start_ts) / VIDEO_CLOCK_HZ
            self._close(ts, end)
            self._discontinuity = True
            return
        seg.frames += 1
        if keyframe:
            seg.keyframes += 1

    def _close(self, end_ts: int, end: float) -> None:
        """Finish the file: trailer, fsync, rename, fsync the directory; report it (or drop an empty one)."""
        seg, self._seg = self._seg, None
        self._pending = None
        if seg is None:
            return
        try:
            seg.container.close()
            if seg.frames == 0:
                seg.part.unlink(missing_ok=True)
                return
            fsync_path(seg.part)
            os.replace(seg.part, seg.final)
            fsync_path(seg.final.parent)
            size = seg.final.stat().st_size
        except (av.error.FFmpegError, OSError) as exc:
            self._error(f"cannot finish {seg.relpath}: {exc}")
            self._discontinuity = True
            return
        self._prev_end = end
        self._report(WriterEvent("finished", FinishedSegment(
            self.camera_id, self.stream, seg.relpath, seg.start, max(end, seg.start), size, seg.frames,
            seg.keyframes, seg.codec, seg.mode, seg.gap_before)))

    def _abort(self) -> None:
        """After an unexpected failure: close what is open without reporting it (reconciliation repairs it)."""
        seg, self._seg = self._seg, None
        if seg is not None:
            with contextlib.suppress(Exception):
                seg.container.close()

    def _go_idle(self) -> None:
        if not self._idle_reported:
            self._idle_reported = True
            self._report(WriterEvent("idle"))

    def _error(self, message: str) -> None:
        """Report an error, once per distinct message in a row (no per-frame flood)."""
        if message != self._last_error:
            self._last_error = message
            self._report(WriterEvent("error", message=message))


__all__ = ["MODES", "MOVFLAGS", "SEGMENT_S", "FinishedSegment", "Mode", "SegmentWriter", "WriterEvent",
           "frame_size", "fsync_path"]
