"""Try a 40-site HD meeting on this machine: ``make try-40`` (or ``python -m benchmarks.try40``).

Starts the server (``mediaserver run``) with the shipped config plus the benchmark's 40-site room
(``hop-40``: the shipped sites and generated ones up to 40), joins 39 communes from the benchmark's lean
peers (each publishing pre-encoded 1280x720 VP8 at 25 fps, its 320x180 thumbnail and Opus), and prints the
chair's join link: open it in a browser on this machine to chair the meeting (grid of thumbnails, the speaker
in HD). Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import tempfile

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


async def main() -> None:
    print("Mã hóa trước hình HD và hình nhỏ (một lần) / pre-encoding the HD and thumbnail loops…", flush=True)
    media = await asyncio.to_thread(hd_media, await asyncio.to_thread(encode_opus, 10.0))
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump(media, f)
    procs: list[ClientProc] = []
    try:
        with ServerProcess(log_level="INFO", overrides=config40()) as server:
            async with aiohttp.ClientSession() as http:
                await server.ready(http)
                token = await server.admin_token(http)
                sites = [s for s in config40()["sites"] if s != HOST][:SITES40 - 1]
                jobs: list[list[dict[str, object]]] = [[] for _ in range(CLIENT_PROCS)]

                async def join_token(site: str) -> str:
                    async with http.post(f"{server.base}/api/v1/rooms/{ROOM40}/join-tokens",
                                         headers={"Authorization": f"Bearer {token}"}, json={"site_id": site}) as r:
                        r.raise_for_status()
                        return str((await r.json())["token"])

                for i, site in enumerate(sites):
                    tok = await join_token(site)
                    jobs[i % CLIENT_PROCS].append({"site": site, "token": tok, "seed": i, "loud": site == SPEAKER})
                for job in jobs:
                    procs.append(await ClientProc.start({"base": server.base, "room": ROOM40, "media": f.name,
                                                         "sites": job}))
                for p in procs:
                    ready = await p.line(180)
                    assert ready.get("ready"), ready
                link = f"{server.base}/join#token={await join_token(HOST)}"
                print(f"\n{len(sites)} điểm cầu đã vào phòng {ROOM40} / {len(sites)} sites joined.\n"
                      f"Chủ tọa mở liên kết này / the chair opens: {link}\n"
                      f"Bảng điều khiển / console: {server.base}/ (admin / {BENCH_PASSWORD}), "
                      f"Giám sát / monitoring: {server.base}/#/monitor\nCtrl-C để dừng / to stop.", flush=True)
                await asyncio.Event().wait()
    finally:
        for p in procs:
            await p.stop()
        os.unlink(f.name)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
