"""The console's meeting calendar, form, roll call, invitations and monitoring in a real Chromium, against the real app.

An operator (Vietnamese by default) schedules a meeting through the form on the week calendar, edits it, is told
in Vietnamese when the end is before the start or the room is already taken; opens a meeting's page with its
roll call, records why a site is absent, prints the roll call and the invitations (one link and QR code per
site), downloads the CSV, e-mails the invitations to a real SMTP server (aiosmtpd), and watches a real aiortc
site on the monitoring page. Every page is checked for console errors and, on a 390 px phone, for horizontal
overflow. Screenshots go to tests/artifacts. Uses Debian's /usr/bin/chromium: no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import STORE_KEY, TOKENS_KEY
from mediaserver.config import Config
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, until
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import STRONG_PASSWORD, Api, ApiFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
A, B, C = "xa-an-binh", "xa-an-hoa", "xa-binh-minh"
USER = "dieu-hanh"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TITLE = "Giao ban trực tuyến tuần 50 — Ủy ban nhân dân huyện"


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()


def vn_day(days_ahead: int) -> str:
    """A Vietnam-time date some days from now, as YYYY-MM-DD."""
    return (datetime.now(VN) + timedelta(days=days_ahead)).date().isoformat()


def vn_ts(day: str, hhmm: str) -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=VN).timestamp()


class Browser:
    """One Chromium for a test; each page collects its console errors and page errors."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.errors: list[str] = []
        self.expected: list[str] = []  # console errors a test provokes on purpose (a refused request)

    @property
    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]

    async def page(self, viewport: dict[str, int] = DESKTOP, **kw: Any) -> Any:
        ctx = await self.browser.new_context(viewport=viewport, base_url=self.base, **kw)
        page = await ctx.new_page()
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text} @ {m.location.get('url', '')}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        return page

    async def login(self, page: Any, hash_: str) -> None:
        """Open a console deep link and log in as the operator (the link is followed after login)."""
        await page.goto(f"/{hash_}")
        await page.fill("#username", USER)
        await page.fill("#password", STRONG_PASSWORD)
        await page.locator("#login-form").evaluate("f => f.requestSubmit()")
        await page.locator("#topbar, .print-page").first.wait_for(timeout=10_000)


@pytest.fixture
async def chromium(api: Api) -> AsyncIterator[Browser]:
    await api.add_user(USER, "operator")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield Browser(browser, str(api.client.make_url("")).rstrip("/"))
        finally:
            await browser.close()


async def shoot(page: Any, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(shot), full_page=full_page)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


async def no_overflow(page: Any, what: str) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
          .slice(0, 8)
          .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""")
        raise AssertionError(f"{what}: horizontal overflow, scrollWidth {width} > 390: {wide}")


async def clean_text(page: Any) -> None:
    """No template leftovers on the page (the bug was a "null" printed under each roll-call bar)."""
    text = await page.evaluate("document.body.innerText")
    for word in ("null", "undefined", "NaN", "[object", "{"):
        assert word not in text, f"{word!r} on the page: {text[max(0, text.find(word) - 80):text.find(word) + 80]!r}"


async def api_meeting(api: Api, **kw: Any) -> dict[str, Any]:
    """Schedule a meeting through the API as the operator (whom the test has added)."""
    op = api.auth(await api.login(USER))
    body = {"title": "Họp trực tuyến về công tác phòng, chống thiên tai", "agenda": "1. Báo cáo của các xã",
            "room_id": ROOM, "invited_sites": [HOST, A, B], "starts_at": at(600), "ends_at": at(3600), **kw}
    r = await api.client.post("/api/v1/scheduled-meetings", json=body, headers=op)
    assert r.status == 201, await r.text()
    return dict(await r.json())


def dmy(day: str) -> str:
    """The dd/mm/yyyy text the console's date fields show for an ISO day."""
    y, m, d = day.split("-")
    return f"{d}/{m}/{y}"


async def fill_form(page: Any, *, title: str, day: str, start: str, end: str, sites: list[str] | None) -> None:
    await page.locator("#meeting-form").wait_for()
    await page.fill("#mt-title", title)
    await page.select_option("#mt-room", ROOM)
    if sites is not None:
        if await page.is_checked("#mt-sites-all"):
            await page.click("#mt-sites-all")
        for s in sites:
            await page.check(f"#mt-sites input[value='{s}']")
    await page.fill("#mt-date", dmy(day))
    await page.fill("#mt-start", start)
    await page.fill("#mt-end", end)


