"""Camera ingest: one RTSP stream of one camera becomes one engine ``Source`` of encoded H.264 frames.

Nothing is decoded here. PyAV demuxes the RTSP stream into access units (Annex-B); each becomes one engine
frame carrying the whole access unit, packetized into RTP payloads only when a live viewer or a meeting needs
them (``EncodedFrame.rtp_payloads``, once per frame however many viewers), and published to the engine, which
hands the same frame to every viewer, the recorder and the motion analyser.

Threading, and why: PyAV's demux (``av_read_frame``) blocks — on the network, and for up to ``STALL_S`` when
a camera hangs — so it never runs on the event loop. Each ingest owns exactly **one** dedicated worker
thread for its whole life: it connects, demuxes, packetizes, waits out the reconnect backoff and reconnects
in a loop. A dedicated thread rather than the loop's default executor because a hung camera would hold an
executor slot for seconds and starve every other ``to_thread`` user; rather than a thread per connection
attempt because one long-lived thread makes "one thread alive per ingest" true by construction (a camera
flapping a hundred times starts no new thread). The thread owns the PyAV container (opened and closed on
that thread only: closing it from another thread while ``av_read_frame`` runs is unsafe). It talks to the
loop only through ``loop.call_soon_threadsafe`` (frames, state changes); state, statistics, the GOP cache and
the outage index are touched on the loop only. ``stop()`` sets a flag the thread checks between packets and
during its backoff wait; a thread blocked in a read on a frozen camera wakes at FFmpeg's socket timeout
(``STALL_S``), so ``stop()`` returns within about ``max(STALL_S, OPEN_TIMEOUT_S)`` at worst.

Cameras cannot be asked for a keyframe (no PLI over RTSP), so the source has no keyframe requester; instead
the ingest keeps the current GOP (``GopCache``) and ``attach_sink`` replays it, so a new viewer starts at
once instead of waiting up to a GOP for the next IDR.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import av
import av.error
from av.container import InputContainer

from mediaserver.config import redact_url
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.engine.frames import VIDEO_CLOCK_HZ
from mediaserver.storage import Store

logger = logging.getLogger(__name__)

State = Literal["connecting", "online", "offline", "auth_failed", "stopped"]

# Reconnect backoff: BACKOFF_INITIAL_S doubling up to BACKOFF_MAX_S; back to the start once a connection has
# stayed online for HEALTHY_RESET_S.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 10.0
HEALTHY_RESET_S = 60.0
# No packet for this long: the camera is frozen (FFmpeg's socket read timeout raises) → offline.
STALL_S = 3.0
# FFmpeg's RTSP reader retries a timed-out socket read once before failing (measured: a 1 s socket timeout
# fails at ~2.2 s, PyAV's 3 s interrupt timeout alone at ~6 s), so the socket timeout is STALL_S / this.
FFMPEG_READ_ATTEMPTS = 2
# Longest a connection attempt (TCP connect + DESCRIBE/SETUP/PLAY + first bytes) may take.
OPEN_TIMEOUT_S = 5.0
# Fast open: the SDP carries the SPS/PPS, so probing a few bytes is enough (first frame in ~0.1–0.3 s here,
# against ~3 s with FFmpeg's defaults).
PROBESIZE_BYTES = 32
ANALYZEDURATION_US = 100_000
# GOP cache bounds: a GOP larger than this is not cached (new sinks then wait for the next keyframe).
GOP_MAX_FRAMES = 300
GOP_MAX_BYTES = 8_000_000
# fps/bitrate are measured over windows of this length.
STATS_WINDOW_S = 1.0
# How often stop() checks that the worker thread has really ended (after it said it is exiting).
THREAD_JOIN_POLL_S = 0.005
INDEX_DRAIN_TIMEOUT_S = 5.0

_START_CODE = b"\x00\x00\x00\x01"
_NAL_SPS = 7
_NAL_PPS = 8
_HEVC_NAL_VPS = 32
_HEVC_NAL_SPS = 33
# FFmpeg's codec names → the engine's. H.265 is ingested (recorded as-is, analysed), but browsers cannot
# decode it over WebRTC: live view needs the explicit transcode (cameras/transcode.py).
CODECS = {"h264": "h264", "hevc": "h265"}
_RTP_TS_MOD = 1 << 32


class CameraAuthError(RuntimeError):
    """The camera rejected the credentials (RTSP 401)."""


class _StreamError(RuntimeError):
    """The stream is not something we can ingest (no video, a codec other than H.264/H.265)."""


# ------------------------------------------------------------------------------------------- H.264 bytes


def annexb_parameter_sets(extradata: bytes | None, codec: str = "h264") -> bytes:
    """Return a stream's parameter sets as Annex-B NAL units from its extradata (Annex-B, avcC or hvcC)."""
    if not extradata:
        return b""
    data = bytes(extradata)
    if data[0] != 1:  # RTSP (sprop-parameter-sets) gives Annex-B already
        return data
    out: list[bytes] = []
    try:
        if codec == "h265":  # hvcC: 22-byte header, then arrays of (type, count, [size, NAL]…)
            i = 23
            for _ in range(data[22]):
                count = int.from_bytes(data[i + 1:i + 3], "big")
                i += 3
                for _ in range(count):
                    size = int.from_bytes(data[i:i + 2], "big")
                    out.append(_START_CODE + data[i + 2:i + 2 + size])
                    i += 2 + size
            return b"".join(out)
        i = 6
        for _ in range(data[5] & 0x1F):  # SPS
            size = int.from_bytes(data[i:i + 2], "big")
            out.append(_START_CODE + data[i + 2:i + 2 + size])
            i += 2 + size
        count = data[i]
        i += 1
        for _ in range(count):  # PPS
            size = int.from_bytes(data[i:i + 2], "big")
            out.append(_START_CODE + data[i + 2:i + 2 + size])
            i += 2 + size
    except IndexError:
        logger.warning("malformed %s extradata (%d bytes) ignored", codec, len(data))
        return b""
    return b"".join(out)


