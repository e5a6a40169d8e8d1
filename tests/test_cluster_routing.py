"""Routing between nodes (issue 16): node-to-node signatures, footage served by any node from the node holding it.

Two real apps on 127.0.0.1 share one SQLite index (each its own data dir, as two machines have their own disks);
their Cluster services heartbeat for real, so each finds the other's address in the index.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from mediaserver.app import create_app
from mediaserver.app_keys import (
    CLUSTER_KEY,
    CONFERENCE_KEY,
    MEETING_RECORDINGS_KEY,
    PASSWORDS_KEY,
    STORE_KEY,
    TOKENS_KEY,
)
from mediaserver.cluster_client import (
    AUTH_HEADER,
    CLUSTER_CLIENT_KEY,
    NodeAuthError,
    NodeSigner,
    NodeVerifier,
    cluster_secretbox_key,
)
from mediaserver.config import ClusterConfig, Config
from mediaserver.rooms_placement import ROOM_PLACEMENT_KEY, room_resource
from mediaserver.secretbox import SecretBox
from mediaserver.storage.sites import Room
from tests.conftest import STRONG_PASSWORD, Api, FakeClock, fast_passwords
from tests.media_fixtures import SegmentFixture
from tests.test_server_process import free_port

SECRET = "cum-may-chu-huyen-2026-bi-mat-chung-0123456789"
CAMERA = "cong-xa"
T0 = 1_765_000_000.0  # 2025-12-06T05:46:40Z


# ------------------------------------------------------------------------------------- signatures (pure)


def test_a_signed_request_is_accepted_once_and_only_as_signed() -> None:
    clock = FakeClock(T0)
    signer = NodeSigner("node-a", SECRET, clock)
    verifier = NodeVerifier(SECRET, clock)
    path = "/api/v1/cluster/segments/7/file?x=1"
    header = signer.sign("GET", path)
    assert verifier.verify("GET", path, header) == "node-a"
    with pytest.raises(NodeAuthError, match="already received"):
        verifier.verify("GET", path, header)  # replayed within the window
    for method, other_path, body in (("POST", path, b""), ("GET", "/api/v1/cluster/segments/8/file?x=1", b""),
                                     ("GET", path, b"{}")):
        with pytest.raises(NodeAuthError, match="does not match"):
            verifier.verify(method, other_path, signer.sign("GET", path), body)
    with pytest.raises(NodeAuthError, match="does not match"):
        NodeVerifier("another-cluster-secret-0123456789abcdef", clock).verify("GET", path, signer.sign("GET", path))
    with pytest.raises(NodeAuthError, match="needs a signed"):
        verifier.verify("GET", path, None)
    with pytest.raises(NodeAuthError, match="malformed"):
        verifier.verify("GET", path, "v1;node=node-a;sig=00")
    stale = signer.sign("GET", path)
    clock.now += 31  # past the replay window: even a never-seen signature is refused
    with pytest.raises(NodeAuthError, match="away from this node's clock"):
        verifier.verify("GET", path, stale)


def test_remembered_nonces_are_bounded() -> None:
    clock = FakeClock(T0)
    signer = NodeSigner("node-a", SECRET, clock)
    verifier = NodeVerifier(SECRET, clock, window_s=30, max_nonces=3)
    for _ in range(3):
        verifier.verify("GET", "/p", signer.sign("GET", "/p"))
    with pytest.raises(NodeAuthError, match="too many"):
        verifier.verify("GET", "/p", signer.sign("GET", "/p"))
    clock.now += 61  # the old nonces are forgotten once no signature of theirs could pass the clock check
    assert verifier.verify("GET", "/p", signer.sign("GET", "/p")) == "node-a"


# ------------------------------------------------------------------------------------------ two nodes


@dataclass
class Node:
    id: str
    data_dir: Path
    api: Api

    @property
    def client(self) -> TestClient[Any, Any]:
        return self.api.client


ROOM = "hop-huyen"  # the shipped config's room (every site is a member)
SITE = "xa-an-binh"


def node_config(base: Config, tmp: Path, node_id: str, port: int, index: Path | str) -> Config:
    cfg = base.model_copy(deep=True)
    cfg.storage.data_dir = tmp / node_id
    cfg.storage.database_url = index if isinstance(index, str) else f"sqlite:///{index}"
    cfg.cluster = ClusterConfig(node_id=node_id, advertise_url=f"http://127.0.0.1:{port}", secret=SecretStr(SECRET),
                                heartbeat_s=0.3, lease_ttl_s=3.0, room_pins={ROOM: "node-b"})
    return cfg


@pytest.fixture
async def nodes(config: Config, tmp_path: Path, db_target: Path | str) -> AsyncIterator[tuple[Node, Node]]:
    """Two nodes, a and b, sharing one index (an SQLite file, or a PostgreSQL database), each alive in the other's
    view."""
    index = db_target
    started: list[Node] = []
    for node_id in ("node-a", "node-b"):
        port = free_port()
        app = create_app(node_config(config, tmp_path, node_id, port, index), passwords=fast_passwords())
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        started.append(Node(node_id, tmp_path / node_id, Api(client)))
    a, b = started
    try:
        for _ in range(400):  # a few heartbeats (0.3 s each)
            if a.api.app[CLUSTER_KEY].is_alive("node-b") and b.api.app[CLUSTER_KEY].is_alive("node-a"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the nodes did not see each other alive within 20 s")
        yield a, b
    finally:
        for n in reversed(started):
            await n.client.close()


async def staff_token(node: Node, role: str = "security") -> str:
    pw = await node.api.app[PASSWORDS_KEY].hash(STRONG_PASSWORD)
    await node.api.app[STORE_KEY].users.create(f"{role}-user", pw, role, False)
    return await node.api.login(f"{role}-user")


async def record_on(node: Node, count: int = 3) -> list[Any]:
    """Write ``count`` real 2 s segments on ``node``'s disk and index them as held by it."""
    store = node.api.app[STORE_KEY]
    await store.cameras.upsert(CAMERA, "Cổng xã", "config")
    fx = SegmentFixture(store, node.data_dir, CAMERA, start_at=T0)
    try:
        segments = await fx.write(count)
    finally:
        fx.close()
    await store.db.execute(f"UPDATE recording_segments SET node_id = ? WHERE id IN ({','.join('?' * count)})",
                           (node.id, *[s.id for s in segments]))
    return segments


