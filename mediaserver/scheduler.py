"""The one shared job scheduler: every subsystem's timed work runs here, persisted in the storage index.

Model
-----
* A job (a row of ``jobs``) names an *action*, a timing (``once``, ``interval`` or ``cron``), an IANA time
  zone, a grace window and JSON arguments. Subsystems register one async handler per action at startup
  ("retention.sweep", "room.start", "camera.record_window", …), then jobs are added from the config
  (``sync_config``) or the API (``add_job``).
* The stored ``next_run_at`` (UTC epoch) is the truth, so jobs survive restarts. The loop stores a job's
  following run time *before* it starts the handler: a crash can lose a run but never repeat one.
* Catch-up after downtime: a job overdue by at most ``grace_s`` runs once, its run recording how late it
  was; one overdue by more records a 'missed' run instead. Either way it is then scheduled after now, so a
  long outage never causes a burst of catch-up runs.
* Every run is a ``job_runs`` row whose outcome is ok, error, timeout, interrupted (the server stopped
  during the run) or missed.

Handlers
--------
A handler is a coroutine function taking a ``JobContext``. It runs on the event loop the media path shares,
so it must never block: put CPU-bound or blocking work (file scans, ffmpeg, big deletes) in a thread with
``await asyncio.to_thread(fn, ...)``. A handler that raises or overruns ``run_timeout_s`` is recorded and the
scheduler carries on; at most ``max_concurrent`` handlers run at once, and a job never overlaps itself.

Lifecycle (aiortc style: the object owns its tasks): ``register`` handlers, ``await start()``, and
``await stop()`` before the database is closed; ``stop`` cancels and awaits every task it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from mediaserver.config import ScheduleConfig, is_ident
from mediaserver.storage import NotFound, Store
from mediaserver.storage.nodes import JobClaimRepo
from mediaserver.storage.repos import Job

logger = logging.getLogger(__name__)

KINDS = ("once", "interval", "cron")
SOURCES = ("config", "api", "system")

# Longest sleep of the loop: the wall clock may jump (NTP, suspend) while we sleep on the monotonic clock,
# and re-reading it at least this often bounds how long such a jump goes unnoticed.
MAX_SLEEP_S = 60.0
# Shortest sleep: the wall clock and the loop's monotonic clock drift apart by microseconds, so a wake-up
# can come a hair before a job is due; sleeping at least this long keeps that from turning into a spin.
MIN_SLEEP_S = 0.005
# While running, a due job is always a little late (sleep granularity, a busy loop). Lateness below this is
# never called a miss, even for a job with grace_s = 0; the strict grace applies to catch-up at start.
LOOP_JITTER_S = 5.0
# After an unexpected error (e.g. the database is briefly locked), retry this much later instead of spinning.
ERROR_RETRY_S = 5.0
DEFAULT_GRACE_S = 300.0
DEFAULT_RUN_TIMEOUT_S = 3600.0
# A cluster's run claims are kept this long (a node's clock may lag; a claim must outlive any look at its run),
# and purged this often.
CLAIM_KEEP_S = 7 * 86400.0
CLAIM_PURGE_EVERY_S = 3600.0

# Same form as ScheduleConfig.action: a dotted, lower-case "subsystem.verb".
_ACTION_RE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler is told about the run it performs."""

    job_id: str
    action: str
    args: dict[str, Any]
    scheduled_for: float  # UTC epoch the run was due
    late_s: float  # how long after scheduled_for the run started


Handler = Callable[[JobContext], Awaitable[None]]


class JobBusy(RuntimeError):
    """The job's previous run is still running."""


# ------------------------------------------------------------------------------------------- timing


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown time zone {tz!r} (expected an IANA name such as 'Asia/Ho_Chi_Minh')"
        ) from None


def _once_at(spec: str, zone: ZoneInfo) -> float:
    try:
        at = datetime.fromisoformat(spec)
    except (ValueError, TypeError):
        raise ValueError(
            f"a 'once' job needs an ISO-8601 date and time such as '2025-03-01T02:00:00+07:00', got {spec!r}"
        ) from None
    if at.tzinfo is None:  # a naive time is wall-clock time in the job's zone
        at = at.replace(tzinfo=zone)
    return at.timestamp()


