"""A camera whose RTSP server is killed and restarted while recording records again each time, outages kept.

The speed target (≤ 5 s p95 from the camera's return to recording) is the benchmark's figure
(`make bench-cameras`, reconnect phase); here the bound has slack for a loaded box.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import CAMERAS_KEY, RECORDERS_KEY, STORE_KEY
from mediaserver.config import parse_config
from tests.conftest import ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CAMERA = "hanh-lang"
RESTARTS = 3
DOWN_S = 2.0  # long enough that the old code's backoff had grown past the probe interval
RESUME_BOUND_S = 15.0  # slack: the benchmark measures ~1–2 s


async def test_recording_resumes_after_each_rtsp_server_restart(make_api: ApiFactory, tmp_path: Path,
                                                                rtsp: RtspServerProcess) -> None:
    cfg = parse_config(f"""
recording: {{mode: continuous, segment_seconds: 2}}
motion: {{enabled: false}}
cameras:
  {CAMERA}: {{name: Hành lang, streams: {{main_url: "{rtsp.url('/main')}"}}}}
""", env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    recorders = api.app[RECORDERS_KEY]

    async def recording_since(t: float, limit_s: float) -> float:
        deadline = time.monotonic() + limit_s
        while True:
            st: dict[str, Any] | None = recorders.status(CAMERA)
            if st is not None and st["state"] == "recording" and (st["segment_started_at"] or 0) >= t:
                return time.time() - t
            assert time.monotonic() < deadline, st
            await asyncio.sleep(0.05)

    await recording_since(0, 20)
    resumed = []
    for _ in range(RESTARTS):
        await rtsp.kill()
        await asyncio.sleep(DOWN_S)
        await rtsp.start()
        back = time.time()
        resumed.append(await recording_since(back, RESUME_BOUND_S))
    ingest = api.app[CAMERAS_KEY].cameras[CAMERA].ingests["main"]
    assert ingest.probes >= RESTARTS, "a down camera is probed, not only retried"
    outages = await api.app[STORE_KEY].cameras.outages(CAMERA, 0, time.time() + 1)
    assert len(outages) == RESTARTS and all(o.ended_at is not None for o in outages), outages
    print(f"recording again {', '.join(f'{s:.2f}' for s in resumed)} s after each restart")
