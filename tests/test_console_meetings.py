"""The console's conference section records a room and links each past meeting to its side-by-side player."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import MEETING_RECORDINGS_KEY, STORE_KEY, TOKENS_KEY
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import STRONG_PASSWORD, Api

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOM = "hop-huyen"
USER = "dieu-hanh"


async def test_operator_records_a_room_and_finds_its_past_meetings(api: Api) -> None:
    store = api.app[STORE_KEY]
    past = await store.rooms.start_session(ROOM, "operator:dieu-hanh")
    await store.rooms.end_session(past.id)
    await api.add_user(USER, "operator")
    base = str(api.client.make_url("")).rstrip("/")
    errors: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto("/")
            await page.fill("#username", USER)
            await page.fill("#password", STRONG_PASSWORD)
            await page.locator("#login-form").evaluate("f => f.requestSubmit()")
            # The past meeting was not recorded: it is listed, but offers no player (the bug was "Xem bản ghi").
            item = page.locator(f"#meeting-list [data-session-id='{past.id}']")
            await item.wait_for(timeout=10_000)
            assert await item.get_attribute("data-recorded") == "false"
            assert await item.evaluate("e => e.tagName") == "SPAN"
            assert "Không ghi hình" in await item.inner_text()
            assert "Xem bản ghi" not in await item.inner_text()

            # No meeting is running: recording is armed for the room's next meeting, on the server too.
            toggle = page.locator("#room-record-toggle")
            assert "Ghi hình cuộc họp" in await toggle.inner_text()
            await toggle.click()
            await page.locator("#room-recording", has_text="Sẽ ghi cuộc họp kế tiếp").wait_for(timeout=5_000)
            assert api.app[MEETING_RECORDINGS_KEY].state(ROOM) is not None
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-meetings.png"))
            # A site joins: the armed recording starts with the meeting, and the console follows the server.
            async with aiohttp.ClientSession() as http:
                token = (await api.app[TOKENS_KEY].issue_join("xa-an-binh", ROOM))[0]
                peer = SitePeer(http, base, ROOM, token, video=encode_video("vp8", 40, 5, gop=10))
                try:
                    await peer.join()
                    await page.locator("#room-recording", has_text="Đang ghi hình").wait_for(timeout=15_000)
                    rec = api.app[MEETING_RECORDINGS_KEY].state(ROOM)
                    assert rec is not None and rec.room_session_id is not None
                    live = page.locator(f"#meeting-list a[data-session-id='{rec.room_session_id}']")
                    await live.wait_for(timeout=10_000)
                    assert "Đang ghi hình" in await live.inner_text()
                    await asyncio.sleep(3)  # a few seconds of the site's media on disk
                finally:
                    await peer.close()
            # Stopped: the note goes, and the meeting that was recorded offers its player.
            await toggle.click()
            await page.locator("#room-record-toggle", has_text="Ghi hình cuộc họp").wait_for(timeout=5_000)
            assert api.app[MEETING_RECORDINGS_KEY].state(ROOM) is None
            assert await page.locator("#room-recording").inner_text() == ""
            done = page.locator(f"#meeting-list a[data-session-id='{rec.room_session_id}'][data-recorded='true']")
            await done.wait_for(timeout=10_000)
            assert "Xem bản ghi" in await done.inner_text()
            assert errors == []
        finally:
            await browser.close()
