"""The meeting-side repositories called directly on both engines (a real SQLite file, a real PostgreSQL):
sites and rooms, meetings and their invitees, presence and chat, documents, votes, minutes."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mediaserver.storage import Conflict, Database, NotFound, Store
from mediaserver.storage.documents import DuplicateDocument
from mediaserver.storage.meetings import ChatRecord, Invitee, Meeting, Presence
from mediaserver.storage.minutes import SpeakingTurn
from mediaserver.storage.repos import Segment
from mediaserver.storage.sites import Room, RoomSession, Site
from tests.pg import PgCluster

T0 = 1_800_000_000.125  # a UTC epoch with a fraction: 4-byte floats would lose it
HOUR_S = 3600.0
VI_TITLE = "Hội nghị trực tuyến giao ban tháng 12 — Ủy ban nhân dân tỉnh"
VI_AGENDA = "1. Báo cáo tình hình kinh tế – xã hội\n2. Phương hướng, nhiệm vụ năm 2027 (ưu tiên: đường xá)"
SHA_A = "a" * 64
SHA_B = "b" * 64

SITES = (
    Site("ubnd-tinh", "UBND tỉnh", "Provincial People's Committee", "host", "config", True, "vp@tinh.gov.vn"),
    Site("xa-an-binh", "Xã An Bình", None, "participant", "config", True),
    Site("xa-binh-minh", "Xã Bình Minh", "Binh Minh commune", "participant", "config", True, None),
    Site("phuong-1", "Phường 1", None, "participant", "config", True),
)


def room(room_id: str = "giao-ban", sites: tuple[str, ...] = ("xa-an-binh", "xa-binh-minh"), *,
         all_sites: bool = False, auto_record: bool = True) -> Room:
    return Room(room_id, f"Phòng họp {room_id}", "ubnd-tinh", all_sites, sites, 8, auto_record, False, "config",
                True, "h264", 4)


def meeting(room_id: str = "giao-ban", starts_at: float = T0, *, invited: tuple[str, ...] = ("xa-binh-minh",
            "xa-an-binh"), remind_before_s: float | None = None, title: str = VI_TITLE) -> Meeting:
    return Meeting(0, room_id, title, VI_AGENDA, starts_at, starts_at + HOUR_S, "ubnd-tinh", 900.5,
                   remind_before_s, "chaired", False, None, "thu-ky", invited)


async def open_store(target: Path | str) -> Store:
    db = Database(target)
    await db.open()
    return Store(db)


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[Store]:
    """The index on each engine, with four config sites and one room."""
    s = await open_store(db_target)
    await s.sites.sync_config(SITES)
    await s.rooms.upsert(room(), "config")
    yield s
    await s.db.close()


# ------------------------------------------------------------------------------------------ sites


async def test_sites_sync_config_upserts_deactivates_and_orders_host_first(store: Store) -> None:
    assert [s.id for s in await store.sites.all()] == ["ubnd-tinh", "phuong-1", "xa-an-binh", "xa-binh-minh"]
    host = await store.sites.get("ubnd-tinh")
    assert host == SITES[0]
    assert host is not None and host.active is True
    assert await store.sites.get("xa-an-binh") == SITES[1]  # NULL name_en and e-mail stay None
    assert await store.sites.get("khong-co") is None
    renamed = Site("xa-an-binh", "Xã An Bình (mới)", "An Binh", "participant", "config", True, "ab@xa.vn")
    await store.sites.sync_config([SITES[0], renamed])
    assert [s.id for s in await store.sites.all()] == ["ubnd-tinh", "xa-an-binh"]
    assert await store.sites.get("xa-an-binh") == renamed
    gone = await store.sites.get("phuong-1")
    assert gone is not None and gone.active is False and gone.name == "Phường 1"
    every = await store.sites.all(include_inactive=True)
    assert [(s.id, s.active) for s in every] == [("ubnd-tinh", True), ("phuong-1", False), ("xa-an-binh", True),
                                                 ("xa-binh-minh", False)]
    # Listed again: active again.
    await store.sites.sync_config(SITES)
    assert len(await store.sites.all()) == 4


async def test_sites_create_refuses_duplicates_revives_removed_api_sites(store: Store) -> None:
    new = Site("xa-tan-phu", "Xã Tân Phú", None, "participant", "ignored", False, None)
    made = await store.sites.create(new)
    assert made == Site("xa-tan-phu", "Xã Tân Phú", None, "participant", "api", True, None)
    assert await store.sites.get("xa-tan-phu") == made
    with pytest.raises(Conflict, match="xa-tan-phu"):
        await store.sites.create(new)
    with pytest.raises(Conflict, match="phuong-1"):  # a config site, even once out of the config
        await store.sites.create(Site("phuong-1", "P1", None, "participant", "api", True))
    await store.sites.sync_config(SITES[:3])
    with pytest.raises(Conflict, match="phuong-1"):
        await store.sites.create(Site("phuong-1", "P1", None, "participant", "api", True))
    await store.sites.delete("xa-tan-phu")
    removed = await store.sites.get("xa-tan-phu")
    assert removed is not None and removed.active is False
    with pytest.raises(NotFound):
        await store.sites.delete("xa-tan-phu")
    with pytest.raises(NotFound):
        await store.sites.delete("khong-co")
    back = await store.sites.create(Site("xa-tan-phu", "Xã Tân Phú mới", "Tan Phu", "host", "api", True, "a@b.vn"))
    assert await store.sites.get("xa-tan-phu") == back == Site("xa-tan-phu", "Xã Tân Phú mới", "Tan Phu", "host",
                                                                "api", True, "a@b.vn")


async def test_sites_update_changes_only_active_api_sites(store: Store) -> None:
    await store.sites.create(Site("xa-tan-phu", "Xã Tân Phú", None, "participant", "api", True))
    changed = Site("xa-tan-phu", "Xã Tân Phú Đông", "Tan Phu Dong", "participant", "api", True, "tpd@xa.vn")
    assert await store.sites.update(changed) is True
    assert await store.sites.get("xa-tan-phu") == changed
    # NULL back: the English name and the e-mail are cleared, not kept.
    assert await store.sites.update(Site("xa-tan-phu", "Xã Tân Phú Đông", None, "participant", "api", True)) is True
    got = await store.sites.get("xa-tan-phu")
    assert got is not None and (got.name_en, got.email) == (None, None)
    assert await store.sites.update(Site("phuong-1", "Đổi tên", None, "participant", "api", True)) is False
    assert (await store.sites.get("phuong-1")) == SITES[3]
    await store.sites.delete("xa-tan-phu")
    assert await store.sites.update(changed) is False
    assert await store.sites.update(Site("khong-co", "X", None, "participant", "api", True)) is False


# ------------------------------------------------------------------------------------------ rooms


async def test_rooms_upsert_get_members_and_flags(store: Store) -> None:
    got = await store.rooms.get("giao-ban")
    assert got == Room("giao-ban", "Phòng họp giao-ban", "ubnd-tinh", False, ("xa-an-binh", "xa-binh-minh"), 8,
                       True, False, "config", True, "h264", 4, None)
    assert got is not None and got.all_sites is False and got.auto_record is True and got.locked is False
    await store.rooms.set_locked("giao-ban", True)
    await store.rooms.set_closed("giao-ban", T0)
    # Replaced from the config: members and settings change; the lock and the chair's End stay.
    await store.rooms.upsert(room(sites=("phuong-1",), all_sites=True, auto_record=False), "api")
    got = await store.rooms.get("giao-ban")
    assert got == Room("giao-ban", "Phòng họp giao-ban", "ubnd-tinh", True, ("phuong-1",), 8, False, True, "api",
                       True, "h264", 4, T0)
    assert got is not None and got.locked is True and got.closed_at == T0
    await store.rooms.set_locked("giao-ban", False)
    await store.rooms.set_closed("giao-ban", None)
    got = await store.rooms.get("giao-ban")
    assert got is not None and (got.locked, got.closed_at) == (False, None)
    await store.rooms.upsert(room(sites=()), "config")
    got = await store.rooms.get("giao-ban")
    assert got is not None and got.site_ids == ()
    assert await store.rooms.get("khong-co") is None


async def test_rooms_upsert_refuses_unknown_sites_and_writes_nothing(store: Store) -> None:
    with pytest.raises(Conflict, match="so-ke"):
        await store.rooms.upsert(room("so-ke", sites=("xa-an-binh", "khong-co")), "api")
    assert await store.rooms.get("so-ke") is None
    bad_host = Room("so-ke", "Sơ kết", "khong-co", True, (), 4, False, False, "api", True)
    with pytest.raises(Conflict):
        await store.rooms.upsert(bad_host, "api")
    assert await store.rooms.get("so-ke") is None
    # A failed replacement keeps the old member list (one transaction).
    with pytest.raises(Conflict):
        await store.rooms.upsert(room(sites=("khong-co",)), "config")
    got = await store.rooms.get("giao-ban")
    assert got is not None and got.site_ids == ("xa-an-binh", "xa-binh-minh")


async def test_rooms_listing_deactivation_and_missing_rooms(store: Store) -> None:
    await store.rooms.upsert(room("a-so-ket"), "config")
    await store.rooms.upsert(room("z-api"), "api")
    assert [r.id for r in await store.rooms.all()] == ["a-so-ket", "giao-ban", "z-api"]
    await store.rooms.deactivate_config_rooms_except(["giao-ban"])
    assert [r.id for r in await store.rooms.all()] == ["giao-ban", "z-api"]
    off = await store.rooms.get("a-so-ket")
    assert off is not None and off.active is False
    await store.rooms.deactivate_config_rooms_except([])  # nothing kept: every config room (empty NOT IN)
    assert [r.id for r in await store.rooms.all()] == ["z-api"]
    await store.rooms.delete("z-api")
    assert await store.rooms.all() == []
    with pytest.raises(NotFound):
        await store.rooms.delete("z-api")
    for call in (store.rooms.set_locked("khong-co", True), store.rooms.set_closed("khong-co", T0)):
        with pytest.raises(NotFound):
            await call
    # Upserting a room brings it back.
    await store.rooms.upsert(room("a-so-ket"), "config")
    assert [r.id for r in await store.rooms.all()] == ["a-so-ket"]


async def test_room_sessions_newest_first_ties_by_id_and_end_closes_connections(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three meetings started within one clock tick: newest first still means the last started first.
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0)
    first = await store.rooms.start_session("giao-ban", "thu-ky")
    second = await store.rooms.start_session("giao-ban", "site:ubnd-tinh")
    third = await store.rooms.start_session("giao-ban", "thu-ky")
    assert first == RoomSession(first.id, "giao-ban", T0, None, "thu-ky", None)
    assert first.id < second.id < third.id
    assert [s.id for s in await store.rooms.sessions("giao-ban")] == [third.id, second.id, first.id]
    assert [s.id for s in await store.rooms.sessions("giao-ban", limit=2)] == [third.id, second.id]
    assert await store.rooms.sessions("khong-co") == []
    assert await store.rooms.session(first.id) == first
    assert await store.rooms.session(third.id + 100) is None

    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 10)
    a = await store.rooms.site_joined(first.id, "xa-an-binh")
    b = await store.rooms.site_joined(first.id, "xa-binh-minh")
    assert a > 0 and b > a
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 20)
    await store.rooms.site_left(a, "network")
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 30)
    await store.rooms.site_left(a, "again")  # already left: the first reason and time stay
    await store.rooms.end_session(first.id)
    ended = await store.rooms.session(first.id)
    assert ended == RoomSession(first.id, "giao-ban", T0, T0 + 30, "thu-ky", None)
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 40)
    await store.rooms.end_session(first.id)  # ending twice keeps the first end
    assert (await store.rooms.session(first.id)) == ended


async def test_close_open_sessions_spares_rooms_running_elsewhere(store: Store,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    await store.rooms.upsert(room("so-ket"), "config")
    await store.rooms.upsert(room("tong-ket"), "config")
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0)
    here = await store.rooms.start_session("giao-ban", "thu-ky")
    there = await store.rooms.start_session("so-ket", "thu-ky")
    done = await store.rooms.start_session("tong-ket", "thu-ky")
    await store.rooms.end_session(done.id)
    here_site = await store.rooms.site_joined(here.id, "xa-an-binh")
    there_site = await store.rooms.site_joined(there.id, "xa-an-binh")
    mid = await store.meetings.create(meeting())
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 5)
    await store.rooms.site_joined(there.id, "phuong-1")
    assert here_site != there_site
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 60)
    assert await store.rooms.close_open_sessions("server restarted", keep_rooms=["so-ket"]) == 1
    assert (await store.rooms.session(here.id)) == RoomSession(here.id, "giao-ban", T0, T0 + 60, "thu-ky")
    assert (await store.rooms.session(there.id)) == there
    assert (await store.rooms.session(done.id)) == RoomSession(done.id, "tong-ket", T0, T0, "thu-ky")
    assert await store.rooms.close_open_sessions("again", keep_rooms=["so-ket"]) == 0
    assert await store.rooms.close_open_sessions("server restarted") == 1
    assert (await store.rooms.session(there.id)) == RoomSession(there.id, "so-ket", T0, T0 + 60, "thu-ky")
    assert mid.id > 0


# ------------------------------------------------------------------------------------------ meetings


async def test_meeting_create_round_trips_every_field(store: Store) -> None:
    before = time.time()
    m = await store.meetings.create(meeting(remind_before_s=1800.25))
    assert m.id > 0
    assert m == Meeting(m.id, "giao-ban", VI_TITLE, VI_AGENDA, T0, T0 + HOUR_S, "ubnd-tinh", 900.5, 1800.25,
                        "chaired", False, None, "thu-ky", ("xa-an-binh", "xa-binh-minh"), None)
    assert m.cancelled is False and m.opens_at == T0 - 900.5
    assert await store.meetings.get(m.id) == m
    assert await store.meetings.get(m.id + 1) is None
    other = await store.meetings.create(meeting(invited=(), remind_before_s=None))
    assert other.id > m.id and other.invited == () and other.remind_before_s is None
    assert before <= time.time()


async def test_meeting_refusals_are_integrity_errors_on_both_engines(store: Store) -> None:
    bad_time = Meeting(0, "giao-ban", "x", "", T0, T0, "ubnd-tinh", 0, None, "free", False, None, "", ())
    with pytest.raises(sqlite3.IntegrityError):
        await store.meetings.create(bad_time)
    with pytest.raises(sqlite3.IntegrityError):
        await store.meetings.create(meeting("khong-co"))
    with pytest.raises(sqlite3.IntegrityError):
        await store.meetings.create(meeting(invited=("khong-co",)))
    # Nothing half-written: the failed creations left no meeting behind.
    assert await store.meetings.between(0, 2 * T0) == []


async def test_meeting_update_keeps_roll_call_of_kept_sites_and_resets_reminders(store: Store) -> None:
    m = await store.meetings.create(meeting(remind_before_s=600))
    assert await store.meetings.set_absence_reason(m.id, "xa-an-binh", "Mất điện") is True
    await store.meetings.record_reminders(m.id, [("xa-an-binh", None), ("xa-binh-minh", "550 no mailbox")],
                                          done=True)
    reminded = await store.meetings.get(m.id)
    assert reminded is not None and reminded.reminded_at is not None
    # Same start: sites already reminded stay so; the meeting is looked at again (a new site may need one).
    same_start = Meeting(m.id, "giao-ban", "Giao ban (sửa)", "", T0, T0 + 2 * HOUR_S, "xa-an-binh", 0.0, 600.0,
                         "free", False, None, "thu-ky", ("xa-an-binh", "phuong-1"))
    await store.meetings.update(same_start)
    got = await store.meetings.get(m.id)
    assert got == Meeting(m.id, "giao-ban", "Giao ban (sửa)", "", T0, T0 + 2 * HOUR_S, "xa-an-binh", 0.0, 600.0,
                          "free", False, None, "thu-ky", ("phuong-1", "xa-an-binh"), None)
    inv = {i.site_id: i for i in await store.meetings.invitees(m.id)}
    assert set(inv) == {"phuong-1", "xa-an-binh"}
    assert inv["xa-an-binh"].absence_reason == "Mất điện"
    assert inv["xa-an-binh"].reminded_at == reminded.reminded_at
    assert inv["phuong-1"] == Invitee(m.id, "phuong-1", None, None, None, None, None)
    # A new start: every site is reminded again.
    await store.meetings.update(Meeting(m.id, "giao-ban", "Giao ban (sửa)", "", T0 + 0.5, T0 + 2 * HOUR_S,
                                        "xa-an-binh", 0.0, 600.0, "free", False, None, "thu-ky",
                                        ("xa-an-binh", "phuong-1")))
    inv = {i.site_id: i for i in await store.meetings.invitees(m.id)}
    assert inv["xa-an-binh"].reminded_at is None and inv["xa-an-binh"].absence_reason == "Mất điện"
    # Nobody invited any more (an empty NOT IN).
    await store.meetings.update(Meeting(m.id, "giao-ban", "t", "", T0, T0 + 1, "ubnd-tinh", 0.0, None, "free",
                                        False, None, "thu-ky", ()))
    assert await store.meetings.invitees(m.id) == []
    got = await store.meetings.get(m.id)
    assert got is not None and got.invited == () and got.remind_before_s is None


async def test_meeting_cancel_between_and_for_room(store: Store) -> None:
    await store.rooms.upsert(room("so-ket"), "config")
    early = await store.meetings.create(meeting(starts_at=T0))
    tie = await store.meetings.create(meeting("so-ket", starts_at=T0))  # same start: by id
    late = await store.meetings.create(meeting(starts_at=T0 + 2 * HOUR_S))
    assert [x.id for x in await store.meetings.between(T0, T0 + 3 * HOUR_S)] == [early.id, tie.id, late.id]
    assert [x.id for x in await store.meetings.between(T0, T0 + 3 * HOUR_S, "giao-ban")] == [early.id, late.id]
    # [since, until) overlaps: a meeting ending at `since` or starting at `until` is outside.
    assert [x.id for x in await store.meetings.between(T0 + HOUR_S, T0 + 2 * HOUR_S)] == []
    assert [x.id for x in await store.meetings.between(T0 + HOUR_S - 0.001, T0 + 2 * HOUR_S + 0.001)] == [
        early.id, tie.id, late.id]
    assert await store.meetings.cancel(early.id) is True
    assert await store.meetings.cancel(late.id + 100) is False
    cancelled = await store.meetings.get(early.id)
    assert cancelled is not None and cancelled.cancelled is True
    # Listings still show a cancelled meeting; a room's coming meetings do not.
    assert [x.id for x in await store.meetings.between(T0, T0 + 3 * HOUR_S, "giao-ban")] == [early.id, late.id]
    assert [x.id for x in await store.meetings.for_room("giao-ban", T0 - 1)] == [late.id]
    assert [x.id for x in await store.meetings.for_room("giao-ban", T0 + 3 * HOUR_S)] == []
    assert [x.id for x in await store.meetings.for_room("so-ket", T0 + HOUR_S - 0.5)] == [tie.id]
    assert await store.meetings.for_room("so-ket", T0 + HOUR_S) == []


async def test_meeting_roll_call_and_invitation_outcomes(store: Store) -> None:
    m = await store.meetings.create(meeting(invited=("xa-an-binh", "xa-binh-minh", "phuong-1")))
    assert await store.meetings.invitees(m.id) == [Invitee(m.id, s, None, None, None) for s in
                                                   ("phuong-1", "xa-an-binh", "xa-binh-minh")]
    assert await store.meetings.set_absence_reason(m.id, "xa-binh-minh", "Đi công tác") is True
    assert await store.meetings.set_absence_reason(m.id, "ubnd-tinh", "x") is False  # not invited
    assert await store.meetings.set_absence_reason(m.id + 1, "xa-binh-minh", "x") is False
    before = time.time()
    await store.meetings.record_invitations(m.id, [("xa-an-binh", None), ("xa-binh-minh", "no e-mail address")])
    after = time.time()
    inv = {i.site_id: i for i in await store.meetings.invitees(m.id)}
    sent = inv["xa-an-binh"].invited_at
    assert sent is not None and before <= sent <= after and inv["xa-an-binh"].invite_error is None
    assert (inv["xa-binh-minh"].invited_at, inv["xa-binh-minh"].invite_error) == (None, "no e-mail address")
    assert inv["xa-binh-minh"].absence_reason == "Đi công tác"
    assert inv["phuong-1"] == Invitee(m.id, "phuong-1", None, None, None)
    got = await store.meetings.get(m.id)
    assert got is not None and got.invitations_sent_at is not None and before <= got.invitations_sent_at <= after
    # A second round failing for a site already invited keeps when it was invited, and says why it failed.
    await store.meetings.record_invitations(m.id, [("xa-an-binh", "SMTP 451"), ("xa-binh-minh", None)])
    inv = {i.site_id: i for i in await store.meetings.invitees(m.id)}
    assert (inv["xa-an-binh"].invited_at, inv["xa-an-binh"].invite_error) == (sent, "SMTP 451")
    assert inv["xa-binh-minh"].invited_at is not None and inv["xa-binh-minh"].invite_error is None
    assert await store.meetings.set_absence_reason(m.id, "xa-binh-minh", None) is True
    assert (await store.meetings.invitees(m.id))[2].absence_reason is None


async def test_meeting_due_reminders_and_their_outcomes(store: Store) -> None:
    due = await store.meetings.create(meeting(starts_at=T0, remind_before_s=1800))
    later = await store.meetings.create(meeting(starts_at=T0 + 600, remind_before_s=1800))
    await store.meetings.create(meeting(starts_at=T0, remind_before_s=None))  # no reminder wanted
    gone = await store.meetings.create(meeting(starts_at=T0, remind_before_s=1800))
    await store.meetings.cancel(gone.id)
    assert await store.meetings.due_reminders(T0 - 1800.001) == []
    assert [x.id for x in await store.meetings.due_reminders(T0 - 1800)] == [due.id]
    assert [x.id for x in await store.meetings.due_reminders(T0 - 1200)] == [due.id, later.id]
    assert [x.id for x in await store.meetings.due_reminders(T0 + HOUR_S)] == [later.id]  # the first is over
    await store.meetings.record_reminders(due.id, [("xa-an-binh", None), ("xa-binh-minh", "timeout")], done=False)
    inv = {i.site_id: i for i in await store.meetings.invitees(due.id)}
    assert inv["xa-an-binh"].reminded_at is not None and inv["xa-an-binh"].remind_error is None
    assert (inv["xa-binh-minh"].reminded_at, inv["xa-binh-minh"].remind_error) == (None, "timeout")
    assert [x.id for x in await store.meetings.due_reminders(T0 - 1200)] == [due.id, later.id]
    first_sent = inv["xa-an-binh"].reminded_at
    await store.meetings.record_reminders(due.id, [("xa-an-binh", "late error"), ("xa-binh-minh", None)], done=True)
    inv = {i.site_id: i for i in await store.meetings.invitees(due.id)}
    assert (inv["xa-an-binh"].reminded_at, inv["xa-an-binh"].remind_error) == (first_sent, "late error")
    assert inv["xa-binh-minh"].remind_error is None and inv["xa-binh-minh"].reminded_at is not None
    assert [x.id for x in await store.meetings.due_reminders(T0 - 1200)] == [later.id]
    done = await store.meetings.get(due.id)
    assert done is not None and done.reminded_at is not None


async def test_meeting_held_sessions_presence_and_recorded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    m = await store.meetings.create(meeting())
    other = await store.meetings.create(meeting(starts_at=T0 + 5 * HOUR_S))
    assert await store.meetings.held([]) == {}
    assert await store.meetings.held([m.id]) == {}
    assert await store.meetings.session_ids(m.id) == []
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 1.5)
    s1 = await store.rooms.start_session("giao-ban", "site:ubnd-tinh", m.id)
    # Two sites joining in one clock tick: join order is the order they were recorded.
    j1 = await store.rooms.site_joined(s1.id, "xa-binh-minh")
    j2 = await store.rooms.site_joined(s1.id, "xa-an-binh")
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 600.25)
    await store.rooms.site_left(j1, "network")
    await store.rooms.end_session(s1.id)
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 900)
    s2 = await store.rooms.start_session("giao-ban", "thu-ky", m.id)
    await store.rooms.site_joined(s2.id, "xa-binh-minh")
    await store.rooms.start_session("giao-ban", "thu-ky")  # unscheduled: not this meeting's
    assert j2 > j1
    assert await store.meetings.session_ids(m.id) == [s1.id, s2.id]
    assert await store.meetings.held([m.id, other.id]) == {m.id: (T0 + 1.5, None, [s1.id, s2.id])}
    assert await store.meetings.presence(m.id) == [
        Presence("xa-binh-minh", T0 + 1.5, T0 + 600.25, "network"),
        Presence("xa-an-binh", T0 + 1.5, T0 + 600.25, "meeting ended"),
        Presence("xa-binh-minh", T0 + 900, None, None),
    ]
    monkeypatch.setattr("mediaserver.storage.sites._now", lambda: T0 + 1000)
    await store.rooms.end_session(s2.id)
    assert await store.meetings.held([m.id]) == {m.id: (T0 + 1.5, T0 + 1000, [s1.id, s2.id])}
    assert await store.meetings.presence(other.id) == []
    assert await store.meetings.recorded([]) == set()
    assert await store.meetings.recorded([s1.id, s2.id]) == set()
    await store.segments.add(Segment(0, None, "site", s2.id, "xa-binh-minh", "rooms/1/a.webm", T0 + 900, T0 + 906,
                                     1000, 1, 0.0, mode="conference"))
    assert await store.meetings.recorded([s1.id, s2.id]) == {s2.id}


async def test_chat_keeps_newest_in_order_and_null_recipient(store: Store) -> None:
    s1 = await store.rooms.start_session("giao-ban", "thu-ky")
    s2 = await store.rooms.start_session("giao-ban", "thu-ky")
    a = await store.meetings.add_chat(s1.id, T0, "xa-an-binh", None, "Xin chào cả hội nghị 👋")
    b = await store.meetings.add_chat(s2.id, T0 + 0.001, "ubnd-tinh", "xa-an-binh", "Đã nhận, cảm ơn đồng chí")
    c = await store.meetings.add_chat(s1.id, T0, "xa-binh-minh", None, "100% đồng ý; 'trích dẫn' \"kép\" ?")
    assert 0 < a < b < c
    assert await store.meetings.chat([]) == []
    assert await store.meetings.chat([s1.id, s2.id]) == [
        ChatRecord(a, s1.id, T0, "xa-an-binh", None, "Xin chào cả hội nghị 👋"),
        ChatRecord(b, s2.id, T0 + 0.001, "ubnd-tinh", "xa-an-binh", "Đã nhận, cảm ơn đồng chí"),
        ChatRecord(c, s1.id, T0, "xa-binh-minh", None, "100% đồng ý; 'trích dẫn' \"kép\" ?"),
    ]
    assert [r.id for r in await store.meetings.chat([s1.id])] == [a, c]
    assert [r.id for r in await store.meetings.chat([s1.id, s2.id], limit=2)] == [b, c]  # the newest two
    assert await store.meetings.chat([s2.id + 100]) == []


async def test_speaking_requests_become_turns(store: Store) -> None:
    s1 = await store.rooms.start_session("giao-ban", "thu-ky")
    s2 = await store.rooms.start_session("giao-ban", "thu-ky")
    r1 = await store.meetings.request_opened(s1.id, "xa-an-binh", T0 + 10)
    r2 = await store.meetings.request_opened(s1.id, "xa-binh-minh", T0 + 5)
    r3 = await store.meetings.request_opened(s2.id, "phuong-1", T0 + 5)  # a tie with r2: by id
    await store.meetings.request_granted(r1, T0 + 20)
    await store.meetings.request_closed(r1, T0 + 80.5, "spoke")
    await store.meetings.request_closed(r1, T0 + 99, "left")  # already ended: stays "spoke"
    await store.meetings.request_closed(r2, T0 + 30, "withdrawn")
    assert await store.minutes.speaking_turns([]) == []
    assert await store.minutes.speaking_turns([s1.id, s2.id]) == [
        SpeakingTurn(r2, s1.id, "xa-binh-minh", T0 + 5, None, T0 + 30, "withdrawn"),
        SpeakingTurn(r3, s2.id, "phuong-1", T0 + 5, None, None, None),
        SpeakingTurn(r1, s1.id, "xa-an-binh", T0 + 10, T0 + 20, T0 + 80.5, "spoke"),
    ]
    assert [t.id for t in await store.minutes.speaking_turns([s2.id])] == [r3]


# ------------------------------------------------------------------------------------------ documents


async def test_documents_add_refuses_same_content_in_one_meeting(store: Store) -> None:
    m = await store.meetings.create(meeting())
    other = await store.meetings.create(meeting(starts_at=T0 + 5 * HOUR_S))
    before = time.time()
    doc = await store.documents.add(m.id, "Báo cáo tổng kết năm 2026", "bao-cao-tổng-kết.pdf", "application/pdf",
                                    123_456, SHA_A, "thu-ky", 12)
    assert doc.id > 0 and before <= doc.uploaded_at <= time.time()
    assert doc.downloadable is True and doc.pages == 12
    assert doc.relpath == f"documents/{m.id}/{SHA_A}.pdf"
    assert await store.documents.get(doc.id) == doc
    with pytest.raises(DuplicateDocument) as refused:
        await store.documents.add(m.id, "Bản khác", "khac.pdf", "application/pdf", 1, SHA_A, "van-thu", 1)
    assert refused.value.existing_id == doc.id
    img = await store.documents.add(m.id, "Sơ đồ", "so-do.png", "image/png", 42, SHA_B, "thu-ky", None,
                                    downloadable=False)
    assert img.pages is None and img.downloadable is False
    elsewhere = await store.documents.add(other.id, "Cùng tệp", "x.pdf", "application/pdf", 123_456, SHA_A,
                                          "thu-ky", 12)
    assert elsewhere.id not in (doc.id, img.id)
    assert await store.documents.for_meeting(m.id) == [doc, img]
    assert await store.documents.for_meeting(other.id) == [elsewhere]
    assert await store.documents.for_meeting(other.id + 1) == []
    with pytest.raises(sqlite3.IntegrityError):  # the CHECK rules hold on both engines
        await store.documents.add(m.id, "x", "x.gif", "image/gif", 1, "c" * 64, "thu-ky", None)
    with pytest.raises(sqlite3.IntegrityError):
        await store.documents.add(m.id, "x", "x.pdf", "application/pdf", 0, "d" * 64, "thu-ky", 1)
    assert len(await store.documents.for_meeting(m.id)) == 2


async def test_documents_update_and_delete(store: Store) -> None:
    m = await store.meetings.create(meeting())
    doc = await store.documents.add(m.id, "Dự thảo", "du-thao.pdf", "application/pdf", 10, SHA_A, "thu-ky", 3)
    unchanged = await store.documents.update(doc.id)
    assert unchanged == doc
    renamed = await store.documents.update(doc.id, title="Dự thảo nghị quyết")
    assert renamed is not None and (renamed.title, renamed.downloadable) == ("Dự thảo nghị quyết", True)
    locked = await store.documents.update(doc.id, downloadable=False)
    assert locked is not None and (locked.title, locked.downloadable) == ("Dự thảo nghị quyết", False)
    both = await store.documents.update(doc.id, title="Nghị quyết", downloadable=True)
    assert both is not None and (both.title, both.downloadable) == ("Nghị quyết", True)
    assert await store.documents.update(doc.id + 100, title="x") is None
    deleted = await store.documents.delete(doc.id)
    assert deleted == both
    assert deleted is not None and deleted.downloadable is True and deleted.pages == 3
    assert await store.documents.delete(doc.id) is None
    assert await store.documents.get(doc.id) is None
    # Gone, the same content may be attached again.
    again = await store.documents.add(m.id, "Lại", "lai.pdf", "application/pdf", 10, SHA_A, "thu-ky", 3)
    # (SQLite may hand out the deleted row's id again, PostgreSQL never does: compare rows, not ids.)
    assert await store.documents.for_meeting(m.id) == [again] and again.title == "Lại"


# ------------------------------------------------------------------------------------------ votes


async def test_votes_one_open_question_per_room_and_one_ballot_per_site(store: Store) -> None:
    await store.rooms.upsert(room("so-ket"), "config")
    m = await store.meetings.create(meeting())
    s = await store.rooms.start_session("giao-ban", "thu-ky", m.id)
    q = await store.votes.open("giao-ban", m.id, s.id, "Thông qua Nghị quyết số 12/NQ-HĐND?", False,
                               "site:ubnd-tinh", T0, ["xa-an-binh", "xa-binh-minh", "xa-an-binh"])
    assert q is not None and q.id > 0
    assert (q.meeting_id, q.room_session_id, q.text, q.opened_at, q.closed_at, q.opened_by, q.room_id, q.secret,
            q.closed_by) == (m.id, s.id, "Thông qua Nghị quyết số 12/NQ-HĐND?", T0, None, "site:ubnd-tinh",
                             "giao-ban", False, None)
    assert q.secret is False
    assert await store.votes.open("giao-ban", None, None, "Câu thứ hai", False, "thu-ky", T0, []) is None
    elsewhere = await store.votes.open("so-ket", None, None, "Ở phòng khác", True, "thu-ky", T0, [])
    assert elsewhere is not None and elsewhere.secret is True and elsewhere.meeting_id is None
    await store.votes.present(q.id, "phuong-1")
    await store.votes.present(q.id, "phuong-1")  # twice: one row
    assert await store.votes.cast(q.id, "xa-an-binh", "yes", T0 + 1) == "recorded"
    assert await store.votes.cast(q.id, "xa-an-binh", "no", T0 + 2) == "already_cast"
    assert await store.votes.cast(q.id, "xa-binh-minh", "abstain", T0 + 3) == "recorded"
    assert await store.votes.cast(q.id, "ubnd-tinh", "no", T0 + 4) == "recorded"  # not listed present: counted
    assert await store.votes.cast(q.id, "ubnd-tinh", "yes", T0 + 5) == "already_cast"
    assert await store.votes.cast(q.id + 100, "xa-an-binh", "yes", T0) == "closed"
    opened = await store.votes.open_in_room("giao-ban")
    assert opened is not None and opened.question == q
    assert (opened.yes, opened.no, opened.abstain, opened.total) == (1, 1, 1, 3)
    assert opened.ballots == {"ubnd-tinh": "no", "xa-an-binh": "yes", "xa-binh-minh": "abstain"}
    assert opened.not_voted == ["phuong-1"] and opened.voted == ["ubnd-tinh", "xa-an-binh", "xa-binh-minh"]
    final = await store.votes.close(q.id, T0 + 60.5, "site:ubnd-tinh")
    assert final is not None and (final.question.closed_at, final.question.closed_by) == (T0 + 60.5, "site:ubnd-tinh")
    assert (final.yes, final.no, final.abstain, final.not_voted) == (1, 1, 1, ["phuong-1"])
    assert await store.votes.close(q.id, T0 + 70, "thu-ky") is None
    assert await store.votes.close(q.id + 100, T0 + 70, "thu-ky") is None
    assert await store.votes.cast(q.id, "phuong-1", "yes", T0 + 80) == "closed"
    assert await store.votes.tally(q.id) == final
    assert await store.votes.tally(q.id + 100) is None
    assert await store.votes.open_in_room("giao-ban") is None
    # Closed: the room may open the next question.
    nxt = await store.votes.open("giao-ban", m.id, s.id, "Câu hai", False, "thu-ky", T0 + 100, [])
    assert nxt is not None and nxt.id != q.id
    assert [t.question.id for t in await store.votes.for_meeting(m.id)] == [q.id, nxt.id]
    assert await store.votes.for_meeting(m.id + 100) == []


async def test_votes_secret_question_keeps_no_choice(store: Store) -> None:
    q = await store.votes.open("giao-ban", None, None, "Bỏ phiếu kín: tín nhiệm", True, "thu-ky", T0,
                               ["xa-an-binh", "xa-binh-minh", "phuong-1"])
    assert q is not None
    assert await store.votes.cast(q.id, "xa-an-binh", "no", T0 + 1) == "recorded"
    # The second ballot is refused by the row, not by a remembered choice (there is none).
    assert await store.votes.cast(q.id, "xa-an-binh", "yes", T0 + 2) == "already_cast"
    assert await store.votes.cast(q.id, "phuong-1", "no", T0 + 3) == "recorded"
    t = await store.votes.close(q.id, T0 + 10, "thu-ky")
    assert t is not None
    assert (t.yes, t.no, t.abstain, t.total) == (0, 2, 0, 2)
    assert t.ballots == {} and t.voted == ["phuong-1", "xa-an-binh"] and t.not_voted == ["xa-binh-minh"]
    assert t.question.secret is True


async def test_votes_two_nodes_opening_at_once_get_one_question(db_target: Path | str) -> None:
    # Two processes on the shared index (two Database objects): the second opener is told "one is open",
    # whichever engine; on PostgreSQL both may pass the check before either inserts.
    a = await open_store(db_target)
    b = await open_store(db_target)
    try:
        await a.sites.sync_config(SITES)
        rooms = [f"phong-{i}" for i in range(12)]  # 12 races: the old SELECT-then-INSERT lost 1-5 of 6
        for r in rooms:
            await a.rooms.upsert(room(r), "config")
        results = await asyncio.gather(*(s.votes.open(r, None, None, f"Câu ở {r}", False, "thu-ky", T0, ["xa-an-binh"])
                                         for r in rooms for s in (a, b)))
        for r, (x, y) in zip(rooms, zip(results[::2], results[1::2], strict=True), strict=True):
            assert (x is None) != (y is None), r
            only = x or y
            assert only is not None and only.room_id == r
            t = await a.votes.open_in_room(r)
            assert t is not None and t.question == only and t.not_voted == ["xa-an-binh"]
    finally:
        await a.db.close()
        await b.db.close()


async def test_two_nodes_casting_for_one_site_count_one_ballot(db_target: Path | str) -> None:
    a = await open_store(db_target)
    b = await open_store(db_target)
    try:
        await a.sites.sync_config(SITES)
        await a.rooms.upsert(room(), "config")
        voters = [s.id for s in SITES]
        q = await a.votes.open("giao-ban", None, None, "Đồng ý?", False, "thu-ky", T0, voters)
        assert q is not None
        outcomes = await asyncio.gather(*(st.votes.cast(q.id, v, choice, T0 + 1) for v in voters
                                          for st, choice in ((a, "yes"), (b, "no"))))
        for v, pair in zip(voters, zip(outcomes[::2], outcomes[1::2], strict=True), strict=True):
            assert sorted(pair) == ["already_cast", "recorded"], v
        t = await b.votes.tally(q.id)
        assert t is not None and t.total == len(voters) and t.not_voted == [] and len(t.ballots) == len(voters)
        assert t.yes == sum(1 for c in t.ballots.values() if c == "yes")
    finally:
        await a.db.close()
        await b.db.close()


async def test_two_nodes_adding_one_file_keep_one_document(db_target: Path | str) -> None:
    a = await open_store(db_target)
    b = await open_store(db_target)
    try:
        await a.sites.sync_config(SITES)
        await a.rooms.upsert(room(), "config")
        m = await a.meetings.create(meeting())
        results = await asyncio.gather(
            *(st.documents.add(m.id, f"Tệp {i}", "x.pdf", "application/pdf", 10, f"{i:064x}", "thu-ky", 1)
              for i in range(4) for st in (a, b)), return_exceptions=True)
        docs = await b.documents.for_meeting(m.id)
        assert [d.sha256 for d in docs] == [f"{i:064x}" for i in range(4)]
        for i, pair in enumerate(zip(results[::2], results[1::2], strict=True)):
            kept = [r for r in pair if not isinstance(r, BaseException)]
            refused = [r for r in pair if isinstance(r, DuplicateDocument)]
            assert len(kept) == 1 and len(refused) == 1, pair
            assert kept[0] == docs[i] and refused[0].existing_id == docs[i].id
    finally:
        await a.db.close()
        await b.db.close()


# ------------------------------------------------------------------------------------------ minutes


async def test_minutes_draft_is_replaced(store: Store) -> None:
    m = await store.meetings.create(meeting())
    assert await store.minutes.draft(m.id) is None
    saved = await store.minutes.save_draft(m.id, "Kết luận: thống nhất thông qua.", True, "thu-ky")
    assert saved.include_chat is True and saved.meeting_id == m.id
    assert await store.minutes.draft(m.id) == saved
    again = await store.minutes.save_draft(m.id, "", False, "van-thu")
    got = await store.minutes.draft(m.id)
    assert got == again and got is not None and got.include_chat is False and got.conclusions == ""
    assert got.updated_by == "van-thu" and got.updated_at >= saved.updated_at


async def test_minutes_versions_newest_first_and_numbers_taken_once(store: Store) -> None:
    m = await store.meetings.create(meeting())
    other = await store.meetings.create(meeting(starts_at=T0 + 5 * HOUR_S))
    assert await store.minutes.next_version(m.id) == 1
    assert await store.minutes.versions(m.id) == []
    v1 = await store.minutes.add_issued(m.id, 1, f"minutes/{m.id}/bien-ban-v1.pdf", 2048, SHA_A, signed=False,
                                        signer=None, signer_kind=None, conclusions="Kết luận 1", include_chat=False,
                                        issued_by="thu-ky", issued_at=T0)
    v2 = await store.minutes.add_issued(m.id, 2, f"minutes/{m.id}/bien-ban-v2.pdf", 4096, SHA_B, signed=True,
                                        signer="Nguyễn Văn A, UBND tỉnh", signer_kind="pkcs12",
                                        conclusions="Kết luận 2", include_chat=True, issued_by="van-thu",
                                        issued_at=T0 + 0.75)
    assert 0 < v1.id < v2.id
    assert await store.minutes.next_version(m.id) == 3
    assert await store.minutes.next_version(other.id) == 1
    assert await store.minutes.versions(m.id) == [v2, v1]
    assert await store.minutes.version(m.id, 2) == v2
    got = await store.minutes.version(m.id, 1)
    assert got == v1 and got is not None and got.signed is False and got.include_chat is False
    assert v2.signed is True and (await store.minutes.versions(m.id))[0].signed is True
    assert await store.minutes.version(m.id, 3) is None
    assert await store.minutes.version(other.id, 1) is None
    with pytest.raises(sqlite3.IntegrityError):
        await store.minutes.add_issued(m.id, 2, "x.pdf", 1, SHA_A, signed=False, signer=None, signer_kind=None,
                                       conclusions="", include_chat=False, issued_by="x", issued_at=T0)
    assert await store.minutes.versions(m.id) == [v2, v1]


# ------------------------------------------------------------------------------------------ collation

# Ids may hold '-', '_' and digits: SQLite orders them by code point; a PostgreSQL database made with a
# language's collation (``createdb`` on a vi_VN or en_US box) would order them otherwise.
ODD_IDS = ("xa_a", "xa-b", "xab", "x-z", "xa1")
_collated = itertools.count()


@pytest.fixture
def collated_target(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """An SQLite file, or an empty PostgreSQL database whose text collation is Vietnamese (ICU vi-VN)."""
    if engine == "sqlite":
        yield tmp_path / "index.db"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"vi{next(_collated)}_{id(request)}"
    cluster.admin(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'vi-VN'"
                  " LOCALE 'C.UTF-8'")
    url = cluster.url(name)
    yield url
    cluster.drop_database(url)


async def test_listings_order_ids_by_code_point_whatever_the_collation(collated_target: Path | str,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="mediaserver.storage.pg"):
        s = await open_store(collated_target)
    warned = [r.getMessage() for r in caplog.records if "does not sort text by code point" in r.getMessage()]
    assert len(warned) == (1 if isinstance(collated_target, str) else 0), warned
    try:
        if s.db.dialect == "postgresql":  # the database really collates otherwise
            rows = await s.db.fetchall("SELECT x FROM (VALUES ('xa-b'), ('xa_a'), ('xa1')) AS v(x) ORDER BY x")
            assert [r[0] for r in rows] != sorted(r[0] for r in rows)
        want = sorted(ODD_IDS)
        await s.sites.sync_config([SITES[0], *(Site(i, i, None, "participant", "config", True) for i in ODD_IDS)])
        assert [x.id for x in await s.sites.all()] == ["ubnd-tinh", *want]
        for i in ODD_IDS:
            await s.rooms.upsert(room(i, ODD_IDS), "config")
        assert [r.id for r in await s.rooms.all()] == want
        got = await s.rooms.get("xa1")
        assert got is not None and list(got.site_ids) == want
        m = await s.meetings.create(meeting("xa1", invited=ODD_IDS))
        assert list(m.invited) == want
        assert [i.site_id for i in await s.meetings.invitees(m.id)] == want
        q = await s.votes.open("xa1", m.id, None, "Biểu quyết", False, "thu-ky", T0, ODD_IDS)
        assert q is not None
        for i in ODD_IDS[:3]:
            assert await s.votes.cast(q.id, i, "yes", T0 + 1) == "recorded"
        t = await s.votes.tally(q.id)
        assert t is not None
        assert t.voted == sorted(ODD_IDS[:3]) and t.not_voted == sorted(ODD_IDS[3:])
        assert list(t.ballots) == sorted(ODD_IDS[:3])
    finally:
        await s.db.close()
