"""Meeting recording: each site's tracks as they arrived, in segment files indexed by room, session, site.

Two levels, both with real parts: the recorder fed by engine sources with known VP8/H.264/Opus frames
(fast: segmenting, gaps, timestamps, crash leftovers), and real aiortc sites in a real meeting on
127.0.0.1 recorded through the API and the scheduler (slow), whose files PyAV must open and decode and
whose frames must be the bytes the sites sent.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder

from mediaserver.app_keys import CONFIG_KEY, MEETING_RECORDINGS_KEY, SCHEDULER_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.engine import EncodedFrame, Engine, Source, is_keyframe
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import Room, Segment, Site
from recordings import meeting as mr
from tests.conf_peer import SitePeer, encode_opus, encode_video, frames_match, nal_units
from tests.conftest import Api

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
GOP = 10
FPS = 25
SEG_S = 1.0  # short segments so a few seconds of meeting make several


# ----------------------------------------------------------------------------------------- helpers


def vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    return list(Vp8Encoder._packetize(frame, picture_id))


def payloads_for(codec: str, frame: bytes, n: int) -> list[bytes]:
    if codec == "vp8":
        return vp8_payloads(frame, n % 0x8000)
    if codec == "h264":
        return hooks.h264_payloads(frame)
    return [frame]


def packets_of(path: Path) -> tuple[list[av.Packet], Any]:
    """Demux every packet of a recorded file (and return its stream)."""
    with av.open(str(path)) as c:
        stream = c.streams[0]
        info = (stream.type, stream.codec_context.name, stream.time_base)
        pkts = [p for p in c.demux(stream) if p.size]
    return pkts, info


def avcc_nals(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return out


def same_frame(codec: str, recorded: bytes, sent: bytes) -> bool:
    """Compare a recorded frame with the sent one (H.264: as NAL units; MP4 stores them length-prefixed)."""
    if codec == "h264":
        return avcc_nals(recorded) == nal_units(sent)
    return recorded == sent


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams[0]))


def file_duration(path: Path) -> float:
    """Return the duration the container declares (its timeline starts at 0)."""
    with av.open(str(path)) as c:
        return float(c.duration) / av.time_base


async def until(cond: Callable[[], Any], wait_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Feeder:
    """Plays known frames into an engine source at their real rate, as a site's connection would."""

    def __init__(self, source: Source, frames: list[bytes], *, rate_hz: float, ts_step: int,
                 ts0: int = 1_000_000) -> None:
        self.source, self.frames, self.rate_hz, self.ts_step = source, frames, rate_hz, ts_step
        self.ts = ts0
        self.sent: list[tuple[int, bytes]] = []  # (rtp timestamp, frame)
        self.n = 0
        self.paused = False

    async def run(self, seconds: float) -> None:
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < seconds:
            frame = self.frames[self.n % len(self.frames)]
            payloads = payloads_for(self.source.codec, frame, self.n)
            if not self.paused:
                self.source.publish(EncodedFrame(payloads, self.ts % (1 << 32),
                                                 is_keyframe(self.source.codec, payloads)))
                self.sent.append((self.ts % (1 << 32), frame))
            self.n += 1
            self.ts += self.ts_step
            k += 1
            await asyncio.sleep(max(0.0, start + k / self.rate_hz - time.monotonic()))


@pytest.fixture(scope="module")
def media() -> dict[str, list[bytes]]:
    return {"vp8": encode_video("vp8", 40, 1, gop=GOP), "h264": encode_video("h264", 40, 2, gop=GOP),
            "opus": encode_opus(1.0)}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "index.db")
    s = Store(db)
    await db.open()
    await s.sites.sync_config([Site(x, x, None, "commune", "config", True) for x in ("a", "b", "c")])
    await s.rooms.upsert(Room("r1", "R1", "a", True, (), 10, False, False, "config", True), "config")
    try:
        yield s
    finally:
        await db.close()


def by_track(segs: list[Segment]) -> dict[tuple[str | None, str], list[Segment]]:
    out: dict[tuple[str | None, str], list[Segment]] = {}
    for s in segs:
        out.setdefault((s.site_id, s.track), []).append(s)
    return out


def assert_contiguous(segs: list[Segment], tol_s: float = 0.002) -> None:
    for prev, nxt in itertools.pairwise(segs):
        if not nxt.gap_before:
            assert abs(nxt.start_at - prev.end_at) < tol_s, (prev, nxt)


