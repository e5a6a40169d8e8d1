"""The storage index on both engines — real SQLite files and a real PostgreSQL: migrations, transactions,
references, rows, ids; and the PostgreSQL engine's own parts (placeholders, types, concurrent migration)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest

from mediaserver.storage import Conflict, Database, MigrationError, Store
from mediaserver.storage.db import available_migrations
from mediaserver.storage.pg import migration_sql, postgres_migrations, redact, translate
from mediaserver.storage.repos import Segment
from tests.pg import PgCluster

LATEST = len(available_migrations())
TABLES = {"users", "api_tokens", "sites", "rooms", "room_sessions", "cameras", "recording_segments",
          "motion_events", "jobs", "job_runs", "audit_log"}


async def table_names(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetchall("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {r[0] for r in rows}


async def test_migrates_an_empty_database(empty_db_target: Path | str) -> None:
    db = Database(empty_db_target)
    await db.open()
    try:
        assert await db.user_version() == LATEST
        if db.dialect == "sqlite":
            assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
            assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        else:
            # Times are 8-byte floats: PostgreSQL's REAL (4 bytes) would round epoch seconds to about 2 minutes.
            row = await db.fetchone("SELECT data_type FROM information_schema.columns"
                                    " WHERE table_name = 'recording_segments' AND column_name = 'start_at'")
            assert row is not None and row[0] == "double precision"
        assert await db.integrity_check() == "ok"
        assert await table_names(db) >= TABLES
    finally:
        await db.close()


@pytest.mark.parametrize("previous", range(1, LATEST))
async def test_migrates_from_each_previous_schema_keeping_data(empty_db_target: Path | str, previous: int) -> None:
    old = Database(empty_db_target)
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

    new = Database(empty_db_target)
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


async def test_refuses_a_database_newer_than_the_program(empty_db_target: Path | str) -> None:
    if isinstance(empty_db_target, Path):
        with sqlite3.connect(empty_db_target) as conn:
            conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    else:
        with psycopg.connect(empty_db_target, autocommit=True) as pconn:
            pconn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            pconn.execute("INSERT INTO schema_version VALUES (%s)", (LATEST + 1,))
    db = Database(empty_db_target)
    with pytest.raises(MigrationError, match="newer than this program"):
        await db.open()
    await db.close()


async def test_failed_transaction_leaves_nothing(db_target: Path | str) -> None:
    db = Database(db_target)
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


async def test_references_are_enforced(db_target: Path | str) -> None:
    db = Database(db_target)
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


async def test_event_search_is_newest_first_and_paginated(db_target: Path | str) -> None:
    db = Database(db_target)
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
        both = await store.events.search(["gate-1", "hall"], 0, 2000, limit=4, zone="door")
        assert [e.start_at for e in both] == [1024.0, 1023.0, 1022.0, 1021.0]
    finally:
        await db.close()


async def test_reader_sees_committed_writes_at_once(db_target: Path | str) -> None:
    db = Database(db_target)
    await db.open()
    store = Store(db)
    try:
        await store.audit.add("admin", "admin", "room.lock", "hop-huyen", {"why": "thử"})
        [entry] = await store.audit.all()
        assert (entry.action, entry.detail) == ("room.lock", {"why": "thử"})
        assert [e.target for e in await store.audit.all(target="huyen")] == ["hop-huyen"]
        assert await store.audit.all(target="50%") == []
    finally:
        await db.close()


async def test_rows_ids_and_values_are_the_same_on_both_engines(db_target: Path | str) -> None:
    db = Database(db_target)
    await db.open()
    try:
        # The new row's id from execute (the repositories' way) and from insert, in and out of a transaction.
        first = await db.execute("INSERT INTO audit_log (at, actor, actor_role, action) VALUES (?, 'a', 'b', 'c')",
                                 (1796649432.2987576,))
        second = await db.insert("INSERT INTO audit_log (at, actor, actor_role, action) VALUES (?, ?, 'b', 'c')",
                                 (2.5, "x"))
        async with db.transaction() as conn:
            cur = await conn.execute("INSERT INTO audit_log (at, actor, actor_role, action) VALUES (3, 'a', 'b', 'c')")
            third = cur.lastrowid
            cur = await conn.execute("UPDATE audit_log SET remote = ? WHERE id <= ?", ("100% ?", second))
            assert cur.rowcount == 2
        assert (first, second, third) == (1, 2, 3)
        row = await db.fetchone(
            "SELECT id, at, remote, (SELECT COUNT(*) FROM audit_log) AS n FROM audit_log WHERE id = ?", (1,))
        assert row is not None
        # By name and by index; epoch seconds survive to the last bit; a literal '?' and '%' are left alone.
        assert (row["id"], row[0], row["at"], row["remote"], row["n"]) == (1, 1, 1796649432.2987576, "100% ?", 3)
        assert row.keys() == ["id", "at", "remote", "n"]
        sums = await db.fetchone("SELECT COALESCE(SUM(id), 0) AS s, 'a?b' AS q FROM audit_log WHERE remote LIKE '100%'"
                                 " AND ? = 1", (True,))
        assert sums is not None and (sums["s"], type(sums["s"]), sums["q"]) == (3, int, "a?b")
        named = await db.fetchall("SELECT id FROM audit_log WHERE actor = :who ORDER BY id", {"who": "a"})
        assert [r["id"] for r in named] == [1, 3]
        with pytest.raises(sqlite3.IntegrityError):  # both engines raise the one exception type the repos catch
            await db.execute("INSERT INTO users (username, password_hash, role, created_at, password_changed_at)"
                             " VALUES ('u', 'h', 'nobody-role', 0, 0)")
    finally:
        await db.close()


def test_placeholders_are_translated_outside_strings_and_comments() -> None:
    assert translate("SELECT '?', \"a?\", ? -- why?\nFROM t WHERE x LIKE 'a%' AND y = ?") == \
        "SELECT '?', \"a?\", %s -- why?\nFROM t WHERE x LIKE 'a%%' AND y = %s"
    assert translate("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"
    assert translate("SELECT :a, x::text, ':b' FROM t WHERE y = :c_1", named=True) == \
        "SELECT %(a)s, x::text, ':b' FROM t WHERE y = %(c_1)s"


def test_migrations_translate_types_outside_comments() -> None:
    sql = "-- times are REAL epoch seconds\nCREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, at REAL, b BLOB," \
          " note TEXT DEFAULT 'REAL')"
    assert migration_sql(sql) == (
        "-- times are REAL epoch seconds\nCREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " n BIGINT, at DOUBLE PRECISION, b BYTEA, note TEXT DEFAULT 'REAL')")
    for _, name, pg_sql in postgres_migrations():  # every shipped migration's PostgreSQL form keeps no 4-byte REAL
        code = "\n".join(line.split("--")[0] for line in pg_sql.splitlines())
        assert " REAL" not in code and "AUTOINCREMENT" not in code, name
    assert redact("postgresql://ms:s3cret@db:5432/ms") == "postgresql://ms:***@db:5432/ms"


async def test_nodes_starting_together_migrate_once(pg_cluster: PgCluster, pg_empty_url: str) -> None:
    nodes = [Database(pg_empty_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.open() for db in nodes))
        for db in nodes:
            assert await db.user_version() == LATEST
        rows = await nodes[0].fetchall("SELECT version FROM schema_version")
        assert [r[0] for r in rows] == [LATEST]
    finally:
        for db in nodes:
            await db.close()


async def test_postgresql_integrity_check_names_an_invalid_index_and_an_unchecked_constraint(pg_url: str) -> None:
    db = Database(pg_url)
    await db.open()
    try:
        assert await db.integrity_check() == "ok"
        # What an interrupted CREATE INDEX CONCURRENTLY leaves (the test cluster's user is its superuser).
        await db.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'leases_node'::regclass")
        assert await db.integrity_check() == "invalid index(es): leases_node (REINDEX them)"
        await db.execute("REINDEX INDEX leases_node")
        assert await db.integrity_check() == "ok"
        await db.execute("ALTER TABLE leases ADD CONSTRAINT leases_ttl CHECK (expires_at > 0) NOT VALID")
        assert await db.integrity_check() == "constraint(s) never validated: leases.leases_ttl"
    finally:
        await db.close()


async def test_a_refused_user_says_why_on_both_engines(db_target: Path | str) -> None:
    db = Database(db_target)
    await db.open()
    try:
        store = Store(db)
        await store.users.create("can-bo", "hash", "operator")
        with pytest.raises(Conflict, match=r"^user 'can-bo' already exists$"):
            await store.users.create("can-bo", "hash", "operator")
        with pytest.raises(Conflict) as refused:  # a role the schema's CHECK refuses is not a taken name
            await store.users.create("moi", "hash", "tong-bi-thu")
        assert "already exists" not in str(refused.value) and "not created" in str(refused.value)
    finally:
        await db.close()
