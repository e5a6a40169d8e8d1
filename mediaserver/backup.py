"""Backup and restore of the index, the keys and the config: one .tar.gz with a manifest of SHA-256 sums.

What is in an archive (``data/`` is the data dir, ``config/`` the config file's folder):

- ``data/mediaserver.db``: a consistent copy of the SQLite index made with SQLite's online backup API while the
  server keeps writing (WAL: the copy is one read transaction; writers are never blocked);
- ``data/token-signing.key``, ``data/secrets.key`` (camera passwords are sealed with it: without it they are lost),
  ``data/tls/cert.pem`` and ``key.pem`` (the self-signed certificate), when present;
- ``config/config.yaml``, ``config/environment`` (the unit's secrets file, when beside the config), and the
  office's certificate and key (``server.tls.mode: files``) as ``config/tls/<file name>``;
- with ``with_footage``: the footage under the data dir too (recordings, meeting recordings, exports, review
  snapshots, event thumbnails). By default footage is not copied: it is large, immutable once written, and left
  on its disk or to file-level backup tools (rsync, a NAS snapshot).
- ``manifest.json`` last: format, schema version, created_at and every other member's size and SHA-256.

A restore checks the whole archive (every member's sum, nothing missing, nothing extra, no path leaving the
target) before it writes anything into the data dir, then applies pending migrations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mediaserver import __version__
from mediaserver.config import Config
from mediaserver.storage import Database
from mediaserver.storage.db import available_migrations

FORMAT = 1
MANIFEST = "manifest.json"
DB_MEMBER = "data/mediaserver.db"
KEY_FILES = ("token-signing.key", "secrets.key", "tls/cert.pem", "tls/key.pem")
# What --with-footage adds (data-dir folders); playback/ is a cache rebuilt on demand and never copied.
FOOTAGE_DIRS = ("recordings", "meetings", "exports", "review", "thumbnails")
ENVIRONMENT_FILE = "environment"
SECRET_MODE = 0o600
DIR_MODE = 0o750
CHUNK_BYTES = 1 << 20
SQLITE_TIMEOUT_S = 30.0
ARCHIVE_PREFIX = "mediaserver-backup-"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class Member:
    """One file of an archive as the manifest records it."""

    name: str
    size: int
    sha256: str


@dataclass
class BackupResult:
    """What a backup wrote."""

    path: Path
    schema_version: int
    members: list[Member] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # footage files retention removed while we copied

    @property
    def bytes(self) -> int:
        """Return the archive's size on disk."""
        return self.path.stat().st_size


@dataclass
class RestoreResult:
    """What a restore did."""

    data_dir: Path
    schema_version_archived: int
    schema_version_now: int
    created_at: str
    restored: list[str] = field(default_factory=list)
    config_dir: Path | None = None
    segments_without_file: int = 0


# --------------------------------------------------------------------------------------------- backup