def to_annexb(access_unit: bytes) -> bytes:
    """Return an access unit in Annex-B form (converting 4-byte length-prefixed NAL units if needed)."""
    if access_unit.startswith((b"\x00\x00\x01", _START_CODE)):
        return access_unit
    out: list[bytes] = []
    i = 0
    while i + 4 <= len(access_unit):
        size = int.from_bytes(access_unit[i:i + 4], "big")
        out.append(_START_CODE + access_unit[i + 4:i + 4 + size])
        i += 4 + size
    return b"".join(out)


def nal_types(access_unit: bytes, codec: str = "h264") -> set[int]:
    """Return the NAL unit types in an Annex-B access unit (H.264, or H.265 with ``codec="h265"``)."""
    types: set[int] = set()
    i = access_unit.find(b"\x00\x00\x01")
    while 0 <= i < len(access_unit) - 3:
        header = access_unit[i + 3]
        types.add((header >> 1) & 0x3F if codec == "h265" else header & 0x1F)
        i = access_unit.find(b"\x00\x00\x01", i + 3)
    return types


# --------------------------------------------------------------------------------------------- GOP cache


class GopCache:
    """The frames since the last keyframe (bounded), to start a new sink at once instead of at the next IDR."""

    def __init__(self, max_frames: int = GOP_MAX_FRAMES, max_bytes: int = GOP_MAX_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: list[EncodedFrame] = []
        self._bytes = 0

    def add(self, frame: EncodedFrame) -> None:
        """Add a published frame: a keyframe starts a new GOP; an oversized GOP is dropped until the next."""
        if frame.keyframe:
            self._frames = [frame]
            self._bytes = frame.size
            return
        if not self._frames:
            return
        self._frames.append(frame)
        self._bytes += frame.size
        if len(self._frames) > self.max_frames or self._bytes > self.max_bytes:
            self.clear()

    def clear(self) -> None:
        """Forget the cached GOP (the stream broke)."""
        self._frames = []
        self._bytes = 0

    def frames(self) -> list[EncodedFrame]:
        """Return the cached GOP, keyframe first (empty when none is usable)."""
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        """Return the cached GOP's payload bytes."""
        return self._bytes

    def replay(self, source: Source, sink: Sink) -> int:
        """Offer the cached GOP to a sink just attached to ``source``; return the frames offered.

        Nothing is replayed when the GOP would not fit in the sink's free queue space (it would overflow and
        drop to the next keyframe anyway): the sink then simply starts at the next keyframe.
        """
        frames = self._frames
        if not frames or len(frames) > sink.capacity - sink.queued() - 1:
            return 0
        for frame in list(frames):
            sink.offer(source, frame)
        return len(frames)


# ------------------------------------------------------------------------------------------------ ingest


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of one ingest's health."""

    state: State
    fps: float
    bitrate_kbps: float
    last_frame_at: float | None  # wall clock (UTC epoch seconds) of the last frame, None before the first
    reconnects: int  # connection attempts after the first
    frames: int
    error: str | None  # why the stream is not online (last failure), None when fine
    codec: str = "h264"  # 'h264' or 'h265' (as last learned from the camera)


class CameraIngest:
    """Pulls one camera stream over RTSP into an engine source; reconnects, detects stalls, records outages."""

    def __init__(self, camera_id: str, stream: str, url: str, engine: Engine, store: Store, *,
                 transport: Literal["tcp", "udp"] = "tcp", stall_s: float = STALL_S,
                 open_timeout_s: float = OPEN_TIMEOUT_S, backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_max_s: float = BACKOFF_MAX_S, healthy_reset_s: float = HEALTHY_RESET_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.camera_id = camera_id
        self.stream = stream
        self.url = url
        self.transport = transport
        self.engine = engine
        self.store = store
        self.stall_s = stall_s
        self.open_timeout_s = open_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.healthy_reset_s = healthy_reset_s
        self._wall = clock
        self.source = Source(f"camera/{camera_id}/{stream}", "video", "h264", VIDEO_CLOCK_HZ,
                             keyframe_requester=None, owner=camera_id)
        self.gop = GopCache()
        self.state: State = "stopped"
        self.error: str | None = None
        self.reconnects = 0
        self._state_changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_done: asyncio.Future[None] | None = None
        self._stop_flag = threading.Event()
        self._stop_lock = asyncio.Lock()
        self._started = False
        self._stopped = False
        self._index_queue: asyncio.Queue[tuple[str, str, float] | None] = asyncio.Queue()
        self._index_task: asyncio.Task[None] | None = None
        self._outage_open = False  # as the loop sees it; the index task holds the row id
        self._attempts = 0
        # statistics (loop side)
        self.frames = 0
        self.last_frame_at: float | None = None
        self._fps = 0.0
        self._kbps = 0.0
        self._win_start = 0.0
        self._win_frames = 0
        self._win_bytes = 0
        # timestamp continuity (worker-thread side only)
        self._t_last_ts: int | None = None
        self._t_last_at = 0.0
        self._t_pts_origin: int | None = None

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def redacted_url(self) -> str:
        """Return the stream URL without credentials (for logs and the UI)."""
        return redact_url(self.url)

    async def start(self) -> None:
        """Register the source with the engine and start the worker thread; returns at once."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self.engine.add_source(self.source)
        self._thread_done = self._loop.create_future()
        self._index_task = asyncio.create_task(self._run_index(), name=f"ingest-index-{self.source.id}")
        self._thread = threading.Thread(target=self._worker, name=f"ingest-{self.source.id}", daemon=True)
        self._set_state("connecting")
        self._thread.start()

    async def stop(self) -> None:
        """Stop the worker (closing its RTSP session), close any open outage and unregister; idempotent."""
        async with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._stop_flag.set()
            if self._thread is not None and self._thread_done is not None:
                await self._thread_done  # the thread posts this as its very last act
                # It has only to return now; poll rather than join() so the loop never blocks.
                while self._thread.is_alive():  # noqa: ASYNC110 - a thread, not an asyncio event
                    await asyncio.sleep(THREAD_JOIN_POLL_S)
            self._set_state("stopped")
            if self._index_task is not None:
                self._index_queue.put_nowait(None)
                try:
                    await asyncio.wait_for(self._index_task, INDEX_DRAIN_TIMEOUT_S)
                except TimeoutError:
                    logger.warning("camera %s: outage index writes did not finish at stop", self.source.id)
            if self.engine.sources.get(self.source.id) is self.source:
                self.engine.remove_source(self.source.id)
            self.gop.clear()

    async def wait_state(self, *states: State, timeout_s: float) -> State:
        """Wait until the ingest is in one of ``states``; raise TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while self.state not in states:
                await self._state_changed.wait()
        return self.state

    def attach_sink(self, sink: Sink) -> int:
        """Attach ``sink`` to this camera's source and replay the cached GOP to it; return frames replayed."""
        if sink.source is self.source and sink.pending is None:
            return 0
        sink.attach(self.source)
        if sink.source is self.source or sink.pending is self.source:
            return self.gop.replay(self.source, sink)
        return 0

    def stats(self) -> IngestStats:
        """Return the current frame rate, bitrate, last frame time, state and reconnect count."""
        fresh = self._win_start and time.monotonic() - self._win_start < 2 * STATS_WINDOW_S
        return IngestStats(self.state, round(self._fps, 2) if fresh else 0.0,
                           round(self._kbps, 1) if fresh else 0.0, self.last_frame_at, self.reconnects,
                           self.frames, self.error, self.source.codec)

    # ------------------------------------------------------------------------------ loop side

    def _set_state(self, state: State, reason: str | None = None) -> None:
        """Move to ``state`` (logging the transition) and record outages in the index."""
        old = self.state
        if state == "online":
            self.error = None
        elif reason:
            self.error = reason
        if state == old:
            return
        self.state = state
        at = self._wall()
        if state == "auth_failed":
            logger.error("camera %s: %s -> auth_failed: %s (not retrying: fix the camera's credentials)",
                         self.source.id, old, reason)
        elif state == "offline":
            logger.warning("camera %s: %s -> offline: %s", self.source.id, old, reason)
        else:
            logger.info("camera %s: %s -> %s%s", self.source.id, old, state, f" ({reason})" if reason else "")
        if state in ("offline", "auth_failed") and not self._outage_open:
            self._outage_open = True
            self._index_queue.put_nowait(("open", reason or state, at))
        elif state in ("online", "stopped") and self._outage_open:
            self._outage_open = False
            self._index_queue.put_nowait(("close", "", at))
        if state == "offline":
            self.gop.clear()  # a dead connection's GOP must not start a viewer on a frozen picture
        event, self._state_changed = self._state_changed, asyncio.Event()
        event.set()

    async def _run_index(self) -> None:
        """Write outage starts and ends to the index, in order, off the frame path."""
        outage_id: int | None = None
        while True:
            item = await self._index_queue.get()
            if item is None:
                return
            op, reason, at = item
            try:
                if op == "open" and outage_id is None:
                    outage_id = await self.store.cameras.open_outage(self.camera_id, reason, at=at)
                elif op == "close" and outage_id is not None:
                    await self.store.cameras.close_outage(outage_id, at=at)
                    outage_id = None
            except Exception as exc:  # the index being unavailable must not stop the camera
                logger.warning("camera %s: cannot record outage %s: %s", self.source.id, op, exc)

    def _on_connecting(self) -> None:
        if self._stopped:
            return
        self._attempts += 1
        if self._attempts > 1:
            self.reconnects += 1
        if self.state != "offline":  # while offline, retrying keeps showing offline (and its outage)
            self._set_state("connecting")

    def _on_online(self) -> None:
        if not self._stopped:
            self._set_state("online")

    def _on_offline(self, reason: str) -> None:
        if not self._stopped:
            self._set_state("offline", reason)

    def _on_auth_failed(self, reason: str) -> None:
        if not self._stopped:
            self._set_state("auth_failed", reason)

    def _on_frame(self, frame: EncodedFrame) -> None:
        if self._stopped:
            return
        self.gop.add(frame)
        self.source.publish(frame)
        self.frames += 1
        self.last_frame_at = self._wall()
        now = frame.arrival
        if not self._win_start:
            self._win_start = now
        self._win_frames += 1
        self._win_bytes += frame.size
        elapsed = now - self._win_start
        if elapsed >= STATS_WINDOW_S:
            self._fps = self._win_frames / elapsed
            self._kbps = self._win_bytes * 8 / 1000 / elapsed
            self._win_start, self._win_frames, self._win_bytes = now, 0, 0

    def _on_codec(self, codec: str) -> None:
        """The camera sends ``codec`` (learned at connect): sinks and live view follow the source's codec."""
        logger.info("camera %s: stream codec is %s", self.source.id, codec)
        self.source.codec = codec
        self.gop.clear()

    @property
    def codec(self) -> str:
        """Return the stream's codec as the engine names it ('h264' or 'h265')."""
        return self.source.codec

    def _on_thread_exit(self) -> None:
        if self._thread_done is not None and not self._thread_done.done():
            self._thread_done.set_result(None)

    # ------------------------------------------------------------------------------ worker thread

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the event loop (from the worker thread)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stop_flag.set()

    def _worker(self) -> None:
        """Connect, demux and reconnect with backoff until stopped (the ingest's one thread)."""
        backoff = self.backoff_initial_s
        try:
            while not self._stop_flag.is_set():
                self._post(self._on_connecting)
                online_at: list[float] = []  # set by _stream_once when the first frame goes out
                last_packet_at: list[float] = []
                opened: list[InputContainer] = []
                try:
                    try:
                        self._stream_once(opened, online_at, last_packet_at)
                        reason = "stream ended"
                    except av.error.HTTPUnauthorizedError:
                        if not self._stop_flag.is_set():
                            self._post(self._on_auth_failed,
                                       f"RTSP server refused the credentials (401) for {self.redacted_url}")
                        return
                    except (av.error.FFmpegError, OSError, _StreamError) as exc:
                        reason = self._describe_failure(exc, online_at, last_packet_at)
                    if self._stop_flag.is_set():
                        return
                    self._post(self._on_offline, reason)  # before closing: a TEARDOWN to a frozen camera waits
                finally:
                    for container in opened:
                        self._close(container)
                if online_at and time.monotonic() - online_at[0] >= self.healthy_reset_s:
                    backoff = self.backoff_initial_s
                if self._stop_flag.wait(backoff):
                    return
                backoff = min(backoff * 2, self.backoff_max_s)
        except Exception:  # a bug: report it rather than die silently
            logger.exception("camera %s: ingest worker failed", self.source.id)
            self._post(self._on_offline, "internal error")
        finally:
            self._post(self._on_thread_exit)

    def _describe_failure(self, exc: BaseException, online_at: list[float], last_packet_at: list[float]) -> str:
        """Return a short outage reason (never containing credentials)."""
        now = time.monotonic()
        # A read that timed out (socket timeout, or PyAV's interrupt at stall_s) on a stream that was flowing.
        timed_out = isinstance(exc, TimeoutError | av.error.ExitError)
        if online_at and last_packet_at and (timed_out or now - last_packet_at[-1] >= self.stall_s):
            return f"stalled: no packet for {now - last_packet_at[-1]:.1f} s"
        if isinstance(exc, av.error.FFmpegError):
            text = exc.strerror or type(exc).__name__
        else:
            text = str(exc) or type(exc).__name__
        text = text.replace(self.url, self.redacted_url)
        prefix = "disconnected" if online_at else "connect failed"
        return f"{prefix}: {text}"

    def _options(self) -> dict[str, str]:
        return {
            "rtsp_transport": self.transport,
            "probesize": str(PROBESIZE_BYTES),
            "analyzeduration": str(ANALYZEDURATION_US),
            # Socket I/O timeout in µs: this detects a frozen camera. PyAV's own read timeout is NOT used: its
            # interrupt callback takes the GIL on every FFmpeg I/O poll (measured: most of the ingest's
            # overhead over `ffmpeg -c copy`); PyAV's timeout bounds only the open.
            "timeout": str(int(self.stall_s / FFMPEG_READ_ATTEMPTS * 1_000_000)),
        }

    def _stream_once(self, opened: list[InputContainer], online_at: list[float],
                     last_packet_at: list[float]) -> None:
        """Open the stream (into ``opened``; the caller closes it) and publish its frames until it ends."""
        container = av.open(self.url, options=self._options(), timeout=(self.open_timeout_s, None))
        opened.append(container)
        if not container.streams.video:
            raise _StreamError("the stream has no video")
        stream = container.streams.video[0]
        codec = CODECS.get(stream.codec_context.name)
        if codec is None:
            raise _StreamError(f"the stream is {stream.codec_context.name}, not H.264 or H.265")
        if codec != self.source.codec:
            self._post(self._on_codec, codec)
        param_sets = annexb_parameter_sets(stream.codec_context.extradata, codec)
        sps = _NAL_SPS if codec == "h264" else _HEVC_NAL_SPS
        time_base = stream.time_base or Fraction(1, VIDEO_CLOCK_HZ)
        self._t_pts_origin = None
        synced = False
        for packet in container.demux(stream):
            if self._stop_flag.is_set():
                return
            if packet.size == 0:  # the demuxer's end-of-stream flush packet
                continue
            now = time.monotonic()
            last_packet_at[:] = [now]
            keyframe = bool(packet.is_keyframe)
            if not synced:
                if not keyframe:
                    continue  # a connection joins mid-GOP: start every connection on a keyframe
                synced = True
            data = to_annexb(bytes(packet))
            if keyframe and param_sets and sps not in nal_types(data, codec):
                data = param_sets + data
            ts = self._rtp_timestamp(packet.pts, time_base, now)
            # Packetized lazily (EncodedFrame.rtp_payloads): only live viewers and meetings need RTP payloads,
            # and H.265 never goes over WebRTC as-is.
            frame = EncodedFrame([], ts, keyframe, arrival=now, data=data, wall=time.time())
            if not online_at:
                online_at.append(now)
                self._post(self._on_online)
            self._post(self._on_frame, frame)

    def _close(self, container: InputContainer) -> None:
        """Close a container (sends TEARDOWN; bounded by the socket timeout when the camera is frozen)."""
        try:
            container.close()
        except (av.error.FFmpegError, OSError) as exc:
            logger.debug("camera %s: closing the stream failed: %s", self.source.id, exc)

    def _rtp_timestamp(self, pts: int | None, time_base: Fraction, now: float) -> int:
        """Map a packet's pts to the source's 90 kHz clock, continuous across reconnects."""
        # Integer arithmetic: Fraction maths per frame costs more than the rest of this function.
        pts90 = pts * time_base.numerator * VIDEO_CLOCK_HZ // time_base.denominator if pts is not None else None
        if pts90 is not None and self._t_pts_origin is not None:
            ts = self._t_pts_origin + pts90
        else:
            # First frames of a connection (the first RTSP packet often has no pts): continue the previous
            # timeline by the wall-clock time elapsed, then follow the camera's pts from there.
            if self._t_last_ts is None:
                ts = 0
            else:
                ts = self._t_last_ts + max(1, int((now - self._t_last_at) * VIDEO_CLOCK_HZ))
            if pts90 is not None:
                self._t_pts_origin = ts - pts90
        ts %= _RTP_TS_MOD
        self._t_last_ts, self._t_last_at = ts, now
        return ts

