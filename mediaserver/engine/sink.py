"""A sink: one consumer of one source at a time (a subscriber's track, a recorder, an analyser).

Every sink is a *slot*: its source can change. A video slot keeps forwarding the old source until the new
one delivers a keyframe, then switches, rewriting timestamps so the receiver sees one continuous stream
(the sender owns SSRC and sequence numbers, which therefore never jump). Each sink has a bounded queue: a
sink that falls behind drops what it holds, asks for a keyframe and resumes on it — it never grows memory
or slows the source or any other sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from mediaserver.engine.frames import EncodedFrame
from mediaserver.engine.source import Source

if TYPE_CHECKING:
    from mediaserver.engine.engine import Engine

logger = logging.getLogger(__name__)

VIDEO_QUEUE_FRAMES = 16
AUDIO_QUEUE_FRAMES = 25  # 0.5 s of 20 ms Opus packets
TS_MOD = 1 << 32


class Sink:
    """A bounded, switchable subscription to one source."""

    def __init__(self, engine: Engine, sink_id: str, kind: str, capacity: int | None = None) -> None:
        self.engine = engine
        self.id = sink_id
        self.kind = kind
        self.capacity = capacity or (VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_FRAMES)
        self.source: Source | None = None
        self.pending: Source | None = None  # switching to this source on its next keyframe
        self._queue: deque[tuple[EncodedFrame, int]] = deque()
        self._ready = asyncio.Event()
        self._need_keyframe = True
        self._rebase_next = True
        self._ts_offset = 0
        self._last_out_ts: int | None = None
        self._last_out_at = 0.0
        self.closed = False
        # statistics
        self.frames_out = 0
        self.frames_dropped = 0
        self.switches = 0

    # ------------------------------------------------------------------------------------ wiring

    def attach(self, source: Source | None) -> None:
        """Make ``source`` this sink's source (None: show nothing); video switches on its next keyframe."""
        if source is self.source and self.pending is None:
            return
        if self.pending is not None and self.pending is not self.source:
            self.pending.sinks.discard(self)
        self.pending = None
        if source is None:
            self._detach_current()
            return
        if self.source is None or not source.needs_keyframes:
            self._detach_current()
            self.source = source
            self._need_keyframe = source.needs_keyframes
            self._rebase_next = True
            source.sinks.add(self)
            if source.needs_keyframes:
                self.engine.request_keyframe(source)
            return
        if source is self.source:
            return
        self.pending = source
        source.sinks.add(self)
        self.engine.request_keyframe(source)

    def _detach_current(self) -> None:
        if self.source is not None:
            self.source.sinks.discard(self)
        self.source = None
        self._rebase_next = True

    def wait_for_keyframe(self) -> None:
        """Drop frames until the next keyframe and ask the source for one."""
        self._need_keyframe = True
        if self.source is not None:
            self.engine.request_keyframe(self.source)

    # ------------------------------------------------------------------------------------ frames

    def offer(self, source: Source, frame: EncodedFrame) -> None:
        """Take a frame from a source (called by Source.publish; never blocks)."""
        if self.closed:
            return
        if source is self.pending:
            if not frame.keyframe:
                return
            assert self.source is not None
            self.source.sinks.discard(self)
            self.source, self.pending = source, None
            self.switches += 1
            self._rebase_next = True
            self._need_keyframe = False
        elif source is not self.source:
            source.sinks.discard(self)  # stale registration
            return
        if frame.discontinuity and source.needs_keyframes and not frame.keyframe:
            self._need_keyframe = True
            self.engine.request_keyframe(source)
        if self._need_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._need_keyframe = False
        if len(self._queue) >= self.capacity:
            # Fallen behind: drop everything queued and restart on a keyframe (video) or the newest (audio).
            self.frames_dropped += len(self._queue)
            self._queue.clear()
            if source.needs_keyframes and not frame.keyframe:
                self.frames_dropped += 1
                self.wait_for_keyframe()
                return
        self._queue.append((frame, self._out_timestamp(source, frame)))
        self._ready.set()

    def _out_timestamp(self, source: Source, frame: EncodedFrame) -> int:
        """Map a source timestamp onto this sink's continuous output timeline."""
        now = frame.arrival
        if self._rebase_next:
            self._rebase_next = False
            if self._last_out_ts is None:
                self._ts_offset = 0
            else:
                # Continue from the last frame sent, advanced by the real time elapsed since it.
                elapsed = max(1, int((now - self._last_out_at) * source.clock_rate))
                self._ts_offset = (self._last_out_ts + elapsed - frame.timestamp) % TS_MOD
        out = (frame.timestamp + self._ts_offset) % TS_MOD
        self._last_out_ts, self._last_out_at = out, now
        return out

    async def next(self) -> tuple[EncodedFrame, int]:
        """Wait for the next frame and return it with its output timestamp."""
        while not self._queue:
            if self.closed:
                raise asyncio.CancelledError
            self._ready.clear()
            await self._ready.wait()
        self.frames_out += 1
        item = self._queue.popleft()
        self.engine.observe_latency(time.monotonic() - item[0].arrival)
        return item

    def close(self) -> None:
        """Detach from every source and wake any waiter; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.pending is not None:
            self.pending.sinks.discard(self)
        self.pending = None
        self._detach_current()
        self._queue.clear()
        self._ready.set()

    def queued(self) -> int:
        """Return the frames waiting to be sent."""
        return len(self._queue)

