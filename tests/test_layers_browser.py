"""Two camera layers in real Chromium: grid tiles get the thumbnail, the picture people look at gets HD, and a
subscriber whose link is capped falls to the thumbnail and climbs back to HD once the cap is lifted.

Chromium's fake camera (1280x720) publishes "video" (HD) and "thumb" (scaled to 320 wide); an aiortc site
publishes pre-encoded 640x360 and 320x180 layers. Sizes are read from each page's ``getStats()``
(``frameWidth`` of every inbound video stream, by slot). The cap is a token bucket on the UDP the server sends
to one site (tests/netshape.py), so that site's browser reports real loss.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bridges.layers import PROBE_AFTER_S
from mediaserver.app_keys import CONFERENCE_KEY
from tests.browser import inbound_video, until
from tests.conf_peer import SitePeer, encode_video
from tests.netshape import LinkCap
from tests.test_browser import AIORTC_SITE, COMMUNE, HOST, ROOM, Pages, browser, pages  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

THUMB_MAX_W = 352  # the thumbnail: 320 wide (an encoder may round up)
HD_MIN_W = 480  # the high layer, whatever the encoder's adaptation has made of 1280 (or the peer's 640)



async def _async(value: bool) -> bool:
    return value


async def width_of(page: Any, slot: str) -> int:
    return int((await inbound_video(page)).get(slot, {}).get("w", 0))


async def settles(page: Any, slot: str, ok: Any, what: str, wait_s: float) -> float:
    """Wait until a slot's decoded width satisfies ``ok`` and frames keep decoding; return when it did."""
    async def check() -> bool:
        before = (await inbound_video(page)).get(slot, {})
        if not before or not ok(before["w"]):
            return False
        await asyncio.sleep(0.6)
        after = (await inbound_video(page)).get(slot, {})
        return bool(after) and ok(after["w"]) and after["decoded"] > before["decoded"]

    try:
        await until(check, what, wait_s=wait_s, every_s=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; inbound={await inbound_video(page)}") from None
    return time.monotonic()


async def test_grid_gets_thumbnails_the_main_view_hd_and_a_capped_link_adapts(pages: Pages) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as http:
        peer = SitePeer(http, pages.base, ROOM, await pages.token(AIORTC_SITE), loud=True,
                        video=encode_video("vp8", 50, 5, size=(640, 360), bitrate=400_000),
                        thumb=encode_video("vp8", 50, 6, size=(320, 180), bitrate=100_000))
        try:
            host = await pages.open(HOST, await pages.token(HOST))
            commune = await pages.open(COMMUNE, await pages.token(COMMUNE))
            await peer.join()
            for page, who in ((host, HOST), (commune, COMMUNE)):
                await until(lambda page=page: page.evaluate("() => window.__conf.state === 'connected'"),
                            f"{who}'s page to connect")
            room = pages.api.app[CONFERENCE_KEY].live(ROOM)
            assert room is not None

            # The chair's grid: the loud aiortc site is speaking, so it is the spotlight (HD, 2×2); the
            # commune's tile is a thumbnail.
            await settles(host, f"site:{AIORTC_SITE}", lambda w: w == 640, "the speaker's tile in HD", 25)
            await settles(host, f"site:{COMMUNE}", lambda w: 0 < w <= THUMB_MAX_W, "the commune's tile as a "
                          "thumbnail", 25)
            spot = host.locator(f'#grid .tile[data-slot="site:{AIORTC_SITE}"]')
            assert "spot" in (await spot.get_attribute("class") or "")
            box, small = await spot.bounding_box(), await host.locator(
                f'#grid .tile[data-slot="site:{COMMUNE}"]').bounding_box()
            assert box and small and box["width"] > 1.8 * small["width"], (box, small)

            # Pinned, the commune becomes the chair's main view: its HD layer; the aiortc site a thumbnail.
            room.pin(COMMUNE)
            await settles(host, f"site:{COMMUNE}", lambda w: w >= HD_MIN_W, "the pinned commune in HD", 25)
            await settles(host, f"site:{AIORTC_SITE}", lambda w: w == 320, "the unpinned site as a thumbnail", 25)

            # The commune sees the chair and the speaker slot (the aiortc site) in HD.
            await settles(commune, "host", lambda w: w >= HD_MIN_W, "the commune's host slot in HD", 25)
            await settles(commune, "speaker", lambda w: w == 640, "the commune's speaker slot in HD", 25)

            # Cap what the server sends the commune below HD: it falls to thumbnails, then climbs back.
            session = room.sessions[COMMUNE]
            cap = LinkCap(session.pc, 600_000)
            capped = time.monotonic()
            op = pages.api.auth(await pages.api.token_for("operator"))
            await until(lambda: _async(session.layer.layer.value == "low"), "the server to choose thumbnails", 20)
            # The chair's monitoring (GET …/live) says which layer the commune receives, and why (read at once:
            # the first probe of HD comes PROBE_AFTER_S later).
            live = await (await pages.api.client.get(f"/api/v1/rooms/{ROOM}/live", headers=op)).json()
            row = next(x for x in live["sites"] if x["site"] == COMMUNE)
            assert row["layer"] == "low" and row["layer_reason"] in ("loss", "bandwidth"), row
            assert row["thumb"] is True and row["remb_kbps"] and row["remb_kbps"] > 0, row
            down = await settles(commune, "host", lambda w: 0 < w <= THUMB_MAX_W,
                                 "the capped commune's host slot to fall to the thumbnail", 20)
            await settles(commune, "speaker", lambda w: w == 320, "its speaker slot as a thumbnail", 10)
            adapt_down_s = down - capped
            assert cap.dropped > 0
            cap.lift()
            lifted = time.monotonic()
            up = await settles(commune, "host", lambda w: w >= HD_MIN_W,
                               "the commune back in HD after the cap is lifted", PROBE_AFTER_S + 20)
            adapt_up_s = up - lifted
            assert session.layer.layer.value == "high"
            # The chair's grid was never disturbed by the commune's link.
            after = await inbound_video(host)
            assert after[f"site:{COMMUNE}"]["w"] >= HD_MIN_W
            print(f"adapt: down {adapt_down_s:.1f} s, up {adapt_up_s:.1f} s "
                  f"(dropped {cap.dropped} of {cap.dropped + cap.sent} datagrams)")
            # How fast is the benchmark's figure (adapt_s, make bench-conference); here only that it adapts.
            pages.assert_no_script_errors()
        finally:
            await peer.close()
