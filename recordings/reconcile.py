"""Start-up reconciliation of the recordings on disk with the index, after a crash, SIGKILL or power cut.

Runs once at start-up, before any recorder writes, with every file operation in a thread:

1. ``.part`` files (a segment being written when the process died) are repaired: a fragmented MP4 is
   valid up to its last complete fragment (``moof`` + ``mdat``), so the file is cut there — a byte-exact
   remux of everything readable, without decoding — checked with PyAV (demuxes, starts on a keyframe,
   its first frame decodes), renamed to its final name and indexed. Nothing readable: deleted.
2. Complete segment files without an index row (the process died between rename and index) are probed
   the same way and indexed, or deleted when unreadable.
3. Index rows whose file is gone are deleted.
4. Motion events left open are closed at the last recorded time.

Files under ``recordings/`` whose path is not a camera segment name (``recordings.paths``) are never
touched: they may belong to another writer (conference recordings).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import av
import av.error

from mediaserver.config import RecordSettings
from mediaserver.storage import Store
from mediaserver.storage.nodes import LeaseRepo
from mediaserver.storage.repos import Conflict, Segment
from recordings.paths import (
    PART_SUFFIX,
    RECORDINGS_DIR,
    SEGMENT_EXT,
    SegmentName,
    final_path,
    is_part,
    parse_segment_path,
)
from recordings.segmenter import CONTIGUOUS_S, fsync_path

logger = logging.getLogger(__name__)

# FFmpeg's codec names → the index's.
INDEX_CODECS = {"h264": "h264", "hevc": "h265"}
# How far back to look for the segment a reconciled one follows (gap_before).
PREVIOUS_LOOKBACK_S = 3600.0
# A segment's file name carries its start to the millisecond.
NAME_PRECISION_S = 0.0011
ADOPT_BATCH = 5000  # events from before a cluster checked for their files per query


@dataclass
class ReconcileReport:
    """What reconciliation found and did."""

    parts_repaired: int = 0
    parts_removed: int = 0
    files_indexed: int = 0
    files_removed: int = 0
    rows_removed: int = 0
    events_closed: int = 0
    skipped: int = 0  # files that are not camera segments, or whose camera the index does not know
    # A cluster: rows from before it (no node) found to be this node's, by their files on its disk.
    segments_adopted: int = 0
    events_adopted: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts by name."""
        return asdict(self)

    @property
    def changed(self) -> bool:
        """Return whether anything was repaired, removed, indexed or closed (adopting rows is routine)."""
        return any(v for k, v in self.as_dict().items() if k not in ("skipped", "segments_adopted", "events_adopted"))


@dataclass(frozen=True, slots=True)
class Probe:
    """What PyAV reads from a segment file."""

    duration_s: float
    frames: int
    keyframes: int
    codec: str
    bytes: int


# ------------------------------------------------------------------------------------------- file checks


def complete_prefix(path: Path) -> int:
    """Return the bytes of ``path`` up to the end of its last complete fragment (0: no complete fragment)."""
    size = path.stat().st_size
    end = 0
    have_moov = have_moof = False
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(16)
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) == 16:
                box_size = int.from_bytes(header[8:16], "big")
            if box_size < 8 or pos + box_size > size:
                break  # a torn box (or one "to the end of the file": never written by a finished muxer)
            if box_type == b"moov":
                have_moov = True
            elif box_type == b"moof":
                have_moof = True
            elif box_type == b"mdat" and have_moov and have_moof:
                end, have_moof = pos + box_size, False
            pos += box_size
    return end


def probe_segment(path: Path) -> Probe:
    """Demux a segment, decode its first frame; return what it holds. Raise ValueError if it is not playable."""
    try:
        with av.open(str(path), format="mp4") as container:
            if not container.streams.video:
                raise ValueError("no video track")
            stream = container.streams.video[0]
            codec = INDEX_CODECS.get(stream.codec_context.name)
            if codec is None:
                raise ValueError(f"codec {stream.codec_context.name} is not H.264/H.265")
            first: int | None = None
            end = 0
            frames = keyframes = 0
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                if first is None:
                    if not packet.is_keyframe:
                        raise ValueError("does not start with a keyframe")
                    first = packet.pts
                    if not stream.codec_context.decode(packet) and not stream.codec_context.decode(None):
                        raise ValueError("its first frame does not decode")
                frames += 1
                keyframes += bool(packet.is_keyframe)
                end = max(end, packet.pts + (packet.duration or 0))
            if first is None or stream.time_base is None:
                raise ValueError("no frames")
            duration = float((end - first) * stream.time_base)
    except av.error.FFmpegError as exc:
        raise ValueError(f"unreadable: {exc}") from None
    return Probe(duration, frames, keyframes, codec, path.stat().st_size)


