"""Real segment fixtures: a synthetic H.264 clip (libx264 through PyAV) cut into fMP4 segment files.

The files follow the segment contract (common to the recorder, playback, export and retention): fragmented
MP4 (``frag_keyframe+empty_moov+default_base_moof``), one H.264 video track, each file self-contained and
starting on a keyframe, written as ``<name>.mp4.part`` then renamed, paths relative to the data dir, indexed
with contiguous UTC wall times. Tests that need recorded footage without running a camera use
``SegmentFixture``; ``packets_in_range`` is the independent reading of "the footage of a time range" that
export and playback outputs are compared with.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from mediaserver.storage import Store
from mediaserver.storage.repos import Segment

CLIP_W, CLIP_H = 320, 180
CLIP_FPS = 25
CLIP_GOP_FRAMES = 25  # a keyframe every 1 s
CLIP_S = 20  # the clip loops; its length is a whole number of GOPs so every loop starts on a keyframe
SEGMENT_FLAGS = "frag_keyframe+empty_moov+default_base_moof"


@functools.cache
def synthetic_clip(seconds: int = CLIP_S, crf: int = 28) -> bytes:
    """Return an MP4 (in memory) of a moving noise pattern: H.264 320x180, 25 fps, a keyframe every second."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=CLIP_FPS, options={
            "preset": "ultrafast", "tune": "zerolatency", "g": str(CLIP_GOP_FRAMES),
            "keyint_min": str(CLIP_GOP_FRAMES), "sc_threshold": "0", "crf": str(crf), "bf": "0",
        })
        stream.width, stream.height, stream.pix_fmt = CLIP_W, CLIP_H, "yuv420p"
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (CLIP_H, CLIP_W), dtype=np.uint8)
        for i in range(seconds * CLIP_FPS):
            y = np.roll(base, i * 3, axis=1)
            frame = av.VideoFrame.from_ndarray(np.stack([y, y, y], axis=-1), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def segment_relpath(camera_id: str, start_at: float, stream: str = "main") -> str:
    """Return a segment's data-dir-relative path, named as the recorder names them (recordings/paths.py)."""
    ms_total = int(start_at * 1000)
    t = datetime.fromtimestamp(ms_total // 1000, UTC)
    return (f"recordings/{camera_id}/{t:%Y-%m-%d}/{t:%H}/"
            f"{camera_id}-{stream}-{t:%Y%m%dT%H%M%S}_{ms_total % 1000:03d}Z.mp4")


class SegmentFixture:
    """Write contiguous fMP4 segments of the looping synthetic clip for one camera and index them."""

    def __init__(self, store: Store, data_dir: Path, camera_id: str, *, start_at: float,
                 segment_s: float = 2.0, mode: str = "continuous", stream: str = "main",
                 clip: bytes | None = None) -> None:
        self.store = store
        self.data_dir = data_dir
        self.camera_id = camera_id
        self.stream = stream
        self.mode = mode
        self.next_start = start_at
        self.frames_per_segment = round(segment_s * CLIP_FPS)
        if self.frames_per_segment % CLIP_GOP_FRAMES:
            raise ValueError(f"segment_s={segment_s} must be a whole number of 1 s GOPs")
        self._input = av.open(io.BytesIO(clip or synthetic_clip()))
        self._template = self._input.streams.video[0]
        self._packets = [(bytes(p), p.is_keyframe) for p in self._input.demux(self._template) if p.size]
        self._frame = 0  # index into the looping clip
        self._gap_before = False

    @property
    def segment_s(self) -> float:
        """Return the duration of each segment in seconds."""
        return self.frames_per_segment / CLIP_FPS

    def close(self) -> None:
        """Release the clip's demuxer."""
        self._input.close()

    def skip(self, seconds: float) -> None:
        """Leave a gap (an outage) before the next segment."""
        self.next_start += seconds
        self._gap_before = True

    def _write_file(self, relpath: str) -> int:
        path = self.data_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        tb = Fraction(1, CLIP_FPS)
        with av.open(str(part), "w", format="mp4", options={"movflags": SEGMENT_FLAGS}) as out:
            stream = out.add_stream_from_template(self._template)
            for i in range(self.frames_per_segment):
                data, keyframe = self._packets[(self._frame + i) % len(self._packets)]
                packet = av.Packet(data)
                # Timestamps keep counting across segments, as a recorder copying the camera's clock does.
                packet.pts = packet.dts = self._frame + i
                packet.duration = 1
                packet.time_base = tb
                packet.is_keyframe = keyframe
                packet.stream = stream
                out.mux(packet)
        os.replace(part, path)
        self._frame += self.frames_per_segment
        return path.stat().st_size

    async def write(self, count: int = 1, *, has_motion: bool = False) -> list[Segment]:
        """Write and index ``count`` contiguous segments; return them as indexed."""
        out: list[Segment] = []
        for _ in range(count):
            start = self.next_start
            end = start + self.segment_s
            relpath = segment_relpath(self.camera_id, start, self.stream)
            size = await asyncio.to_thread(self._write_file, relpath)
            seg = Segment(0, self.camera_id, self.stream, None, None, relpath, start, end, size,
                          self.frames_per_segment // CLIP_GOP_FRAMES, 0.0, mode=self.mode, has_motion=has_motion,
                          gap_before=self._gap_before)
            seg_id = await self.store.segments.add(seg)
            stored = await self.store.segments.get(seg_id)
            assert stored is not None
            out.append(stored)
            self.next_start = end
            self._gap_before = False
        return out


@dataclass(frozen=True)
class SourcePacket:
    """One demuxed packet of footage with the wall time it shows."""

    data: bytes
    wall: float
    keyframe: bool


def segment_packets(path: Path, start_at: float) -> list[SourcePacket]:
    """Demux a segment file; wall time of each packet = segment start + its pts offset from the first packet."""
    with av.open(str(path)) as inp:
        vs = inp.streams.video[0]
        packets = [p for p in inp.demux(vs) if p.size]
        assert vs.time_base is not None
        first = packets[0].pts
        assert first is not None
        return [SourcePacket(bytes(p), start_at + float((p.pts - first) * vs.time_base), p.is_keyframe)
                for p in packets if p.pts is not None]


def packets_in_range(data_dir: Path, segments: list[Segment], start: float, end: float) -> list[SourcePacket]:
    """Return the footage of [start, end): from the last keyframe at or before ``start`` to before ``end``."""
    allp = [p for s in segments for p in segment_packets(data_dir / s.path, s.start_at)]
    first = 0
    for i, p in enumerate(allp):
        if p.wall > start:
            break
        if p.keyframe:
            first = i
    return [p for p in allp[first:] if p.wall < end]


def output_packets(path: Path) -> list[tuple[bytes, int, bool]]:
    """Return (payload, pts, keyframe) of every video packet of an MP4 file."""
    with av.open(str(path)) as inp:
        vs = inp.streams.video[0]
        return [(bytes(p), int(p.pts or 0), p.is_keyframe) for p in inp.demux(vs) if p.size]


def clip_access_units(clip: bytes | None = None) -> list[tuple[bytes, bool]]:
    """Return the clip's frames as a camera ingest hands them over: Annex-B access units (SPS/PPS on keyframes)."""
    with av.open(io.BytesIO(clip or synthetic_clip())) as inp:
        vs = inp.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", vs)
        units = []
        for packet in inp.demux(vs):
            for out in bsf.filter(packet if packet.size else None):
                units.append((bytes(out), out.is_keyframe))
        return units


class SegmenterFeed:
    """Feed the real segment writer (recordings/segmenter.py) the looping clip as one camera's frames, and index
    each segment it finishes the way the recorder does. Same ``write``/``close`` as ``SegmentFixture``."""

    def __init__(self, store: Store, data_dir: Path, camera_id: str, *, start_at: float,
                 segment_s: float = 2.0) -> None:
        from recordings.segmenter import SegmentWriter

        self.store = store
        self.camera_id = camera_id
        self.start_at = start_at
        self.segment_s = segment_s
        self.frames_per_segment = round(segment_s * CLIP_FPS)
        self._units = clip_access_units()
        self._n = 0
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self.writer = SegmentWriter(data_dir, camera_id, "main", self._report, segment_s=segment_s)
        self.writer.start()

    def _report(self, event: Any) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def _feed(self) -> None:
        from mediaserver.engine import EncodedFrame

        data, keyframe = self._units[self._n % len(self._units)]
        frame = EncodedFrame([], self._n * (90_000 // CLIP_FPS), keyframe, data=data,
                             wall=self.start_at + self._n / CLIP_FPS)
        self.writer.put(frame, "h264")
        self._n += 1

    async def _next_finished(self) -> Segment | None:
        while True:
            event = await asyncio.wait_for(self._events.get(), 30)
            if event.kind == "error":
                raise AssertionError(f"segment writer: {event.message}")
            if event.kind == "exited":
                return None
            if event.kind == "finished":
                f = event.segment
                row = Segment(0, f.camera_id, f.stream, None, None, f.path, f.start, f.end, f.bytes, f.keyframes,
                              0.0, "video", f.codec, f.mode, False, f.gap_before)
                stored = await self.store.segments.get(await self.store.segments.add(row))
                assert stored is not None
                return stored

    async def write(self, count: int = 1, *, has_motion: bool = False) -> list[Segment]:
        """Feed frames until the writer has finished ``count`` more segments; return them as indexed."""
        assert not has_motion, "the writer records no motion; mark it with store.segments.mark_motion"
        out: list[Segment] = []
        for _ in range(count):
            # The writer cuts on the first keyframe at or past segment_s: feed up to and including it.
            self._feed()
            while self._n % self.frames_per_segment != 1:
                self._feed()
            if self._n == 1:  # the very first keyframe opens the first segment; it ends one segment later
                for _ in range(self.frames_per_segment):
                    self._feed()
            seg = await self._next_finished()
            assert seg is not None
            out.append(seg)
        return out

    async def aclose(self) -> None:
        """Finish the open segment (indexed too) and end the writer thread."""
        self.writer.close()
        while await self._next_finished() is not None:
            pass
