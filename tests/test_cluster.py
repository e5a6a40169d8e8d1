"""Two real `mediaserver run` processes sharing one PostgreSQL index: cameras spread, kill -9 one, takeover."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from cameras.simulator.rtsp import RtspServerProcess
from tests.test_server_process import Server

pytestmark = pytest.mark.slow

CAMERAS = ("c1", "c2", "c3", "c4")
SECRET = "cluster-test-secret-0123456789abcdef"
HEARTBEAT_S, LEASE_TTL_S = 1.0, 5.0
TAKEOVER_LIMIT_S = 30.0


def sim_spec() -> dict[str, Any]:
    mounts = [{"path": f"/{c}", "width": 160, "height": 90, "fps": 5, "gop": 5, "bitrate_kbps": 100,
               "scene": {"kind": "scene", "noise": 2, "background": 80}} for c in CAMERAS]
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"}, "mounts": mounts}


def node(tmp: Path, node_id: str, db_url: str, sim: RtspServerProcess) -> Server:
    (tmp / node_id).mkdir()
    srv = Server(tmp / node_id)
    cfg = yaml.safe_load(srv.config.read_text())
    cfg["storage"]["database_url"] = db_url
    cfg["recording"] = {"mode": "continuous", "segment_seconds": 2}
    cfg["motion"] = {"enabled": False}
    cfg["detection"] = {"enabled": False}
    cfg["cameras"] = {c: {"name": c, "streams": {"main_url": sim.url(f"/{c}")}} for c in CAMERAS}
    cfg["schedules"] = {"tick": {"action": "index.maintenance", "kind": "interval", "every_s": 2}}
    cfg["cluster"] = {"node_id": node_id, "advertise_url": f"http://127.0.0.1:{srv.port}", "secret": SECRET,
                      "heartbeat_s": HEARTBEAT_S, "lease_ttl_s": LEASE_TTL_S, "capacity": 8}
    srv.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return srv


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql, params).fetchall())


def owners(url: str) -> dict[str, str]:
    return {r[0].removeprefix("camera:"): r[1] for r in rows(
        url, "SELECT resource, node_id FROM leases WHERE expires_at > extract(epoch from clock_timestamp())"
        " AND resource LIKE 'camera:%%'")}


def first_segments(url: str, cameras: list[str], node_id: str, after: float) -> dict[str, float] | None:
    """Return each camera's first segment start on ``node_id`` after ``after``, once every camera has one."""
    got = {c: r[0] for c in cameras for r in rows(
        url, "SELECT MIN(start_at) FROM recording_segments WHERE camera_id = %s AND node_id = %s AND start_at > %s",
        (c, node_id, after)) if r[0] is not None}
    return got if len(got) == len(cameras) else None


async def wait_for(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def test_cameras_spread_and_a_killed_nodes_cameras_move(tmp_path: Path, pg_url: str) -> None:
    sim = RtspServerProcess(sim_spec())
    await sim.start()
    a, b = node(tmp_path, "node-a", pg_url, sim), node(tmp_path, "node-b", pg_url, sim)
    try:
        await asyncio.to_thread(a.start)  # first: it creates the admin on the empty index
        await asyncio.to_thread(b.start)
        def split() -> dict[str, str] | None:
            o = owners(pg_url)
            return o if sorted(list(o.values()).count(n) for n in ("node-a", "node-b")) == [2, 2] else None

        spread = await wait_for("a 2/2 spread", split, 30.0)
        print(f"\nspread: {spread}")
        a_cams = sorted(c for c, n in spread.items() if n == "node-a")
        # Both nodes record their own cameras (segments carry the node).
        await wait_for("segments from both nodes", lambda: {r[0] for r in rows(
            pg_url, "SELECT DISTINCT node_id FROM recording_segments")} == {"node-a", "node-b"}, 30.0)
        await asyncio.to_thread(a.login_admin)
        status, listed = await asyncio.to_thread(a.request, "GET", "/api/v1/nodes")
        assert status == 200 and listed["clustered"], listed
        by_id = {n["id"]: n for n in listed["items"]}
        assert by_id["node-a"]["alive"] and by_id["node-b"]["alive"]
        assert sorted(by_id["node-a"]["cameras"]) == a_cams

        a.kill()  # kill -9, the whole process group
        killed_at = time.time()

        first = await wait_for("node-b recording node-a's cameras",
                               lambda: first_segments(pg_url, a_cams, "node-b", killed_at), TAKEOVER_LIMIT_S + 15)
        takeover_s = max(first.values()) - killed_at
        print(f"takeover_s={takeover_s:.1f} (lease_ttl_s={LEASE_TTL_S:g}, heartbeat_s={HEARTBEAT_S:g})")
        assert takeover_s <= TAKEOVER_LIMIT_S
        assert set(owners(pg_url).values()) == {"node-b"}

        # No overlapping segments for a camera, and no gap beyond the takeover window.
        for cam in CAMERAS:
            segs = rows(pg_url, "SELECT start_at, end_at, node_id FROM recording_segments WHERE camera_id = %s"
                        " AND stream = 'main' ORDER BY start_at", (cam,))
            for (s0, e0, n0), (s1, _e1, n1) in itertools.pairwise(segs):
                assert s1 >= e0 - 0.05, f"{cam}: {n0} [{s0}, {e0}) overlaps {n1} from {s1}"
                assert s1 - e0 <= takeover_s + 2 * 2 + 1.0, f"{cam}: gap {s1 - e0:.1f} s from {n0} to {n1}"

        # The 2 s job ran once per due time across both nodes.
        dup = rows(pg_url, "SELECT scheduled_for, COUNT(*) FROM job_runs WHERE job_id = 'tick'"
                   " GROUP BY scheduled_for HAVING COUNT(*) > 1")
        assert dup == [], dup
    finally:
        a.kill()
        b.kill()
        await sim.stop()