def repair_part(part: Path) -> Probe | None:
    """Cut a ``.part`` file at its last complete fragment and rename it complete; None (deleted) if unusable."""
    final = final_path(part)
    try:
        keep = complete_prefix(part)
        if keep == 0 or final.exists():
            part.unlink()
            return None
        if keep < part.stat().st_size:
            os.truncate(part, keep)
        try:
            probe = probe_segment(part)
        except ValueError as exc:
            logger.warning("%s: cannot be repaired (%s): removed", part, exc)
            part.unlink()
            return None
        fsync_path(part)
        os.replace(part, final)
        fsync_path(final.parent)
    except OSError as exc:
        logger.error("%s: cannot be repaired: %s", part, exc)
        return None
    return Probe(probe.duration_s, probe.frames, probe.keyframes, probe.codec, final.stat().st_size)


def _scan(data_dir: Path) -> tuple[list[str], set[str]]:
    """Return the ``.part`` files and the complete segment files under recordings/, relative to ``data_dir``."""
    root = data_dir / RECORDINGS_DIR
    parts: list[str] = []
    files: set[str] = set()
    for dirpath, _, names in os.walk(root):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(data_dir).as_posix())
        for name in names:
            rel = str(rel_dir / name)
            if is_part(rel):
                parts.append(rel)
            elif name.endswith(SEGMENT_EXT):
                files.add(rel)
            elif name.endswith(PART_SUFFIX):
                parts.append(rel)  # not a segment name: reported as skipped below
    return sorted(parts), files


def _missing(data_dir: Path, paths: list[str]) -> list[str]:
    return [p for p in paths if not (data_dir / p).exists()]


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- reconcile


async def _previous(store: Store, name: SegmentName) -> tuple[Segment | None, bool]:
    """Return the indexed segment of the stream just before ``name`` (if any) and whether the stream has any."""
    last = await store.segments.last_for_stream(name.camera_id, name.stream)
    if last is None:
        return None, False
    if last.start_at < name.start:
        return last, True
    earlier = [s for s in await store.segments.for_camera(name.camera_id, name.start - PREVIOUS_LOOKBACK_S,
                                                          name.start, name.stream) if s.start_at < name.start]
    return (earlier[-1] if earlier else None), True


async def _index(store: Store, relpath: str, name: SegmentName, probe: Probe, settings: RecordSettings,
                 node_id: str | None = None) -> bool:
    """Index a reconciled segment; return False when the index refuses it (unknown camera, duplicate)."""
    mode = settings.mode if settings.mode != "off" else "continuous"  # keep footage we cannot classify
    prev, stream_known = await _previous(store, name)
    start = name.start
    if prev is not None and abs(prev.end_at - start) < NAME_PRECISION_S:
        start = prev.end_at  # the name keeps milliseconds; the segment continued its predecessor exactly
    gap_before = abs(start - prev.end_at) > CONTIGUOUS_S if prev is not None else stream_known
    row = Segment(0, name.camera_id, name.stream, None, None, relpath, start, start + probe.duration_s,
                  probe.bytes, probe.keyframes, 0.0, "video", probe.codec, mode, False, gap_before, node_id)
    try:
        await store.segments.add(row, None, pre_padding_s=settings.pre_padding_s,
                                 post_padding_s=settings.post_padding_s)
    except Conflict as exc:
        logger.warning("reconcile: %s not indexed: %s", relpath, exc)
        return False
    return True


