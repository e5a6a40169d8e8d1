"""Event search benchmark (`python -m benchmarks.bench_search`, `QUICK=1` for a shorter index).

Builds a real SQLite index through the project's ``Database`` (its migrations, its pragmas) holding 50
cameras × 365 days of synthetic motion events (QUICK: 50 × 90 days) — 100–300 events per camera per day,
more by day than at night, 0–2 named zones each, ids rising with time as a live index has them — then times
``MotionEventRepo.search`` (the method behind ``GET /api/v1/events``) on a mix of the questions staff ask:
one camera for a day, several cameras for a week, a zone, a minimum score, a minimum duration, every camera,
and deep keyset pages. Baseline, same run: the same queries on a copy of the index without its secondary
indexes (what a plain table scan costs), printed as a ratio.

PostgreSQL, same run: the same events (same seed) loaded with COPY into a throwaway PostgreSQL cluster
(Debian's postgresql, started like the tests' one: tests/pg.py; or ``BENCH_PG_URL`` names an empty database)
through the same migrations, then the same query mix through the same ``MotionEventRepo.search``.

Last line: one JSON object with ``search_ms_p95`` and ``search_pg_ms_p95`` (target ≤ 50 ms on both).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mediaserver.storage import Database, Store

CAMERAS = 50
DAYS_FULL = 365
DAYS_QUICK = 90
EVENTS_PER_DAY = (100, 300)  # per camera
ZONE_NAMES = ("cong-chinh", "san-truong", "hanh-lang", "nha-xe", "hang-rao", "cau-thang")
DAY_S = 86400.0
START_EPOCH = 1_704_042_000.0  # 2024-01-01 00:00 in Asia/Ho_Chi_Minh (UTC+7)
REPS_PER_SHAPE = 30
BASELINE_REPS_PER_SHAPE = 2
TARGET_P95_MS = 50.0
PAGE = 50
SEED = 20260105

Query = dict[str, Any]


def log(msg: str) -> None:
    """Print a progress line at once."""
    print(msg, flush=True)


def camera_ids() -> list[str]:
    """Return the synthetic cameras' ids."""
    return [f"cam-{i:02d}" for i in range(CAMERAS)]


def camera_zones(rng: random.Random) -> dict[str, list[str]]:
    """Give every camera two to four of the zone names."""
    return {c: rng.sample(ZONE_NAMES, rng.randint(2, 4)) for c in camera_ids()}


