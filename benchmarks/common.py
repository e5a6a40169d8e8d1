"""Shared benchmark plumbing: a real server process with its own data dir, and /proc CPU/RSS readings."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_PASSWORD = "Bench-Mark-2026!"


def cpu_s(pid: int) -> float:
    """Return a process's user+system CPU seconds from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    """Return a process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`mediaserver run` with the shipped config in a temporary data dir; a context manager."""

    def __init__(self, log_level: str = "WARNING", overrides: dict[str, Any] | None = None) -> None:
        """Prepare the server; ``overrides`` replace whole top-level config sections."""
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self._tmp.name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
        cfg["storage"]["data_dir"] = str(self.dir / "data")
        cfg["server"]["log_level"] = log_level
        cfg["cameras"] = {}  # the shipped simulated cameras would compete with what is measured
        cfg.pop("camera_groups", None)  # ... and the shipped groups name them
        cfg.update(overrides or {})
        self.config = self.dir / "config.yaml"
        self.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "mediaserver.cli", "run", "-c", str(self.config),
                                      "--port", str(self.port)])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cli(self, *args: str) -> str:
        """Run a mediaserver CLI command against this server's config; return its output."""
        return subprocess.run([sys.executable, "-m", "mediaserver.cli", *args, "-c", str(self.config)],
                              capture_output=True, text=True, check=True, timeout=60).stdout.strip()

    async def ready(self, session: aiohttp.ClientSession) -> None:
        """Wait until /healthz answers."""
        for _ in range(600):
            try:
                async with session.get(f"{self.base}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    async def admin_token(self, session: aiohttp.ClientSession) -> str:
        """Log in as the bootstrap admin, changing its one-time password; return a bearer token."""
        pw = (self.dir / "data" / "initial-admin-password.txt").read_text().split()[1]
        async with session.post(f"{self.base}/api/v1/auth/login", json={"username": "admin", "password": pw}) as r:
            token = (await r.json())["token"]
        async with session.post(f"{self.base}/api/v1/auth/password", headers={"Authorization": f"Bearer {token}"},
                                json={"current_password": pw, "new_password": BENCH_PASSWORD}) as r:
            return str((await r.json())["token"])

    async def metrics(self, session: aiohttp.ClientSession, token: str) -> dict[str, Any]:
        """Return /metrics as {series (with labels): value}."""
        async with session.get(f"{self.base}/metrics", headers={"Authorization": f"Bearer {token}"}) as r:
            text = await r.text()
        out: dict[str, Any] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out
