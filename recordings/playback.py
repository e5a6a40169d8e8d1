"""Playback of recorded footage in the browser: a time range as one seekable MP4, and single segments.

Two endpoints (routes in ``mediaserver/api/footage.py``):

- ``GET /api/v1/cameras/{camera_id}/playback.mp4?start=&end=`` — the range (at most ``PLAYBACK_MAX_S``)
  remuxed, without transcoding, into one progressive MP4 with its index up front (``+faststart``), cached
  in ``data_dir/playback/`` and served with HTTP range requests (206 Partial Content).
- ``GET /api/v1/recordings/{segment_id}/file`` — one segment file as recorded (fMP4), also with ranges.
- ``POST /api/v1/cameras/{camera_id}/playback`` — the same range file behind a ticket URL
  (``/api/v1/media/{ticket}``, ``Tickets`` below), because ``<video src>`` cannot send a bearer token.

Why progressive MP4 with ranges rather than HLS or MSE over the fMP4 segments: a plain ``<video src>``
plays and seeks it in every browser with no player library — Chromium has no native HLS, and feeding
self-contained fMP4 segments (each with its own init segment) to Media Source Extensions means a JavaScript
player that re-parses boxes. Seeking is exact: the browser reads the ``moov`` index once and fetches only
the byte ranges it needs. The cost is one remux per range, and remuxing is cheap (measured ~30–40 k
packets/s per core at 640x360: an hour of a 25 fps stream in a few seconds, a 10-minute window well under
a second) and the result is cached, so scrubbing back and forth costs nothing more. Windows are bounded so
a request never remuxes a whole day.

The file's media time 0 is the wall time in the ``X-Playback-Start`` response header (the keyframe at or
before ``start``, up to one GOP early), so a timeline maps media time t to wall time ``X-Playback-Start + t``;
an outage inside the range stays a jump in the timeline at its real position (see ``recordings/export.py``).

Cache: an entry's name hashes the camera, stream, range and the ids and sizes of the segments it was made
from, so footage recorded later at the live edge makes a new entry instead of serving a stale one. The cache
is bounded by ``cache_max_bytes`` and ``cache_ttl_s`` (least recently used first), emptied at start-up and
by ``purge()`` when the disk is short (the retention sweeper's first resort before deleting footage).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mediaserver.storage import Store
from mediaserver.storage.repos import Segment
from recordings.export import FootageError, RemuxResult, check_range, remux_range

logger = logging.getLogger(__name__)

PLAYBACK_DIR = "playback"
PLAYBACK_MAX_S = 3600.0
CACHE_MAX_BYTES = 2 * 1024**3
CACHE_TTL_S = 3600.0
# Remuxes running at once (each is one thread reading files): more would only queue on the disk.
MAX_BUILDS = 2


@dataclass(frozen=True, slots=True)
class PlaybackFile:
    """A cached playback MP4 and the wall times it covers."""

    path: Path
    first_wall: float  # wall time of media time 0
    last_wall: float
    size: int


def _reset_dir(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


class Playback:
    """Build (once) and cache playback files for time ranges; look up segment files. ``stop()`` is idempotent."""

    def __init__(self, store: Store, data_dir: Path, *, cache_max_bytes: int = CACHE_MAX_BYTES,
                 cache_ttl_s: float = CACHE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.data_dir = data_dir
        self.dir = data_dir / PLAYBACK_DIR
        self._max_bytes = cache_max_bytes
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[PlaybackFile, float]] = {}  # key → (file, last used)
        self._building: dict[str, asyncio.Task[PlaybackFile]] = {}
        self._slots = asyncio.Semaphore(MAX_BUILDS)
        self._cancel = threading.Event()
        self.tickets = Tickets(clock)

    async def start(self) -> None:
        """Empty the cache directory (entries are not kept across restarts)."""
        await asyncio.to_thread(_reset_dir, self.dir)
        self._cancel.clear()

    async def stop(self) -> None:
        """Wait for builds in progress to end (idempotent)."""
        self._cancel.set()
        tasks = list(self._building.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def segment(self, segment_id: int) -> tuple[Segment, Path]:
        """Return a camera segment and its file; FootageError 404 when either is missing."""
        seg = await self.store.segments.get(segment_id)
        if seg is None or seg.camera_id is None:  # meeting recordings are not camera footage
            raise FootageError(404, "not_found", f"no camera segment {segment_id}")
        path = self.data_dir / seg.path
        if not await asyncio.to_thread(path.is_file):
            raise FootageError(404, "not_found", f"segment {segment_id}'s file is gone (deleted by retention?)")
        return seg, path

    async def range_file(self, camera_id: str, start: float, end: float, stream: str = "main") -> PlaybackFile:
        """Return the playback MP4 of a camera stream's [start, end), building it unless it is cached."""
        check_range(start, end, PLAYBACK_MAX_S)
        segments = await self.store.segments.for_camera(camera_id, start, end, stream)
        if not segments:
            raise FootageError(404, "no_footage", f"camera {camera_id!r} ({stream}) has no footage in this range")
        ident = "|".join([camera_id, stream, repr(start), repr(end)] + [f"{s.id}:{s.bytes}" for s in segments])
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        hit = self._entries.get(key)
        if hit is not None and await asyncio.to_thread(hit[0].path.is_file):
            self._entries[key] = (hit[0], self._clock())
            return hit[0]
        task = self._building.get(key)
        if task is None:
            task = asyncio.create_task(self._build(key, segments, start, end), name=f"playback-{key[:8]}")
            self._building[key] = task
            task.add_done_callback(lambda _t: self._building.pop(key, None))
        # Several viewers asking for the same range share one build; one leaving does not cancel it.
        return await asyncio.shield(task)

    async def _build(self, key: str, segments: list[Segment], start: float, end: float) -> PlaybackFile:
        async with self._slots:
            final = self.dir / f"{key}.mp4"
            part = self.dir / f"{key}.mp4.part"
            started = time.perf_counter()

            def job() -> RemuxResult:
                self.dir.mkdir(parents=True, exist_ok=True)
                result = remux_range(self.data_dir, segments, start, end, part, skip_missing=True,
                                     cancel=self._cancel)
                part.replace(final)
                return result

            result = await asyncio.to_thread(job)
            logger.info("playback %s..%s of %s: %d frames remuxed in %.2f s (%.1f MB)", start, end,
                        segments[0].camera_id, result.packets, time.perf_counter() - started, result.size / 1e6)
            entry = PlaybackFile(final, result.first_wall, result.last_wall, result.size)
            self._entries[key] = (entry, self._clock())
            await self._trim(keep=key)
            return entry

    async def _trim(self, keep: str | None = None) -> int:
        """Drop expired entries, then the least recently used until the cache fits; return bytes freed."""
        now = self._clock()
        by_age = sorted(self._entries.items(), key=lambda kv: kv[1][1])
        total = sum(e.size for e, _ in self._entries.values())
        doomed: list[str] = []
        for key, (entry, used) in by_age:
            if key == keep:
                continue
            if now - used > self._ttl_s or total > self._max_bytes:
                doomed.append(key)
                total -= entry.size
        return await self._drop(doomed)

    async def _drop(self, keys: list[str]) -> int:
        entries = [self._entries.pop(k)[0] for k in keys if k in self._entries]

        def unlink() -> None:
            for e in entries:
                e.path.unlink(missing_ok=True)

        if entries:
            await asyncio.to_thread(unlink)
        return sum(e.size for e in entries)

    async def purge(self) -> int:
        """Delete every cached playback file not being built (the disk is short); return the bytes freed."""
        freed = await self._drop(list(self._entries))
        if freed:
            logger.warning("playback cache emptied to free %.1f MB for recording", freed / 1e6)
        return freed


