"""The storage index on real SQLite files: migrations, pragmas, transactions, references."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediaserver.storage import Conflict, Database, MigrationError, Store
from mediaserver.storage.db import available_migrations
from mediaserver.storage.repos import Segment

LATEST = len(available_migrations())


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_migrates_an_empty_database(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        assert await db.user_version() == LATEST
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()
    assert {"users", "api_tokens", "sites", "rooms", "room_sessions", "cameras", "recording_segments",
            "motion_events", "jobs", "job_runs", "audit_log"} <= tables(tmp_path / "index.db")


@pytest.mark.parametrize("previous", range(1, LATEST))
async def test_migrates_from_each_previous_schema_keeping_data(tmp_path: Path, previous: int) -> None:
    path = tmp_path / "index.db"
    old = Database(path)
    await old.open(target_version=previous)
    assert await old.user_version() == previous
    store = Store(old)
    await store.users.create("admin", "hash", "admin")
    async with old.transaction() as conn:  # raw SQL: the repositories write today's schema
        await conn.execute("INSERT INTO sites (id, name, role, source, created_at, updated_at)"
                           " VALUES ('ubnd-huyen', 'UBND huyện', 'host', 'config', 0, 0)")
    await store.cameras.upsert("gate-1", "Cổng", "config")
    async with old.transaction() as conn:
        await conn.execute("INSERT INTO rooms (id, name, host_site_id, max_sites, source, created_at, updated_at)"
                           " VALUES ('hop', 'Họp', 'ubnd-huyen', 40, 'config', 0, 0)")
    await old.close()

    new = Database(path)
    await new.open()
    try:
        store = Store(new)
        assert await new.user_version() == LATEST
        assert (await store.users.by_name("admin")) is not None
        assert [s.id for s in await store.sites.all()] == ["ubnd-huyen"]
        room = await store.rooms.get("hop")
        assert room is not None and (room.video_codec, room.audible_sites) == ("vp8", 3)
        seg_id = await store.segments.add(Segment(0, "gate-1", "main", None, None, "gate-1/a.mp4", 10.0, 20.0,
                                                  1000, 1, 0.0))
        assert seg_id > 0
        assert await new.integrity_check() == "ok"
    finally:
        await new.close()


async def test_refuses_a_database_newer_than_the_program(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    db = Database(path)
    with pytest.raises(MigrationError, match="newer than this program"):
        await db.open()
    await db.close()


async def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    store = Store(db)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO audit_log (at, actor, actor_role, action) VALUES (1, 'a', 'b', 'c')")
                raise RuntimeError("crash mid-transaction")
        assert await store.audit.all() == []
    finally:
        await db.close()


async def test_references_are_enforced(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    store = Store(db)
    try:
        with pytest.raises(Conflict):
            await store.segments.add(Segment(0, "no-such-camera", "main", None, None, "x.mp4", 1.0, 2.0, 1, 1, 0))
        await store.cameras.upsert("gate-1", "Cổng", "config")
        with pytest.raises(Conflict):  # end before start
            await store.segments.add(Segment(0, "gate-1", "main", None, None, "y.mp4", 5.0, 2.0, 1, 1, 0))
        with pytest.raises(Conflict):
            await store.users.create("a", "h", "admin")
            await store.users.create("a", "h", "operator")
    finally:
        await db.close()


async def test_event_search_is_newest_first_and_paginated(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    store = Store(db)
    try:
        for cam in ("gate-1", "hall"):
            await store.cameras.upsert(cam, cam, "api")
        for i in range(25):
            await store.events.add("gate-1" if i % 2 else "hall", 1000.0 + i, 1000.5 + i, i / 25, ["door"])
        page1 = await store.events.search(["gate-1"], 0, 2000, limit=5)
        assert [e.start_at for e in page1] == [1023.0, 1021.0, 1019.0, 1017.0, 1015.0]
        page2 = await store.events.search(["gate-1"], 0, 2000, limit=5, before_id=page1[-1].id)
        assert page2[0].start_at == 1013.0
        assert len(await store.events.search(None, 0, 2000, limit=100)) == 25
    finally:
        await db.close()


async def test_reader_sees_committed_writes_at_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    store = Store(db)
    try:
        await store.audit.add("admin", "admin", "room.lock", "hop-huyen", {"why": "thử"})
        [entry] = await store.audit.all()
        assert (entry.action, entry.detail) == ("room.lock", {"why": "thử"})
    finally:
        await db.close()
