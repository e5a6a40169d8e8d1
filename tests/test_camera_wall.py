"""The console's camera wall in a real Chromium, driven by Playwright, against the real app.

Four cameras are fed pre-encoded H.264 (one with a main stream too) and a fifth has no stream yet. A security
user logs in through the console; every live tile must decode its sub stream over WebRTC, the fifth must say
in Vietnamese that it is disconnected and then come live by itself once its stream starts, a click must open
the main stream, and leaving (logout) must close every view on the server. Uses Debian's /usr/bin/chromium:
no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import CAMERAS_KEY, ENGINE_KEY, LIVE_VIEWS_KEY, STORE_KEY
from mediaserver.config import parse_config
from mediaserver.engine import Source
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, until
from tests.conf_peer import encode_video, feed_h264
from tests.conftest import STRONG_PASSWORD, Api

pytestmark = pytest.mark.slow


FPS = 25
CAMERAS = {"cong-chinh": "Cổng chính", "san-truong": "Sân trường", "hanh-lang-t2": "Hành lang tầng 2",
           "nha-xe": "Nhà xe"}
MAIN_CAMERA = "cong-chinh"
LATE_CAMERA, LATE_NAME = "thu-vien", "Thư viện"  # no stream at first: its tile must say so, then recover
USER = "bao-ve"
FAKE_JPEG = b"\xff\xd8\xff\xe0not-really-a-picture\xff\xd9"

# framesDecoded of the inbound video of a view ({pc, viewId, stream}), or -1 without a peer connection.
FRAMES_JS = """async (view) => {
  if (!view || !view.pc) return -1;
  let n = 0;
  (await view.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
  });
  return n;
}"""
TILE_FRAMES_JS = f"async (ids) => {{ const f = {FRAMES_JS}; const out = {{}};" \
    " for (const id of ids) out[id] = await f(window.__wall.views.get(id)); return out; }"
MAIN_FRAMES_JS = f"async () => ({FRAMES_JS})(window.__wall.main)"




async def rising(sample: Callable[[], Awaitable[dict[str, int]]], what: str) -> dict[str, int]:
    """Wait until every value is positive and grows between two samples 1 s apart."""
    last: dict[str, int] = {}

    async def grows() -> bool:
        nonlocal last
        first = await sample()
        await asyncio.sleep(1.0)
        last = await sample()
        return all(last[k] > v > 0 for k, v in first.items())

    try:
        await until(grows, what, every_s=0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; framesDecoded={last}") from None
    return last


@pytest.mark.timeout(120)
async def test_the_camera_wall_plays_every_camera_and_the_main_stream(api: Api) -> None:
    store, engine, views = api.app[STORE_KEY], api.app[ENGINE_KEY], api.app[LIVE_VIEWS_KEY]
    for cam_id, name in [*CAMERAS.items(), (LATE_CAMERA, LATE_NAME)]:
        await store.cameras.upsert(cam_id, name, "api")
    await api.add_user(USER, "security")
    stop = asyncio.Event()
    feeders: list[asyncio.Future[None]] = []

    def feed(source_id: str, seed: int) -> None:
        source = engine.add_source(Source(source_id, "video", "h264", 90_000, None))
        feeders.append(asyncio.ensure_future(feed_h264(source, encode_video("h264", 50, seed, gop=10), stop)))

    for seed, cam_id in enumerate(CAMERAS, start=11):
        feed(f"camera/{cam_id}/sub", seed)
    feed(f"camera/{MAIN_CAMERA}/main", 99)

    base = str(api.client.make_url("")).rstrip("/")
    log: list[str] = []
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)
                page = await ctx.new_page()
                page.on("console", lambda m: log.append(f"{m.type}: {m.text} @ {m.location.get('url', '')}"))
                page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
                await open_wall(page)
                tiles = page.locator("#camera-wall .cam-tile[data-camera-id]")
                assert await tiles.count() == len(CAMERAS) + 1
                assert await page.locator("#camera-wall .cam-tile video").count() == len(CAMERAS) + 1

                # The camera without a stream says so in Vietnamese, and keeps trying.
                late = page.locator(f".cam-tile[data-camera-id='{LATE_CAMERA}']")
                await late.and_(page.locator("[data-state='offline']")).wait_for(timeout=10_000)
                assert "Camera mất kết nối" in await late.inner_text()
                assert LATE_NAME in await late.inner_text()
                ARTIFACTS.mkdir(exist_ok=True)
                await late.screenshot(path=str(ARTIFACTS / "camera-offline-tile.png"))

                # Every streaming camera's tile decodes its sub stream.
                ids = list(CAMERAS)
                await rising(lambda: page.evaluate(TILE_FRAMES_JS, ids), "every tile to decode its sub stream")
                for cam_id in ids:
                    tile = page.locator(f".cam-tile[data-camera-id='{cam_id}']")
                    await tile.and_(page.locator("[data-state='live']")).wait_for(timeout=5_000)
                    assert await tile.locator("video").evaluate("v => [v.videoWidth, v.muted]") == [320, True]
                assert all(v.source.id.endswith("/sub") for v in views.views.values())

                # Its stream starts: the tile recovers by itself (retry every 5 s).
                feed(f"camera/{LATE_CAMERA}/sub", 42)
                await late.and_(page.locator("[data-state='live']")).wait_for(timeout=15_000)
                await rising(lambda: page.evaluate(TILE_FRAMES_JS, [LATE_CAMERA]), "the late camera to decode")

                await shoot(page, "camera-wall.png")

                # Switching the language re-renders the section around the same views: nothing reconnects.
                before = {v.id for v in views.views.values()}
                await page.locator("#lang-toggle").click()
                await page.locator("#wall-summary", has_text="5/5 cameras live").wait_for(timeout=5_000)
                await rising(lambda: page.evaluate(TILE_FRAMES_JS, ids), "the tiles to play on after a re-render")
                assert {v.id for v in views.views.values()} == before
                await page.locator("#lang-toggle").click()
                await page.locator("#wall-summary", has_text="5/5 camera đang phát trực tiếp").wait_for(timeout=5_000)

                # The PTZ and snapshot routes may not exist on this server yet: the page is shown an API that has
                # them (answered here), so the pad and the button can be driven; then the route "disappears".
                ptz_calls: list[Any] = []
                ptz_status = [200]

                async def with_ptz(route: Any) -> None:
                    doc = await (await route.fetch()).json()
                    doc["paths"].setdefault("/api/v1/cameras/{camera_id}/ptz", {"post": {}})
                    doc["paths"].setdefault("/api/v1/cameras/{camera_id}/snapshot", {"get": {}})
                    await route.fulfill(json=doc)

                async def ptz_route(route: Any) -> None:
                    ptz_calls.append(route.request.post_data_json)
                    body = {"ok": True} if ptz_status[0] == 200 else {"error": {"code": "not_found", "message": "no"}}
                    await route.fulfill(status=ptz_status[0], json=body)

                preset_calls: list[str] = []

                async def presets_route(route: Any) -> None:
                    # The camera's own presets (GetPresets through the API): the pad shows these, none made up.
                    preset_calls.append(f"{route.request.method} {route.request.url.split('/presets', 1)[1]}")
                    await route.fulfill(status=200, json={"items": [{"token": "2", "name": "Cổng trước"}]}
                                        if route.request.method == "GET" else {"ok": True})

                async def snapshot_route(route: Any) -> None:
                    await route.fulfill(status=200, body=FAKE_JPEG, content_type="image/jpeg")

                await page.route("**/api/openapi.json", with_ptz)
                await page.route("**/api/v1/cameras/*/ptz", ptz_route)
                await page.route("**/api/v1/cameras/*/snapshot", snapshot_route)
                await page.route("**/api/v1/cameras/*/presets**", presets_route)

                # A click opens the large view of the camera's main stream.
                await page.locator(f".cam-tile[data-camera-id='{MAIN_CAMERA}']").click()
                main = page.locator(f"#cam-main[data-camera-id='{MAIN_CAMERA}']")
                await main.locator("video").wait_for(timeout=5_000)
                await rising(lambda: _main(page), "the main view to decode")
                await main.and_(page.locator("[data-state='live']")).wait_for(timeout=5_000)
                assert sum(v.source.id == f"camera/{MAIN_CAMERA}/main" for v in views.views.values()) == 1
                # The PTZ pad: hold an arrow to move, release to stop; presets; zoom.
                ptz = page.locator("#ptz")
                await ptz.wait_for(state="visible", timeout=5_000)
                await shoot(page, "camera-main.png")
                await ptz.locator("[data-ptz='up']").hover()
                await page.mouse.down()
                await asyncio.sleep(0.3)
                await page.mouse.up()
                await ptz.locator(".ptz-preset[data-preset='2']", has_text="Cổng trước").click()
                await ptz.locator("[data-ptz='zoomIn']").hover()
                await page.mouse.down()
                await page.mouse.up()
                await until(lambda: _true(len(ptz_calls) >= 4), "four PTZ calls", wait_s=5)
                assert ptz_calls == [{"action": "move", "pan": 0, "tilt": 0.5, "zoom": 0}, {"action": "stop"},
                                     {"action": "move", "pan": 0, "tilt": 0, "zoom": 0.5}, {"action": "stop"}]
                assert preset_calls == ["GET ", "POST /2/goto"]
                # The snapshot button downloads the picture.
                async with page.expect_download() as got:
                    await page.locator("#cam-snapshot").click()
                download = await got.value
                assert download.suggested_filename.startswith(f"{MAIN_CAMERA}-")
                assert download.suggested_filename.endswith(".jpg")
                # Without a PTZ route (404), the pad goes away quietly.
                ptz_status[0] = 404
                await ptz.locator("[data-ptz='stop']").click()
                await ptz.wait_for(state="hidden", timeout=5_000)
                assert await page.locator("#cam-main-note").is_hidden()

                # Closing the large view closes its view on the server; logging out closes the rest.
                await page.locator("#cam-main-close").click()
                await main.wait_for(state="detached", timeout=5_000)
                await until(lambda: _count(views, "/main", 0), "the main view to be closed on the server", wait_s=5)
                assert await page.evaluate("() => window.__wall.main") is None

                # The wall goes full screen (Fullscreen API) with the chosen group's tiles.
                await page.locator("#wall-fullscreen").click()
                await page.wait_for_function("() => document.fullscreenElement?.id === 'camera-wall'", timeout=5_000)
                await page.evaluate("() => document.exitFullscreen()")
                await page.wait_for_function("() => !document.fullscreenElement", timeout=5_000)
                # (The live badges from the analyser's activity: test_the_wall_badges_show_what_the_analyser_sees.)
                # One click from a live tile to its recordings, one minute before now.
                clicked = time.time()
                await page.locator(f".cam-replay[data-camera-id='{MAIN_CAMERA}']").click()
                await page.locator("#rec-timeline").wait_for(timeout=5_000)
                assert await page.locator("#rec-camera").input_value() == MAIN_CAMERA
                assert abs(await page.evaluate("() => window.__rec.playhead") - (clicked - 60)) < 5
                # …on the timeline zoomed to its last 10 minutes.
                await page.wait_for_function("() => window.__rec.zoom === 600", timeout=5_000)
                start, end = await page.evaluate("() => window.__rec.view")
                assert start < clicked - 60 < end and end - start == 600
                # This camera has no footage in the test: the page says so for that moment.
                await page.locator("#rec-note", has_text="Không có ghi hình lúc").wait_for(timeout=5_000)
                await page.locator("#nav .nav-link[data-section='cameras']").click()
                await page.locator("#camera-wall").wait_for(timeout=5_000)
                await rising(lambda: page.evaluate(TILE_FRAMES_JS, ids), "the tiles to play again after the replay")
                await page.locator("#logout").click()
                await page.locator("#login-form").wait_for(timeout=5_000)
                await until(lambda: _count(views, "", 0), "every view to be closed on the server", wait_s=5)
                assert await page.evaluate("() => window.__wall.views.size") == 0

                # The late camera's 409 answers and the vanished PTZ route's 404 are the only failed loads.
                expected = ("status of 409 (Conflict) @ " + base + "/api/v1/cameras/" + LATE_CAMERA + "/views",
                            "status of 404 (Not Found) @ " + base + "/api/v1/cameras/" + MAIN_CAMERA + "/ptz")
                errors = [m for m in log if m.startswith(("pageerror:", "error:")) and not m.endswith(expected)]
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        stop.set()
        await asyncio.gather(*feeders)
        with contextlib.suppress(Exception):
            await views.stop()


async def _main(page: Any) -> dict[str, int]:
    return {"main": int(await page.evaluate(MAIN_FRAMES_JS))}


async def _count(views: Any, suffix: str, want: int) -> bool:
    return sum(v.source.id.endswith(suffix) for v in views.views.values()) == want


async def _true(value: bool) -> bool:
    return value


async def open_wall(page: Any) -> None:
    """Log in to the console as the security user and open the camera wall."""
    await page.goto("/")
    await page.fill("#username", USER)
    await page.fill("#password", STRONG_PASSWORD)
    await page.locator("#login-form").evaluate("f => f.requestSubmit()")
    await page.locator("#nav .nav-link[data-section='cameras']").click()
    await page.locator("#camera-wall").wait_for(timeout=10_000)


async def shoot(page: Any, name: str) -> None:
    shot = ARTIFACTS / name
    await page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


SIM_WALL_CONFIG = "cameras:\n" + "".join(
    f"  sim-{i}:\n    name: Camera mô phỏng {i}\n    simulate:\n      main_size: [320, 180]\n      main_fps: 10\n"
    f"      sub_size: [320, 180]\n      sub_fps: 10\n      objects: [{{start_s: 0, end_s: 20, size: 0.3}}]\n"
    f"      loop_s: 20\n"
    for i in range(1, 5)
) + ("  sim-h265:\n    name: Camera H.265\n    simulate:\n      main_size: [320, 180]\n      main_fps: 10\n"
     "      main_codec: h265\n      sub_size: [320, 180]\n      sub_fps: 10\n      sub_codec: h265\n")


@pytest.mark.timeout(120)
async def test_the_wall_plays_four_simulated_cameras_from_their_rtsp_servers(make_api: Any, tmp_path: Path) -> None:
    """Real parts end to end: 4 GStreamer RTSP servers → ONVIF onboarding → ingest → WebRTC → Chromium."""
    cfg = parse_config(SIM_WALL_CONFIG, env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    await api.add_user(USER, "security")
    ids = [f"sim-{i}" for i in range(1, 5)]
    manager = api.app[CAMERAS_KEY]

    async def all_online() -> bool:
        statuses = [manager.status(i) for i in ids]
        return all(s is not None and s["streams"].get("sub", {}).get("state") == "online" for s in statuses)

    await until(all_online, "the four simulated cameras to come online", wait_s=40)
    base = str(api.client.make_url("")).rstrip("/")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)
            page = await ctx.new_page()
            await open_wall(page)
            await rising(lambda: page.evaluate(TILE_FRAMES_JS, ids), "four simulated cameras to decode")
            # The H.265 camera: its tile says live view needs a transcode and offers it; once chosen, it plays.
            h265 = page.locator(".cam-tile[data-camera-id='sim-h265']")
            await h265.and_(page.locator("[data-state='transcode']")).wait_for(timeout=15_000)
            assert "H.265" in await h265.inner_text()
            await h265.screenshot(path=str(ARTIFACTS / "camera-h265-tile.png"))
            await h265.locator(".cam-transcode").click()
            await h265.and_(page.locator("[data-state='live']")).wait_for(timeout=15_000)
            await rising(lambda: page.evaluate(TILE_FRAMES_JS, ["sim-h265"]), "the transcoded H.265 tile to decode")
            assert list(manager.transcoders) == ["camera/sim-h265/sub"]
            await shoot(page, "camera-wall-simulated.png")
        finally:
            await browser.close()


@pytest.mark.timeout(90)
async def test_the_wall_badges_show_what_the_analyser_sees(api: Api) -> None:
    """A person walks past a camera: the real analyser and detector fill the list's activity; the tile shows it."""
    pytest.importorskip("skimage.data")
    from cameras.motion.analyser import MotionAnalysers
    from mediaserver.app_keys import MOTION_KEY
    from mediaserver.config import MotionSettings, ObjectSettings, RecordSettings
    from mediaserver.engine import EncodedFrame
    from tests.test_detect_wiring import FPS as CLIP_FPS
    from tests.test_detect_wiring import Feed, _clip

    store, analysers = api.app[STORE_KEY], api.app[MOTION_KEY]
    assert isinstance(analysers, MotionAnalysers)
    await store.cameras.upsert(MAIN_CAMERA, CAMERAS[MAIN_CAMERA], "api")
    await api.add_user(USER, "security")
    feed = Feed(api.app[ENGINE_KEY], MAIN_CAMERA)
    analyser = await analysers.analyse(MAIN_CAMERA, "sub", feed, MotionSettings(), RecordSettings(),
                                       objects=ObjectSettings())
    assert analyser is not None and analyser.objects is not None
    clip = await asyncio.to_thread(_clip)  # the cameraman photo crossing gravel, then gravel alone
    stop = asyncio.Event()

    async def play() -> None:
        """Loop the clip in real time (the badges are about the server's present), as a camera ingest would."""
        i, start = 0, time.monotonic()
        while not stop.is_set():
            data, key = clip[i % len(clip)]
            feed.source.publish(EncodedFrame([], i * 90_000 // CLIP_FPS, key, data=data, wall=time.time()))
            i += 1
            await asyncio.sleep(max(0.0, start + i / CLIP_FPS - time.monotonic()))

    player = asyncio.create_task(play())
    base = str(api.client.make_url("")).rstrip("/")
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base)
                page = await ctx.new_page()
                await open_wall(page)
                badges = page.locator(f".cam-tile[data-camera-id='{MAIN_CAMERA}'] .cam-badges")
                # The wall re-reads the list every 5 s; the person is "in view" for 5 s after each sighting.
                await badges.locator(".cam-badge[data-object='person']", has_text="Người").wait_for(timeout=40_000)
                await badges.locator(".cam-badge.motion", has_text="Chuyển động").wait_for(timeout=20_000)
                r = await api.client.get("/api/v1/cameras", headers=api.auth(await api.token_for("security")))
                seen = [c["activity"] for c in (await r.json())["items"] if c["id"] == MAIN_CAMERA]
                assert seen and set(seen[0]["objects"]) <= {"person"}, seen  # nothing else in the clip
                await shoot(page, "camera-wall-activity.png")
                # English and a phone's width: the same badges, nothing wider than the screen.
                await page.set_viewport_size({"width": 390, "height": 844})
                await page.locator("#lang-toggle").click()
                await badges.locator(".cam-badge[data-object='person']", has_text="Person").wait_for(timeout=20_000)
                assert await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
            finally:
                await browser.close()
    finally:
        stop.set()
        await player
