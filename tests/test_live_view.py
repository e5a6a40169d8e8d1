"""Camera live view: aiortc viewers of one camera source through the real HTTP API, H.264 untouched."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from aioice import ice as aioice_ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.h264 import h264_depayload

from mediaserver.app_keys import ENGINE_KEY, LIVE_VIEWS_KEY, STORE_KEY
from mediaserver.engine import FrameAssembler, Source
from mediaserver.engine import aiortc_hooks as hooks
from tests.conf_peer import encode_video, feed_h264, frames_match
from tests.conftest import Api

pytestmark = pytest.mark.slow

CAMERA = "cong-chinh"
FPS = 25




async def viewer(api: Api, headers: dict[str, str], stream: str = "sub") -> tuple[RTCPeerConnection, list[bytes], str]:
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=headers, json={"stream": stream})
    assert r.status == 201, await r.text()
    offer = await r.json()
    pc = RTCPeerConnection()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    frames: list[bytes] = []
    assembler = FrameAssembler("h264")

    def on_packet(packet: Any, codec: Any) -> None:
        for f in assembler.add(packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload):
            frames.append(b"".join(h264_depayload(p) for p in f.payloads))

    hooks.tap_receiver(pc.getTransceivers()[0].receiver, on_packet)
    await pc.setLocalDescription(await pc.createAnswer())
    r = await api.client.post(f"/api/v1/cameras/views/{offer['view_id']}/answer", headers=headers,
                              json={"sdp": pc.localDescription.sdp})
    assert r.status == 200, await r.text()
    return pc, frames, offer["view_id"]


async def test_many_viewers_of_one_camera_get_its_frames_untouched(api: Api) -> None:
    headers = api.auth(await api.token_for("security"))
    await api.app[STORE_KEY].cameras.upsert(CAMERA, "Cổng chính", "api")
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=headers, json={"stream": "sub"})
    assert (r.status, (await r.json())["error"]["code"]) == (409, "not_streaming")

    aus = encode_video("h264", 50, 9, gop=10)
    engine = api.app[ENGINE_KEY]
    source = engine.add_source(Source(f"camera/{CAMERA}/sub", "video", "h264", 90_000, None))
    stop = asyncio.Event()
    player = asyncio.ensure_future(feed_h264(source, aus, stop))
    pcs = []
    try:
        views = [await viewer(api, headers) for _ in range(3)]
        pcs = [pc for pc, _, _ in views]
        deadline = time.monotonic() + 15
        while any(len(frames) < 20 for _, frames, _ in views):
            assert time.monotonic() < deadline, [len(f) for _, f, _ in views]
            await asyncio.sleep(0.05)
        for _, frames, _ in views:
            assert all(frames_match(frames, aus, "h264"))
        assert len(engine.sources) == 1 and len(source.sinks) == 3  # one ingest, three viewers
        r = await api.client.delete(f"/api/v1/cameras/views/{views[0][2]}", headers=headers)
        assert r.status == 204 and len(source.sinks) == 2
        operator = api.auth(await api.token_for("operator"))
        r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=operator, json={})
        assert r.status == 403
    finally:
        stop.set()
        await player
        for pc in pcs:
            await pc.close()
        with contextlib.suppress(Exception):
            await api.app[LIVE_VIEWS_KEY].stop()


async def _contend_for_aioice_mdns() -> None:
    subscribers = [object() for _ in range(4)]
    await asyncio.gather(*(aioice_ice.get_or_create_mdns_protocol(s) for s in subscribers))
    await asyncio.gather(*(aioice_ice.unref_mdns_protocol(s) for s in subscribers))


async def test_aioice_mdns_contended_in_one_test() -> None:
    """Four viewers resolving mDNS candidates at once in one test (one event loop)…"""
    await _contend_for_aioice_mdns()


async def test_aioice_mdns_contended_again_in_the_next_test() -> None:
    """…and again in the next (a new loop): without conftest's fresh lock this raised "different event loop"."""
    await _contend_for_aioice_mdns()
