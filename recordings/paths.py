"""Where a camera segment lives: names sharded by camera and UTC hour, temporary names, and parsing back.

A segment of camera ``gate-1``'s main stream starting 2026-01-02 03:04:05.678 UTC is
``recordings/gate-1/2026-01-02/03/gate-1-main-20260102T030405_678Z.mp4`` (relative to the data dir, as the
index stores it). Directories shard by camera, day and hour so no directory grows past one hour of one
camera's segments (360 at 10 s) and retention can drop whole hours. While being written the file is
``<name>.mp4.part``; the rename to ``<name>.mp4`` is what makes it complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

RECORDINGS_DIR = "recordings"
SEGMENT_EXT = ".mp4"
PART_SUFFIX = ".part"
# A camera id / stream name as the config allows them (mediaserver.config Ident): no '/', no '..'.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STREAM_RE = re.compile(r"^[a-z0-9_]{1,16}$")  # no '-': it separates the parts of a file name
_STAMP_FMT = "%Y%m%dT%H%M%S"
_FILE_RE = re.compile(r"^(?P<camera>.+)-(?P<stream>[a-z0-9_]{1,16})-(?P<stamp>\d{8}T\d{6})_(?P<ms>\d{3})Z\.mp4$")


@dataclass(frozen=True, slots=True)
class SegmentName:
    """What a segment's path says: whose it is and when it starts (UTC epoch seconds, millisecond precision)."""

    camera_id: str
    stream: str
    start: float


def _check(camera_id: str, stream: str) -> None:
    if not _NAME_RE.match(camera_id):
        raise ValueError(f"camera id {camera_id!r} cannot be used in a segment path (a-z, 0-9, '_', '-')")
    if not _STREAM_RE.match(stream):
        raise ValueError(f"stream name {stream!r} cannot be used in a segment path (a-z, 0-9, '_')")


def segment_relpath(camera_id: str, stream: str, start: float) -> str:
    """Return the data-dir-relative path of the segment of ``camera_id``/``stream`` starting at ``start``."""
    _check(camera_id, stream)
    ms_total = int(start * 1000)  # floor to the millisecond: the name never claims a later start
    at = datetime.fromtimestamp(ms_total // 1000, UTC)
    name = f"{camera_id}-{stream}-{at.strftime(_STAMP_FMT)}_{ms_total % 1000:03d}Z{SEGMENT_EXT}"
    return str(PurePosixPath(RECORDINGS_DIR, camera_id, at.strftime("%Y-%m-%d"), at.strftime("%H"), name))


def part_path(path: Path) -> Path:
    """Return the temporary name a segment is written under until it is complete."""
    return path.with_name(path.name + PART_SUFFIX)


def is_part(path: str | Path) -> bool:
    """Return whether ``path`` is a segment still being written (or left by a crash)."""
    return str(path).endswith(SEGMENT_EXT + PART_SUFFIX)


def final_path(part: Path) -> Path:
    """Return the complete segment name of a ``.part`` file."""
    if not is_part(part):
        raise ValueError(f"{part} is not a {SEGMENT_EXT}{PART_SUFFIX} file")
    return part.with_name(part.name[: -len(PART_SUFFIX)])


def parse_segment_path(relpath: str | PurePosixPath) -> SegmentName:
    """Parse a data-dir-relative segment path (``.part`` allowed) back into camera, stream and start."""
    text = str(relpath)
    if text.endswith(PART_SUFFIX):
        text = text[: -len(PART_SUFFIX)]
    parts = PurePosixPath(text).parts
    if len(parts) != 5 or parts[0] != RECORDINGS_DIR:
        raise ValueError(f"{relpath!s}: not recordings/<camera>/<YYYY-MM-DD>/<HH>/<file>.mp4")
    _, camera_dir, day, hour, name = parts
    m = _FILE_RE.match(name)
    if m is None or m["camera"] != camera_dir:
        raise ValueError(f"{relpath!s}: file name is not {camera_dir}-<stream>-<YYYYmmddTHHMMSS_mmm>Z.mp4")
    _check(camera_dir, m["stream"])
    try:
        at = datetime.strptime(m["stamp"], _STAMP_FMT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{relpath!s}: invalid time {m['stamp']!r} in the file name") from None
    if day != at.strftime("%Y-%m-%d") or hour != at.strftime("%H"):
        raise ValueError(f"{relpath!s}: directory {day}/{hour} does not match the file's start time")
    return SegmentName(camera_dir, m["stream"], at.timestamp() + int(m["ms"]) / 1000)


__all__ = ["PART_SUFFIX", "RECORDINGS_DIR", "SEGMENT_EXT", "SegmentName", "final_path", "is_part",
           "parse_segment_path", "part_path", "segment_relpath"]