async def test_operator_schedules_edits_and_is_told_what_is_wrong(api: Api, chromium: Browser) -> None:
    store = api.app[STORE_KEY]
    day = vn_day(2)
    # The browser is in Paris: the calendar and the form still work in Vietnam time.
    page = await chromium.page(timezone_id="Europe/Paris", locale="fr-FR")
    await chromium.login(page, "#/meetings")
    await page.locator("#cal-week").wait_for(timeout=10_000)
    assert await page.evaluate("document.documentElement.lang") == "vi"
    assert (await page.locator("#nav .nav-link.active").inner_text()).strip() == "Lịch họp"
    monday = datetime.fromisoformat(vn_day(0)) - timedelta(days=datetime.fromisoformat(vn_day(0)).weekday())
    sunday = monday + timedelta(days=6)
    assert await page.locator("#cal-range").inner_text() == f"Tuần {monday:%d/%m} – {sunday:%d/%m/%Y}"
    assert await page.locator("#cal-week .cal-dayhead").count() == 7
    assert "Thứ Hai" in await page.locator("#cal-week .cal-dayhead").first.inner_text()

    # Create: Vietnamese title, three invited sites, 08:30–10:00 Vietnam time.
    await page.click("#meeting-new")
    assert (await page.locator("#meeting-dialog h2").inner_text()).strip() == "Tạo cuộc họp"
    await fill_form(page, title=TITLE, day=day, start="08:30", end="10:00", sites=[A, B])
    assert "3/21" in await page.locator("#mt-sites-count").inner_text()
    await page.click("#mt-submit")
    await page.locator("#cal-flash", has_text="Đã tạo cuộc họp").wait_for(timeout=10_000)
    [m] = await store.meetings.between(time.time(), time.time() + 14 * 86400)
    assert m.title == TITLE and m.room_id == ROOM
    assert m.starts_at == vn_ts(day, "08:30") and m.ends_at == vn_ts(day, "10:00")
    assert sorted(m.invited) == sorted([HOST, A, B])
    block = page.locator(f"#cal-week .cal-col[data-day='{day}'] .cal-block[data-meeting-id='{m.id}']")
    await block.wait_for(timeout=10_000)
    assert TITLE in await block.inner_text() and "08:30–10:00" in await block.inner_text()
    # Drawn in its day's column, from 08:30 (half an hour below the 08:00 line) to 10:00.
    geo = await block.evaluate("""(b) => {
      const r = (e) => e.getBoundingClientRect();
      const col = b.closest('.cal-col');
      const hour = [...document.querySelectorAll('#cal-week .cal-hour')].find((e) => e.textContent === '08:00');
      const [bb, cb, hb] = [r(b), r(col), r(hour)];
      return {left: bb.left - cb.left, right: cb.right - bb.right, top: bb.top - (hb.top + hb.height / 2),
              height: bb.height, colHeight: cb.height, pos: getComputedStyle(b).position};
    }""")
    assert geo["pos"] == "absolute" and geo["left"] >= 0 and geo["right"] >= 0, geo
    assert abs(geo["top"] - 24) <= 2 and abs(geo["height"] - 70) <= 3, geo  # 48 px an hour
    await clean_text(page)
    await shoot(page, "console-schedule-week.png")

    # A click on an empty slot of a day opens the form on that day and half hour (14:00: 7 hours below 07:00).
    col = page.locator(f"#cal-week .cal-col[data-day='{day}']")
    await col.click(position={"x": 8, "y": 7 * 48 + 6})
    await page.locator("#meeting-form").wait_for()
    assert await page.input_value("#mt-date") == dmy(day)
    assert (await page.input_value("#mt-start"), await page.input_value("#mt-end")) == ("14:00", "16:00")
    # Text fields from picker.js (dd/mm/yyyy, 24-hour), never the browser's own date/time inputs.
    assert await page.locator("#meeting-form input[type=date], #meeting-form input[type=time]").count() == 0
    # No title: said in Vietnamese, nothing sent.
    await page.click("#mt-submit")
    err = page.locator(".field-error[data-for='title']")
    await err.wait_for(state="visible", timeout=5_000)
    assert "Nhập tên cuộc họp" in await err.inner_text()
    assert await page.evaluate("document.activeElement.id") == "mt-title"

    # A date that does not exist: the picker's Vietnamese hint, nothing sent.
    await fill_form(page, title="Họp sai ngày", day="2026-02-31", start="10:00", end="11:00", sites=None)
    await page.click("#mt-submit")
    err = page.locator(".field-error[data-for='date']")
    await err.wait_for(state="visible", timeout=5_000)
    assert "ngày/tháng/năm" in await err.inner_text()

    # End before start: the Vietnamese field error, nothing created.
    await fill_form(page, title="Họp sai giờ", day=day, start="10:00", end="09:00", sites=None)
    await page.click("#mt-submit")
    err = page.locator(".field-error[data-for='end']")
    await err.wait_for(state="visible", timeout=5_000)
    assert "Giờ kết thúc phải sau giờ bắt đầu" in await err.inner_text()
    assert len(await store.meetings.between(time.time(), time.time() + 14 * 86400)) == 1

    # Overlapping the first meeting in the same room: the server refuses it (409) and the form names the other.
    chromium.expected.append("status of 409 (Conflict) @ " + chromium.base + "/api/v1/scheduled-meetings")
    await fill_form(page, title="Họp trùng giờ", day=day, start="09:00", end="11:00", sites=None)
    await page.click("#mt-submit")
    err = page.locator(".field-error[data-for='start']")
    await err.wait_for(state="visible", timeout=5_000)
    text = await err.inner_text()
    assert "trùng khung giờ" in text and TITLE in text, text
    assert len(await store.meetings.between(time.time(), time.time() + 14 * 86400)) == 1
    await shoot(page, "console-schedule-form-error.png", full_page=False)
    await page.click("#mt-cancel")
    assert await page.locator("#meeting-dialog").count() == 0

    # Edit from the meeting's page: a new title and end.
    await block.click()
    await page.locator("#meeting-page").wait_for(timeout=10_000)
    assert (await page.locator("#meeting-title").inner_text()).strip() == TITLE
    facts = await page.locator("#meeting-facts").inner_text()
    assert "08:30 – 10:00" in facts and "Sắp diễn ra" in await page.locator(".mt-head").inner_text()
    await page.click("#meeting-edit")
    assert (await page.locator("#meeting-dialog h2").inner_text()).strip() == "Sửa cuộc họp"
    assert await page.input_value("#mt-date") == dmy(day) and await page.input_value("#mt-start") == "08:30"
    assert await page.is_checked(f"#mt-sites input[value='{A}']")
    assert not await page.is_checked(f"#mt-sites input[value='{C}']")
    await page.fill("#mt-title", "Giao ban trực tuyến tuần 51")
    await page.fill("#mt-end", "11:15")
    await page.click("#mt-submit")
    await page.locator("#meeting-flash", has_text="Đã lưu cuộc họp").wait_for(timeout=10_000)
    got = await store.meetings.get(m.id)
    assert got is not None and got.title == "Giao ban trực tuyến tuần 51"
    assert got.starts_at == vn_ts(day, "08:30") and got.ends_at == vn_ts(day, "11:15")
    assert sorted(got.invited) == sorted([HOST, A, B])
    await page.locator("#meeting-title", has_text="tuần 51").wait_for()
    assert "08:30 – 11:15" in await page.locator("#meeting-facts").inner_text()

    # English on the toggle.
    await page.click("#lang-toggle")
    await page.locator("#nav .nav-link.active", has_text="Meetings").wait_for(timeout=5_000)
    await page.locator("#attendance h3", has_text="Roll call").wait_for(timeout=5_000)
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.click("#lang-toggle")
    await page.locator("#attendance h3", has_text="Điểm danh").wait_for(timeout=5_000)

    # On a phone: the week as a list of days, the meeting page, no sideways scrolling.
    phone = await chromium.page(PHONE, timezone_id="Europe/Paris", is_mobile=True, has_touch=True)
    await chromium.login(phone, f"#/meetings?week={day}")
    await phone.locator(f"#cal-agenda .ag-item[data-meeting-id='{m.id}']").wait_for(state="visible", timeout=10_000)
    await no_overflow(phone, "calendar")
    await shoot(phone, "console-schedule-week-phone.png")
    await phone.click("#meeting-new")
    await phone.locator("#meeting-form").wait_for()
    await no_overflow(phone, "meeting form")
    await shoot(phone, "console-schedule-form-phone.png", full_page=False)
    await phone.click("#mt-cancel")
    await phone.click(f"#cal-agenda .ag-item[data-meeting-id='{m.id}']")
    await phone.locator("#meeting-page #att-grid .att-tile").first.wait_for(timeout=10_000)
    await no_overflow(phone, "meeting page")
    await clean_text(phone)
    await shoot(phone, "console-schedule-meeting-phone.png")

    # Cancelling keeps the meeting, marked cancelled, with nothing left to edit or send.
    await page.click("#meeting-cancel")
    await page.locator("#cancel-dialog").wait_for()
    await page.click("#cancel-yes")
    await page.locator("#meeting-flash", has_text="Đã hủy cuộc họp").wait_for(timeout=5_000)
    await page.locator(".mt-head [data-status='cancelled']", has_text="Đã hủy").wait_for(timeout=5_000)
    assert await page.locator("#meeting-edit, #meeting-invite, #meeting-cancel").count() == 0
    cancelled = await store.meetings.get(m.id)
    assert cancelled is not None and cancelled.cancelled
    await page.click("#meeting-back")
    await page.locator(f"#cal-week .cal-block.st-cancelled[data-meeting-id='{m.id}']").wait_for(timeout=10_000)
    assert chromium.unexpected == []


