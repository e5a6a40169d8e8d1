"""Cameras that talk garbage end in a clear state with a plain error, and never disturb a good neighbour.

Three real TCP listeners (tests/garbage_camera.py, each its own process) misbehave: one answers random bytes,
one accepts and never answers, one sends a header that never ends. Each is configured twice: as a plain RTSP
camera and as an ONVIF camera. They run for a minute beside a good camera on the real RTSP simulator, which is
recorded the whole time: its recording must be untouched (segments back to back, no outage), every garbage
camera must end offline with a coded reason the console has words for, and the server's memory and task count
must stay bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import STORE_KEY
from mediaserver.config import parse_config
from tests.conftest import ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MODES = ("random", "silent", "endless")
RUN_S = 60.0  # as the issue asks: a minute beside the good camera
SEGMENT_S = 2
GOOD = "cong-chinh"
RSS_GROWTH_MAX_MB = 60.0  # after warm-up; an unbounded header buffer would grow by the flood (~100 kB/s)
TASK_GROWTH_MAX = 20


def rss_mb() -> float:
    """Return this process's resident memory in MiB (the app runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def garbage() -> AsyncIterator[dict[str, int]]:
    procs: list[asyncio.subprocess.Process] = []
    ports: dict[str, int] = {}
    try:
        for mode in MODES:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.garbage_camera", mode,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        cwd=ROOT)
            procs.append(proc)
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            assert line.startswith("READY "), line
            ports[mode] = int(line.split()[1])
        yield ports
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def test_garbage_cameras_end_in_a_clear_state_beside_an_untouched_good_one(
        make_api: ApiFactory, tmp_path: Path, rtsp: RtspServerProcess, garbage: dict[str, int]) -> None:
    cams = [f'  {GOOD}: {{name: Cổng chính, streams: {{main_url: "{rtsp.url("/main")}"}}}}']
    for mode, port in garbage.items():
        cams.append(f'  rtsp-{mode}: {{name: RTSP {mode}, streams: {{main_url: "rtsp://127.0.0.1:{port}/main"}}}}')
        cams.append(f'  onvif-{mode}: {{name: ONVIF {mode}, onvif: {{host: 127.0.0.1, port: {port}}}}}')
    cfg = parse_config(f"""
recording: {{mode: continuous, segment_seconds: {SEGMENT_S}}}
motion: {{enabled: false}}
cameras:
""" + "\n".join(cams) + "\n", env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    headers = api.auth(await api.token_for("security"))

    async def statuses() -> dict[str, Any]:
        r = await api.client.get("/api/v1/cameras", headers=headers)
        assert r.status == 200
        return {c["id"]: c["status"] for c in (await r.json())["items"]}

    start = time.time()
    await asyncio.sleep(10)  # warm-up: every camera has tried a few times
    rss0, tasks0 = rss_mb(), len(asyncio.all_tasks())
    peak_rss, peak_tasks = rss0, tasks0
    while time.time() - start < RUN_S:
        await asyncio.sleep(2)
        peak_rss, peak_tasks = max(peak_rss, rss_mb()), max(peak_tasks, len(asyncio.all_tasks()))
    end = time.time()
    final = await statuses()

    # The good camera: streaming the whole minute, recorded back to back, never an outage.
    good = final[GOOD]
    assert good["phase"] == "streaming" and good["streams"]["main"]["state"] == "online", good
    assert good["streams"]["main"]["reconnects"] == 0, good
    store = api.app[STORE_KEY]
    assert await store.cameras.outages(GOOD, start, end + 1) == []
    segs = sorted(await store.segments.for_camera(GOOD, start, end), key=lambda s: s.start_at)
    assert len(segs) >= (RUN_S - 15) / SEGMENT_S, f"{len(segs)} segments in {RUN_S:.0f} s"
    gaps = [b.start_at - a.end_at for a, b in itertools.pairwise(segs)]
    assert max(gaps) < 0.5, f"gaps between the good camera's segments: {max(gaps):.2f} s"

    # Every garbage camera: offline (RTSP) or retrying (ONVIF), with a coded reason the console has words for.
    codes = {}
    for cid, st in final.items():
        if cid == GOOD:
            continue
        assert st["phase"] in ("offline", "unreachable", "error"), (cid, st)
        assert st["last_error"] and st["last_error_code"], (cid, st)
        assert len(st["last_error"]) < 400, (cid, st["last_error"])  # a reason, not a dump
        codes[cid] = st["last_error_code"]
    assert codes["rtsp-random"] == "camera_garbled", codes
    assert codes["rtsp-silent"] == "camera_no_answer", codes
    assert codes["rtsp-endless"] == "camera_garbled", codes
    assert codes["onvif-random"] in ("camera_garbled", "camera_closed"), codes
    assert codes["onvif-silent"] == "camera_no_answer", codes
    assert codes["onvif-endless"] == "camera_garbled", codes
    # Nothing grows: no stuck tasks piling up, no buffer swallowing the endless header.
    assert peak_tasks - tasks0 <= TASK_GROWTH_MAX, (tasks0, peak_tasks)
    assert peak_rss - rss0 <= RSS_GROWTH_MAX_MB, f"RSS grew {peak_rss - rss0:.1f} MiB (from {rss0:.0f} MiB)"
    print(f"RSS {rss0:.0f} → peak {peak_rss:.0f} MiB, tasks {tasks0} → peak {peak_tasks}; {len(segs)} segments; "
          f"codes {codes}")
