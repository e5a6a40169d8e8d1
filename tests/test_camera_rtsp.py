"""The camera simulator: a real GStreamer RTSP server, read with PyAV over TCP and UDP, with digest auth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import av
import av.error
import pytest

from cameras.simulator.rtsp import RtspServerProcess

pytestmark = pytest.mark.slow

USER, PASSWORD = "admin", "Cam-Pass:42"


def camera_spec(auth_mode: str = "digest") -> dict[str, Any]:
    """Return a two-stream camera (640x360 main, 320x180 sub, both 10 fps) with one moving object."""
    scene = {"kind": "scene", "noise": 6, "background": 60,
             "objects": [{"start_s": 0, "end_s": 30, "size": 0.2, "color": 220, "from": [0.1, 0.5],
                          "to": [0.9, 0.5]}],
             "lighting": [{"at_s": 20, "level": 160}]}
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": auth_mode, "user": USER, "password": PASSWORD},
            "mounts": [{"path": "/main", "width": 640, "height": 360, "fps": 10, "bitrate_kbps": 800, "gop": 10,
                        "scene": scene},
                       {"path": "/sub", "width": 320, "height": 180, "fps": 10, "bitrate_kbps": 300, "gop": 10,
                        "scene": scene}]}


@pytest.fixture
async def server() -> AsyncIterator[RtspServerProcess]:
    srv = RtspServerProcess(camera_spec())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def decode_frames(url: str, transport: str, count: int) -> list[tuple[int, int, bool]]:
    """Open ``url`` with PyAV and return (width, height, keyframe) of the first ``count`` decoded frames."""
    out: list[tuple[int, int, bool]] = []
    with av.open(url, options={"rtsp_transport": transport, "probesize": "32"}, timeout=(5.0, 5.0)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        for packet in container.demux(stream):
            for frame in packet.decode():
                out.append((frame.width, frame.height, frame.key_frame))
            if len(out) >= count:
                break
    return out


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_streams_decode_over_tcp_and_udp(server: RtspServerProcess, transport: str) -> None:
    for path, size in (("/main", (640, 360)), ("/sub", (320, 180))):
        frames = await asyncio.to_thread(decode_frames, server.url(path), transport, 12)
        assert len(frames) >= 12
        assert all((w, h) == size for w, h, _ in frames)
        assert frames[0][2], "a new client starts on a keyframe (SPS/PPS from the SDP, IDR in band)"


async def test_wrong_password_is_401(server: RtspServerProcess) -> None:
    bad = server.url("/main").replace(PASSWORD.replace(":", "%3A"), "wrong")
    assert bad != server.url("/main")
    with pytest.raises(av.error.HTTPUnauthorizedError):
        await asyncio.to_thread(decode_frames, bad, "tcp", 1)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        await asyncio.to_thread(decode_frames, server.url("/main", with_credentials=False), "tcp", 1)


async def test_restart_keeps_the_port_and_stop_is_idempotent() -> None:
    srv = RtspServerProcess(camera_spec(auth_mode="none"))
    try:
        port = await srv.start()
        await srv.kill()
        assert not srv.running
        assert await srv.start() == port
        frames = await asyncio.to_thread(decode_frames, srv.url("/sub"), "tcp", 3)
        assert len(frames) >= 3
    finally:
        await srv.stop()
        await srv.stop()
    assert not srv.running
