"""Camera ingest: one RTSP stream of one camera becomes one engine ``Source`` of encoded frames.

Nothing is decoded here. Our RTSP client (``cameras/rtsp``) pulls the camera's RTP on the event loop and the
depacketizer reassembles access units (Annex-B, keyframes carrying their parameter sets); each becomes one
engine frame carrying the whole access unit, packetized into RTP payloads only when a live viewer or a
meeting needs them (``EncodedFrame.rtp_payloads``, once per frame however many viewers), and published to
the engine, which hands the same frame to every viewer, the recorder and the motion analyser.

Concurrency, and why: each ingest is one asyncio task for its whole life — connect, stream, probe the camera
while it is down (an OPTIONS every ``probe_interval_s``; only a camera that answers yet fails waits out a
backoff), reconnect — so a camera flapping a hundred times starts nothing new, and ``stop()`` cancels the
task and awaits it. Receiving RTP costs a ``recv`` per socket buffer and a few slices per
packet, so it runs on the loop like aiortc's RTP does; FFmpeg's RTSP reader (PyAV, on a thread per camera)
cost ~1.5× ``ffmpeg -c copy`` in GIL hand-offs and small reads (BENCHMARKS.md). A frozen camera is
detected by a watchdog that sees no packet for ``stall_s``; an unresponsive one by ``open_timeout_s``.

Cameras cannot be asked for a keyframe (no PLI over RTSP), so the source has no keyframe requester; instead
the ingest keeps the current GOP (``GopCache``) and ``attach_sink`` replays it, so a new viewer starts at
once instead of waiting up to a GOP for the next IDR.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cameras.failures import ERROR_CODE, NO_ANSWER_CODE, rtsp_failure_code
from cameras.rtsp import Depacketizer, RtspAuthError, RtspClient, SdpError, probe
from cameras.rtsp.depacketize import H264_PPS, H264_SPS, H265_PPS, H265_SPS, H265_VPS
from mediaserver.config import redact_url
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.engine.frames import VIDEO_CLOCK_HZ
from mediaserver.storage import Store
from mediaserver.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

State = Literal["connecting", "online", "offline", "auth_failed", "stopped"]

# Reconnect backoff for the expensive work (a full OPTIONS/DESCRIBE/SETUP/PLAY session) against a camera that
# answers yet fails: BACKOFF_INITIAL_S doubling up to BACKOFF_MAX_S; back to the start once a connection has
# stayed online for HEALTHY_RESET_S, or the camera was unreachable and came back.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 10.0
HEALTHY_RESET_S = 60.0
# While a camera is unreachable it is probed (TCP connect + OPTIONS, cameras.rtsp.probe) this often, so it is
# streaming again within about a second of answering — never the up-to-10-s wait of a backoff.
PROBE_INTERVAL_S = 0.5
# No packet for this long: the camera is frozen → offline.
STALL_S = 3.0
# How often the watchdog looks at the packet counter (and sends keepalives when due).
WATCHDOG_INTERVAL_S = 0.25
# RTCP receiver reports to the camera this often (RFC 3550's 5 s minimum interval; FFmpeg's rate too).
RECEIVER_REPORT_INTERVAL_S = 5.0
# Longest a connection attempt (TCP connect + OPTIONS/DESCRIBE/SETUP/PLAY) may take.
OPEN_TIMEOUT_S = 5.0
# GOP cache bounds: a GOP larger than this is not cached (new sinks then wait for the next keyframe).
GOP_MAX_FRAMES = 300
GOP_MAX_BYTES = 8_000_000
# fps/bitrate are measured over windows of this length.
STATS_WINDOW_S = 1.0
INDEX_DRAIN_TIMEOUT_S = 5.0

_START_CODE = b"\x00\x00\x00\x01"
# Per codec: the NAL unit types of parameter sets, and the one a decoder cannot start without (SPS).
_PARAMETER_SET_TYPES = {"h264": frozenset((H264_SPS, H264_PPS)), "h265": frozenset((H265_VPS, H265_SPS, H265_PPS))}
_SPS_TYPE = {"h264": H264_SPS, "h265": H265_SPS}
_RTP_TS_MOD = 1 << 32


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
    packets_lost: int = 0  # RTP packets that never arrived (sequence gaps), all connections
    frames_dropped: int = 0  # access units dropped for a lost packet, until the next keyframe
    offline_since: float | None = None  # wall clock (UTC epoch s) the current outage began; None when not offline
    error_code: str | None = None  # the failure as a code staff have words for (cameras/failures.py)


class CameraIngest:
    """Pulls one camera stream over RTSP into an engine source; reconnects, detects stalls, records outages."""

    def __init__(self, camera_id: str, stream: str, url: str, engine: Engine, store: Store, *,
                 transport: Literal["tcp", "udp"] = "tcp", stall_s: float = STALL_S,
                 open_timeout_s: float = OPEN_TIMEOUT_S, backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_max_s: float = BACKOFF_MAX_S, healthy_reset_s: float = HEALTHY_RESET_S,
                 probe_interval_s: float = PROBE_INTERVAL_S, udp_ports: tuple[int, int] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.camera_id = camera_id
        self.stream = stream
        self.url = url
        self.transport = transport
        self.udp_ports = udp_ports
        self.engine = engine
        self.store = store
        self.stall_s = stall_s
        self.open_timeout_s = open_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.healthy_reset_s = healthy_reset_s
        self.probe_interval_s = probe_interval_s
        self._wall = clock
        self.source = Source(f"camera/{camera_id}/{stream}", "video", "h264", VIDEO_CLOCK_HZ,
                             keyframe_requester=None, owner=camera_id)
        self.gop = GopCache()
        self.state: State = "stopped"
        self.error: str | None = None
        self.error_code: str | None = None
        self.reconnects = 0
        self.offline_since: float | None = None  # wall clock the current outage began
        self.probes = 0  # reachability probes sent while the camera was down
        self._state_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop_lock = asyncio.Lock()
        self._started = False
        self._stopped = False
        self._index_queue: asyncio.Queue[tuple[str, str, float] | None] = asyncio.Queue()
        self._index_task: asyncio.Task[None] | None = None
        self._outage_open = False  # as the loop sees it; the index task holds the row id
        self._attempts = 0
        # statistics
        self.frames = 0
        self.last_frame_at: float | None = None
        self._fps = 0.0
        self._kbps = 0.0
        self._win_start = 0.0
        self._win_frames = 0
        self._win_bytes = 0
        # the current connection
        self._synced = False  # a keyframe has arrived on this connection
        self._online_at: float | None = None
        self._param_sets = b""
        self._ts_offset: int | None = None
        # timestamp continuity across connections
        self._t_last_ts: int | None = None
        self._t_last_at = 0.0
        self.depacketizer: Depacketizer | None = None
        self._lost_before = 0  # packets lost / frames dropped on earlier connections
        self._dropped_before = 0

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def redacted_url(self) -> str:
        """Return the stream URL without credentials (for logs and the UI)."""
        return redact_url(self.url)

    @property
    def running(self) -> bool:
        """Return whether the ingest task is alive (connecting, streaming or waiting to retry)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Register the source with the engine and start the ingest task; returns at once."""
        if self._started:
            return
        self._started = True
        self.engine.add_source(self.source)
        self._index_task = asyncio.create_task(self._run_index(), name=f"ingest-index-{self.source.id}")
        self._set_state("connecting")
        self._task = asyncio.create_task(self._run(), name=f"ingest-{self.source.id}")

    async def stop(self) -> None:
        """Stop the ingest (TEARDOWN, sockets closed), close any open outage and unregister; idempotent."""
        async with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            await cancel_and_wait(self._task)
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
        lost, dropped = self._lost_before, self._dropped_before
        if self.depacketizer is not None:
            lost += self.depacketizer.lost
            dropped += self.depacketizer.dropped_units
        return IngestStats(self.state, round(self._fps, 2) if fresh else 0.0,
                           round(self._kbps, 1) if fresh else 0.0, self.last_frame_at, self.reconnects,
                           self.frames, self.error, self.source.codec, lost, dropped, self.offline_since,
                           self.error_code)

    @property
    def codec(self) -> str:
        """Return the stream's codec as the engine names it ('h264' or 'h265')."""
        return self.source.codec

    # ------------------------------------------------------------------------------ state

    def _set_state(self, state: State, reason: str | None = None) -> None:
        """Move to ``state`` (logging the transition) and record outages in the index."""
        old = self.state
        if state == "online":
            self.error = self.error_code = None
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
        if state in ("offline", "auth_failed") and self.offline_since is None:
            self.offline_since = at
        elif state in ("online", "stopped", "connecting"):
            self.offline_since = None
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

    # ------------------------------------------------------------------------------ connection loop

    async def _run(self) -> None:
        """Connect, stream and reconnect until stopped (the ingest's one task).

        After a failure the camera is probed at once: one that does not answer is probed every
        ``probe_interval_s`` and reconnected the moment it answers; one that answers yet failed (a 503, a
        stall, no video) gets the next full session only after a capped, doubling backoff.
        """
        backoff = self.backoff_initial_s
        while True:
            self._attempts += 1
            if self._attempts > 1:
                self.reconnects += 1
            if self.state != "offline":  # while offline, retrying keeps showing offline (and its outage)
                self._set_state("connecting")
            self._online_at = None
            try:
                reason = await self._stream_once()
            except RtspAuthError as exc:
                self.error_code = rtsp_failure_code(exc)
                self._set_state("auth_failed", str(exc))
                return  # bad credentials fail hard: retrying cannot fix them
            except (OSError, SdpError, TimeoutError) as exc:
                reason = self._describe_failure(exc)
                self.error_code = rtsp_failure_code(exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: report it, and keep the camera retrying rather than dead
                logger.exception("camera %s: ingest failed", self.source.id)
                reason = "internal error"
                self.error_code = ERROR_CODE
            self._set_state("offline", reason)
            if self._online_at is not None and time.monotonic() - self._online_at >= self.healthy_reset_s:
                backoff = self.backoff_initial_s
            if await self._probe():
                await asyncio.sleep(backoff)  # it answers: only the expensive session work backs off
                backoff = min(backoff * 2, self.backoff_max_s)
            else:
                await self._wait_reachable()
                backoff = self.backoff_initial_s  # it came back: a fresh start

    async def _probe(self) -> bool:
        """Return whether the camera answers an RTSP OPTIONS now (cheap: no session is set up)."""
        self.probes += 1
        return await probe(self.url, min(self.open_timeout_s, 2 * self.probe_interval_s))

    async def _wait_reachable(self) -> None:
        """Probe every ``probe_interval_s`` until the camera answers again."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if await self._probe():
                return
            await asyncio.sleep(max(0.0, self.probe_interval_s - (loop.time() - started)))

    def _describe_failure(self, exc: BaseException) -> str:
        """Return a short outage reason (never containing credentials)."""
        if isinstance(exc, TimeoutError):
            text = f"no answer within {self.open_timeout_s:g} s"
        else:
            text = str(exc) or type(exc).__name__
        text = text.replace(self.url, self.redacted_url)
        return f"{'disconnected' if self._online_at is not None else 'connect failed'}: {text}"

    async def _stream_once(self) -> str:
        """Open the stream and publish its frames until it ends; return why it ended."""
        client = RtspClient(self.url, _drop, transport=self.transport, udp_ports=self.udp_ports)
        try:
            async with asyncio.timeout(self.open_timeout_s):
                track = await client.open()
                if track.codec != self.source.codec:
                    logger.info("camera %s: stream codec is %s", self.source.id, track.codec)
                    self.source.codec = track.codec  # sinks and live view follow the source's codec
                    self.gop.clear()
                if track.clock_rate != VIDEO_CLOCK_HZ:
                    logger.debug("camera %s: video clock %d Hz announced; H.264/H.265 use 90 kHz",
                                 self.source.id, track.clock_rate)
                self._param_sets = track.parameter_sets
                self._synced = False
                self._ts_offset = None
                if self.depacketizer is not None:
                    self._lost_before += self.depacketizer.lost
                    self._dropped_before += self.depacketizer.dropped_units
                self.depacketizer = Depacketizer(track.codec, track.payload_type, self._on_access_unit)
                client.on_packet = self.depacketizer.push
                client.receiver = self.depacketizer
                await client.play()
            return await self._watch(client)
        finally:
            await client.close()

    async def _watch(self, client: RtspClient) -> str:
        """Watch a playing session: keepalives and receiver reports when due; return when it drops or stalls."""
        interval = min(WATCHDOG_INTERVAL_S, self.stall_s / 4)
        count, changed_at = client.packets, time.monotonic()
        keepalive_at = changed_at + client.keepalive_interval_s
        report_at = changed_at + RECEIVER_REPORT_INTERVAL_S
        while True:
            await asyncio.wait([client.closed], timeout=interval)
            now = time.monotonic()
            if client.closed.done():
                lost = client.lost_reason
                ended = lost if lost is not None else ConnectionResetError("stream ended")
                self.error_code = rtsp_failure_code(ended)
                return self._describe_failure(ended)
            if client.packets != count:
                count, changed_at = client.packets, now
            elif now - changed_at >= self.stall_s:
                self.error_code = NO_ANSWER_CODE
                if self._online_at is None:
                    return f"connect failed: no video within {now - changed_at:.1f} s of PLAY"
                return f"stalled: no packet for {now - changed_at:.1f} s"
            if now >= keepalive_at:
                client.keepalive()
                keepalive_at = now + client.keepalive_interval_s
            if now >= report_at:
                client.send_receiver_report()
                report_at = now + RECEIVER_REPORT_INTERVAL_S

    # ------------------------------------------------------------------------------ frames (hot path)

    def _on_access_unit(self, nals: list[bytes], rtp_ts: int, keyframe: bool) -> None:
        """Publish one access unit from the depacketizer as an engine frame."""
        codec = self.source.codec
        data = _START_CODE + _START_CODE.join(nals)
        # From the NAL headers the depacketizer handed over: no scan of the frame's bytes per frame.
        types = {(n[0] >> 1) & 0x3F for n in nals} if codec == "h265" else {n[0] & 0x1F for n in nals}
        if not keyframe and types <= _PARAMETER_SET_TYPES[codec]:
            # Some cameras send SPS/PPS as a unit of their own before the IDR (and none in the SDP): keep
            # them for the next keyframe, which must carry them (recorder, decoders, a late viewer).
            self._param_sets = data
            return
        if not self._synced:
            if not keyframe:
                return  # a connection joins mid-GOP: start every connection on a keyframe
            self._synced = True
        if keyframe and self._param_sets and _SPS_TYPE[codec] not in types:
            data = self._param_sets + data
        now = time.monotonic()
        if self._ts_offset is None:
            # A new connection: continue the previous timeline by the wall-clock time elapsed, then follow
            # the camera's RTP clock (offset arithmetic modulo 2^32 handles its wrap-around).
            target = 0 if self._t_last_ts is None else self._t_last_ts + max(1, int((now - self._t_last_at)
                                                                                  * VIDEO_CLOCK_HZ))
            self._ts_offset = target - rtp_ts
        ts = (rtp_ts + self._ts_offset) % _RTP_TS_MOD
        self._t_last_ts, self._t_last_at = ts, now
        frame = EncodedFrame([], ts, keyframe, arrival=now, data=data, wall=self._wall())
        if self._online_at is None:
            self._online_at = now
            self._set_state("online")
        self.gop.add(frame)
        self.source.publish(frame)
        self.frames += 1
        self.last_frame_at = frame.wall
        if not self._win_start:
            self._win_start = now
        self._win_frames += 1
        self._win_bytes += len(data)
        elapsed = now - self._win_start
        if elapsed >= STATS_WINDOW_S:
            self._fps = self._win_frames / elapsed
            self._kbps = self._win_bytes * 8 / 1000 / elapsed
            self._win_start, self._win_frames, self._win_bytes = now, 0, 0


def _drop(packet: bytes) -> None:
    """Ignore RTP arriving before the track is known (nothing does: PLAY comes after the depacketizer)."""
