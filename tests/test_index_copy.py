"""`mediaserver copy-index`: a one-box SQLite index, made by the app's own repositories, copied into a real
PostgreSQL (tests/pg.py) and read back through the same repositories on the other engine."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mediaserver.cli import main
from mediaserver.storage import Database, Store
from mediaserver.storage.copy import CopyError, copy_index
from mediaserver.storage.jobs import Job
from mediaserver.storage.repos import Segment
from mediaserver.storage.users import TokenRecord
from tests.test_meeting_repos import SITES, T0, meeting, room

CAMERAS = ("cong-chinh", "bai-xe")
SEGMENTS_PER_CAMERA = 40
EVENTS_PER_CAMERA = 30
HEATMAP = bytes(range(256)) * 3  # every byte value: BYTEA must keep them all
SECRET = b"\x00sealed\xffpassword\x00"


async def fill(store: Store) -> dict[str, Any]:
    """Write rows into most tables the way the server does; return the ids a test checks."""
    await store.sites.sync_config(SITES)
    await store.rooms.upsert(room(), "config")
    admin = await store.users.create("quan-tri", "$argon2id$x", "admin")
    clerk = await store.users.create("thu-ky", "$argon2id$y", "operator", must_change=True)
    await store.users.update(clerk.id, disabled=True)
    await store.tokens.add(TokenRecord("jti-1", admin.id, "access", "admin", None, None, T0, T0 + 3600, None, "web"))
    for cam in CAMERAS:
        await store.cameras.upsert(cam, f"Camera {cam} — cổng", "config")
    await store.cameras.set_source(CAMERAS[0], {"kind": "rtsp", "url": "rtsp://10.0.0.9/main"}, SECRET)
    await store.cameras.set_info(CAMERAS[1], {"model": "Hikvision", "firmware": "5.7"})
    outage = await store.cameras.open_outage(CAMERAS[1], "mất kết nối", at=T0 + 5)
    await store.cameras.close_outage(outage, at=T0 + 65.25)
    segment_ids, event_ids = [], []
    for cam in CAMERAS:
        for i in range(SEGMENTS_PER_CAMERA):
            seg = Segment(0, cam, "main", None, None, f"recordings/{cam}/{i:05d}.mp4", T0 + i * 10.0,
                          T0 + i * 10.0 + 10.0, 1_000_000 + i, 5, i / 100, has_motion=i % 3 == 0,
                          gap_before=i == 7)
            segment_ids.append(await store.segments.add(seg, HEATMAP if i % 2 else None))
        for i in range(EVENTS_PER_CAMERA):
            event_ids.append(await store.events.add(
                cam, T0 + i * 13.5, None if i == EVENTS_PER_CAMERA - 1 else T0 + i * 13.5 + 4.0, 0.5 + i / 100,
                ["cong", "san"] if i % 2 else [], f"thumbnails/{cam}/{i}.jpg", [[0.1, 0.2, 0.3, 0.4]]))
    item = await store.review.upsert(event_ids[3], CAMERAS[0], kind="alert", labels=["person", "car"],
                                     top_score=0.91, zones=["cong"], boxes=[[0.1, 0.1, 0.5, 0.5]],
                                     start_at=T0 + 40.5, end_at=T0 + 44.5, snapshot_path="review/a.jpg")
    await store.review.mark([item], "quan-tri", T0 + 100)
    hold = await store.holds.add(CAMERAS[0], T0, T0 + 300, "Vụ việc số 12/2026", "quan-tri")
    await store.exports.create("exp-1", CAMERAS[0], T0, T0 + 120, "quan-tri", hold, covered_s=110.5, missing_s=9.5,
                               gaps=[(T0 + 50, T0 + 59.5)])
    m = await store.meetings.create(meeting())
    session = await store.rooms.start_session("giao-ban", "quan-tri", m.id)
    joined = await store.rooms.site_joined(session.id, "xa-an-binh")
    await store.rooms.site_left(joined, "left")
    await store.meetings.add_chat(session.id, T0 + 30, "xa-an-binh", None, "Xin chào — đã nghe rõ")
    turn = await store.meetings.request_opened(session.id, "xa-binh-minh", T0 + 31)
    await store.meetings.request_granted(turn, T0 + 32)
    await store.meetings.request_closed(turn, T0 + 90, "done")
    doc = await store.documents.add(m.id, "Báo cáo quý IV", "bao-cao.pdf", "application/pdf", 12345, "c" * 64,
                                    "thu-ky", 7)
    q = await store.votes.open("giao-ban", m.id, session.id, "Thông qua nghị quyết?", False, "ubnd-tinh", T0 + 40,
                               ["xa-an-binh", "xa-binh-minh"])
    assert q is not None
    await store.votes.cast(q.id, "xa-an-binh", "yes", T0 + 41)
    await store.votes.cast(q.id, "xa-binh-minh", "abstain", T0 + 42)
    await store.votes.close(q.id, T0 + 50, "ubnd-tinh")
    await store.minutes.save_draft(m.id, "Kết luận: thống nhất 100 %", True, "thu-ky")
    await store.minutes.add_issued(m.id, 1, "minutes/1.pdf", 999, "d" * 64, signed=True, signer="Nguyễn Văn A",
                                   signer_kind="demo", conclusions="Kết luận", include_chat=False,
                                   issued_by="thu-ky", issued_at=T0 + 200)
    await store.jobs.upsert(Job("nightly", "retention.run", "cron", "0 2 * * *", "Asia/Ho_Chi_Minh", 60.0,
                                {"dry": False}, True, "config", T0 + 86400, None))
    run = await store.jobs.start_run("nightly", T0, 1.5)
    await store.jobs.finish_run(run, "ok")
    await store.service_tokens.add("prometheus", "metrics:read", "e" * 64, "quan-tri", None)
    for i in range(5):
        await store.audit.add("quan-tri", "admin", "camera.update", CAMERAS[i % 2], {"i": i, "ghi_chú": "đã sửa"})
    return {"users": [admin.id, clerk.id], "segments": segment_ids, "events": event_ids, "item": item,
            "meeting": m.id, "session": session.id, "document": doc.id, "question": q.id}


def source_index(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Make a data dir with a filled SQLite index and a config naming it; return (config, index, ids)."""
    data = tmp_path / "data"
    cfg = tmp_path / "config.yaml"
    cfg.write_text("storage: {data_dir: ./data}\n")

    async def make() -> dict[str, Any]:
        db = Database(data / "mediaserver.db")
        await db.open()
        try:
            return await fill(Store(db))
        finally:
            await db.close()

    return cfg, data / "mediaserver.db", asyncio.run(make())