def _interval_s(spec: str) -> float:
    try:
        seconds = float(spec)
    except (ValueError, TypeError):
        raise ValueError(
            f"an 'interval' job needs a number of seconds such as '60' or '0.5', got {spec!r}"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"an 'interval' job needs a positive, finite number of seconds, got {spec!r}")
    return seconds


def _check_cron(spec: str) -> None:
    # croniter also accepts a sixth (seconds) field; the config and API promise five, so hold to that.
    if not isinstance(spec, str) or len(spec.split()) != 5 or not croniter.is_valid(spec):
        raise ValueError(
            "a 'cron' job needs a five-field cron expression (minute hour day-of-month month day-of-week)"
            f" such as '0 2 * * *', got {spec!r}"
        )


def next_run(kind: str, spec: str, tz: str, after: float) -> float | None:
    """Return the job's first run time (UTC epoch) strictly after ``after``; None if it has none left."""
    zone = _zone(tz)
    if kind == "once":
        at = _once_at(spec, zone)
        return at if at > after else None
    if kind == "interval":
        return after + _interval_s(spec)
    if kind == "cron":
        _check_cron(spec)
        # Evaluate in the job's zone so "0 2 * * *" means 02:00 local time, DST included.
        following: datetime = croniter(spec, datetime.fromtimestamp(after, zone)).get_next(datetime)
        return following.timestamp()
    raise ValueError(f"unknown job kind {kind!r} (expected one of: {', '.join(KINDS)})")


def _following(job: Job, scheduled_for: float, now: float) -> float | None:
    """Return when a job runs after its slot at ``scheduled_for`` has been handled at ``now``."""
    if job.kind == "once":
        return None
    # Anchor on the slot, not on now, so an interval job does not drift by the loop's lateness ...
    nxt = next_run(job.kind, job.spec, job.timezone, scheduled_for)
    if nxt is not None and nxt <= now:
        # ... unless that slot is gone too (downtime, a long stall): then skip ahead, never run a burst.
        nxt = next_run(job.kind, job.spec, job.timezone, now)
    return nxt


