"""The conference bridge with real aiortc peers through the real signalling WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from mediaserver.app_keys import CONFERENCE_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.storage.repos import Room
from tests.conf_peer import SitePeer, encode_video, frames_match
from tests.conftest import Api, FakeClock

pytestmark = pytest.mark.slow

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
GOP = 10


@pytest.fixture(scope="module")
def streams() -> dict[str, dict[int, list[bytes]]]:
    """Pre-encoded test video per codec and seed (encoded once for the module)."""
    return {codec: {seed: encode_video(codec, 40, seed, gop=GOP) for seed in range(1, 5)} for codec in ("vp8", "h264")}


class Meeting:
    def __init__(self, api: Api, http: aiohttp.ClientSession) -> None:
        self.api, self.http = api, http
        self.base = str(api.client.make_url("")).rstrip("/")
        self.peers: list[SitePeer] = []

    async def token(self, site: str, room: str = ROOM) -> str:
        return (await self.api.app[TOKENS_KEY].issue_join(site, room))[0]

    async def join(self, site: str, room: str = ROOM, **kw: Any) -> SitePeer:
        peer = SitePeer(self.http, self.base, room, await self.token(site, room), **kw)
        self.peers.append(peer)
        await peer.join()
        return peer

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)


@pytest.fixture
async def meeting(api: Api) -> AsyncIterator[Meeting]:
    async with aiohttp.ClientSession() as http:
        m = Meeting(api, http)
        try:
            yield m
        finally:
            await m.close()


async def until(cond: Callable[[], Any], wait_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_frames_reach_subscribers_byte_identical(meeting: Meeting, streams: Any, codec: str) -> None:
    room = ROOM
    if codec == "h264":
        room = "hop-h264"
        await meeting.api.app[STORE_KEY].rooms.upsert(
            Room(room, "Họp H.264", HOST, True, (), 40, False, False, "api", True, "h264", 3), "api")
    host_frames, site_frames = streams[codec][1], streams[codec][2]
    host = await meeting.join(HOST, room, video=host_frames, codec=codec)
    site = await meeting.join("xa-an-binh", room, video=site_frames, codec=codec)
    at_host = host.slot("site:xa-an-binh")
    at_site = site.slot("host")
    await until(lambda: len(at_host.frames) >= 25 and len(at_site.frames) >= 25, what="25 frames each way")
    for rec, sent in ((at_host, site_frames), (at_site, host_frames)):
        received = rec.frames
        matches = list(frames_match(received, sent, codec))
        assert matches and all(matches), f"{matches.count(False)} of {len(matches)} frames differ"
        # The first frame a new subscriber gets is a keyframe, so its picture is never broken (unless this
        # peer itself lost the head of that first frame at DTLS start-up: then the frames that follow are checked
        # byte for byte, but not the start).
        first = sent.index(received[0]) if codec == "vp8" else None
        if first is not None and not rec.lost_head:
            assert first % GOP == 0
    assert host.welcome and host.welcome["host"] is True and site.welcome and site.welcome["host"] is False


async def test_speaker_slot_follows_the_loudest_site_and_audio_is_forwarded(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    await meeting.join(HOST, video=v[1])
    loud = await meeting.join("xa-an-hoa", video=v[2], loud=True)
    quiet = await meeting.join("xa-binh-minh", video=v[3], loud=False)
    watcher = await meeting.join("xa-dong-hung", video=v[4])
    speaker_slot = watcher.slot("speaker")
    await until(lambda: speaker_slot.assigned == "xa-an-hoa", what="speaker slot → xa-an-hoa")
    # Until a speaker is detected the slot shows another site; the switch happens on a keyframe.
    await until(lambda: speaker_slot.frames[-1:] and speaker_slot.frames[-1] in v[2], what="speaker frames")
    n = len(speaker_slot.frames)
    await until(lambda: len(speaker_slot.frames) >= n + 10, what="more speaker frames")
    assert all(frames_match(speaker_slot.frames[n - 1:], v[2], "vp8"))
    audio = [s for s in watcher.slots.values() if s.name.startswith("audio:")]
    await until(lambda: sum(s.packets for s in audio) > 50, what="forwarded audio")
    # The other site starts speaking and the first stops: the slot switches, on a keyframe.
    # Counted before the switch is asked for: it may be done (and its keyframe forwarded) by the time the
    # slot's assignment is seen.
    before = len(speaker_slot.frames)
    loud.audio.loud, quiet.audio.loud = False, True
    await until(lambda: speaker_slot.assigned == "xa-binh-minh", wait_s=10, what="speaker slot → xa-binh-minh")
    await until(lambda: speaker_slot.frames[-1] in v[3], what="frames of the new speaker")
    first_new = next(i for i in range(before, len(speaker_slot.frames)) if speaker_slot.frames[i] in v[3])
    assert v[3].index(speaker_slot.frames[first_new]) % GOP == 0  # the switch happened on a keyframe
    assert all(f in v[2] for f in speaker_slot.frames[before:first_new])  # no foreign frame before it
    await until(lambda: len(speaker_slot.frames) >= first_new + 10, what="frames after the switch")
    assert all(frames_match(speaker_slot.frames[first_new:], v[3], "vp8"))
    live = (await (await meeting.api.client.get(
        f"/api/v1/rooms/{ROOM}/live", headers=meeting.api.auth(await meeting.api.token_for("operator"))
    )).json())
    assert live["speaker"] == "xa-binh-minh"
    assert {s["site"] for s in live["sites"] if s["connected"]} == {HOST, "xa-an-hoa", "xa-binh-minh",
                                                                    "xa-dong-hung"}


async def test_moderation_mute_remove_and_rejoin(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    api = meeting.api
    op = api.auth(await api.token_for("operator"))
    host = await meeting.join(HOST, video=v[1])
    site = await meeting.join("xa-hung-dao", video=v[2])
    tile = host.slot("site:xa-hung-dao")
    await until(lambda: len(tile.frames) >= 10, what="frames before mute")
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-hung-dao/mute", headers=op,
                              json={"kind": "video", "muted": True})
    assert r.status == 200, await r.text()
    await site.wait_for("moderation", where=lambda m: m["action"] == "mute_video")
    await asyncio.sleep(0.3)
    frozen = len(tile.frames)
    await asyncio.sleep(1.0)
    assert len(tile.frames) <= frozen + 1
    resumed = len(tile.frames)
    await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-hung-dao/mute", headers=op,
                          json={"kind": "video", "muted": False})
    await until(lambda: len(tile.frames) >= resumed + 10, what="frames after unmute")
    assert v[2].index(tile.frames[resumed]) % GOP == 0  # resumes on a keyframe

    # A site whose page is opened again replaces its old session.
    again = await meeting.join("xa-hung-dao", video=v[3])
    bye = await site.wait_for("bye")
    assert bye["reason"] == "replaced"
    await until(lambda: tile.frames[-1] in v[3], what="frames from the new session")

    # Removal by the chair keeps the site out until the chair readmits it.
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-hung-dao/remove", headers=op)
    assert r.status == 200
    assert (await again.wait_for("bye"))["reason"] == "removed"
    await host.wait_for("slots", where=lambda m: tile_mid(host, "site:xa-hung-dao") in m["assign"]
                        and m["assign"][tile_mid(host, "site:xa-hung-dao")] is None)
    refused = SitePeer(meeting.http, meeting.base, ROOM, await meeting.token("xa-hung-dao"))
    meeting.peers.append(refused)
    await refused.open()
    assert (await refused.wait_for("error"))["code"] == "removed"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-hung-dao/readmit", headers=op)).status == 200
    back = await meeting.join("xa-hung-dao", video=v[4])
    n = len(tile.frames)
    await until(lambda: len(tile.frames) >= n + 10 and tile.frames[-1] in v[4], what="frames after rejoin")
    assert back.welcome is not None
    actions = [e.action for e in await api.app[STORE_KEY].audit.all(limit=100)]
    for expected in ("conference.mute_video", "conference.unmute_video", "conference.remove", "conference.join"):
        assert expected in actions


def tile_mid(peer: SitePeer, name: str) -> str:
    return next(mid for mid, s in peer.slots.items() if s.name == name)


async def test_host_page_may_moderate_other_sites_may_not(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    await meeting.join(HOST, video=v[1])
    await meeting.join("xa-minh-tan", video=v[2])
    api = meeting.api
    host_token = api.auth(await meeting.token(HOST))
    site_token = api.auth(await meeting.token("xa-minh-tan"))
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-minh-tan/mute", headers=site_token,
                              json={"kind": "audio", "muted": True})
    assert r.status == 403
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-minh-tan/mute", headers=host_token,
                              json={"kind": "audio", "muted": True})
    assert r.status == 200
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/end", headers=host_token)
    assert r.status == 200
    for peer in meeting.peers:
        assert (await peer.wait_for("bye"))["reason"] == "ended"
    sessions = await api.app[STORE_KEY].rooms.sessions(ROOM)
    assert sessions and sessions[0].ended_at is not None


async def test_bad_input_gets_clear_errors_and_the_room_keeps_working(
        meeting: Meeting, streams: Any, clock: FakeClock) -> None:
    v = streams["vp8"]
    api = meeting.api
    host = await meeting.join(HOST, video=v[1])
    site = await meeting.join("xa-nam-son", video=v[2])
    tile = host.slot("site:xa-nam-son")
    await until(lambda: len(tile.frames) >= 5, what="frames before the abuse")

    async def raw(first: Any, room: str = ROOM) -> dict[str, Any]:
        async with meeting.http.ws_connect(f"{meeting.base}/api/v1/rooms/{room}/signal") as ws:
            await (ws.send_str(first) if isinstance(first, str) else ws.send_json(first))
            msg = await ws.receive(timeout=10)
            return json.loads(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else {"closed": msg.data}

    assert (await raw("{not json"))["code"] == "bad_join"
    assert (await raw({"type": "hello"}))["code"] == "bad_join"
    assert (await raw({"type": "join", "v": 7, "token": await meeting.token("xa-tan-lap")}))["code"] == \
        "unsupported_version"
    await api.app[STORE_KEY].rooms.upsert(
        Room("phong-khac", "Khác", HOST, True, (), 40, False, False, "api", True), "api")
    other = await meeting.token("xa-tan-lap", "phong-khac")
    assert (await raw({"type": "join", "v": 1, "token": other}))["code"] == "wrong_room"
    staff = await api.token_for("operator")
    assert (await raw({"type": "join", "v": 1, "token": staff}))["code"] == "not_a_join_token"
    expiring = await meeting.token("xa-tan-tien")
    clock.now += 3 * 86400
    assert (await raw({"type": "join", "v": 1, "token": expiring}))["code"] == "token_expired"
    clock.now -= 3 * 86400

    # In-session: malformed SDP, unknown types and bad fields get errors; the session carries on.
    await site.send({"type": "answer", "sdp": "v=0 this is not sdp"})
    assert (await site.wait_for("error", where=lambda m: m["code"] in ("bad_sdp", "bad_message")))
    await site.send({"type": "teleport"})
    assert await site.wait_for("error", where=lambda m: m["code"] == "unknown_type")
    await site.send({"type": "screen", "on": "maybe"})
    assert await site.wait_for("error", where=lambda m: m["code"] == "bad_message")
    # An oversized message closes only that socket (1009), never the server.
    async with meeting.http.ws_connect(f"{meeting.base}/api/v1/rooms/{ROOM}/signal") as ws:
        await ws.send_str("x" * (300 * 1024))
        msg = await ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)

    # A join storm: the excess is refused with a clear code, and the meeting keeps flowing.
    sites = ["xa-phu-xuan", "xa-quang-trung", "xa-thanh-xuan", "xa-vinh-phuc", "tt-phu-thinh", "tt-tan-phong",
             "mttq-huyen", "doan-the-huyen", "huyen-uy"]
    tokens = [await meeting.token(sites[i % len(sites)]) for i in range(30)]
    results = await asyncio.gather(*(raw({"type": "join", "v": 1, "token": t}) for t in tokens))
    codes = [r.get("code") or r.get("type") for r in results]
    assert codes.count("too_many_joins") >= 15, codes
    n = len(tile.frames)
    await until(lambda: len(tile.frames) >= n + 25, what="frames still flowing after the storm")
    assert all(frames_match(tile.frames[-20:], v[2], "vp8"))
    assert meeting.api.app[CONFERENCE_KEY].live(ROOM) is not None


async def test_lock_and_mutes_survive_a_dropped_connection(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    api = meeting.api
    op = api.auth(await api.token_for("operator"))
    host = await meeting.join(HOST, video=v[1])
    site = await meeting.join("xa-long-hung", video=v[2])
    tile = host.slot("site:xa-long-hung")
    await until(lambda: len(tile.frames) >= 5, what="frames before the lock")
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/lock", headers=op)).status == 200
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-long-hung/mute", headers=op,
                                  json={"kind": "video", "muted": True})).status == 200
    # The site's network drops; it comes back into the locked room and is still muted.
    await site.close()
    await host.wait_for("slots", where=lambda m: m["assign"].get(tile_mid(host, "site:xa-long-hung"), 1) is None)
    back = await meeting.join("xa-long-hung", video=v[2])
    assert await back.wait_for("moderation", where=lambda m: m["action"] == "mute_video")
    n = len(tile.frames)
    await asyncio.sleep(1.0)
    assert len(tile.frames) == n  # still muted after the reconnect
    # A site that was not in the meeting waits in the lobby; refused by the chair, it is told and closed.
    newcomer = SitePeer(meeting.http, meeting.base, ROOM, await meeting.token("xa-vinh-phuc"))
    meeting.peers.append(newcomer)
    await newcomer.open()
    assert (await newcomer.wait_for("lobby"))["reason"] == "locked"
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/lobby/xa-vinh-phuc/refuse", headers=op)).status == 200
    err = await newcomer.wait_for("error")
    assert err["code"] == "refused"
    # After a bye the server closes the signalling socket itself.
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/sites/xa-long-hung/remove", headers=op)).status == 200
    assert (await back.wait_for("bye"))["reason"] == "removed"
    assert back._reader is not None
    await asyncio.wait_for(back._reader, 5)
    assert back.ws is not None and back.ws.closed


async def test_live_stats_over_the_api_and_metrics(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    api = meeting.api
    op = api.auth(await api.token_for("operator"))
    await meeting.join(HOST, video=v[1])
    await meeting.join("xa-phu-xuan", video=v[2], loud=True)

    async def live() -> dict[str, Any]:
        r = await api.client.get(f"/api/v1/rooms/{ROOM}/live", headers=op)
        return {s["site"]: s for s in (await r.json())["sites"]} | {"_room": await r.json()}

    deadline = time.monotonic() + 15
    while True:
        sites = await live()
        site = sites["xa-phu-xuan"]
        if (site["bitrate_in_kbps"] or 0) > 50 and (sites[HOST]["frames_forwarded"] or 0) > 0:
            break
        assert time.monotonic() < deadline, sites
        await asyncio.sleep(0.5)
    assert site["connection"] == "connected" and site["packet_loss_pct"] == 0
    assert sites[HOST]["bitrate_out_kbps"] > 50
    assert sites["_room"]["speaker"] == "xa-phu-xuan"
    text = await (await api.client.get("/metrics", headers=op)).text()
    assert 'mediaserver_site_bitrate_in_kbps{room="hop-huyen",site="xa-phu-xuan"}' in text
    assert 'mediaserver_room_speaker{room="hop-huyen",site="xa-phu-xuan"} 1.0' in text
    assert "mediaserver_forward_latency_seconds_bucket" in text


async def test_screen_share_from_any_site_is_shown_to_all(meeting: Meeting, streams: Any) -> None:
    v = streams["vp8"]
    host = await meeting.join(HOST, video=v[1])
    sharer = await meeting.join("xa-quang-trung", video=v[2], screen=v[4])
    viewer = await meeting.join("xa-tan-lap", video=v[3])
    await sharer.send({"type": "screen", "on": True})
    for peer in (host, viewer):
        slot = peer.slot("screen")
        await until(lambda slot=slot: len(slot.frames) >= 10, what="screen frames")  # type: ignore[misc]
        assert all(frames_match(slot.frames, v[4], "vp8"))
        assert slot.assigned == "xa-quang-trung"
    assert (await viewer.wait_for("screen"))["site"] == "xa-quang-trung"
    await sharer.send({"type": "screen", "on": False})
    await viewer.wait_for("screen", where=lambda m: m["site"] is None)
    await until(lambda: viewer.slot("screen").assigned is None, what="screen slot emptied")


async def test_a_camera_is_shown_to_every_site_without_transcoding(meeting: Meeting, streams: Any) -> None:
    from mediaserver.app_keys import ENGINE_KEY
    from mediaserver.engine import Source
    from tests.conf_peer import feed_h264

    api = meeting.api
    room = "hop-h264"
    await api.app[STORE_KEY].rooms.upsert(
        Room(room, "Họp H.264", HOST, True, (), 40, False, False, "api", True, "h264", 3), "api")
    host = await meeting.join(HOST, room, video=streams["h264"][1], codec="h264")
    site = await meeting.join("xa-thanh-xuan", room, video=streams["h264"][2], codec="h264")
    hall = streams["h264"][3]
    source = api.app[ENGINE_KEY].add_source(Source("camera/hoi-truong/main", "video", "h264", 90_000, None,
                                                   owner="hoi-truong"))
    stop = asyncio.Event()
    feeder = asyncio.ensure_future(feed_h264(source, hall, stop))
    try:
        op = api.auth(await api.token_for("operator"))
        r = await api.client.post(f"/api/v1/rooms/{room}/camera", headers=op, json={"camera_id": "hoi-truong"})
        assert r.status == 200, await r.text()
        for peer in (host, site):
            slot = peer.slot("screen")
            await until(lambda slot=slot: len(slot.frames) >= 10, what="the camera in the presentation slot")  # type: ignore[misc]
            assert all(frames_match(slot.frames, hall, "h264"))
        # A VP8 room cannot show an H.264 camera without transcoding: a clear refusal.
        await meeting.join("xa-vinh-phuc", ROOM, video=streams["vp8"][1])
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/camera", headers=op, json={"camera_id": "hoi-truong"})
        assert (r.status, (await r.json())["error"]["code"]) == (409, "codec_mismatch")
    finally:
        stop.set()
        await feeder
