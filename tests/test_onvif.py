"""ONVIF onboarding against the simulated camera, driven by the real onvif-zeep-async client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import cv2
import numpy as np
import pytest
import zeep.exceptions
from onvif import ONVIFCamera

from cameras.onvif import (
    CameraInfo,
    OnvifAuthError,
    OnvifProtocolError,
    OnvifUnreachable,
    continuous_move,
    discover,
    fetch_snapshot,
    get_presets,
    goto_preset,
    probe_camera,
    set_preset,
    stop,
    stream_url_with_credentials,
    strip_credentials,
)
from cameras.simulator.discovery import DiscoverableDevice, start_discovery_responder
from cameras.simulator.onvif_service import SimCameraSpec, SimOnvifCamera

USER = "admin"
PASSWORD = "s3cret:pw@1"  # characters that need quoting in URLs
CAMERA_NAME = "Gate cam"
UNREACHABLE_XADDR_HOST = "203.0.113.50:80"  # TEST-NET-3: never routable
PTZ_MOVE_S = 0.2

slow = pytest.mark.slow
StartCamera = Callable[..., Awaitable[SimOnvifCamera]]


@pytest.fixture
async def start_camera() -> AsyncIterator[StartCamera]:
    """Start simulated cameras on free ports of 127.0.0.1; stop them afterwards."""
    started: list[SimOnvifCamera] = []

    async def start(**quirks: Any) -> SimOnvifCamera:
        spec = SimCameraSpec(name=CAMERA_NAME, user=USER, password=PASSWORD, **quirks)
        cam = SimOnvifCamera(spec)
        await cam.start()
        started.append(cam)
        return cam

    yield start
    for cam in started:
        await cam.stop()


async def _probe(cam: SimOnvifCamera, password: str = PASSWORD, **kw: Any) -> CameraInfo:
    return await probe_camera("127.0.0.1", cam.port, USER, password, name=CAMERA_NAME, **kw)


def _is_jpeg_frame(data: bytes) -> bool:
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return frame is not None and frame.shape[:2] == (90, 160)


# ------------------------------------------------------------------------------------ pure helpers


def test_strip_and_add_credentials() -> None:
    assert strip_credentials("rtsp://u:p@10.0.0.5:554/ch1?user=u&password=p&subtype=0") == (
        "rtsp://10.0.0.5:554/ch1?subtype=0"
    )
    assert strip_credentials("rtsp://10.0.0.5/ch1") == "rtsp://10.0.0.5/ch1"
    url = stream_url_with_credentials("rtsp://old:x@10.0.0.5:554/main", "ad min", "p@ss:w/rd")
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd@10.0.0.5:554/main"


# ---------------------------------------------------------------------------------------- onboarding


@slow
async def test_probe_plain_camera(start_camera: StartCamera) -> None:
    cam = await start_camera()
    info = await _probe(cam)
    assert (info.manufacturer, info.model, info.firmware, info.serial) == ("SimCam", "SC-1080", "1.2.3", "SIM0001")
    assert (info.main.width, info.main.height, info.main.encoding) == (1920, 1080, "H264")
    assert info.sub is not None and (info.sub.width, info.sub.height) == (640, 360)
    assert info.main_stream_uri == "rtsp://127.0.0.1:8554/main"
    assert info.sub_stream_uri == "rtsp://127.0.0.1:8554/sub"
    assert info.snapshot_uri == f"http://127.0.0.1:{cam.port}/onvif/snapshot?profile=main"
    assert info.ptz and info.ptz_profile_token == "main"
    assert info.clock_offset_s is not None and abs(info.clock_offset_s) < 2
    assert info.quirks == ()
    assert cam.state.calls[:3] == ["GetSystemDateAndTime", "GetServices", "GetDeviceInformation"]
    stored = json.dumps(info.to_dict())  # what CameraRepo.set_info gets
    assert PASSWORD not in stored and USER not in stored
    assert CameraInfo.from_dict(json.loads(stored)) == info


@slow
async def test_wrong_xaddr_host_is_rewritten(start_camera: StartCamera, caplog: pytest.LogCaptureFixture) -> None:
    cam = await start_camera(xaddr_host=UNREACHABLE_XADDR_HOST)
    with caplog.at_level(logging.DEBUG, logger="cameras.onvif"):
        info = await _probe(cam)
    ours = f"http://127.0.0.1:{cam.port}/onvif/"
    assert info.xaddrs and all(x.startswith(ours) for x in info.xaddrs.values())
    assert info.snapshot_uri is not None and info.snapshot_uri.startswith(ours)
    assert "xaddr_rewritten" in info.quirks
    assert "GetProfiles" in cam.state.calls and "GetStreamUri" in cam.state.calls  # reached via the rewrite
    assert any(r.getMessage().startswith(f"{CAMERA_NAME}: ") and UNREACHABLE_XADDR_HOST in r.getMessage()
               for r in caplog.records if r.levelno == logging.DEBUG)
    assert _is_jpeg_frame(await fetch_snapshot(info, USER, PASSWORD))


@slow
async def test_foreign_xaddr_that_answers_is_kept(start_camera: StartCamera) -> None:
    # A device may serve media on another address: when an ONVIF device answers there, use it unchanged.
    other = await start_camera()
    cam = await start_camera(xaddr_host=f"127.0.0.1:{other.port}")
    info = await _probe(cam)
    assert all(f"127.0.0.1:{other.port}/" in x for x in info.xaddrs.values() if "device_service" not in x)
    assert "xaddr_rewritten" not in info.quirks
    assert "GetProfiles" in other.state.calls and "GetProfiles" not in cam.state.calls


@slow
async def test_clock_ten_minutes_off(start_camera: StartCamera) -> None:
    cam = await start_camera(clock_offset_s=600)
    # The simulator really enforces the timestamp: an unadjusted client is refused.
    raw = ONVIFCamera("127.0.0.1", cam.port, USER, PASSWORD, no_cache=True)
    try:
        devicemgmt = await raw.create_devicemgmt_service()
        with pytest.raises(zeep.exceptions.Fault, match="not Authorized"):
            await devicemgmt.GetDeviceInformation()
    finally:
        await raw.close()
    info = await _probe(cam)
    assert info.clock_offset_s is not None and abs(info.clock_offset_s - 600) < 2
    assert "clock_skew" in info.quirks
    assert info.manufacturer == "SimCam"
    # PTZ helpers sign with the learned offset too.
    await continuous_move(info, USER, PASSWORD, 0.5, 0.0)
    await stop(info, USER, PASSWORD)
    assert cam.state.ptz.moves == 1 and cam.state.ptz.stops == 1


@slow
async def test_no_get_services_falls_back_to_capabilities(start_camera: StartCamera) -> None:
    cam = await start_camera(no_get_services=True)
    info = await _probe(cam)
    assert "no_get_services" in info.quirks
    assert "GetCapabilities" in cam.state.calls
    assert info.ptz and info.main_stream_uri == "rtsp://127.0.0.1:8554/main"


@slow
async def test_snapshot_basic_only(start_camera: StartCamera) -> None:
    cam = await start_camera(snapshot_auth="basic")
    info = await _probe(cam)
    assert _is_jpeg_frame(await fetch_snapshot(info, USER, PASSWORD))
    assert cam.state.snapshots_served == 1
    with pytest.raises(OnvifAuthError, match=CAMERA_NAME):
        await fetch_snapshot(info, USER, "wrong")


@slow
async def test_snapshot_digest_only(start_camera: StartCamera) -> None:
    cam = await start_camera(snapshot_auth="digest")
    info = await _probe(cam)
    assert _is_jpeg_frame(await fetch_snapshot(info, USER, PASSWORD))
    assert cam.state.snapshots_served == 1
    with pytest.raises(OnvifAuthError, match="snapshot"):
        await fetch_snapshot(info, USER, "wrong")


@slow
async def test_system_date_and_time_demanding_auth(start_camera: StartCamera) -> None:
    cam = await start_camera(time_needs_auth=True, clock_offset_s=-30)
    info = await _probe(cam)
    assert "time_needs_auth" in info.quirks
    assert cam.state.auth_failures == ["GetSystemDateAndTime"]  # only the unsigned first attempt
    assert info.clock_offset_s is not None and abs(info.clock_offset_s + 30) < 2


@slow
async def test_no_sub_stream(start_camera: StartCamera) -> None:
    cam = await start_camera(sub_path=None)
    info = await _probe(cam)
    assert info.sub is None and info.sub_stream_uri is None and len(info.profiles) == 1
    assert info.main_stream_uri == "rtsp://127.0.0.1:8554/main"
    assert "no_sub_stream" in info.quirks


@slow
async def test_stream_uris_carry_no_credentials(start_camera: StartCamera) -> None:
    cam = await start_camera(credentials_in_stream_uri=True)
    info = await _probe(cam)
    assert info.main_stream_uri == "rtsp://127.0.0.1:8554/main"
    assert info.sub_stream_uri == "rtsp://127.0.0.1:8554/sub"
    assert "credentials_in_stream_uri" in info.quirks
    assert PASSWORD not in json.dumps(info.to_dict())
    assert stream_url_with_credentials(info.main_stream_uri, USER, PASSWORD) == (
        "rtsp://admin:s3cret%3Apw%401@127.0.0.1:8554/main"
    )


# -------------------------------------------------------------------------------------------- errors


@slow
async def test_bad_credentials(start_camera: StartCamera) -> None:
    cam = await start_camera()
    with pytest.raises(OnvifAuthError) as err:
        await _probe(cam, password="wrong")
    msg = str(err.value)
    assert CAMERA_NAME in msg and repr(USER) in msg and "credentials" in msg
    assert err.value.operation == "GetServices"
    assert cam.state.auth_failures == ["GetServices"]  # refused once, not retried


@slow
async def test_credentials_always_refused(start_camera: StartCamera) -> None:
    cam = await start_camera(bad_credentials_always=True)
    with pytest.raises(OnvifAuthError, match=CAMERA_NAME):
        await _probe(cam)


@slow
async def test_unreachable_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t0 = time.monotonic()
    with pytest.raises(OnvifUnreachable, match=CAMERA_NAME):
        await probe_camera("127.0.0.1", port, USER, PASSWORD, name=CAMERA_NAME)
    assert time.monotonic() - t0 < 5


@slow
async def test_silent_camera_times_out() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answer
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(OnvifUnreachable, match="did not answer"):
            await probe_camera("127.0.0.1", port, USER, PASSWORD, name=CAMERA_NAME, timeout_s=0.5)
    finally:
        server.close()
        await server.wait_closed()


@slow
async def test_camera_without_media_service_is_a_protocol_error(start_camera: StartCamera) -> None:
    cam = await start_camera()
    info = await _probe(cam)
    no_ptz = CameraInfo.from_dict({**info.to_dict(), "ptz": False})
    with pytest.raises(OnvifProtocolError, match="no PTZ"):
        await continuous_move(no_ptz, USER, PASSWORD, 0.1, 0.0)


# ----------------------------------------------------------------------------------------------- PTZ


@slow
async def test_ptz_move_stop_and_presets(start_camera: StartCamera) -> None:
    cam = await start_camera()
    ptz = cam.state.ptz
    info = await _probe(cam)

    await continuous_move(info, USER, PASSWORD, 0.5, 0.25, 0.0)
    assert ptz.moving
    await asyncio.sleep(PTZ_MOVE_S)
    await stop(info, USER, PASSWORD)
    assert not ptz.moving
    pan, tilt, _ = ptz.position()
    assert pan > 0.05 and tilt > 0.02

    token = await set_preset(info, USER, PASSWORD, "door")
    assert (await get_presets(info, USER, PASSWORD)) == {token: "door"}

    await continuous_move(info, USER, PASSWORD, -1.0, 0.0, 0.5)
    await asyncio.sleep(PTZ_MOVE_S)
    await stop(info, USER, PASSWORD)
    assert ptz.position()[0] < pan

    await goto_preset(info, USER, PASSWORD, token)
    assert ptz.position() == pytest.approx((pan, tilt, 0.0))
    with pytest.raises(OnvifProtocolError, match="GotoPreset"):
        await goto_preset(info, USER, PASSWORD, "nope")


# ----------------------------------------------------------------------------------------- discovery


@slow
async def test_ws_discovery_unicast_finds_the_camera(start_camera: StartCamera) -> None:
    cam = await start_camera()
    device = DiscoverableDevice(xaddrs=(cam.device_url,), name=CAMERA_NAME, hardware="SC-1080")
    responder = await start_discovery_responder([device], "127.0.0.1", 0, multicast=False)
    try:
        found = await discover(0.3, target=("127.0.0.1", responder.port))
    finally:
        responder.close()
    assert [d.endpoint for d in found] == [device.endpoint]
    hit = found[0]
    assert (hit.host, hit.port, hit.name, hit.hardware) == ("127.0.0.1", cam.port, CAMERA_NAME, "SC-1080")
    assert any(t.endswith("NetworkVideoTransmitter") for t in hit.types)
    assert hit.host is not None and hit.port is not None
    info = await probe_camera(hit.host, hit.port, USER, PASSWORD, name=hit.name)
    assert info.serial == "SIM0001"


@slow
async def test_ws_discovery_multicast(start_camera: StartCamera) -> None:
    cam = await start_camera()
    device = DiscoverableDevice(xaddrs=(cam.device_url,), name=CAMERA_NAME)
    try:
        responder = await start_discovery_responder([device], "0.0.0.0", 3702, multicast=True)
    except OSError as exc:
        pytest.skip(f"cannot bind the WS-Discovery port: {exc}")
    try:
        if not responder.multicast_joined:
            pytest.skip("multicast group not joinable here")
        found = await discover(0.3)
    finally:
        responder.close()
    if not found:
        pytest.skip("multicast not routable in this sandbox")
    assert device.endpoint in {d.endpoint for d in found}


@pytest.mark.slow
async def test_discover_command_lists_the_simulated_device() -> None:
    device = DiscoverableDevice(xaddrs=("http://127.0.0.1:8899/onvif/device_service",), name="Cong chinh",
                                hardware="SC-1080")
    responder = await start_discovery_responder([device], "127.0.0.1", 0, multicast=False)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mediaserver.cli", "discover", "--timeout", "1.5", "--target",
            f"127.0.0.1:{responder.port}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
    finally:
        responder.close()
    assert proc.returncode == 0, err.decode()
    assert "127.0.0.1:8899" in out.decode() and "Cong chinh" in out.decode()


@slow
async def test_cancelling_onboarding_anywhere_leaks_no_http_session(start_camera: StartCamera) -> None:
    """A camera removed (or the server stopping) mid-probe must not leave an aiohttp session open."""
    import gc
    import warnings

    import onvif.client

    cam = await start_camera()
    # The library's WSDL cache makes a warm probe's service set-up instant; a cold one (a server's first camera)
    # loads documents in a thread while the new service's HTTP session already exists — the window that leaked.
    onvif.client._DOCUMENT_CACHE.clear()
    full = time.monotonic()
    await _probe(cam)
    full = time.monotonic() - full
    gc.collect()  # what earlier tests left behind is theirs, not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(24):  # cancel at points spread over a whole cold probe (and its closing)
            onvif.client._DOCUMENT_CACHE.clear()
            task = asyncio.ensure_future(_probe(cam))
            await asyncio.sleep(full * i / 20)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        gc.collect()
        await asyncio.sleep(0)
    leaks = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert leaks == []
