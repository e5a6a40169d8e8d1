"""The ``mediaserver`` command: run the server, check a config, bootstrap users and join tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from mediaserver import __version__
from mediaserver.auth import Passwords, Role, Tokens, load_or_create_secret, password_problems
from mediaserver.config import Config, ConfigError, load_config
from mediaserver.logsetup import setup_logging
from mediaserver.storage import Conflict, Database, MigrationError, Store

logger = logging.getLogger("mediaserver")

DEFAULT_CONFIG = os.environ.get("MEDIASERVER_CONFIG", "config.yaml")
EXIT_INVALID = 2


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file: exit 0 when valid, else print every problem with its path."""
    cfg = _load(args.path)
    print(f"{args.path}: OK — {len(cfg.sites)} sites, {len(cfg.rooms)} rooms, {len(cfg.cameras)} cameras, "
          f"{len(cfg.schedules)} schedules")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Start the server and serve until SIGINT/SIGTERM."""
    from mediaserver.app import create_app
    from mediaserver.tls import ssl_context

    cfg = _load(args.config)
    if args.port is not None:
        cfg.server.port = args.port
    if args.host is not None:
        cfg.server.host = args.host
    setup_logging(cfg.server.log_level, cfg.server.log_format)
    ctx = ssl_context(cfg)
    scheme = "https" if ctx else "http"
    logger.info("mediaserver %s starting on %s://%s:%d (data in %s)", __version__, scheme, cfg.server.host,
                cfg.server.port, cfg.storage.data_dir)
    if cfg.server.event_loop == "uvloop":
        import uvloop

        # uvloop's datagram path is what every forwarded RTP packet goes through: ~1.3x asyncio's rate.
        uvloop.install()
    try:
        web.run_app(
            create_app(cfg), host=cfg.server.host, port=cfg.server.port, ssl_context=ctx,
            shutdown_timeout=cfg.server.shutdown_timeout_s, print=None, access_log=None,
        )
    except (MigrationError, ValueError) as exc:
        # Start-up refusals (a newer database, a scheduled job naming an unknown action) are the
        # operator's to fix: say what, without a traceback.
        logger.error("cannot start: %s", exc)
        return 1
    logger.info("mediaserver stopped")
    return 0


async def _with_store(cfg: Config, fn: Callable[[Store], Awaitable[int]]) -> int:
    db = Database.for_config(cfg.storage)
    await db.open()
    try:
        return await fn(Store(db))
    finally:
        await db.close()


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create a staff user, reading the password from stdin or a prompt."""
    cfg = _load(args.config)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        print("no terminal to ask for the password: pipe it in with --password-stdin", file=sys.stderr)
        return EXIT_INVALID
    else:
        try:
            password = getpass.getpass(f"password for {args.username}: ")
            again = getpass.getpass("again: ")
        except (EOFError, KeyboardInterrupt):
            print("\nno password given", file=sys.stderr)
            return EXIT_INVALID
        if again != password:
            print("passwords differ", file=sys.stderr)
            return EXIT_INVALID
    problems = password_problems(password, args.username, cfg.auth.password_policy)
    if problems:
        print("password " + "; ".join(problems), file=sys.stderr)
        return EXIT_INVALID

    async def go(store: Store) -> int:
        try:
            await store.users.create(args.username, Passwords().hash_sync(password), args.role,
                                     must_change=args.must_change)
        except Conflict as exc:
            print(exc, file=sys.stderr)
            return 1
        await store.audit.add("cli", "admin", "user.create", args.username, {"role": args.role})
        print(f"created {args.role} user {args.username!r}")
        return 0

    return asyncio.run(_with_store(cfg, go))


def cmd_create_service_token(args: argparse.Namespace) -> int:
    """Make a scoped service token (e.g. for Prometheus) and print it once."""
    from mediaserver.service_tokens import ServiceTokens

    cfg = _load(args.config)

    async def go(store: Store) -> int:
        token, rec = await ServiceTokens(store).issue(args.name, args.scope, "cli", args.ttl_days)
        await store.audit.add("cli", "admin", "service_token.create", args.name, {"scope": args.scope, "id": rec.id})
        print(token)
        print(f"service token {rec.id} {args.name!r} ({args.scope}); shown once: store it now", file=sys.stderr)
        return 0

    return asyncio.run(_with_store(cfg, go))


