"""The segment recorder against real parts: a GStreamer RTSP camera, the real ingest, PyAV, SQLite, the server.

Segments must play (PyAV opens each and decodes its first frame), be contiguous on both clocks while the
stream is healthy, show an outage as an explicit gap, survive SIGKILL with at most the segment being written
lost, and follow the scheduler's mode switches.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
import yaml

from cameras.ingest import CameraIngest
from cameras.manager import ManagedCamera
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import RECORDERS_KEY, SCHEDULER_KEY, STORE_KEY
from mediaserver.config import CameraConfig, RecordSettings, parse_config
from mediaserver.engine import EncodedFrame, Engine
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import Job, Segment
from recordings.paths import final_path, is_part, parse_segment_path, part_path, segment_relpath
from recordings.reconcile import complete_prefix
from recordings.recorder import Recorders, scheduled_modes
from recordings.segmenter import SLEW_MAX, FinishedSegment, SegmentWriter, WriterEvent
from tests.conftest import ApiFactory
from tests.test_server_process import Server

CAMERA = "gate-1"
SEGMENT_S = 2.0
FPS = 10
HEATMAP = bytes(range(256)) * 2 + bytes(64)  # 576 bytes: 32 x 18 cells


def camera_spec() -> dict[str, Any]:
    """A small, cheap camera: 320x180 at 10 fps, a keyframe every second."""
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": 320, "height": 180, "fps": FPS, "gop": FPS, "bitrate_kbps": 300,
                        "scene": {"kind": "scene", "noise": 4, "background": 64,
                                  "objects": [{"start_s": 0, "end_s": 600, "size": 0.2, "color": 220,
                                               "from": [0.1, 0.3], "to": [0.9, 0.7]}]}}]}


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[Store]:
    """The recordings index on each engine (SQLite and PostgreSQL)."""
    db = Database(db_target)
    await db.open()
    st = Store(db)
    await st.cameras.upsert(CAMERA, "Main gate", "config")
    try:
        yield st
    finally:
        await db.close()


@pytest.fixture
async def rtsp() -> AsyncIterator[RtspServerProcess]:
    srv = RtspServerProcess(camera_spec())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def first_frame(path: Path) -> tuple[int, int, float]:
    """Open a segment with PyAV, decode its first frame; return its size and the file's media duration."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = [p for p in c.demux(stream) if p.size]
        assert packets and packets[0].is_keyframe, path
        frames = stream.codec_context.decode(packets[0]) or stream.codec_context.decode(None)
        assert frames, f"{path}: the first frame does not decode"
        time_base = stream.time_base  # read while the file is open: PyAV 18.1.1 refuses a closed container's streams
    first = packets[0].pts
    assert time_base is not None and first is not None
    end = max(p.pts + p.duration for p in packets if p.pts is not None and p.duration is not None)
    return frames[0].width, frames[0].height, float((end - first) * time_base)


