"""The console's Recordings page in a real Chromium, driven by Playwright, against the real app.

A security user opens one camera's day (Vietnamese by default): the 24 h timeline must be drawn from the
timeline API — footage, the outage in red, motion, one marker per event — and the day's events listed newest
first with their thumbnails (real JPEGs served by the API). Clicking the timeline plays real recorded
segments (fMP4 written like the recorder's) from that moment in the page's <video>; the event filters and
"load more" page through the search API; the export panel runs a real export to its SHA-256. Screenshots go
to tests/artifacts. Uses Debian's /usr/bin/chromium: no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import CONFIG_KEY, STORE_KEY
from mediaserver.storage import Store
from mediaserver.storage.repos import Segment
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, until
from tests.conftest import STRONG_PASSWORD, Api
from tests.media_fixtures import SegmentFixture

pytestmark = pytest.mark.slow

USER = "bao-ve"
CAMERA, CAMERA_NAME = "cong-chinh", "Cổng chính"
OTHER, OTHER_NAME = "nha-xe", "Nhà xe"
DAY = "2026-01-05"
ZONES = ("cong", "san", "hang-rao")
EVENTS = 30
PLAY_AT = (8, 15, 0)  # local time of the real, playable footage (one minute of 2 s segments)
CANVAS_COLOURS_JS = """() => {
  const c = document.querySelector('#rec-timeline canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const n = {orange: 0, red: 0, blue: 0};
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if (r > 220 && g > 120 && g < 160 && b < 40) n.orange += 1;
    else if (r > 200 && g < 80 && b < 70) n.red += 1;
    else if (b > 200 && r < 140 && g > 140 && g < 190) n.blue += 1;
  }
  return {w: c.width, h: c.height, ...n};
}"""


def jpeg(seed: int) -> bytes:
    """Return a small real JPEG (a coloured block on a dark yard) made with PyAV's MJPEG encoder."""
    rng = np.random.default_rng(seed)
    img = np.full((180, 320, 3), (38, 48, 60), dtype=np.uint8)
    img[120:, :] = (70, 78, 64)
    x, y = int(rng.integers(20, 260)), int(rng.integers(40, 120))
    img[y:y + 50, x:x + 36] = rng.integers(120, 255, 3, dtype=np.uint8)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 180, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
    packets = codec.encode(frame) + codec.encode(None)
    return bytes(packets[0])


async def fill_day(api: Api) -> dict[str, Any]:
    """Index one day of a camera: footage with an outage and a hole, motion, events with thumbnails."""
    store: Store = api.app[STORE_KEY]
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    tz = ZoneInfo(api.app[CONFIG_KEY].timezone)
    day0 = datetime.fromisoformat(DAY).replace(tzinfo=tz).timestamp()
    at = lambda hh, mm, ss=0.0: day0 + hh * 3600 + mm * 60 + ss  # noqa: E731
    for cam, name in ((CAMERA, CAMERA_NAME), (OTHER, OTHER_NAME)):
        await store.cameras.upsert(cam, name, "api")
    # Index-only footage (1 min rows) 06:00–08:10 and 08:20–12:00, 12:40–18:00; outage 12:00–12:30.
    minutes = [*range(6 * 60, 8 * 60 + 10), *range(8 * 60 + 20, 12 * 60), *range(12 * 60 + 40, 18 * 60)]
    for m in minutes:
        s = day0 + m * 60
        motion = 0.35 if 9 * 60 <= m < 9 * 60 + 20 or 15 * 60 <= m < 15 * 60 + 5 else 0.0
        await store.segments.add(Segment(0, CAMERA, "main", None, None, f"recordings/{CAMERA}/idx/{m}.mp4", s, s + 60,
                                         1000, 1, motion, gap_before=m == 12 * 60 + 40))
    outage = await store.cameras.open_outage(CAMERA, "camera unreachable", at=at(12, 0))
    await store.cameras.close_outage(outage, at=at(12, 30))
    # Real footage 08:15–08:16 that the browser plays.
    fixture = SegmentFixture(store, data_dir, CAMERA, start_at=at(*PLAY_AT), segment_s=2.0)
    try:
        await fixture.write(30)
    finally:
        fixture.close()
    events: list[dict[str, Any]] = []
    for i in range(EVENTS):
        start = at(6, 30) + i * 1000.0 + (i % 7) * 13.0
        duration = (4.0, 12.0, 45.0, 90.0)[i % 4]
        zones = [ZONES[i % 3]] if i % 4 else [ZONES[i % 3], ZONES[(i + 1) % 3]]
        score = round(0.2 + 0.75 * ((i * 37) % 100) / 100, 2)
        eid = await store.events.add(CAMERA, start, start + duration, score, zones)
        rel = f"thumbnails/{CAMERA}/{eid}.jpg"
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_bytes(jpeg(i))
        await store.events.update(eid, thumbnail_path=rel)
        events.append({"id": eid, "start": start, "duration": duration, "score": score, "zones": zones})
    await store.events.add(OTHER, at(9, 0), at(9, 1), 0.9, ["cong"])  # another camera's: never listed here
    return {"day0": day0, "at": at, "events": events}


