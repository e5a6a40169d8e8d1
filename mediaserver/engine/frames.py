"""Encoded frames as the engine moves them, keyframe detection, and RTP-to-frame assembly.

A frame is kept as the publisher's RTP payloads, untouched: forwarding them one payload per packet means a
subscriber depacketizes exactly the bytes the publisher packetized (byte-identical frames, no re-payloading).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

VIDEO_CLOCK_HZ = 90_000
OPUS_CLOCK_HZ = 48_000
# How long a frame with a missing packet waits for its retransmission before it is given up on.
ASSEMBLY_WAIT_S = 0.2
# Most incomplete frames held at once (a burst of loss beyond this gives up on the oldest).
ASSEMBLY_MAX_PENDING = 8
SEQ_MOD = 1 << 16


@dataclass(slots=True)
class EncodedFrame:
    """One encoded video frame or audio packet, as RTP payloads in the source's clock."""

    payloads: list[bytes]
    timestamp: int
    keyframe: bool
    audio_level: int | None = None  # RFC 6464 level: 0 (loudest) … 127 (silence); None when absent
    arrival: float = field(default_factory=time.monotonic)
    discontinuity: bool = False  # frames were lost just before this one
    # The whole access unit (Annex-B for H.265/H.264) when the source has it (a camera's demuxer), so the
    # recorder and the motion analyser need not depacketize; None for frames that arrived as RTP.
    data: bytes | None = None
    wall: float = 0.0  # UTC epoch seconds at arrival, attached once at ingest (0: not known)

    def rtp_payloads(self) -> list[bytes]:
        """Return the frame as RTP payloads, packetizing a camera's H.264 access unit once, on first use.

        A camera frame that only the recorder and the motion analyser consume is never packetized: that work
        is paid only when a live viewer or a meeting forwards the camera (and then once, however many).
        """
        if not self.payloads and self.data is not None:
            from mediaserver.engine.aiortc_hooks import h264_payloads  # aiortc only where RTP is needed

            self.payloads = h264_payloads(self.data)
        return self.payloads

    @property
    def size(self) -> int:
        """Return the frame's bytes (the access unit when known, else its RTP payloads)."""
        if self.data is not None:
            return len(self.data)
        return sum(len(p) for p in self.payloads)


# ------------------------------------------------------------------------------------------ keyframes


def _vp8_starts(b0: int) -> bool:
    """Return whether a VP8 payload descriptor's first byte marks the start of partition 0 (S=1, PID=0)."""
    return bool(b0 & 0x10) and b0 & 0x07 == 0


def vp8_is_keyframe(payload: bytes) -> bool:
    """Return whether an RTP VP8 payload starts a key frame (RFC 7741 descriptor + VP8 header)."""
    if len(payload) < 2 or not _vp8_starts(payload[0]):
        return False
    b0 = payload[0]
    i = 1
    if b0 & 0x80:  # X: extension byte follows
        x = payload[1]
        i = 2
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if i >= len(payload):
                return False
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/KEYIDX
            i += 1
    return i < len(payload) and payload[i] & 0x01 == 0


_H264_IDR = 5
_H264_SPS = 7


def h264_is_keyframe(payload: bytes) -> bool:
    """Return whether an RTP H.264 payload carries an IDR slice or SPS (RFC 6184 single NAL/STAP-A/FU-A)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == 24:  # STAP-A: 16-bit size + NAL, repeated
        i = 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i:i + 2], "big")
            if size and payload[i + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            i += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A: start fragment of an IDR
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == _H264_IDR
    return False


def starts_frame(codec: str, payload: bytes) -> bool:
    """Return whether an RTP payload can be a frame's first (VP8: S bit on partition 0; H.264: no FU-A middle)."""
    if not payload:
        return False
    codec = codec.lower()
    if codec == "vp8":
        return _vp8_starts(payload[0])
    if codec == "h264" and payload[0] & 0x1F == 28:
        return len(payload) > 1 and bool(payload[1] & 0x80)
    return True


