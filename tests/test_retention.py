"""Retention: the pure day/disk rules, the scheduled sweep, and the disk floor on a real small filesystem.

Footage is real: fMP4 segment files written with PyAV (tests/media_fixtures.py) and indexed in a real
SQLite index. The disk-floor test mounts a 40 MB tmpfs as the data dir when the test may mount (root in
CI); otherwise it falls back to ``retention.disk_quota_gb`` on a plain directory and says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import pytest
from prometheus_client import CollectorRegistry

from mediaserver.app_keys import RETENTION_KEY, SCHEDULER_KEY, STORE_KEY
from mediaserver.config import Config, RecordSettings
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import Segment
from recordings.reconcile import reconcile
from recordings.retention import (
    DAY_S,
    GB_BYTES,
    HEADROOM_MAX_BYTES,
    HEADROOM_MIN_BYTES,
    MOTION_SETTLE_S,
    SWEEP_ACTION,
    SWEEP_JOB,
    DiskLimits,
    RetentionSweeper,
    bytes_to_free,
    default_headroom,
    disk_pressure,
    events_cutoff,
    keep_segment,
    retention_rules,
    segment_cutoff,
)
from tests.conftest import ApiFactory, FakeClock
from tests.media_fixtures import SegmenterFeed, SegmentFixture

NOW = 1_780_000_000.0
REC = RecordSettings(mode="motion", pre_padding_s=5, post_padding_s=10, retain_days=7, motion_retain_days=30,
                     events_retain_days=90)
MB = 1_000_000


def seg(mode: str, has_motion: bool, age_s: float, length_s: float = 10.0) -> Segment:
    """A segment that ended ``age_s`` before NOW."""
    return Segment(1, "gate-1", "main", None, None, "x.mp4", NOW - age_s - length_s, NOW - age_s, 1000, 1, 0.0,
                   mode=mode, has_motion=has_motion)


# ----------------------------------------------------------------------------------------- pure rules


def test_continuous_footage_is_kept_retain_days() -> None:
    assert keep_segment(seg("continuous", False, 7 * DAY_S - 60), REC, NOW)
    assert not keep_segment(seg("continuous", False, 7 * DAY_S + 60), REC, NOW)


def test_footage_with_motion_is_kept_motion_retain_days_in_either_mode() -> None:
    for mode in ("continuous", "motion"):
        assert keep_segment(seg(mode, True, 29 * DAY_S), REC, NOW), mode
        assert not keep_segment(seg(mode, True, 31 * DAY_S), REC, NOW), mode


def test_continuous_motion_footage_keeps_the_longer_rule() -> None:
    rec = REC.model_copy(update={"retain_days": 40.0})  # motion shorter than continuous: never cut earlier
    assert keep_segment(seg("continuous", True, 35 * DAY_S), rec, NOW)
    assert not keep_segment(seg("motion", True, 35 * DAY_S), rec, NOW)


def test_motion_mode_without_motion_goes_once_the_padding_window_has_passed() -> None:
    window = REC.pre_padding_s + MOTION_SETTLE_S
    assert keep_segment(seg("motion", False, window - 1), REC, NOW)  # a late event may still claim it
    assert not keep_segment(seg("motion", False, window + 1), REC, NOW)
    assert keep_segment(seg("continuous", False, window + 1), REC, NOW)  # continuous: days, not padding


def test_conference_recordings_have_no_day_rule() -> None:
    assert segment_cutoff("conference", False, REC, NOW) is None
    assert keep_segment(seg("conference", False, 10_000 * DAY_S), REC, NOW)


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'sometimes'"):
        segment_cutoff("sometimes", False, REC, NOW)


def test_rules_and_keep_segment_agree() -> None:
    rules = {(m, h): before for m, h, before in retention_rules(REC, NOW)}
    assert len(rules) == 4
    for (mode, has_motion), before in rules.items():
        for age in (0.0, 30.0, 70.0, 6 * DAY_S, 8 * DAY_S, 29 * DAY_S, 31 * DAY_S):
            s = seg(mode, has_motion, age)
            assert keep_segment(s, REC, NOW) == (s.end_at >= before), (mode, has_motion, age)


def test_events_are_kept_events_retain_days() -> None:
    assert events_cutoff(REC, NOW) == NOW - 90 * DAY_S


def test_no_pressure_frees_nothing() -> None:
    limits = DiskLimits(min_free=10 * MB, quota=100 * MB, headroom=1 * MB)
    assert not disk_pressure(50 * MB, 20 * MB, limits)
    assert bytes_to_free(50 * MB, 20 * MB, limits) == 0
    assert bytes_to_free(98 * MB, 11 * MB + 1, limits) == 0  # just outside both headrooms


def test_near_the_floor_frees_to_twice_the_headroom() -> None:
    limits = DiskLimits(min_free=10 * MB, quota=None, headroom=1 * MB)
    assert disk_pressure(0, 10 * MB + MB // 2, limits)
    assert bytes_to_free(0, 10 * MB + MB // 2, limits) == 1_500_000  # up to 12 MB free
    assert bytes_to_free(0, 4 * MB, limits) == 8 * MB  # below the floor: everything back


def test_near_the_quota_frees_to_twice_the_headroom() -> None:
    limits = DiskLimits(min_free=0, quota=100 * MB, headroom=1 * MB)
    assert bytes_to_free(99_500_000, 500 * MB, limits) == 1_500_000
    assert bytes_to_free(130 * MB, 500 * MB, limits) == 32 * MB


def test_the_larger_need_wins_and_freeing_continues_to_the_target() -> None:
    limits = DiskLimits(min_free=10 * MB, quota=100 * MB, headroom=1 * MB)
    assert bytes_to_free(105 * MB, 9 * MB, limits) == 7 * MB  # quota wants 7 MB, floor 3 MB
    # Half-way through a clean-up the trigger no longer fires, but the target is not reached yet.
    assert bytes_to_free(97_500_000, 30 * MB, limits) == 0
    assert bytes_to_free(97_500_000, 30 * MB, limits, freeing=True) == 0
    assert bytes_to_free(98_500_000, 30 * MB, limits, freeing=True) == 500_000


def test_default_headroom_bounds() -> None:
    assert default_headroom(10 * MB, None) == HEADROOM_MIN_BYTES
    assert default_headroom(4 * 10**12, None) == HEADROOM_MAX_BYTES
    assert default_headroom(50 * 10**9, None) == 500 * MB
    assert default_headroom(50 * 10**9, 1 * 10**9) == 100 * MB  # a tenth of a small quota


# ------------------------------------------------------------------------------------- sweep by rules


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[Store]:
    db = Database(db_target)
    await db.open()
    s = Store(db)
    await s.cameras.upsert("gate-1", "Cổng", "config")
    await s.cameras.upsert("yard", "Sân", "config")
    yield s
    await db.close()


async def present(store: Store, data_dir: Path, segments: list[Segment]) -> list[bool]:
    """Return, per segment, whether both its row and its file are still there (and never only one)."""
    out = []
    for s in segments:
        row = await store.segments.get(s.id) is not None
        assert row == (data_dir / s.path).exists(), f"{s.path}: row {row} but file {not row}"
        out.append(row)
    return out


async def test_sweep_applies_the_day_rules_through_the_scheduler(make_api: ApiFactory, config: Config,
                                                                 clock: FakeClock) -> None:
    clock.now = NOW
    config.recording = REC
    api = await make_api(config)
    store, data_dir = api.app[STORE_KEY], config.storage.data_dir
    job = await store.jobs.get(SWEEP_JOB)
    assert job is not None and (job.action, job.kind, job.source) == (SWEEP_ACTION, "interval", "system")
    assert float(job.spec) == config.retention.sweep_interval_s
    await store.cameras.upsert("gate-1", "Cổng", "config")

    async def footage(age_s: float, mode: str, has_motion: bool, n: int = 2) -> list[Segment]:
        fx = SegmentFixture(store, data_dir, "gate-1", start_at=NOW - age_s, mode=mode)
        try:
            return await fx.write(n, has_motion=has_motion)
        finally:
            fx.close()

    cont_old = await footage(8 * DAY_S, "continuous", False)
    cont_new = await footage(6 * DAY_S, "continuous", False)
    cont_motion = await footage(20 * DAY_S, "continuous", True)
    motion_old = await footage(31 * DAY_S, "motion", True)
    quiet_done = await footage(3600, "motion", False)  # padding window long past
    quiet_recent = await footage(30, "motion", False)  # a late event may still claim it
    held = await footage(40 * DAY_S, "continuous", False)
    await store.holds.add("gate-1", held[0].start_at, held[-1].end_at, "vụ việc 12", "security-user")
    # Events: one past events_retain_days (with its thumbnail file), one within, one old but under the hold.
    thumbs = data_dir / "thumbnails" / "gate-1"
    thumbs.mkdir(parents=True)
    for name in ("old.jpg", "new.jpg", "held.jpg"):
        (thumbs / name).write_bytes(b"\xff\xd8jpeg")
    old_ev = await store.events.add("gate-1", NOW - 91 * DAY_S, NOW - 91 * DAY_S + 5, 0.5, ["gate"],
                                    "thumbnails/gate-1/old.jpg")
    new_ev = await store.events.add("gate-1", NOW - 89 * DAY_S, NOW - 89 * DAY_S + 5, 0.5, [],
                                    "thumbnails/gate-1/new.jpg")
    held_ev = await store.events.add("gate-1", NOW - 95 * DAY_S, NOW - 95 * DAY_S + 5, 0.5, [],
                                     "thumbnails/gate-1/held.jpg")
    await store.holds.add("gate-1", NOW - 95 * DAY_S - 10, NOW - 95 * DAY_S + 10, "held event", "security-user")

    run_id = await api.app[SCHEDULER_KEY].run_now(SWEEP_JOB)
    for _ in range(200):
        runs = [r for r in await store.jobs.runs(SWEEP_JOB) if r.id == run_id]
        if runs and runs[0].outcome != "running":
            break
        await asyncio.sleep(0.05)
    assert runs[0].outcome == "ok", runs[0].error

    assert await present(store, data_dir, cont_old) == [False, False]
    assert await present(store, data_dir, cont_new) == [True, True]
    assert await present(store, data_dir, cont_motion) == [True, True]
    assert await present(store, data_dir, motion_old) == [False, False]
    assert await present(store, data_dir, quiet_done) == [False, False]
    assert await present(store, data_dir, quiet_recent) == [True, True]
    assert await present(store, data_dir, held) == [True, True]
    assert await store.events.get(old_ev) is None and not (thumbs / "old.jpg").exists()
    assert await store.events.get(new_ev) is not None and (thumbs / "new.jpg").exists()
    assert await store.events.get(held_ev) is not None and (thumbs / "held.jpg").exists()
    audit = await store.audit.all(action_prefix="retention.sweep")
    assert audit and audit[0].detail["segments"] == 6 and audit[0].detail["events"] == 1
    assert api.app[RETENTION_KEY].settings("gate-1") == REC  # unknown to the config: global defaults


# --------------------------------------------------------------------------------- a cluster: each its own disk


async def test_a_nodes_sweep_deletes_only_the_events_whose_files_are_on_its_disk(store: Store,
                                                                                  tmp_path: Path) -> None:
    """Events carry the node that analysed them; footage and events from before the cluster are adopted by the
    node whose disk has their files, and the rest of those (no file) may go from any node."""
    data_dir = tmp_path / "node-a"
    thumbs = data_dir / "thumbnails" / "gate-1"
    thumbs.mkdir(parents=True)
    (thumbs / "here.jpg").write_bytes(b"\xff\xd8jpeg")
    old = NOW - 100 * DAY_S
    fx = SegmentFixture(store, data_dir, "gate-1", start_at=old)  # recorded before the cluster: no node
    try:
        segments = await fx.write(2)
    finally:
        fx.close()

    async def event(thumb: str | None, node_id: str | None) -> int:
        return await store.events.add("gate-1", old, old + 5, 0.5, [], thumb, node_id=node_id)

    mine = await event(None, "node-a")
    theirs = await event("thumbnails/gate-1/b.jpg", "node-b")  # the file is on node b's disk
    here = await event("thumbnails/gate-1/here.jpg", None)  # from before the cluster, its file here
    elsewhere = await event("thumbnails/gate-1/gone.jpg", None)  # from before the cluster, its file not here
    bare = await event(None, None)  # from before the cluster, no file at all
    assert {i for i, _ in await store.events.unowned_files(0, 10)} == {here, elsewhere}
    assert await store.events.unowned_files(here, 10) == [(elsewhere, ["thumbnails/gate-1/gone.jpg"])]

    report = await reconcile(store, data_dir, node_id="node-a")
    assert (report.segments_adopted, report.events_adopted) == (2, 1)
    assert await store.segments.paths("node-a") == {s.path for s in segments}
    assert {i for i, _ in await store.events.unowned_files(0, 10)} == {elsewhere}
    again = await reconcile(store, data_dir, node_id="node-a")
    assert (again.segments_adopted, again.events_adopted, again.changed) == (0, 0, False)

    expired = await store.events.expired("gate-1", NOW, 10, node_id="node-a")
    assert sorted(i for i, _ in expired) == sorted([mine, here, bare])
    assert sorted(i for i, _ in await store.events.expired("gate-1", NOW, 10, node_id="node-b")) == [theirs, bare]
    assert len(await store.events.expired("gate-1", NOW, 10)) == 5  # one node, no cluster: all of them


# ------------------------------------------------------------------------------------------ disk floor

DISK_SIZE = "40m"


@pytest.fixture(params=["filesystem", "quota"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 40 MB tmpfs when mounting is permitted (kind 'tmpfs'), else a plain directory with a quota ('quota')."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    kind = "quota"
    if request.param == "filesystem" and os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mnt)],
                              capture_output=True, check=False)
        if done.returncode == 0:
            kind = "tmpfs"
    print(f"disk-floor test runs on: {kind}")
    try:
        yield mnt, kind
    finally:
        if kind == "tmpfs":
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def first_frame_decodes(path: Path) -> bool:
    with av.open(str(path)) as c:
        return next(iter(c.decode(video=0)), None) is not None


@pytest.mark.timeout(180)
@pytest.mark.parametrize("writer", ["segmenter", "fixture"])
async def test_disk_never_fills_oldest_footage_goes_first_held_footage_stays(
        small_disk: tuple[Path, str], writer: str, config: Config, record_property: pytest.RecordProperty) -> None:
    """Record 60 MB into 40 MB: through the real segment writer, and through the plain fixture writer."""
    data_dir, kind = small_disk
    record_property("disk_kind", kind)
    config.storage.data_dir = data_dir
    if kind == "tmpfs":
        config.retention.min_free_gb = 10 * MB / GB_BYTES  # floor: 10 MB of the 40 MB disk
        config.retention.disk_quota_gb = None
    else:
        config.retention.min_free_gb = 0.0
        config.retention.disk_quota_gb = 25 * MB / GB_BYTES
    db = Database(config.storage.sqlite_path())
    await db.open()
    store = Store(db)
    await store.cameras.upsert("gate-1", "Cổng", "config")
    registry = CollectorRegistry()
    sweeper = RetentionSweeper(store, config, registry=registry)
    fx: SegmentFixture | SegmenterFeed = (SegmenterFeed(store, data_dir, "gate-1", start_at=NOW)
                                          if writer == "segmenter" else SegmentFixture(store, data_dir, "gate-1",
                                                                                       start_at=NOW))
    written: list[Segment] = []
    min_free_seen = None
    try:
        written += await fx.write(5)
        held = await fx.write(8)  # an evidence hold over these, placed before the disk fills
        await store.holds.add("gate-1", held[0].start_at + 0.1, held[-1].end_at - 0.1, "vụ việc 7", "security-user")
        written += held
        total_written = sum(s.bytes for s in written)
        while total_written < 60 * MB:  # half as much again as the disk holds
            [s] = await fx.write(1)
            written.append(s)
            total_written += s.bytes
            if kind == "tmpfs":
                free = free_bytes(data_dir)
                min_free_seen = free if min_free_seen is None else min(min_free_seen, free)
                assert free >= 10 * MB, f"free space {free} fell below the floor after {len(written)} segments"
            else:
                assert await store.segments.total_bytes() <= 25 * MB + s.bytes
            report = await sweeper.check_disk()
            assert not report.blocked
            if kind == "tmpfs":
                assert report.free_after >= 10 * MB + HEADROOM_MIN_BYTES
            else:
                assert report.footage_after <= 25 * MB
        alive = await present(store, data_dir, written)
        held_alive = alive[5:13]
        assert all(held_alive), "a held segment was deleted"
        unheld = [(s, a) for i, (s, a) in enumerate(zip(written, alive, strict=True)) if not 5 <= i < 13]
        deleted = [s for s, a in unheld if not a]
        kept = [s for s, a in unheld if a]
        assert deleted and kept
        assert max(s.start_at for s in deleted) < min(s.start_at for s in kept), "not oldest-first"
        assert kept[-1].id == written[-1].id  # recording continued to the end
        assert first_frame_decodes(data_dir / written[-1].path)
        assert first_frame_decodes(data_dir / held[0].path)
        emergencies = registry.get_sample_value("mediaserver_disk_emergencies_total")
        assert emergencies is not None and emergencies >= 1
        deleted_metric = registry.get_sample_value("mediaserver_retention_deleted_segments_total",
                                                   {"reason": "disk"})
        assert deleted_metric == len(deleted)
        audit = await store.audit.all(action_prefix="retention.disk_emergency")
        assert len(audit) == emergencies and audit[0].actor == "system"
        assert sum(a.detail["segments"] for a in audit) == len(deleted)
        low = f"; lowest free space seen {min_free_seen / MB:.1f} MB" if min_free_seen is not None else ""
        print(f"{kind}, {writer}: wrote {total_written / MB:.1f} MB in {len(written)} segments, deleted "
              f"{len(deleted)} in {emergencies:.0f} clean-ups, kept {len(kept)} + {len(held)} held{low}")
    finally:
        if isinstance(fx, SegmenterFeed):
            await fx.aclose()
        else:
            fx.close()
        await db.close()


async def test_quota_with_everything_held_reports_blocked_and_deletes_nothing(store: Store, config: Config,
                                                                               tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config.storage.data_dir = data_dir
    config.retention.min_free_gb = 0.0
    config.retention.disk_quota_gb = 0.5 * MB / GB_BYTES
    fx = SegmentFixture(store, data_dir, "gate-1", start_at=NOW)
    try:
        segs = await fx.write(6)
    finally:
        fx.close()
    await store.holds.add("gate-1", NOW - 1, NOW + 3600, "everything", "admin")
    sweeper = RetentionSweeper(store, config)
    report = await sweeper.check_disk()
    assert report.blocked and report.deleted_segments == 0
    assert all(await present(store, data_dir, segs))
    assert (await store.audit.all(action_prefix="retention.disk_blocked"))


async def test_periodic_disk_check_runs_on_its_own_and_stops(store: Store, config: Config, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config.storage.data_dir = data_dir
    config.retention.min_free_gb = 0.0
    config.retention.disk_quota_gb = 0.4 * MB / GB_BYTES
    sweeper = RetentionSweeper(store, config, disk_check_interval_s=3600)
    await sweeper.start()
    fx = SegmentFixture(store, data_dir, "yard", start_at=NOW)
    try:
        segs = await fx.write(8)
        sweeper.request_disk_check()  # what the recorder calls after each segment: no waiting for the interval
        for _ in range(100):
            if await store.segments.get(segs[0].id) is None:
                break
            await asyncio.sleep(0.05)
        alive = await present(store, data_dir, segs)
        assert not alive[0] and alive[-1]
        assert sum(s.bytes for s, a in zip(segs, alive, strict=True) if a) <= 0.4 * MB
    finally:
        fx.close()
        await sweeper.stop()
        await sweeper.stop()  # idempotent
