"""Try a 40-site HD meeting on this machine: ``make try-40`` (or ``python -m benchmarks.try40``).

Two ways:

- ``make try-40 URL=http://127.0.0.1:8080`` joins a server you started with ``make run``: it logs in
  (``TRY40_USER``, default ``admin``; the password from ``TRY40_PASSWORD`` or asked), adds API-defined
  test sites (``thu-40-NN``) until 40 sites exist, joins 39 of them into the shipped room ``hop-huyen``
  (``max_sites: 40``) and removes the sites it added when you stop it.
- ``make try-40`` alone starts its own server with the shipped config plus the benchmark's 40-site room
  (``hop-40``).

Either way the communes are the benchmark's lean peers (each publishing pre-encoded 1280x720 VP8 at
25 fps, its 320x180 thumbnail and Opus), and it prints the chair's join link: open it in a browser on this
machine to chair the meeting (grid of thumbnails, the speaker in HD). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import pickle
import tempfile
from typing import Any

import aiohttp

from benchmarks.bench_conference import (
    CLIENT_PROCS,
    HOST,
    ROOM40,
    SITES40,
    SPEAKER,
    ClientProc,
    config40,
    hd_media,
)
from benchmarks.common import BENCH_PASSWORD, ServerProcess
from tests.conf_peer import encode_opus

SHIPPED_ROOM = "hop-huyen"
TEST_SITE_PREFIX = "thu-40-"


class Api:
    """The few calls try-40 makes, with a bearer token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.headers = http, base.rstrip("/"), {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request; raise with the server's error text when it fails."""
        async with self.http.request(method, self.base + path, headers=self.headers, json=body) as r:
            if r.status >= 400:
                raise SystemExit(f"{method} {path}: HTTP {r.status} {await r.text()}")
            return None if r.status == 204 else await r.json()

    async def join_token(self, room: str, site: str) -> str:
        """Issue a join token for one site of the room."""
        return str((await self.call("POST", f"/api/v1/rooms/{room}/join-tokens", {"site_id": site}))["token"])


async def login(http: aiohttp.ClientSession, base: str, user: str, password: str) -> str:
    """Log in to a running server; return the bearer token."""
    async with http.post(f"{base}/api/v1/auth/login", json={"username": user, "password": password}) as r:
        body = await r.json()
        if r.status != 200:
            raise SystemExit(f"đăng nhập không được / login failed: {body}")
        if body.get("must_change_password"):
            raise SystemExit("đổi mật khẩu lần đầu trong bảng điều khiển trước / change the one-time password "
                             "in the console first")
        return str(body["token"])


async def join(api: Api, room: str, sites: list[str], media_file: str, procs: list[ClientProc]) -> None:
    """Join ``sites`` into ``room`` from the lean peer processes and print the chair's link."""
    jobs: list[list[dict[str, object]]] = [[] for _ in range(CLIENT_PROCS)]
    speaker = SPEAKER if SPEAKER in sites else sites[0]
    for i, site in enumerate(sites):
        jobs[i % CLIENT_PROCS].append({"site": site, "token": await api.join_token(room, site), "seed": i,
                                       "loud": site == speaker})
    for job in jobs:
        procs.append(await ClientProc.start({"base": api.base, "room": room, "media": media_file, "sites": job}))
    for p in procs:
        ready = await p.line(180)
        assert ready.get("ready"), ready
    link = f"{api.base}/join#token={await api.join_token(room, HOST)}"
    print(f"\n{len(sites)} điểm cầu đã vào phòng {room} / {len(sites)} sites joined.\n"
          f"Chủ tọa mở liên kết này / the chair opens: {link}\n"
          f"Giám sát / monitoring: {api.base}/#/monitor\nCtrl-C để dừng / to stop.", flush=True)


async def attached(http: aiohttp.ClientSession, base: str, user: str, password: str, media_file: str,
                   procs: list[ClientProc]) -> None:
    """Fill the running server's shipped room to 40 sites; remove the added sites on the way out."""
    api = Api(http, base, await login(http, base, user, password))
    existing = [s["id"] for s in (await api.call("GET", "/api/v1/sites"))["items"]]
    added = [f"{TEST_SITE_PREFIX}{n:02d}" for n in range(len(existing), SITES40)]
    try:
        for n, site in enumerate(added, start=len(existing)):
            await api.call("POST", "/api/v1/sites", {"id": site, "name": f"Điểm cầu thử {n:02d}",
                                                     "name_en": f"Test site {n:02d}"})
        sites = [s for s in existing + added if s != HOST][:SITES40 - 1]
        await join(api, SHIPPED_ROOM, sites, media_file, procs)
        print(f"Đã thêm {len(added)} điểm cầu thử; sẽ xóa khi dừng / added {len(added)} test sites, removed on "
              "stop.", flush=True)
        await asyncio.Event().wait()
    finally:
        for p in procs:
            await p.stop()
        procs.clear()
        for site in added:
            with contextlib.suppress(SystemExit, aiohttp.ClientError):
                await api.call("DELETE", f"/api/v1/sites/{site}")


async def own_server(http: aiohttp.ClientSession, media_file: str, procs: list[ClientProc]) -> None:
    """Start a server with the benchmark's 40-site room and join it."""
    with ServerProcess(log_level="INFO", overrides=config40()) as server:
        await server.ready(http)
        api = Api(http, server.base, await server.admin_token(http))
        sites = [s for s in config40()["sites"] if s != HOST][:SITES40 - 1]
        await join(api, ROOM40, sites, media_file, procs)
        print(f"Bảng điều khiển / console: {server.base}/ (admin / {BENCH_PASSWORD})", flush=True)
        await asyncio.Event().wait()


async def main(url: str | None, user: str) -> None:
    """Pre-encode the media once, then join a running server (``url``) or a server of its own."""
    password = ""
    if url:
        password = os.environ.get("TRY40_PASSWORD") or getpass.getpass(f"Mật khẩu của {user} / password: ")
    print("Mã hóa trước hình HD và hình nhỏ (một lần) / pre-encoding the HD and thumbnail loops…", flush=True)
    media = await asyncio.to_thread(hd_media, await asyncio.to_thread(encode_opus, 10.0))
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump(media, f)
    procs: list[ClientProc] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            if url:
                await attached(http, url, user, password, f.name, procs)
            else:
                await own_server(http, f.name, procs)
    finally:
        for p in procs:
            await p.stop()
        os.unlink(f.name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("URL") or None,
                        help="a running server (make run), e.g. http://127.0.0.1:8080; unset: start one")
    parser.add_argument("--user", default=os.environ.get("TRY40_USER", "admin"), help="staff user to log in as")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.url, args.user))
