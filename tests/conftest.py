"""Shared fixtures: the shipped config pointed at a temporary data dir, and real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aioice import ice as aioice_ice
from argon2 import PasswordHasher

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app import create_app
from mediaserver.app_keys import PASSWORDS_KEY, STORE_KEY
from mediaserver.auth import Passwords
from mediaserver.config import Config, load_config
from tests.pg import SKIP_ENV, PgCluster, PostgresUnavailable, build_template, start_cluster

ROOT = Path(__file__).resolve().parent.parent
STRONG_PASSWORD = "Kiem-Tra-2026!"


@dataclass
class FakeClock:
    """A wall clock tests can move forward."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


def fast_passwords() -> Passwords:
    # Still Argon2id, with a smaller memory cost so the suite's many logins stay quick.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


@pytest.fixture(autouse=True)
def _fresh_aioice_mdns_lock() -> None:
    """Give every test a fresh aioice mDNS lock.

    aioice guards its one mDNS socket with an asyncio.Lock in a module global; the lock binds to the first event
    loop that waits on it, so in a later test (a new loop) browser answers resolving ``.local`` candidates at once
    made it raise "bound to a different event loop", which the camera wall got as a 422 ``bad_sdp``. A server
    process has one loop: only tests meet this. (The socket itself is left alone: closing a transport of a
    closed loop raises.)
    """
    if hasattr(aioice_ice._mdns, "lock"):
        aioice_ice._mdns.lock = asyncio.Lock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The shipped config.yaml with its data dir in tmp_path."""
    cfg = load_config(ROOT / "config.yaml", env={})
    cfg.storage.data_dir = tmp_path / "data"
    # The shipped simulated cameras are real processes: only the camera tests start them.
    cfg.cameras.clear()
    return cfg


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Api:
    """A client for one running app, with helpers to make users and log in."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.app: web.Application = client.server.app  # type: ignore[assignment]

    async def add_user(self, username: str, role: str, password: str = STRONG_PASSWORD,
                       must_change: bool = False) -> None:
        pw_hash = await self.app[PASSWORDS_KEY].hash(password)
        await self.app[STORE_KEY].users.create(username, pw_hash, role, must_change)

    async def login(self, username: str, password: str = STRONG_PASSWORD) -> str:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])

    async def token_for(self, role: str) -> str:
        await self.add_user(f"{role}-user", role)
        return await self.login(f"{role}-user")

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(aiohttp_client: Any, config: Config, clock: FakeClock) -> ApiFactory:
    """Start the real app on a loopback port; keyword arguments tweak the config first."""

    async def make(cfg: Config | None = None) -> Api:
        app = create_app(cfg or config, clock=clock, passwords=fast_passwords())
        return Api(await aiohttp_client(app))

    return make


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    return await make_api()


def one_mount_spec(fps: int = 10) -> dict[str, Any]:
    """Return an unauthenticated camera with one small /main mount (keyframe every second)."""
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": 320, "height": 180, "fps": fps, "gop": fps, "bitrate_kbps": 300,
                        "scene": {"kind": "scene", "noise": 4, "background": 80}}]}


@pytest.fixture
async def rtsp() -> AsyncIterator[RtspServerProcess]:
    """A real RTSP simulator process serving ``one_mount_spec()`` (a test module may override it)."""
    server = RtspServerProcess(one_mount_spec())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ------------------------------------------------------------------------------ PostgreSQL (tests/pg.py)

ENGINES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster per test process (per xdist worker); a failure to start FAILS the tests."""
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"PostgreSQL tests skipped: {SKIP_ENV}=skip")
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL test cluster: {exc}", pytrace=False)
    try:
        build_template(cluster)
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database with every migration applied (dropped after the test)."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture
def pg_empty_url(pg_cluster: PgCluster) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database (for migration tests)."""
    url = pg_cluster.create_database(migrated=False)
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_target(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the test's index lives on its engine: an SQLite file, or a migrated PostgreSQL database's URL."""
    if engine == "sqlite":
        return tmp_path / "index.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def empty_db_target(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Like ``db_target``, but an empty database (no migration applied yet)."""
    if engine == "sqlite":
        return tmp_path / "index.db"
    return str(request.getfixturevalue("pg_empty_url"))
