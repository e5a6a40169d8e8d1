"""Tests of the shared scheduler against a real index, SQLite and PostgreSQL (no storage mocks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mediaserver.config import ScheduleConfig
from mediaserver.scheduler import JobBusy, JobContext, Scheduler, next_run
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import JobRun

HCM = "Asia/Ho_Chi_Minh"
WAIT_S = 5.0  # deadline for anything the scheduler should do "soon"; tests finish far sooner


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


class FakeClock:
    """A wall clock the test sets by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def noop(ctx: JobContext) -> None:
    return None


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[Store]:
    db = Database(db_target)
    await db.open()
    try:
        yield Store(db)
    finally:
        await db.close()


MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
async def make_scheduler(store: Store) -> AsyncIterator[MakeScheduler]:
    """Build schedulers on the test store; every one is stopped before the database closes."""
    made: list[Scheduler] = []

    def make(**kwargs: Any) -> Scheduler:
        s = Scheduler(store, HCM, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        await s.stop()


async def wait_runs(store: Store, job_id: str, done: Callable[[list[JobRun]], bool]) -> list[JobRun]:
    """Poll a job's runs until ``done`` holds, failing after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        runs = await store.jobs.runs(job_id)
        if done(runs):
            return runs
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on runs of {job_id}: {runs}")
        await asyncio.sleep(0.02)


def finished(n: int, outcome: str | None = None) -> Callable[[list[JobRun]], bool]:
    return lambda runs: sum(r.outcome != "running" and (outcome is None or r.outcome == outcome)
                            for r in runs) >= n


# ------------------------------------------------------------------------------------- next_run


def test_next_run_once_with_offset_naive_and_past() -> None:
    after = utc(2025, 1, 1)
    assert next_run("once", "2025-03-01T02:00:00+07:00", "UTC", after) == utc(2025, 2, 28, 19)
    # Naive: wall-clock time in the job's zone.
    assert next_run("once", "2025-03-01T02:00:00", HCM, after) == utc(2025, 2, 28, 19)
    assert next_run("once", "2024-03-01T02:00:00+07:00", HCM, after) is None


def test_next_run_interval() -> None:
    assert next_run("interval", "60", HCM, 1000.0) == 1060.0
    assert next_run("interval", "0.5", HCM, 1000.0) == 1000.5


def test_next_run_cron_in_ho_chi_minh_is_previous_utc_evening() -> None:
    # 02:00 in UTC+7 is 19:00 UTC the day before.
    assert next_run("cron", "0 2 * * *", HCM, utc(2025, 1, 1, 12)) == utc(2025, 1, 1, 19)
    assert next_run("cron", "0 2 * * *", HCM, utc(2025, 1, 1, 19)) == utc(2025, 1, 2, 19)  # strictly after
    assert next_run("cron", "0 2 * * *", "UTC", utc(2025, 1, 1, 12)) == utc(2025, 1, 2, 2)


@pytest.mark.parametrize(
    ("kind", "spec", "tz", "message"),
    [
        ("once", "tomorrow", HCM, "ISO-8601"),
        ("interval", "often", HCM, "number of seconds"),
        ("interval", "0", HCM, "positive"),
        ("interval", "inf", HCM, "positive"),
        ("cron", "0 2 * *", HCM, "five-field"),
        ("cron", "0 2 * * * *", HCM, "five-field"),
        ("cron", "99 2 * * *", HCM, "five-field"),
        ("cron", "0 2 * * *", "Mars/Olympus", "unknown time zone"),
        ("weekly", "x", HCM, "unknown job kind"),
    ],
)
def test_next_run_rejects_bad_specs(kind: str, spec: str, tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_run(kind, spec, tz, 0.0)


# ------------------------------------------------------------------------------------ add / sync


async def test_add_job_validates(make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    s.register("retention.sweep", noop)
    with pytest.raises(ValueError, match=r"unknown action 'room\.start'"):
        await s.add_job("j1", "room.start", "interval", "60")
    with pytest.raises(ValueError, match="five-field cron"):
        await s.add_job("j1", "retention.sweep", "cron", "every night")
    with pytest.raises(ValueError, match="unknown time zone"):
        await s.add_job("j1", "retention.sweep", "cron", "0 2 * * *", timezone="Nowhere/City")
    with pytest.raises(ValueError, match="job id"):
        await s.add_job("Bad Id", "retention.sweep", "interval", "60")
    with pytest.raises(ValueError, match="already has a handler"):
        s.register("retention.sweep", noop)


async def test_add_and_remove_job(store: Store, make_scheduler: MakeScheduler) -> None:
    clock = FakeClock(utc(2025, 1, 1, 12))
    s = make_scheduler(clock=clock)
    s.register("retention.sweep", noop)
    job = await s.add_job("nightly", "retention.sweep", "cron", "0 2 * * *", args={"dry_run": True})
    assert (job.timezone, job.next_run_at, job.source) == (HCM, utc(2025, 1, 1, 19), "api")
    assert job.args == {"dry_run": True}
    await s.remove_job("nightly")
    assert await store.jobs.get("nightly") is None


async def test_sync_config_upserts_and_disables_removed(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler(clock=FakeClock(utc(2025, 1, 1, 12)))
    s.register("retention.sweep", noop)
    s.register("room.start", noop)
    await s.sync_config({
        "sweep": ScheduleConfig(action="retention.sweep", kind="interval", every_s=300),
        "meeting": ScheduleConfig(action="room.start", kind="once", at=datetime(2025, 1, 2, 8, 30),
                                  args={"room": "r1"}),
    })
    sweep, meeting = await store.jobs.get("sweep"), await store.jobs.get("meeting")
    assert sweep is not None and meeting is not None
    assert (sweep.spec, sweep.source, sweep.next_run_at) == ("300", "config", utc(2025, 1, 1, 12, 5))
    assert meeting.next_run_at == utc(2025, 1, 2, 1, 30)  # naive 08:30 in UTC+7
    await s.sync_config({"sweep": ScheduleConfig(action="retention.sweep", kind="interval", every_s=300)})
    meeting = await store.jobs.get("meeting")
    assert meeting is not None and not meeting.enabled
    with pytest.raises(ValueError, match=r"schedules\.bad: .*unknown action 'camera\.record_window'"):
        bad = ScheduleConfig(action="camera.record_window", kind="cron", cron="0 * * * *")
        await s.sync_config({"bad": bad})


# ----------------------------------------------------------------------------------------- runs


async def test_interval_job_runs_repeatedly(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    seen: list[JobContext] = []
    three = asyncio.Event()

    async def tick(ctx: JobContext) -> None:
        seen.append(ctx)
        if len(seen) >= 3:
            three.set()

    s.register("test.tick", tick)
    await s.start()
    await s.add_job("ticker", "test.tick", "interval", "0.2", args={"n": 1})
    await asyncio.wait_for(three.wait(), WAIT_S)
    assert seen[0].job_id == "ticker" and seen[0].action == "test.tick" and seen[0].args == {"n": 1}
    if seen[1].late_s < 0.2:  # (a machine stalled for a whole period would rightly skip ahead instead)
        # Anchored on the slot, not on when the run started: no drift.
        assert seen[1].scheduled_for - seen[0].scheduled_for == pytest.approx(0.2, abs=1e-3)
    runs = await wait_runs(store, "ticker", finished(3, "ok"))
    assert all(r.error is None for r in runs if r.outcome == "ok")


async def test_failing_job_records_error_and_others_keep_running(
    store: Store, make_scheduler: MakeScheduler
) -> None:
    s = make_scheduler()
    good = asyncio.Event()

    async def fail(ctx: JobContext) -> None:
        raise RuntimeError("disk on fire")

    async def work(ctx: JobContext) -> None:
        good.set()

    s.register("test.fail", fail)
    s.register("test.work", work)
    await s.start()
    await s.add_job("bad", "test.fail", "interval", "0.1")
    await wait_runs(store, "bad", finished(2, "error"))
    await s.add_job("good", "test.work", "interval", "0.1")
    await asyncio.wait_for(good.wait(), WAIT_S)
    runs = await wait_runs(store, "bad", finished(3, "error"))
    assert runs[-1].error == "RuntimeError: disk on fire"
    assert s.status()["loop_alive"]


async def test_timeout_records_timeout(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler(run_timeout_s=0.2)

    async def hang(ctx: JobContext) -> None:
        await asyncio.sleep(30)

    s.register("test.hang", hang)
    await s.start()
    await s.add_job("slow", "test.hang", "interval", "0.1")
    runs = await wait_runs(store, "slow", finished(1))
    first = [r for r in runs if r.outcome != "running"][-1]
    assert first.outcome == "timeout" and first.error is not None and "0.2 s" in first.error


async def test_busy_job_is_not_started_again(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    release = asyncio.Event()
    calls = 0

    async def block(ctx: JobContext) -> None:
        nonlocal calls
        calls += 1
        await release.wait()

    s.register("test.block", block)
    await s.start()
    await s.add_job("blocker", "test.block", "interval", "0.05")
    await wait_runs(store, "blocker", lambda runs: len(runs) == 1)
    await asyncio.sleep(0.3)  # several ticks come due while the first run is still going
    assert calls == 1 and s.status()["running_jobs"] == ["blocker"]
    with pytest.raises(JobBusy):
        await s.run_now("blocker")
    release.set()
    await wait_runs(store, "blocker", finished(2, "ok"))


async def test_unregistered_action_at_run_time_records_error(
    store: Store, make_scheduler: MakeScheduler
) -> None:
    a = make_scheduler()
    a.register("camera.record_window", noop)
    await a.add_job("rec", "camera.record_window", "interval", "0.1")
    await a.stop()
    b = make_scheduler()  # this process has no camera subsystem
    await b.start()
    runs = await wait_runs(store, "rec", finished(2, "error"))
    assert runs[0].error == "no handler registered for action 'camera.record_window'"
    assert b.status()["loop_alive"]


async def test_once_job_runs_once_then_has_no_next_run(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    s.register("room.start", noop)
    await s.start()
    at = datetime.fromtimestamp(time.time() + 0.2, UTC).isoformat()
    await s.add_job("meeting", "room.start", "once", at)
    await wait_runs(store, "meeting", finished(1, "ok"))
    job = await store.jobs.get("meeting")
    assert job is not None and job.next_run_at is None and job.last_run_at is not None


async def test_run_now_and_status(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    ran = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        ran.set()

    s.register("retention.sweep", work)
    assert s.status()["state"] == "new"
    with pytest.raises(RuntimeError, match="not running"):
        await s.run_now("sweep")
    await s.start()
    job = await s.add_job("sweep", "retention.sweep", "interval", "3600")
    run_id = await s.run_now("sweep")
    await asyncio.wait_for(ran.wait(), WAIT_S)
    runs = await wait_runs(store, "sweep", finished(1, "ok"))
    assert runs[0].id == run_id and runs[0].late_s == 0.0
    after = await store.jobs.get("sweep")
    assert after is not None and after.next_run_at == job.next_run_at  # the schedule is unchanged
    status = s.status()
    assert status["state"] == "running" and status["loop_alive"] and status["actions"] == ["retention.sweep"]


# ---------------------------------------------------------------------------- restart and catch-up


async def test_jobs_survive_restart(db_target: Path | str) -> None:
    path = db_target
    clock = FakeClock(utc(2025, 1, 1, 12))
    db = Database(path)
    await db.open()
    try:
        a = Scheduler(Store(db), HCM, clock=clock)
        a.register("retention.sweep", noop)
        await a.start()
        await a.add_job("nightly", "retention.sweep", "cron", "0 2 * * *")
        await a.add_job("sweep", "retention.sweep", "interval", "600", grace_s=30)
        await a.stop()
        await a.stop()  # idempotent
    finally:
        await db.close()

    clock.now += 100  # later, but before either job is due
    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        b = Scheduler(store, HCM, clock=clock)
        b.register("retention.sweep", noop)
        await b.start()
        nightly, sweep = await store.jobs.get("nightly"), await store.jobs.get("sweep")
        assert nightly is not None and nightly.next_run_at == utc(2025, 1, 1, 19)
        assert sweep is not None and sweep.next_run_at == utc(2025, 1, 1, 12, 10) and sweep.grace_s == 30
        # Re-adding the same timing (as sync_config does at every start) keeps the stored next run.
        again = await b.add_job("sweep", "retention.sweep", "interval", "600", grace_s=30)
        assert again.next_run_at == utc(2025, 1, 1, 12, 10)
        await b.stop()
        assert await store.jobs.runs() == []
    finally:
        await db.close()


async def test_catch_up_runs_late_job_once_and_misses_long_overdue(
    store: Store, make_scheduler: MakeScheduler
) -> None:
    now = utc(2025, 1, 1, 12)
    clock = FakeClock(now)
    s = make_scheduler(clock=clock)
    calls: list[JobContext] = []

    async def work(ctx: JobContext) -> None:
        calls.append(ctx)

    s.register("retention.sweep", work)
    await s.add_job("late", "retention.sweep", "interval", "3600", grace_s=300)
    await s.add_job("overdue", "retention.sweep", "cron", "*/5 * * * *", grace_s=300)
    # As if the server was down: the stored next runs passed 60 s and 1000 s ago.
    await store.jobs.set_next_run("late", now - 60)
    await store.jobs.set_next_run("overdue", now - 1000)

    await s.start()
    late_runs = await wait_runs(store, "late", finished(1))
    assert [(r.outcome, r.late_s, r.scheduled_for) for r in late_runs] == [("ok", 60.0, now - 60)]
    assert [(c.job_id, c.late_s) for c in calls] == [("late", 60.0)]
    overdue_runs = await store.jobs.runs("overdue")
    assert [(r.outcome, r.late_s) for r in overdue_runs] == [("missed", 1000.0)]

    late, overdue = await store.jobs.get("late"), await store.jobs.get("overdue")
    assert late is not None and overdue is not None
    assert late.next_run_at == now - 60 + 3600  # anchored on its slot, which is still ahead
    assert overdue.next_run_at == utc(2025, 1, 1, 12, 5)  # the next slot after now; no burst of catch-ups
    assert len(calls) == 1 and len(await store.jobs.runs("overdue")) == 1


async def test_running_runs_become_interrupted_on_start(db_target: Path | str) -> None:
    path = db_target
    db = Database(path)
    await db.open()
    try:
        a = Scheduler(Store(db), HCM)
        a.register("retention.sweep", noop)
        await a.add_job("sweep", "retention.sweep", "interval", "3600")
        run_id = await Store(db).jobs.start_run("sweep", time.time(), 0.0)  # then "killed": never finished
    finally:
        await db.close()

    db = Database(path)
    await db.open()
    try:
        store = Store(db)
        b = Scheduler(store, HCM)
        await b.start()
        await b.stop()
        (run,) = await store.jobs.runs("sweep")
        assert (run.id, run.outcome, run.error) == (run_id, "interrupted", "server stopped during the run")
        assert run.ended_at is not None
    finally:
        await db.close()


async def test_stop_interrupts_running_jobs(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang(ctx: JobContext) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    s.register("test.hang", hang)
    await s.start()
    await s.add_job("hang", "test.hang", "interval", "3600")
    await s.run_now("hang")
    await asyncio.wait_for(started.wait(), WAIT_S)
    await s.stop()
    assert cancelled.is_set()
    (run,) = await store.jobs.runs("hang")
    assert run.outcome == "interrupted"
    status = s.status()
    assert (status["state"], status["loop_alive"], status["running_jobs"]) == ("stopped", False, [])
    await s.stop()


async def test_handlers_can_offload_blocking_work(store: Store, make_scheduler: MakeScheduler) -> None:
    s = make_scheduler()
    out: list[int] = []

    async def crunch(ctx: JobContext) -> None:
        out.append(await asyncio.to_thread(sum, range(1000)))

    s.register("test.crunch", crunch)
    await s.start()
    await s.add_job("crunch", "test.crunch", "interval", "3600")
    await s.run_now("crunch")
    await wait_runs(store, "crunch", finished(1, "ok"))
    assert out == [499500]

