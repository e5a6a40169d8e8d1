"""The conference page (bridges/web/join.*) in a real Chromium, driven by Playwright, against the real app.

Two browser sites (the host and a commune, each in its own context with Chromium's fake camera and
microphone) and one aiortc site meet in a room; the pages must decode the video they are sent, the aiortc
site must receive the browsers' VP8, and the page must explain a bad join link. Uses Debian's
/usr/bin/chromium: no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import TOKENS_KEY
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, decoded, until
from tests.conf_peer import SitePeer, SlotRecord, encode_video
from tests.conftest import Api, FakeClock

pytestmark = pytest.mark.slow


ROOM = "hop-huyen"
HOST = "ubnd-huyen"
COMMUNE = "xa-an-binh"
AIORTC_SITE = "xa-an-hoa"



@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


class Pages:
    """Browser contexts (one per site) on the app's 127.0.0.1 URL, all closed at the end."""

    def __init__(self, browser: Any, api: Api) -> None:
        self.browser, self.api = browser, api
        self.base = str(api.client.make_url("")).rstrip("/")
        assert self.base.startswith("http://127.0.0.1:")  # a secure context: getUserMedia works
        self.contexts: list[Any] = []
        self.console: dict[str, list[str]] = {}

    async def token(self, site: str, room: str = ROOM, ttl_s: float | None = None) -> str:
        return (await self.api.app[TOKENS_KEY].issue_join(site, room, ttl_s))[0]

    async def open(self, name: str, token: str, viewport: tuple[int, int] = (1280, 720), path: str = "/join") -> Any:
        ctx = await self.browser.new_context(permissions=["camera", "microphone"],
                                             viewport={"width": viewport[0], "height": viewport[1]},
                                             base_url=self.base, is_mobile=viewport[0] < 600)
        self.contexts.append(ctx)
        page = await ctx.new_page()
        log = self.console.setdefault(name, [])
        page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
        await page.goto(f"{path}#token={token}")
        return page

    def assert_no_script_errors(self) -> None:
        errors = {site: [m for m in log if m.startswith(("pageerror:", "error:"))]
                  for site, log in self.console.items()}
        assert not any(errors.values()), errors

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()


@pytest.fixture
async def pages(browser: Any, api: Api) -> AsyncIterator[Pages]:
    p = Pages(browser, api)
    try:
        yield p
    finally:
        await p.close()


async def assert_decoding(page: Any, slots: list[str], who: str, pages: Pages) -> dict[str, int]:
    """Wait until framesDecoded rises between two samples ~1.5 s apart for every slot named; return the last."""
    last: dict[str, int] = {}

    async def rising() -> bool:
        nonlocal last
        first = await decoded(page)
        await asyncio.sleep(1.5)
        last = await decoded(page)
        return all(last.get(s, 0) > first.get(s, 0) > 0 for s in slots)

    try:
        await until(rising, f"{who} to decode {slots}", every_s=0)
    except AssertionError as exc:
        state = await page.evaluate("() => ({state: window.__conf.state, slots: window.__conf.slots})")
        raise AssertionError(f"{exc}; framesDecoded={last}; page={json.dumps(state)}; "
                             f"console={pages.console.get(who, [])[-20:]}") from None
    return last


@pytest.mark.timeout(120)
async def test_two_browser_sites_and_an_aiortc_site_see_each_other(pages: Pages) -> None:
    async with aiohttp.ClientSession() as http:
        peer = SitePeer(http, pages.base, ROOM, await pages.token(AIORTC_SITE),
                        video=encode_video("vp8", 40, 7, size=(320, 180)), loud=True)
        try:
            host = await pages.open(HOST, await pages.token(HOST))
            commune = await pages.open(COMMUNE, await pages.token(COMMUNE))
            await peer.join()
            for page, who in ((host, HOST), (commune, COMMUNE)):
                await until(lambda page=page: page.evaluate("() => window.__conf.state === 'connected'"),
                            f"{who}'s page to connect")

            # The host's grid decodes the commune's and the aiortc site's tiles.
            host_slots = [f"site:{COMMUNE}", f"site:{AIORTC_SITE}"]
            await assert_decoding(host, host_slots, HOST, pages)
            # The commune decodes the host and the speaker (the loud aiortc site).
            await assert_decoding(commune, ["host", "speaker"], COMMUNE, pages)
            await until(lambda: commune.evaluate(f"() => window.__conf.slots.speaker.site === '{AIORTC_SITE}'"),
                        "the aiortc site to be the commune's speaker")

            # The aiortc site gets the browsers' VP8, tapped before decoding: the host in its host slot, and
            # the commune in its speaker slot (the loudest site is itself, and the host has its own slot).
            for slot, site in (("host", HOST), ("speaker", COMMUNE)):
                rec = peer.slot(slot)

                async def frames_grow(rec: SlotRecord = rec, site: str = site) -> bool:
                    n = len(rec.frames)
                    await asyncio.sleep(1.0)
                    return rec.assigned == site and n > 0 and len(rec.frames) > n

                await until(frames_grow, f"VP8 frames from {site}'s browser in the aiortc site's {slot} slot",
                            every_s=0)
                # A VP8 keyframe: frame tag with the low bit 0, then the 0x9d012a start code.
                assert any(f[0] & 1 == 0 and f[3:6] == b"\x9d\x01\x2a" for f in rec.frames)

            # The host page's tiles show the sites by name, live.
            for site in (COMMUNE, AIORTC_SITE):
                tile = host.locator(f'#grid .tile[data-slot="site:{site}"]')
                await until(lambda tile=tile: _attr_is(tile, "data-live", "true"), f"{site}'s tile to be live")
                assert await tile.get_attribute("data-site") == site
                assert await tile.locator("video").evaluate("v => v.videoWidth") > 0

            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / ".gitignore").write_text("*\n!.gitignore\n")
            shot = ARTIFACTS / "host-grid.png"
            await host.screenshot(path=str(shot), full_page=True)
            data = shot.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert len(data) > 5_000
            pages.assert_no_script_errors()
        finally:
            await peer.close()


