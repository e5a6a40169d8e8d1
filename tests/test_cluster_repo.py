"""Node registry, leases, run claims and segment fencing on a real index (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediaserver.storage import Database, Store
from mediaserver.storage.nodes import JobClaimRepo, LeaseRepo, NodeRepo
from mediaserver.storage.repos import Job, Segment
from mediaserver.storage.segments import Fenced


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


async def test_nodes_register_heartbeat_and_go_dead(db: Database) -> None:
    nodes = NodeRepo(db)
    a = await nodes.register("node-a", "http://127.0.0.1:8081", 4)
    await nodes.register("node-b", "http://127.0.0.1:8082", 8)
    beat = await nodes.heartbeat("node-a", {"cameras": 2, "cpu_pct": 3.5})
    assert beat >= a.heartbeat_at
    got = await nodes.get("node-a")
    assert got is not None and got.load == {"cameras": 2, "cpu_pct": 3.5} and got.capacity == 4
    assert [n.id for n in await nodes.live(None, 30.0)] == ["node-a", "node-b"]
    # Judged on a caller's clock far ahead: both heartbeats are older than the TTL.
    assert await nodes.live(beat + 60.0, 30.0) == []
    again = await nodes.register("node-a", "http://127.0.0.1:9091", 4)  # a restart: new address, new start
    assert again.address == "http://127.0.0.1:9091" and again.load == {} and again.started_at >= a.started_at
    with pytest.raises(LookupError):
        await nodes.heartbeat("node-z", {})


async def test_lease_is_exclusive_until_it_expires(db: Database) -> None:
    leases = LeaseRepo(db)
    assert await leases.acquire("camera:c1", "node-a", 0.3)
    assert not await leases.acquire("camera:c1", "node-b", 5.0)
    assert await leases.owner("camera:c1") == "node-a"
    assert await leases.acquire("camera:c1", "node-a", 0.3), "the holder may acquire again (a renewal)"
    first = (await leases.held_by("node-a"))[0]
    assert await leases.renew("camera:c1", "node-a", 0.3)
    assert (await leases.held_by("node-a"))[0].acquired_at == first.acquired_at, "renewals keep acquired_at"
    assert not await leases.renew("camera:c1", "node-b", 5.0)
    await asyncio.sleep(0.4)
    assert await leases.owner("camera:c1") is None
    assert not await leases.renew("camera:c1", "node-a", 5.0), "an expired lease is not renewed"
    assert await leases.acquire("camera:c1", "node-b", 5.0), "an expired lease is taken over"
    taken = (await leases.held_by("node-b", "camera:"))[0]
    assert taken.acquired_at > first.acquired_at
    assert await leases.held_by("node-a") == []
    assert not await leases.release("camera:c1", "node-a"), "only the holder releases"
    assert await leases.release("camera:c1", "node-b")
    assert await leases.acquire("camera:c1", "node-a", 5.0)


async def test_renew_all_extends_only_this_nodes_live_leases(db: Database) -> None:
    leases = LeaseRepo(db)
    for res in ("camera:c1", "camera:c2", "room:r1"):
        assert await leases.acquire(res, "node-a", 5.0)
    assert await leases.acquire("camera:c3", "node-b", 5.0)
    assert await leases.acquire("camera:c4", "node-a", 0.05)
    await asyncio.sleep(0.1)
    assert await leases.renew_all("node-a", 5.0) == {"camera:c1", "camera:c2", "room:r1"}
    assert await leases.renew_all("node-a", 5.0, ["camera:c2", "camera:c3"]) == {"camera:c2"}
    assert await leases.renew_all("node-a", 5.0, []) == set()
    assert [x.resource for x in await leases.unexpired("camera:")] == ["camera:c1", "camera:c2", "camera:c3"]


async def test_racing_acquires_from_two_connections_have_one_winner(db_target: Path | str, db: Database) -> None:
    """Two Database objects on one index (as two node processes have): each resource goes to exactly one."""
    other = Database(db_target)
    await other.open()
    try:
        a, b = LeaseRepo(db), LeaseRepo(other)
        resources = [f"camera:c{i}" for i in range(20)]
        wins_a = await asyncio.gather(*(a.acquire(r, "node-a", 30.0) for r in resources))
        wins_b = await asyncio.gather(*(b.acquire(r, "node-b", 30.0) for r in resources))
        assert all(wins_a) and not any(wins_b)
        await asyncio.gather(*(a.release(r, "node-a") for r in resources[:10]))
        both = await asyncio.gather(*(x.acquire(r, n, 30.0) for r in resources[:10]
                                      for x, n in ((a, "node-a"), (b, "node-b"))))
        assert [sum(both[i:i + 2]) for i in range(0, 20, 2)] == [1] * 10
    finally:
        await other.close()


async def _job(store: Store) -> None:
    await store.jobs.upsert(Job("nightly", "x.y", "interval", "60", "UTC", 10.0, {}, True, "api", None, None))


async def test_a_run_is_claimed_by_one_node(db: Database) -> None:
    store = Store(db)
    await _job(store)
    claims = JobClaimRepo(db)
    assert await claims.claim("nightly", 1000.0, "node-a")
    assert not await claims.claim("nightly", 1000.0, "node-b")
    assert not await claims.claim("nightly", 1000.0, "node-a"), "a claim is used once, by its winner too"
    assert await claims.claim("nightly", 1060.0, "node-b")
    assert await claims.claimed_by("nightly", 1000.0) == "node-a"
    assert await claims.purge(1030.0) == 1
    assert await claims.claimed_by("nightly", 1000.0) is None


async def test_runs_left_running_are_interrupted_per_node(db: Database) -> None:
    store = Store(db)
    await _job(store)
    run_a = await store.jobs.start_run("nightly", 1000.0, 0.0, "node-a")
    run_b = await store.jobs.start_run("nightly", 1060.0, 0.0, "node-b")
    assert await store.jobs.interrupt_running("node-a") == 1
    outcomes = {r.id: r.outcome for r in await store.jobs.runs("nightly")}
    assert outcomes == {run_a: "interrupted", run_b: "running"}


async def test_segment_of_a_camera_taken_over_is_refused(db: Database) -> None:
    store = Store(db)
    await store.cameras.upsert("cam1", "Cổng", "config")
    leases = LeaseRepo(db)
    now = await NodeRepo(db).now()
    assert await leases.acquire("camera:cam1", "node-a", 0.05)

    def seg(path: str, start: float, end: float, node: str | None) -> Segment:
        return Segment(0, "cam1", "main", None, None, path, start, end, 1000, 1, 0.0, node_id=node)

    await store.segments.add(seg("recordings/cam1/a1.mp4", now - 10, now - 1, "node-a"))
    await asyncio.sleep(0.1)
    assert await leases.acquire("camera:cam1", "node-b", 5.0)
    # node-a resumes after a pause and finishes a segment that ends after node-b took the camera: refused.
    with pytest.raises(Fenced, match="node-b"):
        await store.segments.add(seg("recordings/cam1/a2.mp4", now - 1, now + 5, "node-a"))
    # One that ended before the takeover is still node-a's footage; node-b's own are accepted.
    await store.segments.add(seg("recordings/cam1/a0.mp4", now - 20, now - 10, "node-a"))
    await store.segments.add(seg("recordings/cam1/b1.mp4", now + 1, now + 5, "node-b"))
    got = await store.segments.for_camera("cam1", now - 60, now + 60)
    assert [(s.path.rsplit("/", 1)[1], s.node_id) for s in got] == [
        ("a0.mp4", "node-a"), ("a1.mp4", "node-a"), ("b1.mp4", "node-b")]
    assert await store.segments.paths("node-b") == {"recordings/cam1/b1.mp4"}
    # Without a cluster (node_id None) nothing is checked, as before.
    await store.segments.add(seg("recordings/cam1/x.mp4", now + 6, now + 7, None))


async def test_retention_queries_see_only_their_nodes_segments(db: Database) -> None:
    """A node's retention (sweep, emergency, footage total) picks only segments on its own disk."""
    store = Store(db)
    await store.cameras.upsert("cam1", "Cổng", "config")
    for i, node in enumerate(("node-a", "node-b", "node-a")):
        await store.segments.add(Segment(0, "cam1", "main", None, None, f"recordings/cam1/{i}.mp4", 100.0 + 10 * i,
                                         105.0 + 10 * i, 1000 * (i + 1), 1, 0.0, node_id=node))
    rules = [("continuous", False, 1e9)]
    assert [s.path for s in await store.segments.expired("cam1", rules, 10, node_id="node-b")] == [
        "recordings/cam1/1.mp4"]
    assert len(await store.segments.expired("cam1", rules, 10)) == 3
    assert [s.node_id for s in await store.segments.oldest_unprotected(10, node_id="node-a")] == ["node-a", "node-a"]
    top, total = await store.segments.bytes_since(0, "node-a")
    assert total == 1000 + 3000 and top == (await store.segments.bytes_since(0))[0]


