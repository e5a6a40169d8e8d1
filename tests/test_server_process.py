"""The real server process: start-up, SIGTERM and SIGKILL, restarts, the scheduler across downtime, the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 30.0
NEW_PASSWORD = "Quan-Tri-Huyen-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sqlite_cli(db: Path, sql: str) -> str:
    """Run SQL with the sqlite3 command-line tool: an independent reader of the index."""
    return subprocess.run(["sqlite3", str(db), sql], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


class Server:
    """One `mediaserver run` process on a free loopback port with its own data dir."""

    def __init__(self, tmp: Path, with_cameras: bool = False, **server_overrides: Any) -> None:
        self.dir = tmp
        self.port = free_port()
        cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
        if not with_cameras:
            cfg["cameras"] = {}
            cfg.pop("camera_groups", None)  # the shipped groups name the shipped cameras
        cfg["storage"]["data_dir"] = str(tmp / "data")
        cfg["auth"].pop("token_secret", None)
        cfg["server"].update(server_overrides)
        self.scheme = "https" if cfg["server"]["tls"]["mode"] != "off" else "http"
        self.config = tmp / "config.yaml"
        self.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        self.db = tmp / "data" / "mediaserver.db"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "server.log"
        self.token = ""

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mediaserver.cli", *args, "-c", str(self.config)],
                              input=stdin, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mediaserver.cli", "run", "-c", str(self.config), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes its simulator children too
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server not healthy in {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.scheme}://127.0.0.1:{self.port}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token or self.token:
            req.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ssl_context()) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def ssl_context(self) -> ssl.SSLContext | None:
        """Trust exactly the server's own self-signed certificate, once it exists."""
        cert = self.dir / "data" / "tls" / "cert.pem"
        if self.scheme != "https" or not cert.exists():
            return None
        return ssl.create_default_context(cafile=str(cert))

    def login_admin(self) -> None:
        """Log in as the bootstrap admin, changing the one-time password on first use."""
        status, body = self.request("POST", "/api/v1/auth/login", {"username": "admin", "password": NEW_PASSWORD})
        if status == 200:
            self.token = body["token"]
            return
        user, password = (self.dir / "data" / "initial-admin-password.txt").read_text().split()
        status, body = self.request("POST", "/api/v1/auth/login", {"username": user, "password": password})
        assert status == 200, body
        status, body = self.request("POST", "/api/v1/auth/password",
                                    {"current_password": password, "new_password": NEW_PASSWORD}, body["token"])
        assert status == 200, body
        self.token = body["token"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        return rc

    def kill(self) -> None:
        """Kill the server and whatever it started (simulators) after a failed test."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    try:
        yield srv
    finally:
        srv.kill()


def hammer(srv: Server, stop: threading.Event, acked: list[str]) -> None:
    """Create sites as fast as the server accepts them, remembering each one it acknowledged."""
    i = 0
    while not stop.is_set():
        i += 1
        try:
            status, _ = srv.request("POST", "/api/v1/sites", {"id": f"load-{i}", "name": f"Điểm {i}"})
        except OSError:
            return
        if status == 201:
            acked.append(f"load-{i}")


def stop_under_load(server: Server, sig: int) -> tuple[int, list[str]]:
    """Start the server, write to it from a thread for a second, stop it with ``sig`` mid-write."""
    server.start()
    server.login_admin()
    stop, acked = threading.Event(), []  # type: ignore[var-annotated]
    t = threading.Thread(target=hammer, args=(server, stop, acked))
    t.start()
    time.sleep(1.0)
    rc = server.stop(sig)
    stop.set()
    t.join(10)
    return rc, acked


def test_serves_health_and_stops_cleanly_on_sigterm(server: Server) -> None:
    rc, acked = stop_under_load(server, signal.SIGTERM)
    assert rc == 0, server.log.read_text()
    log = server.log.read_text()
    assert "scheduler stopped" in log and "index closed" in log
    assert len(acked) > 5
    assert sqlite_cli(server.db, "PRAGMA integrity_check") == "ok"
    # A clean stop checkpoints the WAL into the main file.
    wal = server.db.with_name(server.db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    stored = set(sqlite_cli(server.db, "SELECT id FROM sites WHERE id LIKE 'load-%'").split())
    assert set(acked) <= stored


def test_sigkill_mid_write_leaves_a_consistent_index(server: Server) -> None:
    _, acked = stop_under_load(server, signal.SIGKILL)
    assert len(acked) > 5
    assert sqlite_cli(server.db, "PRAGMA integrity_check") == "ok"
    assert sqlite_cli(server.db, "PRAGMA foreign_key_check") == ""
    stored = set(sqlite_cli(server.db, "SELECT id FROM sites WHERE id LIKE 'load-%'").split())
    assert set(acked) <= stored  # every acknowledged write survived the kill
    server.start()  # and the server comes back on the same files
    server.login_admin()
    assert server.request("GET", "/readyz")[0] == 200


def test_scheduler_keeps_jobs_across_restarts_and_applies_the_late_run_rule(server: Server) -> None:
    server.start()
    server.login_admin()
    for job in ({"id": "hourly", "kind": "interval", "spec": "3600", "grace_s": 600},
                {"id": "nightly", "kind": "cron", "spec": "30 1 * * *", "grace_s": 600}):
        status, body = server.request("POST", "/api/v1/schedules", {**job, "action": "index.maintenance"})
        assert status == 201, body
    before = sqlite_cli(server.db, "SELECT id, next_run_at FROM jobs WHERE id IN ('hourly', 'nightly') ORDER BY id")
    assert server.stop() == 0
    server.start()
    assert sqlite_cli(server.db, "SELECT id, next_run_at FROM jobs WHERE id IN ('hourly', 'nightly') "
                      "ORDER BY id") == before
    assert server.stop() == 0

    # Simulate downtime: 'hourly' fell due 120 s ago (within its 600 s grace), 'nightly' 5000 s ago (past it).
    now = time.time()
    sqlite_cli(server.db, f"UPDATE jobs SET next_run_at = {now - 120} WHERE id = 'hourly';"
                          f"UPDATE jobs SET next_run_at = {now - 5000} WHERE id = 'nightly';")
    server.start()
    server.login_admin()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        runs = {j: server.request("GET", f"/api/v1/schedules/{j}/runs")[1]["items"] for j in ("hourly", "nightly")}
        if runs["hourly"] and runs["hourly"][0]["outcome"] != "running":
            break
        time.sleep(0.1)
    [late] = runs["hourly"]
    assert late["outcome"] == "ok" and 115 <= late["late_s"] <= 150
    [missed] = runs["nightly"]
    assert missed["outcome"] == "missed"
    jobs = {j["id"]: j for j in server.request("GET", "/api/v1/schedules")[1]["items"]}
    for j in ("hourly", "nightly"):
        next_at = sqlite_cli(server.db, f"SELECT next_run_at FROM jobs WHERE id = '{j}'")
        assert float(next_at) > now, jobs[j]


def test_cli_bootstraps_users_and_join_tokens(server: Server) -> None:
    r = server.cli("create-user", "baove", "--role", "security", "--password-stdin", stdin="Bao-Ve-Camera-1\n")
    assert r.returncode == 0, r.stderr
    r = server.cli("create-user", "yeu", "--role", "operator", "--password-stdin", stdin="123\n")
    assert r.returncode != 0 and "at least 10" in r.stderr
    r = server.cli("create-user", "khongtty", "--role", "operator", stdin="")  # no terminal, no --password-stdin
    assert r.returncode != 0 and "--password-stdin" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = server.cli("issue-join-token", "--room", "hop-huyen", "--site", "xa-tan-lap")
    assert r.returncode == 0, r.stderr
    join = r.stdout.strip()
    r = server.cli("create-service-token", "prometheus", "--scope", "metrics:read")
    assert r.returncode == 0 and "shown once" in r.stderr, r.stderr
    scrape_token = r.stdout.strip()
    r = server.cli("issue-join-token", "--room", "hop-huyen", "--site", "nowhere")
    assert r.returncode != 0 and "unknown site" in r.stderr
    server.start()
    status, me = server.request("GET", "/api/v1/auth/me", token=join)
    assert status == 200 and me["site_id"] == "xa-tan-lap" and me["role"] == "participant"
    assert server.request("GET", "/api/v1/cameras", token=join)[0] == 403
    status, body = server.request("POST", "/api/v1/auth/login", {"username": "baove", "password": "Bao-Ve-Camera-1"})
    assert status == 200 and body["role"] == "security"
    assert server.request("GET", "/api/v1/rooms", token=body["token"])[0] == 403
    assert server.request("GET", "/api/v1/cameras", token=body["token"])[0] == 200
    assert server.request("GET", "/api/v1/cameras", token=scrape_token)[0] == 403  # metrics only
    scrape = urllib.request.Request(f"{server.scheme}://127.0.0.1:{server.port}/metrics",
                                    headers={"Authorization": f"Bearer {scrape_token}"})
    with urllib.request.urlopen(scrape, timeout=10) as r:  # as Prometheus' bearer_token_file scrape does
        assert r.status == 200 and b"mediaserver_" in r.read()


def test_initial_admin_password_is_never_logged(server: Server) -> None:
    server.start()
    _, password = (server.dir / "data" / "initial-admin-password.txt").read_text().split()
    assert (server.dir / "data" / "initial-admin-password.txt").stat().st_mode & 0o077 == 0
    assert password not in server.log.read_text()
    assert "initial-admin-password.txt" in server.log.read_text()


def test_https_with_a_self_signed_certificate_and_json_logs(tmp_path: Path) -> None:
    srv = Server(tmp_path, tls={"mode": "self_signed", "self_signed_hostnames": ["127.0.0.1", "localhost"]},
                 log_format="json")
    try:
        srv.start()
        # The certificate generated on first run verifies for 127.0.0.1 (SAN), and the key is private.
        assert srv.request("GET", "/healthz")[0] == 200
        assert (tmp_path / "data" / "tls" / "key.pem").stat().st_mode & 0o077 == 0
        assert srv.stop() == 0
    finally:
        srv.kill()
    lines = [json.loads(line) for line in srv.log.read_text().splitlines() if line.strip()]
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    assert any("index closed" in line["msg"] for line in lines)


def test_refuses_to_start_on_a_newer_database(server: Server) -> None:
    server.db.parent.mkdir(parents=True)
    sqlite_cli(server.db, "PRAGMA user_version = 999;")
    proc = subprocess.run([sys.executable, "-m", "mediaserver.cli", "run", "-c", str(server.config), "--port",
                           str(server.port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "newer than this program" in proc.stderr and "Traceback" not in proc.stderr


def test_shipped_config_brings_its_simulated_cameras_online(tmp_path: Path) -> None:
    srv = Server(tmp_path, with_cameras=True)
    try:
        srv.start()
        srv.login_admin()
        assert srv.proc is not None
        group = srv.proc.pid  # its own process group (start_new_session): the simulators it starts join it
        # First start: the simulators draw their photo scenes' pictures once (cached), slower on a loaded box.
        deadline = time.monotonic() + 60
        while True:
            cams = srv.request("GET", "/api/v1/cameras")[1]["items"]
            states = {c["id"]: {s: v["state"] for s, v in (c["status"] or {}).get("streams", {}).items()}
                      for c in cams}
            if len(cams) == 3 and all(s == {"main": "online", "sub": "online"} for s in states.values()):
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.5)
        assert srv.stop() == 0
    finally:
        srv.kill()
    # A clean stop also stopped every simulator process it started (other tests' simulators do not count).
    ps = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout.splitlines()
    left = [line for line in ps if line.split(None, 1)[0] == str(group) and "rtsp_server.py" in line]
    assert not left, left
