"""Retention and disk safety: which footage to keep, and a sweeper that keeps the data disk from filling.

Two kinds of deletion, both through ``RetentionSweeper``:

- **Day rules** (the scheduled sweep, action ``recordings.retention`` every ``retention.sweep_interval_s``):
  per camera, continuous footage is kept ``retain_days``, footage with motion ``motion_retain_days`` (the
  longer of the two when a continuous segment also holds motion), motion events and their thumbnails
  ``events_retain_days`` (their review items and snapshots with them). A segment recorded in ``motion`` mode
  without motion is only kept until no motion event can still claim it: an event starting up to
  ``pre_padding_s`` after the segment's end marks it (``SegmentRepo.add`` / ``mark_motion``), plus
  ``MOTION_SETTLE_S`` for the analyser's lag. Conference
  recordings have no day rule (they are kept until removed by a person or by the disk floor).
- **Disk floor and quota** (``check_disk()``: every ``DISK_CHECK_INTERVAL_S`` on its own, and whenever the
  recorder asks after writing a segment): when free space on the data disk comes within ``headroom`` of
  ``retention.min_free_gb``, or footage comes within ``headroom`` of ``retention.disk_quota_gb``, the oldest
  unprotected footage is deleted — whatever the day rules say — until there is twice the headroom again
  (hysteresis, so one check frees a useful amount instead of one segment per call). Each such deletion is
  logged as a WARNING, written to the audit log (``retention.disk_emergency``) and counted in /metrics.
- **Disk full alarm**: when even that cannot bring the disk back within its floor (another program filled it,
  or everything left is under evidence holds), every new segment would be deleted right after it is written.
  The sweeper then raises ``disk_alarm`` (logged as an ERROR, audited as ``retention.disk_full``): cameras show
  ``disk_full`` instead of ``recording``, /readyz reports degraded, /metrics and the console's banner say so.
  It clears by itself (``retention.disk_recovered``) at the first check that finds the floor kept again.

Never deleted by either: a segment that an active evidence hold covers — and an export's source segments are
covered by the hold the export places when it is created, so a locked export's footage is safe too.

Deleting: the file first (in a thread), then the index row, so a crash in between leaves a row without a
file, which start-up reconciliation removes (never an unindexed file eating the disk unnoticed).

Footage bytes for the quota are kept as a running total (the index's sum once, then new rows by id and the
deletions made here), so a check every few seconds does not sum millions of rows; a sweep re-reads the sum
at most every ``FOOTAGE_RECOUNT_S``.
Sizes are SI: 1 GB = 10^9 bytes, as disks are sold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediaserver.config import Config, RecordSettings
from mediaserver.storage import Store
from mediaserver.storage.repos import Segment
from mediaserver.tasks import cancel_and_wait

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mediaserver.scheduler import JobContext, Scheduler

logger = logging.getLogger(__name__)

DAY_S = 86400.0
GB_BYTES = 1_000_000_000
# How long after a motion-mode segment's padding window a motion event may still be indexed (the analyser runs
# on the sub stream a little behind the recorder).
MOTION_SETTLE_S = 60.0
SWEEP_ACTION = "recordings.retention"
SWEEP_JOB = "recordings-retention"
DISK_CHECK_INTERVAL_S = 10.0
# Headroom kept inside the floor/quota: 1 % of the disk, between these bounds (a few minutes of recording).
HEADROOM_FRACTION = 0.01
HEADROOM_MIN_BYTES = 1 << 20
HEADROOM_MAX_BYTES = 1 << 30
SWEEP_BATCH = 500
EMERGENCY_BATCH = 200
EMERGENCY_MAX_ROUNDS = 50
# Hour/day directories emptied by deletions are removed once this old (the recorder may be creating the
# current ones right now).
EMPTY_DIR_AGE_S = 2 * 3600.0
# The running footage total is re-read from the index at most this often (by the sweep): summing a year of
# segments takes a second or more and holds the index's reader meanwhile.
FOOTAGE_RECOUNT_S = 6 * 3600.0
# A disk that stays full of held footage is reported again after this long, not on every check.
BLOCKED_ALERT_EVERY_S = 600.0

MODES = ("continuous", "motion", "conference")


# ------------------------------------------------------------------------------------ pure decisions


def segment_cutoff(mode: str, has_motion: bool, rec: RecordSettings, now: float) -> float | None:
    """Return the time before which a segment of this kind must have ended to be deleted; None: no day rule."""
    if mode not in MODES:
        raise ValueError(f"segment mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "conference":
        return None
    if has_motion:
        keep_days = max(rec.motion_retain_days, rec.retain_days) if mode == "continuous" else rec.motion_retain_days
        return now - keep_days * DAY_S
    if mode == "continuous":
        return now - rec.retain_days * DAY_S
    return now - (rec.pre_padding_s + MOTION_SETTLE_S)


def keep_segment(seg: Segment, rec: RecordSettings, now: float) -> bool:
    """Return whether the day rules keep a segment (evidence holds are checked separately)."""
    cutoff = segment_cutoff(seg.mode, seg.has_motion, rec, now)
    return cutoff is None or seg.end_at >= cutoff


def retention_rules(rec: RecordSettings, now: float) -> list[tuple[str, bool, float]]:
    """Return (mode, has_motion, delete segments ending before) for every kind of segment a day rule applies to."""
    rules = []
    for mode in ("continuous", "motion"):
        for has_motion in (False, True):
            cutoff = segment_cutoff(mode, has_motion, rec, now)
            assert cutoff is not None
            rules.append((mode, has_motion, cutoff))
    return rules


def events_cutoff(rec: RecordSettings, now: float) -> float:
    """Return the time before which a motion event must have ended to be deleted (with its thumbnail)."""
    return now - rec.events_retain_days * DAY_S


@dataclass(frozen=True, slots=True)
class DiskLimits:
    """The disk rules in bytes."""

    min_free: int
    quota: int | None
    headroom: int


def default_headroom(disk_total: int, quota: int | None) -> int:
    """Return the headroom for a disk of ``disk_total`` bytes (1 %, 1 MiB..1 GiB, at most a tenth of the quota)."""
    headroom = min(HEADROOM_MAX_BYTES, max(HEADROOM_MIN_BYTES, int(disk_total * HEADROOM_FRACTION)))
    if quota is not None:
        headroom = min(headroom, max(1, quota // 10))
    return headroom


def disk_pressure(footage: int, free: int, limits: DiskLimits) -> bool:
    """Return whether free space is within the headroom of the floor, or footage within it of the quota."""
    if free < limits.min_free + limits.headroom:
        return True
    return limits.quota is not None and footage > limits.quota - limits.headroom


def bytes_to_free(footage: int, free: int, limits: DiskLimits, *, freeing: bool = False) -> int:
    """Return how many footage bytes must be deleted now (0 without pressure, unless already ``freeing``).

    Under pressure the answer restores twice the headroom on both rules, so one pass frees a useful amount.
    """
    if not freeing and not disk_pressure(footage, free, limits):
        return 0
    need = limits.min_free + 2 * limits.headroom - free
    if limits.quota is not None:
        need = max(need, footage - max(0, limits.quota - 2 * limits.headroom))
    return max(0, need)


# ------------------------------------------------------------------------------------------ sweeper


@dataclass(frozen=True, slots=True)
class DiskAlarm:
    """New footage cannot be kept: the disk stays below its floor (or footage above its quota) after freeing."""

    since: float  # UTC epoch seconds of the first check that found it
    reason: str  # 'free-space floor' | 'quota'
    free: int  # bytes free at the last check
    min_free: int
    footage: int
    quota: int | None

    @property
    def message(self) -> str:
        """Return the alarm in one line for staff and logs."""
        if self.reason == "quota" and self.quota is not None:
            return (f"disk full: footage {self.footage / 1e6:.1f} MB at its quota of {self.quota / 1e6:.1f} MB and "
                    "all of it under evidence holds: new footage cannot be kept")
        return (f"disk full: {self.free / 1e6:.1f} MB free, floor {self.min_free / 1e6:.1f} MB: new footage cannot "
                "be kept (free space on the data disk)")


@dataclass
class SweepReport:
    """What one sweep by the day rules deleted."""

    segments: int = 0
    bytes: int = 0
    events: int = 0
    thumbnails: int = 0
    cameras: set[str] = field(default_factory=set)


@dataclass
class DiskReport:
    """One disk check: the state measured before and after, and what was deleted."""

    free_before: int
    free_after: int
    footage_before: int
    footage_after: int
    disk_total: int
    deleted_segments: int = 0
    deleted_bytes: int = 0
    reclaimed_cache_bytes: int = 0
    # True when footage had to go but everything left is under an evidence hold.
    blocked: bool = False


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _unlink_files(data_dir: Path, relpaths: Iterable[str], prune_dirs: Iterable[str]) -> int:
    """Delete files (missing ones are fine); then try to remove the given now-empty directories."""
    count = 0
    for rel in relpaths:
        try:
            (data_dir / rel).unlink()
            count += 1
        except FileNotFoundError:
            pass
    for rel in sorted(set(prune_dirs), key=len, reverse=True):
        with contextlib.suppress(OSError):  # not empty, or already gone
            (data_dir / rel).rmdir()
    return count


class RetentionSweeper:
    """Apply the day rules on the shared scheduler and keep the data disk above its floor and under its quota.

    ``request_disk_check()`` (never blocks) or ``await check_disk()`` after writing a segment; the sweeper
    also checks every ``disk_check_interval_s`` on its own. ``stop()`` is idempotent.
    """

    def __init__(self, store: Store, config: Config, scheduler: Scheduler | None = None, *,
                 registry: CollectorRegistry | None = None,
                 reclaim: Callable[[], Awaitable[int]] | None = None,
                 clock: Callable[[], float] = time.time, headroom_bytes: int | None = None,
                 disk_check_interval_s: float = DISK_CHECK_INTERVAL_S) -> None:
        self.store = store
        self.config = config
        self.data_dir = config.storage.data_dir
        # A cluster's node sweeps and frees only its own disk: the segments indexed with its node id.
        self.node_id = config.cluster.node_id if config.cluster is not None else None
        self._scheduler = scheduler
        self._reclaim = reclaim
        self._clock = clock
        self._headroom = headroom_bytes
        self._interval_s = disk_check_interval_s
        self._lock = asyncio.Lock()  # one deleter at a time (sweep or disk check)
        self._disk_busy = asyncio.Lock()
        self._last_disk: DiskReport | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._footage_bytes = 0
        self._max_id = 0
        self._footage_stale = True
        self._counted_at = 0.0
        self._blocked_alert_at = -BLOCKED_ALERT_EVERY_S
        # Set while the disk stays too full to keep new footage after freeing what may be freed.
        self.disk_alarm: DiskAlarm | None = None
        self._metrics: dict[str, Any] = {}
        if registry is not None:
            from prometheus_client import Counter, Gauge

            self._metrics = {
                "segments": Counter("mediaserver_retention_deleted_segments", "Segments deleted by retention",
                                    ["reason"], registry=registry),
                "bytes": Counter("mediaserver_retention_deleted_bytes", "Footage bytes deleted by retention",
                                 ["reason"], registry=registry),
                "emergencies": Counter("mediaserver_disk_emergencies",
                                       "Disk checks that had to delete footage", registry=registry),
                "free": Gauge("mediaserver_data_disk_free_bytes", "Free bytes on the data disk", registry=registry),
                "footage": Gauge("mediaserver_footage_bytes", "Bytes of indexed footage", registry=registry),
            }
        if scheduler is not None:
            scheduler.register(SWEEP_ACTION, self._run_job, per_node=True)  # each node sweeps its own disk

    # ------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Schedule the sweep and start the periodic disk check."""
        if self._task is not None:
            return
        await asyncio.to_thread(self.data_dir.mkdir, parents=True, exist_ok=True)
        if self._scheduler is not None:
            interval = self.config.retention.sweep_interval_s
            await self._scheduler.add_job(SWEEP_JOB, SWEEP_ACTION, "interval", str(interval), grace_s=interval,
                                          source="system")
        self._task = asyncio.create_task(self._disk_loop(), name="retention-disk-check")

    async def stop(self) -> None:
        """Stop the periodic disk check (idempotent)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def request_disk_check(self) -> None:
        """Ask for a disk check soon (cheap; call after each finished segment)."""
        self._wake.set()

    async def _disk_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                await self.check_disk()
            except asyncio.CancelledError:
                raise
            except Exception:  # the index briefly locked, a file system error: try again next time
                logger.exception("disk check failed")

    async def _run_job(self, ctx: JobContext) -> None:
        await self.sweep()

    # ------------------------------------------------------------------------------- settings

    def settings(self, camera_id: str) -> RecordSettings:
        """Return a camera's recording settings (the global defaults for cameras not in the config)."""
        cam = self.config.cameras.get(camera_id)
        if cam is not None and cam.record is not None:
            return cam.record
        return self.config.recording

    def limits(self, disk_total: int) -> DiskLimits:
        """Return the disk rules in bytes for a data disk of ``disk_total`` bytes."""
        r = self.config.retention
        quota = None if r.disk_quota_gb is None else int(r.disk_quota_gb * GB_BYTES)
        headroom = self._headroom if self._headroom is not None else default_headroom(disk_total, quota)
        return DiskLimits(int(r.min_free_gb * GB_BYTES), quota, headroom)

    # ------------------------------------------------------------------------------- measuring

    def _statvfs(self) -> tuple[int, int]:
        st = os.statvfs(self.data_dir)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    async def _footage(self) -> int:
        if self._footage_stale:
            self._max_id, self._footage_bytes = await self.store.segments.bytes_since(0, self.node_id)
            self._footage_stale = False
            self._counted_at = time.monotonic()
        else:
            max_id, added = await self.store.segments.bytes_since(self._max_id, self.node_id)
            self._max_id = max(self._max_id, max_id)
            self._footage_bytes += added
        return self._footage_bytes

    async def _usage(self) -> tuple[int, int, int]:
        free, total = await asyncio.to_thread(self._statvfs)
        footage = await self._footage()
        if self._metrics:
            self._metrics["free"].set(free)
            self._metrics["footage"].set(footage)
        return footage, free, total

    # ------------------------------------------------------------------------------- deleting

    async def _delete_segments(self, segments: list[Segment], reason: str) -> int:
        """Delete segments' files, then their rows; return the bytes freed."""
        if not segments:
            return 0
        now = self._clock()
        prune = []
        for s in segments:
            if s.end_at < now - EMPTY_DIR_AGE_S:
                hour = Path(s.path).parent
                prune += [str(hour), str(hour.parent)]
        await asyncio.to_thread(_unlink_files, self.data_dir, [s.path for s in segments], prune)
        await self.store.segments.delete(s.id for s in segments)
        freed = sum(s.bytes for s in segments)
        self._footage_bytes -= freed
        if any(s.id >= self._max_id for s in segments):
            # SQLite may reuse the highest id once its row is gone: recount instead of missing the next row.
            self._footage_stale = True
        if self._metrics:
            self._metrics["segments"].labels(reason).inc(len(segments))
            self._metrics["bytes"].labels(reason).inc(freed)
        return freed

    async def _system_audit(self, action: str, target: str, detail: dict[str, Any]) -> None:
        await self.store.audit.add("system", "system", action, target, detail)

    # ------------------------------------------------------------------------------- day rules

    async def sweep(self) -> SweepReport:
        """Delete footage, events and thumbnails the day rules no longer keep; then check the disk."""
        report = SweepReport()
        async with self._lock:
            now = self._clock()
            for camera_id in await self.store.cameras.all_ids():
                rec = self.settings(camera_id)
                rules = retention_rules(rec, now)
                while True:
                    batch = await self.store.segments.expired(camera_id, rules, SWEEP_BATCH, node_id=self.node_id)
                    # The query and keep_segment state the same rule; the check keeps them from drifting apart.
                    doomed = [s for s in batch if not keep_segment(s, rec, now)]
                    if len(doomed) != len(batch):
                        logger.error("%s: retention query and rule disagree on %d segment(s); keeping them",
                                     camera_id, len(batch) - len(doomed))
                    report.bytes += await self._delete_segments(doomed, "rules")
                    report.segments += len(doomed)
                    if doomed:
                        report.cameras.add(camera_id)
                    if len(batch) < SWEEP_BATCH or not doomed:
                        break
                before = events_cutoff(rec, now)
                while True:
                    events = await self.store.events.expired(camera_id, before, SWEEP_BATCH, node_id=self.node_id)
                    if not events:
                        break
                    # Review items go with their events (ON DELETE CASCADE); their snapshot files go here.
                    thumbs = [t for _, t in events if t]
                    thumbs += await self.store.review.snapshot_paths(i for i, _ in events)
                    report.thumbnails += await asyncio.to_thread(_unlink_files, self.data_dir, thumbs, ())
                    report.events += await self.store.events.delete_ids(i for i, _ in events)
                    report.cameras.add(camera_id)
                    if len(events) < SWEEP_BATCH:
                        break
            if time.monotonic() - self._counted_at > FOOTAGE_RECOUNT_S:
                self._footage_stale = True  # corrects anything others deleted; a full sum is not free
        if report.segments or report.events:
            logger.info("retention: deleted %d segment(s) (%.1f MB), %d event(s), %d thumbnail(s) of %s",
                        report.segments, report.bytes / 1e6, report.events, report.thumbnails,
                        ", ".join(sorted(report.cameras)))
            await self._system_audit("retention.sweep", ",".join(sorted(report.cameras)), {
                "segments": report.segments, "bytes": report.bytes, "events": report.events,
                "thumbnails": report.thumbnails,
            })
        await self.check_disk()
        return report

    # ------------------------------------------------------------------------------- disk floor

    async def check_disk(self) -> DiskReport:
        """Measure the data disk; under pressure delete the oldest unprotected footage. Callers may overlap."""
        if self._disk_busy.locked() and self._last_disk is not None:
            async with self._disk_busy:  # a check is running: its result is as fresh as ours would be
                return self._last_disk
        async with self._disk_busy, self._lock:
            report = await self._check_disk()
            self._last_disk = report
        await self._update_alarm(report)
        return report

    async def _update_alarm(self, report: DiskReport) -> None:
        """Raise the disk-full alarm when freeing could not keep the floor; clear it once there is room again."""
        limits = self.limits(report.disk_total)
        free, footage = report.free_after, report.footage_after
        quota_hit = limits.quota is not None and footage > limits.quota - limits.headroom
        # Blocked: everything deletable is gone (the segment just written included) and it still was not enough.
        full = report.blocked or disk_pressure(footage, free, limits)
        # Cleared only with the full hysteresis margin back, so a disk hovering at the floor does not flap.
        room = free >= limits.min_free + 2 * limits.headroom and (
            limits.quota is None or footage <= limits.quota - 2 * limits.headroom)
        old = self.disk_alarm
        if full or (old is not None and not room):
            reason = "quota" if quota_hit and free >= limits.min_free + limits.headroom else "free-space floor"
            self.disk_alarm = DiskAlarm(old.since if old is not None else self._clock(), reason, free,
                                        limits.min_free, footage, limits.quota)
            if old is None:
                logger.error("recording blocked: %s", self.disk_alarm.message)
                await self._system_audit("retention.disk_full", "", {
                    "reason": reason, "free": free, "min_free": limits.min_free, "footage": footage})
        elif old is not None:
            self.disk_alarm = None
            blocked_s = round(self._clock() - old.since, 1)
            logger.warning("recording unblocked: %.1f MB free again (floor %.1f MB) after %.0f s", free / 1e6,
                           limits.min_free / 1e6, blocked_s)
            await self._system_audit("retention.disk_recovered", "", {"free": free, "blocked_s": blocked_s})

    async def _check_disk(self) -> DiskReport:
        footage, free, total = await self._usage()
        limits = self.limits(total)
        report = DiskReport(free, free, footage, footage, total)
        if not bytes_to_free(footage, free, limits):
            return report
        if self._reclaim is not None:
            report.reclaimed_cache_bytes = await self._reclaim()
            footage, free, total = await self._usage()
        deleted: list[Segment] = []
        for _ in range(EMERGENCY_MAX_ROUNDS):
            need = bytes_to_free(footage, free, limits, freeing=True)
            if need <= 0:
                break
            candidates = await self.store.segments.oldest_unprotected(EMERGENCY_BATCH, node_id=self.node_id)
            if not candidates:
                report.blocked = True
                break
            pick: list[Segment] = []
            planned = 0
            for s in candidates:
                pick.append(s)
                planned += s.bytes
                if planned >= need:
                    break
            report.deleted_bytes += await self._delete_segments(pick, "disk")
            deleted += pick
            footage, free, total = await self._usage()
        report.free_after, report.footage_after = free, footage
        report.deleted_segments = len(deleted)
        if deleted:
            cameras = sorted({s.camera_id or f"room-session-{s.room_session_id}" for s in deleted})
            why = "quota" if limits.quota is not None and report.footage_before > limits.quota - limits.headroom \
                else "free-space floor"
            logger.warning(
                "disk %s reached: deleted the %d oldest unprotected segment(s) (%.1f MB, %s..%s) of %s; "
                "free %.1f MB -> %.1f MB (floor %.1f MB), footage %.1f MB", why, len(deleted),
                report.deleted_bytes / 1e6, _iso(deleted[0].start_at), _iso(deleted[-1].end_at), ", ".join(cameras),
                report.free_before / 1e6, free / 1e6, limits.min_free / 1e6, footage / 1e6)
            await self._system_audit("retention.disk_emergency", ",".join(cameras), {
                "reason": why, "segments": len(deleted), "bytes": report.deleted_bytes,
                "oldest": _iso(deleted[0].start_at), "newest": _iso(deleted[-1].end_at),
                "free_before": report.free_before, "free_after": free, "footage_after": footage,
            })
            if self._metrics:
                self._metrics["emergencies"].inc()
        if report.blocked:
            now = self._clock()
            if now - self._blocked_alert_at >= BLOCKED_ALERT_EVERY_S:
                self._blocked_alert_at = now
                logger.error("footage must be deleted (%.1f MB free, floor %.1f MB; footage %.1f MB, quota %s) but all "
                             "that is left is under evidence holds: release holds or add space", free / 1e6,
                             limits.min_free / 1e6, footage / 1e6,
                             "none" if limits.quota is None else f"{limits.quota / 1e6:.1f} MB")
                await self._system_audit("retention.disk_blocked", "", {"free": free, "footage": footage})
        return report
