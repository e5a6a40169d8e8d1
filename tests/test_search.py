"""The read side of the media index over HTTP: event search, thumbnails, region search and the day timeline.

A real server on 127.0.0.1 with a real SQLite index, filled through the store's own methods (what the
recorder and motion analyser call). Expected answers are computed here independently of the SQL.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from mediaserver.api.recordings import covered_s, minute_max, region_spans
from mediaserver.app_keys import CONFIG_KEY, STORE_KEY
from mediaserver.config import Config
from mediaserver.storage import Store
from mediaserver.storage.heatmap import HEATMAP_BYTES, HEATMAP_H, HEATMAP_W, region_activity
from mediaserver.storage.repos import Segment
from tests.conftest import Api

CAM_A, CAM_B, CAM_C = "cong-chinh", "san-truong", "nha-xe"
BASE = 1_767_225_600.0  # 2026-01-01 00:00 UTC
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200)) + b"\xff\xd9"


@pytest.fixture
def config(config: Config, engine: str, request: pytest.FixtureRequest) -> Config:
    """The app's index on each engine: its SQLite file, or a fresh PostgreSQL database."""
    if engine == "postgres":
        config.storage.database_url = str(request.getfixturevalue("pg_url"))
    return config


@pytest.fixture
async def staff(api: Api) -> dict[str, str]:
    """Cameras in the index and a token per role."""
    store: Store = api.app[STORE_KEY]
    for cam, name in ((CAM_A, "Cổng chính"), (CAM_B, "Sân trường"), (CAM_C, "Nhà xe")):
        await store.cameras.upsert(cam, name, "api")
    return {role: await api.token_for(role) for role in ("security", "admin", "operator")}


async def get(api: Api, token: str, path: str, **params: Any) -> tuple[int, Any]:
    r = await api.client.get(path, params=params, headers=api.auth(token))
    body = await r.json() if r.content_type == "application/json" else await r.read()
    return r.status, body


async def fill_events(store: Store) -> list[dict[str, Any]]:
    """Add a varied set of events (ties on start time included); return them as the test's own records."""
    rng = random.Random(5)
    out: list[dict[str, Any]] = []
    for i in range(90):
        cam = (CAM_A, CAM_B, CAM_C)[i % 3]
        start = BASE + (i // 2) * 30.0  # pairs of cameras share a start instant: keyset ties
        if i % 10 == 0:
            start = BASE + 600.0  # a crowd of events at the very same instant
        duration = rng.choice((2.0, 5.0, 20.0, 75.0))
        end = None if i == 89 else start + duration  # the newest is still going on
        score = round(rng.uniform(0.05, 0.95), 3)
        zones = rng.sample(["cong", "san", "hang-rao"], rng.randint(0, 2))
        eid = await store.events.add(cam, start, end, score, zones, None, [[0.0, 0.1, 0.2, 0.3, 0.4]])
        out.append({"id": eid, "camera_id": cam, "start": start, "end": end, "score": score, "zones": zones})
    return out


def expected(events: list[dict[str, Any]], cams: list[str] | None = None, zone: str | None = None,
             min_duration: float = 0.0, min_score: float = 0.0, since: float = 0.0,
             until: float = 4e9) -> list[int]:
    keep = [e for e in events if (not cams or e["camera_id"] in cams) and (zone is None or zone in e["zones"])
            and since <= e["start"] < until and e["score"] >= min_score
            and (min_duration <= 0 or (e["end"] is not None and e["end"] - e["start"] >= min_duration))]
    keep.sort(key=lambda e: (e["start"], e["id"]), reverse=True)
    return [e["id"] for e in keep]


async def walk(api: Api, token: str, limit: int, **params: Any) -> list[int]:
    """Follow next_cursor to the end; return every event id in the order the pages gave them."""
    ids: list[int] = []
    cursor = None
    for _ in range(200):
        q = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        status, body = await get(api, token, "/api/v1/events", **q)
        assert status == 200, body
        assert len(body["items"]) <= limit
        ids += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("paging did not end")


async def test_event_search_filters_and_pages_without_duplicates_or_gaps(api: Api, staff: dict[str, str]) -> None:
    store: Store = api.app[STORE_KEY]
    events = await fill_events(store)
    tok = staff["security"]
    wide = {"since": BASE - 10, "until": BASE + 10_000}
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {}),
        ({"camera_id": CAM_A}, {"cams": [CAM_A]}),
        ({"camera_id": [CAM_A, CAM_C]}, {"cams": [CAM_A, CAM_C]}),
        ({"zone": "san"}, {"zone": "san"}),
        ({"zone": "cong", "camera_id": [CAM_B, CAM_C]}, {"zone": "cong", "cams": [CAM_B, CAM_C]}),
        ({"min_score": 0.5}, {"min_score": 0.5}),
        ({"min_duration_s": 20}, {"min_duration": 20.0}),
        ({"camera_id": CAM_B, "min_duration_s": 5, "min_score": 0.3, "zone": "hang-rao"},
         {"cams": [CAM_B], "min_duration": 5.0, "min_score": 0.3, "zone": "hang-rao"}),
    ]
    for params, ref in cases:
        want = expected(events, **ref)
        assert want, f"the fixture gives {params} something to find"
        for limit in (1, 4, 7, 500):
            got = await walk(api, tok, limit, **wide, **params)
            assert got == want, f"{params} limit={limit}"
    # A time window: only events starting inside [since, until).
    window = {"since": BASE + 300, "until": BASE + 900}
    assert await walk(api, tok, 5, **window) == expected(events, since=BASE + 300, until=BASE + 900)


