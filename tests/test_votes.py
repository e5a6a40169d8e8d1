"""Votes (biểu quyết) end to end: sites on the real signalling WebSocket of a real app on 127.0.0.1, the ballots
in the real SQLite index, the results through the API (no aiortc media: a vote needs none)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from mediaserver.app_keys import CONFERENCE_KEY, STORE_KEY, TOKENS_KEY
from tests.conftest import Api

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
A, B, C = "xa-an-binh", "xa-an-hoa", "xa-binh-minh"
WAIT_S = 10.0


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()


class WsSite:
    """One site's signalling socket: joins, then records every message the server sends it."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str, site: str) -> None:
        self.http, self.base, self.token, self.site = http, base, token, site
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self) -> None:
        self.ws = await self.http.ws_connect(f"{self.base}/api/v1/rooms/{ROOM}/signal")
        await self.send({"type": "join", "v": 1, "token": self.token})
        self._reader = asyncio.ensure_future(self._read())
        await self.next("offer")  # the server handles this site's messages from here on

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
                self._changed.set()

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(msg))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def next(self, kind: str, cond: Callable[[dict[str, Any]], bool] = lambda m: True,
                   after: int = 0) -> dict[str, Any]:
        """Return the first message of ``kind`` (from index ``after``) that meets ``cond``."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for m in self.messages[after:]:
                if m["type"] == kind and cond(m):
                    return m
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.site}: no {kind} message; got {[m['type'] for m in self.messages]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def ask(self, msg: dict[str, Any], reply: str) -> dict[str, Any]:
        """Send a message and return the answer of type ``reply`` (or an error) that follows it."""
        mark = len(self.messages)
        await self.send(msg)
        return await self.next(reply, after=mark) if reply != "error" else await self.next("error", after=mark)

    async def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send a message and return the first vote_recorded or error that follows it."""
        mark = len(self.messages)
        await self.send(msg)
        deadline = time.monotonic() + WAIT_S
        while True:
            for m in self.messages[mark:]:
                if m["type"] in ("vote_recorded", "error"):
                    return m
            self._changed.clear()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.site}: no answer to {msg}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.01, deadline - time.monotonic()))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class Sites:
    def __init__(self, api: Api, http: aiohttp.ClientSession) -> None:
        self.api, self.http = api, http
        self.base = str(api.client.make_url("")).rstrip("/")
        self.all: list[WsSite] = []

    async def join(self, site: str) -> WsSite:
        token = (await self.api.app[TOKENS_KEY].issue_join(site, ROOM))[0]
        s = WsSite(self.http, self.base, token, site)
        self.all.append(s)
        await s.join()
        return s


@pytest.fixture
async def sites(api: Api) -> AsyncIterator[Sites]:
    async with aiohttp.ClientSession() as http:
        s = Sites(api, http)
        try:
            yield s
        finally:
            await asyncio.gather(*(x.close() for x in s.all), return_exceptions=True)


async def schedule(api: Api, op: dict[str, str]) -> int:
    """Schedule a meeting in ROOM that is open now (its test window has begun); return its id."""
    body = {"title": "Kỳ họp thứ 5 HĐND huyện", "room_id": ROOM, "invited_sites": [HOST, A, B, C],
            "starts_at": at(60), "ends_at": at(3600)}
    r = await api.client.post("/api/v1/scheduled-meetings", json=body, headers=op)
    assert r.status == 201, await r.text()
    return int((await r.json())["id"])


