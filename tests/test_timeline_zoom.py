"""The recordings timeline zooms (24 h → 1 h → 10 min) in a real Chromium at a phone's 390×844, against the real app.

The wheel zooms at the pointer (the moment under it stays there), the buttons zoom and pan; at 10 min the timeline
shows exactly the motion events of that span (markers and the span's list, from the real index) and its minute
labels; at every level the hour/minute labels stay inside the timeline without touching, and the page never
scrolls sideways. Vietnamese first, English on the toggle.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pytest

from mediaserver.app_keys import STORE_KEY
from tests.browser import ARTIFACTS, console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, Api
from tests.test_recordings_ui import CAMERA, DAY, USER, fill_day

pytestmark = pytest.mark.slow
# Review items (objects seen) join the span's events once the review API exists (helper R's part lands separately).
HAS_REVIEW = importlib.util.find_spec("mediaserver.api.review") is not None

LABELS_JS = """() => {
  const tl = document.getElementById('rec-timeline').getBoundingClientRect();
  const spans = [...document.querySelectorAll('#rec-ticks span')];
  const boxes = spans.map((s) => s.getBoundingClientRect());
  return {
    labels: spans.map((s) => s.textContent), boxes: boxes.map((r) => [Math.round(r.left), Math.round(r.right)]),
    tl: [Math.round(tl.left), Math.round(tl.right)],
    touching: boxes.some((r, i) => i > 0 && r.left < boxes[i - 1].right + 2),
    outside: boxes.some((r) => r.left < tl.left - 1 || r.right > tl.right + 1),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
}"""


async def _labels(page: Any) -> dict[str, Any]:
    got: dict[str, Any] = await page.evaluate(LABELS_JS)
    assert not got["touching"] and not got["outside"], got
    assert got["overflow"] <= 0, got
    return got


async def _view(page: Any) -> list[float]:
    return list(await page.evaluate("() => window.__rec.view"))


@pytest.mark.timeout(90)
async def test_the_timeline_zooms_to_ten_minutes_with_that_spans_events_on_a_phone(api: Api) -> None:
    day = await fill_day(api)
    at = day["at"]
    store = api.app[STORE_KEY]
    target = day["events"][5]  # 07:54 or so; its neighbours in fill_day are 1000 s away
    t0 = target["start"]
    extra = [await store.events.add(CAMERA, t0 + dt, t0 + dt + 8.0, 0.3, ["cong"]) for dt in (70.0, 190.0, 520.0)]
    # Objects seen in two of those events: a person in the span, a car outside it.
    seen_at = ((extra[0], 70.0, "alert", "person"), (extra[2], 520.0, "detection", "car"))
    objects = [await store.review.upsert(eid, CAMERA, kind=kind, labels=[label], top_score=0.8, zones=["cong"],
                                         boxes=[], start_at=t0 + dt, end_at=t0 + dt + 8.0)
               for eid, dt, kind, label in seen_at]
    await api.add_user(USER, "security")
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=390, height=844, has_touch=True) as page:
        await console_login(page, f"#/recordings?camera={CAMERA}&date={DAY}", USER, STRONG_PASSWORD)
        await page.locator("#rec-timeline[data-state='ready']").wait_for(timeout=15_000)

        # The whole day: hour labels that fit 390 px, every event marked.
        whole = await _labels(page)
        assert len(whole["labels"]) >= 3 and all(lbl.endswith(":00") for lbl in whole["labels"]), whole
        assert await page.locator("#rec-timeline .tl-event").count() == len(day["events"]) + len(extra)
        assert [await b.inner_text() for b in await page.locator("#rec-zoom .tl-zoom-level").all()] == \
            ["24 giờ", "1 giờ", "10 phút"]
        assert "sự kiện chuyển động" in await page.locator("#rec-span-summary").inner_text()

        # Two wheel steps over the event: 1 h, then 10 min, the event staying under the pointer.
        box = await page.locator("#rec-timeline canvas").bounding_box()
        assert box is not None
        x = box["x"] + box["width"] * (t0 - day["day0"]) / 86400
        await page.mouse.move(x, box["y"] + box["height"] / 2)
        await page.mouse.wheel(0, -120)
        await until(lambda: _zoom_is(page, 3600), "the 1 h zoom")
        await asyncio.sleep(0.3)  # one level per wheel gesture: the next one comes after the pause
        await page.mouse.wheel(0, -120)
        await until(lambda: _zoom_is(page, 600), "the 10 min zoom")
        start, end = await _view(page)
        assert end - start == pytest.approx(600) and start < t0 < end
        under = start + (x - box["x"]) / box["width"] * 600
        assert abs(under - t0) < 600 / box["width"] * 3  # within three pixels of where it was
        assert await page.locator("#rec-zoom [data-zoom='600']").get_attribute("aria-pressed") == "true"

        # Exactly the events of the span: markers and the span's list.
        rows = [(e["id"], e["start"], e["start"] + e["duration"]) for e in day["events"]]
        rows += [(eid, t0 + dt, t0 + dt + 8.0) for eid, dt in zip(extra, (70.0, 190.0, 520.0), strict=True)]
        want = sorted(eid for eid, a, b in rows if a <= end and b >= start)
        assert target["id"] in want and extra[0] in want and len(want) >= 2
        shown = sorted(int(v) for v in await page.locator("#rec-timeline .tl-event").evaluate_all(
            "ms => ms.map(m => m.dataset.eventId)"))
        assert shown == want
        listed = sorted(int(v) for v in await page.locator("#rec-span-events .span-ev.motion").evaluate_all(
            "bs => bs.map(b => b.dataset.eventId)"))
        assert listed == want
        in_span = [oid for oid, (_, dt, _, _) in zip(objects, seen_at, strict=True) if start <= t0 + dt <= end]
        if HAS_REVIEW:  # the person seen in the span, named in Vietnamese; a car outside it is not shown
            assert objects[0] in in_span
            await page.locator(f"#rec-timeline .tl-obj[data-review-id='{objects[0]}']").wait_for(timeout=5_000)
            assert sorted(int(v) for v in await page.locator("#rec-timeline .tl-obj").evaluate_all(
                "ms => ms.map(m => m.dataset.reviewId)")) == sorted(in_span)
            seen = page.locator(f"#rec-span-events .span-ev.object[data-review-id='{objects[0]}']")
            assert "Người" in await seen.inner_text() and "cong" in await seen.inner_text()
            assert await page.locator("#rec-span-events .span-ev.object").count() == len(in_span)
        minutes = await _labels(page)
        assert len(minutes["labels"]) >= 3 and not all(lbl.endswith(":00") for lbl in minutes["labels"])
        summary = await page.locator("#rec-span-summary").inner_text()
        assert f"{len(want)} sự kiện chuyển động" in summary, summary
        assert f"{len(in_span) if HAS_REVIEW else 0} lần phát hiện đối tượng" in summary, summary
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "timeline-zoom-10min-390.png"), full_page=True)

        # Pan half a span later; back to the day with the button, then 1 h by button around the middle.
        await page.locator("#rec-pan-fwd").click()
        moved = await _view(page)
        assert moved[0] == pytest.approx(start + 300)
        await page.locator("#rec-zoom [data-zoom='86400']").click()
        assert await _view(page) == [at(0, 0), at(0, 0) + 86400]

        # Two fingers spreading over the timeline zoom in one level (touch events, as a phone sends them).
        cdp = await page.context.new_cdp_session(page)
        box = await page.locator("#rec-timeline canvas").bounding_box()  # the page may have scrolled since
        assert box is not None
        x = box["x"] + box["width"] * (t0 - day["day0"]) / 86400
        y = box["y"] + box["height"] / 2
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [
            {"x": x - 20, "y": y, "id": 1}, {"x": x + 20, "y": y, "id": 2}]})
        for spread in (30, 35):  # 40 → 60 px apart: one level (a longer spread goes on to the next)
            await cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
                {"x": x - spread, "y": y, "id": 1}, {"x": x + spread, "y": y, "id": 2}]})
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        await until(lambda: _zoom_is(page, 3600), "the pinch to zoom to 1 h")
        pinched = await _view(page)
        assert pinched[0] < t0 < pinched[1]
        assert await page.evaluate("() => window.__rec.range") is None  # a pinch selects nothing to export
        await page.locator("#rec-zoom [data-zoom='86400']").click()
        await page.locator("#rec-zoom [data-zoom='3600']").click()
        one = await _view(page)
        assert one[1] - one[0] == pytest.approx(3600)
        await _labels(page)

        # English on the toggle.
        await page.locator("#lang-toggle").click()
        await page.locator("#rec-zoom [data-zoom='600']", has_text="10 min").wait_for(timeout=5_000)
        assert page.errors == []


async def _zoom_is(page: Any, level: int) -> bool:
    return bool(await page.evaluate(f"() => window.__rec.zoom === {level}"))
