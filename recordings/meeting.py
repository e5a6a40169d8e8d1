"""Meeting recording: each site's published tracks, as they arrived, in segment files indexed by site.

What it writes (the contract with the listing API, the side-by-side player and the tests):
- One file per site, per track (``audio``, ``video``, ``screen``), per segment, under
  ``meetings/<room>/<room session>/<site>/<track>-<YYYYmmddTHHMMSS.mmm>Z-<n>.<ext>`` (relative to the data
  dir, as the index stores it): VP8 → WebM, H.264 → fragmented MP4 (the camera segment format), Opus →
  WebM. Nothing is decoded or encoded: frames arrive in the engine as the site's RTP payloads, which we
  depacketize (VP8: strip the RFC 7741 descriptor; H.264: RFC 6184 single NAL / STAP-A / FU-A → Annex-B,
  both with aiortc's depayloaders; Opus: the payload is the packet) and remux with PyAV.
- Every video file starts with a keyframe and is self-contained; each file's timeline starts at 0.
- Written as ``<name>.part``, closed, fsync'd and renamed; then indexed (``mode='conference'``, the room
  session, the site, the track, the codec, UTC start and end). A crash loses at most the segments being
  written; ``remove_partial_files`` clears their leftovers at start-up.

Segment length, and why ``SEGMENT_S`` = 10 s: the same as camera segments (one retention and playback
granularity), a crash or power cut loses at most 10 s of each track, and the player fetches a segment
(~0.6 MB at 500 kbit/s) at once. Browsers send keyframes only when asked, so the recorder asks for one
``KEYFRAME_LEAD_S`` before a video segment is due and cuts on the first keyframe after that: one extra
keyframe per site per 10 s, which every other subscriber receives too (a few per cent more bitrate).

Time: a track's RTP timestamps (90 kHz video, 48 kHz Opus), unwrapped past 2^32, are its media clock; the
arrival time of the first frame of a *run* (a continuous stretch of frames) anchors it to UTC. Within a
run, consecutive segments are contiguous on both clocks: a video frame's duration runs to the next frame's
timestamp (the writer holds one frame back), and a segment ends exactly where the next one's first frame
starts. A run ends when the site leaves, when no frame came for ``IDLE_GAP_S`` (a moderator's mute, a
stalled connection; ``SCREEN_IDLE_GAP_S`` for a shared screen, whose still slides send few frames), or when
the media clock jumps; the next segment starts a new run with ``gap_before``. Within a run wall times
follow the sender's media clock (typical clock drift, 20-50 ppm, is about a second over an 8-hour day).

Threading, and why one writer thread per recorded meeting rather than one per track: recording costs
~30 µs of CPU per frame in all, so a whole 21-site meeting (~1.6 k frames/s) needs ~5 % of one core
(``make bench-meeting-record``); one thread keeps up with all of it, while 63 threads would only add
switches and stacks. A track's frames go through one queue in order, each container is touched by that
one thread only (FFmpeg's muxer is not thread-safe per container), and the slow, blocking step — fsync
and rename of a finished file — is handed back to the event loop, which runs it in the default executor
so it never stalls the writer. The loop side does only ``Sink.next()`` and a queue put per frame. If the
writer falls ``WRITER_BACKLOG_FRAMES`` behind, frames are dropped (video until the next keyframe) and the
drop shows as a gap, never as memory.

This package knows nothing of rooms' internals: the app's wiring hands ``MeetingRecordings`` each site's
engine ``Source`` objects as sites join and leave (see ``bridges.conference.MeetingListener``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import queue
import re
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.engine.frames import OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ
from mediaserver.scheduler import JobContext
from mediaserver.storage import Store
from mediaserver.storage.repos import Segment

logger = logging.getLogger(__name__)

SEGMENT_S = 10.0
# Ask for a keyframe this long before a video segment is due; cut on the first keyframe after that point.
KEYFRAME_LEAD_S = 0.5
# While waiting for a keyframe (to start or to cut), ask again this often.
KEYFRAME_RETRY_S = 1.0
# No frame for this long ends the run: the segment closes at its last frame and the next has gap_before.
IDLE_GAP_S = 2.0
# A shared screen that does not change sends frames seldom (a slide shown for a minute): a longer wait, so
# a still slide is one long frame in the file rather than a gap and a keyframe request every few seconds.
SCREEN_IDLE_GAP_S = 30.0
# A media-clock jump that disagrees with the arrival clock by more than this starts a new run.
RESYNC_S = 5.0
# How often the loop side looks for idle tracks.
TICK_S = 0.5
# Frames a recording sink holds (a busy event loop must not make the recorder drop frames: ~2.5 s of video).
SINK_FRAMES = 64
# Frames queued to the writer thread at most (~2.5 s of a 21-site meeting) before frames are dropped.
WRITER_BACKLOG_FRAMES = 4096
# The scheduler action that starts or stops a room's recording (args: room, duration_s | stop).
ROOM_RECORD_ACTION = "room.record"
# Longest recording the API or a schedule may ask for.
MAX_RECORDING_S = 24 * 3600.0

MEETINGS_DIR = "meetings"
PART_SUFFIX = ".part"
TRACKS = ("audio", "video", "screen")
WEBM_TB = Fraction(1, 1000)  # Matroska's fixed timescale
MP4_TB = Fraction(1, VIDEO_CLOCK_HZ)
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# OpusHead (RFC 7845): version 1, 2 channels (mono packets decode to both), pre-skip 0 (each segment starts
# mid-stream: no encoder delay to skip, so durations add up exactly), 48 kHz, gain 0, mapping family 0.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, OPUS_CLOCK_HZ, 0, 0)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EXT = {"vp8": "webm", "h264": "mp4", "opus": "webm"}

# ------------------------------------------------------------------------------------ bitstream helpers


def depacketize(codec: str, payloads: list[bytes]) -> bytes:
    """Join one frame's RTP payloads into the codec's frame (VP8 frame, Annex-B access unit, Opus packet).

    Raises ValueError on a malformed payload.
    """
    if codec == "vp8":
        return b"".join(vp8_depayload(p) for p in payloads)
    if codec == "h264":
        return b"".join(h264_depayload(p) for p in payloads)
    if codec == "opus":
        return payloads[0] if len(payloads) == 1 else b"".join(payloads)
    raise ValueError(f"codec {codec!r} cannot be recorded (vp8, h264, opus)")


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a VP8 key frame (RFC 6386 §9.1), or None if it is not one."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def annexb_nal_units(data: bytes) -> list[bytes]:
    """Split an Annex-B byte stream into NAL units (without start codes)."""
    units: list[bytes] = []
    starts: list[int] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        unit = data[s:end]
        if k + 1 < len(starts):
            unit = unit.rstrip(b"\x00")  # the next start code's leading zero (4-byte start codes)
        if unit:
            units.append(unit)
    return units


class _Bits:
    """Reads an H.264 RBSP (emulation prevention removed) bit by bit."""

    def __init__(self, rbsp: bytes) -> None:
        self.data = rbsp
        self.pos = 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("SPS is truncated")
            v = (v << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("SPS has an invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(sps: bytes) -> tuple[int, int] | None:
    """Return (width, height) from an H.264 SPS NAL unit (ITU-T H.264 §7.3.2.1.1), or None if unreadable."""
    if not sps or sps[0] & 0x1F != 7:
        return None
    rbsp = re.sub(b"\x00\x00\x03", b"\x00\x00", sps[1:])
    try:
        b = _Bits(rbsp)
        profile = b.u(8)
        b.u(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma_format = 1
        separate_planes = 0
        if profile in _HIGH_PROFILES:
            chroma_format = b.ue()
            if chroma_format == 3:
                separate_planes = b.u(1)
            b.ue()  # bit_depth_luma_minus8
            b.ue()  # bit_depth_chroma_minus8
            b.u(1)  # qpprime_y_zero_transform_bypass_flag
            if b.u(1):  # seq_scaling_matrix_present_flag
                for i in range(8 if chroma_format != 3 else 12):
                    if b.u(1):
                        size, last, nxt = (16 if i < 6 else 64), 8, 8
                        for _ in range(size):
                            if nxt:
                                nxt = (last + b.se() + 256) % 256
                            last = nxt or last
        b.ue()  # log2_max_frame_num_minus4
        poc_type = b.ue()
        if poc_type == 0:
            b.ue()
        elif poc_type == 1:
            b.u(1)
            b.se()
            b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue()  # max_num_ref_frames
        b.u(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = b.ue() + 1
        height_units = b.ue() + 1
        frame_mbs_only = b.u(1)
        if not frame_mbs_only:
            b.u(1)  # mb_adaptive_frame_field_flag
        b.u(1)  # direct_8x8_inference_flag
        crop = (b.ue(), b.ue(), b.ue(), b.ue()) if b.u(1) else (0, 0, 0, 0)
    except ValueError:
        return None
    chroma_array = 0 if separate_planes else chroma_format
    crop_x = 2 if chroma_array in (1, 2) else 1
    crop_y = (2 if chroma_array == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    return (width, height) if width > 0 and height > 0 else None


_OPUS_FRAME_SAMPLES = (
    [480, 960, 1920, 2880] * 3  # SILK-only configs 0-11: 10, 20, 40, 60 ms
    + [480, 960] * 2  # hybrid configs 12-15: 10, 20 ms
    + [120, 240, 480, 960] * 4  # CELT-only configs 16-31: 2.5, 5, 10, 20 ms
)


def opus_packet_samples(packet: bytes) -> int:
    """Return the 48 kHz samples an Opus packet decodes to (RFC 6716 §3.1); 0 for an empty or bad packet."""
    if not packet:
        return 0
    toc = packet[0]
    per_frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        return per_frame
    if code in (1, 2):
        return 2 * per_frame
    if len(packet) < 2:
        return 0
    return (packet[1] & 0x3F) * per_frame


def idle_gap_s(track: str) -> float:
    """Return how long a track may send nothing before its run ends (a gap)."""
    return SCREEN_IDLE_GAP_S if track == "screen" else IDLE_GAP_S


def utc_stamp(wall: float) -> str:
    """Return a file-name UTC stamp with milliseconds, e.g. 20260102T030405.678Z."""
    ms_total = int(wall * 1000)
    at = datetime.fromtimestamp(ms_total // 1000, UTC)
    return f"{at.strftime('%Y%m%dT%H%M%S')}.{ms_total % 1000:03d}Z"


def meeting_dir(room_id: str, room_session_id: int) -> str:
    """Return the data-dir-relative directory of one recorded meeting."""
    if not _NAME_RE.match(room_id):
        raise ValueError(f"room id {room_id!r} cannot be used in a recording path")
    return f"{MEETINGS_DIR}/{room_id}/{int(room_session_id)}"


def remove_partial_files(data_dir: Path) -> int:
    """Delete meeting segments left half-written by a crash (``*.part``); return how many (blocking)."""
    root = data_dir / MEETINGS_DIR
    removed = 0
    if not root.is_dir():
        return 0
    for part in root.rglob(f"*{PART_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
            removed += 1
    return removed


def _commit_file(part: Path, final: Path) -> int:
    """Make a finished segment durable under its final name; return its size (blocking)."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, final)
    dfd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself must survive a power cut
    finally:
        os.close(dfd)
    return final.stat().st_size