def child_pids(pid: int) -> list[int]:
    """Return the ids of a process's children (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def segment_files(data_dir: Path) -> set[str]:
    return {p.relative_to(data_dir).as_posix() for p in (data_dir / "recordings").rglob("*.mp4")}


def assert_contiguous(segs: list[Segment]) -> None:
    for a, b in itertools.pairwise(segs):
        assert b.start_at == a.end_at and not b.gap_before, (a, b)


async def wait_segments(store: Store, n: int, timeout_s: float, camera: str = CAMERA) -> list[Segment]:
    deadline = time.monotonic() + timeout_s
    while True:
        segs = await store.segments.for_camera(camera, 0, time.time() + 3600)
        if len(segs) >= n:
            return segs
        assert time.monotonic() < deadline, f"{len(segs)} segment(s) after {timeout_s} s"
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------------------- pure parts


def test_segment_paths_shard_by_camera_and_utc_hour_and_parse_back() -> None:
    start = 1767323045.678  # 2026-01-02 03:04:05.678 UTC
    rel = segment_relpath("gate-1", "main", start)
    assert rel == "recordings/gate-1/2026-01-02/03/gate-1-main-20260102T030405_678Z.mp4"
    name = parse_segment_path(rel)
    assert (name.camera_id, name.stream) == ("gate-1", "main") and abs(name.start - start) < 0.001
    part = part_path(Path("/d") / rel)
    assert part.name.endswith(".mp4.part") and is_part(part) and not is_part(rel)
    assert final_path(part) == Path("/d") / rel
    assert parse_segment_path(str(rel) + ".part") == name
    # Milliseconds are floored: the name never claims a later start than the segment's.
    assert segment_relpath("c", "sub", 1767323045.9999).endswith("c-sub-20260102T030405_999Z.mp4")


@pytest.mark.parametrize("bad", [
    "recordings/gate-1/2026-01-02/03/gate-2-main-20260102T030405_678Z.mp4",  # another camera's directory
    "recordings/gate-1/2026-01-02/04/gate-1-main-20260102T030405_678Z.mp4",  # wrong hour directory
    "recordings/gate-1/2026-01-02/03/gate-1-main-20261302T030405_678Z.mp4",  # month 13
    "recordings/gate-1/2026-01-02/03/notes.txt",
    "recordings/rooms/r1/2026-01-02/03/x.mp4",
    "exports/gate-1.mp4",
])
def test_parse_segment_path_rejects_what_is_not_a_segment(bad: str) -> None:
    with pytest.raises(ValueError, match=r"recordings|file name|directory|time"):
        parse_segment_path(bad)


def test_segment_paths_refuse_unsafe_names() -> None:
    for camera, stream in (("../etc", "main"), ("Gate", "main"), ("gate", "ma-in"), ("gate", "")):
        with pytest.raises(ValueError, match=r"camera id|stream name"):
            segment_relpath(camera, stream, 0.0)


def test_scheduled_modes_apply_the_most_recent_window() -> None:
    def job(job_id: str, spec: str, mode: str, camera: Any = CAMERA, kind: str = "cron") -> Job:
        return Job(job_id, "recording.set_mode", kind, spec, "Asia/Ho_Chi_Minh", 300, {"camera": camera, "mode": mode},
                   True, "config", None, None)

    jobs = [job("night", "0 18 * * *", "continuous"), job("day", "0 6 * * *", "motion"),
            job("both", "30 12 * * *", "off", camera=["gate-2", "gate-3"]),
            job("bad", "0 7 * * *", "sometimes")]
    at_20h = 1767358800.0  # 2026-01-02 20:00 in Hanoi (13:00 UTC)
    assert scheduled_modes(jobs, at_20h) == {CAMERA: "continuous", "gate-2": "off", "gate-3": "off"}
    assert scheduled_modes(jobs, at_20h + 12 * 3600)[CAMERA] == "motion"  # 08:00 the next day


def encode_access_units(count: int, gop: int) -> list[tuple[bytes, bool]]:
    """Return ``count`` Annex-B H.264 access units of a tiny clip (libx264), SPS/PPS on every keyframe."""
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 48, "yuv420p", Fraction(1, FPS)
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency",
                   "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1"}
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = av.VideoFrame(64, 48, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
        frame.pts = i
        out.extend((bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame))
    out.extend((bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None))
    return out


def test_writer_timeline_across_wrap_outage_clock_step_and_bad_timestamps(tmp_path: Path) -> None:
    units = encode_access_units(80, gop=5)  # 10 fps: a keyframe every 0.5 s
    assert [k for _, k in units[:6]] == [True, False, False, False, False, True]
    events: list[WriterEvent] = []
    writer = SegmentWriter(tmp_path, CAMERA, "main", events.append, segment_s=SEGMENT_S)
    writer.start()
    tick = 90_000 // FPS
    raw0 = (1 << 32) - 15 * tick  # the 32-bit RTP clock wraps 1.5 s in
    wall0 = 1_767_323_045.0

    def put(i: int, slot: int, wall_shift: float = 0.0) -> None:
        data, key = units[i]
        writer.put(EncodedFrame([], (raw0 + slot * tick) % (1 << 32), key, data=data,
                                wall=wall0 + slot * 0.1 + wall_shift), "h264")

    for i in range(40):
        put(i, i)
        if i == 10:
            put(9, 9)  # a frame whose timestamp goes back: dropped, reported once
    for i in range(40, 60):  # 3 s of frames lost: an outage
        put(i, i + 30)
    for i in range(60, 80):  # the wall clock is stepped forward by 10 s (NTP) while the stream runs on
        put(i, i + 30, wall_shift=10.0)
    writer.close()
    deadline = time.monotonic() + 10
    while writer.alive:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    assert [e.kind for e in events].count("error") == 1
    assert "not increasing" in str(next(e.message for e in events if e.kind == "error"))
    segs = [e.segment for e in events if e.kind == "finished" and e.segment is not None]
    assert [(round(s.start - wall0, 3), round(s.end - wall0, 3), s.gap_before, s.frames, s.keyframes)
            for s in segs] == [
        (0.0, 2.0, False, 20, 4),  # cut on the keyframe at 2 s, across the 2^32 wrap
        (2.0, 4.0, False, 20, 4),  # contiguous; ends one frame after its last frame (the outage)
        (7.0, 9.0, True, 20, 4),  # after the outage: an explicit gap
        (19.0, 21.0, True, 20, 4),  # the clock step: re-anchored on the arrival clock, as a gap
    ]
    assert segs[1].start == segs[0].end
    for seg in segs:
        assert isinstance(seg, FinishedSegment) and seg.codec == "h264" and seg.mode == "continuous"
        width, height, media_s = first_frame(tmp_path / seg.path)
        assert (width, height) == (64, 48) and media_s == pytest.approx(2.0, abs=1e-6)
        assert seg.bytes == (tmp_path / seg.path).stat().st_size
    assert not list(tmp_path.rglob("*.part"))


# ------------------------------------------------------------------------------------------- with a camera


@pytest.mark.slow
async def test_records_contiguous_playable_segments_indexed_with_motion(rtsp: RtspServerProcess, store: Store,
                                                                        tmp_path: Path) -> None:
    engine = Engine()
    ingest = CameraIngest(CAMERA, "main", rtsp.url("/main"), engine, store)
    asked: list[tuple[str, float, float]] = []

    def summary(camera_id: str, start: float, end: float) -> tuple[float, bytes | None]:
        asked.append((camera_id, start, end))
        return 0.25, HEATMAP

    recorders = Recorders(store, engine, tmp_path, motion_summary=summary)
    told: list[FinishedSegment] = []
    recorders.on_segment = told.append
    cam = ManagedCamera(CAMERA, CameraConfig(name="Gate", record=RecordSettings(mode="continuous",
                                                                               segment_seconds=SEGMENT_S)))
    try:
        await ingest.start()
        await recorders.stream_started(cam, "sub", ingest)  # only main streams are recorded
        assert recorders.recorder(CAMERA) is None
        await recorders.stream_started(cam, "main", ingest)
        await wait_segments(store, 1, 10)
        # A motion event known when a later segment is indexed marks it (padding included).
        event_at = time.time()
        await store.events.add(CAMERA, event_at, event_at + 0.5, 0.8, [])
        await wait_segments(store, 4, 25)
        status = recorders.status(CAMERA)
        assert status is not None and status["state"] == "recording" and status["mode"] == "continuous"
        assert status["segments_written"] >= 4 and status["bytes_written"] > 0 and status["last_error"] is None
    finally:
        await recorders.stream_stopping(cam, "main", ingest)
        await recorders.stop()
        await recorders.stop()
        await ingest.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("recorder-")]

    segs = await store.segments.for_camera(CAMERA, 0, time.time() + 3600)
    assert len(segs) >= 5
    assert_contiguous(segs)  # no gap anywhere: wall times; media timeline checked per file below
    assert not segs[0].gap_before, "the first segment of a stream has no predecessor"
    assert segment_files(tmp_path) == {s.path for s in segs}, "indexed rows match the files"
    assert not list(tmp_path.rglob("*.part")), "stop() finished the segment being written"  # noqa: ASYNC240
    for seg in segs:
        width, height, media_s = first_frame(tmp_path / seg.path)
        assert (width, height) == (320, 180)
        wall_s = seg.end_at - seg.start_at
        # The wall span is the media duration, slewed towards the arrival clock by at most SLEW_MAX.
        assert abs(wall_s - media_s) <= SLEW_MAX * media_s + 0.001, (seg, media_s)
        assert seg.keyframes >= 1 and seg.codec == "h264" and seg.mode == "continuous"
        assert seg.bytes == (tmp_path / seg.path).stat().st_size
        assert parse_segment_path(seg.path).start == pytest.approx(seg.start_at, abs=0.001)
    for seg in segs[:-1]:  # cut on keyframes at the configured length (GOP 1 s)
        assert SEGMENT_S - 0.15 <= seg.end_at - seg.start_at <= SEGMENT_S + 1.15, seg
    # Motion: the analyser's summary is stored with each segment; events mark the segments they overlap.
    assert len(asked) == len(segs) and all(a == (CAMERA, s.start_at, s.end_at) for a, s in zip(asked, segs,
                                                                                               strict=True))
    assert all(s.motion_score == 0.25 for s in segs)
    assert [t.path for t in told] == [s.path for s in segs], "the listener hears of every indexed segment"
    heatmaps = await store.segments.heatmaps(CAMERA, 0, time.time() + 3600)
    assert [h[3] for h in heatmaps] == [HEATMAP] * len(segs)
    marked = [s for s in segs if s.has_motion]
    pre, post = RecordSettings().pre_padding_s, RecordSettings().post_padding_s
    assert marked and all(s.end_at >= event_at - pre and s.start_at <= event_at + 0.5 + post for s in marked)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_an_outage_is_an_explicit_gap(rtsp: RtspServerProcess, store: Store, tmp_path: Path) -> None:
    engine = Engine()
    ingest = CameraIngest(CAMERA, "main", rtsp.url("/main"), engine, store)
    recorders = Recorders(store, engine, tmp_path)
    cam = ManagedCamera(CAMERA, CameraConfig(name="Gate", record=RecordSettings(mode="motion",
                                                                               segment_seconds=SEGMENT_S)))
    try:
        await ingest.start()
        await recorders.stream_started(cam, "main", ingest)
        await wait_segments(store, 2, 10)
        t_kill = time.time()
        await rtsp.kill()
        await ingest.wait_state("offline", timeout_s=10)
        await asyncio.sleep(1.0)
        await rtsp.start()
        await ingest.wait_state("online", timeout_s=10)
        t_back = time.time()
        while not [s for s in await store.segments.for_camera(CAMERA, t_back, t_back + 3600) if s.start_at > t_back]:
            assert time.time() - t_back < 15
            await asyncio.sleep(0.1)
    finally:
        await recorders.stop()
        await ingest.stop()
    segs = await store.segments.for_camera(CAMERA, 0, time.time() + 3600)
    gaps = [i for i, s in enumerate(segs) if s.gap_before]
    assert len(gaps) == 1, segs
    before, after = segs[: gaps[0]], segs[gaps[0]:]
    assert_contiguous(before)
    assert_contiguous(after)
    hole = (before[-1].end_at, after[0].start_at)
    assert hole[1] - hole[0] >= 1.0, hole  # killed, ≥ 1 s down, then reconnect: the hole is explicit
    assert t_kill - 1.5 <= hole[0] <= t_kill + 0.5 and hole[1] <= t_back + 1.5, (hole, t_kill, t_back)
    [outage] = await store.cameras.outages(CAMERA, 0, time.time() + 1)
    assert outage.ended_at is not None
    assert hole[0] <= outage.started_at + 0.5 and outage.ended_at <= hole[1] + 0.5, (outage, hole)
    assert all(s.mode == "motion" for s in segs)
    for seg in (before[-1], after[0]):  # the segments around the outage play
        assert first_frame(tmp_path / seg.path)[:2] == (320, 180)


def test_complete_prefix_keeps_whole_fragments_only(tmp_path: Path) -> None:
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    head = box(b"ftyp", b"isom") + box(b"moov", b"x" * 20)
    frag = box(b"moof", b"m" * 12) + box(b"mdat", b"d" * 100)
    path = tmp_path / "a.mp4.part"
    path.write_bytes(head + frag + frag[:50])
    assert complete_prefix(path) == len(head + frag)
    path.write_bytes(head + frag[:30])
    assert complete_prefix(path) == 0


# ------------------------------------------------------------------------------------------- the server


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_sigkill_mid_recording_loses_at_most_the_segment_being_written(tmp_path: Path) -> None:
    srv = Server(tmp_path)
    cfg = yaml.safe_load(srv.config.read_text())
    cfg["cameras"] = {"cam-a": {"name": "Camera A",
                                "simulate": {"main_size": [320, 180], "main_fps": FPS, "sub_size": None,
                                             "loop_s": 20, "objects": []},
                                "record": {"mode": "continuous", "segment_seconds": SEGMENT_S}}}
    cfg["server"]["log_level"] = "INFO"
    srv.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    data = tmp_path / "data"

    def rows() -> list[tuple[str, float, float, int]]:
        with sqlite3.connect(f"file:{srv.db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT path, start_at, end_at, gap_before FROM recording_segments"
                                " ORDER BY start_at").fetchall()

    orphans: list[int] = []
    try:
        srv.start()
        deadline = time.monotonic() + 45
        while len(rows()) < 3:
            assert time.monotonic() < deadline, srv.log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.3)  # well into the next segment: at least one whole GOP in its .part file
        assert srv.proc is not None
        orphans = child_pids(srv.proc.pid)  # the simulated camera outlives a SIGKILLed server: ours to end
        t_kill = time.time()
        srv.kill()  # SIGKILL
        before = rows()
        parts = list(data.rglob("*.mp4.part"))
        assert len(parts) == 1 and parts[0].stat().st_size > 0, parts
        for (_, _, a_end, _), (_, b_start, _, b_gap) in itertools.pairwise(before):
            assert b_start == a_end and not b_gap

        srv.start()  # start-up reconciliation repairs the .part before recording resumes
        srv.login_admin()
        deadline = time.monotonic() + 30
        while len(rows()) < len(before) + 2:
            assert time.monotonic() < deadline, srv.log.read_text()[-3000:]
            time.sleep(0.2)
        assert srv.stop(signal.SIGTERM) == 0
    finally:
        srv.kill()
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    log = srv.log.read_text()
    assert "recordings reconciled: parts repaired 1" in log, log[-3000:]
    after = rows()
    assert not list(data.rglob("*.part"))
    assert {r[0] for r in after} == segment_files(data), "every file has a row and every row a file"
    for path, start, end, _ in after:
        assert first_frame(data / path)[:2] == (320, 180), path
        assert end > start
    repaired = after[len(before)]
    assert repaired[0] == final_path(parts[0]).relative_to(data).as_posix()
    assert repaired[1] == before[-1][2] and not repaired[3], "the repaired segment continues its predecessor"
    # At most the segment being written was lost (in practice only the GOP in flight: 1 s, plus latency).
    assert repaired[2] >= t_kill - SEGMENT_S - 1.0, (repaired, t_kill)
    restarted = after[len(before) + 1]
    assert restarted[3] == 1 and restarted[1] > repaired[2], "the restart is an explicit gap"


# ------------------------------------------------------------------------------------------- scheduler


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_scheduler_action_switches_modes_at_segment_boundaries(make_api: ApiFactory, tmp_path: Path,
                                                                     rtsp: RtspServerProcess) -> None:
    cfg = parse_config(f"""
