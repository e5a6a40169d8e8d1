"""The console's management pages in a real Chromium against the real app: cameras, sites and rooms, evidence holds.

An admin adds a camera by RTSP URL against a real RTSP simulator process (a bad URL is refused under its field in
Vietnamese, the server's English only behind "Chi tiết"), sees it streaming in words, finds the ONVIF simulator
with "Tìm camera" (WS-Discovery multicast; a sandbox without multicast types its address instead), adds it from the
found list, and removes a camera after a confirm. Sites and rooms: a site with its e-mail, a room whose two member
sites are ticked in a checklist, a join link that really admits the site, a taken id said under its field, a site
removed. Holds: one made on its own with the dd/mm/yyyy picker and released; a failed export says why (a damaged
segment) in words; an account is deleted. Each page at 1366×768 and 390×844, in Vietnamese and English, fits.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from cameras.simulator.discovery import DiscoverableDevice, start_discovery_responder
from cameras.simulator.onvif_service import SimCameraSpec, SimOnvifCamera
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import CAMERAS_KEY, STORE_KEY
from mediaserver.config import Config
from tests.browser import ARTIFACTS, console_login, console_page
from tests.conftest import STRONG_PASSWORD, Api, ApiFactory
from tests.test_console_admin import DESKTOP, PHONE, dialogs, no_overflow
from tests.test_export import CAMERA, T0, footage_api, wait_done

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ADMIN = "quan-tri"
DATE_TIME_VI = re.compile(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}")  # the console's one vi-VN date-time form


async def fits_everywhere(page: Any, hash_: str, ready: str, name: str) -> None:
    """Check the page at desktop and phone sizes, in Vietnamese then English (the language is left English)."""
    for lang in ("vi", "en"):
        for view in (DESKTOP, PHONE):
            await page.set_viewport_size(view)
            await page.evaluate("(h) => { location.hash = h; }", hash_)
            await page.locator(ready).first.wait_for()
            await no_overflow(page, f"{name} {lang} {view['width']}")
        await page.screenshot(path=str(ARTIFACTS / f"console-{name}-{lang}-phone.png"), full_page=True)
        if lang == "vi":
            await page.click("#lang-toggle")


async def test_cameras_added_found_and_removed_from_the_console(api: Api, rtsp: RtspServerProcess) -> None:
    await api.add_user(ADMIN, "admin")
    store = api.app[STORE_KEY]
    onvif = SimOnvifCamera(SimCameraSpec(name="Cong sau", user="admin", password="Sim-Camera-1"))
    await onvif.start()
    device = DiscoverableDevice(xaddrs=(onvif.device_url,), name="Cong sau", hardware="SC-1080")
    try:
        responder = await start_discovery_responder([device], "0.0.0.0", 3702, multicast=True)
    except OSError:
        responder = None  # the WS-Discovery port is taken here: the address is typed instead
    base = str(api.client.make_url("")).rstrip("/")
    try:
        async with console_page(base, width=1366, height=768) as page:
            confirms = dialogs(page)
            await console_login(page, "#/camadmin", ADMIN, STRONG_PASSWORD)
            await page.locator("#camadmin-empty").wait_for()
            assert await page.locator("#nav [data-section='camadmin']").inner_text() == "Quản lý camera"
            # A camera by RTSP URL: the server's refusal of a non-RTSP URL lands under that field, in words.
            await page.fill("#ca-name", "Cổng chính UBND")
            assert await page.input_value("#ca-id") == "cong-chinh-ubnd"  # the id follows the name
            await page.check("input[name=ca-how][value=rtsp]")
            await page.fill("#ca-main", "http://127.0.0.1/khong-phai-rtsp")
            await page.click("#ca-add")
            err = page.locator(".field-error[data-for='streams.main_url']")
            await err.wait_for()
            words = await err.evaluate("e => e.firstChild.textContent")
            assert "rtsp://" in words and "should match" not in words, words
            assert not await err.locator("details").evaluate("d => d.open")  # the English is on demand only
            await page.fill("#ca-main", rtsp.url("/main"))
            await page.click("#ca-add")
            row = page.locator("#camadmin-table tr[data-camera-id='cong-chinh-ubnd']")
            await row.wait_for()
            await page.locator("#camadmin-note", has_text="Đã thêm camera").wait_for()
            # Live state in words from the poll: streaming, its stream good with its frame rate.
            await row.locator(".cam-phase[data-phase='streaming']").wait_for(timeout=20_000)
            await row.locator("[data-stream='main'][data-state='online']").wait_for(timeout=20_000)
            assert "Đang hoạt động" in await row.inner_text() and "hình/giây" in await row.inner_text()
            assert api.app[CAMERAS_KEY].get("cong-chinh-ubnd") is not None

            # The ONVIF simulator, found on the LAN (or typed), added from the form.
            await page.click("#camadmin-find")
            await page.locator("#camadmin-found .ca-found, #camadmin-found-none").first.wait_for(timeout=10_000)
            found = page.locator(f"#camadmin-found li[data-port='{onvif.port}']")
            # Where multicast cannot work (no group joined, or it is not routed), the page says so and the address
            # is typed: the route only probes by multicast.
            if responder is not None and responder.multicast_joined and await found.count():
                assert "Cong sau" in await found.inner_text()
                await found.locator(".ca-pick").click()
                assert await page.input_value("#ca-host") == "127.0.0.1"
                assert await page.input_value("#ca-port") == str(onvif.port)
                assert await page.input_value("#ca-name") == "Cong sau"
            else:
                await page.fill("#ca-name", "Cong sau")
                await page.fill("#ca-host", "127.0.0.1")
                await page.fill("#ca-port", str(onvif.port))
            await page.fill("#ca-port", "70000")  # refused before a round trip, under its field
            await page.click("#ca-add")
            await page.locator(".field-error[data-for='onvif.port']", has_text="từ 1 đến 65535").wait_for()
            await page.fill("#ca-port", str(onvif.port))
            await page.fill("#ca-pass", "Sim-Camera-1")
            await page.click("#ca-add")
            orow = page.locator("#camadmin-table tr[data-camera-id='cong-sau']")
            await orow.wait_for()
            assert "ONVIF 127.0.0.1" in await orow.inner_text()
            cam = await store.cameras.get("cong-sau")
            assert cam is not None and cam.active and "Sim-Camera-1" not in str(cam.source)
            # The same id again: said under the id field.
            await page.fill("#ca-name", "Cong sau")
            await page.fill("#ca-host", "127.0.0.1")
            await page.click("#ca-add")
            await page.locator(".field-error[data-for='id']", has_text="đã được camera khác dùng").wait_for()
            # Its streams point at an RTSP port nobody serves: offline, and why in words (the code, not the English).
            why = orow.locator(".cam-why")
            await why.wait_for(timeout=20_000)
            assert await why.get_attribute("data-code") and "Camera" in await why.inner_text()
            assert "Errno" not in await orow.inner_text() and "Mất kết nối" in await orow.inner_text()

            await fits_everywhere(page, "#/camadmin", "#camadmin-table", "camadmin")
            assert "Working" in await page.locator("#camadmin-table tr[data-camera-id='cong-chinh-ubnd']").inner_text()
            await page.locator("#camadmin-table tr[data-camera-id='cong-chinh-ubnd'] .cam-remove").click()
            await page.locator("#camadmin-table tr[data-camera-id='cong-chinh-ubnd']").wait_for(state="detached")
            assert "Cổng chính UBND" in confirms[-1]
            gone = await store.cameras.get("cong-chinh-ubnd")
            assert gone is None or not gone.active
            assert api.app[CAMERAS_KEY].get("cong-chinh-ubnd") is None  # stopped: no ingest left running
            assert page.errors == []
    finally:
        if responder is not None:
            responder.close()
        await onvif.stop()


async def test_sites_rooms_and_a_join_link_from_the_console(api: Api) -> None:
    await api.add_user(ADMIN, "admin")
    store = api.app[STORE_KEY]
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=1366, height=768) as page:
        confirms = dialogs(page)
        await console_login(page, "#/sites", ADMIN, STRONG_PASSWORD)
        table = page.locator("#sites-table")
        await table.locator("tr[data-site-id='ubnd-huyen']").wait_for()
        assert "Điểm cầu chính" in await table.locator("tr[data-site-id='ubnd-huyen']").inner_text()  # the host
        for name, name_en, email in (("Xã Tân Phú", "Tan Phu Commune", "vanphong@tanphu.gov.vn"),
                                     ("Trường THCS Đông Hưng", "", "")):
            await page.fill("#st-name", name)
            await page.fill("#st-name-en", name_en)
            await page.select_option("#st-role", "organisation" if "Trường" in name else "commune")
            await page.fill("#st-email", email)
            await page.click("#st-create")
            await page.locator("#sites-note", has_text=f"Đã thêm điểm cầu “{name}”").wait_for()
        row = table.locator("tr[data-site-id='xa-tan-phu']")
        await row.wait_for()
        assert "vanphong@tanphu.gov.vn" in await row.inner_text() and "Tan Phu Commune" in await row.inner_text()
        site = await store.sites.get("xa-tan-phu")
        assert site is not None and site.email == "vanphong@tanphu.gov.vn" and site.role == "commune"
        # Edit it: a new e-mail address (PATCH); the id stays.
        await row.locator(".site-edit").click()
        assert await page.input_value("#st-email") == "vanphong@tanphu.gov.vn"
        await page.fill("#st-email", "hop@tanphu.gov.vn")
        await page.click("#st-create")
        await page.locator("#sites-note", has_text="Đã lưu điểm cầu “Xã Tân Phú”").wait_for()
        await table.locator("tr[data-site-id='xa-tan-phu'] .st-email", has_text="hop@tanphu.gov.vn").wait_for()
        site = await store.sites.get("xa-tan-phu")
        assert site is not None and site.email == "hop@tanphu.gov.vn" and site.name_en == "Tan Phu Commune"
        # A taken id is said under the id field, in words.
        await page.fill("#st-name", "Xã Tân Phú")
        await page.click("#st-create")
        await page.locator("#site-form .field-error[data-for='id']", has_text="đã được dùng").wait_for()

        # A room: the host chairs, two member sites ticked in the checklist (no typed ids).
        await page.fill("#rm-name", "Giao ban khối xã")
        await page.click("#rm-create")  # no member ticked yet: said under the sites
        await page.locator("#room-form .field-error[data-for='sites']").wait_for()
        await page.check("#rm-sites [data-site-id='xa-tan-phu'] input")
        await page.check("#rm-sites [data-site-id='xa-an-binh'] input")
        assert await page.locator("#rm-sites [data-site-id='ubnd-huyen'] input").is_disabled()  # the chair
        await page.click("#rm-create")
        rrow = page.locator("#rooms-table tr[data-room-id='giao-ban-khoi-xa']")
        await rrow.wait_for()
        members = await rrow.locator(".rm-members li").evaluate_all("els => els.map((e) => e.dataset.siteId)")
        assert sorted(members) == ["xa-an-binh", "xa-tan-phu"]
        room = await store.rooms.get("giao-ban-khoi-xa")
        assert room is not None and sorted(room.site_ids) == ["xa-an-binh", "xa-tan-phu"]
        assert room.host_site_id == "ubnd-huyen"
        # A join link for one member site, with a copy button; the link really admits that site to that room.
        await rrow.locator(".jl-site").select_option("xa-tan-phu")
        await rrow.locator(".jl-make").click()
        url_box = rrow.locator(".jl-url")
        await url_box.wait_for()
        url = await url_box.input_value()
        assert url.startswith(f"{base}/join#token=")
        assert DATE_TIME_VI.search(await rrow.locator(".jl-until").inner_text())
        await rrow.locator(".copy-btn").click()
        await rrow.locator(".copy-btn", has_text=re.compile("Đã sao chép|Ctrl\\+C")).wait_for()
        r = await api.client.get("/api/v1/rooms/giao-ban-khoi-xa", headers=api.auth(url.split("#token=", 1)[1]))
        assert r.status == 200, await r.text()

        # Edit the room: An Bình leaves, Đông Hưng joins (PATCH); the form goes back to "create" after saving.
        await rrow.locator(".rm-edit").click()
        assert await page.input_value("#rm-name") == "Giao ban khối xã"
        assert await page.locator("#rm-id").get_attribute("readonly") is not None  # an id stays what it is
        assert await page.is_checked("#rm-sites [data-site-id='xa-an-binh'] input")
        await page.uncheck("#rm-sites [data-site-id='xa-an-binh'] input")
        await page.check("#rm-sites [data-site-id='xa-dong-hung'] input")
        await page.click("#rm-create")
        await page.locator("#sites-note", has_text="Đã lưu phòng họp").wait_for()
        await page.locator("#room-form h3", has_text="Tạo phòng họp").wait_for()
        room = await store.rooms.get("giao-ban-khoi-xa")
        assert room is not None and sorted(room.site_ids) == ["xa-dong-hung", "xa-tan-phu"]
        assert "room.update" in [e.action for e in await store.audit.all(limit=5)]

        await fits_everywhere(page, "#/sites", "#rooms-table", "sites")
        assert "Make a join link" in await page.locator("#rooms-table").inner_text()
        # Remove the organisation site (confirm), in English now.
        await page.locator("#sites-table tr[data-site-id='truong-thcs-dong-hung'] .site-remove").click()
        await page.locator("#sites-table tr[data-site-id='truong-thcs-dong-hung']").wait_for(state="detached")
        assert "Trường THCS Đông Hưng" in confirms[-1]
        gone = await store.sites.get("truong-thcs-dong-hung")
        assert gone is None or not gone.active
        assert page.errors == []


async def test_holds_a_failed_export_and_deleting_a_user(make_api: ApiFactory, config: Config) -> None:
    api, segs = await footage_api(make_api, config, segments=3)
    await api.add_user(ADMIN, "admin")
    await api.add_user("nhan-vien-cu", "security")
    store = api.app[STORE_KEY]
    # A damaged segment file: the export of its range fails in the exporter, with the code segment_unreadable.
    damaged = config.storage.data_dir / segs[0].path
    await asyncio.to_thread(Path(damaged).write_bytes, b"khong phai mp4" * 100)
    token = await api.login(ADMIN)
    r = await api.client.post("/api/v1/exports", headers=api.auth(token),
                              json={"camera_id": CAMERA, "start": T0 + 0.5, "end": T0 + 3, "reason": "thử"})
    assert r.status == 202, await r.text()
    failed = await wait_done(api, token, (await r.json())["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "segment_unreadable"), failed
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=1366, height=768) as page:
        confirms = dialogs(page)
        await console_login(page, "#/exports", ADMIN, STRONG_PASSWORD)
        frow = page.locator(f"#exports-table tr[data-export-id='{failed['id']}']")
        await frow.wait_for()
        why = frow.locator(".exp-error")
        assert "Một đoạn ghi hình bị hỏng" in await why.locator(".err-text").evaluate("e => e.firstChild.textContent")
        assert not await why.locator("details").evaluate("d => d.open")  # the English only on demand
        await why.locator("summary").click()
        assert "cannot be read" in await why.locator("details").inner_text()

        # A hold on its own: camera, range typed dd/mm/yyyy HH:MM (Vietnam time), reason.
        await page.locator("#holds-table").wait_for()  # the failed export's own hold is listed already
        await page.select_option("#hold-camera", CAMERA)
        await page.fill("#hold-from-date", "31/02/2026")  # not a date: said under the field, nothing sent
        await page.click("#hold-create")
        await page.locator("#hold-form .field-error[data-for='start']", has_text="ngày/tháng/năm").wait_for()
        await page.fill("#hold-from-date", "07/12/2026")
        await page.fill("#hold-from-time", "08:00")
        await page.fill("#hold-to-date", "07/12/2026")
        await page.fill("#hold-to-time", "07:30")  # before the start
        await page.click("#hold-create")
        await page.locator("#hold-form .field-error[data-for='end']", has_text="sau thời điểm bắt đầu").wait_for()
        await page.fill("#hold-to-time", "09:30")
        await page.fill("#hold-reason", "Công an huyện đề nghị trích xuất vụ va chạm trước cổng")
        await page.click("#hold-create")
        hrow = page.locator("#holds-table tbody tr", has_text="Công an huyện")
        await hrow.wait_for()
        text = await hrow.inner_text()
        assert "08:00 07/12/2026 – 09:30 07/12/2026" in text and "Cổng chính" in text and ADMIN in text, text
        holds = await store.holds.active(CAMERA)
        mine = [x for x in holds if x.reason.startswith("Công an huyện")]
        assert len(mine) == 1 and (mine[0].start_at, mine[0].end_at) == (1_796_605_200.0, 1_796_610_600.0)
        await fits_everywhere(page, "#/exports", "#holds-table", "exports-holds")
        await page.locator(f"#holds-table tr[data-hold-id='{mine[0].id}'] .hold-release").click()
        await page.locator(f"#holds-table tr[data-hold-id='{mine[0].id}']").wait_for(state="detached")
        assert "Cổng chính" in confirms[-1]
        assert all(x.id != mine[0].id for x in await store.holds.active(CAMERA))

        # Delete an account (confirm); there is no delete button on one's own row.
        await page.click("#lang-toggle")  # back to Vietnamese
        await page.evaluate("() => { location.hash = '#/users'; }")
        users = page.locator("#users-table")
        await users.locator("tr[data-user='nhan-vien-cu'] .user-delete").click()
        await users.locator("tr[data-user='nhan-vien-cu']").wait_for(state="detached")
        await page.locator("#users-note", has_text="Đã xóa tài khoản nhan-vien-cu").wait_for()
        assert "nhan-vien-cu" in confirms[-1] and await store.users.by_name("nhan-vien-cu") is None
        assert await users.locator(f"tr[data-user='{ADMIN}'] .user-delete").count() == 0
        assert page.errors == []