# ------------------------------------------------------------------------------------ writer thread

Key = tuple[str, str]  # (site id, track)
# A video keyframe's decoding parameters: (width, height) and, for H.264, the SPS and PPS NAL units.
_Params = tuple[tuple[int, int] | None, bytes | None, bytes | None]


@dataclass(frozen=True, slots=True)
class _Done:
    """A closed segment file, waiting to be committed and indexed."""

    site_id: str
    track: str
    codec: str
    part: Path
    final: Path
    rel: str
    start_at: float
    end_at: float
    keyframes: int
    frames: int
    gap_before: bool


@dataclass(slots=True)
class _Open:
    container: Any
    stream: Any
    part: Path
    final: Path
    rel: str
    first_ts: int
    start_at: float
    gap_before: bool
    params: _Params | None
    tb: Fraction
    last_pts: int = -1
    keyframes: int = 0
    frames: int = 0


class _TrackWriter:
    """Writes one site's track as consecutive segment files; used by the writer thread only."""

    def __init__(self, rec: _Writer, key: Key, codec: str) -> None:
        self.rec = rec
        self.site_id, self.track = key
        self.key = key
        self.codec = codec
        self.video = codec != "opus"
        self.clock = OPUS_CLOCK_HZ if codec == "opus" else VIDEO_CLOCK_HZ
        self.idle_s = idle_gap_s(self.track)
        self.seg: _Open | None = None
        self.run = False  # a run is open: its anchor maps media time to UTC
        self.anchor_ts = 0
        self.anchor_wall = 0.0
        # A track recorded earlier in this meeting (an earlier recording of it) continues after a gap.
        self.had_segment = key in rec.recorded
        self.gap = self.had_segment  # the next segment follows a gap
        self.last_ts32: int | None = None
        self.ext_ts = 0
        self.last_ts: int | None = None
        self.last_delta = self.clock // 25 if self.video else 960
        self.last_dur = 960  # the last audio packet's samples
        self.held: tuple[bytes, int, bool] | None = None  # the video frame held back for its duration
        self.asked_at = -1e9  # monotonic time of the last keyframe request
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self.inband = False  # the last keyframe carried its SPS and PPS
        self.seq = 0
        self.failures = 0

    # ------------------------------------------------------------------ time

    def _unwrap(self, ts32: int) -> int:
        if self.last_ts32 is None:
            self.ext_ts = ts32
        else:
            self.ext_ts += (ts32 - self.last_ts32 + (1 << 31)) % (1 << 32) - (1 << 31)
        self.last_ts32 = ts32
        return self.ext_ts

    def _wall(self, ts: int) -> float:
        return self.anchor_wall + (ts - self.anchor_ts) / self.clock

    def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self.asked_at >= KEYFRAME_RETRY_S:
            self.asked_at = now
            self.rec.want_keyframe(self.key)

    # ------------------------------------------------------------------ frames

    def frame(self, payloads: list[bytes], ts32: int, keyframe: bool, wall: float, resync: bool) -> None:
        """Add one frame (video: keyframe flag from the engine) that arrived at UTC ``wall``."""
        try:
            data = depacketize(self.codec, payloads)
        except ValueError:
            # A malformed payload: video cannot continue until the next keyframe.
            if self.video:
                self.end_run()
            return
        if resync:
            self.end_run()
        ts = self._unwrap(ts32)
        if self.run and self.last_ts is not None:
            delta = ts - self.last_ts
            if delta <= 0 and delta > -RESYNC_S * self.clock:
                return  # a duplicate or reordered frame: nothing to add to a file that is in order
            if (delta <= 0 or delta > self.idle_s * self.clock
                    or abs(wall - self._wall(ts)) > max(RESYNC_S, self.idle_s)):
                self.end_run()
        params: _Params | None = None
        if self.video and keyframe:
            params = self._video_params(data)
            if params is None:
                keyframe = False  # H.264 without a known SPS/PPS cannot start a file
        if self.video and not keyframe and self.seg is None:
            self._ask_keyframe()
            return
        if not self.run:
            self.last_ts32 = ts32
            self.ext_ts = ts = ts32
            self.run, self.anchor_ts, self.anchor_wall = True, ts, wall
            self.last_ts = None
        if self.seg is not None:
            elapsed = (ts - self.seg.first_ts) / self.clock
            if self.video:
                due = elapsed >= self.rec.segment_s - KEYFRAME_LEAD_S
                if keyframe and (due or params != self.seg.params):
                    self._close(end_ts=ts)
                    if not self.run:
                        return  # finishing the segment failed: start again on the next keyframe
                elif due:
                    self._ask_keyframe()
            elif elapsed >= self.rec.segment_s:
                self._close(end_ts=ts)
        if self.seg is None:
            if not self._open(ts, params):
                return
            if self.codec == "h264" and not self.inband and params is not None:
                # The file's first packet must carry the SPS/PPS it is decoded with (PyAV builds the avcC
                # from it); only this frame gains them, and only when the sender sent them earlier.
                assert params[1] is not None and params[2] is not None
                data = b"\x00\x00\x00\x01" + params[1] + b"\x00\x00\x00\x01" + params[2] + data
        if self.last_ts is not None:
            self.last_delta = max(1, min(ts - self.last_ts, self.clock // 2))
        self.last_ts = ts
        if self.video:
            if self.held is not None:
                self._mux(*self.held, ts - self.held[1])
            self.held = (data, ts, keyframe)
        else:
            self.last_dur = opus_packet_samples(data) or self.last_delta
            self._mux(data, ts, True, self.last_dur)

    def _video_params(self, data: bytes) -> _Params | None:
        """Return a keyframe's decoding parameters: (size, SPS, PPS); None if H.264 has none known yet."""
        if self.codec == "vp8":
            return (vp8_size(data), None, None)
        found = 0
        for nal in annexb_nal_units(data):
            kind = nal[0] & 0x1F
            if kind == 7:
                self.sps = nal
                found |= 1
            elif kind == 8:
                self.pps = nal
                found |= 2
        self.inband = found == 3
        if self.sps is None or self.pps is None:
            return None
        return (h264_sps_size(self.sps), self.sps, self.pps)

    def _mux(self, data: bytes, ts: int, keyframe: bool, duration: int) -> None:
        seg = self.seg
        assert seg is not None
        tb_hz = seg.tb.denominator
        pts = (ts - seg.first_ts) * tb_hz // self.clock
        if pts <= seg.last_pts:
            pts = seg.last_pts + 1  # Matroska's 1 ms grid: keep timestamps strictly increasing
        pkt = av.Packet(data)
        pkt.stream = seg.stream
        pkt.time_base = seg.tb
        pkt.pts = pkt.dts = pts
        pkt.duration = max(1, duration * tb_hz // self.clock)
        pkt.is_keyframe = keyframe
        try:
            seg.container.mux(pkt)
        except (av.FFmpegError, OSError) as exc:
            self._abort(exc)
            return
        seg.last_pts = pts
        seg.frames += 1
        if keyframe and self.video:
            seg.keyframes += 1

    # ------------------------------------------------------------------ segments

    def _open(self, ts: int, params: _Params | None) -> bool:
        size = params[0] if params is not None else None
        start_at = self._wall(ts)
        name = f"{self.track}-{utc_stamp(start_at)}-{self.seq}.{_EXT[self.codec]}"
        self.seq += 1
        rel = f"{self.rec.rel_dir}/{self.site_id}/{name}"
        final = self.rec.data_dir / rel
        part = final.with_name(final.name + PART_SUFFIX)
        container: Any = None
        stream: Any
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            # No codec is ever opened: the streams only describe the copied packets to the muxer.
            if self.codec == "h264":
                container = av.open(str(part), "w", format="mp4", container_options={"movflags": MOVFLAGS})
                w, h = size or (640, 360)
                # PyAV takes the avcC (SPS/PPS) from the first packet, a keyframe carrying them in-band.
                stream = container.add_mux_stream("h264", width=w, height=h)
                stream.time_base = MP4_TB
                tb = MP4_TB
            elif self.codec == "vp8":
                container = av.open(str(part), "w", format="webm")
                w, h = size or (640, 360)
                stream = container.add_mux_stream("vp8", width=w, height=h)
                stream.time_base = WEBM_TB
                tb = WEBM_TB
            else:
                container = av.open(str(part), "w", format="webm")
                # Matroska's Opus track needs its OpusHead (CodecPrivate); a mux-only stream cannot carry
                # one, so the stream is made from a template whose (never opened) context can.
                stream = container.add_stream_from_template(self.rec.opus_template())
                stream.codec_context.extradata = OPUS_HEAD
                stream.time_base = WEBM_TB
                tb = WEBM_TB
        except (av.FFmpegError, OSError, ValueError) as exc:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
            with contextlib.suppress(OSError):
                part.unlink()
            self._failed(f"could not open {rel}: {exc}")
            return False
        gap = self.had_segment and self.gap
        self.seg = _Open(container, stream, part, final, rel, ts, start_at, gap, params, tb)
        self.gap = False
        self.had_segment = True
        return True

    def _close(self, end_ts: int | None = None) -> None:
        """Finish the open segment; ``end_ts`` is where the next one starts (None: at the last frame's end)."""
        seg = self.seg
        if seg is None:
            return
        if self.held is not None:
            data, ts, key = self.held
            self.held = None
            self._mux(data, ts, key, (end_ts - ts) if end_ts is not None else self.last_delta)
            if self.seg is None:
                return  # the mux failed and aborted the segment
        if end_ts is None:
            last = self.last_ts if self.last_ts is not None else seg.first_ts
            end_ts = last + (self.last_delta if self.video else self.last_dur)
        self.seg = None
        try:
            seg.container.close()
        except (av.FFmpegError, OSError) as exc:
            with contextlib.suppress(OSError):
                seg.part.unlink()
            self._failed(f"could not finish {seg.rel}: {exc}")
            return
        if seg.frames == 0:
            with contextlib.suppress(OSError):
                seg.part.unlink()
            return
        self.failures = 0
        self.rec.done(_Done(self.site_id, self.track, self.codec, seg.part, seg.final, seg.rel, seg.start_at,
                            max(seg.start_at, self._wall(end_ts)), seg.keyframes, seg.frames, seg.gap_before))

    def _abort(self, exc: BaseException) -> None:
        seg = self.seg
        self.seg = None
        self.held = None
        if seg is not None:
            with contextlib.suppress(Exception):
                seg.container.close()
            with contextlib.suppress(OSError):
                seg.part.unlink()
            self._failed(f"could not write {seg.rel}: {exc}")
        self.end_run()

    def _failed(self, message: str) -> None:
        # Logged once per streak (a full disk must not log every frame); the track resumes on its own.
        self.failures += 1
        self.gap = True
        if self.failures == 1:
            logger.error("meeting recording %s, site %s, %s: %s", self.rec.rel_dir, self.site_id, self.track,
                         message)

    def end_run(self) -> None:
        """Close the open segment at its last frame; the next frame starts a new run after a gap."""
        self._close()
        if self.run:
            self.gap = True
        self.run = False
        self.last_ts = None


class _Writer:
    """The writer thread of one recorded meeting: owns every track's files."""

    def __init__(self, data_dir: Path, rel_dir: str, segment_s: float, loop: asyncio.AbstractEventLoop,
                 on_done: Callable[[_Done], None], on_keyframe: Callable[[Key], None],
                 recorded: frozenset[Key] = frozenset()) -> None:
        self.data_dir = data_dir
        self.recorded = recorded
        self.rel_dir = rel_dir
        self.segment_s = segment_s
        self.queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.processed = 0  # written by this thread only; the loop compares it with what it submitted
        self._loop = loop
        self._on_done = on_done
        self._on_keyframe = on_keyframe
        self._tracks: dict[Key, _TrackWriter] = {}
        self._template: tuple[Any, Any] | None = None
        self.thread = threading.Thread(target=self._run, name=f"meeting-rec {rel_dir}", daemon=True)

    def done(self, done: _Done) -> None:
        self._loop.call_soon_threadsafe(self._on_done, done)

    def opus_template(self) -> Any:
        """Return an Opus stream to copy output streams from (an in-memory Matroska file's, made once)."""
        if self._template is None:
            buf = io.BytesIO()
            with av.open(buf, "w", format="matroska") as out:
                stream = out.add_mux_stream("opus", rate=OPUS_CLOCK_HZ)
                stream.time_base = WEBM_TB
                pkt = av.Packet(b"\xfc\xff\xfe")  # a 20 ms CELT packet
                pkt.stream, pkt.time_base, pkt.pts, pkt.dts = stream, WEBM_TB, 0, 0
                out.mux(pkt)
            buf.seek(0)
            inp = av.open(buf, "r", format="matroska")
            self._template = (inp, inp.streams.audio[0])
        return self._template[1]

    def want_keyframe(self, key: Key) -> None:
        self._loop.call_soon_threadsafe(self._on_keyframe, key)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            op = item[0]
            try:
                if op == "f":
                    _, key, codec, payloads, ts, keyframe, wall, resync = item
                    writer = self._tracks.get(key)
                    if writer is None or writer.codec != codec:
                        if writer is not None:
                            writer.end_run()
                        writer = self._tracks[key] = _TrackWriter(self, key, codec)
                    writer.frame(payloads, ts, keyframe, wall, resync)
                elif op == "c":
                    writer = self._tracks.get(item[1])
                    if writer is not None:
                        writer.end_run()
                elif op == "x":
                    for writer in self._tracks.values():
                        writer.end_run()
                    if self._template is not None:
                        self._template[0].close()
                    return
            except Exception:  # one bad frame must not end the meeting's recording
                logger.exception("meeting recording %s: writer error", self.rel_dir)
            finally:
                if op == "f":
                    self.processed += 1


# ------------------------------------------------------------------------------------ one meeting


@dataclass(slots=True)
class _Feed:
    key: Key
    source: Source
    sink: Sink
    task: asyncio.Task[None] | None = None
    last_arrival: float = 0.0
    open: bool = False
    resync: bool = False


class MeetingRecorder:
    """Records one meeting (a room session): every site's published tracks, from ``add_site`` to ``stop``."""

    def __init__(self, store: Store, engine: Engine, data_dir: Path, room_id: str, room_session_id: int, *,
                 segment_s: float = SEGMENT_S) -> None:
        self.store = store
        self.engine = engine
        self.data_dir = data_dir
        self.room_id = room_id
        self.room_session_id = room_session_id
        self.segment_s = segment_s
        self.rel_dir = meeting_dir(room_id, room_session_id)
        self.started_at = time.time()
        self.segments = 0
        self.bytes = 0
        self.frames_dropped = 0
        self._feeds: dict[Key, _Feed] = {}
        self._writer: _Writer | None = None
        self._submitted = 0
        self._wall_offset = time.time() - time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._stop_task: asyncio.Future[None] | None = None

    @property
    def tracks(self) -> int:
        """Return how many site tracks are being recorded now."""
        return len(self._feeds)

    async def start(self) -> None:
        """Start the writer thread and the idle check."""
        if self._writer is not None:
            return
        earlier = frozenset((s.site_id, s.track) for s in await self.store.segments.for_session(self.room_session_id)
                            if s.site_id is not None)
        self._writer = _Writer(self.data_dir, self.rel_dir, self.segment_s, asyncio.get_running_loop(),
                               self._segment_done, self._want_keyframe, earlier)
        self._writer.thread.start()
        self._ticker = asyncio.ensure_future(self._tick())
        logger.info("room %s: recording meeting %d into %s", self.room_id, self.room_session_id, self.rel_dir)

    def add_site(self, site_id: str, sources: Mapping[str, Source]) -> None:
        """Record a site's published tracks (``audio``, ``video``, ``screen``); replaces its earlier ones."""
        if self._writer is None or self._stop_task is not None:
            return
        if not _NAME_RE.match(site_id):
            raise ValueError(f"site id {site_id!r} cannot be used in a recording path")
        wanted = {t: s for t, s in sources.items() if t in TRACKS and not s.closed and s.codec in _EXT}
        current = {k[1]: f.source for k, f in self._feeds.items() if k[0] == site_id}
        if current and current == wanted:
            return  # already recording exactly these
        self.remove_site(site_id)
        for track, source in wanted.items():
            key = (site_id, track)
            sink = self.engine.new_sink(f"record/{self.room_session_id}/{site_id}/{track}", source.kind,
                                        capacity=SINK_FRAMES)
            feed = _Feed(key, source, sink)
            self._feeds[key] = feed
            sink.attach(source)
            feed.task = task = asyncio.ensure_future(self._pump(feed))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    def remove_site(self, site_id: str) -> None:
        """Stop recording a site (it left): its open segments are finished."""
        for key in [k for k in self._feeds if k[0] == site_id]:
            feed = self._feeds.pop(key)
            feed.sink.close()
            if feed.task is not None:
                feed.task.cancel()
            if self._writer is not None:
                self._writer.queue.put(("c", key))

    async def _pump(self, feed: _Feed) -> None:
        sink = feed.sink
        while True:
            try:
                frame, _ = await sink.next()
            except asyncio.CancelledError:
                if sink.closed:
                    return
                raise
            self._submit(feed, frame)

    def _submit(self, feed: _Feed, frame: EncodedFrame) -> None:
        writer = self._writer
        assert writer is not None
        if self._submitted - writer.processed >= WRITER_BACKLOG_FRAMES:
            self.frames_dropped += 1
            feed.resync = True
            return
        if feed.resync and feed.source.needs_keyframes and not frame.keyframe:
            self.frames_dropped += 1
            self.engine.request_keyframe(feed.source)
            return
        wall = frame.wall or frame.arrival + self._wall_offset
        writer.queue.put(("f", feed.key, feed.source.codec, frame.payloads, frame.timestamp, frame.keyframe,
                          wall, feed.resync))
        self._submitted += 1
        feed.resync = False
        feed.open = True
        feed.last_arrival = time.monotonic()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for feed in self._feeds.values():
                if feed.open and now - feed.last_arrival > idle_gap_s(feed.key[1]) and self._writer is not None:
                    feed.open = False
                    self._writer.queue.put(("c", feed.key))

    def _want_keyframe(self, key: Key) -> None:
        feed = self._feeds.get(key)
        if feed is not None:
            self.engine.request_keyframe(feed.source)

    def _segment_done(self, done: _Done) -> None:
        task = asyncio.ensure_future(self._commit(done))
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    async def _commit(self, done: _Done) -> None:
        try:
            size = await asyncio.to_thread(_commit_file, done.part, done.final)
        except OSError as exc:
            logger.error("meeting recording: could not commit %s: %s", done.rel, exc)
            return
        try:
            await self.store.segments.add(Segment(
                0, None, "main", self.room_session_id, done.site_id, done.rel, done.start_at, done.end_at, size,
                done.keyframes, 0.0, done.track, done.codec, "conference", False, done.gap_before,
            ))
        except Exception:
            logger.exception("meeting recording: could not index %s", done.rel)
            return
        self.segments += 1
        self.bytes += size

    async def stop(self) -> None:
        """Finish every open segment, commit and index it, and end the writer thread; idempotent."""
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stop_task)

    async def _stop(self) -> None:
        for site in {k[0] for k in self._feeds}:
            self.remove_site(site)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._writer is not None:
            self._writer.queue.put(("x",))
            await asyncio.to_thread(self._writer.thread.join)
        # The thread's last call_soon_threadsafe callbacks ran before the join's result was delivered.
        while self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)
        logger.info("room %s: meeting %d recording stopped (%d segments, %.1f MB)", self.room_id,
                    self.room_session_id, self.segments, self.bytes / 1e6)


# ------------------------------------------------------------------------------------ the service

# (room session id, {site id: {track: source}}) of a room's running meeting, or None.
LiveLookup = Callable[[str], tuple[int, Mapping[str, Mapping[str, Source]]] | None]


@dataclass(frozen=True, slots=True)
class RecordingState:
    """What is being recorded for a room."""

    room_id: str
    state: str  # 'recording' (a meeting is being written) | 'armed' (waiting for the room's next meeting)
    room_session_id: int | None
    requested_by: str
    requested_at: float
    until: float | None
    tracks: int
    segments: int


@dataclass(slots=True)
class _Request:
    room_id: str
    requested_by: str
    requested_at: float
    until: float | None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class MeetingRecordings:
    """Which rooms are recorded: starts a ``MeetingRecorder`` per recorded meeting and feeds it sites.

    A recording request covers a room until it is stopped, its ``duration_s`` has passed, or (without a
    duration) the meeting it recorded ends; requested while no meeting runs, it waits for the next one.
    A room with ``auto_record`` is recorded from the start of every meeting. Its meeting-event methods
    are the conference's ``MeetingListener`` interface.
    """

    def __init__(self, store: Store, engine: Engine, data_dir: Path, live: LiveLookup, *,
                 segment_s: float = SEGMENT_S) -> None:
        self.store = store
        self.engine = engine
        self.data_dir = data_dir
        self.segment_s = segment_s
        self._live = live
        self._requests: dict[str, _Request] = {}
        self._recorders: dict[str, MeetingRecorder] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stopped = False

    # ------------------------------------------------------------------ control

    async def start_recording(self, room_id: str, *, duration_s: float | None, by: str) -> RecordingState:
        """Record the room's running meeting now, or its next one; ``duration_s`` None: until it ends."""
        if duration_s is not None and not 0 < duration_s <= MAX_RECORDING_S:
            raise ValueError(f"duration_s must be in (0, {MAX_RECORDING_S:.0f}] seconds, got {duration_s!r}")
        async with self._lock:
            if self._stopped:
                raise RuntimeError("meeting recording is shutting down")
            now = time.time()
            req = self._requests.get(room_id)
            if req is None:
                req = self._requests[room_id] = _Request(room_id, by, now, None)
            if req.timer is not None:
                req.timer.cancel()
                req.timer = None
            req.until = None if duration_s is None else now + duration_s
            if duration_s is not None:
                req.timer = asyncio.get_running_loop().call_later(duration_s, self._expire, room_id, req)
            if room_id not in self._recorders:
                live = self._live(room_id)
                if live is not None:
                    await self._start_recorder(room_id, live[0])
        state = self.state(room_id)
        assert state is not None
        return state

    async def stop_recording(self, room_id: str) -> bool:
        """Stop recording a room (and forget a waiting request); return whether anything was on."""
        async with self._lock:
            req = self._requests.pop(room_id, None)
            if req is not None and req.timer is not None:
                req.timer.cancel()
            rec = self._recorders.pop(room_id, None)
        if rec is not None:
            await rec.stop()
        return req is not None or rec is not None

    def armed_rooms(self) -> list[str]:
        """Return the rooms with a recording request (waiting for their meeting or recording it)."""
        return list(self._requests)

    def state(self, room_id: str) -> RecordingState | None:
        """Return what is being recorded for a room, if anything."""
        req = self._requests.get(room_id)
        rec = self._recorders.get(room_id)
        if req is None and rec is None:
            return None
        return RecordingState(
            room_id=room_id, state="recording" if rec is not None else "armed",
            room_session_id=rec.room_session_id if rec is not None else None,
            requested_by=req.requested_by if req is not None else "",
            requested_at=req.requested_at if req is not None else (rec.started_at if rec else 0.0),
            until=req.until if req is not None else None,
            tracks=rec.tracks if rec is not None else 0, segments=rec.segments if rec is not None else 0,
        )

    def recorder(self, room_id: str) -> MeetingRecorder | None:
        """Return the recorder of the room's running meeting, if it is being recorded."""
        return self._recorders.get(room_id)

    async def run_job(self, ctx: JobContext) -> None:
        """Scheduler action ``room.record``: args ``room`` and ``duration_s`` (start), or ``room`` and ``stop``."""
        args = ctx.args
        unknown = sorted(set(args) - {"room", "duration_s", "stop"})
        if unknown:
            raise ValueError(f"room.record: unknown argument(s) {', '.join(unknown)} (room, duration_s, stop)")
        room_id = args.get("room")
        if not isinstance(room_id, str) or not room_id:
            raise ValueError("room.record: args.room must name a room")
        room = await self.store.rooms.get(room_id)
        if room is None or not room.active:
            raise ValueError(f"room.record: args.room: no room {room_id!r}")
        stop = args.get("stop", False)
        if not isinstance(stop, bool):
            raise ValueError("room.record: args.stop must be true or false")
        duration = args.get("duration_s")
        if stop:
            if duration is not None:
                raise ValueError("room.record: give either args.stop or args.duration_s, not both")
            await self.stop_recording(room_id)
            return
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float)
                                     or not 0 < duration <= MAX_RECORDING_S):
            raise ValueError(f"room.record: args.duration_s must be a number of seconds in (0, {MAX_RECORDING_S:.0f}]")
        await self.start_recording(room_id, duration_s=None if duration is None else float(duration),
                                   by=f"schedule:{ctx.job_id}")

    def _expire(self, room_id: str, req: _Request) -> None:
        async def expire() -> None:
            if self._requests.get(room_id) is req:
                logger.info("room %s: recording time is up", room_id)
                await self.stop_recording(room_id)

        self._spawn(expire())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_recorder(self, room_id: str, room_session_id: int) -> None:
        rec = MeetingRecorder(self.store, self.engine, self.data_dir, room_id, room_session_id,
                              segment_s=self.segment_s)
        await rec.start()
        self._recorders[room_id] = rec
        # The sites present now, read after the await: one that joined while the recorder started is included
        # (and its site_joined, which follows, finds it already recorded).
        live = self._live(room_id)
        if live is not None and live[0] == room_session_id:
            for site_id, sources in live[1].items():
                rec.add_site(site_id, sources)

    # ------------------------------------------------------------------ meeting events (MeetingListener)

    async def meeting_started(self, room_id: str, room_session_id: int) -> None:
        """Start recording if the room was asked to be, or records every meeting (``auto_record``)."""
        async with self._lock:
            if self._stopped or room_id in self._recorders:
                return
            if room_id not in self._requests:
                room = await self.store.rooms.get(room_id)
                if room is None or not room.auto_record:
                    return
                self._requests[room_id] = _Request(room_id, "auto_record", time.time(), None)
            await self._start_recorder(room_id, room_session_id)

    async def site_joined(self, room_id: str, room_session_id: int, site_id: str,
                          sources: Mapping[str, Source]) -> None:
        """Record a site that joined a recorded meeting."""
        rec = self._recorders.get(room_id)
        if rec is not None and rec.room_session_id == room_session_id:
            rec.add_site(site_id, sources)

    async def site_left(self, room_id: str, room_session_id: int, site_id: str) -> None:
        """Finish a site's segments when it leaves (a rejoin starts new ones, after a gap)."""
        rec = self._recorders.get(room_id)
        if rec is not None and rec.room_session_id == room_session_id:
            rec.remove_site(site_id)

    async def meeting_ended(self, room_id: str, room_session_id: int) -> None:
        """Finish the meeting's recording; a request with time left waits for the room's next meeting."""
        async with self._lock:
            rec = self._recorders.get(room_id)
            if rec is None or rec.room_session_id != room_session_id:
                return
            del self._recorders[room_id]
            req = self._requests.get(room_id)
            if req is not None and (req.until is None or req.until <= time.time()):
                del self._requests[room_id]
                if req.timer is not None:
                    req.timer.cancel()
        await rec.stop()

    async def stop(self) -> None:
        """Stop every recording (server shutdown); idempotent."""
        async with self._lock:
            self._stopped = True
            for req in self._requests.values():
                if req.timer is not None:
                    req.timer.cancel()
            self._requests.clear()
            recorders = list(self._recorders.values())
            self._recorders.clear()
        await asyncio.gather(*(r.stop() for r in recorders), return_exceptions=True)
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


__all__ = ["MAX_RECORDING_S", "MEETINGS_DIR", "ROOM_RECORD_ACTION", "SEGMENT_S", "LiveLookup", "MeetingRecorder",
           "MeetingRecordings", "RecordingState", "annexb_nal_units", "depacketize", "h264_sps_size", "meeting_dir",
           "opus_packet_samples", "remove_partial_files", "vp8_size"]