# -------------------------------------------------------------------------------------- pure helpers


def test_bitstream_helpers_read_sizes_and_durations(media: dict[str, list[bytes]]) -> None:
    assert mr.vp8_size(media["vp8"][0]) == (320, 180)
    assert mr.vp8_size(media["vp8"][1]) is None  # an inter frame has no size
    sps = next(n for n in nal_units(media["h264"][0]) if n[0] & 0x1F == 7)
    assert mr.h264_sps_size(sps) == (320, 180)  # 12 macroblock rows, cropped by 6 (4:2:0)
    for w, h in ((640, 360), (1280, 720), (176, 144)):
        aus = encode_video("h264", 1, 3, size=(w, h))
        s = next(n for n in nal_units(aus[0]) if n[0] & 0x1F == 7)
        assert mr.h264_sps_size(s) == (w, h)
    assert mr.h264_sps_size(b"\x67\x42") is None  # truncated: no crash
    assert mr.annexb_nal_units(b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb") == [b"\x67\xaa", b"\x68\xbb"]
    assert all(mr.opus_packet_samples(p) == 960 for p in media["opus"])  # 20 ms packets
    assert mr.opus_packet_samples(bytes([0x03 | (16 << 3), 0x04])) == 4 * 120  # code 3: 4 CELT 2.5 ms frames
    assert mr.opus_packet_samples(b"") == 0
    frame = media["vp8"][0]
    assert mr.depacketize("vp8", vp8_payloads(frame, 7)) == frame
    assert nal_units(mr.depacketize("h264", hooks.h264_payloads(media["h264"][0]))) == nal_units(media["h264"][0])
    with pytest.raises(ValueError, match="codec"):
        mr.depacketize("vp9", [b"x"])
    with pytest.raises(ValueError, match="room id"):
        mr.meeting_dir("../etc", 1)


# ------------------------------------------------------------------------------- recorder, direct feed


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_recorder_writes_contiguous_segments_byte_identical(
        store: Store, tmp_path: Path, media: dict[str, list[bytes]], codec: str) -> None:
    engine = Engine()
    session = await store.rooms.start_session("r1", "test")
    video = engine.add_source(Source("r1/a/video", "video", codec, 90_000, owner="a"))
    audio = engine.add_source(Source("r1/a/audio", "audio", "opus", 48_000, owner="a"))
    rec = mr.MeetingRecorder(store, engine, tmp_path, "r1", session.id, segment_s=SEG_S)
    await rec.start()
    rec.add_site("a", {"video": video, "audio": audio})
    vf = Feeder(video, media[codec], rate_hz=FPS, ts_step=90_000 // FPS)
    af = Feeder(audio, media["opus"], rate_hz=50, ts_step=960)
    t0 = time.time()
    await asyncio.gather(vf.run(3.2), af.run(3.2))
    await rec.stop()
    t1 = time.time()
    segs = by_track(await store.segments.for_session(session.id))
    assert set(segs) == {("a", "video"), ("a", "audio")}
    for (_, track), rows in segs.items():
        assert 2 <= len(rows) <= 5, (track, len(rows))
        assert not any(r.gap_before for r in rows)
        assert_contiguous(rows)
        assert t0 - 0.5 < rows[0].start_at and rows[-1].end_at < t1 + 0.5
        assert all(r.mode == "conference" and r.camera_id is None and r.room_session_id == session.id
                   for r in rows)
        assert {r.codec for r in rows} == {codec if track == "video" else "opus"}
    # Video: every file opens, starts with a keyframe and decodes; together they are the frames sent.
    recorded: list[bytes] = []
    for row in segs[("a", "video")]:
        path = tmp_path / row.path
        assert path.suffix == (".mp4" if codec == "h264" else ".webm") and row.bytes == path.stat().st_size
        pkts, (kind, name, _) = packets_of(path)
        assert kind == "video" and name == codec and pkts[0].is_keyframe and row.keyframes >= 1
        assert decoded_frames(path) == len(pkts)
        # The file's own duration matches the indexed span (its timeline starts at 0).
        assert pkts[0].pts == 0
        assert file_duration(path) == pytest.approx(row.end_at - row.start_at, abs=0.002)
        recorded += [bytes(p) for p in pkts]
    sent = [f for _, f in vf.sent]
    k = next(i for i, f in enumerate(sent) if same_frame(codec, recorded[0], f))
    assert k % GOP == 0 and len(recorded) >= len(sent) - k - 1
    assert all(same_frame(codec, r, s) for r, s in zip(recorded, sent[k:], strict=False))
    # Audio: the Opus packets as sent, 20 ms each, decodable.
    audio_pkts: list[av.Packet] = []
    for row in segs[("a", "audio")]:
        pkts, (kind, name, _) = packets_of(tmp_path / row.path)
        assert kind == "audio" and name == "opus" and pkts[0].pts == 0
        assert all(mr.opus_packet_samples(bytes(p)) == 960 for p in pkts)
        assert file_duration(tmp_path / row.path) == pytest.approx(0.02 * len(pkts), abs=0.002)
        assert row.end_at - row.start_at == pytest.approx(0.02 * len(pkts), abs=0.002)
        with av.open(str(tmp_path / row.path)) as c:
            samples = sum(f.samples for f in c.decode(audio=0))
        assert samples == 960 * len(pkts)  # pre-skip 0: every packet's 20 ms is played
        audio_pkts += pkts
    sent_audio = [f for _, f in af.sent]
    assert len(sent_audio) - 3 <= len(audio_pkts) <= len(sent_audio)
    assert all(frames_match([bytes(p) for p in audio_pkts], media["opus"], "vp8"))  # in order, byte for byte
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.part")))
    engine.close()


async def test_h264_keyframes_without_parameter_sets_still_start_playable_files(
        store: Store, tmp_path: Path, media: dict[str, list[bytes]]) -> None:
    # Some senders put SPS/PPS only in the first keyframe: every file must still carry them at its start.
    first, *rest = media["h264"]
    stripped = [first] + [b"".join(b"\x00\x00\x00\x01" + n for n in nal_units(au) if n[0] & 0x1F not in (7, 8))
                          for au in rest]
    engine = Engine()
    session = await store.rooms.start_session("r1", "test")
    video = engine.add_source(Source("r1/a/video", "video", "h264", 90_000, owner="a"))
    rec = mr.MeetingRecorder(store, engine, tmp_path, "r1", session.id, segment_s=SEG_S)
    await rec.start()
    rec.add_site("a", {"video": video})
    rec.add_site("a", {"video": video})  # told twice (a snapshot and the join event): recorded once
    assert rec.tracks == 1
    await Feeder(video, stripped, rate_hz=FPS, ts_step=3600).run(2.6)
    await rec.stop()
    rows = by_track(await store.segments.for_session(session.id))[("a", "video")]
    assert len(rows) >= 2 and not any(r.gap_before for r in rows)
    for row in rows:
        path = tmp_path / row.path
        pkts, _ = packets_of(path)
        assert [n[0] & 0x1F for n in avcc_nals(bytes(pkts[0]))][:2] == [7, 8]
        assert decoded_frames(path) == len(pkts)
    engine.close()


async def test_leave_rejoin_and_idle_make_gaps_and_files_survive_a_crash(
        store: Store, tmp_path: Path, media: dict[str, list[bytes]]) -> None:
    engine = Engine()
    session = await store.rooms.start_session("r1", "test")
    rec = mr.MeetingRecorder(store, engine, tmp_path, "r1", session.id, segment_s=SEG_S)
    await rec.start()

    def sources(site: str) -> dict[str, Source]:
        return {"video": engine.add_source(Source(f"r1/{site}/video", "video", "vp8", 90_000, owner=site)),
                "audio": engine.add_source(Source(f"r1/{site}/audio", "audio", "opus", 48_000, owner=site))}

    a, b = sources("a"), sources("b")
    rec.add_site("a", a)
    rec.add_site("b", b)
    fa = Feeder(a["video"], media["vp8"], rate_hz=FPS, ts_step=3600)
    fb = Feeder(b["video"], media["vp8"], rate_hz=FPS, ts_step=3600)

    async def b_leaves_and_rejoins() -> None:
        await fb.run(1.2)
        rec.remove_site("b")  # left
        await asyncio.sleep(0.8)
        b2 = sources("b")  # a new connection: new sources
        rec.add_site("b", b2)
        await Feeder(b2["video"], media["vp8"], rate_hz=FPS, ts_step=3600, ts0=55).run(1.5)

    async def a_goes_quiet() -> None:
        await fa.run(1.0)
        fa.paused = True  # a moderator's mute: no frames at all for longer than IDLE_GAP_S
        await fa.run(mr.IDLE_GAP_S + 0.8)
        fa.paused = False
        await fa.run(1.0)

    await asyncio.gather(b_leaves_and_rejoins(), a_goes_quiet())
    # A crash leaves a half-written file behind: start-up removes it.
    leftover = tmp_path / mr.meeting_dir("r1", session.id) / "a" / "video-x.webm.part"
    leftover.write_bytes(b"partial")
    await rec.stop()
    segs = by_track(await store.segments.for_session(session.id))
    for site, pause in (("b", 0.8), ("a", mr.IDLE_GAP_S)):
        rows = segs[(site, "video")]
        gaps = [i for i, r in enumerate(rows) if r.gap_before]
        assert len(gaps) == 1, [(r.start_at, r.end_at, r.gap_before) for r in rows]
        i = gaps[0]
        assert rows[i].start_at - rows[i - 1].end_at > pause - 0.3
        assert_contiguous(rows[:i])
        assert_contiguous(rows[i:])
        for r in rows:
            assert packets_of(tmp_path / r.path)[0][0].is_keyframe
    assert ("a", "audio") not in segs  # no audio was sent: no file
    assert mr.remove_partial_files(tmp_path) == 1 and not leftover.exists()
    engine.close()


async def test_a_writer_that_falls_behind_drops_to_a_keyframe_and_shows_a_gap(
        store: Store, tmp_path: Path, media: dict[str, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mr, "WRITER_BACKLOG_FRAMES", 4)
    engine = Engine()
    session = await store.rooms.start_session("r1", "test")
    video = engine.add_source(Source("r1/a/video", "video", "vp8", 90_000, owner="a"))
    rec = mr.MeetingRecorder(store, engine, tmp_path, "r1", session.id, segment_s=SEG_S)
    await rec.start()
    rec.add_site("a", {"video": video})
    feeder = Feeder(video, media["vp8"], rate_hz=FPS, ts_step=3600)
    await feeder.run(1.0)
    for _ in range(30):  # a burst the writer cannot take at once (as if its disk stalled)
        frame = feeder.frames[feeder.n % len(feeder.frames)]
        payloads = vp8_payloads(frame, feeder.n)
        video.publish(EncodedFrame(payloads, feeder.ts, is_keyframe("vp8", payloads)))
        feeder.n += 1
        feeder.ts += 3600
    await feeder.run(1.5)
    await rec.stop()
    assert rec.frames_dropped > 0
    rows = by_track(await store.segments.for_session(session.id))[("a", "video")]
    assert [r.gap_before for r in rows].count(True) == 1
    for row in rows:
        pkts, _ = packets_of(tmp_path / row.path)
        assert pkts[0].is_keyframe and decoded_frames(tmp_path / row.path) == len(pkts)
    engine.close()


async def test_rtp_timestamp_wrap_and_a_sender_clock_jump(
        store: Store, tmp_path: Path, media: dict[str, list[bytes]]) -> None:
    engine = Engine()
    session = await store.rooms.start_session("r1", "test")
    audio = engine.add_source(Source("r1/a/audio", "audio", "opus", 48_000, owner="a"))
    rec = mr.MeetingRecorder(store, engine, tmp_path, "r1", session.id, segment_s=SEG_S)
    await rec.start()
    rec.add_site("a", {"audio": audio})
    feeder = Feeder(audio, media["opus"], rate_hz=50, ts_step=960, ts0=(1 << 32) - 960 * 40)
    await feeder.run(1.5)  # wraps past 2^32 after 0.8 s
    feeder.ts += 48_000 * 60  # the sender's clock jumps a minute ahead (e.g. its track was replaced)
    await feeder.run(1.0)
    await rec.stop()
    rows = (by_track(await store.segments.for_session(session.id)))[("a", "audio")]
    gaps = [r for r in rows if r.gap_before]
    assert len(gaps) == 1  # the jump, not the wrap
    first_run = rows[:rows.index(gaps[0])]
    assert_contiguous(first_run)
    assert sum(r.end_at - r.start_at for r in first_run) == pytest.approx(1.5, abs=0.1)
    assert gaps[0].start_at - first_run[-1].end_at < 0.5  # anchored on arrival, not a minute later
    engine.close()


# ----------------------------------------------------------------------- real sites in a real meeting


class Meeting:
    """aiortc sites joining the real server through its signalling WebSocket."""

    def __init__(self, api: Api, http: aiohttp.ClientSession) -> None:
        self.api, self.http = api, http
        self.base = str(api.client.make_url("")).rstrip("/")
        self.peers: list[SitePeer] = []

    async def join(self, site: str, room: str = ROOM, **kw: Any) -> SitePeer:
        token = (await self.api.app[TOKENS_KEY].issue_join(site, room))[0]
        peer = SitePeer(self.http, self.base, room, token, **kw)
        self.peers.append(peer)
        await peer.join()
        return peer

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)


@pytest.fixture
async def meeting(api: Api) -> AsyncIterator[Meeting]:
    api.app[MEETING_RECORDINGS_KEY].segment_s = SEG_S
    async with aiohttp.ClientSession() as http:
        m = Meeting(api, http)
        try:
            yield m
        finally:
            await m.close()


def runs(rows: list[Segment]) -> list[list[Segment]]:
    """Split a track's segments at its gaps."""
    out: list[list[Segment]] = []
    for r in rows:
        if r.gap_before or not out:
            out.append([])
        out[-1].append(r)
    return out


def annexb(avcc: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in avcc_nals(avcc))


def check_track_files(data_dir: Path, rows: list[Segment], sent: list[bytes], codec: str) -> int:
    """Check every file of a site's track: opens, decodes, starts right, holds the sent frames in order."""
    total = 0
    for run in runs(rows):
        assert_contiguous(run)
        frames: list[bytes] = []
        for row in run:
            path = data_dir / row.path
            pkts, (kind, name, _) = packets_of(path)
            assert name == codec and pkts[0].pts == 0, row.path
            if kind == "video":
                assert pkts[0].is_keyframe and decoded_frames(path) == len(pkts)
            else:
                with av.open(str(path)) as c:
                    assert sum(f.samples for f in c.decode(audio=0)) == 960 * len(pkts)
            assert file_duration(path) == pytest.approx(row.end_at - row.start_at, abs=0.002)
            frames += [annexb(bytes(p)) if codec == "h264" else bytes(p) for p in pkts]
        matches = list(frames_match(frames, sent, "vp8" if codec == "opus" else codec))
        assert matches and all(matches), f"{matches.count(False)} of {len(matches)} frames differ"
        if codec == "vp8":
            assert sent.index(frames[0]) % GOP == 0  # each run starts on a keyframe
        total += len(frames)
    return total


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_meeting_is_recorded_per_site_with_late_joins_and_a_rejoin(
        meeting: Meeting, media: dict[str, list[bytes]]) -> None:
    api = meeting.api
    op = api.auth(await api.token_for("operator"))
    video = {s: encode_video("vp8", 40, seed, gop=GOP) for s, seed in ((HOST, 11), ("xa-an-binh", 12),
                                                                         ("xa-an-hoa", 13))}
    opus = media["opus"]
    await meeting.join(HOST, video=video[HOST], opus=opus, loud=True)
    binh = await meeting.join("xa-an-binh", video=video["xa-an-binh"], opus=opus)
    r = await api.client.post(f"/api/v1/rooms/{ROOM}/recording", headers=op, json={})
    assert r.status == 200, await r.text()
    state = await r.json()
    assert state["state"] == "recording" and state["room_session_id"] and state["until"] is None
    session_id = state["room_session_id"]
    started = time.time()
    rec = api.app[MEETING_RECORDINGS_KEY].recorder(ROOM)
    assert rec is not None
    await until(lambda: rec.segments >= 4, what="first segments")
    screen = encode_video("vp8", 40, 14, gop=GOP)
    await meeting.join("xa-an-hoa", video=video["xa-an-hoa"], opus=opus, screen=screen)  # late, and shares
    await asyncio.sleep(1.5)
    await binh.close()  # leaves …
    left_at = time.time()
    await asyncio.sleep(1.0)
    await meeting.join("xa-an-binh", video=video["xa-an-binh"], opus=opus)  # … and comes back
    back_at = time.time()
    await asyncio.sleep(2.5)
    r = await api.client.get(f"/api/v1/rooms/{ROOM}/recording", headers=op)
    assert (await r.json())["tracks"] == 9  # 3 sites x (audio, video, screen)
    r = await api.client.delete(f"/api/v1/rooms/{ROOM}/recording", headers=op)
    assert r.status == 204
    stopped = time.time()
    assert (await api.client.get(f"/api/v1/rooms/{ROOM}/recording", headers=op)).status == 404
    assert (await api.client.delete(f"/api/v1/rooms/{ROOM}/recording", headers=op)).status == 404

    # The index: one list per site and track, in this meeting, within the recording's time.
    segs = await api.app[STORE_KEY].segments.for_session(session_id)
    tracks = by_track(segs)
    assert set(tracks) == {(s, t) for s in video for t in ("video", "audio")} | {("xa-an-hoa", "screen")}
    for (site, track), rows in tracks.items():
        assert started - 0.5 < rows[0].start_at and rows[-1].end_at < stopped + 0.5
        assert all(r.mode == "conference" and r.room_session_id == session_id for r in rows)
        assert {r.codec for r in rows} == {"opus" if track == "audio" else "vp8"}
        gaps = [r for r in rows if r.gap_before]
        if site == "xa-an-binh":
            # Leaving and rejoining: the track goes on in new files after an explicit gap.
            assert len(gaps) == 1, [(r.start_at, r.end_at, r.gap_before) for r in rows]
            before = rows[rows.index(gaps[0]) - 1]
            assert before.end_at <= left_at + 0.3 and gaps[0].start_at >= back_at - 2.0
            assert gaps[0].start_at - before.end_at > 0.5
        else:
            assert not gaps
    # The late joiner's files begin later (by how much depends on keyframe timing and load: a margin only).
    assert tracks[("xa-an-hoa", "video")][0].start_at > tracks[(HOST, "video")][0].start_at + 0.3

    # Every file opens and decodes, and holds the frames the site sent, byte for byte.
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    for (site, track), rows in tracks.items():
        sent = {"video": video[site], "screen": screen, "audio": opus}[track]
        n = await asyncio.to_thread(check_track_files, data_dir, rows, sent, "opus" if track == "audio" else "vp8")
        assert n > (80 if track == "audio" else 40)

    # The listing groups them by site and track; files are served with Range support, to chairs only.
    r = await api.client.get(f"/api/v1/meetings/{session_id}/recordings", headers=op)
    assert r.status == 200, await r.text()
    listing = await r.json()
    assert listing["room_id"] == ROOM and listing["recording"] is False and listing["host_site_id"] == HOST
    assert listing["sites"][0]["site_id"] == HOST  # the chair first
    assert {s["site_id"]: [t["track"] for t in s["tracks"]] for s in listing["sites"]} == {
        HOST: ["video", "audio"], "xa-an-binh": ["video", "audio"], "xa-an-hoa": ["video", "screen", "audio"]}
    first = listing["sites"][0]["tracks"][0]["segments"][0]
    r = await api.client.get(first["url"], headers={**op, "Range": "bytes=0-99"})
    assert r.status == 206 and len(await r.read()) == 100 and r.headers["Content-Type"] == "video/webm"
    r = await api.client.get(first["url"], headers=op)
    assert r.status == 200 and len(await r.read()) == first["bytes"]
    security = api.auth(await api.token_for("security"))
    assert (await api.client.get(f"/api/v1/meetings/{session_id}/recordings", headers=security)).status == 403
    assert (await api.client.get(first["url"], headers=security)).status == 403
    participant = api.auth((await api.app[TOKENS_KEY].issue_join("xa-an-binh", ROOM))[0])
    assert (await api.client.post(f"/api/v1/rooms/{ROOM}/recording", headers=participant, json={})).status == 403
    other = listing["sites"][1]["tracks"][0]["segments"][0]["id"]
    assert (await api.client.get(f"/api/v1/meetings/{session_id + 1}/recordings/{other}", headers=op)).status == 404
    actions = [e.action for e in await api.app[STORE_KEY].audit.all(limit=50)]
    assert "room.record.start" in actions and "room.record.stop" in actions


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_an_auto_recorded_h264_room_is_written_as_mp4_until_the_meeting_ends(
        meeting: Meeting, media: dict[str, list[bytes]]) -> None:
    api = meeting.api
    room = "hop-h264"
    await api.app[STORE_KEY].rooms.upsert(
        Room(room, "Họp H.264", HOST, True, (), 40, True, False, "api", True, "h264", 3), "api")
    video = {HOST: encode_video("h264", 40, 21, gop=GOP), "xa-an-binh": encode_video("h264", 40, 22, gop=GOP)}
    for site, frames in video.items():
        await meeting.join(site, room, video=frames, codec="h264", opus=media["opus"])
    recordings = api.app[MEETING_RECORDINGS_KEY]
    state = recordings.state(room)
    assert state is not None and state.state == "recording" and state.requested_by == "auto_record"
    rec = recordings.recorder(room)
    assert rec is not None
    await until(lambda: rec.segments >= 8, what="segments of both sites")
    op = api.auth(await api.token_for("operator"))
    r = await api.client.post(f"/api/v1/rooms/{room}/end", headers=op)
    assert r.status == 200, await r.text()
    assert recordings.state(room) is None  # the meeting's end ends an auto recording
    tracks = by_track(await api.app[STORE_KEY].segments.for_session(rec.room_session_id))
    assert set(tracks) == {(s, t) for s in video for t in ("video", "audio")}
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    for (site, track), rows in tracks.items():
        assert len(rows) >= 2 and not any(r.gap_before for r in rows)
        assert all(r.path.endswith(".mp4" if track == "video" else ".webm") for r in rows)
        sent = video[site] if track == "video" else media["opus"]
        await asyncio.to_thread(check_track_files, data_dir, rows, sent, "h264" if track == "video" else "opus")


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_scheduler_action_records_for_a_duration_and_rejects_bad_arguments(
        meeting: Meeting, media: dict[str, list[bytes]]) -> None:
    api = meeting.api
    scheduler = api.app[SCHEDULER_KEY]
    recordings = api.app[MEETING_RECORDINGS_KEY]
    far = "2099-01-01T08:00:00+07:00"
    for job, args in (("record-on", {"room": ROOM}), ("record-off", {"room": ROOM, "stop": True}),
                      ("record-2s", {"room": ROOM, "duration_s": 2.5}),
                      ("record-bad", {"room": "no-such-room", "duration_s": 5}),
                      ("record-typo", {"room": ROOM, "secs": 5})):
        await scheduler.add_job(job, mr.ROOM_RECORD_ACTION, "once", far, args=args)
    # Asked before the meeting: the request waits for it, and recording starts with it.
    await scheduler.run_now("record-on")
    await until(lambda: recordings.state(ROOM) is not None, what="the job's run")
    assert recordings.state(ROOM).state == "armed"  # type: ignore[union-attr]
    await meeting.join(HOST, video=encode_video("vp8", 40, 31, gop=GOP), opus=media["opus"])
    await until(lambda: recordings.recorder(ROOM) is not None, what="recording to start with the meeting")
    rec = recordings.recorder(ROOM)
    assert rec is not None
    await until(lambda: rec.segments >= 2, what="segments")
    await scheduler.run_now("record-off")
    await until(lambda: recordings.state(ROOM) is None, what="the stop job")
    stopped = time.time()
    earlier = {s.id for s in await api.app[STORE_KEY].segments.for_session(rec.room_session_id)}
    # For a duration: records the running meeting, then stops by itself.
    await asyncio.sleep(0.5)
    await scheduler.run_now("record-2s")
    await until(lambda: recordings.recorder(ROOM) is not None, what="recording again")
    again = recordings.recorder(ROOM)
    assert again is not None and again.room_session_id == rec.room_session_id
    await until(lambda: recordings.state(ROOM) is None, wait_s=10, what="the duration to run out")
    segs = by_track([s for s in await api.app[STORE_KEY].segments.for_session(rec.room_session_id)
                     if s.id not in earlier])
    assert set(segs) == {(HOST, "video"), (HOST, "audio")}
    for rows in segs.values():
        assert rows[0].gap_before and rows[0].start_at > stopped  # the same meeting, after a gap
        assert_contiguous(rows)
        assert 1.5 < rows[-1].end_at - rows[0].start_at < 3.0
    # Bad arguments fail the run with a message naming them.
    for job, words in (("record-bad", "no-such-room"), ("record-typo", "secs")):
        await scheduler.run_now(job)

        async def finished(job: str = job) -> Any:
            got = await api.app[STORE_KEY].jobs.runs(job)
            return got if got and got[0].outcome != "running" else None

        deadline = time.monotonic() + 10
        while not (done := await finished()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert done[0].outcome == "error" and words in (done[0].error or ""), done[0]


# ------------------------------------------------------------------------------- the player in Chromium

PLAYERS_JS = """() => {
  const S = window.__meetingPlayer;
  return {t: S.t, start: S.start, playing: S.playing, title: document.querySelector('#title').textContent,
    players: S.players.map((p) => {
      const seg = p.segs.find((s) => s.id === p.cur);
      return {site: p.site, kind: p.kind, state: p.state, paused: p.el.paused, time: p.el.currentTime,
              width: p.el.videoWidth || 0, ready: p.el.readyState, want: seg ? S.t - seg.start : null,
              idle: p.kind === 'audio' ? '' : p.tile.idle.textContent};
    })};
}"""


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_player_page_plays_every_site_side_by_side_in_chromium(
        api: Api, media: dict[str, list[bytes]]) -> None:
    from playwright import async_api as playwright_api

    from mediaserver.app_keys import ENGINE_KEY
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.browser import until as page_until

    store = api.app[STORE_KEY]
    engine = api.app[ENGINE_KEY]
    session = await store.rooms.start_session(ROOM, "test")
    rec = mr.MeetingRecorder(store, engine, api.app[CONFIG_KEY].storage.data_dir, ROOM, session.id, segment_s=2.0)
    await rec.start()
    sites = {HOST: 41, "xa-an-binh": 42, "xa-an-hoa": 43}
    feeds = []
    for site, seed in sites.items():
        v = engine.add_source(Source(f"{ROOM}/{site}/video", "video", "vp8", 90_000, owner=site))
        a = engine.add_source(Source(f"{ROOM}/{site}/audio", "audio", "opus", 48_000, owner=site))
        rec.add_site(site, {"video": v, "audio": a})
        feeds.append(Feeder(v, encode_video("vp8", 40, seed, gop=GOP), rate_hz=FPS, ts_step=3600))
        feeds.append(Feeder(a, media["opus"], rate_hz=50, ts_step=960))
    late = feeds[4]  # xa-an-hoa's video starts 1.5 s late

    async def late_start() -> None:
        late.paused = True
        await late.run(1.5)
        late.paused = False
        await late.run(3.0)

    await asyncio.gather(*(f.run(4.5) for f in feeds if f is not late), late_start())
    await rec.stop()
    await store.rooms.end_session(session.id)
    await api.add_user("dieu-hanh", "operator")

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 720},
                                            base_url=str(api.client.make_url("")).rstrip("/"))
            page = await ctx.new_page()
            log: list[str] = []
            page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
            await page.goto(f"/meetings/{session.id}/player")
            await page.wait_for_selector("#login:not([hidden])")
            assert await page.text_content("#login h2") == "Đăng nhập để xem bản ghi"  # Vietnamese by default
            await page.fill("#username", "dieu-hanh")
            await page.fill("#password", "wrong-password-1")
            await page.click("#login button[type=submit]")
            await page.wait_for_selector("#login-error:not([hidden])")
            await page.fill("#password", "Kiem-Tra-2026!")
            await page.click("#login button[type=submit]")
            await page.wait_for_selector("body[data-state=ready]")
            assert await page.locator(".tile").count() == 3
            state = await page.evaluate(PLAYERS_JS)
            # At the start xa-an-hoa had sent no video yet: its tile says so; the others show a picture.
            hoa = next(p for p in state["players"] if p["site"] == "xa-an-hoa" and p["kind"] == "video")
            assert hoa["state"] == "noSignal" and hoa["idle"] == "Không có tín hiệu ở thời điểm này"
            await page.click("#play")

            async def all_playing() -> Any:
                s = await page.evaluate(PLAYERS_JS)
                ok = s["t"] > s["start"] + 2.5 and all(
                    not p["paused"] and p["ready"] >= 2 and p["time"] > 0 and abs(p["time"] - p["want"]) < 0.5
                    and (p["kind"] == "audio" or p["width"] == 320) for p in s["players"])
                return s if ok else None

            try:
                await page_until(all_playing, "every site's video and audio to play in step", wait_s=30)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {await page.evaluate(PLAYERS_JS)} {log[-10:]}") from None
            await page.click("#lang-toggle")
            assert await page.text_content("#title") == "Meeting recording"
            assert await page.text_content("#play") == "❚❚ Pause"
            # Seeking back to the start: xa-an-hoa has no picture again, the others jump with the clock.
            await page.locator("#seek").fill("0")
            await page_until(lambda: page.evaluate(
                "() => window.__meetingPlayer.players.some((p) => p.site === 'xa-an-hoa' && p.kind === 'video'"
                " && p.state === 'noSignal')"), "the late site's tile to go idle after seeking back")
            # (The browser logs the wrong password's 401 itself; nothing else may fail.)
            assert not [m for m in log if m.startswith(("pageerror:", "error:")) and "401" not in m], log
        finally:
            await browser.close()