async def test_roll_call_absence_reason_report_and_csv(api: Api, chromium: Browser) -> None:
    store = api.app[STORE_KEY]
    m = await api_meeting(api, starts_at=at(-600), ends_at=at(1800))  # started 10 min ago: open, nobody in yet
    page = await chromium.page(accept_downloads=True)
    await chromium.login(page, f"#/meetings?id={m['id']}")
    tiles = page.locator("#att-grid .att-tile")
    await tiles.first.wait_for(timeout=10_000)
    assert sorted(await tiles.evaluate_all("ts => ts.map((t) => t.dataset.siteId)")) == sorted([HOST, A, B])
    assert await page.locator("#att-counts [data-status='pending'] strong").inner_text() == "3"
    tile = page.locator(f"#att-grid .att-tile[data-site-id='{B}']")
    assert "Chưa vào" in await tile.locator(".att-status").inner_text()
    await tile.locator(".att-reason-input").fill("Đi công tác tỉnh")
    await tile.locator(".att-reason-save").click()
    await tile.locator(".att-reason-status", has_text="Đã lưu").wait_for(timeout=5_000)
    notes = {i.site_id: i.absence_reason for i in await store.meetings.invitees(m["id"])}
    assert notes == {HOST: None, A: None, B: "Đi công tác tỉnh"}
    await asyncio.sleep(3.5)  # a roll-call poll later the saved reason stays
    assert await tile.locator(".att-reason-input").input_value() == "Đi công tác tỉnh"
    await clean_text(page)
    await shoot(page, "console-schedule-meeting.png")

    async with page.expect_download() as dl_info:
        await page.click("#att-csv")
    dl = await dl_info.value
    assert dl.suggested_filename == f"diem-danh-{m['id']}.csv"
    raw = (await dl.path()).read_bytes()
    assert raw.startswith("\ufeff".encode()) and "Đi công tác tỉnh" in raw.decode() and "Chưa vào" in raw.decode()

    await page.click("#att-print")
    report = page.locator("#attendance-report")
    await report.wait_for(timeout=10_000)
    rows = report.locator("#rep-table tbody tr")
    assert sorted(await rows.evaluate_all("rs => rs.map((r) => r.dataset.siteId)")) == sorted([HOST, A, B])
    assert "BÁO CÁO ĐIỂM DANH" in await report.inner_text()
    assert "Đi công tác tỉnh" in await report.locator(f"tr[data-site-id='{B}']").inner_text()
    assert "Số điểm cầu được mời: 3" in await page.locator("#rep-counts").inner_text()
    await clean_text(page)
    await shoot(page, "console-schedule-attendance-print.png")
    await page.click("#print-back")
    await page.locator("#meeting-page").wait_for(timeout=10_000)

    # A meeting that ended with nobody in: every site absent, a reason can be entered, the report is final.
    past = await api_meeting(api, title="Họp đã kết thúc", starts_at=at(-4 * 3600), ends_at=at(-3 * 3600))
    await page.goto(f"/#/meetings?id={past['id']}")
    await page.locator("#meeting-page[data-status='ended']").wait_for(timeout=10_000)
    assert await page.locator("#meeting-edit, #meeting-cancel").count() == 0
    absent = page.locator(f"#att-grid .att-tile[data-site-id='{A}'][data-status='absent']")
    await absent.wait_for(timeout=10_000)
    assert "Vắng mặt" in await absent.locator(".att-status").inner_text()
    assert await page.locator("#att-counts [data-status='absent'] strong").inner_text() == "3"
    await absent.locator(".att-reason-input").fill("Mất điện")
    await absent.locator(".att-reason-input").press("Enter")
    await absent.locator(".att-reason-status", has_text="Đã lưu").wait_for(timeout=5_000)
    await page.goto(f"/#/print/attendance?id={past['id']}")
    await page.locator("#attendance-report").wait_for(timeout=10_000)
    statuses = await page.locator("#rep-table tbody tr").evaluate_all("rs => rs.map((r) => r.dataset.status)")
    assert statuses == ["absent"] * 3
    assert "Mất điện" in await page.locator(f"#rep-table tr[data-site-id='{A}']").inner_text()
    assert "chưa kết thúc" not in await page.locator("#attendance-report").inner_text()
    assert chromium.unexpected == []