async def login(page: Any, hash_: str) -> None:
    """Open a console deep link and log in as the security user (the link is followed after login)."""
    await page.goto(f"/{hash_}")
    await page.fill("#username", USER)
    await page.fill("#password", STRONG_PASSWORD)
    await page.locator("#login-form").evaluate("f => f.requestSubmit()")


async def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top of a full-page shot
    await page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


@pytest.mark.timeout(120)
async def test_the_recordings_page_shows_the_day_plays_it_and_exports(api: Api) -> None:
    day = await fill_day(api)
    at = day["at"]
    await api.add_user(USER, "security")
    base = str(api.client.make_url("")).rstrip("/")
    log: list[str] = []
    playback_requests: list[dict[str, Any]] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, base_url=base,
                                            accept_downloads=True, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
            page = await ctx.new_page()
            page.on("console", lambda m: log.append(f"{m.type}: {m.text} @ {m.location.get('url', '')}"))
            page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
            page.on("request", lambda r: playback_requests.append(r.post_data_json)
                    if r.method == "POST" and r.url.endswith(f"/cameras/{CAMERA}/playback") else None)
            await login(page, f"#/recordings?camera={CAMERA}&date={DAY}")

            # Vietnamese by default: the section, the legend, the events heading.
            await page.locator("#rec-timeline[data-state='ready']").wait_for(timeout=15_000)
            assert await page.evaluate("document.documentElement.lang") == "vi"
            assert (await page.locator("#nav .nav-link.active").inner_text()).strip() == "Ghi hình"
            assert "Camera mất kết nối" in await page.locator(".tl-legend").inner_text()
            assert "Sự kiện chuyển động" in await page.locator(".rec-events-head").inner_text()
            assert await page.locator("#rec-camera").input_value() == CAMERA
            assert await page.locator("#rec-date").input_value() == "/".join(reversed(DAY.split("-")))

            # The timeline: one marker per event, footage in blue, motion in orange, the outage in red.
            assert await page.locator("#rec-timeline .tl-event").count() == EVENTS
            colours = await page.evaluate(CANVAS_COLOURS_JS)
            assert colours["blue"] > 1000 and colours["orange"] > 50 and colours["red"] > 100, colours
            summary = await page.locator("#rec-summary").inner_text()
            assert f"{EVENTS} sự kiện" in summary and "1 lần mất kết nối" in summary, summary

            # The event list: newest first, a page of 24, every thumbnail a decoded picture.
            cards = page.locator("#rec-events .ev-card")
            await until(lambda: _eq(cards.count(), 24), "the first page of events")
            newest_first = sorted(day["events"], key=lambda e: e["start"], reverse=True)
            ids = [int(x) for x in await cards.evaluate_all("cs => cs.map(c => c.dataset.eventId)")]
            assert ids == [e["id"] for e in newest_first[:24]]
            await until(lambda: page.evaluate(
                "() => [...document.querySelectorAll('#rec-events .ev-card img')]"
                ".every(i => i.complete && i.naturalWidth === 320)"), "every thumbnail to load")
            await page.locator("#rec-more").click()
            await until(lambda: _eq(cards.count(), EVENTS), "the second page of events")
            assert await page.locator("#rec-more").is_hidden()
            # Percentages in vi-VN: "45 %", "3,8 %" (i18n.js num/pct), never "45%" or "3.8%".
            shares = await page.locator("#rec-events .ev-line .muted").all_inner_texts()
            assert shares and all(re.fullmatch(r"\d+(,\d)? %", x) for x in shares), shares
            assert "≥ 40 %" in await page.locator("#rec-min-score").inner_text()
            await shoot(page, "recordings-vi.png")

            # Filters go to the search API: events of at least 30 s over 40 % of the picture, then one zone.
            await page.select_option("#rec-min-dur", "30")
            await page.select_option("#rec-min-score", "0.4")
            want = [e["id"] for e in newest_first if e["duration"] >= 30 and e["score"] >= 0.4]
            assert 0 < len(want) < 24
            await until(lambda: _ids_are(cards, want), "the events filtered by duration and score")
            await page.select_option("#rec-zone", "san")
            want = [e["id"] for e in newest_first if e["duration"] >= 30 and e["score"] >= 0.4 and "san" in e["zones"]]
            assert 0 < len(want) < 10
            await until(lambda: _ids_are(cards, want), "the events of one zone")
            for select in ("#rec-min-dur", "#rec-min-score", "#rec-zone"):
                await page.select_option(select, index=0)
            await until(lambda: _eq(cards.count(), 24), "the unfiltered events")

            # Hovering a marker shows its thumbnail; clicking the timeline plays real footage from there.
            await page.locator("#rec-timeline .tl-event").first.hover()
            await page.locator("#rec-timeline .tl-pop img").wait_for(timeout=5_000)
            box = await page.locator("#rec-timeline canvas").bounding_box()
            assert box is not None
            target = at(*PLAY_AT) + 20
            x = box["x"] + box["width"] * (target - day["day0"]) / 86400
            await page.mouse.click(x, box["y"] + box["height"] / 2)
            await until(lambda: _true(bool(playback_requests)), "a playback request", wait_s=10)
            asked = playback_requests[0]["start"]
            assert abs(asked - target) < 86400 / box["width"] * 2, (asked, target)  # two pixels of the bar
            video = page.locator("#rec-video")
            await until(lambda: video.evaluate("v => v.currentTime > 1 && !v.paused && v.videoWidth === 320"),
                        "the footage to play", wait_s=20)
            playhead = await page.evaluate("() => window.__rec.playhead")
            assert asked - 2 <= playhead <= asked + 30
            assert await page.locator("#rec-timeline .tl-playhead").is_visible()
            assert "Đang phát" in await page.locator("#rec-now").inner_text()
            await shoot(page, "recordings-playing.png")

            # Clicking an event card selects it, fills the export range, and asks for footage before it.
            first = newest_first[0]
            await page.locator(f"#rec-events .ev-card[data-event-id='{first['id']}']").click()
            await until(lambda: _true(len(playback_requests) >= 2), "the event's playback request", wait_s=10)
            assert playback_requests[-1]["start"] >= first["start"] - 3 - 0.01
            assert await page.locator(f".tl-event.selected[data-event-id='{first['id']}']").count() == 1
            assert await page.locator("#rec-exp-from").input_value() != ""
            # Its minutes are indexed without files here: the page says there is no footage to play.
            await page.locator("#rec-note", has_text="Không có ghi hình lúc").wait_for(timeout=10_000)
            assert await video.evaluate("v => v.paused")
            assert "Đang phát" not in await page.locator("#rec-now").inner_text()

            # Export the playable minute: progress, then the SHA-256 and a download of that very file.
            await page.fill("#rec-exp-from", "08:15:10")
            await page.fill("#rec-exp-to", "08:15:40")
            await page.fill("#rec-exp-reason", "Kiểm tra xuất video")
            await page.locator("#rec-exp-submit").click()
            sha = page.locator("#rec-exp-sha256")
            await sha.wait_for(timeout=30_000)
            digest = (await sha.inner_text()).strip()
            assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
            done = await page.locator("#rec-exp-status .exp-done").inner_text()
            assert re.search(r"\(\d+,\d (KB|MB)\)", done), done  # vi-VN sizes: "8,8 MB"
            async with page.expect_download() as got:
                await page.locator("#rec-exp-download").click()
            download = await got.value
            path = await download.path()
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
            await shoot(page, "recordings-export.png")

            # The exports page lists it with its hold, and downloads the same file.
            await page.locator("#nav .nav-link[data-section='exports']").click()
            row = page.locator("#exports-table tr[data-status='done']")
            await row.wait_for(timeout=5_000)
            assert await row.count() == 1 and "Đang lưu giữ" in await row.inner_text()
            async with page.expect_download() as got:
                await row.locator(".exp-download").click()
            assert hashlib.sha256((await (await got.value).path()).read_bytes()).hexdigest() == digest
            await page.locator("#nav .nav-link[data-section='recordings']").click()
            await page.locator("#rec-timeline[data-state='ready']").wait_for(timeout=10_000)

            # English on the toggle: the same page, the same state.
            await page.locator("#lang-toggle").click()
            await page.locator("#nav .nav-link.active", has_text="Recordings").wait_for(timeout=5_000)
            assert "Motion events" in await page.locator(".rec-events-head").inner_text()
            assert await page.locator("#rec-timeline .tl-event").count() == EVENTS

            # Logging out forgets the day, the player and the export: the next user of the tab sees none of it.
            await page.locator("#logout").click()
            await page.locator("#login-form").wait_for(timeout=5_000)
            assert await page.evaluate(
                "() => [window.__rec.timeline, window.__rec.exp, window.__rec.playing, window.__rec.events.length,"
                " window.__rec.video.getAttribute('src')]") == [None, None, None, 0, None]

            # The event without footage files is the one failed load.
            expected = f"status of 404 (Not Found) @ {base}/api/v1/cameras/{CAMERA}/playback"
            errors = [m for m in log if m.startswith(("pageerror:", "error:")) and not m.endswith(expected)]
            assert not errors, errors
        finally:
            await browser.close()


async def _eq(got: Any, want: int) -> bool:
    return bool(await got == want)


async def _true(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def _ids_are(cards: Any, want: list[int]) -> bool:
    got = [int(x) for x in await cards.evaluate_all("cs => cs.map(c => c.dataset.eventId)")]
    return got == want
