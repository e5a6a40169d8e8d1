"""Every use of aiortc internals, in one place: the receive tap and the forwarding sender.

Pinned to aiortc 1.16 (``SUPPORTED_AIORTC``); ``tests/test_aiortc_hooks.py`` fails loudly if a new aiortc
moves what we touch. What we rely on, read from aiortc 1.16.0's source:

- ``RTCDtlsTransport`` calls ``receiver._handle_rtp_packet(packet, arrival_time_ms=...)`` for every RTP packet
  (looked up on the instance, so an instance attribute replaces it). The stock handler depayloads, fills a
  jitter buffer and queues frames to a decoder thread; ours keeps what the network needs (receiver
  statistics for RTCP RR, RTX unwrapping, NACK generation, REMB) and hands the *RTP payloads untouched* to
  the engine. The idle decoder thread is stopped.
- ``RTCRtpSender._run_rtp`` awaits ``self._next_encoded_frame(codec)`` and packetizes nothing itself when
  that returns ``RTCEncodedFrame(payloads, timestamp, audio_level)``: each payload becomes one RTP packet
  with the sender's SSRC, sequence numbers, marker on the last payload, abs-send-time, mid and audio level,
  kept in its 128-packet history so aiortc's own NACK handling retransmits (RTX when negotiated).
- ``RTCRtpSender.send`` starts ``self._run_rtcp()``, and ``stop`` waits on its private started/exited events;
  we defer that loop until a slot has sent its first packet (idle slots send no reports).
- A subscriber's PLI/FIR makes the sender call ``self._send_keyframe()``; we route it to the engine, which
  relays a throttled PLI to the publisher with ``receiver._send_rtcp_pli(ssrc)``.
- ``aiortc.clock.current_ntp_time`` and ``current_ms`` are looked up on the module at each call (the sender
  calls the first twice per RTP packet for abs-send-time and its SR, the DTLS transport the second per packet
  received) and build a ``datetime`` each time (py-spy put 13 % of a forwarding sender's samples there; 0.94 µs
  a call). ``install_fast_clock`` replaces them with integer arithmetic on ``time.time_ns()`` (0.26 µs, the
  same values; tests/test_engine.py compares them with aiortc's own formula).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc.codecs import is_rtx
from aiortc.codecs.h264 import H264Encoder
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci, unwrap_rtx

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16."

PacketSink = Callable[[RtpPacket, RTCRtpCodecParameters], None]
# (payloads, timestamp in the codec clock, audio level in dBov ≤ 0 or None); None return = nothing to send.
FrameSource = Callable[[], Awaitable[tuple[list[bytes], int, int | None] | None]]


class UnsupportedAiortc(RuntimeError):
    """The installed aiortc is not the version these hooks were written against."""


def check_version() -> None:
    """Refuse to run on an aiortc whose internals we have not checked."""
    if not aiortc.__version__.startswith(SUPPORTED_AIORTC):
        raise UnsupportedAiortc(
            f"mediaserver's forwarding engine hooks aiortc {SUPPORTED_AIORTC}x internals; "
            f"aiortc {aiortc.__version__} is installed (pin it, or re-check mediaserver/engine/aiortc_hooks.py)"
        )


check_version()

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch)
_NS_PER_S = 1_000_000_000


def fast_ntp_time() -> int:
    """Return the current time as 64-bit NTP (32.32 fixed point since 1900), like aiortc's, without datetime."""
    seconds, ns = divmod(time.time_ns(), _NS_PER_S)
    return ((seconds + NTP_UNIX_OFFSET_S) << 32) | ((ns << 32) // _NS_PER_S)


def fast_ms() -> int:
    """Return milliseconds since the NTP epoch, like aiortc's ``clock.current_ms``, without datetime."""
    return time.time_ns() // 1_000_000 + NTP_UNIX_OFFSET_S * 1000


def install_fast_clock() -> None:
    """Point aiortc's per-packet clock functions at ``fast_ntp_time``/``fast_ms`` (idempotent)."""
    aiortc_clock.current_ntp_time = fast_ntp_time
    aiortc_clock.current_ms = fast_ms


install_fast_clock()


def _private(obj: Any, cls: type, name: str) -> Any:
    return getattr(obj, f"_{cls.__name__}__{name}")


def tap_receiver(receiver: RTCRtpReceiver, on_packet: PacketSink,
                 estimator: RemoteBitrateEstimator | None = None) -> None:
    """Hand a receiver's RTP packets to ``on_packet`` before any depayloading or decoding.

    ``estimator``: one receive-side bandwidth estimator shared by every video receiver of a peer connection.
    A browser takes each REMB as the estimate for its whole uplink, so per-receiver estimators (aiortc's
    default) would cap a site publishing HD and a thumbnail at ~1.5× the thumbnail's rate (measured: 93 kbit/s).
    """
    codecs: dict[int, RTCRtpCodecParameters] = _private(receiver, RTCRtpReceiver, "codecs")
    streams: dict[int, StreamStatistics] = _private(receiver, RTCRtpReceiver, "remote_streams")
    rtx_ssrc: dict[int, int] = _private(receiver, RTCRtpReceiver, "rtx_ssrc")
    nack = _private(receiver, RTCRtpReceiver, "nack_generator")
    remb = _private(receiver, RTCRtpReceiver, "remote_bitrate_estimator")
    if remb is not None and estimator is not None:
        remb = estimator

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        if remb is not None and packet.extensions.abs_send_time is not None:
            estimate = remb.add(abs_send_time=packet.extensions.abs_send_time, arrival_time_ms=arrival_time_ms,
                                payload_size=len(packet.payload) + packet.padding_size, ssrc=packet.ssrc)
            rtcp_ssrc = _private(receiver, RTCRtpReceiver, "rtcp_ssrc")
            if estimate is not None and rtcp_ssrc is not None:
                await receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                                         fci=pack_remb_fci(*estimate)))
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original is None or len(packet.payload) < 2 or not isinstance(apt, int) or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            codec = codecs[apt]
        if nack is not None and nack.add(packet):
            await receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
        on_packet(packet, codec)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    # RTCPeerConnection calls receive() once DTLS is up; it starts a decoder thread we never feed: stop it.
    original_receive = receiver.receive

    async def receive(parameters: Any) -> None:
        await original_receive(parameters)
        _private(receiver, RTCRtpReceiver, "stop_decoder")()

    receiver.receive = receive  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI for ``media_ssrc`` to the publisher behind ``receiver``."""
    await receiver._send_rtcp_pli(media_ssrc)


class PlaceholderTrack(MediaStreamTrack):
    """Keeps a forwarding sender's RTP loop running; its frames come from the engine, never from recv()."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:  # pragma: no cover - never called on a forwarding sender
        raise RuntimeError("a forwarding sender's track is never read")


