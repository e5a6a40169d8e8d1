"""The part of a camera's DESCRIBE answer (SDP, RFC 8866) the ingest needs: its video track."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
# rtpmap encoding names → the engine's codec names.
CODECS = {"H264": "h264", "H265": "h265", "HEVC": "h265"}


class SdpError(ValueError):
    """The SDP has no usable video track (the message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """A camera's video track as announced: codec, payload type, clock, control URL, parameter sets."""

    codec: str  # 'h264' or 'h265'
    payload_type: int
    clock_rate: int
    control: str  # absolute URL for SETUP
    parameter_sets: bytes  # Annex-B (SPS/PPS, or VPS/SPS/PPS), b"" when the SDP has none


def resolve_control(base: str, control: str | None) -> str:
    """Return the absolute URL of a track from the presentation's base URL and its ``a=control``."""
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    return base.rstrip("/") + "/" + control.lstrip("/")  # relative to the base, as FFmpeg and live555 do


def _sprop(value: str) -> bytes:
    """Return comma-separated base64 NAL units as Annex-B (bad entries are skipped)."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nal = base64.b64decode(part + "=" * (-len(part) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        if nal:
            out.append(START_CODE + nal)
    return b"".join(out)


def parse_video_track(sdp: str, base_url: str) -> VideoTrack:
    """Return the first H.264/H.265 video track of ``sdp``; raise SdpError naming what is missing."""
    session_control: str | None = None
    media: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            fields = value.split()
            current = {"media": fields[0] if fields else "", "formats": fields[3:], "rtpmap": {}, "fmtp": {},
                       "control": None}
            media.append(current)
        elif kind == "a":
            name, _, rest = value.partition(":")
            if current is None:
                if name == "control":
                    session_control = rest.strip()
                continue
            if name == "control":
                current["control"] = rest.strip()
            elif name in ("rtpmap", "fmtp"):
                pt, _, attr = rest.partition(" ")
                table = current[name]
                assert isinstance(table, dict)
                table[pt.strip()] = attr.strip()
    base = resolve_control(base_url, session_control) if session_control and "://" in session_control else base_url
    videos = [m for m in media if m["media"] == "video"]
    if not videos:
        raise SdpError("the stream has no video")
    seen: list[str] = []
    for video in videos:
        rtpmap, fmtp = video["rtpmap"], video["fmtp"]
        formats = video["formats"]
        assert isinstance(rtpmap, dict) and isinstance(fmtp, dict) and isinstance(formats, list)
        for pt in formats:
            pt = str(pt)
            name, _, clock = str(rtpmap.get(pt, "")).partition("/")
            codec = CODECS.get(name.upper())
            if codec is None:
                seen.append(name or f"payload type {pt}")
                continue
            params: dict[str, str] = {}
            for item in str(fmtp.get(pt, "")).split(";"):
                key, _, val = item.strip().partition("=")
                params[key.lower()] = val
            # Decoding-order numbers (interleaved H.264, H.265 with DONL fields) put NAL units out of order
            # and add fields to every payload; cameras do not use them, and we do not reorder by them.
            if codec == "h264" and params.get("packetization-mode", "0").strip() == "2":
                raise SdpError("H.264 interleaved mode (packetization-mode=2) is not supported")
            if codec == "h265" and params.get("sprop-max-don-diff", "0").strip() not in ("", "0"):
                raise SdpError("H.265 with decoding-order numbers (sprop-max-don-diff > 0) is not supported")
            if codec == "h264":
                sets = _sprop(params.get("sprop-parameter-sets", ""))
            else:
                sets = b"".join(_sprop(params.get(k, "")) for k in ("sprop-vps", "sprop-sps", "sprop-pps"))
            try:
                payload_type, clock_rate = int(pt), int(clock.split("/")[0] or 90000)
            except ValueError as exc:
                raise SdpError(f"malformed rtpmap for payload type {pt!r}: {rtpmap.get(pt)!r}") from exc
            control = video["control"]
            return VideoTrack(codec, payload_type, clock_rate,
                              resolve_control(base, control if isinstance(control, str) else None), sets)
    raise SdpError(f"the stream is {', '.join(seen) or 'unknown'}, not H.264 or H.265")
