"""Control-plane benchmark: what an authenticated, index-backed API call costs next to a bare health check.

The server runs in its own process (the shipped config, a fresh data dir); a client in this process keeps
CONCURRENCY requests in flight. For each endpoint it reports requests/s, p50/p95 latency and server CPU per
request; the baseline (`/healthz`: routing, middleware and JSON only) is measured in the same run, so the
ratio shows the price of token verification + an index read, independent of the machine's speed.
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import aiohttp

from benchmarks.common import ServerProcess, cpu_s

CONCURRENCY = 16


async def load(session: aiohttp.ClientSession, url: str, headers: dict[str, str], seconds: float,
               pid: int) -> dict[str, float]:
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            async with session.get(url, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append(time.perf_counter() - t0)

    cpu0, t0 = cpu_s(pid), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    cpu1, elapsed = cpu_s(pid), time.monotonic() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p95_ms": latencies[int(n * 0.95)] * 1000,
        "server_cpu_ms_per_req": (cpu1 - cpu0) * 1000 / n,
    }


async def measure(server: ServerProcess, seconds: float) -> dict[str, Any]:
    """Log in as the bootstrap admin, then load the baseline and the measured endpoint."""
    async with aiohttp.ClientSession() as s:
        await server.ready(s)
        auth = {"Authorization": f"Bearer {await server.admin_token(s)}"}
        await load(s, f"{server.base}/healthz", {}, 1.0, server.pid)  # warm-up
        results: dict[str, Any] = {}
        for name, path, headers in (("healthz", "/healthz", {}), ("sites", "/api/v1/sites", auth)):
            results[name] = r_ = await load(s, server.base + path, headers, seconds, server.pid)
            print(f"{name:8s} {r_['rps']:8.0f} req/s  p50 {r_['p50_ms']:6.2f} ms  p95 {r_['p95_ms']:6.2f} ms"
                  f"  server CPU {r_['server_cpu_ms_per_req']:.3f} ms/req")
        return results


def main() -> None:
    quick = os.environ.get("QUICK") == "1"
    seconds = 5.0 if quick else 20.0
    with ServerProcess() as server:
        results = asyncio.run(measure(server, seconds))
    ratio = results["sites"]["server_cpu_ms_per_req"] / results["healthz"]["server_cpu_ms_per_req"]
    print(f"authenticated index read costs {ratio:.2f}x a bare health check (server CPU per request)")
    print(json.dumps({
        "bench": "api", "quick": quick, "concurrency": CONCURRENCY,
        "healthz_rps": round(results["healthz"]["rps"]), "sites_rps": round(results["sites"]["rps"]),
        "sites_p95_ms": round(results["sites"]["p95_ms"], 2),
        "auth_read_cpu_ratio": round(ratio, 2),
    }))


if __name__ == "__main__":
    main()
