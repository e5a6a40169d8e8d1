"""Two real `mediaserver run` processes sharing one PostgreSQL index (issue 16).

Cameras spread 2/2; node a's API serves footage only node b holds (byte-for-byte) and sends a site joining
through it to its room's node b; kill -9 node a → b records its cameras; node a comes back → it takes cameras
back and nothing is recorded twice. One test: starting the nodes costs seconds, so every check shares them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
import yaml

from cameras.simulator.rtsp import RtspServerProcess
from recordings.paths import PART_SUFFIX, RECORDINGS_DIR, SEGMENT_EXT, parse_segment_path
from tests.test_cluster_routing import first_of
from tests.test_server_process import Server

pytestmark = pytest.mark.slow

CAMERAS = ("c1", "c2", "c3", "c4")
SECRET = "cluster-test-secret-0123456789abcdef"
HEARTBEAT_S, LEASE_TTL_S = 1.0, 5.0
TAKEOVER_LIMIT_S = 30.0
SEGMENT_S = 2
PINNED_ROOM, SITE = "hop-xa", "xa-song-cau"  # made through node a's API; the room is pinned to node b


def sim_spec() -> dict[str, Any]:
    mounts = [{"path": f"/{c}", "width": 160, "height": 90, "fps": 5, "gop": 5, "bitrate_kbps": 100,
               "scene": {"kind": "scene", "noise": 2, "background": 80}} for c in CAMERAS]
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"}, "mounts": mounts}


def node(tmp: Path, node_id: str, db_url: str, sim: RtspServerProcess) -> Server:
    (tmp / node_id).mkdir()
    srv = Server(tmp / node_id)
    cfg = yaml.safe_load(srv.config.read_text())
    cfg["storage"]["database_url"] = db_url
    cfg["recording"] = {"mode": "continuous", "segment_seconds": SEGMENT_S}
    cfg["motion"] = {"enabled": False}
    cfg["detection"] = {"enabled": False}
    cfg["cameras"] = {c: {"name": c, "streams": {"main_url": sim.url(f"/{c}")}} for c in CAMERAS}
    cfg["schedules"] = {"tick": {"action": "index.maintenance", "kind": "interval", "every_s": 2}}
    cfg["cluster"] = {"node_id": node_id, "advertise_url": f"http://127.0.0.1:{srv.port}", "secret": SECRET,
                      "heartbeat_s": HEARTBEAT_S, "lease_ttl_s": LEASE_TTL_S, "capacity": 8,
                      "room_pins": {PINNED_ROOM: "node-b"}}
    srv.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return srv


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql, params).fetchall())


def owners(url: str) -> dict[str, str]:
    return {r[0].removeprefix("camera:"): r[1] for r in rows(
        url, "SELECT resource, node_id FROM leases WHERE expires_at > extract(epoch from clock_timestamp())"
        " AND resource LIKE 'camera:%%'")}


def even_split(url: str) -> dict[str, str] | None:
    """Return the camera owners once node-a and node-b hold two cameras each."""
    o = owners(url)
    return o if sorted(list(o.values()).count(n) for n in ("node-a", "node-b")) == [2, 2] else None


def first_segments(url: str, cameras: list[str], node_id: str, after: float) -> dict[str, float] | None:
    """Return each camera's first segment start on ``node_id`` after ``after``, once every camera has one."""
    got = {c: r[0] for c in cameras for r in rows(
        url, "SELECT MIN(start_at) FROM recording_segments WHERE camera_id = %s AND node_id = %s AND start_at > %s",
        (c, node_id, after)) if r[0] is not None}
    return got if len(got) == len(cameras) else None


