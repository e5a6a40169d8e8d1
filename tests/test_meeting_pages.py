"""A scheduled meeting run from the join pages in real headless Chromium (fake devices), beside aiortc sites.

The invitation comes by e-mail from a real SMTP server (aiosmtpd) and its link is opened; the chair runs a
chair-controlled meeting (a speaking request granted and ended, chat both ways, a chat flood refused), a site
waits in the lobby and is admitted, is removed and cannot come back until readmitted, a site that leaves on
purpose meets the lock, End ends it for everyone; a site whose UDP is blackholed is marked "Mất kết nối" on the
chair's grid within 3 s; a meeting not open yet says when; phone-sized pages show the host and every control.
"""

from __future__ import annotations

import asyncio
import email
import re
import socket
import time
from collections.abc import AsyncIterator
from email import policy
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from mediaserver.app_keys import CONFERENCE_KEY, STORE_KEY
from tests.browser import ARTIFACTS, until
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import Api
from tests.test_browser import Pages, browser  # noqa: F401  (the browser fixture)
from tests.test_meetings import HOST, ROOM, A, B, at, schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


class Inbox:
    """A real SMTP server's mailbox: every message as received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
async def mail_api(make_api: Any, config: Any) -> AsyncIterator[tuple[Api, Inbox]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        config.mail.enabled = True
        config.mail.port = port
        config.sites[A].email = "xa-an-binh@example.vn"
        yield await make_api(config), inbox
    finally:
        smtp.stop()


def text_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def shown(page: Any, selector: str, wait_s: float = 10.0, **kw: Any) -> Any:
    loc = page.locator(selector, **kw)
    await loc.first.wait_for(state="visible", timeout=wait_s * 1000)
    return loc


async def connected(page: Any, who: str) -> None:
    await until(lambda: page.evaluate("() => window.__conf.state === 'connected'"), f"{who}'s page to connect", 30)


async def test_invited_by_mail_chaired_floor_and_chat(mail_api: tuple[Api, Inbox], browser: Any) -> None:  # noqa: F811
    api, inbox = mail_api
    op = api.auth(await api.token_for("operator"))
    m = await schedule(api, op, starts_at=at(120), ends_at=at(3600), mode="chaired",
                       title="Giao ban trực tuyến tuần 50")
    r = await api.client.post(f"/api/v1/scheduled-meetings/{m['id']}/invite", headers=op)
    assert r.status == 200, await r.text()
    assert len(inbox.messages) == 1 and "xa-an-binh@example.vn" in str(inbox.messages[0]["To"])
    body = text_of(inbox.messages[0])
    assert "Giao ban trực tuyến tuần 50" in body
    link = re.search(r"https?://\S+/join#token=[\w.\-]+", body)
    assert link, body
    pages = Pages(browser, api)
    try:
        chair = await pages.open(HOST, await pages.token(HOST))
        chair.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        # The mailed link, on this test server's address: its path and token are what the site opens.
        url = urlsplit(link.group(0))
        commune = await pages.open(A, url.fragment.removeprefix("token="), path=url.path)
        await connected(chair, HOST)
        await connected(commune, A)

        # Chair-controlled: the commune is muted by the meeting's mode and asks to speak.
        mic = commune.locator("#btn-mic")
        await until(lambda: mic.evaluate("b => b.classList.contains('moderated')"), "the commune muted by the mode")
        assert await mic.get_attribute("title") == "Chờ chủ tọa mời phát biểu"
        await (await shown(commune, "#mode-badge")).first.wait_for()
        await commune.locator("#btn-hand").click()
        grant = await shown(chair, f'#queue-list [data-grant="{A}"]')
        assert "Mời phát biểu" in await grant.inner_text()
        await grant.click()
        await shown(commune, "#toasts .toast", has_text="Chủ tọa mời điểm cầu phát biểu")
        await until(lambda: mic.evaluate("b => !b.classList.contains('moderated') && b.dataset.muted === 'false'"),
                    "the commune's microphone on after the grant")
        await until(lambda: commune.evaluate("() => window.__conf.floor.speaking"), "the floor to be the commune's")
        await shown(chair, "#floor-now", has_text="Đang phát biểu")
        await chair.locator("#btn-end-turn").click()
        await shown(commune, "#toasts .toast", has_text="Lượt phát biểu đã kết thúc")
        await until(lambda: mic.evaluate("b => b.classList.contains('moderated')"), "the commune muted again")

        # Chat: the commune writes to the chair only; the chair sees an unread count, then replies to all.
        await commune.locator("#btn-chat").click()
        await commune.select_option("#chat-to", "chair")
        await commune.fill("#chat-text", "Xã An Bình xin báo cáo: đã hoàn thành thu hoạch lúa.")
        await commune.press("#chat-text", "Enter")
        await shown(chair, "#chat-unread", has_text="1")
        await chair.locator("#btn-chat").click()
        await shown(chair, "#chat-list .chat-msg", has_text="đã hoàn thành thu hoạch lúa")
        await chair.fill("#chat-text", "Cảm ơn xã An Bình.")
        await chair.press("#chat-text", "Enter")
        await shown(commune, "#chat-list .chat-msg", has_text="Cảm ơn xã An Bình.")
        # A flood: the server refuses the sixth message in 10 s, the page says so in Vietnamese.
        for i in range(6):
            await commune.fill("#chat-text", f"Tin số {i + 1}")
            await commune.press("#chat-text", "Enter")
            await asyncio.sleep(0.15)
        await shown(commune, "#chat-error", has_text="Gửi quá nhiều tin nhắn")
        # An oversized message never leaves the page (maxlength), and the server would refuse it too.
        assert await commune.locator("#chat-text").get_attribute("maxlength") == "1000"
        live = api.app[CONFERENCE_KEY].live(ROOM)
        assert live is not None and any(c.text == "Cảm ơn xã An Bình." for c in live.chat_log)
        ARTIFACTS.mkdir(exist_ok=True)
        await chair.screenshot(path=str(ARTIFACTS / "meeting-chair-chat.png"))
        pages.assert_no_script_errors()
    finally:
        await pages.close()


async def test_lobby_remove_readmit_leave_and_end(api: Api, browser: Any) -> None:  # noqa: F811
    op = api.auth(await api.token_for("operator"))
    await schedule(api, op, starts_at=at(60), ends_at=at(3600))
    pages = Pages(browser, api)
    try:
        chair = await pages.open(HOST, await pages.token(HOST))
        chair.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        a_token = await pages.token(A)
        a = await pages.open(A, a_token)
        await connected(chair, HOST)
        await connected(a, A)
        await chair.locator("#btn-lock").click()
        await shown(a, "#lock-badge")

        # B comes while the room is locked: it waits in the lobby, the chair is told and admits it.
        b = await pages.open(B, await pages.token(B))
        await shown(b, '#waiting[data-kind="lobby"]', has_text="Phòng họp đang khóa")
        admit = await shown(chair, f'#lobby-list [data-lobby="admit"][data-site="{B}"]')
        await shown(chair, "#toasts .toast", has_text="đang chờ vào phòng họp")
        await admit.click()
        await connected(b, B)
        assert await b.locator("#waiting").is_hidden()

        # Removed: B cannot come back by itself, until the chair readmits it.
        await chair.locator(f'.mod-btn[data-action="remove"][data-site="{B}"]').click()
        await shown(b, '#ended-msg[data-reason="removed"]')
        await b.locator("#btn-rejoin").click()
        await shown(b, '#error[data-code="removed"]', has_text="chỉ chủ trì mới cho vào lại")
        await (await shown(chair, f'#removed-list [data-readmit="{B}"]')).click()
        await b.locator("#btn-retry").click()
        await connected(b, B)

        # A leaves on purpose: the lock holds for it too (no grace as for a dropped link) — it waits in the lobby.
        await a.locator("#btn-leave").click()
        await shown(a, '#ended-msg[data-reason="left"]')
        await a.locator("#btn-rejoin").click()
        await shown(a, '#waiting[data-kind="lobby"]')
        await (await shown(chair, f'#lobby-list [data-lobby="refuse"][data-site="{A}"]')).click()
        await shown(a, '#error[data-code="refused"]')

        # End: every site sees the end, no button offers to rejoin, and a fresh page cannot reopen it.
        await chair.locator("#btn-end").click()
        await shown(b, '#ended-msg[data-reason="ended"]')
        assert await b.locator("#btn-rejoin").is_hidden()
        again = await pages.open(f"{A}-again", a_token)
        await shown(again, '#error[data-code="meeting_ended"]', has_text="Cuộc họp đã kết thúc")
        assert api.app[CONFERENCE_KEY].live(ROOM) is None or api.app[CONFERENCE_KEY].live(ROOM).sessions == {}
        # Every step is in the audit log, the sites' own (leave) as well as the chair's.
        done = {(a.action, a.actor) for a in await api.app[STORE_KEY].audit.all(limit=500, action_prefix="conference.")}
        for action, actor in [("conference.lobby_admit", f"site:{HOST}"), ("conference.remove", f"site:{HOST}"),
                              ("conference.readmit", f"site:{HOST}"), ("conference.leave", f"site:{A}"),
                              ("conference.lobby_refuse", f"site:{HOST}"), ("conference.end", f"site:{HOST}")]:
            assert (action, actor) in done, (action, actor, sorted(done))
        pages.assert_no_script_errors()
    finally:
        await pages.close()


def blackhole(peer: SitePeer) -> None:
    """Drop every UDP datagram of an aiortc peer both ways (as a cut link would), leaving its WebSocket open."""
    assert peer.pc is not None
    seen = set()
    for tr in peer.pc.getTransceivers():
        dtls = tr.sender.transport or tr.receiver.transport
        if dtls is None or id(dtls) in seen:
            continue
        seen.add(id(dtls))
        for proto in dtls.transport.iceGatherer._connection._protocols:
            proto.transport.sendto = lambda *a, **k: None
            proto.datagram_received = lambda *a, **k: None


async def test_cut_link_marked_lost_on_the_chair_grid_within_3s(api: Api, browser: Any) -> None:  # noqa: F811
    pages = Pages(browser, api)
    async with aiohttp.ClientSession() as http:
        peer = SitePeer(http, pages.base, ROOM, await pages.token(A), video=encode_video("vp8", 40, 3, gop=10))
        try:
            chair = await pages.open(HOST, await pages.token(HOST))
            await connected(chair, HOST)
            await peer.join()
            tile = chair.locator(f'#grid .tile[data-slot="site:{A}"]')
            await until(lambda: tile.evaluate("t => t.dataset.site !== '' && t.dataset.live === 'true'"),
                        "the aiortc site's tile live on the chair's grid")
            # The chair's tile shows the site's link quality from the server's numbers.
            await tile.locator(".q").wait_for(state="visible", timeout=10_000)
            assert await tile.locator(".q").get_attribute("data-level") in ("good", "fair")
            cut = time.monotonic()
            blackhole(peer)
            await tile.locator(".lost", has_text="Mất kết nối").wait_for(state="visible", timeout=5_000)
            took = time.monotonic() - cut
            assert took < 3.0, f"marked lost after {took:.1f} s"
            assert await tile.locator(".tag").is_hidden()  # no "Đang phát biểu" on a lost site
            row = chair.locator(f'#site-list .site-row[data-site="{A}"] .dot')
            assert await row.get_attribute("data-conn") == "lost"
            ARTIFACTS.mkdir(exist_ok=True)
            await chair.screenshot(path=str(ARTIFACTS / "meeting-chair-lost.png"))
            pages.assert_no_script_errors()
        finally:
            await peer.close()
            await pages.close()


async def test_not_open_yet_page_says_when_and_speaks_english(api: Api, browser: Any) -> None:  # noqa: F811
    op = api.auth(await api.token_for("operator"))
    await schedule(api, op, starts_at=at(3 * 3600), ends_at=at(4 * 3600), test_before_min=60,
                   title="Hội nghị sơ kết quý IV")
    pages = Pages(browser, api)
    try:
        page = await pages.open(A, await pages.token(A))
        box = await shown(page, '#waiting[data-kind="not_open"]', has_text="Cuộc họp chưa bắt đầu")
        text = await box.inner_text()
        assert "«Hội nghị sơ kết quý IV»" in text and "Bắt đầu lúc" in text
        assert re.search(r"Phòng mở sau (1 giờ 5\d phút|2 giờ)", text), text
        await page.locator("#lang-toggle").click()
        await shown(page, "#waiting", has_text="The meeting has not started")
        assert re.search(r"Opens in (1 h 5\d min|2 h)", await page.locator("#waiting").inner_text())
        pages.assert_no_script_errors()
    finally:
        await pages.close()


@pytest.mark.parametrize("phone", [(360, 740), (414, 896)], ids=["360px", "414px"])  # the narrow and wide ends
async def test_phone_pages_show_the_host_and_every_control(api: Api, browser: Any,  # noqa: F811
                                                          phone: tuple[int, int]) -> None:
    pages = Pages(browser, api)
    try:
        chair = await pages.open(HOST, await pages.token(HOST), viewport=phone)
        commune = await pages.open(A, await pages.token(A), viewport=phone)
        await connected(chair, HOST)
        await connected(commune, A)
        host_tile = commune.locator(".tile-host")
        await until(lambda: host_tile.evaluate("t => t.dataset.live === 'true'"), "the host's picture on the phone")
        box = await host_tile.bounding_box()
        assert box is not None and box["width"] >= 300 and box["height"] >= 150, box
        for page, who in ((commune, A), (chair, HOST)):
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= phone[0], f"{who}'s page is {width} px wide"
            outside = await page.evaluate("""() => [...document.querySelectorAll('#controls button')]
                .filter((b) => !b.hidden && getComputedStyle(b).display !== 'none')
                .filter((b) => { const r = b.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth
                                   || r.width < 30 || r.bottom > innerHeight; })
                .map((b) => b.id)""")
            assert outside == [], f"{who}: controls cut off: {outside}"
        # English on the toggle: the commune's own name is its English name.
        await commune.locator("#lang-toggle").click()
        await shown(commune, "#self-box .name", has_text="An Binh Commune")
        await commune.locator("#lang-toggle").click()
        ARTIFACTS.mkdir(exist_ok=True)
        await commune.screenshot(path=str(ARTIFACTS / f"phone-{phone[0]}-commune.png"))
        await chair.screenshot(path=str(ARTIFACTS / f"phone-{phone[0]}-chair.png"))
        # The chair's grid tile for the commune shows on the phone too.
        tile = chair.locator(f'#grid .tile[data-slot="site:{A}"]')
        tbox = await tile.bounding_box()
        assert tbox is not None and tbox["width"] >= 150, tbox
        pages.assert_no_script_errors()
    finally:
        await pages.close()