async def test_event_fields_and_a_page_boundary_unmoved_by_new_events(api: Api, staff: dict[str, str]) -> None:
    store: Store = api.app[STORE_KEY]
    events = await fill_events(store)
    tok = staff["admin"]
    wide = {"since": BASE - 10, "until": BASE + 100_000}
    status, page1 = await get(api, tok, "/api/v1/events", **wide, limit=10)
    assert status == 200
    # New motion arrives between two page loads: the next page continues where the first ended.
    for k in range(5):
        await store.events.add(CAM_A, BASE + 5000 + k, BASE + 5001 + k, 0.5, [])
    status, page2 = await get(api, tok, "/api/v1/events", **wide, limit=10, cursor=page1["next_cursor"])
    assert status == 200
    want = expected(events)
    assert [e["id"] for e in page1["items"] + page2["items"]] == want[:20]

    open_event = next(e for e in page1["items"] if e["end_at"] is None)
    assert open_event["duration_s"] is None and open_event["end_ts"] is None
    e = next(x for x in page1["items"] if x["end_at"] is not None)
    rec = next(x for x in events if x["id"] == e["id"])
    assert e["start_ts"] == rec["start"] and e["end_ts"] == rec["end"]
    assert e["duration_s"] == pytest.approx(rec["end"] - rec["start"])
    assert datetime.fromisoformat(e["start_at"].replace("Z", "+00:00")).timestamp() == pytest.approx(rec["start"])
    assert e["zones"] == rec["zones"] and e["peak_score"] == rec["score"] and e["camera_id"] == rec["camera_id"]
    assert e["boxes"] == [[0.0, 0.1, 0.2, 0.3, 0.4]]
    assert e["thumbnail_url"] is None  # none was written


async def test_event_search_rejects_bad_input_clearly(api: Api, staff: dict[str, str]) -> None:
    tok = staff["security"]
    status, body = await get(api, tok, "/api/v1/events", camera_id=[CAM_A, "khong-co"])
    assert status == 404 and "khong-co" in body["error"]["message"] and body["error"]["field"] == "camera_id"
    for params, field in (({"cursor": "abc"}, "query.cursor"), ({"min_score": "2"}, "query.min_score"),
                          ({"min_duration_s": "-1"}, "query.min_duration_s"), ({"zone": "Bad Zone"}, "query.zone"),
                          ({"limit": "0"}, "query.limit"), ({"since": "10", "until": "5"}, "query")):
        status, body = await get(api, tok, "/api/v1/events", **params)
        assert status == 422, params
        assert body["error"]["field"] == field, body


