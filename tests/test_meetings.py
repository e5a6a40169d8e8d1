"""Scheduled meetings end to end: aiortc sites through the real server — window, lobby, remove/end/leave rules,
speaking requests and chaired mode, chat limits, media-lost marking, roll call and its CSV."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from mediaserver.app_keys import CONFERENCE_KEY, STORE_KEY, TOKENS_KEY
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import Api

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
A, B, C = "xa-an-binh", "xa-an-hoa", "xa-binh-minh"


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()


class Sites:
    def __init__(self, api: Api, http: aiohttp.ClientSession, video: list[bytes]) -> None:
        self.api, self.http, self.video = api, http, video
        self.base = str(api.client.make_url("")).rstrip("/")
        self.peers: list[SitePeer] = []

    async def peer(self, site: str, **kw: Any) -> SitePeer:
        token = (await self.api.app[TOKENS_KEY].issue_join(site, ROOM))[0]
        p = SitePeer(self.http, self.base, ROOM, token, video=self.video, **kw)
        self.peers.append(p)
        return p

    async def join(self, site: str, **kw: Any) -> SitePeer:
        p = await self.peer(site, **kw)
        await p.join()
        return p

    async def first(self, site: str) -> tuple[SitePeer, dict[str, Any]]:
        """Open a site's socket and return the first message the server sends it."""
        p = await self.peer(site)
        await p.open()
        return p, await p._first()

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)


@pytest.fixture(scope="module")
def video() -> list[bytes]:
    return encode_video("vp8", 40, 1, gop=10)


@pytest.fixture
async def sites(api: Api, video: list[bytes]) -> AsyncIterator[Sites]:
    async with aiohttp.ClientSession() as http:
        s = Sites(api, http, video)
        try:
            yield s
        finally:
            await s.close()


async def until(cond: Any, what: str, wait_s: float = 10.0) -> None:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def schedule(api: Api, op: dict[str, str], **kw: Any) -> dict[str, Any]:
    body = {"title": "Giao ban tuần", "agenda": "1. Tình hình kinh tế - xã hội", "room_id": ROOM,
            "invited_sites": [HOST, A, B], "starts_at": at(600), "ends_at": at(3600), **kw}
    r = await api.client.post("/api/v1/scheduled-meetings", json=body, headers=op)
    assert r.status == 201, await r.text()
    return dict(await r.json())


async def test_schedule_crud_and_validation(api: Api) -> None:
    op = api.auth(await api.token_for("operator"))
    bad = await api.client.post("/api/v1/scheduled-meetings", headers=op, json={
        "title": "x", "room_id": ROOM, "starts_at": at(3600), "ends_at": at(60)})
    assert bad.status == 422 and "ends_at must be after starts_at" in (await bad.json())["error"]["message"]
    unknown = await api.client.post("/api/v1/scheduled-meetings", headers=op, json={
        "title": "x", "room_id": ROOM, "invited_sites": ["xa-khong-co"], "starts_at": at(60), "ends_at": at(600)})
    body = (await unknown.json())["error"]
    assert unknown.status == 422 and body["field"] == "invited_sites" and "xa-khong-co" in body["message"]
    m = await schedule(api, op, starts_at=at(86400), ends_at=at(90000), test_before_min=30)
    assert m["status"] == "scheduled" and m["chair_site_id"] == HOST and m["invited_sites"] == sorted([HOST, A, B])
    clash = await api.client.post("/api/v1/scheduled-meetings", headers=op, json={
        "title": "Trùng", "room_id": ROOM, "starts_at": at(86400 + 600), "ends_at": at(88000)})
    assert clash.status == 409 and (await clash.json())["error"]["code"] == "meeting_overlap"
    listed = await (await api.client.get(f"/api/v1/scheduled-meetings?from={at(0).replace('+', '%2B')}",
                                         headers=op)).json()
    assert [i["id"] for i in listed["items"]] == [m["id"]]
    r = await api.client.patch(f"/api/v1/scheduled-meetings/{m['id']}", headers=op,
                               json={"title": "Giao ban tháng", "mode": "chaired", "invited_sites": "all"})
    patched = await r.json()
    assert r.status == 200 and patched["title"] == "Giao ban tháng" and patched["mode"] == "chaired"
    assert len(patched["invited_sites"]) == len(await api.app[STORE_KEY].sites.all())
    assert (await api.client.delete(f"/api/v1/scheduled-meetings/{m['id']}", headers=op)).status == 204
    got = await (await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}", headers=op)).json()
    assert got["status"] == "cancelled"
    actions = [e.action for e in await api.app[STORE_KEY].audit.all(limit=20)]
    assert {"meeting.create", "meeting.update", "meeting.cancel"} <= set(actions)


