"""The one place the server transcodes, and only when staff ask: live view of an H.265 camera.

Browsers cannot decode H.265 over WebRTC, and the rule of the media path is that encoded media reaches a
browser untouched. A camera that sends H.265 is still ingested, recorded as-is and analysed; its live view
shows "needs a transcode" until someone explicitly opens the transcoded view, which costs CPU (measured in
``make bench-cameras``: see BENCHMARKS.md) and is therefore low frame rate and small: at most
``TRANSCODE_FPS`` frames per second, scaled to at most ``TRANSCODE_MAX_HEIGHT`` lines.

A ``LiveTranscoder`` is one engine sink on the H.265 source and one engine source of H.264: it decodes and
re-encodes in ONE owned thread (never on the event loop), and publishes the H.264 access units (packetized
once) like any camera, so any number of viewers of the transcoded stream still cost one transcode. It is
reference-counted by the views using it; the last view to close stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import av
import av.error

from cameras.ingest import GopCache
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.engine.aiortc_hooks import h264_payloads
from mediaserver.engine.frames import VIDEO_CLOCK_HZ

logger = logging.getLogger(__name__)

TRANSCODE_FPS = 5.0  # frames per second sent to viewers (a picture to look at, not smooth video)
TRANSCODE_MAX_HEIGHT = 360  # lines; width keeps the aspect ratio (even)
TRANSCODE_BITRATE_BPS = 400_000
TRANSCODE_GOP_S = 1.0  # a keyframe every second: a new viewer waits at most this long
QUEUE_FRAMES = 60  # encoded H.265 frames waiting for the worker; beyond it the worker is behind: drop to a keyframe
THREAD_JOIN_POLL_S = 0.005


class LiveTranscoder:
    """H.265 source → decode → scale → low-fps H.264 source, in one owned thread; ``stop()`` is idempotent."""

    def __init__(self, engine: Engine, source: Source, attach: Callable[[Sink], object] | None = None, *,
                 fps: float = TRANSCODE_FPS, max_height: int = TRANSCODE_MAX_HEIGHT) -> None:
        self.engine = engine
        self.input = source
        self.fps = fps
        self.max_height = max_height
        self.output = Source(f"{source.id}/transcoded", "video", "h264", VIDEO_CLOCK_HZ,
                             keyframe_requester=None, owner=source.owner)
        self._attach = attach
        self.gop = GopCache()  # primes each new viewer, as the ingest does for H.264 cameras
        self._sink = engine.new_sink(f"transcode/{source.id}", "video", capacity=QUEUE_FRAMES)
        self._queue: queue.SimpleQueue[EncodedFrame | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pump: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_done: asyncio.Future[None] | None = None
        self._stop_flag = threading.Event()
        self.users = 0
        self._stopped = False
        # statistics (worker thread writes, anyone reads)
        self.frames_in = 0
        self.frames_out = 0
        self.cpu_s = 0.0  # worker thread CPU time
        self.error: str | None = None

    async def start(self) -> None:
        """Register the H.264 source, attach to the H.265 one and start the worker."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread_done = self._loop.create_future()
        self.engine.add_source(self.output)
        if self._attach is not None:
            self._attach(self._sink)  # the ingest's attach primes from its GOP cache
        else:
            self._sink.attach(self.input)
        self._thread = threading.Thread(target=self._worker, name=f"transcode-{self.input.id}", daemon=True)
        self._thread.start()
        self._pump = asyncio.create_task(self._run_pump(), name=f"transcode-pump-{self.input.id}")

    async def stop(self) -> None:
        """Stop the worker and unregister the H.264 source; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._sink.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self._stop_flag.set()
        self._queue.put(None)
        if self._thread is not None and self._thread_done is not None:
            await self._thread_done
            while self._thread.is_alive():  # noqa: ASYNC110 - a thread, not an asyncio event
                await asyncio.sleep(THREAD_JOIN_POLL_S)
        if self.engine.sources.get(self.output.id) is self.output:
            self.engine.remove_source(self.output.id)
        logger.info("%s: transcode stopped (%d frames in, %d out, %.1f s CPU)", self.input.id, self.frames_in,
                    self.frames_out, self.cpu_s)

    async def _run_pump(self) -> None:
        """Hand the H.265 frames to the worker thread."""
        while True:
            frame, _ts = await self._sink.next()
            self._queue.put(frame)

    # ------------------------------------------------------------------------------ worker thread

    def _publish(self, frame: EncodedFrame) -> None:
        if not self._stopped:
            self.gop.add(frame)
            self.output.publish(frame)

    def prime(self, sink: Sink) -> None:
        """Start a new viewer from the last transcoded GOP."""
        self.gop.replay(self.output, sink)

    def _post(self, callback: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed
            self._stop_flag.set()

    def _done(self) -> None:
        if self._thread_done is not None and not self._thread_done.done():
            self._thread_done.set_result(None)

    def _worker(self) -> None:
        """Decode every H.265 frame, keep one every 1/fps s, scale it and encode it as H.264."""
        t0 = time.thread_time()
        try:
            self._transcode()
        except Exception as exc:  # a bug or a broken stream: this view only
            logger.exception("%s: transcode failed", self.input.id)
            self.error = str(exc)
        finally:
            self.cpu_s = time.thread_time() - t0
            self._post(self._done)

    def _transcode(self) -> None:
        decoder = av.CodecContext.create("hevc", "r")
        decoder.thread_count = 1  # one core's share at most: this is a convenience, not the media path
        encoder: av.VideoCodecContext | None = None
        period_ts = int(VIDEO_CLOCK_HZ / self.fps)
        next_ts: int | None = None
        gop = max(1, round(self.fps * TRANSCODE_GOP_S))
        while not self._stop_flag.is_set():
            item = self._queue.get()
            if item is None:
                return
            t0 = time.thread_time()
            self.frames_in += 1
            if item.data is None:
                continue
            try:
                decoded = decoder.decode(av.Packet(item.data))
            except av.error.FFmpegError as exc:
                logger.debug("%s: undecodable H.265 frame skipped: %s", self.input.id, exc)
                continue
            for picture in decoded:
                # Keep one picture per period of the 90 kHz clock (the source's timeline, not arrival).
                if next_ts is not None and (item.timestamp - next_ts) % (1 << 32) > (1 << 31):
                    continue
                next_ts = (item.timestamp + period_ts) % (1 << 32)
                if encoder is None:
                    height = min(self.max_height, picture.height) // 2 * 2
                    width = max(2, round(picture.width * height / picture.height) // 2 * 2)
                    encoder = av.CodecContext.create("libx264", "w")
                    assert encoder is not None
                    encoder.width, encoder.height = width, height
                    encoder.pix_fmt = "yuv420p"
                    encoder.time_base = Fraction(1, VIDEO_CLOCK_HZ)
                    encoder.framerate = Fraction(self.fps).limit_denominator(1000)
                    encoder.bit_rate = TRANSCODE_BITRATE_BPS
                    encoder.thread_count = 1
                    # Constrained baseline (what the live view negotiates), SPS/PPS on every keyframe.
                    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                                       "x264-params": f"keyint={gop}:min-keyint={gop}:repeat-headers=1"}
                scaled = picture.reformat(width=encoder.width, height=encoder.height, format="yuv420p")
                scaled.pts = item.timestamp
                scaled.time_base = Fraction(1, VIDEO_CLOCK_HZ)
                for packet in encoder.encode(scaled):
                    data = bytes(packet)
                    out = EncodedFrame(h264_payloads(data), item.timestamp, bool(packet.is_keyframe),
                                       arrival=item.arrival, data=data, wall=item.wall)
                    self.frames_out += 1
                    self._post(self._publish, out)
            self.cpu_s += time.thread_time() - t0
