"""The forwarding engine: routes encoded media from sources to sinks without decoding or re-encoding.

Design, and why (numbers measured on this project's 2-core machines, see ../shared/notes and BENCHMARKS.md):
- aiortc's ``MediaRelay`` decodes once and re-encodes per subscriber: measured 7.7–8.3 % of a core per
  640x360 stream here (``make bench-conference``; the notes saw 20–25 % with live-encoded content).
  Handing encoded frames to a sender that re-packetizes them costs ~2 % per subscriber (notes); a bare
  packet forwarder in Python tops out near 36 k packets/s per core on asyncio, 42–58 k on uvloop (notes).
- Choice: payload-level forwarding through aiortc's senders, between the two. Measured in the same
  benchmark run: 0.57–0.66 % of a core per forwarded stream (relay_cpu_ratio 12.5–13.4), and the full
  21-site meeting (60 video streams, ~6.6 k packets/s out) at 39 % of one core: ~17 k forwarded
  packets/s per core *including* everything a packet forwarder skips (RTCP SR/RR, NACK history, REMB,
  receive statistics, the meeting's layout loop and signalling).
- We forward at the RTP-payload level through aiortc's own senders (see ``aiortc_hooks``): the receive tap
  takes each packet's payload before the depacketizer and jitter buffer, ``FrameAssembler`` groups them
  into frames as soon as a frame's last packet arrives (no jitter-buffer frame delay), and each
  subscriber's sender re-sends the *same payloads* with its own SSRC and sequence numbers. So frames are
  byte-identical, per-subscriber work is one RTP header + SRTP per packet, and every leg keeps aiortc's NACK
  history, RTX, RTCP SR/RR and REMB.
- Keyframe requests from subscribers (PLI/FIR), slot switches and recoveries all go through
  ``request_keyframe``, throttled to one request per source per ``KEYFRAME_MIN_INTERVAL_S`` — with one
  trailing request at the end of the window, so a late joiner is never left waiting for a natural keyframe.

The engine knows sources and sinks only: rooms, sites and cameras are policies built on top of it.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from typing import Any

from mediaserver.engine.sink import Sink
from mediaserver.engine.source import Source

logger = logging.getLogger(__name__)

KEYFRAME_MIN_INTERVAL_S = 0.5
# Upper bounds (seconds) of the forwarding-latency histogram: frame complete → handed to a sender.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)


class Engine:
    """Registry of sources and sinks, and the keyframe-request throttle."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self._last_request: dict[str, float] = {}
        self._trailing: dict[str, asyncio.TimerHandle] = {}
        self.keyframe_requests_sent = 0
        self.keyframe_requests_suppressed = 0
        # Counts per LATENCY_BUCKETS_S bucket (+1 overflow): plain ints, no lock, nothing per frame allocated.
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)

    def add_source(self, source: Source) -> Source:
        """Register a source (replacing a stale one with the same id)."""
        old = self.sources.get(source.id)
        if old is not None and old is not source:
            self.remove_source(old.id)
        self.sources[source.id] = source
        return source

    def remove_source(self, source_id: str) -> None:
        """Unregister a source; its sinks show nothing until given another source."""
        source = self.sources.pop(source_id, None)
        if source is None:
            return
        source.closed = True
        for sink in tuple(source.sinks):
            if sink.source is source:
                sink.attach(None)
            elif sink.pending is source:
                sink.pending = None
        source.sinks.clear()
        handle = self._trailing.pop(source_id, None)
        if handle is not None:
            handle.cancel()
        self._last_request.pop(source_id, None)

    def new_sink(self, sink_id: str, kind: str, capacity: int | None = None) -> Sink:
        """Create a sink bound to this engine."""
        return Sink(self, sink_id, kind, capacity)

    def request_keyframe(self, source: Source) -> None:
        """Ask a source's publisher for a keyframe, at most once per KEYFRAME_MIN_INTERVAL_S."""
        if not source.needs_keyframes or source.closed:
            return
        now = time.monotonic()
        last = self._last_request.get(source.id, 0.0)
        if now - last >= KEYFRAME_MIN_INTERVAL_S:
            self._last_request[source.id] = now
            self.keyframe_requests_sent += 1
            source.request_keyframe_now()
            return
        self.keyframe_requests_suppressed += 1
        if source.id not in self._trailing:
            delay = KEYFRAME_MIN_INTERVAL_S - (now - last)
            self._trailing[source.id] = asyncio.get_running_loop().call_later(delay, self._trailing_request,
                                                                              source)

    def _trailing_request(self, source: Source) -> None:
        self._trailing.pop(source.id, None)
        if self.sources.get(source.id) is source:
            self.request_keyframe(source)

    def observe_latency(self, seconds: float) -> None:
        """Count one frame's time from arrival to its sender (the server-added latency)."""
        # bisect_left: the first bucket whose upper bound is >= seconds (the last index is the overflow).
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1

    def close(self) -> None:
        """Drop every source and cancel pending timers."""
        for source_id in list(self.sources):
            self.remove_source(source_id)

    def stats(self) -> dict[str, Any]:
        """Return engine-wide counters."""
        return {
            "sources": len(self.sources),
            "sinks": sum(len(s.sinks) for s in self.sources.values()),
            "keyframe_requests_sent": self.keyframe_requests_sent,
            "keyframe_requests_suppressed": self.keyframe_requests_suppressed,
        }