async def test_window_lobby_remove_end_and_leave(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    # Outside the window (opens in 2 h): the link says when the meeting starts.
    await schedule(api, op, starts_at=at(3 * 3600), ends_at=at(4 * 3600), test_before_min=60)
    _, first = await sites.first(A)
    assert first["code"] == "meeting_not_open" and first["starts_at"] and first["opens_at"]
    # Inside the test window: invited sites enter, an uninvited member waits in the lobby.
    m = await schedule(api, op, starts_at=at(600), ends_at=at(1800))
    host = await sites.join(HOST)
    a = await sites.join(A)
    assert a.welcome is not None and a.welcome["meeting"]["id"] == m["id"]
    c, first = await sites.first(C)
    assert first == {"type": "lobby", "reason": "not_invited", "room_name": first["room_name"],
                     "meeting": first["meeting"]}
    waiting = await host.wait_for("lobby_waiting")
    assert [w["site"] for w in waiting["lobby"]] == [C]
    bogus = await api.client.post(f"/api/v1/rooms/{ROOM}/lobby/xa-khong-co/admit", headers=op)
    assert bogus.status == 404 and (await bogus.json())["error"]["code"] == "not_waiting"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/lobby/{C}/admit", headers=op)).status == 200
    await c.wait_for("admitted")
    await c.wait_for("welcome")

    # Removed: kept out until the chair readmits.
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/{A}/remove", headers=op)).status == 200
    assert (await a.wait_for("bye"))["reason"] == "removed"
    _, first = await sites.first(A)
    assert first["code"] == "removed"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/{A}/readmit", headers=op)).status == 200
    a2 = await sites.join(A)
    assert a2.welcome is not None

    # Leaving on purpose is not a dropped link: a locked room puts the site in the lobby; refused, it is told.
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/lock", headers=op)).status == 200
    await a2.send({"type": "leave"})
    assert (await a2.wait_for("bye"))["reason"] == "left"
    a3, first = await sites.first(A)
    assert first["type"] == "lobby" and first["reason"] == "locked"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/lobby/{A}/refuse", headers=op)).status == 200
    assert (await a3.wait_for("error"))["code"] == "refused"

    # End closes the room for everyone until staff reopen it.
    chair = api.auth((await api.app[TOKENS_KEY].issue_join(HOST, ROOM))[0])
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/end", headers=chair)).status == 200
    assert (await host.wait_for("bye"))["reason"] == "ended"
    _, first = await sites.first(B)
    assert first["code"] == "meeting_ended"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/reopen", headers=chair)).status == 403
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/reopen", headers=op)).status == 200
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/unlock", headers=op)).status == 200
    b = await sites.join(B)
    assert b.welcome is not None
    actions = {e.action for e in await api.app[STORE_KEY].audit.all(limit=50)}
    assert {"conference.lobby_admit", "conference.lobby_refuse", "conference.remove", "conference.readmit",
            "conference.end", "room.reopen"} <= actions


async def test_chaired_floor_and_chat(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    await schedule(api, op, mode="chaired", invited_sites="all")
    host = await sites.join(HOST)
    a = await sites.join(A, loud=True)
    b = await sites.join(B)
    room = api.app[CONFERENCE_KEY].live(ROOM)
    assert room is not None and a.welcome is not None and a.welcome["mode"] == "chaired"
    await until(lambda: room.sessions[A].moderated["audio"], "A muted by the chaired mode")
    src = room.sessions[A].sources["audio"]
    await until(lambda: src.frames > 50, "A's audio arrives at the server")
    forwarded = sum(s.sink.frames_out for s in room.sessions[HOST].slots if s.kind == "audio")
    await asyncio.sleep(1.0)
    assert sum(s.sink.frames_out for s in room.sessions[HOST].slots if s.kind == "audio") == forwarded

    # A asks to speak; the chair grants: A's voice reaches the chair only now.
    await a.send({"type": "hand", "up": True})
    await host.wait_for("floor", where=lambda m: [q["site"] for q in m["queue"]] == [A])
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/floor/grant", headers=op,
                                  json={"site_id": "xa-khong-co"})).status == 404
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/floor/grant", headers=op, json={"site_id": A})).status == 200
    await a.wait_for("moderation", where=lambda m: m["action"] == "granted")
    await until(lambda: sum(s.sink.frames_out for s in room.sessions[HOST].slots if s.kind == "audio")
                > forwarded + 20, "A's audio forwarded after the grant")
    assert room.pinned == A
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/floor/end-turn", headers=op)).status == 200
    await a.wait_for("moderation", where=lambda m: m["action"] == "turn_ended")
    assert room.sessions[A].moderated["audio"] and room.pinned is None
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/floor/end-turn", headers=op)
    assert r.status == 409

    # Chat: to everyone, to the chair only, floods and oversized messages refused; kept with the meeting.
    await b.send({"type": "chat", "text": "Xã An Hòa đã sẵn sàng", "to": "all"})
    for p in (host, a):
        await p.wait_for("chat", where=lambda m: m["message"]["text"] == "Xã An Hòa đã sẵn sàng")
    await a.send({"type": "chat", "text": "Xin phát biểu về mục 2", "to": "chair"})
    await host.wait_for("chat", where=lambda m: m["message"]["to"] == "chair")
    await a.send({"type": "chat", "text": "x" * 1001})
    assert (await a.wait_for("error", where=lambda m: m["code"] == "chat_too_long"))["code"] == "chat_too_long"
    for i in range(8):
        await b.send({"type": "chat", "text": f"tin {i}"})
    await b.wait_for("error", where=lambda m: m["code"] == "chat_rate_limited")
    await asyncio.sleep(0.3)
    assert not any(m["type"] == "chat" and m["message"]["to"] == "chair" for m in b.messages)
    kept = await (await api.client.get(f"/api/v1/rooms/{ROOM}/chat", headers=op)).json()
    texts = [i["text"] for i in kept["items"]]
    assert texts[:2] == ["Xã An Hòa đã sẵn sàng", "Xin phát biểu về mục 2"] and len(texts) == 2 + 4  # B's 5 per 10 s

    # A removed site's request leaves the queue.
    await b.send({"type": "hand", "up": True})
    await host.wait_for("floor", where=lambda m: [q["site"] for q in m["queue"]] == [B])
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/{B}/remove", headers=op)).status == 200
    await until(lambda: room.floor.queue == [], "B's request dropped")
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/mute-all", headers=op)).status == 200