def cmd_issue_join_token(args: argparse.Namespace) -> int:
    """Print a join token (and link) for one site to join one room."""
    cfg = _load(args.config)

    async def go(store: Store) -> int:
        from mediaserver.app import sync_config_to_index

        await sync_config_to_index(cfg, store)
        room = await store.rooms.get(args.room)
        site = await store.sites.get(args.site)
        if room is None or not room.active:
            print(f"unknown room {args.room!r}", file=sys.stderr)
            return EXIT_INVALID
        if site is None or not site.active:
            print(f"unknown site {args.site!r}", file=sys.stderr)
            return EXIT_INVALID
        if not room.all_sites and site.id not in room.site_ids and site.id != room.host_site_id:
            print(f"site {site.id!r} is not a member of room {room.id!r}", file=sys.stderr)
            return EXIT_INVALID
        tokens = Tokens(load_or_create_secret(cfg.auth, cfg.storage.data_dir), store, cfg.auth)
        ttl = args.ttl_hours * 3600 if args.ttl_hours else None
        token, _ = await tokens.issue_join(site.id, room.id, ttl, label="cli")
        await store.audit.add("cli", "admin", "room.join_token", room.id, {"site": site.id})
        scheme = "https" if cfg.server.tls.mode != "off" else "http"
        base = cfg.server.public_url or f"{scheme}://{cfg.server.host}:{cfg.server.port}"
        if args.url:
            print(f"{base.rstrip('/')}/join#token={token}")
        else:
            print(token)
        return 0

    return asyncio.run(_with_store(cfg, go))


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations and print the version."""
    cfg = _load(args.config)

    async def go(store: Store) -> int:
        print(f"{store.db.describe()}: schema version {await store.db.user_version()}")
        return 0

    try:
        return asyncio.run(_with_store(cfg, go))
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1


def cmd_copy_index(args: argparse.Namespace) -> int:
    """Copy the config's SQLite index into an empty PostgreSQL database (turning one box into a cluster)."""
    from pathlib import Path

    from mediaserver.storage.copy import CopyError, copy_index
    from mediaserver.storage.db import is_postgres_url

    if not is_postgres_url(args.to):
        print(f"--to must be a postgresql:// URL, not {args.to!r}", file=sys.stderr)
        return EXIT_INVALID
    cfg = _load(args.config)
    if cfg.storage.is_postgres():
        print("the config's index is already PostgreSQL: copy-index copies a one-box SQLite index", file=sys.stderr)
        return EXIT_INVALID

    def progress(table: str, copied: int, total: int) -> None:
        # copy_index calls this when a table starts, about once a second while it streams, and when it ends.
        print(f"  {table}: {copied} / {total} rows", file=sys.stderr)

    try:
        result = asyncio.run(copy_index(Path(cfg.storage.sqlite_path()), args.to, progress=progress))
    except CopyError as exc:
        print(f"copy-index refused: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a consistent backup of the index, keys and config (footage with --with-footage), also while running."""
    from pathlib import Path

    from mediaserver.backup import BackupError, create_backup, prune

    cfg = _load(args.config)
    try:
        result = create_backup(cfg, Path(args.config).resolve(), Path(args.dest), with_footage=args.with_footage)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    for name in result.skipped:
        print(f"skipped {name}: deleted by retention while the backup ran", file=sys.stderr)
    print(f"{result.path}: {len(result.members)} files, {result.bytes / 1e6:.1f} MB, "
          f"schema version {result.schema_version}")
    if args.keep:
        for old in prune(result.path.parent, args.keep):
            print(f"removed old backup {old}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Check a backup archive and restore its index and keys into a data dir, then migrate."""
    from pathlib import Path

    from mediaserver.backup import BackupError, restore_backup

    data_dir = Path(args.data_dir) if args.data_dir else _load(args.config).storage.data_dir
    try:
        r = restore_backup(Path(args.archive), data_dir, force=args.force,
                           config_dir=Path(args.config_dir) if args.config_dir else None)
    except (BackupError, MigrationError) as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    print(f"restored the backup of {r.created_at} into {r.data_dir}: {len(r.restored)} files, schema version "
          f"{r.schema_version_archived} -> {r.schema_version_now}")
    if r.config_dir is None:
        print("the archive's config (config/) was not restored: add --config-dir DIR to get it", file=sys.stderr)
    if r.segments_without_file:
        print(f"warning: {r.segments_without_file} indexed segments have no file under {r.data_dir}: put the "
              "footage back before starting the server (its start-up check drops index rows without files)",
              file=sys.stderr)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    """Probe the local network for ONVIF cameras (WS-Discovery) and print what answered."""
    from cameras.onvif.onboarding import discover

    target = None
    if args.target:
        host, _, port = args.target.rpartition(":")
        target = (host, int(port))
    devices = asyncio.run(discover(args.timeout, target))
    if not devices:
        print("no ONVIF device answered (cameras on another subnet need their address added by hand)")
        return 0
    for d in devices:
        where = f"{d.host}:{d.port}" if d.host else d.responder
        print(f"{where}\t{d.name or '?'}\t{d.hardware or '?'}\t{' '.join(d.xaddrs)}")
    return 0


def _vn_time(value: object, zone_name: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not isinstance(value, datetime):
        return "không có / none"
    local = value.astimezone(ZoneInfo(zone_name))
    offset = local.strftime("%z")
    return local.strftime("%H:%M:%S %d/%m/%Y") + f" (UTC{offset[:3]}:{offset[3:]})"


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a signed PDF or evidence export: who signed, when, and whether anything changed (exit 0/1/2)."""
    from pathlib import Path

    from mediaserver.config import DEFAULT_TIMEZONE
    from recordings.signing import SigningError, load_certificates, verify
    from recordings.signing.verify import USAGE_PROBLEMS

    # pyHanko logs each failed path search with a traceback; the result below says it in words.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
    zone = DEFAULT_TIMEZONE
    trust_files = [Path(p) for p in args.trust or []]
    if not trust_files and os.path.exists(args.config):
        # The office's own trust roots (signing.trust_roots) when verifying on the server itself.
        from recordings.signing.office import trust_root_files

        cfg = _load(args.config)
        # With signing.backend demo, this server's demo CA too (what the shipped config signs with).
        trust_files, zone = trust_root_files(cfg.signing, cfg.storage.data_dir), cfg.timezone
    try:
        roots = load_certificates(trust_files)
    except SigningError as exc:
        print(f"--trust: {exc.message}", file=sys.stderr)
        return EXIT_INVALID
    r = verify(Path(args.file), roots)
    if r.problem in USAGE_PROBLEMS:
        print(f"{args.file}: {r.reason('vi')} / {r.reason('en')}", file=sys.stderr)
        return EXIT_INVALID
    kind = "PDF (PAdES)" if r.kind == "pdf" else "Bản kê dữ liệu camera / CCTV evidence manifest"
    print(f"Tệp / File: {r.path}  [{kind}]")
    if r.signer is not None:
        print(f"Người ký / Signed by: {r.signer.display()}"
              f"  (CA: {r.signer.issuer_common_name or '?'}, số hiệu / serial {r.signer.serial})")
        print(f"Thời điểm ký / Signing time: {_vn_time(r.signing_time, zone)}")
        print(f"Dấu thời gian / Timestamp: {_vn_time(r.timestamp, zone)}")
    if r.manifest is not None:
        cam = r.manifest.get("camera") or {}
        rng = r.manifest.get("range") or {}
        print(f"Camera: {cam.get('name') or cam.get('id')}  {rng.get('start_local')} → {rng.get('end_local')}")
        print(f"Xuất bởi / Exported by: {r.manifest.get('exported_by')}; lý do / reason: {r.manifest.get('reason')}")
    for f in r.files:
        print(f"  {'OK ' if f.ok else 'SAI'} {f.name}  sha256 {f.expected_sha256}")
    if not r.valid:
        print(f"KẾT QUẢ: KHÔNG HỢP LỆ — {r.reason('vi')}")
        print(f"RESULT: INVALID — {r.reason('en')}")
        return 1
    print("KẾT QUẢ: HỢP LỆ — chữ ký đúng, nội dung không thay đổi sau khi ký")
    print("RESULT: VALID — the signature is sound and nothing changed since signing")
    if r.trust == "unchecked":
        print("Lưu ý: chưa kiểm tra chứng thư với CA tin cậy (thêm --trust CA.pem) / "
              "note: the certificate was not checked against trusted CAs (add --trust CA.pem)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog="mediaserver", description="District conference and CCTV media server")
    p.add_argument("--version", action="version", version=f"mediaserver {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)")
        return sp

    run = with_config(sub.add_parser("run", help="start the server"))
    run.add_argument("--host", help="override server.host")
    run.add_argument("--port", type=int, help="override server.port")
    run.set_defaults(fn=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(fn=cmd_check_config)

    cu = with_config(sub.add_parser("create-user", help="create a staff user"))
    cu.add_argument("username")
    cu.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.PARTICIPANT])
    cu.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    cu.add_argument("--must-change", action="store_true", help="force a password change at first login")
    cu.set_defaults(fn=cmd_create_user)

    st = with_config(sub.add_parser("create-service-token", help="make a scoped API token for a machine"))
    st.add_argument("name", help="what uses it, e.g. prometheus")
    st.add_argument("--scope", required=True, choices=["metrics:read", "read", "cameras:view"])
    st.add_argument("--ttl-days", type=float, help="expire after this many days (default: never)")
    st.set_defaults(fn=cmd_create_service_token)

    jt = with_config(sub.add_parser("issue-join-token", help="issue a join token for a site"))
    jt.add_argument("--room", required=True)
    jt.add_argument("--site", required=True)
    jt.add_argument("--ttl-hours", type=float, help="lifetime (default: auth.join_token_ttl_s)")
    jt.add_argument("--url", action="store_true", help="print the join link instead of the bare token")
    jt.set_defaults(fn=cmd_issue_join_token)

    dc = sub.add_parser("discover", help="find ONVIF cameras on the local network")
    dc.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers")
    dc.add_argument("--target", help="probe one HOST:PORT by unicast instead of multicast")
    dc.set_defaults(fn=cmd_discover)

    bk = with_config(sub.add_parser("backup", help="back up the index, keys and config (safe while running)"))
    bk.add_argument("dest", help="archive file to write, or a folder to put a timestamped .tar.gz in")
    bk.add_argument("--with-footage", action="store_true", help="also copy recordings, exports and snapshots")
    bk.add_argument("--keep", type=int, default=0, metavar="N",
                    help="then delete all but the newest N backups in that folder (default: keep all)")
    bk.set_defaults(fn=cmd_backup)

    rs = with_config(sub.add_parser("restore", help="check a backup archive and restore it into a data dir"))
    rs.add_argument("archive")
    rs.add_argument("--data-dir", help="folder to restore into, empty unless --force (default: the config's "
                    "storage.data_dir)")
    rs.add_argument("--force", action="store_true", help="replace the index and keys of a non-empty data dir")
    rs.add_argument("--config-dir", help="also write the archived config.yaml (and TLS files) into this folder")
    rs.set_defaults(fn=cmd_restore)

    mg = with_config(sub.add_parser("migrate", help="apply schema migrations"))
    mg.set_defaults(fn=cmd_migrate)

    ci = with_config(sub.add_parser("copy-index", help="copy the SQLite index into an empty PostgreSQL database"))
    ci.add_argument("--to", required=True, metavar="postgresql://…",
                    help="the empty PostgreSQL database the cluster will share (migrated first)")
    ci.set_defaults(fn=cmd_copy_index)

    vf = with_config(sub.add_parser("verify", help="check a signed PDF or CCTV evidence export"))
    vf.add_argument("file", help="a signed PDF, an export's .manifest.json (or .p7s), or its directory")
    vf.add_argument("--trust", action="append", metavar="CA.pem",
                    help="trusted CA certificate (repeatable; default: signing.trust_roots of the config)")
    vf.set_defaults(fn=cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    if args.command != "run":  # `run` configures logging from the config file
        setup_logging("WARNING")
    rc: int = args.fn(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
