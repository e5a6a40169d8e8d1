"""The console's admin pages in a real Chromium against the real app: users, service tokens, the audit log, jobs.

An admin creates a user (the password rules are on the page before submitting; a weak password is refused in
Vietnamese words, not the server's English), changes the role, disables the account (its login is refused) and
enables it, sets a temporary password (the user must change it); makes a service token that is shown once,
scrapes the real /metrics with it (200), revokes it (401). The audit page shows words, not codes or epoch times;
its filters narrow the table and its CSV download has the same rows. The jobs editor turns "every day at 02:00"
into the server's cron, "run now" adds a run. A meeting player opened in a new tab of the same browser needs no
second login. Each page at 1366×768 and 390×844, in Vietnamese and English, is no wider than the viewport.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mediaserver.app_keys import SCHEDULER_KEY, STORE_KEY
from tests.browser import ARTIFACTS, console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, Api

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ADMIN = "quan-tri"
NEW_USER = "nguyen.van.an"
TEMP_PASSWORD = "Tam-Thoi-2026!"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

# Every element's right edge within the viewport (a table may scroll inside its own .table-wrap).
WIDEST_JS = """() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.table-wrap, .snippet, .nav')) continue;
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > w + 1 || r.left < -1)) {
      out.push(`${el.tagName}#${el.id}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return { w, scroll: document.documentElement.scrollWidth, out: out.slice(0, 5) };
}"""


ONLY_TARGET_JS = """(target) => {
  const rows = [...document.querySelectorAll('#audit-table tbody tr')];
  return rows.length > 0 && rows.every((r) => r.querySelector('.aud-on').innerText === target);
}"""
ROWS_JS = "(n) => document.querySelectorAll('#audit-table tbody tr').length === n"
NATIVE_PICKERS = "input[type=date], input[type=time], input[type=datetime-local]"
PAGES = (("users", "#tokens-list"), ("audit", "#audit-table tbody tr"), ("schedules", "#jobs"))


async def no_overflow(page: Any, what: str) -> None:
    got = await page.evaluate(WIDEST_JS)
    assert got["scroll"] <= got["w"] + 1 and not got["out"], f"{what}: wider than the viewport: {got}"


def dialogs(page: Any) -> list[str]:
    """Accept every confirm() and keep its text."""
    seen: list[str] = []

    async def accept(d: Any) -> None:
        seen.append(d.message)
        await d.accept()

    page.on("dialog", accept)
    return seen


async def login_status(api: Api, username: str, password: str) -> tuple[int, dict[str, Any]]:
    r = await api.client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return r.status, await r.json()


async def test_users_and_service_tokens_from_the_console(api: Api) -> None:
    await api.add_user(ADMIN, "admin")
    await api.add_user("truc-ban", "operator")
    store = api.app[STORE_KEY]
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=1366, height=768) as page:
        confirms = dialogs(page)
        await console_login(page, "#/users", ADMIN, STRONG_PASSWORD)
        table = page.locator("#users-table")
        await table.locator(f"tr[data-user='{ADMIN}']").wait_for()
        form = page.locator("#user-form")
        # The rules are on the page before anything is submitted, in Vietnamese.
        assert "ít nhất 10 ký tự" in await form.locator(".pw-policy").inner_text()
        assert "Bảo vệ / an ninh" in await page.locator("#new-role").inner_text()
        await page.fill("#new-username", NEW_USER)
        await page.select_option("#new-role", "security")
        await page.fill("#new-password-user", "matkhau")  # too weak: refused in words, English only as detail
        await page.click("#user-create")
        msg = page.locator("#user-create-msg")
        await msg.locator(".err-text").wait_for()
        words = await msg.locator(".err-text").evaluate("e => e.firstChild.textContent")
        assert "Mật khẩu chưa đủ mạnh" in words and "must" not in words
        assert not await msg.locator("details").evaluate("d => d.open")
        await page.fill("#new-password-user", STRONG_PASSWORD.replace("Kiem", "Moi"))
        await page.click("#user-create")
        row = table.locator(f"tr[data-user='{NEW_USER}']")
        await row.wait_for()
        assert "Bảo vệ / an ninh" in await row.locator("select.user-role option:checked").inner_text()
        assert "Phải đổi mật khẩu" in await row.inner_text()
        user = await store.users.by_name(NEW_USER)
        assert user is not None and user.role == "security" and user.must_change_password

        await row.locator("select.user-role").select_option("operator")
        await table.locator(f"tr[data-user='{NEW_USER}'][data-role='operator']").wait_for()
        await page.locator("#users-note", has_text="Điều hành hội nghị").wait_for()

        await table.locator(f"tr[data-user='{NEW_USER}'] .user-disable").click()
        await table.locator(f"tr[data-user='{NEW_USER}'][data-disabled='true']").wait_for()
        assert NEW_USER in confirms[-1]
        status, _ = await login_status(api, NEW_USER, STRONG_PASSWORD.replace("Kiem", "Moi"))
        assert status == 401  # a disabled account cannot log in
        await table.locator(f"tr[data-user='{NEW_USER}'] .user-enable").click()
        await table.locator(f"tr[data-user='{NEW_USER}'][data-disabled='false']").wait_for()

        await table.locator(f"tr[data-user='{NEW_USER}'] .user-reset").click()
        await page.fill("#reset-password", TEMP_PASSWORD)
        await page.click("#reset-submit")
        await page.locator("#reset-dialog").wait_for(state="detached")
        await page.locator("#users-note", has_text=f"Đã đặt mật khẩu tạm thời cho {NEW_USER}").wait_for()
        status, body = await login_status(api, NEW_USER, TEMP_PASSWORD)
        assert status == 200 and body["must_change_password"] is True  # the user must change it first

        await table.locator("tr[data-user='truc-ban'] .user-force").click()
        await table.locator("tr[data-user='truc-ban'] .must-change").wait_for()
        other = await store.users.by_name("truc-ban")
        assert other is not None and other.must_change_password  # forced to change at the next login

        # Service token: made, shown once with the scrape config, used for a real scrape, revoked.
        await page.fill("#token-name", "prometheus")
        await page.click("#token-create")
        value = page.locator("#token-value")
        await value.wait_for()
        token = await value.input_value()
        assert token.startswith("mst_")
        assert "credentials_file" in await page.locator("#token-scrape").inner_text()
        trow = page.locator("#tokens-table tr[data-token-name='prometheus']")
        await trow.wait_for()
        assert "Chỉ đọc số liệu giám sát" in await trow.inner_text()
        r = await api.client.get("/metrics", headers=api.auth(token))
        assert r.status == 200 and "# HELP" in await r.text()
        await page.screenshot(path=str(ARTIFACTS / "console-users-tokens.png"), full_page=True)
        await page.click("#refresh")  # shown once: never again
        await page.locator("#tokens-table").wait_for()
        assert token not in await page.content()
        await page.locator("#tokens-table tr[data-token-name='prometheus'] .token-revoke").click()
        await page.locator("#tokens-table tr[data-token-name='prometheus'][data-revoked='true']").wait_for()
        r = await api.client.get("/metrics", headers=api.auth(token))
        assert r.status == 401

        # The meeting player in a new tab of this browser is already logged in.
        player = await page.context.new_page()
        await player.goto("/meetings/999999/player")
        await player.wait_for_function("() => window.__meetingPlayer && window.__meetingPlayer.token")
        assert await player.locator("#login").is_hidden()
        # A second console tab is logged in too; logging out in one logs the other out ('storage' event).
        other = await page.context.new_page()
        await other.goto("/#/audit")
        await other.locator("#audit-table").wait_for()
        await page.click("#logout")
        await other.locator("#login-form").wait_for()
        assert page.errors == []


async def test_audit_page_in_words_filters_and_csv(api: Api) -> None:
    await api.add_user(ADMIN, "admin")
    await api.add_user("bao-ve", "security")
    await api.login("bao-ve")
    await login_status(api, "bao-ve", "sai-mat-khau")
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=1366, height=768, accept_downloads=True) as page:
        await console_login(page, "#/audit", ADMIN, STRONG_PASSWORD)
        tbody = page.locator("#audit-table tbody")
        await tbody.locator("tr").first.wait_for()
        text = await page.locator("#audit-table").inner_text()
        assert "Đăng nhập" in text and "Đăng nhập không thành công" in text
        assert not re.search(r"\bauth\.login|anonymous|\b1[6-9]\d{8}\b|[{}]", text), text
        assert re.search(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", text), text  # vi-VN date and time
        assert "Chưa đăng nhập" in text
        # Filter: the target, and a kind of action, with the dd/mm/yyyy picker (today, Vietnam time).
        await page.fill("#aud-target", "bao-ve")  # logins are by someone not signed in yet, on the account
        today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
        await page.fill("#aud-from", today)
        await page.fill("#aud-to", today)
        await page.click("#aud-apply")
        await until(lambda: page.evaluate(ONLY_TARGET_JS, "bao-ve"), "the target filter")
        rows = await tbody.locator("tr").count()
        assert rows == 2, await tbody.inner_text()  # the login and the failed one
        await page.select_option("#aud-group", "auth.")
        await page.fill("#aud-from", "31/02/2026")
        await page.click("#aud-apply")
        assert "ngày/tháng/năm" in await page.locator("#aud-msg").inner_text()
        await page.fill("#aud-from", today)
        async with page.expect_download() as dl:
            await page.click("#aud-csv")
        path = await (await dl.value).path()
        got = list(csv.reader(io.StringIO(await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig"))))
        assert got[0][:3] == ["STT", "Thời gian", "Người thực hiện"]
        assert len(got) == 1 + rows and all(r[5] == "bao-ve" for r in got[1:]), got
        await page.screenshot(path=str(ARTIFACTS / "console-audit.png"), full_page=True)
        # Paging: 50 at a time, "Xem thêm" fetches the older ones (next_before_id).
        for i in range(60):
            await api.app[STORE_KEY].audit.add("truc-ban", "operator", "camera.view", f"cam-{i}", remote="10.0.0.9")
        await page.click("#aud-clear")
        await page.fill("#aud-actor", "truc-ban")
        await page.click("#aud-apply")
        await until(lambda: page.evaluate(ROWS_JS, 50), "page 1")
        await page.click("#aud-more")
        await until(lambda: page.evaluate(ROWS_JS, 60), "page 2")
        assert await page.locator("#aud-more").is_hidden()
        first = page.locator("#audit-table tbody tr").first
        assert "Xem trực tiếp camera" in await first.inner_text()
        assert await first.locator(".aud-on a").get_attribute("href") == "#/recordings?camera=cam-59"
        await page.click("#lang-toggle")
        await page.locator("#audit-table tbody tr").first.wait_for()
        assert "Watched a camera live" in await page.locator("#audit-table").inner_text()
        assert page.errors == []


async def test_schedules_editor_makes_cron_and_runs_now(api: Api) -> None:
    await api.add_user(ADMIN, "admin")
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=1366, height=768) as page:
        dialogs(page)
        await console_login(page, "#/schedules", ADMIN, STRONG_PASSWORD)
        await page.locator("#jobs").wait_for()
        # The system's own jobs read in words, not cron or seconds.
        assert re.search(r"Mỗi \d+ (giờ|phút|ngày)", await page.locator("#jobs").inner_text())
        await page.click("#job-new")
        await page.fill("#job-id", "bao-tri-dem")
        await page.select_option("#job-action", "index.maintenance")
        await page.select_option("#job-how", "daily")
        await page.fill("#job-time", "2:00")
        await page.locator("#job-time").dispatch_event("change")
        assert await page.locator("#job-preview").inner_text() == "Hằng ngày lúc 02:00"
        await page.click("#job-save")
        card = page.locator("#jobs .job-card[data-job-id='bao-tri-dem']")
        await card.wait_for()
        assert "Hằng ngày lúc 02:00" in await card.locator(".job-words").inner_text()
        job = await api.app[STORE_KEY].jobs.get("bao-tri-dem")
        assert job is not None and (job.kind, job.spec, job.action) == ("cron", "0 2 * * *", "index.maintenance")
        # Edit: Monday to Friday at 07:30.
        await card.locator(".job-edit").click()
        await page.select_option("#job-how", "weekly")
        await page.fill("#job-time", "07:30")
        await page.locator("#job-time").dispatch_event("change")
        assert await page.locator("#job-preview").inner_text() == "Thứ Hai–Thứ Sáu lúc 07:30"
        await page.click("#job-save")
        await card.locator(".job-words", has_text="Thứ Hai–Thứ Sáu lúc 07:30").wait_for()
        job = await api.app[STORE_KEY].jobs.get("bao-tri-dem")
        assert job is not None and job.spec == "30 7 * * 1,2,3,4,5"
        await card.locator(".job-run").click()
        await card.locator(".job-runs li[data-outcome='ok']").wait_for(timeout=10_000)
        assert "Thành công" in await card.locator(".job-runs").inner_text()
        await card.locator(".job-toggle").click()
        await until(lambda: _disabled(api, "bao-tri-dem"), "the job disabled")
        await page.locator("#jobs .job-card[data-job-id='bao-tri-dem'] .job-delete").click()
        await until(lambda: _gone(api, "bao-tri-dem"), "the job deleted")
        # Once, tomorrow at 07:30 Vietnam time, typed as dd/mm/yyyy; and every 6 hours.
        tomorrow = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=1)
        for job_id, how in (("mot-lan", "once"), ("sau-gio", "interval")):
            await page.click("#job-new")
            await page.fill("#job-id", job_id)
            await page.select_option("#job-action", "index.maintenance")
            await page.select_option("#job-how", how)
            if how == "once":
                await page.fill("#job-time", "07:30")
                await page.fill("#job-date", tomorrow.strftime("%d/%m/%Y"))
                await page.locator("#job-date").dispatch_event("change")
            else:
                await page.fill("#job-every", "6")
                await page.select_option("#job-unit", "hour")
                assert await page.locator("#job-preview").inner_text() == "Mỗi 6 giờ"
            await page.click("#job-save")
            await page.locator(f"#jobs .job-card[data-job-id='{job_id}']").wait_for()
        once = await api.app[STORE_KEY].jobs.get("mot-lan")
        assert once is not None and (once.kind, once.spec) == ("once", f"{tomorrow.date().isoformat()}T07:30:00+07:00")
        every = await api.app[STORE_KEY].jobs.get("sau-gio")
        assert every is not None and (every.kind, every.spec) == ("interval", "21600")
        assert api.app[SCHEDULER_KEY] is not None
        assert page.errors == []


async def _disabled(api: Api, job_id: str) -> bool:
    job = await api.app[STORE_KEY].jobs.get(job_id)
    return job is not None and not job.enabled


async def _gone(api: Api, job_id: str) -> bool:
    return await api.app[STORE_KEY].jobs.get(job_id) is None


async def test_admin_pages_fit_desktop_and_phone_in_both_languages(api: Api) -> None:
    await api.add_user(ADMIN, "admin")
    await api.login(ADMIN)
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=390, height=844) as page:
        await console_login(page, "#/users", ADMIN, STRONG_PASSWORD)
        await page.locator("#users-table").wait_for()
        # The first nav link is tappable (not under the top bar) on a phone.
        first = page.locator("#nav .nav-link").first
        box = await first.bounding_box()
        assert box is not None
        hit = await page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.closest('.nav-link') !== null",
                                  [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        assert hit
        for lang in ("vi", "en"):
            for view in (PHONE, DESKTOP):
                await page.set_viewport_size(view)
                for section, ready in PAGES:
                    await page.evaluate("(h) => { location.hash = h; }", f"#/{section}")
                    await page.locator(ready).first.wait_for()
                    await no_overflow(page, f"{section} {lang} {view['width']}")
                    if view is PHONE:
                        await page.screenshot(path=str(ARTIFACTS / f"console-{section}-{lang}-phone.png"))
                    if section == "audit":  # the project's own date fields, the same in both languages
                        assert await page.get_attribute("#aud-from", "placeholder") == "dd/mm/yyyy"
                    if section == "schedules" and view is PHONE:
                        await page.click("#job-new")
                        await page.locator("#job-form").wait_for()
                        await no_overflow(page, f"job editor {lang}")
                        await page.select_option("#job-how", "once")
                        assert await page.get_attribute("#job-date", "placeholder") == "dd/mm/yyyy"
                        assert await page.locator(NATIVE_PICKERS).count() == 0
                        await page.screenshot(path=str(ARTIFACTS / f"console-job-editor-{lang}-phone.png"))
                        await page.keyboard.press("Escape")
            if lang == "vi":
                assert await page.locator("#nav [data-section='users']").inner_text() == "Người dùng"
                await page.click("#lang-toggle")
        assert await page.locator("#nav [data-section='users']").inner_text() == "Users"
        await page.evaluate("() => { location.hash = '#/schedules'; }")
        await page.locator("#jobs").wait_for()
        assert re.search(r"Every \d+ (hours|minutes|days)", await page.locator("#jobs").inner_text())
        await page.screenshot(path=str(ARTIFACTS / "console-jobs-en-desktop.png"), full_page=True)
        assert page.errors == []