# --------------------------------------------------------------------------------------------- tickets

TICKET_IDLE_S = 900.0
TICKET_MAX_S = 4 * 3600.0


@dataclass
class Ticket:
    """A capability for one file: whoever holds the URL may read the file until it expires."""

    path: Path
    subject: str
    role: str
    headers: dict[str, str]
    issued_at: float
    used_at: float
    audit_action: str | None = None  # written when the file is first served through the ticket
    served: bool = False
    # A file on another node of a cluster: (node id, node-to-node path, query), read from there when used.
    remote: tuple[str, str, dict[str, str]] | None = None


class Tickets:
    """Short-lived unguessable URLs for media a ``<video>`` element or a download link must fetch.

    Browsers send no ``Authorization`` header for ``<video src>`` or ``<a href download>``, so a route that
    needs the bearer token cannot be played or downloaded directly. A footage user (security/admin, checked
    by the route that issues the ticket) gets a random 192-bit ticket for one file instead; it lapses after
    ``TICKET_IDLE_S`` unused and ``TICKET_MAX_S`` in all, and lives in memory only (a restart revokes all).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}

    def issue(self, path: Path, *, subject: str, role: str, headers: dict[str, str] | None = None,
              audit_action: str | None = None, remote: tuple[str, str, dict[str, str]] | None = None) -> str:
        """Return a new ticket for ``path`` (or for a file on another node: ``remote``)."""
        self._expire()
        now = self._clock()
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = Ticket(path, subject, role, dict(headers or {}), now, now, audit_action,
                                       remote=remote)
        return ticket

    def get(self, ticket: str) -> Ticket | None:
        """Return a live ticket (and keep it alive), or None."""
        self._expire()
        entry = self._tickets.get(ticket)
        if entry is not None:
            entry.used_at = self._clock()
        return entry

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, t in self._tickets.items()
                    if now - t.used_at > TICKET_IDLE_S or now - t.issued_at > TICKET_MAX_S]:
            del self._tickets[key]
