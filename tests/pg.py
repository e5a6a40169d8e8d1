"""A throwaway PostgreSQL cluster for the tests: Debian's postgresql, started by the test run itself.

One cluster per test process (each pytest-xdist worker has its own), in a temp dir, on a free port on
127.0.0.1, with fsync off. It runs as an unprivileged user: PostgreSQL refuses to run as root, and CI runs the
tests as root, so then the cluster's files belong to ``nobody`` and initdb/postgres run with that uid.
Each test gets its own database, copied from a template that already holds every migration (fast), or an
empty one for the migration tests.

If PostgreSQL cannot be started the tests that need it FAIL. Locally, MEDIASERVER_TEST_POSTGRES=skip turns
them into skips, reported as such.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SKIP_ENV = "MEDIASERVER_TEST_POSTGRES"
START_TIMEOUT_S = 60.0
TEMPLATE = "mediaserver_template"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The test cluster could not be started."""


def postgres_bindir() -> Path:
    """Return the directory of initdb and postgres: Debian keeps them in /usr/lib/postgresql/<major>/bin."""
    # Debian's postgresql package puts no server binary on PATH (only the client wrappers): look where it installs.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (install Debian's postgresql package: "
                              "bash scripts/install-system-deps.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running throwaway cluster."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, dbname: str) -> str:
        """Return the URL of one of the cluster's databases (as ``storage.database_url`` takes it)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        """Run one statement on the maintenance database (CREATE/DROP DATABASE)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, *, migrated: bool = True) -> str:
        """Create a fresh database (every migration applied, or empty) and return its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {template}")  # ~50 ms for the migrated template
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database (its connections are closed by then; FORCE ends any left over)."""
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (immediate: nothing here needs to survive) and delete its files."""
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown; immediate below if it lingers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """Return the server's log (for a failure message)."""
        try:
            return (self.root / "postgres.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def start_cluster() -> PgCluster:
    """Initialise and start a cluster in a new temp dir; raise PostgresUnavailable with the reason."""
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="mediaserver-pg-"))
    user: int | None = None
    group: int | None = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user, group = nobody.pw_uid, nobody.pw_gid
        os.chown(root, user, group)
    data = root / "data"
    as_user = {"user": user, "group": group, "extra_groups": [] if user is not None else None, "cwd": root}
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--no-sync",
         "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
        capture_output=True, timeout=START_TIMEOUT_S, **as_user)  # type: ignore[arg-type]
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")
    for attempt in range(3):
        port = _free_port()
        log = open(root / "postgres.log", "ab")  # noqa: SIM115  # the server writes it until stop()
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={root}", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=150", "-c", "shared_buffers=32MB"],
            stdout=log, stderr=subprocess.STDOUT, **as_user)  # type: ignore[arg-type]
        log.close()
        cluster = PgCluster(root, port, proc)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with psycopg.connect(cluster.url("postgres"), connect_timeout=2):
                    return cluster
            except psycopg.OperationalError:
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if "could not bind" not in cluster.log() or attempt == 2:
            reason = cluster.log()
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(f"postgres did not start: {reason}")
    raise AssertionError("unreachable")


def build_template(cluster: PgCluster) -> None:
    """Create the template database with every migration applied by the storage layer itself."""
    from mediaserver.storage import Database

    cluster.admin(f"CREATE DATABASE {TEMPLATE}")

    async def migrate() -> None:
        db = Database(cluster.url(TEMPLATE))
        await db.open()
        await db.close()

    asyncio.run(migrate())
