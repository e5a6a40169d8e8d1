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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """Return a process's user+system CPU seconds from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


async def measure(base: str, data_dir: Path, pid: int, seconds: float) -> dict[str, Any]:
    """Log in as the bootstrap admin, then load the baseline and the measured endpoint."""
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        pw = (data_dir / "initial-admin-password.txt").read_text().split()[1]
        async with s.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": pw}) as r:
            token = (await r.json())["token"]
        async with s.post(f"{base}/api/v1/auth/password", headers={"Authorization": f"Bearer {token}"},
                          json={"current_password": pw, "new_password": "Bench-Mark-2026!"}) as r:
            token = (await r.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        await load(s, f"{base}/healthz", {}, 1.0, pid)  # warm-up
        results: dict[str, Any] = {}
        for name, path, headers in (("healthz", "/healthz", {}), ("sites", "/api/v1/sites", auth)):
            results[name] = r_ = await load(s, base + path, headers, seconds, pid)
            print(f"{name:8s} {r_['rps']:8.0f} req/s  p50 {r_['p50_ms']:6.2f} ms  p95 {r_['p95_ms']:6.2f} ms"
                  f"  server CPU {r_['server_cpu_ms_per_req']:.3f} ms/req")
        return results


def main() -> None:
    quick = os.environ.get("QUICK") == "1"
    seconds = 5.0 if quick else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
        cfg["storage"]["data_dir"] = str(Path(tmp) / "data")
        cfg["server"]["log_level"] = "WARNING"
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        port = 18080 + os.getpid() % 1000
        proc = subprocess.Popen([sys.executable, "-m", "mediaserver.cli", "run", "-c", str(cfg_path),
                                 "--port", str(port)])
        try:
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", Path(tmp) / "data", proc.pid, seconds))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
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
