"""The review queue's storage on a real SQLite file: upsert rules, filters, pagination, counts, marks, plans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediaserver.config import Config
from mediaserver.storage import Database, NotFound, Store
from recordings.retention import DAY_S, RetentionSweeper

T0 = 1_800_000_000.0


async def open_store(target: Path | str) -> Store:
    db = Database(target)
    await db.open()
    s = Store(db)
    for cam in ("cong-chinh", "nha-xe"):
        await s.cameras.upsert(cam, cam, "config")
    return s


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[Store]:
    """The index on each engine."""
    s = await open_store(db_target)
    yield s
    await s.db.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """An SQLite index, for the tests that read SQLite's query plans."""
    s = await open_store(tmp_path / "index.db")
    yield s
    await s.db.close()


async def item(store: Store, camera: str, start: float, *, kind: str = "detection", labels: list[str] | None = None,
               zones: list[str] | None = None, score: float = 0.8) -> int:
    event_id = await store.events.add(camera, start, start + 5, 0.1, zones or [])
    labels = labels or ["person"]
    boxes: list[list[Any]] = [[start + 1, lab, score, 0.1, 0.2, 0.3, 0.4] for lab in labels]
    return await store.review.upsert(event_id, camera, kind=kind, labels=labels, top_score=score,
                                     zones=zones or [], boxes=boxes, start_at=start, end_at=start + 5)


async def test_upsert_by_event_upgrades_never_downgrades_and_unions(store: Store) -> None:
    event_id = await store.events.add("cong-chinh", T0, None, 0.1, [])
    first = await store.review.upsert(event_id, "cong-chinh", kind="detection", labels=["car"], top_score=0.6,
                                      zones=["san"], boxes=[[T0, "car", 0.6, 0, 0, 0.1, 0.1]], start_at=T0,
                                      end_at=None)
    assert await store.review.mark([first], "bao-ve", T0 + 2) == 1
    again = await store.review.upsert(event_id, "cong-chinh", kind="alert", labels=["person", "car"], top_score=0.9,
                                      zones=["cong"], boxes=[[T0 + 1, "person", 0.9, 0, 0, 0.2, 0.4]], start_at=T0,
                                      end_at=None, snapshot_path="review/cong-chinh/1.jpg")
    assert again == first
    it = await store.review.get(first)
    assert (it.kind, it.labels, it.zones, it.top_score) == ("alert", ["car", "person"], ["san", "cong"], 0.9)
    assert it.snapshot_path == "review/cong-chinh/1.jpg"
    # An upgrade to an alert puts a reviewed item back in the queue: nobody has seen the person yet.
    assert (it.reviewed_by, it.reviewed_at) == (None, None)
    # The end of the event: a lower score, kind "detection" and no snapshot change nothing already known.
    await store.review.upsert(event_id, "cong-chinh", kind="detection", labels=["car"], top_score=0.5, zones=[],
                              boxes=[], start_at=T0, end_at=T0 + 9)
    it = await store.review.get(first)
    assert (it.kind, it.labels, it.zones, it.top_score, it.end_at) == ("alert", ["car", "person"], ["san", "cong"],
                                                                        0.9, T0 + 9)
    assert it.snapshot_path == "review/cong-chinh/1.jpg" and it.boxes == [[T0 + 1, "person", 0.9, 0, 0, 0.2, 0.4]]
    assert (await store.review.for_event(event_id)) == it
    with pytest.raises(NotFound):
        await store.review.get(first + 100)
    with pytest.raises(ValueError, match="kind"):
        await store.review.upsert(event_id, "cong-chinh", kind="alarm", labels=[], top_score=0, zones=[], boxes=[],
                                  start_at=T0, end_at=None)


async def test_filters_pagination_and_summary(store: Store) -> None:
    ids = {
        "a": await item(store, "cong-chinh", T0 + 10, kind="alert", labels=["person"], zones=["cong"]),
        "b": await item(store, "cong-chinh", T0 + 20, labels=["car"], zones=["san"]),
        "c": await item(store, "nha-xe", T0 + 30, kind="alert", labels=["motorcycle", "person"], zones=["cong"]),
        "d": await item(store, "nha-xe", T0 + 40, labels=["bicycle"]),
        "e": await item(store, "cong-chinh", T0 + 40, labels=["person"], zones=["san"]),  # same start as d
    }
    name = {v: k for k, v in ids.items()}

    async def names(**kw: Any) -> str:
        return "".join(name[i.id] for i in await store.review.list(**kw))

    assert await names() == "edcba"  # newest first, ties by id
    assert await names(camera_ids=["cong-chinh"]) == "eba"
    assert await names(camera_ids=["nha-xe", "cong-chinh"]) == "edcba"
    assert await names(label="person") == "eca"
    assert await names(label="person", camera_ids=["nha-xe"]) == "c"
    assert await names(zone="cong") == "ca"
    assert await names(zone="san", label="person") == "e"
    assert await names(zone="cong", camera_ids=["cong-chinh", "nha-xe"], kind="alert") == "ca"
    assert await names(kind="detection") == "edb"
    assert await names(since=T0 + 20, until=T0 + 40) == "cb"
    assert await store.review.mark([ids["a"], ids["d"], ids["d"]], "bao-ve", T0 + 100) == 2
    assert await store.review.mark([ids["a"]], "khac", T0 + 200) == 0  # the first reviewer stays
    assert (await store.review.get(ids["a"])).reviewed_by == "bao-ve"
    assert await names(reviewed=False) == "ecb"
    assert await names(reviewed=True) == "da"
    assert await names(reviewed=False, label="person", kind="alert") == "c"
    # Pages of two continue after the last item's (start, id), through the tie at T0 + 40.
    pages = []
    before: int | None = None
    while True:
        page = await store.review.list(limit=2, before_id=before)
        if not page:
            break
        pages.append("".join(name[i.id] for i in page))
        before = page[-1].id
    assert pages == ["ed", "cb", "a"]
    assert await names(label="person", limit=1, before_id=ids["e"]) == "c"
    assert await store.review.list(before_id=999_999) == []

    assert await store.review.summary() == {
        "unreviewed": 3, "unreviewed_alerts": 1,
        "by_camera": {"cong-chinh": {"unreviewed": 2, "unreviewed_alerts": 0},
                      "nha-xe": {"unreviewed": 1, "unreviewed_alerts": 1}}}
    assert await store.review.mark([ids["a"], ids["b"]], None, None) == 1  # only a was reviewed
    assert (await store.review.summary())["unreviewed"] == 4


