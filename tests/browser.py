"""Shared settings for the headless-Chromium tests (Debian's /usr/bin/chromium, which `make test` installs)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# Every inbound video stream of a join page, by slot (the page's m-line → slot map): decoded width and frames.
INBOUND_VIDEO_JS = """async () => {
  const conf = window.__conf;
  const pc = conf && conf.pc;
  if (!pc) return {};
  const byMid = {};
  for (const [name, slot] of Object.entries(conf.slots)) byMid[slot.mid] = name;
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.mid in byMid) {
      out[byMid[s.mid]] = { w: s.frameWidth || 0, decoded: s.framesDecoded || 0 };
    }
  });
  return out;
}"""


async def inbound_video(page: Any) -> dict[str, dict[str, int]]:
    """Return a join page's inbound video streams by slot: {"w": frameWidth, "decoded": framesDecoded}."""
    return dict(await page.evaluate(INBOUND_VIDEO_JS))


async def decoded(page: Any) -> dict[str, int]:
    """Return framesDecoded of a join page's inbound video streams, by slot."""
    return {slot: v["decoded"] for slot, v in (await inbound_video(page)).items()}


async def until(cond: Callable[[], Awaitable[Any]], what: str, wait_s: float = 20.0, every_s: float = 0.25) -> Any:
    """Poll an async condition (a page evaluation) until it is truthy; return its value or fail naming it."""
    deadline = time.monotonic() + wait_s
    while True:
        got = await cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {wait_s:.0f} s waiting for {what}")
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def console_page(base_url: str, *, width: int = 1280, height: int = 900, **context: Any) -> AsyncIterator[Any]:
    """Open one page of headless Chromium on the console at ``base_url`` (vi-VN, Vietnam time), closed after.

    The page's uncaught errors are collected in ``page.errors`` (a list of strings) for the test to check.
    """
    from playwright import async_api as playwright_api

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": width, "height": height}, base_url=base_url,
                                            locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **context)
            page = await ctx.new_page()
            page.errors = []
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            yield page
        finally:
            await browser.close()


async def console_login(page: Any, hash_: str, username: str, password: str) -> None:
    """Open a console deep link and log in (the link is followed after login)."""
    await page.goto(f"/{hash_}")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.locator("#login-form").evaluate("f => f.requestSubmit()")
