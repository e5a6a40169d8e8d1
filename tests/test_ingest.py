"""Camera ingest against a real RTSP server: fast open, frames to sinks, outages, stalls, auth, flapping."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.codecs.h264 import H264PayloadDescriptor

from cameras.ingest import STALL_S, CameraIngest, GopCache, annexb_parameter_sets, nal_types
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.config import redact_url
from mediaserver.engine import EncodedFrame, Engine
from mediaserver.storage import Database, Store

USER, PASSWORD = "viewer", "Secret-9"
CAMERA = "gate-1"


def camera_spec(fps: int = 10, gop: int = 10) -> dict[str, Any]:
    """Return a digest-protected two-stream camera with a moving object."""
    scene = {"kind": "scene", "noise": 6, "background": 70,
             "objects": [{"start_s": 0, "end_s": 60, "size": 0.2, "color": 230, "from": [0.1, 0.3],
                          "to": [0.9, 0.7]}]}
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "digest", "user": USER, "password": PASSWORD},
            "mounts": [{"path": "/main", "width": 640, "height": 360, "fps": fps, "bitrate_kbps": 800, "gop": gop,
                        "scene": scene},
                       {"path": "/sub", "width": 320, "height": 180, "fps": fps, "bitrate_kbps": 300, "gop": gop,
                        "scene": scene}]}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "index.db")
    await db.open()
    st = Store(db)
    await st.cameras.upsert(CAMERA, "Main gate", "config")
    try:
        yield st
    finally:
        await db.close()


@pytest.fixture
async def server() -> AsyncIterator[RtspServerProcess]:
    srv = RtspServerProcess(camera_spec())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def depacketize(frame: EncodedFrame) -> bytes:
    """Rebuild the Annex-B access unit from a frame's RTP payloads (what a viewer's depacketizer does)."""
    return b"".join(H264PayloadDescriptor.parse(p)[1] for p in frame.rtp_payloads())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def ingest_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ingest-camera/")]


# ------------------------------------------------------------------------------------------- pure parts


def test_gop_cache_keeps_frames_since_the_last_keyframe_and_is_bounded() -> None:
    gop = GopCache(max_frames=4)
    gop.add(EncodedFrame([b"\x41"], 0, False))
    assert len(gop) == 0, "nothing usable before a keyframe"
    gop.add(EncodedFrame([b"\x65"], 1, True))
    gop.add(EncodedFrame([b"\x41"], 2, False))
    assert [f.timestamp for f in gop.frames()] == [1, 2]
    gop.add(EncodedFrame([b"\x65"], 3, True))
    assert [f.timestamp for f in gop.frames()] == [3]
    for ts in range(4, 9):
        gop.add(EncodedFrame([b"\x41"], ts, False))
    assert len(gop) == 0 and gop.bytes == 0, "an oversized GOP is dropped, not truncated"


def test_h264_helpers() -> None:
    sps, pps = bytes([0x67, 0x42, 0xC0, 0x1E]), bytes([0x68, 0xCE, 0x3C, 0x80])
    avcc = bytes([1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps + bytes([1]) \
        + len(pps).to_bytes(2, "big") + pps
    annexb = annexb_parameter_sets(avcc)
    assert annexb == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    assert annexb_parameter_sets(annexb) == annexb
    assert nal_types(annexb + b"\x00\x00\x01\x65\x88") == {7, 8, 5}
    assert redact_url("rtsp://u:p@10.0.0.5:554/main") == "rtsp://10.0.0.5:554/main"


# ------------------------------------------------------------------------------------------- with a camera


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_online_fast_and_frames_reach_a_sink(server: RtspServerProcess, store: Store, transport: str) -> None:
    engine = Engine()
    ingest = CameraIngest(CAMERA, "main", server.url("/main"), engine, store,
                          transport="udp" if transport == "udp" else "tcp")
    sink = engine.new_sink("viewer-1", "video")
    late = engine.new_sink("viewer-2", "video")
    try:
        t0 = time.monotonic()
        await ingest.start()
        assert engine.sources["camera/gate-1/main"] is ingest.source
        assert ingest.source.codec == "h264" and ingest.source.clock_rate == 90_000
        await ingest.wait_state("online", timeout_s=3.0)
        online_s = time.monotonic() - t0
        assert online_s < 1.5, f"fast open took {online_s:.2f} s"

        ingest.attach_sink(sink)
        frames = [(await asyncio.wait_for(sink.next(), 3.0))[0] for _ in range(15)]
        assert frames[0].keyframe
        codec = av.CodecContext.create("h264", "r")
        decoded = []
        for frame in frames:
            au = depacketize(frame)
            if frame.keyframe:
                assert {7, 8, 5} <= nal_types(au), "keyframes carry SPS/PPS in band"
            decoded.extend(codec.decode(av.Packet(au)))
        assert len(decoded) >= 12
        assert (decoded[-1].width, decoded[-1].height) == (640, 360)
        stamps = [f.timestamp for f in frames]
        assert all(0 < b - a < 90_000 for a, b in itertools.pairwise(stamps)), stamps

        # A viewer arriving mid-GOP gets the cached GOP at once (cameras cannot be asked for a keyframe).
        while len(ingest.gop) < 3:
            await asyncio.wait_for(sink.next(), 3.0)
        replayed = ingest.attach_sink(late)
        assert replayed >= 3
        first, _ = await asyncio.wait_for(late.next(), 0.05)
        assert first.keyframe

        stats = ingest.stats()
        assert stats.state == "online" and stats.reconnects == 0 and stats.last_frame_at is not None
        assert stats.packets_lost == 0 and stats.frames_dropped == 0, stats
        assert 7 <= stats.fps <= 13, stats
        assert stats.bitrate_kbps > 50, stats
    finally:
        sink.close()
        late.close()
        await ingest.stop()
        await ingest.stop()
    assert ingest.state == "stopped" and "camera/gate-1/main" not in engine.sources
    assert not ingest_tasks()


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_killed_camera_goes_offline_and_comes_back_with_an_outage_row(
        server: RtspServerProcess, store: Store) -> None:
    engine = Engine()
    ingest = CameraIngest(CAMERA, "main", server.url("/main"), engine, store)
    try:
        await ingest.start()
        await ingest.wait_state("online", timeout_s=3.0)
        await asyncio.sleep(0.5)
        t_kill = time.time()
        await server.kill()
        await ingest.wait_state("offline", timeout_s=5.0)
        offline_s = time.time() - t_kill
        await server.start()  # same port
        t_back = time.monotonic()
        await ingest.wait_state("online", timeout_s=5.0)
        back_s = time.monotonic() - t_back
        assert ingest.stats().reconnects >= 1
    finally:
        await ingest.stop()
    outages = await store.cameras.outages(CAMERA, 0, time.time() + 1)
    assert len(outages) == 1, outages
    outage = outages[0]
    assert outage.started_at >= t_kill - 0.1 and outage.ended_at is not None
    assert outage.ended_at > outage.started_at and outage.reason, outage
    assert PASSWORD not in outage.reason
    print(f"offline after {offline_s:.2f} s; online {back_s:.2f} s after restart; reason {outage.reason!r}")


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_frozen_camera_goes_offline_as_stalled(server: RtspServerProcess, store: Store) -> None:
    engine = Engine()
    ingest = CameraIngest(CAMERA, "sub", server.url("/sub"), engine, store)
    try:
        await ingest.start()
        await ingest.wait_state("online", timeout_s=3.0)
        t_pause = time.monotonic()
        server.pause()
        await ingest.wait_state("offline", timeout_s=10.0)
        stalled_s = time.monotonic() - t_pause
        assert stalled_s < 5.0, f"a frozen camera should be offline ~STALL_S after its last packet ({stalled_s:.1f} s)"
        assert ingest.error is not None and ingest.error.startswith("stalled"), ingest.error
        server.resume()
        await ingest.wait_state("online", timeout_s=15.0)
        # Stopping while the camera is frozen must not hang.
        server.pause()
        await asyncio.sleep(0.5)
        t_stop = time.monotonic()
        await ingest.stop()
        stop_s = time.monotonic() - t_stop
        assert stop_s < STALL_S + 2.0, stop_s
    finally:
        server.resume()
        await ingest.stop()
    outages = await store.cameras.outages(CAMERA, 0, time.time() + 1)
    assert [o.reason.split(":")[0] for o in outages] == ["stalled"] and outages[0].ended_at is not None
    print(f"stalled → offline after {stalled_s:.2f} s; stop while frozen took {stop_s:.2f} s")


@pytest.mark.slow
async def test_bad_credentials_fail_hard_without_retrying(server: RtspServerProcess, store: Store) -> None:
    engine = Engine()
    bad_url = server.url("/main").replace(PASSWORD, "not-it")
    ingest = CameraIngest(CAMERA, "main", bad_url, engine, store, backoff_initial_s=0.05)
    try:
        await ingest.start()
        await ingest.wait_state("auth_failed", timeout_s=3.0)
        await asyncio.sleep(1.0)
        assert ingest.state == "auth_failed" and ingest.reconnects == 0
        assert not ingest_tasks() and not ingest.running, "the ingest task ends: no retry loop"
        assert ingest.error is not None and "401" in ingest.error and "not-it" not in ingest.error
    finally:
        await ingest.stop()
    outages = await store.cameras.outages(CAMERA, 0, time.time() + 1)
    assert len(outages) == 1 and "401" in outages[0].reason


FLAP_CYCLES = 100  # the bar: a camera that flaps 100 times leaks nothing


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_flapping_camera_leaks_no_threads_sockets_or_tasks(server: RtspServerProcess, store: Store) -> None:
    engine = Engine()
    threads_before, fds_before = threading.active_count(), open_fds()
    tasks_before = len(asyncio.all_tasks())
    ingest = CameraIngest(CAMERA, "sub", server.url("/sub"), engine, store,
                          backoff_initial_s=0.05, backoff_max_s=0.2)
    t0 = time.monotonic()
    try:
        await ingest.start()
        for _ in range(FLAP_CYCLES):
            await ingest.wait_state("online", timeout_s=5.0)
            assert len(ingest_tasks()) == 1
            await server.kill()
            await ingest.wait_state("offline", timeout_s=5.0)
            await server.start()
        await ingest.wait_state("online", timeout_s=5.0)
        assert ingest.stats().reconnects >= FLAP_CYCLES
        assert len(ingest.gop) <= 10
    finally:
        await ingest.stop()
    elapsed = time.monotonic() - t0
    await asyncio.sleep(0.1)
    assert not ingest_tasks()
    assert threading.active_count() == threads_before, threading.enumerate()
    assert len(asyncio.all_tasks()) == tasks_before
    assert open_fds() <= fds_before + 2, (fds_before, open_fds())
    outages = await store.cameras.outages(CAMERA, 0, time.time() + 1)
    assert len(outages) == FLAP_CYCLES and all(o.ended_at is not None for o in outages)
    print(f"{FLAP_CYCLES} flaps in {elapsed:.1f} s")