async def test_thumbnails_are_served_from_the_data_dir(api: Api, staff: dict[str, str]) -> None:
    store: Store = api.app[STORE_KEY]
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    with_thumb = await store.events.add(CAM_A, BASE, BASE + 4, 0.7, ["cong"])
    rel = f"thumbnails/{CAM_A}/{with_thumb}.jpg"
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(JPEG)
    await store.events.update(with_thumb, thumbnail_path=rel)
    without = await store.events.add(CAM_A, BASE + 10, BASE + 14, 0.7, [])
    gone = await store.events.add(CAM_A, BASE + 20, BASE + 24, 0.7, [], f"thumbnails/{CAM_A}/deleted.jpg")
    (data_dir / "secret.txt").write_text("not a thumbnail")
    sneaky = await store.events.add(CAM_A, BASE + 30, BASE + 34, 0.7, [], "thumbnails/../../secret.txt")

    tok = staff["security"]
    status, body = await get(api, tok, "/api/v1/events", camera_id=CAM_A, since=BASE - 1, until=BASE + 1)
    assert status == 200 and body["items"][0]["thumbnail_url"] == f"/api/v1/events/{with_thumb}/thumbnail"
    r = await api.client.get(body["items"][0]["thumbnail_url"], headers=api.auth(tok))
    assert r.status == 200 and r.content_type == "image/jpeg" and await r.read() == JPEG
    for eid in (without, gone, sneaky, 987654, "abc"):
        r = await api.client.get(f"/api/v1/events/{eid}/thumbnail", headers=api.auth(tok))
        assert r.status == 404, eid
        assert (await r.json())["error"]["code"] == "not_found"
    r = await api.client.get(f"/api/v1/events/{with_thumb}/thumbnail", headers=api.auth(staff["operator"]))
    assert r.status == 403
    r = await api.client.get(f"/api/v1/events/{with_thumb}/thumbnail")
    assert r.status == 401


def heatmap(cells: dict[tuple[int, int], int]) -> bytes:
    """Return a heatmap with the given (row, col) → value cells and zero elsewhere."""
    grid = bytearray(HEATMAP_BYTES)
    for (row, col), value in cells.items():
        grid[row * HEATMAP_W + col] = value
    return bytes(grid)


async def add_segment(store: Store, cam: str, start: float, end: float, *, score: float = 0.0,
                      heat: bytes | None = None, gap_before: bool = False, stream: str = "main") -> int:
    path = f"recordings/{cam}/{stream}/{start:.3f}.mp4"
    seg = Segment(0, cam, stream, None, None, path, start, end, 1000, 1, score, gap_before=gap_before)
    return await store.segments.add(seg, heat)