async def test_printed_invitations_have_a_link_and_qr_code_per_site(api: Api, chromium: Browser) -> None:
    m = await api_meeting(api, starts_at=at(86400), ends_at=at(90000))
    page = await chromium.page()
    await chromium.login(page, f"#/meetings?id={m['id']}")
    await page.locator("#meeting-page").wait_for(timeout=10_000)
    # E-mail is not configured here: the operator is told so in Vietnamese.
    chromium.expected.append(f"status of 409 (Conflict) @ {chromium.base}/api/v1/scheduled-meetings/{m['id']}/invite")
    await page.click("#meeting-invite")
    err = page.locator("#invite-error[data-code='mail_disabled']")
    await err.wait_for(timeout=5_000)
    assert "Hệ thống chưa được cấu hình gửi e-mail" in await err.inner_text()
    await page.click("#meeting-print-invites")
    cards = page.locator("#invitation-cards .inv-card")
    await cards.first.wait_for(timeout=10_000)
    assert sorted(await cards.evaluate_all("cs => cs.map((c) => c.dataset.siteId)")) == sorted([HOST, A, B])
    for i in range(3):
        card = cards.nth(i)
        assert await card.locator(".inv-qr svg").count() == 1
        assert (await card.locator(".inv-qr svg").bounding_box() or {}).get("width", 0) > 60
        href = await card.locator(".inv-url a").get_attribute("href") or ""
        assert "/join#token=" in href
    assert m["title"] in await cards.first.inner_text()
    await clean_text(page)
    await shoot(page, "console-schedule-invitations-print.png")
    phone = await chromium.page(PHONE, is_mobile=True)
    await chromium.login(phone, f"#/print/invitations?id={m['id']}")
    await phone.locator("#invitation-cards .inv-card").first.wait_for(timeout=10_000)
    await no_overflow(phone, "printed invitations")
    assert chromium.unexpected == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_invitations_by_mail_show_each_sites_outcome(make_api: ApiFactory, config: Config) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.rcpt: list[str] = []

        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                              rcpt_options: list[str]) -> str:
            if address.startswith("khong-ton-tai@"):
                return "550 5.1.1 Mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.rcpt += envelope.rcpt_tos
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        config.mail.enabled = True
        config.mail.port = port
        config.sites[A].email = "xa-an-binh@example.vn"
        config.sites[B].email = "khong-ton-tai@example.vn"
        api = await make_api(config)
        await api.add_user(USER, "operator")
        m = await api_meeting(api, starts_at=at(86400), ends_at=at(90000))
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                b = Browser(browser, str(api.client.make_url("")).rstrip("/"))
                page = await b.page()
                await b.login(page, f"#/meetings?id={m['id']}")
                await page.locator("#meeting-invite", has_text="Gửi giấy mời").click()
                await page.locator("#invite-list").wait_for(timeout=10_000)
                rows = page.locator("#invite-list .inv-row")
                outcomes = await rows.evaluate_all("rs => Object.fromEntries(rs.map((r) => [r.dataset.siteId, "
                                                   "r.dataset.outcome]))")
                assert outcomes == {A: "sent", B: "failed", HOST: "no_email"}
                sent = await page.locator(f".inv-row[data-site-id='{A}']").inner_text()
                assert "Đã gửi tới xa-an-binh@example.vn" in sent, sent
                failed = await page.locator(f".inv-row[data-site-id='{B}']").inner_text()
                assert "Không gửi được tới khong-ton-tai@example.vn" in failed, failed
                assert "chưa có địa chỉ e-mail" in await page.locator(f".inv-row[data-site-id='{HOST}']").inner_text()
                assert "Đã gửi 1/3" in await page.locator("#invite-summary").inner_text()
                assert "2 điểm cầu chưa có e-mail" in await page.locator(".inv-hint").inner_text()
                await clean_text(page)
                assert inbox.rcpt == ["xa-an-binh@example.vn"]
                # The meeting now says when the invitations went out, and offers to send them again.
                await page.locator("#meeting-invite", has_text="Gửi lại").wait_for(timeout=5_000)
                assert "Đã gửi lúc" in await page.locator("#meeting-facts").inner_text()
                await shoot(page, "console-schedule-invite-sent.png")
                assert b.unexpected == []
            finally:
                await browser.close()
    finally:
        smtp.stop()


