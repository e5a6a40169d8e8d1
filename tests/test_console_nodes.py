"""The console's "Máy chủ" page in a real Chromium against two real nodes sharing one index (issue 16).

Two in-process apps (tests/test_cluster_routing.py's ``nodes``) share one SQLite index and record four config
cameras between them — two streaming from the RTSP simulator, two at an address nobody serves — and a site joins
the room pinned to node b. The admin's page on node a shows each node's id and address, alive, its counts, a
cameras bar against capacity, CPU as vi-VN numbers ("12,5 %"), its cameras by name with a working/not dot, and the
room by name; no English in the Vietnamese page; nothing wider than 1366×768 or 390×844, in Vietnamese and
English. Then node b's heartbeat stops (its process frozen): the page shows b lost since its last heartbeat's time
(the shared date formatter), listed first, and node a recording all four cameras. The API lets an operator read
the list (a security guard not), and the console offers the page to both.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.app_keys import CLUSTER_KEY, TOKENS_KEY
from mediaserver.config import CameraConfig, Config
from mediaserver.rooms_placement import ROOM_PLACEMENT_KEY
from tests.browser import ARTIFACTS, console_login, console_page, until
from tests.conftest import STRONG_PASSWORD
from tests.test_cluster_routing import ROOM, SITE, Node, first_of, nodes, staff_token  # noqa: F401  (a fixture)
from tests.test_console_admin import DESKTOP, PHONE, no_overflow
from tests.test_server_process import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

STREAMING = {"cong-ubnd": "Cổng UBND xã", "kho-luu-tru": "Kho lưu trữ"}
UNREACHABLE = {"bai-do-xe": "Bãi đỗ xe", "hanh-lang": "Hành lang tầng 2"}
CAMERAS = {**STREAMING, **UNREACHABLE}
ROOM_NAME = "Họp trực tuyến toàn huyện"  # the shipped config's name of ROOM
VN = ZoneInfo("Asia/Ho_Chi_Minh")
# Words of the English page that must not leak into the Vietnamese one (ids and addresses aside).
ENGLISH = re.compile(r"\b(servers?|running|responding|cameras|rooms?|sites?|heartbeat|started|records|cores?|"
                     r"working|ago|seconds?|minutes?|since|last|in all)\b", re.IGNORECASE)


@pytest.fixture
def engine() -> str:
    """One engine is enough here: the page reads the same API on both (tests/test_cluster_routing.py runs both)."""
    return "sqlite"


@pytest.fixture
async def rtsp() -> AsyncIterator[RtspServerProcess]:
    """One simulator process with a tiny mount per streaming camera (little CPU beside Chromium)."""
    mounts = [{"path": f"/{c}", "width": 160, "height": 90, "fps": 5, "gop": 5, "bitrate_kbps": 100,
               "scene": {"kind": "scene", "noise": 2, "background": 80}} for c in STREAMING]
    server = RtspServerProcess({"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"}, "mounts": mounts})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def config(config: Config, rtsp: RtspServerProcess) -> Config:
    """The shipped config with four cameras (two streaming, two unreachable), recorded continuously, no analysis."""
    nobody = free_port()  # a port nothing listens on: those cameras stay down
    for cid, name in CAMERAS.items():
        url = rtsp.url(f"/{cid}") if cid in STREAMING else f"rtsp://127.0.0.1:{nobody}/{cid}"
        config.cameras[cid] = CameraConfig.model_validate({"name": name, "streams": {"main_url": url}})
    config.recording.mode = "continuous"
    config.motion.enabled = False
    config.detection.enabled = False
    return config


def owned(node: Node) -> list[str]:
    return node.api.app[CLUSTER_KEY].owned_cameras()


async def settle(a: Node, b: Node, split: tuple[int, int], what: str) -> None:
    """Wait until the nodes hold ``split`` cameras and both have heartbeated since (the API reports it)."""
    await until(lambda: asyncio.sleep(0, (len(owned(a)), len(owned(b))) == split), what, 20, 0.05)


async def tile(page: Any, node_id: str) -> dict[str, Any]:
    """Return what the page shows of one node's tile."""
    return dict(await page.locator(f"#nodes-grid [data-node='{node_id}']").evaluate("""(el) => ({
      text: el.innerText, dead: el.classList.contains('dead'), badge: el.querySelector('.badge').innerText,
      stats: [...el.querySelectorAll('.node-stat b')].map((b) => b.innerText),
      meters: [...el.querySelectorAll('[role=meter]')].map((m) => m.getAttribute('aria-valuetext')),
      cams: [...el.querySelectorAll('.node-chips.cams li')].map((li) => [li.dataset.camera, li.dataset.phase,
        li.firstChild.nextSibling.textContent]),
      rooms: [...el.querySelectorAll('.node-chips.rooms li')].map((li) => li.innerText),
    })"""))