def make_forwarding_sender(sender: RTCRtpSender, next_frame: FrameSource,
                           on_keyframe_request: Callable[[], None]) -> None:
    """Make ``sender`` send the engine's frames as-is and report the subscriber's keyframe requests."""

    first_frame = asyncio.Event()

    async def next_encoded_frame(codec: RTCRtpCodecParameters) -> RTCEncodedFrame | None:
        item = await next_frame()
        if item is None:
            return None
        first_frame.set()
        payloads, timestamp, audio_level = item
        return RTCEncodedFrame(payloads, timestamp, audio_level)  # type: ignore[arg-type]

    sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]

    # A slot that has never carried media has nothing to report: start aiortc's RTCP loop (sender
    # reports every ~1 s) only once the first packet went out. An idle host grid of 20 slots would
    # otherwise cost 20 SR/SDES packets a second per site for nothing.
    original_rtcp = sender._run_rtcp
    started = _private(sender, RTCRtpSender, "rtcp_started")
    exited = _private(sender, RTCRtpSender, "rtcp_exited")

    async def lazy_rtcp() -> None:
        started.set()  # stop() waits for this before it cancels us
        try:
            await first_frame.wait()
        except asyncio.CancelledError:
            exited.set()
            return
        await original_rtcp()

    sender._run_rtcp = lazy_rtcp  # type: ignore[method-assign]


def h264_payloads(access_unit: bytes) -> list[bytes]:
    """Split an Annex-B H.264 access unit into RTP payloads (single NAL, STAP-A, FU-A; RFC 6184 mode 1).

    For sources that deliver whole access units (a camera reassembled by our RTSP client): packetized once
    at ingest, then forwarded as-is to every viewer like a browser's payloads.
    """
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


def sender_counters(sender: RTCRtpSender) -> tuple[int, int]:
    """Return (packets, octets) a sender has sent."""
    return (_private(sender, RTCRtpSender, "packet_count"), _private(sender, RTCRtpSender, "octet_count"))


def receiver_loss(receiver: RTCRtpReceiver) -> tuple[int, int]:
    """Return (packets expected, packets lost) over the receiver's streams."""
    streams: dict[int, StreamStatistics] = _private(receiver, RTCRtpReceiver, "remote_streams")
    expected = sum(s.packets_expected for s in streams.values())
    lost = sum(max(0, s.packets_lost) for s in streams.values())
    return expected, lost
