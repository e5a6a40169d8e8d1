"""The little RTCP a receiving RTSP client sends and reads (RFC 3550 §6.4): receiver reports, sender reports.

RTCP is an RTP session's liveness signal (RFC 3550), and some RTSP servers time a viewer out on it rather than
on RTSP keepalives. FFmpeg, which most cameras are tested against, sends receiver reports; so do we.
"""

from __future__ import annotations

import struct

RTCP_SR = 200
RTCP_RR = 201
RTCP_VERSION_BITS = 0x80
MAX_CUMULATIVE_LOST = 0x7FFFFF  # 24-bit signed field: clamp


def receiver_report(sender_ssrc: int, source_ssrc: int, fraction_lost: int, cumulative_lost: int,
                    extended_max_seq: int, jitter: int, lsr: int, dlsr: int) -> bytes:
    """Return one RTCP RR packet with a single report block (32 bytes)."""
    lost = max(0, min(cumulative_lost, MAX_CUMULATIVE_LOST))
    mask = 0xFFFFFFFF
    return struct.pack("!BBHIIIIIII", RTCP_VERSION_BITS | 1, RTCP_RR, 7, sender_ssrc & mask, source_ssrc & mask,
                       ((fraction_lost & 0xFF) << 24) | lost, extended_max_seq & mask, jitter & mask, lsr & mask,
                       dlsr & mask)


def sender_report_lsr(data: bytes) -> int | None:
    """Return the middle 32 bits of the NTP time of the first sender report in a compound packet, if any."""
    i, n = 0, len(data)
    while i + 4 <= n:
        if data[i] >> 6 != 2:
            return None
        length = (int.from_bytes(data[i + 2:i + 4], "big") + 1) * 4
        if data[i + 1] == RTCP_SR and i + 20 <= n:
            return int.from_bytes(data[i + 10:i + 14], "big")
        i += length
    return None
