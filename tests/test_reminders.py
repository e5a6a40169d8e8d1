"""Meeting reminders by e-mail: the 'meeting.remind' job of the shared scheduler against a real aiosmtpd server on
127.0.0.1 — once per invited site with an address, with a join link that works, never twice (restarts included),
none before its time or for a cancelled meeting, retried while the SMTP server is down or refuses a recipient."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mediaserver.api.scheduled import REMIND_ACTION, REMIND_JOB, REMINDERS_KEY
from mediaserver.app_keys import SCHEDULER_KEY, STORE_KEY
from mediaserver.config import Config
from tests.conftest import Api, ApiFactory

ROOM = "hop-huyen"
HOST, A, B, C = "ubnd-huyen", "xa-an-binh", "xa-an-hoa", "xa-binh-minh"
EMAILS = {HOST: "vanphong@ubnd-huyen.example.vn", A: "anbinh@example.vn", B: "anhoa@example.vn"}  # C has none


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Inbox:
    """What the SMTP server accepted; it refuses the recipients in ``refuse``."""

    refuse: set[str] = field(default_factory=set)
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self) -> list[str]:
        return sorted(str(m["To"].addresses[0].addr_spec) for m in self.messages)


class Smtp:
    """A real SMTP server on a fixed loopback port that the test starts and stops."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._ctl: Controller | None = None

    def start(self) -> None:
        self._ctl = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._ctl.start()

    def stop(self) -> None:
        if self._ctl is not None:
            self._ctl.stop()
            self._ctl = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    s = Smtp()
    try:
        yield s
    finally:
        s.stop()


def mail_config(config: Config, smtp: Smtp) -> Config:
    config.mail.enabled = True
    config.mail.port = smtp.port
    config.mail.timeout_s = 5
    for site, address in EMAILS.items():
        config.sites[site].email = address
    return config


async def start(make_api: ApiFactory, config: Config) -> Api:
    api = await make_api(config)
    # The reminder job has no request to take a host from: links use server.public_url, here the test server.
    config.server.public_url = str(api.client.make_url("")).rstrip("/")
    return api


async def schedule(api: Api, op: dict[str, str], starts_in_s: float, **kw: Any) -> dict[str, Any]:
    body = {"title": "Giao ban tuần", "agenda": "1. Tình hình kinh tế - xã hội", "room_id": ROOM,
            "invited_sites": [A, B, C], "starts_at": at(starts_in_s), "ends_at": at(starts_in_s + 3600),
            "remind_before_min": 30, **kw}
    r = await api.client.post("/api/v1/scheduled-meetings", json=body, headers=op)
    assert r.status == 201, await r.text()
    return dict(await r.json())


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def run_through_scheduler(api: Api) -> str:
    """Start the job with the scheduler's run-now and return the run's recorded outcome."""
    scheduler = api.app[SCHEDULER_KEY]
    run_id = await scheduler.run_now(REMIND_JOB)
    deadline = time.monotonic() + 10
    while REMIND_JOB in scheduler.status()["running_jobs"]:
        assert time.monotonic() < deadline, "reminder run did not finish"
        await asyncio.sleep(0.02)
    run = next(r for r in await api.app[STORE_KEY].jobs.runs(REMIND_JOB) if r.id == run_id)
    return run.outcome


async def test_due_meeting_reminds_each_site_once_with_a_working_link(make_api: ApiFactory, config: Config,
                                                                      smtp: Smtp) -> None:
    smtp.start()
    api = await start(make_api, mail_config(config, smtp))
    job = await api.app[STORE_KEY].jobs.get(REMIND_JOB)
    assert job is not None and (job.action, job.kind, job.spec, job.source) == (REMIND_ACTION, "interval", "60",
                                                                               "system")
    op = api.auth(await api.token_for("operator"))
    m = await schedule(api, op, starts_in_s=600)  # starts in 10 min, reminder 30 min before: due now

    started = time.monotonic()
    runs = await api.app[REMINDERS_KEY].run()
    took = time.monotonic() - started
    assert [(r.meeting_id, sorted(r.sent), r.failed) for r in runs] == [(m["id"], sorted(EMAILS), {})]
    assert smtp.inbox.to() == sorted(EMAILS.values())  # C has no address; the chair is invited too
    base = config.server.public_url
    for msg in smtp.inbox.messages:
        assert str(msg["Subject"]).startswith("Nhắc lịch họp: Giao ban tuần")
        site = next(s for s, a in EMAILS.items() if a == msg["To"].addresses[0].addr_spec)
        found = re.findall(re.escape(f"{base}/join#token=") + r"([A-Za-z0-9._=-]+)", plain(msg))
        assert found, plain(msg)
        token = found[0]
        me = await api.client.get("/api/v1/auth/me", headers=api.auth(token))
        assert me.status == 200, await me.text()
        who = await me.json()
        assert who["role"] == "participant" and who["site_id"] == site and who["room_id"] == ROOM, who
        assert (await api.client.get("/join")).status == 200

    # A second run, by hand and through the scheduler, sends nothing: the meeting is done.
    assert await api.app[REMINDERS_KEY].run() == []
    assert await run_through_scheduler(api) == "ok"
    assert len(smtp.inbox.messages) == 3
    stored = await api.app[STORE_KEY].meetings.get(m["id"])
    assert stored is not None and stored.reminded_at is not None
    notes = {i.site_id: i for i in await api.app[STORE_KEY].meetings.invitees(m["id"])}
    assert all(notes[s].reminded_at is not None for s in EMAILS) and notes[C].reminded_at is None
    audit = [e for e in await api.app[STORE_KEY].audit.all(action_prefix="meeting.remind")]
    assert [(e.actor, e.target, sorted(e.detail["sent"]), e.detail["failed"]) for e in audit] == [
        ("system", str(m["id"]), sorted(EMAILS), {})]

    # After a restart the new server does not send it again.
    await api.client.close()
    again = await start(make_api, config)
    assert await again.app[REMINDERS_KEY].run() == []
    assert await run_through_scheduler(again) == "ok"
    assert len(smtp.inbox.messages) == 3
    logging.getLogger(__name__).info("3 reminders sent in %.3f s", took)


