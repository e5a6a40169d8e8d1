"""Baseline for ``relay_cpu_ratio``: the stock aiortc way to fan one publisher out — ``MediaRelay``.

A minimal server process: ``POST /publish`` takes the publisher's offer; ``POST /subscribe`` gives each
subscriber the relayed track. aiortc decodes the publisher once and encodes once per subscriber. Run by
bench_conference.py in its own process so its CPU can be read from /proc, like the real server's.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

relay = MediaRelay()
published: asyncio.Future[MediaStreamTrack] | None = None
pcs: set[RTCPeerConnection] = set()
pending: dict[int, RTCPeerConnection] = {}


async def publish(request: web.Request) -> web.Response:
    global published
    body: dict[str, Any] = await request.json()
    pc = RTCPeerConnection()
    pcs.add(pc)
    published = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video" and published is not None and not published.done():
            published.set_result(track)

    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def subscribe(request: web.Request) -> web.Response:
    assert published is not None
    track = await published
    pc = RTCPeerConnection()
    pcs.add(pc)
    pc.addTrack(relay.subscribe(track))
    await pc.setLocalDescription(await pc.createOffer())
    pending[id(pc)] = pc
    return web.json_response({"id": id(pc), "sdp": pc.localDescription.sdp})


async def ready(request: web.Request) -> web.Response:
    return web.json_response({})


async def answer(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    pc = pending.pop(int(body["id"]), None)
    if pc is None:  # an answer to no offer of ours: a broken set-up, said loudly (the benchmark raises on it)
        return web.json_response({"error": f"no pending offer {body['id']!r}"}, status=404)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
    return web.json_response({})


async def close_all(app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in pcs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_post("/answer", answer)
    app.router.add_get("/ready", ready)
    app.on_shutdown.append(close_all)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