async def test_region_search_answers_from_heatmaps(api: Api, staff: dict[str, str]) -> None:
    store: Store = api.app[STORE_KEY]
    top_left = heatmap({(1, 2): 200, (2, 3): 90})  # inside x 0..0.25, y 0..0.25
    bottom_right = heatmap({(HEATMAP_H - 1, HEATMAP_W - 1): 255})
    faint = heatmap({(1, 2): 5})  # 2 %: under the default threshold
    plan = {3: top_left, 4: top_left, 5: faint, 6: top_left, 7: bottom_right, 9: top_left}
    for i in range(12):
        heat = plan.get(i, heatmap({}))
        # Segment 9 has a small jitter before it; segment 11 has no heatmap (analysis was off).
        start = BASE + 10.0 * i + (0.4 if i == 9 else 0.0)
        await add_segment(store, CAM_B, start, BASE + 10.0 * (i + 1), heat=None if i == 11 else heat)
    await add_segment(store, CAM_B, BASE + 50, BASE + 60, heat=top_left, stream="sub")  # another stream
    await add_segment(store, CAM_A, BASE + 50, BASE + 60, heat=top_left)  # another camera
    tok = staff["security"]
    q = {"camera_id": CAM_B, "since": BASE, "until": BASE + 200}

    status, body = await get(api, tok, "/api/v1/motion/region", **q, x0=0, y0=0, x1=0.25, y1=0.25)
    assert status == 200, body
    assert body["segments_scanned"] == 11
    spans = [(s["start_ts"], s["end_ts"], s["segments"], s["activity"]) for s in body["spans"]]
    peak = region_activity(top_left, 0, 0, 0.25, 0.25)
    assert peak == pytest.approx(200 / 255)
    assert spans == [(BASE + 30, BASE + 50, 2, pytest.approx(peak, abs=1e-4)),
                     (BASE + 60, BASE + 70, 1, pytest.approx(peak, abs=1e-4)),
                     (BASE + 90.4, BASE + 100, 1, pytest.approx(peak, abs=1e-4))]
    # A lower threshold takes in the faint segment: 3..6 become one span.
    status, body = await get(api, tok, "/api/v1/motion/region", **q, x0=0, y0=0, x1=0.25, y1=0.25,
                             min_activity=0.01)
    first = body["spans"][0]
    assert (first["start_ts"], first["end_ts"], first["segments"]) == (BASE + 30, BASE + 70, 4)
    # The cell of activity 90 alone (row 2, col 3) at a threshold above it: nothing.
    status, body = await get(api, tok, "/api/v1/motion/region", **q, x0=3 / 32, y0=2 / 18, x1=4 / 32,
                             y1=3 / 18, min_activity=0.5)
    assert status == 200 and body["spans"] == []
    status, body = await get(api, tok, "/api/v1/motion/region", **q, x0=0.5, y0=0.5, x1=1, y1=1)
    assert [(s["start_ts"], s["end_ts"], s["activity"]) for s in body["spans"]] == [(BASE + 70, BASE + 80, 1.0)]
    # Time range: only segments overlapping it are read.
    status, body = await get(api, tok, "/api/v1/motion/region", camera_id=CAM_B, since=BASE + 55,
                             until=BASE + 65, x0=0, y0=0, x1=0.25, y1=0.25)
    assert body["segments_scanned"] == 2  # segments 5 (faint) and 6
    assert [s["start_ts"] for s in body["spans"]] == [BASE + 60]

    for params, field in (({"x0": 0.5, "x1": 0.4, "y0": 0, "y1": 1}, "query"),
                          ({"x0": 0, "x1": 1.5, "y0": 0, "y1": 1}, "query.x1"),
                          ({"x0": 0, "x1": 1, "y0": 0, "y1": 1, "since": BASE, "until": BASE + 8 * 86400},
                           "query")):
        status, body = await get(api, tok, "/api/v1/motion/region", camera_id=CAM_B, **{"since": BASE,
                                 "until": BASE + 100, **params})
        assert status == 422 and body["error"]["field"] == field, (params, body)
    status, body = await get(api, tok, "/api/v1/motion/region", camera_id="khong-co", x0=0, y0=0, x1=1, y1=1)
    assert status == 404 and "khong-co" in body["error"]["message"]