async def read(client: TestClient[Any, Any], url: str, token: str | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    r = await client.get(url, headers={**auth, **(headers or {})})
    return r.status, await r.read(), r.headers


async def test_footage_recorded_on_b_is_served_by_a_byte_for_byte(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    segments = await record_on(b)
    token = await staff_token(a)  # one login on node a: the shared token key lets node b accept it too
    seg = segments[1]
    on_disk = (b.data_dir / seg.path).read_bytes()
    assert not (a.data_dir / seg.path).exists()

    status, body, headers = await read(a.client, f"/api/v1/recordings/{seg.id}/file", token)
    assert status == 200 and body == on_disk
    assert headers["X-Segment-Start"] == f"{seg.start_at:.3f}" and headers["Content-Type"] == "video/mp4"
    status, body, headers = await read(a.client, f"/api/v1/recordings/{seg.id}/file", token,
                                       {"Range": "bytes=100-1099"})
    assert status == 206 and body == on_disk[100:1100]
    assert headers["Content-Range"] == f"bytes 100-1099/{len(on_disk)}"

    query = f"start={T0 + 1}&end={T0 + 5}"
    status, local, local_headers = await read(b.client, f"/api/v1/cameras/{CAMERA}/playback.mp4?{query}", token)
    assert status == 200 and len(local) > 1000
    status, via_a, headers = await read(a.client, f"/api/v1/cameras/{CAMERA}/playback.mp4?{query}", token)
    assert status == 200 and via_a == local
    assert headers["X-Playback-Start"] == local_headers["X-Playback-Start"]
    status, part, headers = await read(a.client, f"/api/v1/cameras/{CAMERA}/playback.mp4?{query}", token,
                                       {"Range": "bytes=500-"})
    assert status == 206 and part == local[500:]

    r = await a.client.post(f"/api/v1/cameras/{CAMERA}/playback", headers=a.api.auth(token),
                            json={"start": T0 + 1, "end": T0 + 5})
    assert r.status == 200, await r.text()
    ticket = await r.json()
    assert ticket["bytes"] == len(local) and ticket["media_start"] == float(local_headers["X-Playback-Start"])
    status, body, _ = await read(a.client, ticket["url"])  # a <video src>: no token, the ticket is the credential
    assert status == 200 and body == local

    audit = await a.api.app[STORE_KEY].db.fetchall(
        "SELECT action, detail_json FROM audit_log WHERE action LIKE 'footage.%' ORDER BY id")
    assert [r["action"] for r in audit] == ["footage.segment", "footage.playback", "footage.playback",
                                            "footage.playback"]
    # a audits what it served from b, naming b; b's own local read names no node
    assert [json.loads(r["detail_json"]).get("node") for r in audit] == ["node-b", None, "node-b", "node-b"]


async def test_an_export_through_a_runs_on_b_and_downloads_through_a(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await record_on(b, 4)
    token = await staff_token(a)
    r = await a.client.post("/api/v1/exports", headers=a.api.auth(token),
                            json={"camera_id": CAMERA, "start": T0, "end": T0 + 8, "reason": "Kiểm tra"})
    assert r.status == 202, await r.text()
    export_id = (await r.json())["id"]
    async with asyncio.timeout(30):
        while (done := await (await a.client.get(f"/api/v1/exports/{export_id}",
                                                 headers=a.api.auth(token))).json())["status"] != "done":
            assert done["status"] in ("queued", "running"), done
            await asyncio.sleep(0.1)
    files = list((b.data_dir / "exports").glob("*.mp4"))
    assert len(files) == 1 and not list((a.data_dir / "exports").glob("*.mp4"))
    status, body, headers = await read(a.client, f"/api/v1/exports/{export_id}/file", token)
    assert status == 200 and body == files[0].read_bytes()
    assert hashlib.sha256(body).hexdigest() == headers["X-Content-SHA256"] == done["sha256"]
    link = await (await a.client.post(f"/api/v1/exports/{export_id}/link", headers=a.api.auth(token))).json()
    assert (await read(a.client, link["url"]))[1] == body
    # Deleting it through a (after releasing its hold) removes the file on b.
    r = await a.client.delete(f"/api/v1/holds/{done['hold_id']}", headers=a.api.auth(token))
    assert r.status == 200
    r = await a.client.delete(f"/api/v1/exports/{export_id}", headers=a.api.auth(token))
    assert r.status == 204, await r.text()
    assert not files[0].exists()


async def test_node_routes_want_a_valid_signature(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = await staff_token(a, "admin")
    for headers in ({}, {"Authorization": f"Bearer {token}"},
                    {AUTH_HEADER: NodeSigner("node-b", "not-the-cluster-secret-0123456789abcd").sign(
                        "GET", "/api/v1/cluster/ping")}):
        r = await a.client.get("/api/v1/cluster/ping", headers=headers)
        assert r.status == 401 and (await r.json())["error"]["code"] == "node_auth_failed", headers
    status, body = await b.api.app[CLUSTER_CLIENT_KEY].call("node-a", "GET", "/api/v1/cluster/ping")
    assert status == 200 and body == {"node_id": "node-a", "caller": "node-b"}
    signed = NodeSigner("node-b", SECRET).sign("GET", "/api/v1/cluster/ping")
    assert (await a.client.get("/api/v1/cluster/ping", headers={AUTH_HEADER: signed})).status == 200
    r = await a.client.get("/api/v1/cluster/ping", headers={AUTH_HEADER: signed})  # the same header again
    assert r.status == 401 and "replayed" in (await r.json())["error"]["message"]


async def test_without_a_cluster_no_signature_opens_a_node_route(api: Api) -> None:
    signed = NodeSigner("node-b", SECRET).sign("GET", "/api/v1/cluster/ping")
    r = await api.client.get("/api/v1/cluster/ping", headers={AUTH_HEADER: signed})
    assert r.status == 401
    assert (await r.json())["error"] == {"code": "node_auth_failed", "field": None,
                                         "message": "this server is not part of a cluster (no 'cluster' in its "
                                                    "config)"}


async def first_of(ws: Any, kinds: set[str]) -> dict[str, Any]:
    """Return the first message of one of ``kinds`` (others — roster, slots — may come before it)."""
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive_json()
            if msg["type"] in kinds:
                return dict(msg)


async def test_a_site_joining_through_the_wrong_node_is_sent_to_its_rooms_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token, _ = await a.api.app[TOKENS_KEY].issue_join(SITE, ROOM)  # the link node a's console handed out
    async with a.client.ws_connect(f"/api/v1/rooms/{ROOM}/signal") as ws:
        await ws.send_json({"type": "join", "v": 1, "token": token})
        msg = await first_of(ws, {"redirect", "welcome", "lobby", "error"})
        assert msg == {"type": "redirect", "url": f"http://127.0.0.1:{b.client.port}", "room": ROOM}
        assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert a.api.app[CONFERENCE_KEY].live(ROOM) is None
    async with b.client.ws_connect(f"/api/v1/rooms/{ROOM}/signal") as ws:  # the same link, on node b
        await ws.send_json({"type": "join", "v": 1, "token": token})
        msg = await first_of(ws, {"redirect", "welcome", "lobby", "error"})
        assert msg["type"] == "welcome" and msg["site"] == SITE, msg
        room = b.api.app[CONFERENCE_KEY].live(ROOM)
        assert room is not None and SITE in room.sessions
        # The room's lease says node b now: a's join page sends a plain page view there too (307, query kept).
        r = await a.client.get(f"/join?room={ROOM}", allow_redirects=False)
        assert r.status == 307 and r.headers["Location"] == f"http://127.0.0.1:{b.client.port}/join?room={ROOM}"
        assert (await b.client.get(f"/join?room={ROOM}", allow_redirects=False)).status == 200
        assert b.api.app[ROOM_PLACEMENT_KEY].load()["room_ids"] == [ROOM]
        # Staff keep node a's console: the chair's controls for the room on node b are answered by node b.
        staff = {"Authorization": f"Bearer {await staff_token(a, 'operator')}"}
        r = await a.client.get(f"/api/v1/rooms/{ROOM}/live", headers=staff)
        assert r.status == 200, await r.text()
        assert SITE in await r.text()
        r = await a.client.post(f"/api/v1/rooms/{ROOM}/vote/open", headers=staff,
                                json={"text": "Thông qua kế hoạch năm 2027"})
        assert r.status in (200, 201), await r.text()
        opened = await first_of(ws, {"vote_opened"})  # the site, on node b, is asked
        assert opened["question"]["text"] == "Thông qua kế hoạch năm 2027"


async def until_true(check: Any, what: str, wait_s: float = 10.0) -> None:
    for _ in range(int(wait_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {wait_s} s waiting for {what}")


async def test_recording_a_room_is_done_by_the_rooms_node(nodes: tuple[Node, Node]) -> None:
    """A scheduled room.record run claimed by node a, and staff's "record" through node a, act where the room is."""
    a, b = nodes
    staff = {"Authorization": f"Bearer {await staff_token(a, 'operator')}"}
    recordings_a, recordings_b = a.api.app[MEETING_RECORDINGS_KEY], b.api.app[MEETING_RECORDINGS_KEY]
    # The scheduled run (run now, on node a) for the room pinned to node b: b waits for the meeting to record it.
    job = {"id": "ghi-hop", "action": "room.record", "kind": "once", "spec": "2099-01-01T08:00:00+07:00",
           "args": {"room": ROOM, "duration_s": 3600}}
    assert (await a.client.post("/api/v1/schedules", json=job, headers=staff)).status == 201
    assert (await a.client.post("/api/v1/schedules/ghi-hop/run", headers=staff)).status == 202
    await until_true(lambda: recordings_b.state(ROOM) is not None, "node b to be asked to record the room")
    state = recordings_b.state(ROOM)
    assert state is not None and state.state == "armed" and state.requested_by == "schedule:ghi-hop"
    assert recordings_a.state(ROOM) is None
    runs = await (await a.client.get("/api/v1/schedules/ghi-hop/runs", headers=staff)).json()
    assert [r["outcome"] for r in runs["items"]] == ["ok"], runs
    # Staff read and stop it through node a: node b answers.
    r = await a.client.get(f"/api/v1/rooms/{ROOM}/recording", headers=staff)
    assert r.status == 200 and (await r.json())["requested_by"] == "schedule:ghi-hop"
    assert (await a.client.delete(f"/api/v1/rooms/{ROOM}/recording", headers=staff)).status == 204
    assert recordings_b.state(ROOM) is None
    # Arguments the room's node refuses fail the run on node a with that node's reason.
    bad = {**job, "id": "ghi-hop-sai", "args": {"room": ROOM, "duration_s": -5}}
    assert (await a.client.post("/api/v1/schedules", json=bad, headers=staff)).status == 201
    assert (await a.client.post("/api/v1/schedules/ghi-hop-sai/run", headers=staff)).status == 202
    for _ in range(200):
        runs = await (await a.client.get("/api/v1/schedules/ghi-hop-sai/runs", headers=staff)).json()
        if runs["items"] and runs["items"][0]["outcome"] != "running":
            break
        await asyncio.sleep(0.05)
    run = runs["items"][0]
    assert run["outcome"] == "error" and "node 'node-b'" in run["error"] and "duration_s" in run["error"], run

    # A room no node holds: "record its next meeting" through node a places it, and the node chosen keeps it
    # placed past the lease's lifetime while the request waits, so the meeting's sites are sent there.
    await a.api.app[STORE_KEY].rooms.upsert(
        Room("hop-phong", "Họp phòng", "ubnd-huyen", True, (), 10, False, False, "api", True), "api")
    r = await a.client.post("/api/v1/rooms/hop-phong/recording", headers=staff, json={})
    assert r.status == 200, await r.text()
    leases = a.api.app[CLUSTER_KEY].lease_repo
    owner = await leases.owner(room_resource("hop-phong"))
    assert owner in ("node-a", "node-b")
    holder, other = (a, b) if owner == "node-a" else (b, a)
    assert holder.api.app[MEETING_RECORDINGS_KEY].state("hop-phong") is not None
    assert other.api.app[MEETING_RECORDINGS_KEY].state("hop-phong") is None
    await asyncio.sleep(a.api.app[CLUSTER_KEY].ttl_s + 1.0)  # past the first lease's expiry
    assert await leases.owner(room_resource("hop-phong")) == owner
    token, _ = await other.api.app[TOKENS_KEY].issue_join(SITE, "hop-phong")
    async with other.client.ws_connect("/api/v1/rooms/hop-phong/signal") as ws:
        await ws.send_json({"type": "join", "v": 1, "token": token})
        msg = await first_of(ws, {"redirect", "welcome", "lobby", "error"})
        assert msg == {"type": "redirect", "url": f"http://127.0.0.1:{holder.client.port}", "room": "hop-phong"}


def test_every_node_opens_a_camera_secret_another_node_sealed(config: Config, tmp_path: Path) -> None:
    before = SecretBox(tmp_path / "node-a")
    old = before.seal("mat-khau-cu")  # sealed before the cluster existed, with node a's own key
    keys = [cluster_secretbox_key(node_config(config, tmp_path, n, 1, tmp_path / "i.db")) for n in ("node-a", "node-b")]
    assert keys[0] == keys[1] is not None
    a, b = SecretBox(tmp_path / "node-a", keys[0]), SecretBox(tmp_path / "node-b", keys[1])
    assert b.open(a.seal("mat-khau-camera")) == "mat-khau-camera"
    assert a.open(old) == "mat-khau-cu"  # node a still opens its own older secrets
    with pytest.raises(ValueError):
        b.open(old)  # ...which no other node could: re-save such a camera once the cluster runs
    assert cluster_secretbox_key(config) is None  # no cluster: the data dir's key, as before
