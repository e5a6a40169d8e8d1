"""Per-site conference numbers on /metrics: two real aiortc sites in a room, the gauges read at scrape time from
the live sessions (RTT, loss, bitrate, fps, reported resolution, media lost and the quality warnings)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mediaserver.app_keys import CONFERENCE_KEY, TOKENS_KEY
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import Api

ROOM = "hop-huyen"
HOST, A = "ubnd-huyen", "xa-an-binh"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def video() -> list[bytes]:
    return encode_video("vp8", 40, 1, gop=10)


async def until(cond: Callable[[], bool], what: str, wait_s: float = 10.0) -> None:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def scrape(api: Api, token: str) -> Samples:
    r = await api.client.get("/metrics", headers=api.auth(token))
    assert r.status == 200, await r.text()
    out: Samples = {}
    for family in text_string_to_metric_families(await r.text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def site(samples: Samples, name: str, site_id: str, **extra: str) -> float | None:
    return samples.get((name, tuple(sorted({"room": ROOM, "site": site_id, **extra}.items()))))


async def test_per_site_gauges_from_live_sessions(api: Api, video: list[bytes]) -> None:
    reader = await api.token_for("security")  # /metrics: admin, operator, security
    participant = (await api.app[TOKENS_KEY].issue_join(A, ROOM))[0]
    assert (await api.client.get("/metrics", headers=api.auth(participant))).status == 403
    base = str(api.client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        peers = [SitePeer(http, base, ROOM, (await api.app[TOKENS_KEY].issue_join(s, ROOM))[0], video=video)
                 for s in (HOST, A)]
        try:
            for p in peers:
                await p.join()
            a = peers[1]
            await a.send({"type": "stats", "width": 320, "height": 180, "fps": 25})
            room = api.app[CONFERENCE_KEY].live(ROOM)
            assert room is not None
            st = room.sessions[A].stats
            # The stats loop refreshes every 2 s; RTT needs RTCP receiver reports on what A is sent.
            await until(lambda: st.fps_in > 5 and st.bitrate_in_kbps > 10 and st.rtt_ms is not None
                        and st.width == 320, "A's stats", wait_s=12)

            samples = await scrape(api, reader)
            rtt = site(samples, "mediaserver_site_rtt_seconds", A)
            assert rtt is not None and 0 < rtt < 1.0, rtt
            loss = site(samples, "mediaserver_site_loss_ratio", A)
            assert loss is not None and 0 <= loss < 0.05, loss
            fps = site(samples, "mediaserver_site_fps", A)
            assert fps is not None and 10 < fps < 40, fps  # PacketTrack sends 25 frames a second
            bps_in = site(samples, "mediaserver_site_bitrate_bps", A, direction="in")
            bps_out = site(samples, "mediaserver_site_bitrate_bps", A, direction="out")
            assert bps_in is not None and bps_in > 10_000, bps_in
            assert bps_out is not None and bps_out > 10_000, bps_out  # the host's video, forwarded to A
            assert site(samples, "mediaserver_site_video_width_pixels", A) == 320
            assert site(samples, "mediaserver_site_video_height_pixels", A) == 180
            assert site(samples, "mediaserver_site_fps_sent", A) == 25
            assert site(samples, "mediaserver_site_media_lost", A) == 0
            assert site(samples, "mediaserver_site_media_lost", HOST) == 0
            assert site(samples, "mediaserver_site_fps", HOST) is not None
            assert not [k for k in samples if k[0] == "mediaserver_site_warning" and ("site", A) in k[1]]
            # The older kbps/percent/ms gauges stay, for dashboards that use them.
            assert site(samples, "mediaserver_site_bitrate_in_kbps", A) is not None

            # A's media stops (its peer connection closes, the signalling socket stays): lost within 3 s.
            assert a.pc is not None
            await a.pc.close()
            session = room.sessions[A]
            await until(lambda: session.media_lost, "A's media marked lost", wait_s=5)
            samples = await scrape(api, reader)
            assert site(samples, "mediaserver_site_media_lost", A) == 1
            assert site(samples, "mediaserver_site_warning", A, warning="media_lost") == 1
            assert site(samples, "mediaserver_site_media_lost", HOST) == 0
        finally:
            await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    # Nothing is kept once the room is gone: gauges are computed from the live rooms at scrape time.
    conference = api.app[CONFERENCE_KEY]
    await until(lambda: ROOM not in conference.rooms or not conference.rooms[ROOM].sessions, "the sites gone")
    samples = await scrape(api, reader)
    assert site(samples, "mediaserver_site_fps", A) is None
