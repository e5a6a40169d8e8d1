"""What a subscriber's RTCP says about its link: its receiver estimate (REMB) and the loss it reports.

aiortc's ``RTCDtlsTransport`` hands every RTCP packet for a sender to ``sender._handle_rtcp_packet(packet)``
(looked up on the instance, like the receive tap in ``aiortc_hooks``). ``watch`` wraps it: the stock handler
still runs (RTT, NACK retransmits, PLI/FIR → keyframe relay), and the wrapper keeps, per subscriber:

- the latest REMB per SSRC list. A browser sends one REMB for everything it receives on the transport (its
  SSRC list names each stream), so its bitrate is the whole link's estimate; aiortc sends one per receiver,
  for its own stream. The link's estimate is the sum over the distinct lists heard recently, compared with
  what the server sends that subscriber in total;
- each sender's latest receiver-report ``fraction_lost`` (RFC 3550: lost ÷ expected since the previous report,
  in 1/256), for the sender's own SSRC.

This is per RTCP packet (about one a second per stream), never per RTP packet.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket, RtcpSrPacket, unpack_remb_fci

REPORT_FRESH_S = 3.0  # a receiver report or REMB older than this says nothing about the link now


class LinkFeedback:
    """One subscriber's latest REMB and per-stream loss, from the RTCP of its forwarding senders."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._remb: dict[tuple[int, ...], tuple[float, float]] = {}  # SSRC list → (bitrate, when)
        self.remb_bps: float | None = None  # the latest link estimate (the sum), for the chair's monitoring
        self._loss: dict[int, tuple[float, float]] = {}  # sender SSRC → (fraction lost, when)
        self.rtcp_packets = 0

    def on_remb(self, bitrate_bps: float, ssrcs: tuple[int, ...]) -> None:
        """Take a receiver estimate for the streams it names."""
        self._remb[ssrcs] = (float(bitrate_bps), self._clock())

    def on_loss(self, ssrc: int, fraction_lost: int) -> None:
        """Take a receiver report's fraction lost (0–255) for one of our streams."""
        self._loss[ssrc] = (fraction_lost / 256.0, self._clock())

    def forget(self, ssrc: int) -> None:
        """Drop a stream's loss (its sender stopped)."""
        self._loss.pop(ssrc, None)

    def remb(self, now: float) -> float | None:
        """Return the link's estimate from the recent REMBs (None: none recent)."""
        for key in [k for k, (_, at) in self._remb.items() if now - at > REPORT_FRESH_S]:
            del self._remb[key]
        self.remb_bps = sum(bps for bps, _ in self._remb.values()) if self._remb else None
        return self.remb_bps

    def worst_loss(self, now: float) -> float | None:
        """Return the highest recent fraction lost over this subscriber's streams (None: no recent report)."""
        fresh = [loss for loss, at in self._loss.values() if now - at <= REPORT_FRESH_S]
        return max(fresh) if fresh else None


def watch(sender: RTCRtpSender, feedback: LinkFeedback) -> None:
    """Feed a forwarding sender's REMB and receiver reports to ``feedback``; the stock handling still runs."""
    stock: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        feedback.rtcp_packets += 1
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            ssrc = sender._ssrc
            for report in packet.reports:
                if report.ssrc == ssrc:
                    feedback.on_loss(ssrc, report.fraction_lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                pass  # not a REMB (another application-layer feedback): the stock handler ignores it too
            else:
                if sender._ssrc in ssrcs:
                    feedback.on_remb(bitrate, tuple(sorted(ssrcs)))
        await stock(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