async def reconcile(store: Store, data_dir: Path,
                    settings_for: Callable[[str], RecordSettings | None] = lambda camera_id: None, *,
                    node_id: str | None = None) -> ReconcileReport:
    """Repair or remove partial files, index orphan files, drop rows without files, close open events.

    In a cluster (``node_id`` set) the files found are indexed as this node's, and only this node's rows
    are checked for their file: the other nodes' footage is on their disks.
    """
    report = ReconcileReport()
    parts, files = await asyncio.to_thread(_scan, data_dir)
    indexed = await store.segments.paths()
    own = indexed if node_id is None else await store.segments.paths(node_id)
    # Footage from before the cluster (no node) whose file is here is this node's (other nodes' files are on
    # their own disks, so only those rows can be here and not ours). Their files exist: step 3 has nothing to do
    # with them, so ``own`` need not grow.
    if node_id is not None and (unowned_here := (files & indexed) - own):
        report.segments_adopted = await store.segments.adopt(sorted(unowned_here), node_id)

    # 1 + 2: partial files, then complete files without rows — oldest first, so gap_before sees predecessors.
    todo: list[tuple[float, str, SegmentName, bool]] = []
    for rel in parts + sorted(files - indexed):
        try:
            name = parse_segment_path(rel)
        except ValueError:
            report.skipped += 1
            continue
        todo.append((name.start, rel, name, is_part(rel)))
    for _, rel, name, partial in sorted(todo):
        settings = settings_for(name.camera_id) or RecordSettings()
        if partial:
            probe = await asyncio.to_thread(repair_part, data_dir / rel)
            rel = rel[: -len(PART_SUFFIX)]
            if probe is None:
                report.parts_removed += 1
                continue
            if await _index(store, rel, name, probe, settings, node_id):
                report.parts_repaired += 1
                files.add(rel)
            else:
                report.skipped += 1
            continue
        try:
            probe = await asyncio.to_thread(probe_segment, data_dir / rel)
        except ValueError as exc:
            logger.warning("reconcile: %s is not playable (%s): removed", rel, exc)
            await asyncio.to_thread(_unlink, data_dir / rel)
            files.discard(rel)
            report.files_removed += 1
            continue
        if await _index(store, rel, name, probe, settings, node_id):
            report.files_indexed += 1
        else:
            report.skipped += 1

    # 3: rows whose file is gone (rows outside recordings/ are checked one by one).
    gone = [p for p in own if p.startswith(RECORDINGS_DIR + "/") and p not in files]
    gone += await asyncio.to_thread(_missing, data_dir,
                                    [p for p in own if not p.startswith(RECORDINGS_DIR + "/")])
    if gone:
        report.rows_removed = await store.segments.delete_paths(gone)

    # 4: in a cluster, events from before it whose thumbnail or snapshot is on this disk are this node's.
    if node_id is not None:
        report.events_adopted = await _adopt_events(store, data_dir, node_id)

    # 5: events a crash left open end at the last time anything was recorded.
    last_end = 0.0
    cameras = await asyncio.to_thread(_camera_dirs, data_dir)
    for camera_id in cameras:
        last = await store.segments.last_for_stream(camera_id, "main")
        if last is not None:
            last_end = max(last_end, last.end_at)
    only: list[str] | None = None
    if node_id is not None:  # a camera another node records now has its open events there
        elsewhere = {lease.resource.removeprefix("camera:") for lease in
                     await LeaseRepo(store.db).unexpired("camera:") if lease.node_id != node_id}
        only = [c for c in cameras if c not in elsewhere]
    report.events_closed = await store.events.close_open(last_end, only)

    level = logging.WARNING if report.changed else logging.INFO
    logger.log(level, "recordings reconciled: %s",
               ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.as_dict().items()))
    return report


async def _adopt_events(store: Store, data_dir: Path, node_id: str) -> int:
    """Give this node the events from before the cluster whose files are on its disk; return how many."""
    adopted, after = 0, 0
    while True:
        batch = await store.events.unowned_files(after, ADOPT_BATCH)
        if not batch:
            return adopted
        after = batch[-1][0]
        here = await asyncio.to_thread(_with_files, data_dir, batch)
        adopted += await store.events.adopt(here, node_id)


def _with_files(data_dir: Path, events: list[tuple[int, list[str]]]) -> list[int]:
    return [event_id for event_id, paths in events if any((data_dir / p).is_file() for p in paths)]


def _camera_dirs(data_dir: Path) -> list[str]:
    root = data_dir / RECORDINGS_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


__all__ = ["Probe", "ReconcileReport", "complete_prefix", "probe_segment", "reconcile", "repair_part"]