async def test_timeline_buckets_spans_gaps_and_events(api: Api, staff: dict[str, str]) -> None:
    store: Store = api.app[STORE_KEY]
    tz = ZoneInfo(api.app[CONFIG_KEY].timezone)
    day0 = datetime(2026, 1, 5, tzinfo=tz).timestamp()
    at = lambda hh, mm, ss=0.0: day0 + hh * 3600 + mm * 60 + ss  # noqa: E731 - local time of that day

    # Footage crossing midnight, then 08:00–08:30 (motion 0.6 at 08:10), an outage 08:30–08:50,
    # nothing kept 08:50–09:00, footage again 09:00–09:05 after the gap.
    await add_segment(store, CAM_A, day0 - 1800, day0 - 1790)  # the evening before: no gap of this day
    await add_segment(store, CAM_A, day0 - 5, day0 + 5)
    for k in range(180):
        s = at(8, 0, 10.0 * k)
        await add_segment(store, CAM_A, s, s + 10, score=0.6 if at(8, 10) <= s < at(8, 11) else 0.0)
    outage = await store.cameras.open_outage(CAM_A, "connection lost", at=at(8, 30))
    await store.cameras.close_outage(outage, at=at(8, 50))
    for k in range(30):
        s = at(9, 0, 10.0 * k)
        await add_segment(store, CAM_A, s, s + 10, gap_before=k == 0)
    await add_segment(store, CAM_B, at(12, 0), at(12, 1))  # another camera's footage

    e1 = await store.events.add(CAM_A, at(8, 10, 5), at(8, 10, 17), 0.8, ["cong"], f"thumbnails/{CAM_A}/1.jpg")
    e2 = await store.events.add(CAM_A, at(8, 10, 30), at(8, 10, 40), 0.3, [])
    e3 = await store.events.add(CAM_A, at(9, 2), at(9, 2, 30), 0.5, ["san"])
    e0 = await store.events.add(CAM_A, day0 - 10, day0 + 20, 0.4, [])  # began the evening before
    await store.events.add(CAM_A, day0 - 3600, day0 - 3500, 0.9, [])  # the day before only
    await store.events.add(CAM_A, day0 + 86400 + 60, day0 + 86400 + 70, 0.9, [])  # the day after
    await store.events.add(CAM_B, at(8, 10), at(8, 11), 0.9, [])  # another camera

    status, tl = await get(api, staff["security"], "/api/v1/timeline", camera_id=CAM_A, date="2026-01-05")
    assert status == 200, tl
    assert tl["start_ts"] == day0 and tl["end_ts"] == day0 + 86400 and tl["timezone"] == str(tz)
    b = tl["buckets"]
    assert b["count"] == 1440 and len(b["recorded"]) == len(b["activity"]) == len(b["events"]) == 1440
    minute = lambda hh, mm: hh * 60 + mm  # noqa: E731
    recorded = {i for i, r in enumerate(b["recorded"]) if r > 0}
    assert recorded == {0} | set(range(minute(8, 0), minute(8, 30))) | set(range(minute(9, 0), minute(9, 5)))
    assert b["recorded"][0] == pytest.approx(5 / 60, abs=1e-3)
    assert b["recorded"][minute(8, 15)] == 1.0
    assert b["activity"][minute(8, 10)] == 0.8  # the event's peak over the segments' 0.6
    assert b["activity"][minute(8, 11)] == 0.0
    assert b["activity"][minute(9, 2)] == 0.5 and b["activity"][0] == 0.4
    assert b["events"][minute(8, 10)] == 2 and b["events"][minute(9, 2)] == 1 and sum(b["events"]) == 3

    assert [(s["start_ts"], s["end_ts"]) for s in tl["spans"]] == [
        (day0, day0 + 5), (at(8, 0), at(8, 30)), (at(9, 0), at(9, 5))]
    assert [(g["kind"], g["start_ts"], g["end_ts"]) for g in tl["gaps"]] == [
        ("not_recorded", day0 + 5, at(8, 0)), ("outage", at(8, 30), at(8, 50)),
        ("not_recorded", at(8, 50), at(9, 0))]
    assert tl["gaps"][1]["reason"] == "connection lost"
    assert [e["id"] for e in tl["events"]] == [e0, e1, e2, e3] and not tl["events_truncated"]
    assert tl["events"][1]["thumbnail_url"] == f"/api/v1/events/{e1}/thumbnail"
    assert "boxes" not in tl["events"][1]  # a day of boxes is heavy: the search API has them

    status, empty = await get(api, staff["admin"], "/api/v1/timeline", camera_id=CAM_C, date="2026-01-05")
    assert status == 200 and empty["spans"] == [] and empty["gaps"] == [] and sum(empty["buckets"]["events"]) == 0
    for params, code, field in (({"camera_id": CAM_A, "date": "2026-02-30"}, 422, "query.date"),
                                ({"camera_id": CAM_A, "date": "05/01/2026"}, 422, "query.date"),
                                ({"camera_id": "khong-co", "date": "2026-01-05"}, 404, "camera_id")):
        status, body = await get(api, staff["security"], "/api/v1/timeline", **params)
        assert status == code and body["error"]["field"] == field, body