async def test_deleting_the_event_deletes_the_item_and_its_rows(store: Store) -> None:
    item_id = await item(store, "cong-chinh", T0, labels=["person"], zones=["cong"])
    it = await store.review.get(item_id)
    await store.db.execute("UPDATE review_items SET snapshot_path = 'review/cong-chinh/x.jpg' WHERE id = ?",
                           (item_id,))
    assert await store.review.snapshot_paths([it.event_id]) == ["review/cong-chinh/x.jpg"]
    await store.events.delete_ids([it.event_id])
    with pytest.raises(NotFound):
        await store.review.get(item_id)
    for table in ("review_labels", "review_zones"):
        row = await store.db.fetchone(f"SELECT COUNT(*) FROM {table}")
        assert row is not None and row[0] == 0


@pytest.mark.parametrize("kw", [
    {}, {"camera_ids": ["cong-chinh"]}, {"label": "person"}, {"zone": "cong"}, {"kind": "alert"},
    {"reviewed": False}, {"camera_ids": ["cong-chinh"], "label": "car"}, {"camera_ids": ["nha-xe"], "zone": "cong"},
    {"camera_ids": ["cong-chinh"], "kind": "alert", "since": T0, "until": T0 + 60},
    {"camera_ids": ["cong-chinh", "nha-xe"], "label": "person", "before_id": 1},
])
async def test_every_filter_is_served_by_an_index(sqlite_store: Store, kw: dict[str, Any]) -> None:
    store = sqlite_store
    await item(store, "cong-chinh", T0, labels=["person"], zones=["cong"])
    sql_seen: list[tuple[str, Any]] = []
    real = store.db.fetchall

    async def spy(sql: str, params: Any = ()) -> Any:
        sql_seen.append((sql, params))
        return await real(sql, params)

    store.db.fetchall = spy  # type: ignore[method-assign]
    await store.review.list(**kw)
    store.db.fetchall = real  # type: ignore[method-assign]
    sql, params = sql_seen[-1]
    plan = " | ".join(r[3] for r in await store.db.fetchall("EXPLAIN QUERY PLAN " + sql, params))
    # A plain "SCAN i" (or l/z) would read every row; "SCAN … USING INDEX" walks an index in time order.
    # Scanning a subquery (an arm, "SCAN armN") reads one arm's page (at most ``limit`` rows), not the table.
    scans = [p for p in plan.split(" | ") if p.startswith("SCAN") and "INDEX" not in p and "subquery" not in p
             and not p.startswith("SCAN arm")]
    assert not scans, plan
    assert "TEMP B-TREE" not in plan or "UNION" in plan, plan  # one arm never sorts; arms merge by sorting


async def test_summary_reads_the_partial_index(sqlite_store: Store) -> None:
    store = sqlite_store
    plan = await store.db.fetchall(
        "EXPLAIN QUERY PLAN SELECT camera_id, kind, COUNT(*) FROM review_items INDEXED BY"
        " review_items_unreviewed_camera WHERE reviewed_at IS NULL GROUP BY camera_id, kind")
    assert any("USING INDEX review_items_unreviewed_camera" in r[3] for r in plan)  # unreviewed rows only


async def test_retention_deletes_expired_items_with_their_snapshots(store: Store, config: Config) -> None:
    data_dir = config.storage.data_dir
    now = T0 + 200 * DAY_S
    snaps = data_dir / "review" / "cong-chinh"
    snaps.mkdir(parents=True)
    ids = []
    for name, age_days in (("old", 91), ("new", 89)):
        (snaps / f"{name}.jpg").write_bytes(b"\xff\xd8jpeg")
        event_id = await store.events.add("cong-chinh", now - age_days * DAY_S, now - age_days * DAY_S + 5, 0.5, [])
        ids.append(await store.review.upsert(event_id, "cong-chinh", kind="alert", labels=["person"], top_score=0.9,
                                             zones=[], boxes=[], start_at=now - age_days * DAY_S, end_at=None,
                                             snapshot_path=f"review/cong-chinh/{name}.jpg"))
    report = await RetentionSweeper(store, config, clock=lambda: now).sweep()
    assert report.events == 1 and report.thumbnails == 1
    with pytest.raises(NotFound):
        await store.review.get(ids[0])
    assert not (snaps / "old.jpg").exists()
    assert (await store.review.get(ids[1])).snapshot_path == "review/cong-chinh/new.jpg"
    assert (snaps / "new.jpg").exists()
