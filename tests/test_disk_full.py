"""A data disk another program fills below the floor raises an alarm everywhere, and recording resumes by itself.

The disk is a 64 MB tmpfs this test mounts (we run as root); the camera a real GStreamer RTSP server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import STORE_KEY
from mediaserver.config import parse_config
from tests.conftest import ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CAMERA = "kho"
DISK_MB = 64
FLOOR_MB = 20  # retention.min_free_gb, in MB
LEFT_FREE_MB = 8  # what the other program leaves: below the floor, above what SQLite needs to keep working


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """Mount a fresh 64 MB tmpfs for the data dir; skip when this process may not mount."""
    where = tmp_path / "disk"
    where.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(where)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def free_mb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e6


def fill(path: Path, leave_mb: float) -> Path:
    """Write a file that leaves ``leave_mb`` free (another program filling the disk)."""
    hog = path / "other-program.bin"
    with hog.open("wb") as f:
        f.write(b"\0" * int((free_mb(path) - leave_mb) * 1e6))
        f.flush()
        os.fsync(f.fileno())
    return hog


async def until(cond: Callable[[], Awaitable[Any]], what: str, wait_s: float) -> Any:
    deadline = time.monotonic() + wait_s
    while not (got := await cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
    return got


async def test_a_full_disk_raises_the_alarm_and_recording_resumes_when_space_returns(
        make_api: ApiFactory, small_disk: Path, rtsp: RtspServerProcess) -> None:
    cfg = parse_config(f"""
recording: {{mode: continuous, segment_seconds: 2}}
motion: {{enabled: false}}
retention: {{min_free_gb: {FLOOR_MB / 1000}}}
cameras:
  {CAMERA}: {{name: Kho, streams: {{main_url: "{rtsp.url('/main')}"}}}}
""", env={})
    cfg.storage.data_dir = small_disk
    api = await make_api(cfg)
    headers = api.auth(await api.token_for("security"))
    store = api.app[STORE_KEY]

    async def recording() -> dict[str, Any]:
        r = await api.client.get(f"/api/v1/cameras/{CAMERA}", headers=headers)
        return dict((await r.json())["status"]["recording"])

    async def segments() -> int:
        return len(await store.segments.for_camera(CAMERA, 0, time.time() + 60))

    async def text(path: str) -> str:
        return await (await api.client.get(path, headers=headers)).text()

    await until(segments, "a first segment", 20)
    ready = await (await api.client.get("/readyz")).json()
    assert (ready["status"], ready["checks"]["disk"]) == ("ready", "ok"), ready
    assert "mediaserver_recording_disk_full 0.0" in await text("/metrics")

    hog = await asyncio.to_thread(fill, small_disk, LEFT_FREE_MB)
    blocked = await until(lambda: _state_is(recording, "disk_full"), "the camera to show disk_full", 20)
    assert "disk full" in blocked["last_error"] and blocked["disk_full_since"] is not None, blocked
    r = await api.client.get("/readyz")
    ready = await r.json()
    assert r.status == 200 and ready["status"] == "degraded" and ready["ready"], ready
    assert ready["checks"]["disk"].startswith("full:") and any("recording blocked" in x for x in ready["reasons"])
    metrics = await text("/metrics")
    assert "mediaserver_recording_disk_full 1.0" in metrics
    assert f'mediaserver_camera_recording_blocked{{camera="{CAMERA}",reason="disk_full"}} 1.0' in metrics
    alarms = (await (await api.client.get("/api/v1/system/alarms", headers=headers)).json())["alarms"]
    assert [(a["code"], a["cameras"]) for a in alarms] == [("disk_full", [CAMERA])], alarms
    assert await segments() <= 1, "what is written is deleted at once: nothing accumulates"
    actions = [a.action for a in await store.audit.all(limit=50)]
    assert "retention.disk_full" in actions

    await asyncio.to_thread(hog.unlink)
    await until(lambda: _state_is(recording, "recording"), "recording to resume", 20)
    await until(lambda: _at_least(segments, 3), "new footage kept again", 20)
    ready = await (await api.client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["checks"]["disk"] == "ok", ready
    assert "mediaserver_recording_disk_full 0.0" in await text("/metrics")
    assert (await (await api.client.get("/api/v1/system/alarms", headers=headers)).json())["alarms"] == []
    assert "retention.disk_recovered" in [a.action for a in await store.audit.all(limit=50)]


async def _state_is(recording: Callable[[], Awaitable[dict[str, Any]]], state: str) -> dict[str, Any] | None:
    status = await recording()
    return status if status["state"] == state else None


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n