def _fmt(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _number_spec(seconds: float) -> str:
    # Must be stable across restarts: JobRepo.upsert keeps next_run_at only while the spec text is unchanged.
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


# ---------------------------------------------------------------------------------------- scheduler


class Scheduler:
    """Run registered async handlers for the jobs stored in the index, on time, one run per job at once."""

    def __init__(
        self,
        store: Store,
        default_tz: str,
        *,
        clock: Callable[[], float] = time.time,
        max_concurrent: int = 4,
        run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
    ) -> None:
        _zone(default_tz)
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if not run_timeout_s > 0:
            raise ValueError("run_timeout_s must be positive")
        self._store = store
        self._default_tz = default_tz
        self._clock = clock
        self._run_timeout_s = run_timeout_s
        self._handlers: dict[str, Handler] = {}
        self._state = "new"  # new → running → stopping → stopped
        self._loop_task: asyncio.Task[None] | None = None
        # Serialises every read-modify-write of jobs (loop tick, add/remove, run_now, stop) so a tick working
        # from an older list never overwrites a next_run_at that add_job just computed.
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._slots = asyncio.Semaphore(max_concurrent)
        # A job id is "busy" from just before its run row is written until its task is done; reserving it
        # before the first await keeps two triggers (loop, run_now) from starting overlapping runs.
        self._busy: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._open_runs: dict[int, str] = {}  # run id → job id, for runs not yet given an outcome
        self._warned: set[str] = set()
        self._last_tick_at: float | None = None
        # In a cluster (set by the app): every node runs this scheduler on the shared jobs, and a due run is
        # performed by the one node whose claim of (job, due time) wins (job_claims); None: one node, no claims.
        self.node_id: str | None = None
        self._claims = JobClaimRepo(store.db)
        self._claims_purged_at = -math.inf
        self._per_node: set[str] = set()  # actions every node performs itself (see register)
        self._local_due: dict[str, float | None] = {}  # per-node jobs: this node's next run (cluster only)

    # ------------------------------------------------------------------------------- registration

    def register(self, action: str, handler: Handler, *, per_node: bool = False) -> None:
        """Register the async handler that performs ``action``.

        ``per_node``: in a cluster, every node performs each run itself (the action works on the node's own
        disk or cameras, e.g. retention, a camera's recording mode), on its own timing kept in memory; other
        actions run once across the nodes.
        """
        if not _ACTION_RE.match(action):
            raise ValueError(f"action {action!r} must look like 'subsystem.verb' (lower case, dotted)")
        if action in self._handlers:
            raise ValueError(f"action {action!r} already has a handler")
        self._handlers[action] = handler
        if per_node:
            self._per_node.add(action)

    def _build(
        self, job_id: str, action: str, kind: str, spec: str, *, timezone: str | None, grace_s: float,
        args: Mapping[str, Any] | None, enabled: bool, source: str,
    ) -> Job:
        """Validate a job definition and return it with its next run computed from now."""
        if not isinstance(job_id, str) or not is_ident(job_id):
            raise ValueError(
                f"job id {job_id!r} must be 1-64 of a-z, 0-9, '_' and '-', starting with a letter or digit"
            )
        if action not in self._handlers:
            known = ", ".join(sorted(self._handlers)) or "none"
            raise ValueError(f"unknown action {action!r} for job {job_id!r} (registered: {known})")
        if kind not in KINDS:
            raise ValueError(
                f"unknown job kind {kind!r} for job {job_id!r} (expected one of: {', '.join(KINDS)})"
            )
        if source not in SOURCES:
            raise ValueError(f"unknown job source {source!r} (expected one of: {', '.join(SOURCES)})")
        if not math.isfinite(grace_s) or grace_s < 0:
            raise ValueError(f"grace_s of job {job_id!r} must be a finite number >= 0, got {grace_s!r}")
        tz = timezone or self._default_tz
        job_args = dict(args or {})
        try:
            json.dumps(job_args)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"args of job {job_id!r} must be JSON-serialisable: {exc}") from None
        try:
            nxt = next_run(kind, spec, tz, self._clock())
        except ValueError as exc:
            raise ValueError(f"job {job_id!r}: {exc}") from None
        if nxt is None:
            logger.warning("job %s: its 'once' time %s is already past; it will not run", job_id, spec)
        return Job(job_id, action, kind, spec, tz, float(grace_s), job_args, enabled, source, nxt, None)

    async def add_job(
        self,
        job_id: str,
        action: str,
        kind: str,
        spec: str,
        *,
        timezone: str | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        args: Mapping[str, Any] | None = None,
        enabled: bool = True,
        source: str = "api",
    ) -> Job:
        """Validate and store a job (replacing one with the same id) and return it as stored."""
        job = self._build(job_id, action, kind, spec, timezone=timezone, grace_s=grace_s, args=args,
                          enabled=enabled, source=source)
        async with self._lock:
            await self._store.jobs.upsert(job)
            stored = await self._store.jobs.get(job_id)
        assert stored is not None, "just upserted"
        self._warned.discard(job_id)
        self._local_due.pop(job_id, None)
        self._wake.set()
        logger.info("job %s (%s, %s %r, %s) saved; next run %s", job_id, action, kind, spec, job.timezone,
                    _fmt(stored.next_run_at))
        return stored

    async def remove_job(self, job_id: str) -> None:
        """Delete a job and its run history; a run in progress is allowed to finish."""
        async with self._lock:
            await self._store.jobs.delete(job_id)  # raises NotFound
        self._wake.set()
        logger.info("job %s removed", job_id)

    async def sync_config(self, schedules: Mapping[str, ScheduleConfig]) -> None:
        """Make config jobs match the config: upsert these, disable config jobs no longer listed."""
        jobs: list[Job] = []
        problems: list[str] = []
        # Validate everything before writing anything, so a typo never leaves a half-applied config.
        for job_id, cfg in schedules.items():
            try:
                if cfg.kind == "once":
                    spec = cfg.at.isoformat() if cfg.at is not None else None
                elif cfg.kind == "interval":
                    spec = _number_spec(cfg.every_s) if cfg.every_s is not None else None
                else:
                    spec = cfg.cron
                if spec is None:
                    raise ValueError(f"job {job_id!r} of kind {cfg.kind!r} has no time set")
                jobs.append(self._build(job_id, cfg.action, cfg.kind, spec, timezone=cfg.timezone,
                                        grace_s=cfg.grace_s, args=cfg.args, enabled=cfg.enabled,
                                        source="config"))
            except ValueError as exc:
                problems.append(f"schedules.{job_id}: {exc}")
        if problems:
            raise ValueError("invalid scheduled jobs:\n" + "\n".join(f"  {p}" for p in problems))
        async with self._lock:
            for job in jobs:
                await self._store.jobs.upsert(job)
            await self._store.jobs.disable_config_jobs_except(j.id for j in jobs)
        self._warned.clear()
        self._wake.set()
        logger.info("synced %d scheduled job(s) from the config", len(jobs))

    # ----------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Mark runs a killed process left open as interrupted, catch up overdue jobs, and start the loop."""
        if self._state != "new":
            raise RuntimeError(f"scheduler cannot start from state {self._state!r}")
        self._state = "running"
        try:
            interrupted = await self._store.jobs.interrupt_running(self.node_id)
            if interrupted:
                logger.warning("%d job run(s) were cut off by the previous shutdown; marked interrupted",
                               interrupted)
            async with self._lock:
                # The strict catch-up pass: grace_s exactly as configured, one run at most per job.
                await self._tick(startup=True)
        except BaseException:
            await self.stop()
            raise
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler-loop")
        self._loop_task.add_done_callback(self._loop_done)
        logger.info("scheduler started (%d action(s) registered)", len(self._handlers))

    async def stop(self) -> None:
        """Cancel the loop and every running job (recorded as interrupted) and wait for them; idempotent."""
        if self._state == "stopped":
            return
        if self._state == "stopping":
            await self._stopped.wait()
            return
        self._state = "stopping"
        try:
            # Holding the lock waits out a tick, run_now or add_job in progress; after it no new run can start
            # (state is 'stopping'). Cancelling the loop only while we hold it means the loop is asleep or
            # queued for the lock, never mid-tick: a tick cut off between storing a job's next run and
            # recording its run would lose that run without a trace, and a database call cancelled halfway
            # is best avoided anyway.
            async with self._lock:
                if self._loop_task is not None:
                    self._loop_task.cancel()
            if self._loop_task is not None:
                await asyncio.gather(self._loop_task, return_exceptions=True)
            while self._tasks:
                tasks = list(self._tasks.values())
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                # The done callbacks have already dropped these; make sure this loop ends regardless.
                self._tasks = {k: t for k, t in self._tasks.items() if t not in tasks}
            # Close runs whose task never recorded an outcome: cancelled before its first step (the body
            # never ran) or while writing its outcome.
            for run_id, job_id in list(self._open_runs.items()):
                self._open_runs.pop(run_id, None)
                with contextlib.suppress(Exception):
                    await self._store.jobs.finish_run(run_id, "interrupted", "server stopped during the run")
                logger.info("job %s run %d interrupted by shutdown", job_id, run_id)
        finally:
            self._state = "stopped"
            self._stopped.set()
        logger.info("scheduler stopped")

    def _loop_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("scheduler loop died", exc_info=task.exception())

    def status(self) -> dict[str, Any]:
        """Return the loop state and the jobs running now, for readiness checks."""
        return {
            "state": self._state,
            "loop_alive": self._loop_task is not None and not self._loop_task.done(),
            "running_jobs": sorted(self._busy),
            "last_tick_at": self._last_tick_at,
            "actions": sorted(self._handlers),
        }

    async def run_now(self, job_id: str) -> int:
        """Start a run of the job now and return its run id; the schedule stays (a 'once' job is used up)."""
        async with self._lock:
            if self._state != "running":
                raise RuntimeError("scheduler is not running")
            job = await self._store.jobs.get(job_id)
            if job is None:
                raise NotFound(f"job {job_id}")
            if job_id in self._busy:
                raise JobBusy(f"job {job_id!r} is already running")
            now = self._clock()
            # A 'once' job has had its one run, whichever way it was triggered.
            nxt = None if job.kind == "once" else job.next_run_at
            await self._store.jobs.set_next_run(job_id, nxt, last_run_at=now)
            logger.info("job %s: run requested now", job_id)
            return await self._start_run(job, now, 0.0)

    # ----------------------------------------------------------------------------------- the loop

    async def _loop(self) -> None:
        while True:
            # Cleared before the tick reads the jobs: a change written during the tick sets it again and
            # the wait below returns at once, so no change is ever slept through.
            self._wake.clear()
            try:
                async with self._lock:
                    earliest = await self._tick(startup=False)
            except Exception:
                logger.exception("scheduler tick failed; retrying in %g s", ERROR_RETRY_S)
                earliest = self._clock() + ERROR_RETRY_S
            delay_s = min(max(earliest - self._clock(), MIN_SLEEP_S), MAX_SLEEP_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._wake.wait()

    async def _tick(self, *, startup: bool) -> float:
        """Handle every due job and return the earliest next run (clock time; inf when none)."""
        now = self._clock()
        self._last_tick_at = now
        earliest = math.inf
        if self.node_id is not None and now - self._claims_purged_at >= CLAIM_PURGE_EVERY_S:
            self._claims_purged_at = now
            await self._claims.purge(now - CLAIM_KEEP_S)
        for job in await self._store.jobs.all():
            if not job.enabled:
                continue
            try:
                nxt = await self._service(job, now, startup=startup)
            except Exception:
                # One bad job (or a briefly locked database) must not stop the others.
                logger.exception("job %s: scheduling failed; retrying in %g s", job.id, ERROR_RETRY_S)
                nxt = now + ERROR_RETRY_S
            if nxt is not None:
                earliest = min(earliest, nxt)
        return earliest

    async def _service(self, job: Job, now: float, *, startup: bool) -> float | None:
        """Run, skip or miss one job if it is due; return its next run time."""
        if self.node_id is not None and job.action in self._per_node:
            return await self._service_here(job, now)
        due = job.next_run_at
        try:
            if due is None:
                if job.kind == "once":
                    return None
                # A repeating job without a next run (written straight through the repo): schedule it.
                due = next_run(job.kind, job.spec, job.timezone, now)
                await self._store.jobs.set_next_run(job.id, due)
                return due
            if job.kind == "interval" and due - now > _interval_s(job.spec) + LOOP_JITTER_S:
                # The wall clock went backwards: without this the job would wait out the jump as well.
                due = now + _interval_s(job.spec)
                logger.warning("job %s: clock moved backwards; next run rescheduled to %s", job.id, _fmt(due))
                await self._store.jobs.set_next_run(job.id, due)
                return due
            if due > now:
                return due
            following = _following(job, due, now)
        except ValueError as exc:
            # Only reachable for rows written around add_job's validation; say so once, then leave it be.
            if job.id not in self._warned:
                self._warned.add(job.id)
                logger.error("job %s has an invalid timing and will not run: %s", job.id, exc)
            if due is not None:
                await self._store.jobs.set_next_run(job.id, None)
            return None

        if self.node_id is not None and not await self._claims.claim(job.id, due, self.node_id):
            # Another node of the cluster won this run; it also stores the following slot.
            logger.debug("job %s: the run due at %s is another node's", job.id, _fmt(due))
            return following
        late_s = now - due
        grace_s = job.grace_s if startup else max(job.grace_s, LOOP_JITTER_S)
        if late_s > grace_s:
            await self._store.jobs.set_next_run(job.id, following)
            await self._store.jobs.record_missed(job.id, due, late_s, self.node_id)
            logger.warning("job %s: run due at %s missed (%.0f s late, grace %.0f s); next run %s",
                           job.id, _fmt(due), late_s, job.grace_s, _fmt(following))
        elif job.id in self._busy:
            await self._store.jobs.set_next_run(job.id, following)
            logger.warning("job %s: previous run still running; skipping the run due at %s; next run %s",
                           job.id, _fmt(due), _fmt(following))
        else:
            # Store the following slot first: if we crash mid-run, the restarted server does not repeat it.
            await self._store.jobs.set_next_run(job.id, following, last_run_at=now)
            await self._start_run(job, due, late_s)
        return following

    async def _service_here(self, job: Job, now: float) -> float | None:
        """Run a per-node job on this node's own timing (a cluster): no claim, the shared next run untouched."""
        if job.id not in self._local_due:
            # From now on: a slot this node was down for is not caught up (its own start-up does that work).
            self._local_due[job.id] = next_run(job.kind, job.spec, job.timezone, now)
        due = self._local_due[job.id]
        if due is None or due > now:
            return due
        following = _following(job, due, now)
        self._local_due[job.id] = following
        if job.id in self._busy:
            logger.warning("job %s: previous run still running on this node; skipping the run due at %s",
                           job.id, _fmt(due))
        else:
            await self._start_run(job, due, now - due)
        return following

    # ----------------------------------------------------------------------------------------- runs

    async def _start_run(self, job: Job, scheduled_for: float, late_s: float) -> int:
        """Record a run and launch its handler in a task of its own; return the run id."""
        self._busy.add(job.id)
        launched = False
        try:
            run_id = await self._store.jobs.start_run(job.id, scheduled_for, late_s, self.node_id)
            handler = self._handlers.get(job.action)
            if handler is None:
                # A subsystem that is switched off, or renamed its action: record it, keep scheduling.
                error = f"no handler registered for action {job.action!r}"
                logger.error("job %s run %d: %s", job.id, run_id, error)
                await self._store.jobs.finish_run(run_id, "error", error)
                return run_id
            ctx = JobContext(job.id, job.action, dict(job.args), scheduled_for, late_s)
            self._open_runs[run_id] = job.id
            task = asyncio.create_task(self._execute(run_id, ctx, handler), name=f"job:{job.id}:{run_id}")
            self._tasks[job.id] = task
            # A done callback (not a finally in _execute) because it also fires for a task cancelled
            # before its first step, whose coroutine body never runs.
            task.add_done_callback(functools.partial(self._release, job.id))
            launched = True
            if late_s >= 1.0:
                logger.info("job %s run %d started (%s, %.1f s late)", job.id, run_id, job.action, late_s)
            else:
                logger.info("job %s run %d started (%s)", job.id, run_id, job.action)
            return run_id
        finally:
            if not launched:
                self._busy.discard(job.id)

    def _release(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._busy.discard(job_id)
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
        if not task.cancelled() and task.exception() is not None:
            logger.error("job %s: run task failed", job_id, exc_info=task.exception())

    async def _execute(self, run_id: int, ctx: JobContext, handler: Handler) -> None:
        """Await the handler under the concurrency limit and the timeout, then record the outcome."""
        started = time.monotonic()
        outcome, error = "ok", None
        try:
            async with self._slots:
                deadline = asyncio.timeout(self._run_timeout_s)
                try:
                    async with deadline:
                        await handler(ctx)
                except TimeoutError:
                    if not deadline.expired():
                        raise  # the handler's own TimeoutError is an ordinary error
                    outcome, error = "timeout", f"run exceeded the {self._run_timeout_s:g} s limit"
        except asyncio.CancelledError:
            await self._finish(run_id, ctx, "interrupted", "server stopped during the run", started)
            raise
        except Exception as exc:
            logger.error("job %s run %d (%s) failed", ctx.job_id, run_id, ctx.action, exc_info=True)
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
        await self._finish(run_id, ctx, outcome, error, started)

    async def _finish(self, run_id: int, ctx: JobContext, outcome: str, error: str | None,
                      started: float) -> None:
        try:
            await self._store.jobs.finish_run(run_id, outcome, error)
        except Exception:
            # Left 'running' in the index; the next start marks it interrupted.
            logger.exception("job %s run %d: could not record outcome %r", ctx.job_id, run_id, outcome)
        # Forgotten only once written: if stop() cancels us mid-write, its sweep still closes the run.
        self._open_runs.pop(run_id, None)
        level = logging.INFO if outcome == "ok" else logging.WARNING
        logger.log(level, "job %s run %d finished: %s after %.1f s%s", ctx.job_id, run_id, outcome,
                   time.monotonic() - started, f" ({error})" if error else "")