def day_events(rng: random.Random, day: int, zones: dict[str, list[str]],
               next_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return one day's event rows and zone rows for every camera, ids in start order."""
    day_start = START_EPOCH + day * DAY_S
    raw: list[tuple[float, str, float, float, list[str]]] = []
    for cam in camera_ids():
        for _ in range(rng.randint(*EVENTS_PER_DAY)):
            # Two thirds of the motion happens between 06:00 and 20:00 local time.
            offset = rng.uniform(6 * 3600, 20 * 3600) if rng.random() < 0.67 else rng.uniform(0, DAY_S)
            duration = min(600.0, rng.lognormvariate(2.0, 1.0))  # median ~7 s, a long tail
            # The share of the picture that moved: a few percent for a person, rarely most of it.
            score = min(1.0, rng.lognormvariate(-3.5, 1.0))
            touched = rng.sample(zones[cam], rng.choice((0, 1, 1, 2)))
            raw.append((day_start + offset, cam, duration, score, touched))
    raw.sort()
    events: list[tuple[Any, ...]] = []
    zone_rows: list[tuple[Any, ...]] = []
    for i, (start, cam, duration, score, touched) in enumerate(raw):
        eid = next_id + i
        box = [[0.0, round(rng.random() * 0.8, 3), round(rng.random() * 0.8, 3), 0.1, 0.2]]
        events.append((eid, cam, start, start + duration, round(score, 4), json.dumps(touched), json.dumps(box),
                       f"thumbnails/{cam}/{eid}.jpg"))
        zone_rows.extend((eid, cam, z, start) for z in touched)
    return events, zone_rows


async def build_index(path: Path, days: int) -> tuple[Store, dict[str, list[str]], int]:
    """Create the index through the project's migrations and fill it; return the store, zones and count."""
    rng = random.Random(SEED)
    zones = camera_zones(rng)
    db = Database(path)
    await db.open()
    store = Store(db)
    for cam in camera_ids():
        await store.cameras.upsert(cam, f"Camera {cam}", "config")
    total = 0
    t0 = time.monotonic()
    for day in range(days):
        events, zone_rows = day_events(rng, day, zones, total + 1)
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO motion_events (id, camera_id, start_at, end_at, peak_score, zones_json, boxes_json,"
                " thumbnail_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
            await conn.executemany(
                "INSERT INTO motion_event_zones (event_id, camera_id, zone, start_at) VALUES (?, ?, ?, ?)",
                zone_rows)
        total += len(events)
        if (day + 1) % 15 == 0 or day + 1 == days:
            rate = total / (time.monotonic() - t0)
            log(f"  built {day + 1}/{days} days, {total:,} events ({rate:,.0f} events/s)")
    return store, zones, total


def query_mix(rng: random.Random, days: int, zones: dict[str, list[str]], reps: int) -> list[tuple[str, Query]]:
    """Return (shape, arguments of ``search``) for ``reps`` random queries of every shape."""
    cams = camera_ids()
    out: list[tuple[str, Query]] = []

    def day_range(n_days: int) -> tuple[float, float]:
        first = rng.randrange(0, days - n_days + 1)
        return START_EPOCH + first * DAY_S, START_EPOCH + (first + n_days) * DAY_S

    for _ in range(reps):
        cam = rng.choice(cams)
        since, until = day_range(1)
        out.append(("one camera, one day", {"camera_ids": [cam], "since": since, "until": until}))
        since, until = day_range(7)
        out.append(("5 cameras, one week", {"camera_ids": rng.sample(cams, 5), "since": since, "until": until}))
        since, until = day_range(7)
        out.append(("one camera + zone, one week",
                    {"camera_ids": [cam], "since": since, "until": until, "zone": rng.choice(zones[cam])}))
        since, until = day_range(1)
        out.append(("zone, every camera, one day", {"camera_ids": None, "since": since, "until": until,
                                                    "zone": rng.choice(ZONE_NAMES)}))
        since, until = day_range(30)
        out.append(("one camera, score >= 0.2, one month",
                    {"camera_ids": [cam], "since": since, "until": until, "min_score": 0.2}))
        since, until = day_range(7)
        out.append(("5 cameras, >= 60 s, one week",
                    {"camera_ids": rng.sample(cams, 5), "since": since, "until": until, "min_duration_s": 60.0}))
        since, until = day_range(1)
        out.append(("every camera, one day", {"camera_ids": None, "since": since, "until": until}))
        out.append(("every camera, the whole index",
                    {"camera_ids": None, "since": START_EPOCH, "until": START_EPOCH + days * DAY_S}))
        since, until = day_range(min(days, 90))
        out.append(("3 cameras + zone + score >= 0.05, 90 days",
                    {"camera_ids": rng.sample(cams, 3), "since": since, "until": until,
                     "zone": rng.choice(ZONE_NAMES), "min_score": 0.05}))
    return out


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Return (milliseconds, result) of one awaited call."""
    t0 = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - t0) * 1000.0, result


async def run_queries(store: Store, queries: list[tuple[str, Query]], deep_pages: int,
                      label: str) -> tuple[list[float], dict[str, list[float]]]:
    """Run every query (and, for one-camera weeks, ``deep_pages`` keyset pages); return all and per-shape ms."""
    all_ms: list[float] = []
    by_shape: dict[str, list[float]] = {}
    for i, (shape, q) in enumerate(queries):
        ms, _ = await timed(lambda q=q: store.events.search(q["camera_ids"], q["since"], q["until"], PAGE,  # type: ignore[misc]
                                                              zone=q.get("zone"),
                                                              min_duration_s=q.get("min_duration_s", 0.0),
                                                              min_score=q.get("min_score", 0.0)))
        all_ms.append(ms)
        by_shape.setdefault(shape, []).append(ms)
        if (i + 1) % 50 == 0:
            log(f"  {label}: {i + 1}/{len(queries)} queries")
    # Deep pages: walk a busy week of one camera page by page; every page is timed.
    for q in [q for s, q in queries if s == "5 cameras, one week"][: max(1, len(queries) // 60)]:
        before: tuple[float, int] | None = None
        for _ in range(deep_pages):
            ms, rows = await timed(lambda q=q, b=before: store.events.search(  # type: ignore[misc]
                q["camera_ids"], q["since"], q["until"], PAGE,
                before_id=None if b is None else b[1], before_start=None if b is None else b[0]))
            all_ms.append(ms)
            by_shape.setdefault("keyset pages of 5 cameras' week", []).append(ms)
            if len(rows) < PAGE:
                break
            before = (rows[-1].start_at, rows[-1].id)
    return all_ms, by_shape


def p95(values: list[float]) -> float:
    """Return the 95th percentile."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


async def unindexed_copy(src: Path, dst: Path) -> Store:
    """Copy the index and drop every secondary index of the event tables (the full-scan baseline)."""
    shutil.copyfile(src, dst)
    db = Database(dst)
    await db.open()
    rows = await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('motion_events',"
        " 'motion_event_zones') AND sql IS NOT NULL")
    for r in rows:
        await db.execute(f"DROP INDEX {r['name']}")
    return Store(db)


async def postgres_part(days: int, queries: list[tuple[str, Query]]) -> dict[str, Any]:
    """Load the same events into PostgreSQL (COPY), time the same query mix there; return search_pg_* keys."""
    from tests.pg import start_cluster

    url = os.environ.get("BENCH_PG_URL")
    cluster = None
    if url is None:
        cluster = start_cluster()
        cluster.admin("CREATE DATABASE bench")
        url = cluster.url("bench")
    import psycopg

    db = Database(url)
    try:
        await db.open()
        store = Store(db)
        for cam in camera_ids():
            await store.cameras.upsert(cam, f"Camera {cam}", "config")
        rng = random.Random(SEED)
        zones = camera_zones(rng)  # the same draws as build_index: the same index
        t0 = time.monotonic()
        total = 0
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for day in range(days):
                events, zone_rows = day_events(rng, day, zones, total + 1)
                async with conn.cursor() as cur:
                    async with cur.copy("COPY motion_events (id, camera_id, start_at, end_at, peak_score, zones_json,"
                                        " boxes_json, thumbnail_path) FROM STDIN") as copy:
                        for row in events:
                            await copy.write_row(row)
                    async with cur.copy("COPY motion_event_zones (event_id, camera_id, zone, start_at)"
                                        " FROM STDIN") as copy:
                        for row in zone_rows:
                            await copy.write_row(row)
                total += len(events)
                if (day + 1) % 30 == 0 or day + 1 == days:
                    log(f"  postgres: loaded {day + 1}/{days} days, {total:,} events")
            await conn.execute("ANALYZE motion_events")
            await conn.execute("ANALYZE motion_event_zones")
            size = (await (await conn.execute("SELECT pg_database_size(current_database())")).fetchone() or (0,))[0]
        build_s = time.monotonic() - t0
        log(f"postgres index loaded: {total:,} events in {build_s:.0f} s, {size / 2**20:.0f} MiB")
        await run_queries(store, queries[:20], 2, "postgres warm-up")
        all_ms, by_shape = await run_queries(store, queries, 40, "postgres")
        for shape, values in by_shape.items():
            log(f"  pg {shape:42s} n={len(values):3d}  p50 {statistics.median(values):7.2f} ms"
                f"  p95 {p95(values):7.2f} ms")
        pg_p95 = p95(all_ms)
        log(f"postgres search p95 {pg_p95:.2f} ms over {len(all_ms)} searches (target <= {TARGET_P95_MS:.0f} ms)")
        return {
            "search_pg_ms_p95": round(pg_p95, 2),
            "search_pg_ms_p50": round(statistics.median(all_ms), 2),
            "search_pg_queries": len(all_ms),
            "search_pg_meets_target": pg_p95 <= TARGET_P95_MS,
            "search_pg_index": {"events": total, "mib": round(size / 2**20, 1), "load_s": round(build_s, 1),
                                "server": "PostgreSQL (Debian package), fsync off, shared_buffers 32 MB"
                                if cluster else "BENCH_PG_URL"},
            "search_pg_per_shape_ms_p95": {k: round(p95(v), 2) for k, v in by_shape.items()},
        }
    finally:
        await db.close()
        if cluster is not None:
            cluster.stop()


async def _run(quick: bool) -> dict[str, Any]:
    days = DAYS_QUICK if quick else DAYS_FULL
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    stores: list[Store] = []
    try:
        path = tmp / "index.db"
        log(f"building an index of {CAMERAS} cameras x {days} days of motion events in {path} ...")
        t0 = time.monotonic()
        store, zones, total = await build_index(path, days)
        stores.append(store)
        build_s = time.monotonic() - t0
        size_mb = path.stat().st_size / 2**20
        log(f"index built: {total:,} events in {build_s:.0f} s, {size_mb:.0f} MiB")
        rng = random.Random(SEED + 1)
        queries = query_mix(rng, days, zones, REPS_PER_SHAPE)
        await run_queries(store, queries[:20], 2, "warm-up")
        log(f"timing {len(queries)} searches (+ deep keyset pages) ...")
        all_ms, by_shape = await run_queries(store, queries, 40, "indexed")
        for shape, values in by_shape.items():
            log(f"  {shape:42s} n={len(values):3d}  p50 {statistics.median(values):7.2f} ms"
                f"  p95 {p95(values):7.2f} ms")
        # Outside the mix, reported on its own: a rare score over every camera and the whole index has
        # no index to narrow it and reads every event's index entry in the range.
        rare = [("every camera, score >= 0.9, the whole index",
                 {"camera_ids": None, "since": START_EPOCH, "until": START_EPOCH + days * DAY_S, "min_score": 0.9})]
        rare_ms, _ = await run_queries(store, rare * 3, 0, "rare filter")
        log(f"  (outside the mix) {rare[0][0]}: {statistics.median(rare_ms):.0f} ms")
        per_shape = len(queries) // REPS_PER_SHAPE
        base_queries = queries[: per_shape * BASELINE_REPS_PER_SHAPE]
        # The indexed times of the baseline's subset, so the ratio compares like with like.
        same_ms, _ = await run_queries(store, base_queries, 0, "indexed subset")
        await store.db.close()

        log("baseline: the same queries on a copy without the event indexes ...")
        base_store = await unindexed_copy(path, tmp / "unindexed.db")
        stores.append(base_store)
        base_ms, _ = await run_queries(base_store, base_queries, 0, "baseline")
        search_p95 = p95(all_ms)
        base_p95, same_p95 = p95(base_ms), p95(same_ms)
        ratio = base_p95 / same_p95 if same_p95 > 0 else float("inf")
        log(f"search p95 {search_p95:.2f} ms over {len(all_ms)} searches (target <= {TARGET_P95_MS:.0f} ms)")
        log(f"baseline (no indexes) p95 {base_p95:.1f} ms vs {same_p95:.2f} ms on the same queries:"
            f" indexed search is {ratio:.0f}x faster")
        pg = await postgres_part(days, queries)
        # Keys carry the "search_" prefix: bench_recordings merges this dict with the other parts'.
        return pg | {
            "search_ms_p95": round(search_p95, 2),
            "search_ms_p50": round(statistics.median(all_ms), 2),
            "search_queries": len(all_ms),
            "search_target_ms": TARGET_P95_MS,
            "search_meets_target": search_p95 <= TARGET_P95_MS,
            "search_baseline_unindexed_ms_p95": round(base_p95, 1),
            "search_speedup_vs_unindexed": round(ratio, 1),
            "search_rare_filter_whole_index_ms": round(statistics.median(rare_ms), 1),
            "search_index": {"cameras": CAMERAS, "days": days, "events": total, "mib": round(size_mb, 1),
                             "build_s": round(build_s, 1), "quick": quick},
            "search_per_shape_ms_p95": {k: round(p95(v), 2) for k, v in by_shape.items()},
        }
    finally:
        for s in stores:
            await s.db.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> dict[str, Any]:
    """Build the index, time the search mix and its unindexed baseline; return the results."""
    return asyncio.run(_run(quick))


def main() -> None:
    """Run the benchmark and print its JSON last."""
    result = run(os.environ.get("QUICK") == "1" or "--quick" in sys.argv)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