Columns = dict[str, list[str]]


def sqlite_rows(path: Path) -> tuple[Columns, dict[str, list[tuple[Any, ...]]]]:
    """Return every table's columns and its rows (sorted) as SQLite stores them."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        columns = {n: [r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}
        return columns, {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        conn.close()


def pg_rows(url: str, columns: Columns) -> dict[str, list[tuple[Any, ...]]]:
    """Return the same tables' rows (same column order, sorted) as PostgreSQL holds them."""
    with psycopg.connect(url) as conn:
        out = {}
        for n, cols in columns.items():
            names = ", ".join(f'"{c}"' for c in cols)
            out[n] = sorted((tuple(r) for r in conn.execute(f'SELECT {names} FROM "{n}"').fetchall()), key=repr)
        return out


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


async def read_back(store: Store, ids: dict[str, Any]) -> dict[str, Any]:
    """Read what `fill` wrote through the repositories (the same calls on either engine)."""
    return {
        "users": await store.users.all(),
        "sites": await store.sites.all(include_inactive=True),
        "rooms": await store.rooms.all(),
        "cameras": await store.cameras.all(),
        "sources": await store.cameras.api_sources(),
        "outages": await store.cameras.outages(CAMERAS[1], T0 - 1, T0 + 1000),
        "segments": [await store.segments.for_camera(c, T0 - 1, T0 + 10_000) for c in CAMERAS],
        "heatmaps": await store.segments.heatmaps(CAMERAS[0], T0 - 1, T0 + 10_000),
        "events": [await store.events.get(i) for i in ids["events"]],
        "search": await store.events.search(None, T0 - 1, T0 + 10_000, limit=100),
        "review": await store.review.get(ids["item"]),
        "holds": await store.holds.active(),
        "exports": await store.exports.all(),
        "meeting": await store.meetings.get(ids["meeting"]),
        "invitees": await store.meetings.invitees(ids["meeting"]),
        "presence": await store.meetings.presence(ids["meeting"]),
        "chat": await store.meetings.chat([ids["session"]]),
        "documents": await store.documents.for_meeting(ids["meeting"]),
        "votes": await store.votes.for_meeting(ids["meeting"]),
        "draft": await store.minutes.draft(ids["meeting"]),
        "minutes": await store.minutes.versions(ids["meeting"]),
        "turns": await store.minutes.speaking_turns([ids["session"]]),
        "jobs": await store.jobs.all(),
        "audit": await store.audit.all(limit=100),
        "token": await store.tokens.get("jti-1"),
    }


