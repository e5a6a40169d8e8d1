"""An offline camera says so: phase ``offline`` with since-when and why, and a live view of it fails at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import STORE_KEY
from mediaserver.config import parse_config
from tests.browser import ARTIFACTS, console_login, console_page
from tests.conftest import STRONG_PASSWORD, Api, ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

CAMERA = "cong-sau"
USER = "bao-ve"
# errors.js's texts for the codes a killed RTSP server leaves (the tile must show these, not the English last_error).
REASONS = {"camera_closed": ("Camera ngắt kết nối giữa chừng.", "The camera hung up."),
           "camera_unreachable": ("Camera không phản hồi (mất mạng hoặc mất điện).",
                                  "The camera did not answer (network or power).")}


async def camera(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    r = await api.client.get(f"/api/v1/cameras/{CAMERA}", headers=headers)
    assert r.status == 200, await r.text()
    return dict((await r.json())["status"] or {})


async def wait_phase(api: Api, headers: dict[str, str], phase: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (status := await camera(api, headers)).get("phase") != phase:
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)
    return status


async def test_an_offline_camera_reports_since_when_and_refuses_live_views(make_api: ApiFactory, tmp_path: Path,
                                                                           rtsp: RtspServerProcess) -> None:
    cfg = parse_config(f"""
recording: {{mode: "off"}}
motion: {{enabled: false}}
cameras:
  {CAMERA}: {{name: Cổng sau, streams: {{main_url: "{rtsp.url('/main')}"}}}}
""", env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    headers = api.auth(await api.token_for("security"))
    status = await wait_phase(api, headers, "streaming", 20)
    deadline = time.monotonic() + 20
    while status["streams"]["main"]["state"] != "online":
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)
        status = await camera(api, headers)
    assert status["offline_since"] is None and status["last_error"] is None
    # A one-stream camera's tile asks for the sub stream: it is shown its main stream, not refused.
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=headers, json={"stream": "sub"})
    assert r.status == 201, await r.text()
    view = await r.json()
    assert view["stream"] == "main"
    await api.client.delete(f"/api/v1/cameras/views/{view['view_id']}", headers=headers)

    killed_at = time.time()
    await rtsp.kill()
    status = await wait_phase(api, headers, "offline", 10)
    assert killed_at - 1 <= status["offline_since"] <= time.time(), status
    assert status["streams"]["main"]["offline_since"] == status["offline_since"]
    assert status["last_error"] and "disconnected" in status["last_error"], status
    assert status["last_error_code"] in ("camera_closed", "camera_unreachable"), status
    listed = await (await api.client.get("/api/v1/cameras", headers=headers)).json()
    assert [c["status"]["phase"] for c in listed["items"] if c["id"] == CAMERA] == ["offline"]

    t0 = time.monotonic()
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=headers, json={"stream": "main"})
    body = await r.json()
    assert (r.status, body["error"]["code"]) == (409, "camera_offline"), body
    assert "offline since" in body["error"]["message"] and time.monotonic() - t0 < 2.0

    # The wall's tile says why in words (vi, then en), under "Camera mất kết nối từ …", on a phone's width.
    await api.add_user(USER, "security")
    vi, en = REASONS[status["last_error_code"]]
    async with console_page(str(api.client.make_url("")).rstrip("/"), width=390, height=844) as page:
        await console_login(page, "#/cameras", USER, STRONG_PASSWORD)
        tile = page.locator(f".cam-tile[data-camera-id='{CAMERA}'][data-state='offline']")
        await tile.locator(".cam-reason", has_text=vi).wait_for(timeout=15_000)
        text = await tile.locator(".cam-msg").inner_text()
        assert "Camera mất kết nối" in text and "từ " in text and "disconnected" not in text, text
        assert await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
        ARTIFACTS.mkdir(exist_ok=True)
        await tile.screenshot(path=str(ARTIFACTS / "camera-offline-reason-390.png"))
        await tile.click()  # the main view says the same
        await page.locator("#cam-main[data-state='offline'] .cam-reason", has_text=vi).wait_for(timeout=10_000)
        await page.locator("#cam-main-close").click()
        await page.locator("#lang-toggle").click()
        await tile.locator(".cam-reason", has_text=en).wait_for(timeout=10_000)
        assert await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert page.errors == []

    await rtsp.start()
    await wait_phase(api, headers, "streaming", 15)
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/views", headers=headers, json={"stream": "main"})
    assert r.status == 201, await r.text()
    await api.client.delete(f"/api/v1/cameras/views/{(await r.json())['view_id']}", headers=headers)
    outages = await api.app[STORE_KEY].cameras.outages(CAMERA, 0, time.time() + 1)
    assert len(outages) == 1 and outages[0].ended_at is not None and outages[0].reason.startswith("disconnected")
    assert abs(outages[0].started_at - status["offline_since"]) < 1.0