def snapshot_index(db_path: Path, out: Path) -> tuple[int, str]:
    """Copy a live SQLite index to ``out`` with the online backup API; return (schema version, integrity)."""
    if not db_path.is_file():
        raise BackupError(f"no index at {db_path}: is storage.data_dir right?")
    src = sqlite3.connect(f"file:{db_path}?mode=rw", uri=True, timeout=SQLITE_TIMEOUT_S)
    try:
        dst = sqlite3.connect(out)
        try:
            # pages=-1: the whole file in one step, i.e. one read transaction — a consistent snapshot even
            # while the server commits (WAL readers never block the writer, and nothing restarts).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # a standalone file: no -wal beside it in the archive
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            verdict = str(dst.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the index {db_path}: {exc}") from exc
    finally:
        src.close()
    if verdict != "ok":
        raise BackupError(f"the index {db_path} fails SQLite's integrity check ({verdict}); not backed up")
    return version, verdict


class _HashingReader(io.RawIOBase):
    """Reads exactly ``size`` bytes of a file, hashing them, so one pass both archives and sums a member."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f, self._left, self.digest = f, size, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        want = self._left if n < 0 else min(n, self._left)
        data = self._f.read(want)
        if len(data) < want:
            raise BackupError(f"{self._f.name} shrank while being archived")
        self._left -= len(data)
        self.digest.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path, mode: int) -> Member:
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, int(os.fstat(f.fileno()).st_mtime)
        reader = _HashingReader(f, size)
        tar.addfile(info, reader)
    return Member(name, size, reader.digest.hexdigest())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _footage(data_dir: Path) -> Iterator[tuple[str, Path]]:
    for top in FOOTAGE_DIRS:
        root = data_dir / top
        for dirpath, dirnames, names in os.walk(root):
            dirnames.sort()
            for name in sorted(names):
                if name.endswith(".part") or name.endswith(".tmp"):
                    continue  # being written: the next backup (or the start-up reconciliation) has it
                p = Path(dirpath) / name
                yield str(PurePosixPath("data", p.relative_to(data_dir).as_posix())), p


def archive_path(dest: Path, now: float) -> Path:
    """Return where a backup to ``dest`` goes: inside it when it is a folder, else ``dest`` itself."""
    if dest.is_dir():
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return dest / f"{ARCHIVE_PREFIX}{stamp}.tar.gz"
    return dest


def create_backup(cfg: Config, config_path: Path, dest: Path, *, with_footage: bool = False,
                  now: float | None = None) -> BackupResult:
    """Write a consistent backup of the index, keys and config (and optionally footage) to ``dest``."""
    if cfg.storage.is_postgres():
        # The archive holds an SQLite snapshot; a shared PostgreSQL index is backed up by its own tools.
        raise BackupError("the index is a PostgreSQL database: back it up with pg_dump (e.g. pg_dump -Fc -f "
                          "mediaserver.dump <database>), and copy the data dir's keys (token-signing.key, "
                          "secrets.key, tls/) and the config yourself")
    now = time.time() if now is None else now
    out = archive_path(dest, now)
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} does not exist (create the backup folder first)")
    data_dir = cfg.storage.data_dir
    members: list[Member] = []
    skipped: list[str] = []
    fd, tmp_name = tempfile.mkstemp(prefix=".backup-", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, SECRET_MODE)  # the archive holds the keys
        with tempfile.TemporaryDirectory(prefix=".backup-db-", dir=out.parent) as work, \
                os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
            db_copy = Path(work) / "mediaserver.db"
            version, _ = snapshot_index(cfg.storage.sqlite_path(), db_copy)
            members.append(_add(tar, DB_MEMBER, db_copy, SECRET_MODE))
            for rel in KEY_FILES:
                if (data_dir / rel).is_file():
                    members.append(_add(tar, f"data/{rel}", data_dir / rel, SECRET_MODE))
            members.append(_add(tar, "config/config.yaml", config_path, 0o640))
            env = config_path.parent / ENVIRONMENT_FILE
            if env.is_file():
                members.append(_add(tar, f"config/{ENVIRONMENT_FILE}", env, SECRET_MODE))
            tls = cfg.server.tls
            if tls.mode == "files" and tls.cert_file is not None and tls.key_file is not None:
                members.append(_add(tar, f"config/tls/{tls.cert_file.name}", tls.cert_file, 0o644))
                members.append(_add(tar, f"config/tls/{tls.key_file.name}", tls.key_file, SECRET_MODE))
            if with_footage:
                for name, path in _footage(data_dir):
                    try:
                        members.append(_add(tar, name, path, 0o640))
                    except FileNotFoundError:
                        skipped.append(name)  # retention deleted it between listing and reading
            manifest = {
                "format": FORMAT,
                "created_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
                "mediaserver_version": __version__,
                "schema_version": version,
                "source_data_dir": str(data_dir),
                "with_footage": with_footage,
                "members": [{"name": m.name, "size": m.size, "sha256": m.sha256} for m in members],
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(out, version, members, skipped)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups this command wrote in ``folder``; return what was deleted."""
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*.tar.gz"))
    gone = archives[:-keep] if keep > 0 else []
    for p in gone:
        p.unlink()
    return gone


# -------------------------------------------------------------------------------------------- restore


def _safe_name(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] not in ("data", "config") or len(p.parts) < 2:
        raise BackupError(f"the archive has a member {name!r} outside data/ and config/: refused")
    return p


def _damaged(archive: Path, exc: BaseException) -> BackupError:
    return BackupError(f"{archive} is damaged or not a mediaserver backup ({type(exc).__name__}: {exc}); "
                       "nothing was restored")


def verify_and_extract(archive: Path, into: Path) -> dict[str, Any]:
    """Extract ``archive`` into the empty folder ``into``, checking every member against the manifest."""
    sums: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for info in tar:
                if info.name == MANIFEST:
                    f = tar.extractfile(info)
                    assert f is not None
                    manifest = json.loads(f.read())
                    continue
                if not info.isfile():
                    raise BackupError(f"the archive has a non-file member {info.name!r}: refused")
                rel = _safe_name(info.name)
                src = tar.extractfile(info)
                assert src is not None
                target = into.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
                digest = hashlib.sha256()
                with target.open("wb") as out:
                    os.fchmod(out.fileno(), info.mode & 0o777 or SECRET_MODE)
                    while chunk := src.read(CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
                sums[info.name] = (info.size, digest.hexdigest())
            # tarfile stops at the first unreadable header as if the archive ended: reading the gzip
            # stream to its end is what checks its CRC (a flipped byte anywhere is found).
            while gz.read(CHUNK_BYTES):
                pass
    except BackupError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _damaged(archive, exc) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), list):
        raise BackupError(f"{archive} has no manifest: damaged, or not a mediaserver backup; nothing was restored")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is backup format {manifest.get('format')!r}; this program reads {FORMAT}")
    listed = {str(m["name"]): (int(m["size"]), str(m["sha256"])) for m in manifest["members"]}
    for name, want in listed.items():
        got = sums.get(name)
        if got is None:
            raise BackupError(f"{archive}: {name} is in the manifest but not in the archive; nothing was restored")
        if got != want:
            raise BackupError(f"{archive}: {name} does not match its SHA-256 in the manifest (damaged); "
                              "nothing was restored")
    extra = sorted(set(sums) - set(listed))
    if extra:
        raise BackupError(f"{archive}: {extra[0]} is not in the manifest; nothing was restored")
    if DB_MEMBER not in listed:
        raise BackupError(f"{archive} holds no index ({DB_MEMBER}); nothing was restored")
    return manifest


