"""Backup while a camera records, restore into a fresh data dir, and a server there serves the restored footage."""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import io
import json
import os
import pwd
import shutil
import tarfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.backup import BackupError, create_backup, restore_backup
from mediaserver.config import Config
from mediaserver.storage import Database
from tests.test_server_process import NEW_PASSWORD, Server

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


@pytest.mark.slow
@pytest.mark.timeout(120)
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


# ------------------------------------------------------------------ the archive's checks, without a server


@pytest.fixture
async def indexed(config: Config, tmp_path: Path) -> tuple[Config, Path]:
    """A data dir with a migrated index, both keys and one footage file; the config file beside it."""
    db = Database(config.storage.sqlite_path())
    await db.open()
    await db.close()
    data = config.storage.data_dir
    (data / "token-signing.key").write_text("ab" * 32)
    (data / "secrets.key").write_bytes(b"fernet-key")
    seg = data / "recordings" / "kho" / "2026-12-07" / "02" / "kho-main-20261207T020000_000Z.mp4"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"\0\0\0\x18ftypmp42" + b"x" * 1000)
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text("storage: {data_dir: ./data}\n")
    return config, cfg_file


def _rewrite(archive: Path, out: Path, change: dict[str, bytes]) -> None:
    """Copy an archive as a valid .tar.gz with some members' bytes replaced (or added)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for info in src.getmembers():
            data = change.pop(info.name, None)
            body = src.extractfile(info).read() if data is None else data  # type: ignore[union-attr]
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body))
        for name, body in change.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body))


async def test_a_tampered_or_foreign_archive_is_refused(indexed: tuple[Config, Path], tmp_path: Path) -> None:
    cfg, cfg_file = indexed
    archive = (await asyncio.to_thread(create_backup, cfg, cfg_file, tmp_path / "b.tar.gz")).path
    cases = {
        "swapped.tar.gz": ({"data/secrets.key": b"another key"}, "does not match its SHA-256"),
        "extra.tar.gz": ({"data/evil.key": b"x"}, "is not in the manifest"),
        "escape.tar.gz": ({"data/../../etc/cron.d/x": b"x"}, "outside data/ and config/"),
        "newer.tar.gz": ({"manifest.json": json.dumps({**_manifest(archive), "schema_version": 999}).encode()},
                         "newer than this program"),
    }
    for name, (change, message) in cases.items():
        _rewrite(archive, tmp_path / name, dict(change))
        with pytest.raises(BackupError, match=message):
            await asyncio.to_thread(restore_backup, tmp_path / name, tmp_path / f"target-{name}")
        assert not (tmp_path / f"target-{name}" / "mediaserver.db").exists(), name
    (tmp_path / "not-gzip.tar.gz").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(BackupError, match="damaged or not a mediaserver backup"):
        await asyncio.to_thread(restore_backup, tmp_path / "not-gzip.tar.gz", tmp_path / "t2")


def _manifest(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as tar:
        return dict(json.loads(tar.extractfile("manifest.json").read()))  # type: ignore[union-attr]


async def test_with_footage_and_force_keep_what_is_there(indexed: tuple[Config, Path], tmp_path: Path) -> None:
    cfg, cfg_file = indexed
    data = cfg.storage.data_dir
    tls = tmp_path / "office-tls"
    tls.mkdir()
    (tls / "fullchain.pem").write_text("CERT")
    (tls / "privkey.pem").write_text("KEY")
    cfg.server.tls.mode, cfg.server.tls.cert_file, cfg.server.tls.key_file = (
        "files", tls / "fullchain.pem", tls / "privkey.pem")
    full = await asyncio.to_thread(create_backup, cfg, cfg_file, tmp_path / "full.tar.gz", with_footage=True)
    assert {"config/tls/fullchain.pem", "config/tls/privkey.pem", "data/secrets.key"} <= {m.name for m in full.members}
    seg = next(m.name for m in full.members if m.name.startswith("data/recordings/"))
    target = tmp_path / "restored"
    r = await asyncio.to_thread(restore_backup, full.path, target, config_dir=tmp_path / "etc")
    assert (target / seg.removeprefix("data/")).read_bytes() == (data / seg.removeprefix("data/")).read_bytes()
    assert (tmp_path / "etc" / "config.yaml").read_text() == cfg_file.read_text()
    assert (tmp_path / "etc" / "tls" / "privkey.pem").read_text() == "KEY"
    assert (tmp_path / "etc" / "tls" / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (target / "secrets.key").stat().st_mode & 0o777 == 0o600
    assert r.schema_version_now == r.schema_version_archived
    # --force over a data dir in use: a stale WAL is removed (it would be replayed into the restored index),
    # footage the archive does not hold stays, and the dir's owner keeps owning what was restored.
    small = await asyncio.to_thread(create_backup, cfg, cfg_file, tmp_path / "small.tar.gz")
    (target / "mediaserver.db-wal").write_bytes(b"stale")
    (target / "recordings" / "later.mp4").write_bytes(b"kept")
    uid, gid = pwd.getpwnam("daemon").pw_uid, grp.getgrnam("daemon").gr_gid
    os.chown(target, uid, gid)
    with pytest.raises(BackupError, match="not empty"):
        await asyncio.to_thread(restore_backup, small.path, target)
    await asyncio.to_thread(restore_backup, small.path, target, force=True)
    assert (target / "recordings" / "later.mp4").read_bytes() == b"kept"
    assert not (target / "mediaserver.db-wal").exists() or (target / "mediaserver.db-wal").read_bytes() != b"stale"
    if os.geteuid() == 0:
        assert {(p.stat().st_uid, p.stat().st_gid) for p in (target / "mediaserver.db", target / "secrets.key")} \
            == {(uid, gid)}
