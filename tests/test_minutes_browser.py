"""The console's minutes (biên bản) card, the exports' signed-manifest buttons and the signature check page in a
real Chromium against the real app (the shipped config's demo signer): an operator writes the conclusions, issues
the minutes of a held meeting, checks the signature; the check page says a good PDF is valid and a changed one is
not, in Vietnamese and in English, on a 390 px phone without overflow. Debian's /usr/bin/chromium, never a
downloaded browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api as playwright_api

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import STRONG_PASSWORD, Api
from tests.test_minutes import CONCLUSIONS, _held_meeting

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

USER = "van-thu"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _overflow(page: Any) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))


async def test_issue_check_and_verify_minutes_in_the_console(api: Api, browser: Any, tmp_path: Path) -> None:
    await api.add_user(USER, "operator")
    mid = await _held_meeting(api)
    errors: list[str] = []
    ctx = await browser.new_context(viewport=PHONE, base_url=str(api.client.make_url("")).rstrip("/"),
                                    accept_downloads=True)
    page = await ctx.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"/#/meetings?id={mid}")
    await page.fill("#username", USER)
    await page.fill("#password", STRONG_PASSWORD)
    await page.locator("#login-form").evaluate("f => f.requestSubmit()")

    card = page.locator("#minutes")
    await card.wait_for(timeout=15_000)
    await page.locator("#minutes-none").wait_for()
    assert "CHỈ DÙNG THỬ" in await page.locator("#minutes-signing").inner_text()
    await page.fill("#minutes-conclusions", CONCLUSIONS)
    await page.check("#minutes-chat")
    await page.click("#minutes-issue")
    await page.locator("#minutes-msg", has_text="Đã phát hành biên bản phiên bản 1").wait_for(timeout=30_000)
    item = page.locator('#minutes-versions li[data-version="1"]')
    await item.wait_for()
    assert (await item.get_attribute("data-signed")) == "true"
    assert "Đã ký số: CHỈ DÙNG THỬ" in await item.inner_text()
    assert await _overflow(page) <= PHONE["width"]

    await item.locator(".minutes-check").click()
    dialog = page.locator("#verify-dialog")
    await dialog.wait_for()
    assert await dialog.locator("#verify-result").get_attribute("data-valid") == "true"
    text = await dialog.inner_text()
    assert "HỢP LỆ" in text and "Chứng thư do CA tin cậy cấp" in text and "CHỈ DÙNG THỬ" in text, text
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "minutes-verify-phone.png"), full_page=True)
    await dialog.locator(".modal-close").click()

    # The check page: the stored PDF is valid; the same PDF with one byte changed is not, and says why.
    tok = await api.login(USER)
    r = await api.client.get(f"/api/v1/scheduled-meetings/{mid}/minutes.pdf", headers=api.auth(tok))
    pdf = await r.read()
    good = tmp_path / "bien-ban.pdf"
    good.write_bytes(pdf)
    bad = tmp_path / "bien-ban-sua.pdf"
    data = bytearray(pdf)
    data[pdf.index(b"/Title") + 4] ^= 1
    bad.write_bytes(bytes(data))
    await page.goto("/#/verify")
    await page.locator("#verify-page").wait_for()
    await page.set_input_files("#verify-files", str(good))
    await page.click("#verify-run")
    result = page.locator("#verify-result")
    await result.wait_for(timeout=15_000)
    assert await result.get_attribute("data-valid") == "true"
    await page.set_input_files("#verify-files", str(bad))
    await page.click("#verify-run")
    await page.locator('#verify-result[data-valid="false"]').wait_for(timeout=15_000)
    text = await page.locator("#verify-result").inner_text()
    assert "KHÔNG HỢP LỆ" in text and "Nội dung đã bị thay đổi sau khi ký" in text, text
    assert await _overflow(page) <= PHONE["width"]
    await page.screenshot(path=str(ARTIFACTS / "verify-changed-phone.png"), full_page=True)

    # English on the toggle.
    await page.evaluate("async () => { (await import('/console/i18n.js')).setLang('en', 'console.lang'); }")
    await page.reload()
    await page.locator("#verify-page").wait_for()
    await page.set_input_files("#verify-files", str(bad))
    await page.click("#verify-run")
    await page.locator('#verify-result[data-valid="false"]').wait_for(timeout=15_000)
    text = await page.locator("#verify-result").inner_text()
    assert "NOT VALID" in text and "changed after it was signed" in text, text
    assert not errors, errors
    await ctx.close()