def is_keyframe(codec: str, payloads: list[bytes]) -> bool:
    """Return whether a frame's payloads make a keyframe for ``codec`` ('vp8', 'h264'; audio is always True)."""
    codec = codec.lower()
    if codec == "vp8":
        return bool(payloads) and vp8_is_keyframe(payloads[0])
    if codec == "h264":
        return any(h264_is_keyframe(p) for p in payloads)
    return True


# ------------------------------------------------------------------------------------------- assembly


def _seq_delta(a: int, b: int) -> int:
    """Return b - a in sequence space, in -32768..32767."""
    return (b - a + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


@dataclass(slots=True)
class _Pending:
    timestamp: int
    first_seq: int | None
    packets: dict[int, bytes]
    marker_seq: int | None
    started: float

    def complete(self) -> bool:
        if self.marker_seq is None or self.first_seq is None:
            return False
        n = _seq_delta(self.first_seq, self.marker_seq) + 1
        return n == len(self.packets) and n > 0


class FrameAssembler:
    """Groups a video stream's RTP packets into frames, in order, waiting briefly for retransmissions.

    A frame is complete when its marker packet and every sequence number since the previous frame's marker
    have arrived. Frames are released in order; one still incomplete after ``ASSEMBLY_WAIT_S`` (or when too
    many are pending) is dropped and the next released frame is flagged ``discontinuity``.
    """

    def __init__(self, codec: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.codec = codec
        self._pending: dict[int, _Pending] = {}  # by RTP timestamp, insertion = arrival order
        self._last_marker_seq: int | None = None
        self._gap = False
        self.frames_dropped = 0
        self._now = clock

    def add(self, seq: int, timestamp: int, marker: bool, payload: bytes) -> list[EncodedFrame]:
        """Add one packet; return the frames it completed (possibly none)."""
        if (self._last_marker_seq is not None and timestamp not in self._pending
                and _seq_delta(self._last_marker_seq, seq) <= 0):
            return []  # a late duplicate or retransmission of a frame already released or given up
        pend = self._pending.get(timestamp)
        now = self._now()
        if pend is None:
            pend = self._pending[timestamp] = _Pending(timestamp, None, {}, None, now)
        pend.packets[seq] = payload
        if marker:
            pend.marker_seq = seq
        return self._release(now)

    def _release(self, now: float) -> list[EncodedFrame]:
        out: list[EncodedFrame] = []
        while self._pending:
            ts, head = next(iter(self._pending.items()))
            if head.first_seq is None:
                if self._last_marker_seq is not None:
                    head.first_seq = (self._last_marker_seq + 1) % SEQ_MOD
                else:  # the stream's first frame: trust the lowest sequence number seen
                    head.first_seq = min(head.packets, key=lambda s: _seq_delta(next(iter(head.packets)), s))
            if head.complete():
                assert head.first_seq is not None and head.marker_seq is not None
                payloads = [head.packets[(head.first_seq + i) % SEQ_MOD]
                            for i in range(_seq_delta(head.first_seq, head.marker_seq) + 1)]
                inferred = self._last_marker_seq is None
                self._last_marker_seq = head.marker_seq
                del self._pending[ts]
                if inferred and not starts_frame(self.codec, payloads[0]):
                    # The stream's first frame lost its head (packets sent before this end's SRTP was ready):
                    # forwarding it would put a broken picture on every screen until the next keyframe.
                    self.frames_dropped += 1
                    self._gap = True
                    continue
                out.append(EncodedFrame(payloads, ts, is_keyframe(self.codec, payloads), arrival=now,
                                        discontinuity=self._gap))
                self._gap = False
                continue
            if now - head.started > ASSEMBLY_WAIT_S or len(self._pending) > ASSEMBLY_MAX_PENDING:
                del self._pending[ts]
                self.frames_dropped += 1
                self._gap = True
                if head.marker_seq is not None:
                    self._last_marker_seq = head.marker_seq
                else:
                    self._last_marker_seq = None  # unknown: the next frame's start is inferred again
                continue
            break
        return out