async def test_a_restarting_node_closes_only_the_meetings_no_other_node_runs(db: Database) -> None:
    store = Store(db)
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO sites (id, name, role, source, created_at, updated_at)"
                           " VALUES ('ubnd', 'UBND', 'host', 'config', 0, 0)")
        for room in ("hop-a", "hop-b"):
            await conn.execute("INSERT INTO rooms (id, name, host_site_id, max_sites, source, created_at, updated_at)"
                               " VALUES (?, ?, 'ubnd', 40, 'config', 0, 0)", (room, room))
    mine = await store.rooms.start_session("hop-a", "test")
    theirs = await store.rooms.start_session("hop-b", "test")
    await store.rooms.site_joined(mine.id, "ubnd")
    await store.rooms.site_joined(theirs.id, "ubnd")
    # hop-b runs on another live node (it holds room:hop-b): this node's restart must not end it.
    assert await store.rooms.close_open_sessions("server restarted", ["hop-b"]) == 1
    a, b = await store.rooms.session(mine.id), await store.rooms.session(theirs.id)
    assert a is not None and a.ended_at is not None
    assert b is not None and b.ended_at is None
    open_sites = await db.fetchall("SELECT room_session_id FROM site_sessions WHERE left_at IS NULL")
    assert [r["room_session_id"] for r in open_sites] == [theirs.id]
    assert await store.rooms.close_open_sessions("server restarted") == 1  # single node: every open one