async def shows(page: Any, node_id: str, check: Any) -> dict[str, Any]:
    """Wait (the page refreshes itself every 5 s) until a node's tile passes ``check``; return it."""
    async def got() -> dict[str, Any] | None:
        if not await page.locator(f"#nodes-grid [data-node='{node_id}']").count():
            return None
        t = await tile(page, node_id)
        return t if check(t) else None
    result: dict[str, Any] = await until(got, f"node {node_id}'s tile", 15, 0.2)
    return result


def vn_time(iso_ts: float, lang: str) -> str:
    """Return the shared formatter's (i18n.js dateTime) rendering of an epoch time in Vietnam time."""
    d = datetime.fromtimestamp(iso_ts, VN)
    return d.strftime("%H:%M %d/%m/%Y") if lang == "vi" else d.strftime("%d/%m/%Y, %H:%M")


async def test_the_nodes_page_shows_two_nodes_their_load_cameras_and_rooms_then_one_lost(
        nodes: tuple[Node, Node]) -> None:  # noqa: F811  (the imported fixture)
    a, b = nodes
    await staff_token(a, "admin")
    operator, security = await staff_token(a, "operator"), await staff_token(a, "security")
    # Who may read the node list: admin and operator through the API; the console's nav offers it to admin only.
    for token, status in ((operator, 200), (security, 403)):
        r = await a.client.get("/api/v1/nodes", headers=a.api.auth(token))
        assert r.status == status, await r.text()
    await settle(a, b, (2, 2), "the four cameras split 2/2 between the nodes")
    join, _ = await b.api.app[TOKENS_KEY].issue_join(SITE, ROOM)  # ROOM is pinned to node b
    base = str(a.client.make_url("")).rstrip("/")
    async with b.client.ws_connect(f"/api/v1/rooms/{ROOM}/signal") as ws, \
            console_page(base, **DESKTOP) as page:
        await ws.send_json({"type": "join", "v": 1, "token": join})
        assert (await first_of(ws, {"welcome", "lobby", "error"}))["type"] == "welcome"
        await until(lambda: asyncio.sleep(0, b.api.app[ROOM_PLACEMENT_KEY].load()["sites"] == 1),
                    "the site in node b's room", 10, 0.05)
        await console_login(page, "#/nodes", "admin-user", STRONG_PASSWORD)
        await page.locator("#nodes-grid [data-node]").first.wait_for()
        nav = await page.locator("#nav .nav-link").evaluate_all("ls => ls.map((l) => l.dataset.section)")
        assert "nodes" in nav
        for lang in ("vi", "en"):
            # Both alive; b's heartbeat carries the site once it joined; the streaming cameras show green.
            tb = await shows(page, "node-b", lambda t: t["stats"][1:] == ["1", "1"] and t["rooms"])
            ta = await shows(page, "node-a", lambda t: sum(p == "streaming" for _, p, _ in t["cams"])
                             == sum(c in STREAMING for c in owned(a)))
            tb = await shows(page, "node-b", lambda t: sum(p == "streaming" for _, p, _ in t["cams"])
                             == sum(c in STREAMING for c in owned(b)))
            for t, node in ((ta, a), (tb, b)):
                assert not t["dead"] and t["badge"] == ("Đang hoạt động" if lang == "vi" else "Running")
                assert f"http://127.0.0.1:{node.client.port}" in t["text"]
                assert [c for c, _, _ in t["cams"]] == owned(node)
                assert [n for _, _, n in t["cams"]] == [CAMERAS[c] for c in owned(node)]  # names, not ids
                assert all((p == "streaming") == (c in STREAMING) for c, p, _ in t["cams"]), t["cams"]
                assert t["stats"][0] == "2"
                cams, cpu = t["meters"]
                assert cams == ("2/32 camera" if lang == "vi" else "2/32 cameras")
                assert re.fullmatch(r"\d{1,3},\d %" if lang == "vi" else r"\d{1,3}\.\d%", cpu), cpu
            assert tb["rooms"] == [ROOM_NAME] and ta["rooms"] == []
            assert ("Máy đang mở trang này" if lang == "vi" else "The server this page comes from") in ta["text"]
            summary = await page.locator("#nodes-summary").inner_text()
            totals = await page.locator("#nodes-totals").inner_text()
            if lang == "vi":
                assert summary == "Máy chủ đang hoạt động: 2"
                assert totals == "Camera đang ghi: 4 · phòng họp: 1 · điểm cầu đang kết nối: 1"
                words = await page.locator(".nodes-page").inner_text()
                leaks = ENGLISH.findall(re.sub(r"node-[ab]|http://\S+", "", words))
                assert not leaks, f"English on the Vietnamese page: {leaks}"
            else:
                assert summary == "Servers running: 2"
                assert totals == "Cameras recording: 4 · meeting rooms: 1 · sites connected: 1"
            for view in (DESKTOP, PHONE):
                await page.set_viewport_size(view)
                await no_overflow(page, f"nodes {lang} {view['width']}")
                await page.screenshot(path=str(ARTIFACTS / f"console-nodes-{lang}-{view['width']}.png"),
                                      full_page=True)
            await page.set_viewport_size(DESKTOP)
            await page.click("#lang-toggle")  # en next, then back to vi

        # Node b freezes: its heartbeat and its room renewals stop (its fence stops its cameras, as a process
        # cut off from the index does); after the lease TTL node a takes its cameras over.
        beat = next(t for t in asyncio.all_tasks() if t.get_name() == "cluster-beat-node-b")
        beat.cancel()
        await b.api.app[ROOM_PLACEMENT_KEY].stop()
        await settle(a, b, (4, 0), "node a recording node b's cameras")
        frozen = await a.api.app[CLUSTER_KEY].node_repo.get("node-b")
        assert frozen is not None
        last = frozen.heartbeat_at
        tb = await shows(page, "node-b", lambda t: t["dead"] and not t["cams"] and not t["rooms"])
        assert tb["badge"] == "Mất kết nối"
        assert f"Mất tín hiệu từ {vn_time(last, 'vi')}" in tb["text"], tb["text"]
        assert "Các camera của máy này đã chuyển sang máy khác." in tb["text"]
        assert "Không còn phòng họp nào chạy trên máy này." in tb["text"]
        assert tb["stats"] == ["2", "1", "1"]  # what it ran at its last report
        ta = await shows(page, "node-a", lambda t: len(t["cams"]) == 4)
        assert [n for _, _, n in ta["cams"]] == [CAMERAS[c] for c in sorted(CAMERAS)]
        assert await page.locator("#nodes-grid [data-node]").evaluate_all("ts => ts.map((t) => t.dataset.node)") \
            == ["node-b", "node-a"]  # the lost node first
        assert await page.locator("#nodes-summary").inner_text() == "Máy chủ đang hoạt động: 1 · mất kết nối: 1"
        for view in (PHONE, DESKTOP):
            await page.set_viewport_size(view)
            await no_overflow(page, f"nodes with one lost, vi {view['width']}")
        await page.screenshot(path=str(ARTIFACTS / "console-nodes-lost-vi-1366.png"), full_page=True)
        await page.click("#lang-toggle")
        tb = await shows(page, "node-b", lambda t: t["badge"] == "Not responding")
        assert f"No heartbeat since {vn_time(last, 'en')}" in tb["text"], tb["text"]
        # An operator (who runs the meetings, and whom the API lets read the list) sees the page too.
        await page.click("#logout")
        await console_login(page, "#/nodes", "operator-user", STRONG_PASSWORD)
        await page.locator("#user-info[data-role='operator']").wait_for()
        nav = await page.locator("#nav .nav-link").evaluate_all("ls => ls.map((l) => l.dataset.section)")
        assert "nodes" in nav
        await page.locator("#nodes-grid").wait_for()
        await shows(page, "node-a", lambda t: "node-a" in t["text"])
        assert page.errors == []
