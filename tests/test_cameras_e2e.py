"""A simulated camera from config to browser-ready live view: simulator → ONVIF onboarding → ingest → WebRTC."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from mediaserver.app_keys import CAMERAS_KEY, ENGINE_KEY, STORE_KEY
from mediaserver.config import parse_config
from mediaserver.engine import FrameAssembler
from mediaserver.engine import aiortc_hooks as hooks
from tests.conftest import ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CONFIG = """
cameras:
  cong-chinh:
    name: Cổng chính
    simulate:
      main_size: [640, 360]
      main_fps: 10
      sub_size: [320, 180]
      sub_fps: 10
      objects: [{start_s: 1, end_s: 5, size: 0.2}]
      loop_s: 6
"""


async def test_simulated_camera_streams_to_a_viewer_with_ptz_and_snapshot(make_api: ApiFactory,
                                                                          tmp_path: Path) -> None:
    cfg = parse_config(CONFIG, env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    headers = api.auth(await api.token_for("security"))

    async def status() -> dict[str, Any]:
        r = await api.client.get("/api/v1/cameras/cong-chinh", headers=headers)
        return dict(await r.json())

    deadline = time.monotonic() + 30
    while True:
        cam = await status()
        streams = (cam.get("status") or {}).get("streams", {})
        if {s.get("state") for s in streams.values()} == {"online"} and len(streams) == 2:
            break
        assert time.monotonic() < deadline, cam
        await asyncio.sleep(0.2)
    assert cam["info"]["manufacturer"] == "SimCam" and cam["status"]["ptz"] is True
    assert "Sim-Camera" not in str(cam)  # the simulator's password never leaves the server

    # Live view of the sub stream: the camera's H.264, untouched, in an aiortc viewer.
    r = await api.client.post("/api/v1/cameras/cong-chinh/views", headers=headers, json={"stream": "sub"})
    assert r.status == 201, await r.text()
    offer = await r.json()
    pc = RTCPeerConnection()
    frames: list[bool] = []
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        assembler = FrameAssembler("h264")

        def on_packet(packet: Any, codec: Any) -> None:
            for f in assembler.add(packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload):
                frames.append(f.keyframe)

        hooks.tap_receiver(pc.getTransceivers()[0].receiver, on_packet)
        await pc.setLocalDescription(await pc.createAnswer())
        r = await api.client.post(f"/api/v1/cameras/views/{offer['view_id']}/answer", headers=headers,
                                  json={"sdp": pc.localDescription.sdp})
        assert r.status == 200
        deadline = time.monotonic() + 15
        while len(frames) < 15:
            assert time.monotonic() < deadline, len(frames)
            await asyncio.sleep(0.1)
        assert frames[0] is True  # primed from the GOP cache: the first picture is a whole one
    finally:
        await pc.close()

    # PTZ through the API moves the simulated head; snapshot returns a JPEG.
    managed = api.app[CAMERAS_KEY].get("cong-chinh")
    assert managed is not None and managed.simulator is not None and managed.simulator.onvif is not None
    head = managed.simulator.onvif.state.ptz
    r = await api.client.post("/api/v1/cameras/cong-chinh/ptz", headers=headers,
                              json={"action": "move", "pan": 0.5})
    assert r.status == 200, await r.text()
    await asyncio.sleep(0.3)
    r = await api.client.post("/api/v1/cameras/cong-chinh/ptz", headers=headers, json={"action": "stop"})
    assert r.status == 200
    assert head.moves == 1 and head.stops == 1 and head.position()[0] > 0
    r = await api.client.get("/api/v1/cameras/cong-chinh/snapshot", headers=headers)
    assert r.status == 200 and r.content_type == "image/jpeg"
    assert (await r.read())[:2] == b"\xff\xd8"
    text = await (await api.client.get("/metrics", headers=headers)).text()
    assert 'mediaserver_camera_online{camera="cong-chinh",stream="sub"} 1.0' in text
    assert 'mediaserver_camera_fps{camera="cong-chinh",stream="main"}' in text
    assert 'mediaserver_camera_rtp_packets_lost_total{camera="cong-chinh",stream="main"} 0.0' in text  # loopback TCP
    assert 'mediaserver_camera_frames_dropped_total{camera="cong-chinh",stream="sub"} 0.0' in text
    audit = [e.action for e in await api.app[STORE_KEY].audit.all(limit=20)]
    assert "camera.ptz_stop" in audit and "camera.view" in audit


async def test_a_camera_added_through_the_api_streams_and_survives_a_restart(make_api: ApiFactory,
                                                                              tmp_path: Path) -> None:
    from cameras.simulator.rtsp import RtspServerProcess
    from tests.test_ingest import PASSWORD, USER, camera_spec

    rtsp = RtspServerProcess(camera_spec())
    await rtsp.start()
    try:
        cfg = parse_config("{}", env={})
        cfg.storage.data_dir = tmp_path / "data"

        async def wait_online(api: Any, headers: dict[str, str]) -> dict[str, Any]:
            deadline = time.monotonic() + 20
            while True:
                cam = dict(await (await api.client.get("/api/v1/cameras/nha-xe", headers=headers)).json())
                streams = (cam.get("status") or {}).get("streams", {})
                if {s.get("state") for s in streams.values()} == {"online"} and len(streams) == 2:
                    return cam
                assert time.monotonic() < deadline, cam
                await asyncio.sleep(0.2)

        api = await make_api(cfg)
        headers = api.auth(await api.token_for("security"))
        r = await api.client.post("/api/v1/cameras", headers=headers, json={
            "id": "nha-xe", "name": "Nhà xe",
            "streams": {"main_url": rtsp.url("/main"), "sub_url": rtsp.url("/sub")}})
        assert r.status == 201, await r.text()
        cam = await wait_online(api, headers)
        assert PASSWORD not in str(cam) and USER not in str(cam.get("main_url"))
        # A plain RTSP camera has no snapshot endpoint: the snapshot is the motion analyser's last picture.
        deadline = time.monotonic() + 10
        while (r := await api.client.get("/api/v1/cameras/nha-xe/snapshot", headers=headers)).status == 404:
            assert time.monotonic() < deadline, await r.text()
            await asyncio.sleep(0.2)
        assert r.status == 200 and r.headers["X-Snapshot-Source"] == "stream"
        assert abs(float(r.headers["X-Snapshot-Time"]) - time.time()) < 5
        picture = cv2.imdecode(np.frombuffer(await r.read(), np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (180, 320, 3)  # the analysed sub stream
        assert (await api.client.get("/api/v1/cameras/nope/snapshot", headers=headers)).status == 404
        with sqlite3.connect(tmp_path / "data" / "mediaserver.db") as db:
            (secret,) = db.execute("SELECT secret FROM cameras WHERE id = 'nha-xe'").fetchone()
            (source,) = db.execute("SELECT source_json FROM cameras WHERE id = 'nha-xe'").fetchone()
        assert PASSWORD.encode() not in secret and PASSWORD not in source  # stored encrypted, never in clear
        await api.client.close()  # server stops: ingests and all

        api = await make_api(cfg)  # a restart on the same data dir brings the camera back
        headers = api.auth(await api.token_for("admin"))
        await wait_online(api, headers)
        assert (await api.client.delete("/api/v1/cameras/nha-xe", headers=headers)).status == 204
        assert api.app[CAMERAS_KEY].get("nha-xe") is None
        assert "camera/nha-xe/main" not in api.app[ENGINE_KEY].sources
    finally:
        await rtsp.stop()