async def test_copy_keeps_every_row_and_id_and_new_rows_get_later_ids(
        tmp_path: Path, pg_empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, index, ids = await asyncio.to_thread(source_index, tmp_path)
    columns, before = await asyncio.to_thread(sqlite_rows, index)
    source_bytes = index.read_bytes()
    assert sum(1 for rows in before.values() if rows) >= 25  # rows in most tables, not a token few

    rc, out, err = await asyncio.to_thread(run_cli, capsys, "copy-index", "-c", str(cfg), "--to", pg_empty_url)
    assert rc == 0, err
    total = sum(len(r) for r in before.values())
    assert f"copied {len(before)} tables, {total} rows" in out
    assert "  motion_events: 60 / 60 rows" in err and "  recording_segments: 80 / 80 rows" in err
    assert index.read_bytes() == source_bytes  # the source is never written

    # Byte for byte, table by table: every row, every id, blobs and NULLs as stored.
    after = await asyncio.to_thread(pg_rows, pg_empty_url, columns)
    for name in before:
        assert after[name] == before[name], name

    src, dst = Database(index), Database(pg_empty_url)
    await src.open()
    await dst.open()
    try:
        source_store, target_store = Store(src), Store(dst)
        assert await read_back(target_store, ids) == await read_back(source_store, ids)
        assert await dst.user_version() == await src.user_version()
        # Sequences moved past the copied ids: a new row of each kind gets the next id, not a taken one.
        user = await target_store.users.create("moi", "$argon2id$z", "operator")
        assert user.id == max(ids["users"]) + 1
        seg = Segment(0, CAMERAS[0], "main", None, None, "recordings/new.mp4", T0 + 9000, T0 + 9010, 1, 1, 0.0)
        assert await target_store.segments.add(seg) == max(ids["segments"]) + 1
        assert await target_store.events.add(CAMERAS[0], T0 + 9000, None, 0.4, []) == max(ids["events"]) + 1
        audit_id = await target_store.audit.add("quan-tri", "admin", "user.create", "moi")
        assert audit_id > max(e.id for e in await source_store.audit.all(limit=100))
    finally:
        await src.close()
        await dst.close()

    # A second copy into the now non-empty target is refused, and changes nothing there.
    rc, out, err = await asyncio.to_thread(run_cli, capsys, "copy-index", "-c", str(cfg), "--to", pg_empty_url)
    assert rc == 1
    assert "already has rows in table" in err and "copies into an empty database only" in err
    assert len(err.strip().splitlines()) == 1
    again = await asyncio.to_thread(pg_rows, pg_empty_url, {"users": columns["users"]})
    assert len(again["users"]) == len(before["users"]) + 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_refuses_bad_targets_and_missing_or_old_sources(
        tmp_path: Path, pg_empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("storage: {data_dir: ./data}\n")
    index = tmp_path / "data" / "mediaserver.db"

    rc, _, err = run_cli(capsys, "copy-index", "-c", str(cfg), "--to", pg_empty_url)
    assert rc == 1
    assert err.strip() == (f"copy-index refused: no SQLite index at {index}: is storage.data_dir (or "
                           "storage.database_url) right?")

    async def old_index() -> None:
        db = Database(index)
        await db.open(target_version=db.schema_version - 1)
        await db.close()

    asyncio.run(old_index())
    rc, _, err = run_cli(capsys, "copy-index", "-c", str(cfg), "--to", pg_empty_url)
    assert rc == 1
    assert "migrate it first with `mediaserver migrate" in err and len(err.strip().splitlines()) == 1
    with psycopg.connect(pg_empty_url) as conn:  # refused before the target was touched: not even migrated
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                            ).fetchone() == (0,)

    async def migrate() -> None:
        db = Database(index)
        await db.open()
        await db.close()

    asyncio.run(migrate())
    nobody = f"postgresql://postgres@127.0.0.1:{_free_port()}/mediaserver"
    rc, _, err = run_cli(capsys, "copy-index", "-c", str(cfg), "--to", nobody)
    assert rc == 1
    assert err.startswith(f"copy-index refused: cannot connect to {nobody}: ") and len(err.strip().splitlines()) == 1
    missing_db = pg_empty_url.rsplit("/", 1)[0] + "/khong_co"
    rc, _, err = run_cli(capsys, "copy-index", "-c", str(cfg), "--to", missing_db)
    assert rc == 1 and 'database "khong_co" does not exist' in err
    rc, _, err = run_cli(capsys, "copy-index", "-c", str(cfg), "--to", f"sqlite:///{tmp_path}/x.db")
    assert rc == 2 and "--to must be a postgresql:// URL" in err


async def test_copy_rolls_back_whole_when_postgresql_refuses_a_row(tmp_path: Path, pg_empty_url: str) -> None:
    """A value PostgreSQL cannot take (a fraction in an INTEGER column SQLite let through) leaves the target empty."""
    _, index, _ = await asyncio.to_thread(source_index, tmp_path)
    with sqlite3.connect(index) as conn:
        conn.execute("UPDATE recording_segments SET bytes = 1.5 WHERE id = (SELECT max(id) FROM recording_segments)")
    with pytest.raises(CopyError, match=r"^PostgreSQL refused the copy at recording_segments \(.*nothing was copied"):
        await copy_index(index, pg_empty_url)
    with psycopg.connect(pg_empty_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM cameras").fetchone() == (0,)
