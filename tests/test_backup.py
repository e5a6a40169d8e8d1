"""Backup while a camera records, restore into a fresh data dir, and a server there serves the restored footage."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tarfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from cameras.simulator.rtsp import RtspServerProcess
from tests.test_server_process import NEW_PASSWORD, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CAMERA = "kho"
SEGMENT_S = 2


def camera_server(tmp: Path, rtsp_url: str) -> Server:
    """A server process recording one simulated camera continuously in 2 s segments."""
    tmp.mkdir()
    srv = Server(tmp)
    cfg = yaml.safe_load(srv.config.read_text())
    cfg["cameras"] = {CAMERA: {"name": "Kho", "streams": {"main_url": rtsp_url}}}
    cfg["recording"] = {"mode": "continuous", "segment_seconds": SEGMENT_S}
    cfg["motion"] = {"enabled": False}
    srv.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return srv


def segments(srv: Server) -> list[dict[str, object]]:
    status, body = srv.request("GET", f"/api/v1/recordings?camera_id={CAMERA}&since=0&until={time.time() + 60}")
    assert status == 200, body
    return list(body["items"])


def wait_segments(srv: Server, n: int, wait_s: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + wait_s
    while len(items := segments(srv)) < n:
        assert time.monotonic() < deadline, f"fewer than {n} segments in {wait_s} s"
        time.sleep(0.3)
    return items


def raw_get(srv: Server, path: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}{path}",
                                 headers={"Authorization": f"Bearer {srv.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


async def test_backup_while_recording_restores_into_a_fresh_data_dir(
        tmp_path: Path, rtsp: RtspServerProcess) -> None:
    a = camera_server(tmp_path / "a", rtsp.url("/main"))
    b: Server | None = None
    try:
        a.start()
        a.login_admin()
        old_token = a.token
        wait_segments(a, 2)
        out = tmp_path / "backups"
        out.mkdir()
        made = a.cli("backup", str(out))  # while the recorder keeps committing segments
        assert made.returncode == 0, made.stderr
        archive = next(out.glob("mediaserver-backup-*.tar.gz"))
        assert archive.stat().st_mode & 0o777 == 0o600  # it holds the keys
        backed_up = segments(a)  # a superset of what the snapshot holds
        wait_segments(a, len(backed_up) + 1)  # recording went on during and after the backup
        assert a.stop() == 0

        with tarfile.open(archive) as tar:
            names = tar.getnames()
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert {"data/mediaserver.db", "data/token-signing.key", "config/config.yaml"} <= set(names)
        assert not any(n.startswith("data/recordings/") for n in names), "footage is not copied by default"
        assert manifest["schema_version"] >= 12 and manifest["created_at"].endswith("+00:00")
        assert {m["name"] for m in manifest["members"]} == set(names) - {"manifest.json"}

        # A damaged archive (one byte flipped in the middle) is refused before anything is written.
        bad = tmp_path / "bad.tar.gz"
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
        refused = a.cli("restore", str(bad), "--data-dir", str(tmp_path / "bad-target"))
        assert refused.returncode == 1
        assert "damaged" in refused.stderr and "nothing was restored" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (tmp_path / "bad-target" / "mediaserver.db").exists()

        b = camera_server(tmp_path / "b", rtsp.url("/main"))
        target = b.dir / "data"
        restored = b.cli("restore", str(archive), "--data-dir", str(target))
        assert restored.returncode == 0, restored.stderr
        assert "put the footage back" in restored.stderr  # the index names segments the fresh dir lacks
        again = b.cli("restore", str(archive), "--data-dir", str(target))
        assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr
        assert (target / "token-signing.key").read_bytes() == (a.dir / "data" / "token-signing.key").read_bytes()
        shutil.copytree(a.dir / "data" / "recordings", target / "recordings")  # footage: file-level copy

        b.start()
        assert b.request("GET", "/api/v1/auth/me", token=old_token)[0] == 200, "restored signing key and tokens"
        status, body = b.request("POST", "/api/v1/auth/login", {"username": "admin", "password": NEW_PASSWORD})
        assert status == 200, body  # the admin's changed password came back with the index
        b.token = body["token"]
        assert not (target / "initial-admin-password.txt").exists(), "no new bootstrap admin on a restored index"
        now_items = {s["id"]: s for s in segments(b)}
        for seg in backed_up[:-1]:  # the last may have been committed just after the snapshot
            assert now_items.get(seg["id"]) == seg, seg
        status, mp4 = raw_get(b, f"/api/v1/recordings/{backed_up[0]['id']}/file")
        assert status == 200 and mp4[4:8] == b"ftyp"
        day = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
        status, timeline = b.request("GET", f"/api/v1/timeline?camera_id={CAMERA}&date={day}")
        assert status == 200 and timeline["spans"], timeline
        assert b.stop() == 0
    finally:
        a.kill()
        if b is not None:
            b.kill()