cameras:
  {CAMERA}:
    name: Gate
    streams: {{main_url: "{rtsp.url('/main')}"}}
    record: {{mode: continuous, segment_seconds: {SEGMENT_S}}}
""", env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    store, scheduler, recorders = api.app[STORE_KEY], api.app[SCHEDULER_KEY], api.app[RECORDERS_KEY]
    await wait_segments(store, 1, 15)

    async def run(job_id: str, **args: Any) -> tuple[str, str | None]:
        await scheduler.add_job(job_id, "recording.set_mode", "once", "2099-01-01T00:00:00", args=args)
        run_id = await scheduler.run_now(job_id)
        deadline = time.monotonic() + 10
        while True:
            [r] = [r for r in await store.jobs.runs(job_id) if r.id == run_id]
            if r.outcome != "running":
                return r.outcome, r.error
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    assert await run("to-motion", camera=CAMERA, mode="motion") == ("ok", None)
    t_switch = time.time()
    assert recorders.mode_of(CAMERA) == "motion"
    deadline = time.monotonic() + 15
    while not [s for s in await store.segments.for_camera(CAMERA, 0, time.time() + 60) if s.mode == "motion"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    segs = await store.segments.for_camera(CAMERA, 0, time.time() + 60)
    first_motion = next(i for i, s in enumerate(segs) if s.mode == "motion")
    assert all(s.mode == "continuous" for s in segs[:first_motion]) and first_motion >= 1
    # At the first boundary the writer reaches after the switch (it may still hold up to 0.25 s of frames).
    assert segs[first_motion].start_at >= t_switch - 1.0
    assert_contiguous(segs[: first_motion + 1])  # the switch itself leaves no gap

    r = await api.client.get(f"/api/v1/cameras/{CAMERA}", headers=api.auth(await api.token_for("security")))
    recording = (await r.json())["status"]["recording"]
    assert recording["mode"] == "motion" and recording["state"] == "recording" and recording["last_error"] is None
    assert recording["segments_written"] >= first_motion + 1 and recording["bytes_written"] > 0

    assert await run("to-off", camera=[CAMERA], mode="off") == ("ok", None)
    deadline = time.monotonic() + 15
    while (recorders.status(CAMERA) or {}).get("state") != "off":
        assert time.monotonic() < deadline, recorders.status(CAMERA)
        await asyncio.sleep(0.1)
    settled = len(await store.segments.for_camera(CAMERA, 0, time.time() + 60))
    await asyncio.sleep(2.5 * SEGMENT_S)
    assert len(await store.segments.for_camera(CAMERA, 0, time.time() + 60)) == settled, "off writes nothing"
    rec = recorders.recorder(CAMERA)
    assert rec is not None and rec.sink is not None
    assert rec.sink.source is None, "an off camera's recorder is detached from the stream"

    t_on = time.time()
    assert await run("to-continuous", camera=CAMERA, mode="continuous") == ("ok", None)
    segs = await wait_segments(store, settled + 1, 15)
    assert segs[settled].mode == "continuous" and segs[settled].gap_before and segs[settled].start_at >= t_on - 1.5

    outcome, error = await run("typo", camera="no-such-camera", mode="motion")
    assert outcome == "error" and error is not None and "no-such-camera" in error
    outcome, error = await run("bad-mode", camera=CAMERA, mode="sometimes")
    assert outcome == "error" and error is not None and "sometimes" in error and "mode" in error
    assert recorders.mode_of(CAMERA) == "continuous"
