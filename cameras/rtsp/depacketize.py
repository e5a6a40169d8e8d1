"""RTP → access units for H.264 (RFC 6184) and H.265 (RFC 7798): what a camera's RTP stream carries.

A ``Depacketizer`` takes RTP packets of one video stream in arrival order and calls ``on_access_unit`` with
each complete access unit: its NAL units (without start codes), its RTP timestamp and whether it is a
keyframe. An access unit ends at the RTP marker bit, or — for cameras that forget the marker — when a
packet with a new timestamp arrives. A lost packet (sequence gap) drops the access unit it broke and every
following one up to the next keyframe: nothing downstream can ask a camera for a keyframe, so a decoder fed
a broken reference would show garbage until then anyway, and a recording would keep it.

This is the ingest's hot path (a few hundred packets per second per camera): no logging per packet, one
slice per NAL fragment, one join per access unit.
"""

from __future__ import annotations

from collections.abc import Callable

# H.264 NAL unit types (RFC 6184 §5.2).
H264_IDR = 5
H264_SPS = 7
H264_PPS = 8
H264_STAP_A = 24
H264_FU_A = 28
# H.265 NAL unit types (RFC 7798 §4.4).
H265_IRAP_FIRST, H265_IRAP_LAST = 16, 21  # BLA, IDR, CRA: random access points
H265_VPS = 32
H265_SPS = 33
H265_PPS = 34
H265_AP = 48
H265_FU = 49

RTP_HEADER_BYTES = 12
_SEQ_MOD = 1 << 16
# An access unit larger than this is a broken stream, not a picture (an 8K keyframe is ~2 MB).
MAX_ACCESS_UNIT_BYTES = 16_000_000

AccessUnitCallback = Callable[[list[bytes], int, bool], None]
# UDP only: how many packets may wait for a missing one before it is declared lost (~50–150 ms of video).
REORDER_WINDOW_PACKETS = 32


def rtp_payload(packet: bytes) -> tuple[int, int, bool, int, bytes] | None:
    """Split an RTP packet into (payload type, sequence number, marker, timestamp, payload); None if malformed."""
    if len(packet) < RTP_HEADER_BYTES or packet[0] >> 6 != 2:
        return None
    first = packet[0]
    offset = RTP_HEADER_BYTES + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 4-byte header, then its length in 32-bit words
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(packet[offset + 2:offset + 4], "big")
    end = len(packet)
    if first & 0x20:  # padding: the last byte counts the padding bytes
        end -= packet[-1]
    if end <= offset:
        return None
    second = packet[1]
    return (second & 0x7F, int.from_bytes(packet[2:4], "big"), bool(second & 0x80),
            int.from_bytes(packet[4:8], "big"), packet[offset:end])


def _aggregated(payload: bytes, offset: int) -> list[bytes]:
    """Return the NAL units of an aggregation packet (STAP-A, AP): 16-bit size, NAL, … from ``offset``."""
    nals = []
    n = len(payload)
    while offset + 2 < n:
        size = (payload[offset] << 8) | payload[offset + 1]
        nal = payload[offset + 2:offset + 2 + size]
        if not nal:
            break
        nals.append(nal)
        offset += 2 + size
    return nals


class Reorderer:
    """Puts RTP packets back in sequence order within a small window (UDP can reorder; TCP never does)."""

    def __init__(self, out: Callable[[bytes], None], window: int = REORDER_WINDOW_PACKETS) -> None:
        self.out = out
        self.window = window
        self.expected: int | None = None
        self.held: dict[int, bytes] = {}
        self.reordered = 0  # packets that arrived early and were held
        self.late = 0  # packets that arrived after we had given up on them (dropped)
        self._late_run = 0

    def push(self, packet: bytes) -> None:
        """Take one packet; pass on every packet that is now in order."""
        if len(packet) < RTP_HEADER_BYTES:
            self.out(packet)  # the depacketizer counts it as malformed
            return
        seq = (packet[2] << 8) | packet[3]
        expected = self.expected
        if expected is None or seq == expected:
            self._late_run = 0
            self.out(packet)
            self.expected = (seq + 1) % _SEQ_MOD
            if self.held:
                self._drain()
            return
        ahead = (seq - expected) % _SEQ_MOD
        if ahead >= _SEQ_MOD // 2:  # behind: too late (or a duplicate)
            self.late += 1
            self._late_run += 1
            if self._late_run > self.window:  # the camera restarted its sequence: follow it
                self.expected, self._late_run = None, 0
                self._flush()
            return
        self._late_run = 0
        self.held[seq] = packet
        self.reordered += 1
        if len(self.held) > self.window:  # the missing packet is lost: go on from the oldest held one
            self.expected = min(self.held, key=lambda s: (s - expected) % _SEQ_MOD)
            self._drain()

    def _drain(self) -> None:
        held, out = self.held, self.out
        expected = self.expected
        assert expected is not None
        while expected in held:
            out(held.pop(expected))
            expected = (expected + 1) % _SEQ_MOD
        self.expected = expected

    def _flush(self) -> None:
        """Pass on everything held, oldest first (the sequence restarted)."""
        for seq in sorted(self.held):
            self.out(self.held[seq])
        self.held.clear()