async def test_not_yet_due_and_cancelled_get_none(make_api: ApiFactory, config: Config, smtp: Smtp) -> None:
    smtp.start()
    api = await start(make_api, mail_config(config, smtp))
    op = api.auth(await api.token_for("operator"))
    cancelled = await schedule(api, op, starts_in_s=600)
    assert (await api.client.delete(f"/api/v1/scheduled-meetings/{cancelled['id']}", headers=op)).status == 204
    later = await schedule(api, op, starts_in_s=2 * 3600)  # reminder at start - 30 min: in 90 min
    none_at_all = await schedule(api, op, starts_in_s=8 * 3600, remind_before_min=None)
    assert none_at_all["remind_before_min"] is None
    assert await api.app[REMINDERS_KEY].run() == []
    assert await run_through_scheduler(api) == "ok"
    assert smtp.inbox.messages == []

    # Moving the reminder earlier makes it due: it goes out once.
    r = await api.client.patch(f"/api/v1/scheduled-meetings/{later['id']}", headers=op,
                               json={"remind_before_min": 180})
    assert r.status == 200, await r.text()
    runs = await api.app[REMINDERS_KEY].run()
    assert [(x.meeting_id, sorted(x.sent)) for x in runs] == [(later["id"], sorted(EMAILS))]
    assert await api.app[REMINDERS_KEY].run() == []
    # A change that keeps the start time does not remind anyone again; a new start time does.
    r = await api.client.patch(f"/api/v1/scheduled-meetings/{later['id']}", headers=op, json={"title": "Giao ban"})
    assert r.status == 200
    assert [x.sent for x in await api.app[REMINDERS_KEY].run()] == [[]]
    r = await api.client.patch(f"/api/v1/scheduled-meetings/{later['id']}", headers=op,
                               json={"starts_at": at(3 * 3600), "ends_at": at(4 * 3600)})
    assert r.status == 200
    assert [sorted(x.sent) for x in await api.app[REMINDERS_KEY].run()] == [sorted(EMAILS)]
    assert len(smtp.inbox.messages) == 6
    assert all("Giao ban" in str(msg["Subject"]) for msg in smtp.inbox.messages)


async def test_smtp_down_is_retried_and_sent_once_it_is_up(make_api: ApiFactory, config: Config, smtp: Smtp,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    api = await start(make_api, mail_config(config, smtp))  # nothing listens on smtp.port yet
    op = api.auth(await api.token_for("operator"))
    m = await schedule(api, op, starts_in_s=600)
    store = api.app[STORE_KEY]
    tokens_before = await store.db.fetchone("SELECT count(*) FROM api_tokens")

    with caplog.at_level(logging.WARNING, logger="mediaserver.api.scheduled"):
        runs = await api.app[REMINDERS_KEY].run()
        assert await run_through_scheduler(api) == "ok"  # a failed send never fails the job or the scheduler
    assert [(r.sent, sorted(r.failed)) for r in runs] == [([], sorted(EMAILS))]
    assert all("connection refused" in e for e in runs[0].failed.values()), runs[0].failed
    warned = [r.getMessage() for r in caplog.records if r.name == "mediaserver.api.scheduled"]
    assert len(warned) == 2 and all(f"meeting {m['id']}: reminder not sent to 3 of 3" in w for w in warned)
    stored = await store.meetings.get(m["id"])
    assert stored is not None and stored.reminded_at is None
    notes = {i.site_id: i for i in await store.meetings.invitees(m["id"])}
    assert "connection refused" in (notes[A].remind_error or "") and notes[A].reminded_at is None
    # Retries reuse the links made the first time: no new join token per site per attempt.
    tokens_after = await store.db.fetchone("SELECT count(*) FROM api_tokens")
    assert tokens_before is not None and tokens_after is not None
    assert tokens_after[0] - tokens_before[0] == len(EMAILS)

    # The server comes up but refuses one mailbox: the others get theirs, that one is retried.
    smtp.inbox.refuse = {EMAILS[B]}
    smtp.start()
    runs = await api.app[REMINDERS_KEY].run()
    assert [(sorted(r.sent), sorted(r.failed)) for r in runs] == [(sorted([HOST, A]), [B])]
    assert "recipient refused" in runs[0].failed[B]
    smtp.inbox.refuse = set()
    runs = await api.app[REMINDERS_KEY].run()
    assert [(r.sent, r.failed) for r in runs] == [([B], {})]
    assert await api.app[REMINDERS_KEY].run() == []
    assert smtp.inbox.to() == sorted(EMAILS.values())  # exactly one each
    audit = await store.audit.all(action_prefix="meeting.remind")
    assert [len(e.detail["sent"]) for e in reversed(audit)] == [0, 0, 2, 1]
