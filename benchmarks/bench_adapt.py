"""``adapt_s`` for ``make bench-conference``: how fast a subscriber's slots follow its link.

The real app on a loopback port, in this process (the cap must sit on the server's own UDP sends), with two
aiortc sites: the host publishing pre-encoded HD (1280x720, ~1.3 Mbit/s) and a 320x180 thumbnail, and a
commune watching it. The server's sends to the commune are capped (tests/netshape.py, a token bucket) below
HD; we time the cap → the commune's host slot forwarding the thumbnail (its sink switched, on a keyframe),
and the lift → the slot back on HD. Both ways go through the commune's own RTCP (aiortc's receiver
reports), as a browser's would.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.common import ROOT, free_port
from mediaserver.app import create_app
from mediaserver.app_keys import CONFERENCE_KEY, TOKENS_KEY
from mediaserver.config import load_config
from tests.conf_peer import SitePeer, encode_video
from tests.netshape import LinkCap

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
COMMUNE = "xa-an-binh"
CAP_BPS = 500_000  # below HD (~1.3 Mbit/s), above the thumbnail (~150 kbit/s) and Opus
SETTLE_WAIT_S = 60.0


async def _until(cond: Any, wait_s: float) -> float:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.05)
    return time.monotonic()


async def measure_adapt(hd: list[bytes], thumb: list[bytes]) -> dict[str, Any]:
    """Return {down_s, up_s, dropped}: cap → thumbnail, lift → HD, for the commune's host slot."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(ROOT / "config.yaml", env={})
        cfg.storage.data_dir = Path(tmp) / "data"
        cfg.cameras.clear()
        app = create_app(cfg)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                tokens = app[TOKENS_KEY]
                host = SitePeer(http, base, ROOM, (await tokens.issue_join(HOST, ROOM, None))[0], video=hd,
                                thumb=thumb, count_only=True)
                commune = SitePeer(http, base, ROOM, (await tokens.issue_join(COMMUNE, ROOM, None))[0],
                                   count_only=True)
                try:
                    await host.join()
                    await commune.join()
                    room = app[CONFERENCE_KEY].live(ROOM)
                    assert room is not None
                    session = room.sessions[COMMUNE]
                    slot = session.slot("host")
                    assert slot is not None
                    sources = room.sessions[HOST].sources

                    def on(name: str) -> bool:
                        return slot.sink.source is sources[name] and slot.sink.pending is None

                    await _until(lambda: on("video") and slot.sink.frames_out > 50, SETTLE_WAIT_S)
                    await asyncio.sleep(3.0)  # a settled HD link first
                    cap = LinkCap(session.pc, CAP_BPS)
                    capped = time.monotonic()
                    down = await _until(lambda: on("thumb"), SETTLE_WAIT_S) - capped
                    await asyncio.sleep(2.0)
                    cap.lift()
                    lifted = time.monotonic()
                    up = await _until(lambda: on("video"), SETTLE_WAIT_S) - lifted
                    return {"down_s": round(down, 2), "up_s": round(up, 2), "cap_kbps": CAP_BPS // 1000,
                            "dropped": cap.dropped, "reason": session.layer.history[0][2]
                            if session.layer.history else None}
                finally:
                    await commune.close()
                    await host.close()
        finally:
            await runner.cleanup()


async def adapt_media() -> tuple[list[bytes], list[bytes]]:
    """Encode the host's two layers once: 1280x720 at ~1.3 Mbit/s and 320x180 at ~150 kbit/s (VP8, 50-frame GOP)."""
    hd = await asyncio.to_thread(encode_video, "vp8", 100, 31, (1280, 720), 50, 1_300_000)
    thumb = await asyncio.to_thread(encode_video, "vp8", 100, 32, (320, 180), 50, 150_000)
    return hd, thumb


async def _main() -> None:
    print(await measure_adapt(*await adapt_media()))


if __name__ == "__main__":
    asyncio.run(_main())
