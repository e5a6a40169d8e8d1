"""The motion analyser with object detection: real H.264 frames (scikit-image's bundled photos moving over a
bundled texture, encoded by PyAV's libx264), a real SQLite store and the real detection pool and model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from cameras.detect.model import Detection
from cameras.detect.pool import DetectionPool
from cameras.motion.analyser import CameraAnalyser, MotionAnalysers
from mediaserver.config import MotionSettings, ObjectSettings, RecordSettings
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.storage import Database, Store
from tests.conftest import Api

skimage_data = pytest.importorskip("skimage.data")

W, H, FPS = 640, 360, 10
SPRITE_PX = 210
CAM = "cong-chinh"
# The gate's left half is a zone; the person walks from the left half to the right one.
ZONES = {"cong": [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]}


def _clip(moving_s: float = 3.0, still_s: float = 2.5) -> list[tuple[bytes, bool]]:
    """Return H.264 access units (data, keyframe): the cameraman photo crossing gravel, then gravel alone."""
    background = cv2.resize(cv2.cvtColor(skimage_data.gravel(), cv2.COLOR_GRAY2BGR), (W, H))
    person = cv2.resize(cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR), (SPRITE_PX, SPRITE_PX))
    enc = av.CodecContext.create("libx264", "w")
    assert isinstance(enc, av.VideoCodecContext)
    enc.width, enc.height, enc.pix_fmt = W, H, "yuv420p"
    enc.time_base = Fraction(1, FPS)
    enc.gop_size = FPS
    enc.bit_rate = 1_500_000
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
    lead, moving, still = FPS, int(moving_s * FPS), int(still_s * FPS)
    out: list[tuple[bytes, bool]] = []
    for i in range(lead + moving + still):
        img = background.copy()
        if lead <= i < lead + moving:
            x = int(20 + (W - SPRITE_PX - 40) * (i - lead) / moving)
            img[H - SPRITE_PX - 10:H - 10, x:x + SPRITE_PX] = person
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), p.is_keyframe) for p in enc.encode(frame)]
    out += [(bytes(p), p.is_keyframe) for p in enc.encode(None)]
    return out


@pytest.fixture(scope="module")
def clip() -> list[tuple[bytes, bool]]:
    return _clip()


@pytest.fixture(scope="module")
def pool() -> Iterator[DetectionPool]:
    p = DetectionPool(workers=1, queue_max=32)
    yield p
    p.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "index.db")
    await db.open()
    st = Store(db)
    await st.cameras.upsert(CAM, "Cổng chính", "config")
    try:
        yield st
    finally:
        await db.close()


class Feed:
    """A camera stream for the analyser: an engine source whose sink the analyser attaches."""

    def __init__(self, engine: Engine, camera_id: str = CAM) -> None:
        self.source = engine.add_source(Source(f"camera/{camera_id}/sub", "video", "h264", 90_000))

    def attach_sink(self, sink: Sink) -> int:
        sink.attach(self.source)
        return 0


async def _play(feed: Feed, clip: list[tuple[bytes, bool]], t0: float, played: list[float],
                pace_s: float = 0.015) -> None:
    """Publish the clip with wall times FPS apart, ``pace_s`` apart in real time (the pool keeps up)."""
    for i, (data, key) in enumerate(clip):
        feed.source.publish(EncodedFrame([], i * 90_000 // FPS, key, data=data, wall=t0 + i / FPS))
        played.append(t0 + i / FPS)
        await asyncio.sleep(pace_s)


async def _run(store: Store | None, tmp_path: Path, pool: DetectionPool, objects: ObjectSettings,
               clip: list[tuple[bytes, bool]]) -> tuple[CameraAnalyser, float, list[dict[str, Any]]]:
    engine = Engine()
    analysers = MotionAnalysers(store, engine, tmp_path, pool=pool)
    feed = Feed(engine)
    analyser = await analysers.analyse(CAM, "sub", feed, MotionSettings(zones=ZONES), RecordSettings(),
                                       objects=objects)
    assert analyser is not None and analyser.objects is not None
    t0 = time.time() - len(clip) / FPS  # the clip ends now: the live badges' window is about the present
    activity: list[dict[str, Any]] = []
    played: list[float] = [t0]
    player = asyncio.create_task(_play(feed, clip, t0, played))
    deadline = time.monotonic() + 20
    # What the camera list would show while the clip plays (at the clip's time), until the event is over.
    while not (player.done() and analyser.object_events) and time.monotonic() < deadline:
        activity.append(analyser.activity(now=played[-1]))
        await asyncio.sleep(0.03)
    await player
    await analysers.stop()
    engine.close()
    return analyser, t0, activity


@pytest.mark.timeout(40)
async def test_a_walking_person_gives_a_labelled_event_and_an_alert(
        store: Store, tmp_path: Path, pool: DetectionPool, clip: list[tuple[bytes, bool]]) -> None:
    analyser, t0, activity = await _run(store, tmp_path, pool, ObjectSettings(alert_zones=["cong"]), clip)
    st = analyser.stats()
    assert st.object_frames >= 3 and st.object_skipped == 0 and st.objects_kept >= 3, st
    assert 1 <= st.object_ms < 1000
    # At most detect_fps (2) frames a second of the ~3 s of motion went to the detector.
    assert st.object_frames <= 2 * 3.5 + 1, st
    [ev] = analyser.object_events
    assert ev.kind == "alert" and ev.labels == ["person"] and ev.top_score >= 0.7, ev
    assert abs(ev.start - (t0 + 1.0)) <= 0.6, (ev.start - t0)
    assert "cong" in ev.zones
    # Frames detected while the motion was still a candidate (its first second) count for the event.
    assert min(b[0] for b in ev.boxes) < ev.start + 0.9, ev.boxes
    for t, label, score, x, y, w, h in ev.boxes:  # frame-relative boxes on the sprite's path (bottom strip)
        assert label == "person" and ev.start - 0.01 <= t <= ev.end + 0.01
        assert 0.3 <= y + h <= 1.0 and 0.0 <= x <= 1.0 and 0.05 <= w <= 0.5 and score >= 0.5
    [indexed] = await store.events.search([CAM], 0, 2e9, limit=10)
    assert indexed.end_at is not None and abs(indexed.start_at - ev.start) < 0.01
    snapshot = tmp_path / "review" / CAM / f"{indexed.id}.jpg"
    picture = cv2.imdecode(np.frombuffer(snapshot.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (H, W, 3)
    [item] = await store.review.list(camera_ids=[CAM])
    assert item.event_id == indexed.id and item.kind == "alert" and item.labels == ["person"]
    assert item.snapshot_path == f"review/{CAM}/{indexed.id}.jpg" and item.end_at is not None
    assert item.boxes == ev.boxes and item.top_score == ev.top_score and "cong" in item.zones
    # The live badges: motion with its start while it lasted; the person for 5 s after it was last seen.
    assert any(a["motion"] and a["since"] is not None and abs(a["since"] - ev.start) < 0.01 for a in activity)
    last_seen = max(b[0] for b in ev.boxes)
    assert analyser.activity(now=last_seen + 4.5) == {"motion": False, "objects": ["person"], "since": None}
    assert analyser.activity(now=last_seen + 5.5)["objects"] == []


@pytest.mark.timeout(40)
async def test_a_camera_tracking_cars_only_gives_no_review_item_for_a_person(
        store: Store, tmp_path: Path, pool: DetectionPool, clip: list[tuple[bytes, bool]]) -> None:
    analyser, t0, activity = await _run(store, tmp_path, pool, ObjectSettings(track=["car"]), clip)
    st = analyser.stats()
    assert st.object_frames >= 3 and st.objects_kept == 0, st  # detected, and filtered out
    [ev] = analyser.object_events
    assert ev.kind is None and ev.labels == [] and ev.detected_frames >= 3
    assert len(await store.events.search([CAM], 0, 2e9, limit=10)) == 1
    assert not (tmp_path / "review").exists()
    assert await store.review.list(camera_ids=[CAM]) == []
    assert all(a["objects"] == [] for a in activity)
    assert analyser.activity(now=t0 + 4.0)["objects"] == []


@pytest.mark.timeout(40)
async def test_a_full_pool_skips_and_counts_and_the_motion_event_is_still_indexed(
        store: Store, tmp_path: Path, clip: list[tuple[bytes, bool]]) -> None:
    busy = DetectionPool(workers=1, queue_max=1)
    entered, gate = threading.Event(), threading.Event()
    photo = cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR)

    def hold(found: list[Detection], ms: float) -> None:
        entered.set()
        gate.wait(30)  # the worker stays busy with this one

    try:
        assert busy.submit("other", photo, hold)
        assert await asyncio.to_thread(entered.wait, 20)
        assert busy.submit("other", photo, lambda f, ms: None)  # and the queue is full
        analyser, _, _ = await _run(store, tmp_path, busy, ObjectSettings(), clip)
    finally:
        gate.set()
        await asyncio.to_thread(busy.close)
    st = analyser.stats()
    assert st.object_frames >= 3 and st.object_skipped == st.object_frames and st.objects_kept == 0, st
    assert busy.skipped[CAM] >= st.object_frames and busy.done[CAM] == 0
    [indexed] = await store.events.search([CAM], 0, 2e9, limit=10)
    assert indexed.end_at is not None and indexed.thumbnail_path is not None
    assert [e.kind for e in analyser.object_events] == [None]
    assert await store.review.list(camera_ids=[CAM]) == []


@pytest.mark.timeout(40)
async def test_the_camera_list_shows_each_cameras_activity(api: Api, clip: list[tuple[bytes, bool]]) -> None:
    from mediaserver.app_keys import ENGINE_KEY, MOTION_KEY, STORE_KEY

    store, analysers = api.app[STORE_KEY], api.app[MOTION_KEY]
    await store.cameras.upsert(CAM, "Cổng chính", "api")
    await store.cameras.upsert("nha-xe", "Nhà xe", "api")
    token = await api.token_for("security")
    feed = Feed(api.app[ENGINE_KEY])
    # The app's own pool (config.detection), made for the first camera that detects objects.
    analyser = await analysers.analyse(CAM, "sub", feed, MotionSettings(), RecordSettings(), objects=ObjectSettings())
    assert analyser is not None and analyser.pool is not None and analyser.pool is analysers.pool

    async def activity() -> dict[str, dict[str, Any]]:
        r = await api.client.get("/api/v1/cameras", headers=api.auth(token))
        assert r.status == 200
        return {c["id"]: c["activity"] for c in (await r.json())["items"]}

    assert (await activity())[CAM] == {"motion": False, "objects": [], "since": None}
    warm = threading.Event()  # the app's pool loads its model at its first job: let that be done first
    assert analyser.pool.submit("warm-up", cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR),
                                lambda found, ms: warm.set())
    assert await asyncio.to_thread(warm.wait, 20)
    seen: list[dict[str, Any]] = []
    # In real time here: the badges are about the present (the server's clock, not the frames').
    player = asyncio.create_task(_play(feed, clip, time.time(), [], pace_s=1 / FPS))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (player.done() and any(a["objects"] for a in seen)):
        now = await activity()
        assert now["nha-xe"] == {"motion": False, "objects": [], "since": None}  # not analysed
        seen.append(now[CAM])
        await asyncio.sleep(0.05)
    await player
    assert any(a["motion"] and a["since"] is not None for a in seen), (analyser.stats(), seen[-3:])
    assert any(a["objects"] == ["person"] for a in seen), seen
    text = await (await api.client.get("/metrics", headers=api.auth(token))).text()
    kept = [ln for ln in text.splitlines() if ln.startswith(f'mediaserver_objects_kept_total{{camera="{CAM}"')]
    assert kept and float(kept[0].split()[-1]) >= 1, kept
    assert f'mediaserver_objects_skipped_frames_total{{camera="{CAM}",stream="sub"}} 0.0' in text
    assert f'mediaserver_objects_detect_ms{{camera="{CAM}",stream="sub"}}' in text