async def test_media_lost_marked_within_3s_and_roll_call(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    m = await schedule(api, op, starts_at=at(-600), ends_at=at(1800))  # started 10 min ago: joins are late
    host = await sites.join(HOST)
    a = await sites.join(A)
    room = api.app[CONFERENCE_KEY].live(ROOM)
    assert room is not None
    await until(lambda: room.sessions[A].sources["video"].frames > 5, "A's media flowing")
    await until(lambda: any(m_["type"] == "roster" and next(s for s in m_["sites"] if s["site"] == A)["media"] == "ok"
                            for m_ in host.messages), "A shown as ok")
    # Cut A's media without a goodbye (its peer connection stops; its signalling socket stays open).
    assert a.pc is not None
    cut = time.monotonic()
    await a.pc.close()
    await host.wait_for("roster", wait_s=5, where=lambda m_: next(
        s for s in m_["sites"] if s["site"] == A)["media"] == "lost")
    assert time.monotonic() - cut < 3.0
    live = await (await api.client.get(f"/api/v1/rooms/{ROOM}/live", headers=op)).json()
    entry = next(s for s in live["sites"] if s["site"] == A)
    assert entry["media"] == "lost" and entry["warnings"] == ["media_lost"]

    att = await (await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/attendance", headers=op)).json()
    status = {i["site_id"]: i["status"] for i in att["items"]}
    assert status == {HOST: "late", A: "late", B: "pending"}
    r = await api.client.put(f"/api/v1/scheduled-meetings/{m['id']}/attendance/{B}", headers=op,
                             json={"absence_reason": "Đi công tác"})
    assert r.status == 200 and (await r.json())["absence_reason"] == "Đi công tác"
    assert (await api.client.put(f"/api/v1/scheduled-meetings/{m['id']}/attendance/{C}", headers=op,
                                 json={"absence_reason": "x"})).status == 404
    csv_r = await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/attendance.csv", headers=op)
    raw = await csv_r.read()
    assert raw.startswith("\ufeff".encode()) and "Trạng thái" in raw.decode() and "Đi công tác" in raw.decode()
    assert "Đến muộn" in raw.decode() and "Chưa vào" in raw.decode()


async def test_links_and_invitations_by_mail(make_api: Any, config: Any) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.rcpt: list[str] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.rcpt += envelope.rcpt_tos
            return "250 OK"

    import socket

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
        api = await make_api(config)
        op = api.auth(await api.token_for("operator"))
        m = await schedule(api, op)
        links = (await (await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/links", headers=op)).json())
        assert [i["site_id"] for i in links["items"]] == sorted([HOST, A, B])
        assert all(i["qr_svg"].startswith("<svg") and "/join#token=" in i["join_url"] for i in links["items"])
        r = await api.client.post(f"/api/v1/scheduled-meetings/{m['id']}/invite", headers=op)
        items = {i["site_id"]: i for i in (await r.json())["items"]}
        assert r.status == 200 and items[A]["sent"] and items[B] == {"site_id": B, "email": None, "sent": False,
                                                                     "error": "no_email"}
        assert inbox.rcpt == ["xa-an-binh@example.vn"]
    finally:
        smtp.stop()


async def test_talking_names_only_who_speaks_now(api: Api, sites: Sites) -> None:
    """'Đang phát biểu' follows the audio: a silent site never, a loud one until the chair mutes it."""
    host = await sites.join(HOST)
    await sites.join(A, loud=True)
    await sites.join(B)  # silent tone
    await host.wait_for("talking", wait_s=10, where=lambda m_: A in m_["sites"])
    assert all(B not in m_["sites"] for m_ in host.messages if m_["type"] == "talking")
    room = api.app[CONFERENCE_KEY].live(ROOM)
    assert room is not None
    muted_at = time.monotonic()
    before = len(host.messages)
    room.moderate_mute(A, "audio", True)
    await until(lambda: any(m_["type"] == "talking" and A not in m_["sites"] for m_ in host.messages[before:]),
                "the label to leave the muted site", wait_s=5)
    assert time.monotonic() - muted_at < 2.0
    assert A not in room.talking