async def test_each_site_votes_once_late_joiner_gets_the_question_result_stored(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    meeting_id = await schedule(api, op)
    host, a, b = await sites.join(HOST), await sites.join(A), await sites.join(B)

    refused = await a.ask({"type": "vote_open", "text": "Tôi mở?"}, "error")
    assert refused["code"] == "vote_chair_only"
    empty = await host.ask({"type": "vote_open", "text": "  \u0007 "}, "error")
    assert empty["code"] == "vote_question_empty"
    long = await host.ask({"type": "vote_open", "text": "x" * 501}, "error")
    assert long["code"] == "vote_question_too_long"
    await host.send({"type": "vote_open", "text": "Thông qua Nghị quyết về kế hoạch đầu tư công năm 2027"})
    opened = [await s.next("vote_opened") for s in (host, a, b)]
    q = opened[0]["question"]
    assert all(o["question"] == q for o in opened) and not opened[1]["voted"]
    assert q["text"] == "Thông qua Nghị quyết về kế hoạch đầu tư công năm 2027" and q["secret"] is False
    assert q["opened_by"] == f"site:{HOST}"
    again = await host.ask({"type": "vote_open", "text": "Câu thứ hai"}, "error")
    assert again["code"] == "vote_already_open"

    ack = await a.answer({"type": "vote_cast", "question": q["id"], "choice": "yes"})
    assert ack == {"type": "vote_recorded", "question": q["id"], "choice": "yes"}
    # Acknowledged means committed: the index (read on its own connection) already holds the ballot.
    tally = await api.app[STORE_KEY].votes.tally(q["id"])
    assert tally is not None and tally.yes == 1 and tally.ballots == {A: "yes"}
    second = await a.answer({"type": "vote_cast", "question": q["id"], "choice": "no"})
    assert second["type"] == "error" and second["code"] == "vote_already_cast"
    wrong = await b.answer({"type": "vote_cast", "question": q["id"] + 99, "choice": "no"})
    assert wrong["type"] == "error" and wrong["code"] == "vote_not_open"
    bad = await b.ask({"type": "vote_cast", "question": q["id"], "choice": "maybe"}, "error")
    assert bad["code"] == "bad_message"
    assert (await b.answer({"type": "vote_cast", "question": q["id"], "choice": "no"}))["type"] == "vote_recorded"
    assert (await host.answer({"type": "vote_cast", "question": q["id"], "choice": "abstain"}))["type"] \
        == "vote_recorded"  # the chair votes too

    late = await sites.join(C)
    got = await late.next("vote_opened")
    assert got["question"]["id"] == q["id"] and got["voted"] is False
    progress = await host.next("vote_progress", lambda m: C in m["not_voted"])
    assert (progress["yes"], progress["no"], progress["abstain"]) == (1, 1, 1)
    assert progress["voted"] == sorted([HOST, A, B]) and progress["not_voted"] == [C]
    assert not a.of("vote_progress"), "only the chair sees the live progress"

    # The console reads the same live state.
    live = await (await api.client.get(f"/api/v1/rooms/{ROOM}/vote", headers=op)).json()
    assert live["open"]["yes"] == 1 and live["open"]["not_voted"] == [C]

    not_chair = await b.ask({"type": "vote_close", "question": q["id"]}, "error")
    assert not_chair["code"] == "vote_chair_only"
    await host.send({"type": "vote_close", "question": q["id"]})
    results = [await s.next("vote_result") for s in (host, a, b, late)]
    r0 = results[0]
    assert all(r == r0 for r in results)
    assert (r0["yes"], r0["no"], r0["abstain"], r0["not_voted"]) == (1, 1, 1, [C])
    assert r0["ballots"] == {HOST: "abstain", A: "yes", B: "no"} and r0["question"]["closed_at"] is not None
    after = await late.answer({"type": "vote_cast", "question": q["id"], "choice": "yes"})
    assert after["type"] == "error" and after["code"] == "vote_not_open"

    r = await api.client.get(f"/api/v1/scheduled-meetings/{meeting_id}/votes", headers=op)
    assert r.status == 200
    items = (await r.json())["items"]
    assert len(items) == 1 and items[0]["yes"] == 1 and items[0]["no"] == 1 and items[0]["abstain"] == 1
    assert items[0]["ballots"] == {HOST: "abstain", A: "yes", B: "no"} and items[0]["not_voted"] == [C]
    stored = (await api.app[STORE_KEY].votes.for_meeting(meeting_id))[0]
    assert stored.question.room_session_id == api.app[CONFERENCE_KEY].session_of(ROOM)
    assert stored.question.meeting_id == meeting_id
    missing = await api.client.get("/api/v1/scheduled-meetings/999999/votes", headers=op)
    assert missing.status == 404
    audit = await api.app[STORE_KEY].audit.all(action_prefix="conference.vote")
    assert {e.action for e in audit} == {"conference.vote_open", "conference.vote_close"}


async def test_secret_vote_hides_choices_live_and_stores_none(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    await schedule(api, op)
    host, a, b = await sites.join(HOST), await sites.join(A), await sites.join(B)
    await host.send({"type": "vote_open", "text": "Bầu Trưởng ban", "secret": True})
    q = (await a.next("vote_opened"))["question"]
    assert q["secret"] is True
    for s, choice in ((a, "yes"), (b, "yes"), (host, "no")):
        assert (await s.answer({"type": "vote_cast", "question": q["id"], "choice": choice}))["type"] \
            == "vote_recorded"
    progress = await host.next("vote_progress", lambda m: len(m["voted"]) == 3)
    assert progress["yes"] is None and progress["no"] is None and progress["ballots"] == {}
    await host.send({"type": "vote_close"})
    result = await b.next("vote_result")
    assert (result["yes"], result["no"], result["abstain"]) == (2, 1, 0) and result["ballots"] == {}
    rows = await api.app[STORE_KEY].db.fetchall("SELECT site_id, choice FROM vote_ballots WHERE question_id = ?",
                                                (q["id"],))
    assert sorted(r["site_id"] for r in rows) == sorted([HOST, A, B])
    assert all(r["choice"] is None for r in rows), "a secret vote stores no site's choice"


async def test_staff_open_and_close_from_the_console_routes(api: Api, sites: Sites) -> None:
    op = api.auth(await api.token_for("operator"))
    host, a = await sites.join(HOST), await sites.join(A)
    closed = await api.client.post(f"/api/v1/rooms/{ROOM}/vote/close", headers=op)
    assert closed.status == 409 and (await closed.json())["error"]["code"] == "vote_not_open"
    too_long = await api.client.post(f"/api/v1/rooms/{ROOM}/vote/open", headers=op, json={"text": "y" * 600})
    assert too_long.status == 422 and (await too_long.json())["error"]["code"] == "vote_question_too_long"
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/vote/open", headers=op, json={"text": "Đồng ý lùi lịch họp"})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["question"]["opened_by"] == "operator-user" and body["not_voted"] == sorted([HOST, A])
    q = (await a.next("vote_opened"))["question"]
    assert q["id"] == body["question"]["id"]
    twice = await api.client.post(f"/api/v1/rooms/{ROOM}/vote/open", headers=op, json={"text": "Nữa"})
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "vote_already_open"
    await a.answer({"type": "vote_cast", "question": q["id"], "choice": "no"})
    security = api.auth(await api.token_for("security"))
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/vote/close", headers=security)).status == 403
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/vote/close", headers=op)
    assert r.status == 200
    final = await r.json()
    assert (final["yes"], final["no"], final["abstain"], final["not_voted"]) == (0, 1, 0, [HOST])
    assert (await host.next("vote_result"))["no"] == 1


async def test_an_open_question_survives_a_restart_with_its_ballots(api: Api, sites: Sites) -> None:
    # What a killed server leaves: an open question in the index with one acknowledged ballot.
    store = api.app[STORE_KEY]
    q = await store.votes.open(ROOM, None, None, "Câu hỏi trước khi máy chủ dừng", False, f"site:{HOST}",
                               time.time(), [HOST, A])
    assert q is not None and await store.votes.cast(q.id, A, "yes", time.time()) == "recorded"
    a = await sites.join(A)
    got = await a.next("vote_opened")
    assert got["question"]["id"] == q.id and got["voted"] is True and got["choice"] == "yes"
    again = await a.answer({"type": "vote_cast", "question": q.id, "choice": "no"})
    assert again["type"] == "error" and again["code"] == "vote_already_cast"
    host = await sites.join(HOST)
    await host.send({"type": "vote_close"})
    result = await host.next("vote_result")
    assert (result["yes"], result["no"], result["not_voted"]) == (1, 0, [HOST])
