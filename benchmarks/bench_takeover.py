"""takeover_s (issue 16): two real `mediaserver run` nodes on one throwaway PostgreSQL index, four simulator
cameras split 2/2; node A is killed with SIGKILL → seconds until node B records every one of A's cameras.

Baseline, measured in the same run: ``cold_start_s``, from starting node A alone to every camera's first
segment — what any node needs to bring cameras up, so the ratio shows what the lease hand-over adds to it.
Run alone: ``python -m benchmarks.bench_takeover``; `make bench-recordings` runs it as its last part.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cameras.simulator.rtsp import RtspServerProcess
from tests.pg import build_template, start_cluster
from tests.test_cluster import (
    CAMERAS,
    HEARTBEAT_S,
    LEASE_TTL_S,
    first_segments,
    node,
    owners,
    sim_spec,
    wait_for,
)

TAKEOVER_TARGET_S = 30.0


async def _measure(url: str, tmp: Path) -> dict[str, Any]:
    sim = RtspServerProcess(sim_spec())
    await sim.start()
    a, b = node(tmp, "node-a", url, sim), node(tmp, "node-b", url, sim)
    try:
        started = time.time()
        await asyncio.to_thread(a.start)
        first = await wait_for("node A recording all cameras", lambda: first_segments(
            url, list(CAMERAS), "node-a", started - 1), 60.0)
        cold_start_s = max(first.values()) - started
        await asyncio.to_thread(b.start)

        def split() -> dict[str, str] | None:
            o = owners(url)
            return o if sorted(list(o.values()).count(n) for n in ("node-a", "node-b")) == [2, 2] else None

        spread = await wait_for("a 2/2 spread", split, 60.0)
        a_cams = sorted(c for c, n in spread.items() if n == "node-a")
        await asyncio.sleep(2 * HEARTBEAT_S)  # B records its own two before A dies
        a.kill()
        killed_at = time.time()
        moved = await wait_for("node B recording node A's cameras", lambda: first_segments(
            url, a_cams, "node-b", killed_at), TAKEOVER_TARGET_S + 30)
        takeover_s = max(moved.values()) - killed_at
    finally:
        a.kill()
        b.kill()
        await sim.stop()
    print(f"  takeover_s       {takeover_s:6.1f} s  (heartbeat {HEARTBEAT_S:g} s, lease {LEASE_TTL_S:g} s; "
          f"target ≤ {TAKEOVER_TARGET_S:g} s)", flush=True)
    print(f"  cold_start_s     {cold_start_s:6.1f} s  (baseline: one node starting its cameras)", flush=True)
    print(f"  ratio            {takeover_s / cold_start_s:6.2f}×", flush=True)
    return {"takeover_s": round(takeover_s, 1), "takeover_cold_start_s": round(cold_start_s, 1),
            "takeover_ratio": round(takeover_s / cold_start_s, 2)}


def run(quick: bool = False) -> dict[str, Any]:
    """Start PostgreSQL, measure one takeover, stop everything; return the figures."""
    del quick  # one takeover is already quick (~30 s)
    cluster = start_cluster()
    tmp = Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    try:
        build_template(cluster)
        return asyncio.run(_measure(cluster.create_database(), tmp))
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps({"bench": "takeover", **run()}), flush=True)