@pytest.mark.timeout(120)
async def test_the_host_page_mutes_a_commune_camera(pages: Pages) -> None:
    host = await pages.open(HOST, await pages.token(HOST))
    commune = await pages.open(COMMUNE, await pages.token(COMMUNE))
    host.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    for page, who in ((host, HOST), (commune, COMMUNE)):
        await until(lambda page=page: page.evaluate("() => window.__conf.state === 'connected'"),
                    f"{who}'s page to connect")
    await assert_decoding(host, [f"site:{COMMUNE}"], HOST, pages)

    button = host.locator(f'.mod-btn[data-kind="video"][data-site="{COMMUNE}"]')
    await button.and_(host.locator('[data-action="mute_video"]')).click()
    await commune.locator("#toasts .toast", has_text="Chủ trì đã tắt camera của bạn").wait_for(timeout=10_000)
    cam = commune.locator("#btn-cam")
    await until(lambda: cam.evaluate("b => b.classList.contains('moderated') && b.disabled"),
                "the commune's camera button to show the chair's mute")
    # The host sees the moderated camera in its panel, and the button now offers to unmute.
    await until(lambda: _attr_is(button, "data-action", "unmute_video"), "the host's button to offer unmute")
    tile = host.locator(f'#grid .tile[data-slot="site:{COMMUNE}"]')
    await tile.locator(".st-cam.mod").wait_for(timeout=10_000)
    # The chair locks the room from the page; every site's page shows it.
    lock = host.locator("#btn-lock")
    await lock.click()
    await until(lambda: _attr_is(lock, "data-locked", "true"), "the host's lock button to show the lock")
    await commune.locator("#lock-badge").wait_for(state="visible", timeout=10_000)
    pages.assert_no_script_errors()


async def test_the_host_panel_shows_a_connected_commune_as_connected(pages: Pages) -> None:
    host = await pages.open(HOST, await pages.token(HOST))
    await until(lambda: host.evaluate("() => window.__conf.state === 'connected'"), "the host's page to connect")
    commune = await pages.open(COMMUNE, await pages.token(COMMUNE))
    await until(lambda: commune.evaluate("() => window.__conf.state === 'connected'"), "the commune's page to connect")
    await assert_decoding(host, [f"site:{COMMUNE}"], HOST, pages)  # media flows both ways by now
    row = host.locator(f'#site-list .site-row[data-site="{COMMUNE}"]')
    try:
        await until(lambda: _attr_is(row, "data-connection", "connected"), "the commune's row to say connected",
                    wait_s=5)
    except AssertionError as exc:
        roster = await host.evaluate(f"() => window.__conf.roster.find(s => s.site === '{COMMUNE}')")
        raise AssertionError(f"{exc}; the host page's roster entry: {roster}") from None


async def _attr_is(locator: Any, name: str, value: str) -> bool:
    return await locator.get_attribute(name) == value


@pytest.mark.parametrize("case", ["garbage", "forged", "expired", "unknown_room"])
async def test_a_bad_join_link_gets_a_clear_error(pages: Pages, clock: FakeClock, case: str) -> None:
    if case == "garbage":
        token, code = "garbage", "invalid_token"
    elif case == "forged":  # well-formed, so only the server can tell: the signature is not ours
        token, code = (await pages.token(COMMUNE)).rsplit(".", 1)[0] + "." + "A" * 43, "invalid_token"
    elif case == "expired":
        token, code = await pages.token(COMMUNE, ttl_s=60), "token_expired"
        clock.now += 120
    else:
        token, code = await pages.token(COMMUNE, room="phong-khong-co"), "unknown_room"
    page = await pages.open(COMMUNE, token)
    error = page.locator("#error")
    await error.wait_for(state="visible", timeout=10_000)
    assert await error.get_attribute("data-code") == code
    text = (await page.locator("#error-text").inner_text()).strip()
    assert text and any(ch in text for ch in "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ"), text
    assert code in await page.locator("#error-detail").inner_text()
    assert await page.evaluate("() => window.__conf.state") == "error"
    assert await page.evaluate("() => document.documentElement.lang") == "vi"
    assert await page.evaluate("() => document.body.dataset.state") == "error"
    pages.assert_no_script_errors()