async def wait_for(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def test_two_nodes_share_footage_and_rooms_and_take_over_cameras(tmp_path: Path, pg_url: str) -> None:
    sim = RtspServerProcess(sim_spec())
    await sim.start()
    a, b = node(tmp_path, "node-a", pg_url, sim), node(tmp_path, "node-b", pg_url, sim)
    try:
        await asyncio.to_thread(a.start)  # first: it creates the admin on the empty index
        await asyncio.to_thread(b.start)
        spread = await wait_for("a 2/2 spread", lambda: even_split(pg_url), 30.0)
        print(f"\nspread: {spread}")
        a_cams = sorted(c for c, n in spread.items() if n == "node-a")
        # Both nodes record their own cameras (segments carry the node).
        await wait_for("segments from both nodes", lambda: {r[0] for r in rows(
            pg_url, "SELECT DISTINCT node_id FROM recording_segments")} == {"node-a", "node-b"}, 30.0)
        await asyncio.to_thread(a.login_admin)
        await asyncio.to_thread(b.login_admin)  # the password node a's login changed is in the shared index
        status, listed = await asyncio.to_thread(a.request, "GET", "/api/v1/nodes")
        assert status == 200 and listed["clustered"], listed
        by_id = {n["id"]: n for n in listed["items"]}
        assert by_id["node-a"]["alive"] and by_id["node-b"]["alive"]
        assert sorted(by_id["node-a"]["cameras"]) == a_cams

        await footage_on_b_is_served_by_a(a, b, pg_url)
        await a_site_joining_through_a_lands_in_its_room_on_b(a, b)

        a.kill()  # kill -9, the whole process group
        killed_at = time.time()

        first = await wait_for("node-b recording node-a's cameras",
                               lambda: first_segments(pg_url, a_cams, "node-b", killed_at), TAKEOVER_LIMIT_S + 15)
        takeover_s = max(first.values()) - killed_at
        print(f"takeover_s={takeover_s:.1f} (lease_ttl_s={LEASE_TTL_S:g}, heartbeat_s={HEARTBEAT_S:g})")
        assert takeover_s <= TAKEOVER_LIMIT_S
        assert set(owners(pg_url).values()) == {"node-b"}
        no_overlaps_and_no_gaps(pg_url, takeover_s)

        # The 2 s job ran once per due time across both nodes.
        dup = rows(pg_url, "SELECT scheduled_for, COUNT(*) FROM job_runs WHERE job_id = 'tick'"
                   " GROUP BY scheduled_for HAVING COUNT(*) > 1")
        assert dup == [], dup

        await the_killed_node_comes_back_and_records_nothing_twice(a, b, pg_url, takeover_s)
        await a_paused_node_resumes_and_records_nothing_twice(a, b, pg_url)
    finally:
        a.kill()
        b.kill()
        await sim.stop()


def no_overlaps_and_no_gaps(url: str, takeover_s: float) -> None:
    """Assert no two segments of a camera overlap (across nodes) and no gap is longer than a takeover."""
    for cam in CAMERAS:
        segs = rows(url, "SELECT start_at, end_at, node_id FROM recording_segments WHERE camera_id = %s"
                    " AND stream = 'main' ORDER BY start_at", (cam,))
        for (s0, e0, n0), (s1, _e1, n1) in itertools.pairwise(segs):
            assert s1 >= e0 - 0.05, f"{cam}: {n0} [{s0}, {e0}) overlaps {n1} from {s1}"
            assert s1 - e0 <= takeover_s + 2 * SEGMENT_S + 1.0, f"{cam}: gap {s1 - e0:.1f} s from {n0} to {n1}"


def fetch(srv: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """GET ``path`` from ``srv`` as its logged-in user; return status, raw body and headers."""
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}{path}",
                                 headers={"Authorization": f"Bearer {srv.token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


async def footage_on_b_is_served_by_a(a: Server, b: Server, url: str) -> None:
    """Assert node a's API serves a segment and a playback range only node b holds, and lists b's segments."""
    def finished_on_b() -> list[tuple[Any, ...]] | None:
        # A segment of b's with a later one indexed after it: a playback range inside it is final.
        got = rows(url, "SELECT id, camera_id, path, start_at, end_at FROM recording_segments s"
                   " WHERE node_id = 'node-b' AND stream = 'main' AND EXISTS (SELECT 1 FROM recording_segments n"
                   " WHERE n.camera_id = s.camera_id AND n.stream = 'main' AND n.start_at > s.start_at)"
                   " ORDER BY id LIMIT 1")
        return got or None

    [(seg_id, cam, path, start, end)] = await wait_for("two segments of a camera on node-b", finished_on_b, 30.0)
    on_disk = (b.dir / "data" / path).read_bytes()
    assert len(on_disk) > 1000 and not (a.dir / "data" / path).exists()  # footage stays where it was recorded
    status, body, headers = await asyncio.to_thread(fetch, a, f"/api/v1/recordings/{seg_id}/file")
    assert status == 200 and body == on_disk, (status, len(body), len(on_disk))
    assert headers["X-Segment-Start"] == f"{start:.3f}"
    status, body, headers = await asyncio.to_thread(fetch, a, f"/api/v1/recordings/{seg_id}/file",
                                                    {"Range": "bytes=100-1099"})
    assert status == 206 and body == on_disk[100:1100]
    assert headers["Content-Range"] == f"bytes 100-1099/{len(on_disk)}"

    inset = (end - start) / 4  # a range inside the one finished segment: both nodes' answers are final
    query = f"start={start + inset:.3f}&end={end - inset:.3f}"
    status, local, local_headers = await asyncio.to_thread(fetch, b, f"/api/v1/cameras/{cam}/playback.mp4?{query}")
    assert status == 200 and len(local) > 1000, (status, local[:300])
    status, via_a, headers = await asyncio.to_thread(fetch, a, f"/api/v1/cameras/{cam}/playback.mp4?{query}")
    assert status == 200 and via_a == local, (status, len(via_a), len(local))
    assert headers["X-Playback-Start"] == local_headers["X-Playback-Start"]

    # The search node a answers lists node b's segments (one index), and a audited what it served from b.
    status, listed = await asyncio.to_thread(
        a.request, "GET", f"/api/v1/recordings?camera_id={cam}&since={start - 60:.3f}&until={end + 60:.3f}")
    assert status == 200, listed
    held_by_b = {r[0] for r in rows(url, "SELECT id FROM recording_segments WHERE camera_id = %s AND"
                                         " node_id = 'node-b' AND stream = 'main' AND start_at < %s AND end_at > %s",
                                    (cam, end + 60, start - 60))}
    assert seg_id in held_by_b and held_by_b <= {s["id"] for s in listed["items"]}, (held_by_b, listed)
    audited = rows(url, "SELECT action, detail_json FROM audit_log WHERE action = 'footage.segment'")
    assert [json.loads(d).get("node") for _, d in audited] == ["node-b"], audited


async def a_site_joining_through_a_lands_in_its_room_on_b(a: Server, b: Server) -> None:
    """Create a site, a room pinned to node b and a join link through node a; join through a, land on b."""
    status, body = await asyncio.to_thread(a.request, "POST", "/api/v1/sites", {"id": SITE, "name": "UBND xã Sông Cầu"})
    assert status == 201, body
    status, body = await asyncio.to_thread(a.request, "POST", "/api/v1/rooms", {
        "id": PINNED_ROOM, "name": "Họp giao ban xã", "host_site_id": "ubnd-huyen", "sites": [SITE]})
    assert status == 201, body
    status, issued = await asyncio.to_thread(a.request, "POST", f"/api/v1/rooms/{PINNED_ROOM}/join-tokens",
                                             {"site_id": SITE})
    assert status == 201, issued
    join = {"type": "join", "v": 1, "token": issued["token"]}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{a.port}/api/v1/rooms/{PINNED_ROOM}/signal") as ws:
            await ws.send_json(join)
            msg = await first_of(ws, {"redirect", "welcome", "lobby", "error"})
            assert msg == {"type": "redirect", "url": f"http://127.0.0.1:{b.port}", "room": PINNED_ROOM}
            assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with http.ws_connect(f"ws://127.0.0.1:{b.port}/api/v1/rooms/{PINNED_ROOM}/signal") as ws:
            await ws.send_json(join)  # the same link, on the node the redirect named
            msg = await first_of(ws, {"redirect", "welcome", "lobby", "error"})
            assert msg["type"] == "welcome" and msg["room"] == PINNED_ROOM and msg["site"] == SITE, msg
            # The room runs on b now: b's heartbeat lists it, and a's join page sends a page view there (307).
            def b_runs_it() -> bool:
                items = {n["id"]: n for n in a.request("GET", "/api/v1/nodes")[1]["items"]}
                return bool(items["node-b"]["rooms"] == [PINNED_ROOM] and items["node-a"]["rooms"] == [])

            await wait_for("node-b holding the room", b_runs_it, 20.0)
            async with http.get(f"http://127.0.0.1:{a.port}/join?room={PINNED_ROOM}", allow_redirects=False) as r:
                assert r.status == 307
                assert r.headers["Location"] == f"http://127.0.0.1:{b.port}/join?room={PINNED_ROOM}"


async def the_killed_node_comes_back_and_records_nothing_twice(a: Server, b: Server, url: str,
                                                               takeover_s: float) -> None:
    """Restart node a on its data dir: it rejoins, takes cameras back from b, and no camera is recorded twice."""
    before = {n["id"]: n for n in (await asyncio.to_thread(b.request, "GET", "/api/v1/nodes"))[1]["items"]}
    assert not before["node-a"]["alive"] and sorted(before["node-b"]["cameras"]) == list(CAMERAS)
    restarted_at = time.time()
    await asyncio.to_thread(a.start)  # a new process, the same config and data dir

    def a_alive() -> bool:
        items = {n["id"]: n for n in b.request("GET", "/api/v1/nodes")[1]["items"]}
        return bool(items["node-a"]["alive"]) and items["node-a"]["started_at"] != before["node-a"]["started_at"]

    await wait_for("node-a alive again in GET /api/v1/nodes", a_alive, 30.0)
    # b holds 4 > its share of 2 while a has room: it gives one back per beat, a takes it (cluster._balance).
    back = await wait_for("a 2/2 spread again", lambda: even_split(url), 30.0)
    back_to_a = sorted(c for c, n in back.items() if n == "node-a")
    await wait_for("node-a recording the cameras it took back",
                   lambda: first_segments(url, back_to_a, "node-a", restarted_at), 30.0)
    settled = time.time()
    print(f"rejoined: {back} in {settled - restarted_at:.1f} s")
    # Both nodes keep recording a few more segments, then: still no overlap, no gap beyond a takeover.
    await wait_for("two more segments of every camera", lambda: all(
        rows(url, "SELECT COUNT(*) FROM recording_segments WHERE camera_id = %s AND start_at > %s",
             (c, settled))[0][0] >= 2 for c in CAMERAS), 30.0)
    no_overlaps_and_no_gaps(url, takeover_s)
    # Node b stopped writing each camera it gave back before node a's lease on it began (file times are the
    # kernel's, the lease's the database's, on this one machine): the camera was never recorded by both at once.
    # The segments' own wall times are no proof here: a segment's last frame is stamped to end one frame
    # interval after it arrived, so b's last segment may "end" a little after a's lease began.
    for cam in back_to_a:
        [(acquired_at,)] = rows(url, "SELECT acquired_at FROM leases WHERE resource = %s AND node_id = 'node-a'",
                                (f"camera:{cam}",))
        [(b_last_end,)] = rows(url, "SELECT MAX(end_at) FROM recording_segments WHERE camera_id = %s"
                                    " AND node_id = 'node-b'", (cam,))
        last_write, parts = writes(b, cam)
        print(f"{cam} back to node-a: b's last write {acquired_at - last_write:.2f} s before a's lease, its last"
              f" segment stamped to end {acquired_at - b_last_end:.2f} s before it")
        assert restarted_at < acquired_at, (cam, restarted_at, acquired_at)
        assert parts == [] and last_write <= acquired_at + 0.01, (cam, parts, last_write, acquired_at)
        assert files_since(a, cam, acquired_at), cam  # (the scan sees a's recording of it)
    for cam in sorted(set(CAMERAS) - set(back_to_a)):  # and node a, back, did not record the cameras b kept
        assert files_since(a, cam, restarted_at) == [] and files_since(b, cam, restarted_at), cam


async def a_paused_node_resumes_and_records_nothing_twice(a: Server, b: Server, url: str) -> None:
    """SIGSTOP node a past its leases (a hung box, not a dead one): b takes its cameras; on SIGCONT, a's segment
    in flight is refused by the index (fencing) and no camera is recorded twice."""
    assert a.proc is not None
    a_cams = sorted(c for c, n in owners(url).items() if n == "node-a")
    assert a_cams, owners(url)
    os.killpg(a.proc.pid, signal.SIGSTOP)
    paused_at = time.time()
    try:
        first = await wait_for("node-b recording the paused node's cameras",
                               lambda: first_segments(url, a_cams, "node-b", paused_at), TAKEOVER_LIMIT_S + 15)
    finally:
        os.killpg(a.proc.pid, signal.SIGCONT)
    resumed_at = time.time()
    pause_takeover_s = max(first.values()) - paused_at
    print(f"paused node's cameras recorded by node-b after {pause_takeover_s:.1f} s; resumed after"
          f" {resumed_at - paused_at:.1f} s")
    assert pause_takeover_s <= TAKEOVER_LIMIT_S
    await wait_for("two more segments of every camera after the resume", lambda: all(
        rows(url, "SELECT COUNT(*) FROM recording_segments WHERE camera_id = %s AND start_at > %s",
             (c, resumed_at))[0][0] >= 2 for c in CAMERAS), 30.0)
    no_overlaps_and_no_gaps(url, pause_takeover_s)
    for cam in a_cams:  # node a wrote nothing the index kept between b's takeover and getting the camera back
        [(taken_at,)] = rows(url, "SELECT MIN(start_at) FROM recording_segments WHERE camera_id = %s"
                                  " AND node_id = 'node-b' AND start_at > %s", (cam, paused_at))
        late = rows(url, "SELECT start_at, end_at FROM recording_segments WHERE camera_id = %s AND node_id ="
                         " 'node-a' AND end_at > %s AND start_at < %s", (cam, taken_at + 0.05, resumed_at))
        assert late == [], (cam, taken_at, late)


def segment_files(srv: Server, camera_id: str) -> list[Path]:
    """Return the camera's segment files (finished or being written) on ``srv``'s disk."""
    return list((srv.dir / "data" / RECORDINGS_DIR / camera_id).rglob(f"*{SEGMENT_EXT}*"))


def files_since(srv: Server, camera_id: str, since: float) -> list[str]:
    """Return the camera's segment files on ``srv``'s disk whose names say they start after ``since``."""
    data = srv.dir / "data"
    return sorted(rel for p in segment_files(srv, camera_id)
                  if parse_segment_path(rel := p.relative_to(data).as_posix()).start > since)


def writes(srv: Server, camera_id: str) -> tuple[float, list[str]]:
    """Return when ``srv`` last wrote a segment file of the camera, and the files it is writing (``.part``)."""
    files = segment_files(srv, camera_id)
    return max(p.stat().st_mtime for p in files), sorted(p.name for p in files if p.name.endswith(PART_SUFFIX))
