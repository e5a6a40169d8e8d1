"""The disk-full banner and the camera wall on a phone (390×844), in a real Chromium against the real app.

The data disk is a 64 MB tmpfs this test mounts (as tests/test_disk_full.py does) with a real RTSP camera
recording onto it; another program fills it below the floor. The console (Vietnamese first) must show the
banner with the camera's name and the tile's "Không ghi được: đĩa đầy", keep the page from scrolling sideways
and the first nav link tappable under the banner; when space returns, both go by themselves.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import STORE_KEY
from mediaserver.config import parse_config
from tests.browser import ARTIFACTS, console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, ApiFactory
from tests.test_disk_full import LEFT_FREE_MB, fill, small_disk  # noqa: F401  (small_disk is a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CAMERA, NAME = "kho", "Kho lưu trữ"
PHONE_JS = """() => {
  const link = document.querySelector('#nav .nav-link');
  const r = link.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, tappable: link.contains(hit),
          height: r.height, width: r.width};
}"""


async def test_the_disk_full_banner_and_tile_state_come_and_go_on_a_phone_sized_wall(
        make_api: ApiFactory, small_disk: Path, rtsp: RtspServerProcess) -> None:  # noqa: F811
    cfg = parse_config(f"""
recording: {{mode: continuous, segment_seconds: 2}}
motion: {{enabled: false}}
retention: {{min_free_gb: 0.02}}
cameras:
  {CAMERA}: {{name: "{NAME}", streams: {{main_url: "{rtsp.url('/main')}"}}}}
""", env={})
    cfg.storage.data_dir = small_disk
    api = await make_api(cfg)
    await api.add_user("bao-ve", "security")
    headers = api.auth(await api.login("bao-ve"))
    store = api.app[STORE_KEY]

    async def state() -> str:
        r = await api.client.get(f"/api/v1/cameras/{CAMERA}", headers=headers)
        return str((await r.json())["status"]["recording"]["state"])

    async def has_segment() -> bool:
        return bool(await store.segments.for_camera(CAMERA, 0, time.time() + 60))

    await until(has_segment, "a first segment", 20)
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=390, height=844, has_touch=True, is_mobile=True) as page:
        await console_login(page, "#/cameras", "bao-ve", STRONG_PASSWORD)
        tile = page.locator(f".cam-tile[data-camera-id='{CAMERA}']")
        await tile.wait_for(timeout=10_000)
        phone = await page.evaluate(PHONE_JS)
        assert phone["overflow"] <= 0 and phone["tappable"] and phone["height"] >= 40, phone
        assert await page.locator("#alarm-banner").count() == 0

        hog = await asyncio.to_thread(fill, small_disk, LEFT_FREE_MB)
        await until(lambda: _eq(state(), "disk_full"), "the camera to show disk_full", 20)
        banner = page.locator("#alarm-banner")
        await banner.wait_for(timeout=15_000)  # the banner polls every 10 s
        text = await banner.inner_text()
        assert text.startswith("Không ghi được: đĩa đầy") and NAME in text, text
        await tile.locator(".cam-blocked", has_text="Không ghi được: đĩa đầy").wait_for(timeout=10_000)
        phone = await page.evaluate(PHONE_JS)
        assert phone["overflow"] <= 0 and phone["tappable"], phone  # the banner does not cover the nav
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "wall-disk-full-390.png"))
        await page.locator("#nav .nav-link").first.tap()
        await page.locator("#nav .nav-link.active").first.wait_for(timeout=5_000)

        await asyncio.to_thread(hog.unlink)
        await until(lambda: _eq(state(), "recording"), "recording to resume", 20)
        await banner.wait_for(state="detached", timeout=15_000)
        await tile.locator(".cam-blocked").wait_for(state="hidden", timeout=10_000)
        assert page.errors == []


async def _eq(got: Any, want: str) -> bool:
    return bool(await got == want)