async def test_only_footage_roles_read_the_index(api: Api, staff: dict[str, str]) -> None:
    paths = [("/api/v1/events", {}), ("/api/v1/timeline", {"camera_id": CAM_A, "date": "2026-01-05"}),
             ("/api/v1/motion/region", {"camera_id": CAM_A, "x0": 0, "y0": 0, "x1": 1, "y1": 1})]
    for path, params in paths:
        for role, want in (("security", 200), ("admin", 200), ("operator", 403)):
            status, body = await get(api, staff[role], path, **params)
            assert status == want, (path, role, body)
        r = await api.client.get(path, params=params)
        assert r.status == 401


def test_minute_aggregation_matches_a_second_by_second_count() -> None:
    rng = random.Random(11)
    day0, n = 1_000_020.0, 30
    for _ in range(50):
        # Sorted, non-overlapping intervals (a stream's segments) with fractional edges.
        t, intervals = day0 + rng.uniform(-20, 30), []
        while t < day0 + n * 60 - 1:
            a = t + rng.choice((0.0, 0.0, rng.uniform(0, 90)))
            b = a + rng.uniform(0.5, 130)
            intervals.append((a, b, rng.random()))
            t = b
        clipped = [(max(a, day0), min(b, day0 + n * 60), v) for a, b, v in intervals
                   if min(b, day0 + n * 60) > max(a, day0)]
        starts = np.array([c[0] for c in clipped])
        ends = np.array([c[1] for c in clipped])
        values = np.array([c[2] for c in clipped])
        got_cover = covered_s(day0, n, starts, ends)
        got_max = minute_max(day0, n, starts, ends, values)
        for m in range(n):
            lo, hi = day0 + 60 * m, day0 + 60 * (m + 1)
            want_cover = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b, _ in clipped)
            want_max = max([v for a, b, v in clipped if a < hi and b > lo], default=0.0)
            assert got_cover[m] == pytest.approx(want_cover, abs=1e-6)
            assert got_max[m] == want_max


def test_region_spans_use_the_heatmap_contracts_activity() -> None:
    rng = np.random.default_rng(3)
    rows = [(i, BASE + 10 * i, BASE + 10 * (i + 1), bytes(rng.integers(0, 256, HEATMAP_BYTES, dtype=np.uint8)
                                                         * (rng.random() < 0.5)))
            for i in range(200)]
    for region in ((0, 0, 1, 1), (0.1, 0.2, 0.35, 0.5), (0.97, 0.95, 1, 1), (0.5, 0.5, 0.5 + 1 / 32, 0.5 + 1 / 18)):
        spans = region_spans(rows, *region, min_activity=0.6)
        want = [r for r in rows if region_activity(r[3], *region) >= 0.6]
        assert sum(s.segments for s in spans) == len(want)
        covered = [r for r in want if any(s.start_ts <= r[1] and r[2] <= s.end_ts for s in spans)]
        assert covered == want
        for s in spans:
            inside = [region_activity(r[3], *region) for r in want if s.start_ts <= r[1] and r[2] <= s.end_ts]
            assert s.activity == pytest.approx(max(inside), abs=1e-4)