def _segments_without_file(db: Path, data_dir: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        paths = [str(r[0]) for r in conn.execute("SELECT path FROM recording_segments")]
    finally:
        conn.close()
    return sum(1 for p in paths if not (data_dir / p).is_file())


def _chown_like(path: Path, ref: Path) -> None:
    if os.geteuid() == 0:  # restored by root for a service user: the files must stay that user's
        st = ref.stat()
        os.chown(path, st.st_uid, st.st_gid)


def restore_backup(archive: Path, data_dir: Path, *, force: bool = False,
                   config_dir: Path | None = None) -> RestoreResult:
    """Check ``archive`` and restore its index and keys into ``data_dir`` (config into ``config_dir``)."""
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupError(f"{data_dir} is not a folder")
    if data_dir.is_dir() and any(data_dir.iterdir()) and not force:
        raise BackupError(f"{data_dir} is not empty: restore into an empty folder, or add --force to replace its "
                          "index and keys (footage there is kept)")
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))  # same file system: renames are atomic
    try:
        manifest = verify_and_extract(archive, work)
        archived = int(manifest.get("schema_version", 0))
        shipped = len(available_migrations())
        if archived > shipped:
            raise BackupError(f"the backup's index has schema version {archived}, newer than this program's "
                              f"{shipped}: install the mediaserver version that made it "
                              f"({manifest.get('mediaserver_version')})")
        restored: list[str] = []
        # A -wal/-shm left by the old index would be replayed into the restored one: remove them first.
        for suffix in ("-wal", "-shm", "-journal"):
            (data_dir / f"mediaserver.db{suffix}").unlink(missing_ok=True)
        for src in sorted(p for p in (work / "data").rglob("*") if p.is_file()):
            rel = src.relative_to(work / "data")
            dst = data_dir / rel
            for parent in reversed(rel.parents[:-1]):
                if not (data_dir / parent).is_dir():
                    (data_dir / parent).mkdir(mode=DIR_MODE)
                    _chown_like(data_dir / parent, data_dir)
            os.replace(src, dst)
            _chown_like(dst, data_dir)
            restored.append(str(rel))
        if config_dir is not None and (work / "config").is_dir():
            config_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            for src in sorted(p for p in (work / "config").rglob("*") if p.is_file()):
                dst = config_dir / src.relative_to(work / "config")
                dst.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
                shutil.move(src, dst)
                restored.append(f"config: {dst}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    db_path = data_dir / "mediaserver.db"
    now_version = asyncio.run(_migrate(db_path))
    for side in ("", "-wal", "-shm"):
        if (data_dir / f"mediaserver.db{side}").exists():
            _chown_like(data_dir / f"mediaserver.db{side}", data_dir)
    return RestoreResult(data_dir, archived, now_version, str(manifest.get("created_at", "?")), restored, config_dir,
                         _segments_without_file(db_path, data_dir))


async def _migrate(db_path: Path) -> int:
    db = Database(db_path)
    await db.open()
    try:
        return await db.user_version()
    finally:
        await db.close()


__all__ = ["BackupError", "BackupResult", "RestoreResult", "create_backup", "prune", "restore_backup",
           "snapshot_index", "verify_and_extract"]