async def test_monitoring_with_no_meeting_then_a_connected_site(api: Api, chromium: Browser) -> None:
    page = await chromium.page()
    await chromium.login(page, "#/monitor")
    empty = page.locator("#mon-empty")
    await empty.wait_for(state="visible", timeout=10_000)
    assert "Hiện không có cuộc họp nào đang diễn ra" in await empty.inner_text()
    await page.locator("#mon-updated", has_text="Cập nhật lúc").wait_for(timeout=5_000)
    await shoot(page, "console-schedule-monitor-empty.png")

    m = await api_meeting(api, starts_at=at(-300), ends_at=at(3600))
    token = (await api.app[TOKENS_KEY].issue_join(HOST, ROOM))[0]
    async with aiohttp.ClientSession() as http:
        peer = SitePeer(http, chromium.base, ROOM, token, video=encode_video("vp8", 40, 1, gop=10))
        try:
            await peer.join()
            tile = page.locator(f"#mon-rooms .mon-room[data-room-id='{ROOM}'] .mon-tile[data-site-id='{HOST}']")
            await tile.and_(page.locator("[data-connected='true']")).wait_for(timeout=15_000)
            assert await empty.is_hidden()
            head = await page.locator(f".mon-room[data-room-id='{ROOM}'] .mon-room-facts").inner_text()
            assert m["title"] in head and "1/3 điểm cầu đang kết nối" in head, head
            # Its media arrives: a real upload bitrate (vi-VN numbers), and a sparkline being drawn.
            async def upload() -> str | None:
                text = str(await tile.locator(".mon-up dd").inner_text())
                return text if re.fullmatch(r"[1-9][\d.]*(,\d)? kbit/s|\d+(,\d)? Mbit/s", text) else None

            await until(upload, "the host's upload bitrate", wait_s=15)
            # Which picture layer it receives (an aiortc peer's link carries HD).
            await until(lambda: tile.locator(".mon-layer dd").inner_text(), "the layer it receives")
            assert await tile.locator(".mon-layer dd").inner_text() == "HD"
            await until(lambda: tile.evaluate(
                "(t) => t.querySelector('.spark-up').getAttribute('points').split(' ').length >= 2"),
                "the bitrate sparkline")
            await clean_text(page)
            await shoot(page, "console-schedule-monitor.png")
            phone = await chromium.page(PHONE, is_mobile=True)
            await chromium.login(phone, "#/monitor")
            await phone.locator(f".mon-tile[data-site-id='{HOST}'][data-connected='true']").wait_for(timeout=10_000)
            await no_overflow(phone, "monitor")
            await shoot(phone, "console-schedule-monitor-phone.png")

            # The meeting's page shows the host in the roll call, and links to the monitoring.
            await page.goto(f"/#/meetings?id={m['id']}")
            host_tile = page.locator(f"#att-grid .att-tile[data-site-id='{HOST}']")
            await host_tile.and_(page.locator("[data-connected='true']")).wait_for(timeout=10_000)
            assert "Đến muộn" in await host_tile.locator(".att-status").inner_text()
            await page.locator("#meeting-monitor").click()
            await page.locator(f".mon-tile[data-site-id='{HOST}'][data-connected='true']").wait_for(timeout=10_000)
        finally:
            await peer.close()
    # The host has left; the scheduled meeting keeps the room open: its tile turns to "not connected".
    gone = page.locator(f".mon-tile[data-site-id='{HOST}'][data-connected='false']")
    await gone.wait_for(timeout=15_000)
    assert "Không kết nối" in await gone.locator(".mon-warn").inner_text()
    assert "0/3 điểm cầu đang kết nối" in await page.locator(".mon-room-facts").inner_text()
    assert chromium.unexpected == []