class Depacketizer:
    """Reassembles one H.264 or H.265 RTP stream into access units (see the module docstring)."""

    def __init__(self, codec: str, payload_type: int, on_access_unit: AccessUnitCallback) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(f"cannot depacketize {codec!r}")
        self.codec = codec
        self.payload_type = payload_type
        self.on_access_unit = on_access_unit
        self._h265 = codec == "h265"
        self._nals: list[bytes] = []
        self._bytes = 0
        self._keyframe = False
        self._fragments: list[bytes] | None = None  # a fragmented NAL being reassembled
        self._timestamp: int | None = None
        self._seq: int | None = None
        self._broken = False  # the current access unit lost a packet
        self._need_keyframe = False  # drop access units until the next keyframe
        # Receiver statistics for RTCP receiver reports.
        self.ssrc: int | None = None
        self.first_seq = 0
        self.cycles = 0  # sequence number wrap-arounds × 2^16
        # Counters (read by the ingest for health, never logged per packet).
        self.packets = 0
        self.lost = 0
        self.dropped_units = 0
        self.malformed = 0

    @property
    def extended_max_seq(self) -> int:
        """Return the highest sequence number received, extended by its wrap-arounds (RFC 3550 A.1)."""
        return self.cycles + (self._seq or 0)

    def push(self, packet: bytes) -> None:
        """Feed one RTP packet (in arrival order)."""
        parts = rtp_payload(packet)
        if parts is None:
            self.malformed += 1
            return
        pt, seq, marker, timestamp, payload = parts
        if pt != self.payload_type:
            return
        self.packets += 1
        last = self._seq
        if last is None:
            self.ssrc = int.from_bytes(packet[8:12], "big")
            self.first_seq = seq
        elif seq != (last + 1) % _SEQ_MOD:
            if (seq - last) % _SEQ_MOD > _SEQ_MOD // 2:
                return  # late duplicate or reordered packet: already counted as lost
            self.lost += (seq - last - 1) % _SEQ_MOD
            self._broken = True
        if last is not None and seq < last:
            self.cycles += _SEQ_MOD
        self._seq = seq
        if timestamp != self._timestamp:
            if self._nals or self._fragments:  # the camera forgot the marker bit: the old unit is complete
                self._emit()
            self._timestamp = timestamp
        self._bytes += len(payload)  # fragments included: a FU that never ends must not grow without bound
        try:
            if self._h265:
                self._push_h265(payload)
            else:
                self._push_h264(payload)
        except IndexError:  # a truncated aggregation or fragment header
            self.malformed += 1
            self._broken = True
        if self._bytes > MAX_ACCESS_UNIT_BYTES:
            self._broken = True
            self._discard()
        if marker:
            self._emit()

    # ------------------------------------------------------------------------------ codecs

    def _push_h264(self, payload: bytes) -> None:
        kind = payload[0] & 0x1F
        if kind == H264_FU_A:
            fu = payload[1]
            if fu & 0x80:  # start: rebuild the NAL header from the FU indicator's F/NRI and the FU type
                self._fragments = [bytes(((payload[0] & 0xE0) | (fu & 0x1F),)), payload[2:]]
            elif self._fragments is None:
                self._broken = True  # a middle or end fragment without its start
                return
            else:
                self._fragments.append(payload[2:])
            if fu & 0x40:
                self._add(b"".join(self._fragments), fu & 0x1F == H264_IDR)
                self._fragments = None
        elif kind == H264_STAP_A:
            for nal in _aggregated(payload, 1):
                self._add(nal, nal[0] & 0x1F == H264_IDR)
        elif 1 <= kind <= 23:
            self._add(payload, kind == H264_IDR)
        # 0, 25–27 (STAP-B, MTAP), 29 (FU-B), 30–31: not used by cameras in non-interleaved mode; ignored.

    def _push_h265(self, payload: bytes) -> None:
        kind = (payload[0] >> 1) & 0x3F
        if kind == H265_FU:
            fu = payload[2]
            nal_type = fu & 0x3F
            if fu & 0x80:
                header = bytes(((payload[0] & 0x81) | (nal_type << 1), payload[1]))
                self._fragments = [header, payload[3:]]
            elif self._fragments is None:
                self._broken = True
                return
            else:
                self._fragments.append(payload[3:])
            if fu & 0x40:
                self._add(b"".join(self._fragments), H265_IRAP_FIRST <= nal_type <= H265_IRAP_LAST)
                self._fragments = None
        elif kind == H265_AP:
            for nal in _aggregated(payload, 2):
                self._add(nal, H265_IRAP_FIRST <= (nal[0] >> 1) & 0x3F <= H265_IRAP_LAST)
        elif kind < H265_AP:
            self._add(payload, H265_IRAP_FIRST <= kind <= H265_IRAP_LAST)
        # 50 (PACI) and reserved types: ignored.

    # ------------------------------------------------------------------------------ units

    def _add(self, nal: bytes, keyframe: bool) -> None:
        self._nals.append(nal)
        if keyframe:
            self._keyframe = True

    def _discard(self) -> None:
        self._nals = []
        self._bytes = 0
        self._keyframe = False
        self._fragments = None

    def _emit(self) -> None:
        nals, keyframe, broken = self._nals, self._keyframe, self._broken or self._fragments is not None
        self._discard()
        self._broken = False
        if not nals:
            return
        if broken:
            self._need_keyframe = True
            self.dropped_units += 1
            return
        if self._need_keyframe:
            if not keyframe:
                self.dropped_units += 1
                return
            self._need_keyframe = False
        assert self._timestamp is not None
        self.on_access_unit(nals, self._timestamp, keyframe)
