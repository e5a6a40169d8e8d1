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
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc
import pylibsrtp
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc.codecs import is_rtx
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtpsender import RTCEncodedFrame, random_sequence_number
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci, unwrap_rtx
from aiortc.utils import random32

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

    def process(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        if remb is not None and packet.extensions.abs_send_time is not None:
            estimate = remb.add(abs_send_time=packet.extensions.abs_send_time, arrival_time_ms=arrival_time_ms,
                                payload_size=len(packet.payload) + packet.padding_size, ssrc=packet.ssrc)
            rtcp_ssrc = _private(receiver, RTCRtpReceiver, "rtcp_ssrc")
            if estimate is not None and rtcp_ssrc is not None:
                _spawn(receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                                          fci=pack_remb_fci(*estimate))))
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
            _spawn(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        on_packet(packet, codec)

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        process(packet, arrival_time_ms)

    receiver._mediaserver_rtp = process  # type: ignore[attr-defined]  # the fast path calls it synchronously
    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    # RTCPeerConnection calls receive() once DTLS is up; it starts a decoder thread we never feed: stop it.
    original_receive = receiver.receive

    async def receive(parameters: Any) -> None:
        await original_receive(parameters)
        _private(receiver, RTCRtpReceiver, "stop_decoder")()
        install_fast_rtp(receiver.transport)

    receiver.receive = receive  # type: ignore[method-assign]


_TASKS: set[asyncio.Task[Any]] = set()


def _spawn(coro: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def install_fast_rtp(dtls: RTCDtlsTransport) -> None:
    """Take incoming SRTP (RTP, not RTCP) straight from the ICE sockets to the receive taps, synchronously.

    aiortc's way: aioice's ``datagram_received`` tries to parse every datagram as STUN (a raised ValueError
    per media packet), queues it, a DTLS task awaits the queue through two transports, unprotects, parses,
    routes and awaits the receiver. Here, on the same sockets, an SRTP datagram whose SSRC the RTP router maps to a
    tapped receiver is unprotected with the DTLS transport's session, parsed with its extension map (as
    ``RTCDtlsTransport._handle_rtp_data`` does) and handed to the tap's ``process`` in the same callback.
    STUN, DTLS and SRTCP keep aiortc's path (so RTCP still reaches ``sender._handle_rtcp_packet``).
    Idempotent per socket; installed once DTLS is up (the SRTP session exists).
    """
    connection = dtls.transport._connection
    ssrc_table = dtls._rtp_router.ssrc_table
    queue = connection._queue
    ext_map = dtls._rtp_header_extensions_map
    parse = RtpPacket.parse
    for protocol in connection._protocols:
        if getattr(protocol, "_mediaserver_fast", False):
            continue
        stock = protocol.datagram_received

        def fast(data: bytes, addr: Any, stock: Any = stock) -> None:
            # Only RTP for a tapped receiver whose SSRC the router already knows (the header is in clear), and
            # only once aiortc's queue is drained (never overtake a packet still queued): anything else (an
            # unknown SSRC routed by mid, a receiver that decodes) keeps aiortc's path, in order.
            if 127 < data[0] < 192 and not 191 < data[1] < 209 and dtls._rx_srtp is not None and queue.empty():
                receiver = ssrc_table.get(int.from_bytes(data[8:12], "big"))
                process = getattr(receiver, "_mediaserver_rtp", None)
                if process is not None:
                    try:
                        packet = parse(dtls._rx_srtp.unprotect(data), ext_map)
                    except (pylibsrtp.Error, ValueError):
                        return
                    process(packet, fast_ms())
                    return
            stock(data, addr)

        protocol.datagram_received = fast  # type: ignore[method-assign,assignment]
        protocol._mediaserver_fast = True  # type: ignore[attr-defined]


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
    sender._run_rtp = _lean_rtp_loop(sender, next_frame, first_frame)  # type: ignore[method-assign,assignment]
    sender._retransmit = _lean_retransmit(sender)  # type: ignore[method-assign,assignment]


RTP_HISTORY = 128  # aiortc's RTP_HISTORY_SIZE: what a NACK can still recover
_ABS_A, _ABS_B = 0x000000, 0xFFFFFF


def _header_template(sender: RTCRtpSender, payload_type: int, audio: bool) -> tuple[bytes, int, int]:
    """Serialize a sender's RTP header once; return it with the offsets of abs-send-time and audio level.

    The negotiated extensions (mid, abs-send-time, audio level) are laid out by aiortc's own serializer;
    the varying bytes are found by serializing twice with different values (-1: extension not negotiated).
    """
    ext_map = _private(sender, RTCRtpSender, "rtp_header_extensions_map")
    mid = _private(sender, RTCRtpSender, "mid")

    def build(abs_send: int, level: int) -> bytes:
        p = RtpPacket(payload_type=payload_type, sequence_number=0, timestamp=0, ssrc=sender._ssrc)
        p.extensions.mid = mid
        p.extensions.abs_send_time = abs_send
        if audio:
            p.extensions.audio_level = (False, level)
        return bytes(p.serialize(ext_map))

    base = build(_ABS_A, 0x11)

    def diff(other: bytes) -> int:
        at = [i for i, (x, y) in enumerate(zip(base, other, strict=True)) if x != y]
        return at[0] if at else -1

    abs_at = diff(build(_ABS_B, 0x11))
    level_at = diff(build(_ABS_A, 0x22)) if audio else -1
    return base, abs_at, level_at


def _lean_rtp_loop(sender: RTCRtpSender, next_frame: FrameSource, first_frame: asyncio.Event
                   ) -> Callable[[RTCRtpCodecParameters], Awaitable[None]]:
    """Replace aiortc's ``RTCRtpSender._run_rtp`` for a forwarding sender: the same packets, less per packet.

    aiortc builds an ``RtpPacket`` per payload, serializes its extensions, and awaits four layers
    (DTLS transport → ICE transport → aioice connection → protocol) per packet. Here one header template per
    sender is serialized once (by aiortc, with the negotiated mid / abs-send-time / audio-level ids), and per
    packet we set sequence number, timestamp, marker, abs-send-time and level in a copy, SRTP-protect with the
    DTLS transport's session and ``sendto`` on the nominated ICE pair — what ``_send_rtp`` does, without the
    awaits. Kept: aiortc's counters for its sender reports (packets, octets, NTP/RTP time of the last packet),
    the 128-packet history its NACK handler retransmits from (RTX when negotiated, ``_lean_retransmit``), the
    DTLS transport's byte and packet counters, and the payloads untouched.
    """
    pfx = f"_{RTCRtpSender.__name__}__"

    async def run(codec: RTCRtpCodecParameters) -> None:
        _private(sender, RTCRtpSender, "rtp_started").set()
        audio = codec.mimeType.lower().startswith("audio/")
        header, abs_at, level_at = _header_template(sender, int(codec.payloadType or 0), audio)
        history: list[tuple[int, int, int, bytes, int | None] | None] = [None] * RTP_HISTORY
        sender._lean_history = history  # type: ignore[attr-defined]
        sender._lean_payload_type = codec.payloadType  # type: ignore[attr-defined]
        sequence_number = random_sequence_number()
        timestamp_origin = random32()
        pack_into = struct.pack_into
        dtls = sender.transport
        try:
            while True:
                item = await next_frame()
                if item is None:
                    continue
                first_frame.set()
                payloads, frame_ts, audio_level = item
                if dtls._state != DtlsState.CONNECTED:
                    raise ConnectionError("Cannot send encrypted RTP, not connected")
                pair = dtls.transport._connection._nominated.get(1)
                if pair is None:
                    raise ConnectionError("Cannot send data, not connected")
                sendto = pair.protocol.transport.sendto
                addr = pair.remote_addr
                protect = dtls._tx_srtp.protect
                timestamp = (timestamp_origin + frame_ts) & 0xFFFFFFFF
                ntp = fast_ntp_time()
                abs_send = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
                last = len(payloads) - 1
                octets = sent_bytes = 0
                for i, payload in enumerate(payloads):
                    hdr = bytearray(header)
                    pack_into("!HI", hdr, 2, sequence_number, timestamp)
                    if i == last:
                        hdr[1] |= 0x80
                    if abs_at >= 0:
                        hdr[abs_at:abs_at + 3] = abs_send
                    if level_at >= 0 and audio_level is not None:
                        hdr[level_at] = (hdr[level_at] & 0x80) | (-audio_level & 0x7F)
                    history[sequence_number % RTP_HISTORY] = (sequence_number, timestamp, int(i == last), payload,
                                                               audio_level)
                    data = protect(bytes(hdr) + payload)
                    sendto(data, addr)
                    octets += len(payload)
                    sent_bytes += len(data)
                    sequence_number = (sequence_number + 1) & 0xFFFF
                n = len(payloads)
                d = sender.__dict__
                d[pfx + "ntp_timestamp"] = ntp
                d[pfx + "rtp_timestamp"] = timestamp
                d[pfx + "octet_count"] += octets
                d[pfx + "packet_count"] += n
                dd = dtls.__dict__
                dd["_RTCDtlsTransport__tx_bytes"] += sent_bytes
                dd["_RTCDtlsTransport__tx_packets"] += n
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:  # like aiortc: the exited event must be set or stop() hangs
            logger.exception("forwarding sender failed")
        finally:
            _private(sender, RTCRtpSender, "rtp_exited").set()

    return run


def _lean_retransmit(sender: RTCRtpSender) -> Callable[[int], Awaitable[None]]:
    """Answer a NACK from the lean loop's history through aiortc's own ``_retransmit`` (RTX and all)."""
    stock = sender._retransmit
    aiortc_history: dict[int, RtpPacket] = _private(sender, RTCRtpSender, "rtp_history")

    async def retransmit(sequence_number: int) -> None:
        history = getattr(sender, "_lean_history", None)
        entry = history[sequence_number % RTP_HISTORY] if history is not None else None
        if entry is None or entry[0] != sequence_number:
            return
        seq, timestamp, marker, payload, audio_level = entry
        packet = RtpPacket(payload_type=0, sequence_number=seq, timestamp=timestamp, ssrc=sender._ssrc)
        packet.payload_type = sender._lean_payload_type  # type: ignore[attr-defined]
        packet.marker = marker
        packet.payload = payload
        packet.extensions.mid = _private(sender, RTCRtpSender, "mid")
        packet.extensions.abs_send_time = (fast_ntp_time() >> 14) & 0x00FFFFFF
        if audio_level is not None:
            packet.extensions.audio_level = (False, -audio_level)
        aiortc_history[sequence_number % RTP_HISTORY] = packet
        await stock(sequence_number)

    return retransmit


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
