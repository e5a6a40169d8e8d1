"""Motion detection: the heatmap format, the event state machine, the detector, and the analysers end to end
against the real camera simulator's scripted scenes (GStreamer RTSP server → ingest → decode → index)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from cameras.ingest import CameraIngest
from cameras.manager import ManagedCamera
from cameras.motion.analyser import MotionAnalysers, MotionHistory, luma_view
from cameras.motion.detector import BackgroundDetector, settings_problems
from cameras.motion.events import EventTracker
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.config import CameraConfig, MotionSettings, RecordSettings, StreamsConfig
from mediaserver.engine import Engine
from mediaserver.storage import Database, Store
from mediaserver.storage.heatmap import (
    HEATMAP_BYTES,
    HEATMAP_H,
    HEATMAP_W,
    HeatmapAccumulator,
    decode,
    empty_cells,
    encode,
    merge,
    region_activity,
)
from mediaserver.storage.repos import Segment

# ------------------------------------------------------------------------------------------- heatmap


def test_heatmap_encodes_the_share_of_frames_each_cell_moved_in() -> None:
    acc = HeatmapAccumulator()
    moved = empty_cells()
    moved[0, 0] = moved[17, 31] = True
    acc.add(moved)
    half = empty_cells()
    half[0, 0] = True
    acc.add(half)
    acc.add(None)
    acc.add(None)
    hm = acc.heatmap()
    assert len(hm) == HEATMAP_BYTES == HEATMAP_W * HEATMAP_H
    assert hm[0] == round(255 * 2 / 4) and hm[HEATMAP_BYTES - 1] == round(255 / 4)  # row-major, top left first
    assert sum(hm) == hm[0] + hm[-1]
    shares = decode(hm)
    assert shares.shape == (HEATMAP_H, HEATMAP_W) and shares[0, 0] == pytest.approx(0.5, abs=0.01)
    assert encode(np.zeros((HEATMAP_H, HEATMAP_W), dtype=np.uint32), 0) == bytes(HEATMAP_BYTES)


def test_region_activity_is_the_most_active_cell_of_the_region() -> None:
    cells = bytearray(HEATMAP_BYTES)
    cells[5 * HEATMAP_W + 20] = 255  # row 5, column 20: x 0.625..0.656, y 0.278..0.333
    cells[17 * HEATMAP_W + 0] = 51  # bottom left
    hm = bytes(cells)
    assert region_activity(hm, 0.6, 0.25, 0.7, 0.35) == 1.0
    assert region_activity(hm, 0.0, 0.0, 0.5, 0.5) == 0.0
    assert region_activity(hm, 0.0, 0.9, 0.1, 1.0) == pytest.approx(0.2)
    assert region_activity(hm, 0.0, 0.0, 1.0, 1.0) == 1.0
    # An edge on a cell boundary does not reach into the next cell: column 20 starts at x = 0.625.
    assert region_activity(hm, 0.5, 0.0, 0.625, 1.0) == 0.0
    with pytest.raises(ValueError, match="x0 < x1"):
        region_activity(hm, 0.5, 0.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="y1 must be within"):
        region_activity(hm, 0.0, 0.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="576 bytes"):
        region_activity(b"\x00" * 10, 0.0, 0.0, 1.0, 1.0)


def test_heatmaps_merge_weighted_by_duration() -> None:
    a, b = bytes([200]) * HEATMAP_BYTES, bytes([0]) * HEATMAP_BYTES
    assert merge([(a, 3.0), (b, 1.0)]) == bytes([150]) * HEATMAP_BYTES
    assert merge([]) == bytes(HEATMAP_BYTES)


def test_history_summarises_a_window_peak_and_heatmap() -> None:
    hist = MotionHistory(keep_s=60.0)
    moved = empty_cells()
    moved[2, 3] = True
    for i in range(10):  # 10 frames at 5 fps from t=100; motion in frames 4 and 5 only
        hist.add(100.0 + i * 0.2, 0.05 * (i in (4, 5)), moved if i in (4, 5) else None)
    peak, hm = hist.summary(100.0, 102.0)
    assert peak == pytest.approx(0.05) and hm is not None
    assert hm[2 * HEATMAP_W + 3] == round(255 * 2 / 10) and sum(hm) == hm[2 * HEATMAP_W + 3]
    assert hist.summary(100.0, 100.7) == (0.0, bytes(HEATMAP_BYTES))  # frames 0..3: analysed, still
    assert hist.summary(50.0, 60.0) == (0.0, None)  # nothing analysed then
    hist.add(200.0, 0.0, None)  # older than 60 s before this is forgotten
    assert hist.summary(100.0, 102.0) == (0.0, None)


# -------------------------------------------------------------------------------------- event tracker

BOX = ((0.1, 0.1, 0.2, 0.2),)


def feed(tracker: EventTracker, frames: list[tuple[float, float, set[str]]], fps: float = 5.0,
         until: float | None = None) -> list[Any]:
    """Feed (time, score, zones) frames (score 0: still); fill still frames at ``fps`` up to ``until``."""
    steps = []
    by_t = {round(t, 3): (s, z) for t, s, z in frames}
    t, end = 0.0, until if until is not None else max(by_t) + 5
    while t <= end:
        score, zones = by_t.get(round(t, 3), (0.0, set()))
        steps.append(tracker.update(t, score, BOX if score else (), zones))
        t = round(t + 1 / fps, 3)
    return steps


def moving(start: float, end: float, score: float = 0.02, zones: frozenset[str] = frozenset(),
           fps: float = 5.0) -> list[tuple[float, float, set[str]]]:
    n = round((end - start) * fps)
    return [(round(start + i / fps, 3), score, set(zones)) for i in range(n + 1)]


def test_tracker_starts_after_min_event_s_backdated_and_ends_after_the_hold() -> None:
    tracker = EventTracker(min_event_s=1.0, hold_s=1.5)
    steps = feed(tracker, moving(2.0, 5.0))
    started = [s.started for s in steps if s.started]
    ended = [s.ended for s in steps if s.ended]
    assert len(started) == len(ended) == 1
    assert started[0].start == 2.0 and started[0].end is None
    assert steps.index(next(s for s in steps if s.started)) == round(3.0 * 5)  # written once it lasted 1 s
    assert ended[0].start == 2.0 and ended[0].end == 5.0 and ended[0].seq == started[0].seq == 1
    assert steps.index(next(s for s in steps if s.ended)) == round(6.6 * 5)  # 1.5 s hold after the last motion


def test_tracker_ignores_blips_and_short_motion() -> None:
    tracker = EventTracker(min_event_s=1.0)
    frames = [(1.0, 0.5, set()), (3.0, 0.5, set()), (3.6, 0.5, set())]  # single frames, pauses ≥ 0.5 s
    frames += moving(6.0, 6.6)  # shorter than min_event_s
    assert not any(s.started or s.ended for s in feed(tracker, frames))


def test_tracker_keeps_peak_zones_and_boxes_and_joins_short_pauses() -> None:
    tracker = EventTracker(min_event_s=0.4, hold_s=1.5)
    frames = moving(1.0, 2.0, zones=frozenset({"gate"})) + moving(2.8, 4.0, zones=frozenset({"yard"}))
    frames.append((3.2, 0.9, {"yard"}))  # the peak (overrides the moving() frame at 3.2)
    frames.sort()
    steps = feed(tracker, frames)
    ended = [s.ended for s in steps if s.ended]
    assert len(ended) == 1  # a 0.8 s pause < hold: one event
    ev = ended[0]
    assert (ev.start, ev.end, ev.peak_score, ev.peak_at, ev.zones) == (1.0, 4.0, 0.9, 3.2, {"gate", "yard"})
    peaks = [i for i, s in enumerate(steps) if s.peak]
    assert peaks[-1] == round(3.2 * 5)
    boxes = ev.boxes()
    assert boxes[0] == [1.0, 0.1, 0.1, 0.2, 0.2]
    assert all(b2[0] - b1[0] >= 0.5 - 1e-9 for b1, b2 in itertools.pairwise(boxes))


def test_tracker_splits_endless_motion_and_finishes_at_stop() -> None:
    tracker = EventTracker(min_event_s=0.0, max_event_s=10.0)
    steps = feed(tracker, moving(0.0, 25.0), until=25.0)
    transitions = [(s.ended.start if s.ended else None, s.started.start if s.started else None)
                   for s in steps if s.started or s.ended]
    assert transitions == [(None, 0.0), (0.0, 10.0), (10.0, 20.0)]
    last = tracker.finish()
    assert last is not None and (last.start, last.end, last.seq) == (20.0, 25.0, 3)
    assert tracker.finish() is None


# ------------------------------------------------------------------------------------------- detector

W, H = 640, 360


class Scene:
    """A noisy synthetic luma scene drawn like the simulator's (the detector sees strided views)."""

    def __init__(self, noise: int = 6, level: int = 90, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.noise = [rng.integers(-noise, noise + 1, (H, W), dtype=np.int16) for _ in range(6)]
        self.level = level
        self.i = 0

    def frame(self, box: tuple[float, float] | None = None, size: float = 0.15) -> np.ndarray:
        self.i += 1
        y = np.clip(self.noise[self.i % 6] + self.level, 0, 255).astype(np.uint8)
        if box is not None:
            side = int(size * H)
            x0, y0 = int(box[0] * W - side / 2), int(box[1] * H - side / 2)
            y[max(0, y0):y0 + side, max(0, x0):x0 + side] = 220
        padded = np.zeros((H, W + 64), dtype=np.uint8)  # a decoder's line stride is wider than the picture
        padded[:, :W] = y
        return padded[:, :W]


def test_detector_finds_a_moving_object_its_zone_and_cells() -> None:
    settings = MotionSettings(zones={"left": [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)],
                                     "right": [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]})
    det, scene = BackgroundDetector(settings), Scene()
    for _ in range(5):
        assert not det.detect(scene.frame()).moving
    res = det.detect(scene.frame((0.25, 0.5)))
    assert res.moving and len(res.boxes) == 1 and res.zones == {"left"}
    box = res.boxes[0]
    assert box.x == pytest.approx(0.25 - 0.15 * H / W / 2, abs=0.02) and box.w == pytest.approx(0.15 * H / W, abs=0.02)
    assert box.y == pytest.approx(0.5 - 0.075, abs=0.02) and box.h == pytest.approx(0.15, abs=0.02)
    assert res.score == pytest.approx(0.15 * H * 0.15 * H / (W * H), rel=0.2)
    assert res.cells is not None
    rows, cols = np.nonzero(res.cells)
    assert rows.min() >= 7 and rows.max() <= 10 and cols.min() >= 6 and cols.max() <= 9


def test_detector_ignores_noise_masks_and_small_things() -> None:
    det, scene = BackgroundDetector(MotionSettings()), Scene(noise=20)
    assert not any(det.detect(scene.frame()).moving for _ in range(30))
    det = BackgroundDetector(MotionSettings(min_area_pct=5.0))  # the 2.3 % object is too small
    assert not any(det.detect(scene.frame((0.3, 0.5) if i > 2 else None)).moving for i in range(10))
    masked = MotionSettings(masks=[[(0.0, 0.2), (1.0, 0.2), (1.0, 0.8), (0.0, 0.8)]])
    det = BackgroundDetector(masked)
    assert not any(det.detect(scene.frame((0.1 + 0.05 * i, 0.5) if i > 2 else None)).moving for i in range(15))
    det.detect(scene.frame())
    assert det.detect(scene.frame((0.5, 0.1), size=0.1)).moving  # outside the mask it still sees


def test_detector_treats_a_lighting_change_as_no_motion_and_rebaselines() -> None:
    det, scene = BackgroundDetector(MotionSettings(analysis_fps=5)), Scene()
    for _ in range(5):
        det.detect(scene.frame())
    scene.level = 160  # the light goes on
    results = [det.detect(scene.frame()) for _ in range(10)]
    assert not any(r.moving for r in results) and results[0].lighting_change and det.lighting_changes == 1
    assert det.detect(scene.frame((0.5, 0.5))).moving  # and it sees objects again after settling
    # A big object on one side is motion, not lighting (the median brightness did not move).
    det2, scene2 = BackgroundDetector(MotionSettings()), Scene()
    det2.detect(scene2.frame())
    res = det2.detect(scene2.frame((0.25, 0.5), size=0.9))
    assert res.moving and not res.lighting_change


def test_luma_view_is_the_decoded_y_plane_without_a_copy_and_8_bit_for_deeper_formats() -> None:
    yuv = np.full((H * 3 // 2, W - 2), 128, dtype=np.uint8)  # 638 wide: the decoder pads each line
    yuv[:H] = np.arange(W - 2, dtype=np.uint8)[None, :] % 200
    picture = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    luma = luma_view(picture)
    assert luma.shape == (H, W - 2) and picture.planes[0].line_size > W - 2
    assert not luma.flags["OWNDATA"] and np.array_equal(luma, yuv[:H])
    deep = luma_view(picture.reformat(format="yuv420p10le"))
    assert deep.shape == (H, W - 2) and deep.dtype == np.uint8
    assert abs(int(deep[0, 150]) - int(deep[0, 50])) > 80  # the gradient survives the conversion


def test_bad_masks_and_zones_are_reported_by_field() -> None:
    bad = MotionSettings(masks=[[(0.0, 0.0), (1.0, 0.0)]], zones={"gate": [(0.0, 0.0), (1.5, 0.0), (1.0, 1.0)]})
    problems = settings_problems(bad)
    assert any(p.startswith("motion.masks[0]: a polygon needs at least 3 points") for p in problems)
    assert any(p.startswith("motion.zones.gate[1]: (1.5, 0.0) is outside") for p in problems)
    with pytest.raises(ValueError, match=r"camera 'cam-1'.*motion\.zones\.gate"):
        BackgroundDetector(bad, name="camera 'cam-1'")


# ------------------------------------------------------------------------ end to end on the simulator

FPS = 10  # the simulator's default sub stream rate
RUN_S = 33.0
EPISODES = [(2.0 + 5.0 * k, 4.5 + 5.0 * k) for k in range(6)]  # (start_s, end_s): 2.5 s each, 2.5 s apart
TOP, BOTTOM = 0.3, 0.7  # the y of the episodes' paths: even episodes on top, odd ones at the bottom
ZONES: dict[str, list[tuple[float, float]]] = {
    "top": [(0.0, 0.15), (1.0, 0.15), (1.0, 0.45), (0.0, 0.45)],
    "bottom": [(0.3, 0.55), (0.7, 0.55), (0.7, 0.85), (0.3, 0.85)],
}


def episode_objects() -> list[dict[str, Any]]:
    return [{"start_s": s, "end_s": e, "size": 0.15, "color": 220,
             "from": [0.1, TOP if k % 2 == 0 else BOTTOM], "to": [0.9, TOP if k % 2 == 0 else BOTTOM]}
            for k, (s, e) in enumerate(EPISODES)]


SCENES: dict[str, dict[str, Any]] = {
    # K motion episodes at known times, on two paths through two zones.
    "episodes": {"noise": 6, "background": 90, "objects": episode_objects()},
    # Nothing moves; heavy sensor noise.
    "noisy": {"noise": 20, "background": 90},
    # The lights change three times.
    "lighting": {"noise": 6, "background": 90, "lighting": [{"at_s": 6, "level": 200}, {"at_s": 14, "level": 40},
                                                            {"at_s": 22, "level": 140}]},
    # Objects cross a band that is masked.
    "masked": {"noise": 6, "background": 90, "objects": episode_objects()},
    # The same episodes from an H.265 camera (a smaller picture: x265 costs more to run).
    "hevc": {"noise": 6, "background": 90, "objects": episode_objects()},
}
MOUNTS: dict[str, dict[str, Any]] = {"hevc": {"codec": "h265", "width": 320, "height": 180}}
SETTINGS: dict[str, MotionSettings] = {
    "episodes": MotionSettings(zones=ZONES),
    "noisy": MotionSettings(),
    "lighting": MotionSettings(),
    "masked": MotionSettings(masks=[[(0.0, 0.15), (1.0, 0.15), (1.0, 0.85), (0.0, 0.85)]]),
    "hevc": MotionSettings(),
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "index.db")
    await db.open()
    st = Store(db)
    for cam in SCENES:
        await st.cameras.upsert(cam, cam, "config")
    try:
        yield st
    finally:
        await db.close()


def sim_spec() -> dict[str, Any]:
    """One RTSP server, one sub-stream mount per scene (640x360 H.264 unless told), one scene clock, played once."""
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": f"/{name}", "width": W, "height": H, "fps": FPS, "gop": FPS, "bitrate_kbps": 300,
                        "scene": {"kind": "scene", **scene}, **MOUNTS.get(name, {})}
                       for name, scene in SCENES.items()]}


def match(found: list[tuple[float, float]], truth: list[tuple[float, float]], tol_s: float) -> int:
    """Return how many true episodes have a found event with start and end within ``tol_s``."""
    used: set[int] = set()
    hits = 0
    for s, e in truth:
        for i, (fs, fe) in enumerate(found):
            if i not in used and abs(fs - s) <= tol_s and abs(fe - e) <= tol_s:
                used.add(i)
                hits += 1
                break
    return hits


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_scripted_scenes_give_the_right_events(store: Store, tmp_path: Path) -> None:
    engine = Engine()
    analysers = MotionAnalysers(store, engine, tmp_path)
    server = RtspServerProcess(sim_spec())
    ingests: list[CameraIngest] = []
    cams: list[ManagedCamera] = []
    try:
        await server.start()
        scene_zero = time.time()  # the server starts its scene clock just before it says READY
        # Segments already indexed around the episodes (the recorder's rows): motion marks the right ones.
        for cam in ("episodes", "noisy"):
            for i, (s, e) in enumerate([(scene_zero - 3600, scene_zero - 3590), (scene_zero, scene_zero + 10)]):
                await store.segments.add(Segment(0, cam, "sub", None, None, f"{cam}/{i}.mp4", s, e, 1000, 1, 0.0))
        for name in SCENES:
            cfg = CameraConfig(name=name, streams=StreamsConfig(sub_url=server.url(f"/{name}")),
                               motion=SETTINGS[name], record=RecordSettings(pre_padding_s=2, post_padding_s=2))
            ingest = CameraIngest(name, "sub", server.url(f"/{name}"), engine, store)
            ingests.append(ingest)
            cam = ManagedCamera(name, cfg, ingests={"sub": ingest})
            cams.append(cam)
            await ingest.start()
            await analysers.stream_started(cam, "sub", ingest)
        assert set(analysers.analysers) == set(SCENES)
        await asyncio.sleep(max(0.0, scene_zero + RUN_S - time.time()))
        stats = analysers.stats()
        for cam in cams:
            await analysers.stream_stopping(cam, "sub", cam.ingests["sub"])
    finally:
        await analysers.stop()
        await asyncio.gather(*(i.stop() for i in ingests))
        await server.stop()
        engine.close()

    for name, st in stats.items():  # every camera was analysed at about 5 fps
        assert st.frames_analysed >= 0.8 * 5 * (RUN_S - 2), (name, st)
        assert 3.5 <= st.analysed_fps <= 6.5, (name, st)
    events = {name: sorted(await store.events.search([name], 0, 2e9, limit=100), key=lambda e: e.start_at)
              for name in SCENES}
    assert events["noisy"] == [] and events["lighting"] == [] and events["masked"] == []
    assert stats["lighting"].lighting_changes >= 3

    for name in ("episodes", "hevc"):
        found = [(e.start_at - scene_zero, (e.end_at or 0) - scene_zero) for e in events[name]]
        hits = match(found, EPISODES, tol_s=1.0)
        recall, precision = hits / len(EPISODES), hits / max(1, len(found))
        assert recall >= 0.95 and precision >= 0.95, (name, found, EPISODES)
    for k, ev in enumerate(events["episodes"]):
        assert ev.end_at is not None and ev.peak_score > 0.005
        assert ev.zones == (["top"] if k % 2 == 0 else ["bottom"]), (k, ev.zones)
        y_path = TOP if k % 2 == 0 else BOTTOM
        assert ev.boxes and all(abs(b[2] + b[4] / 2 - y_path) < 0.1 for b in ev.boxes), ev.boxes
        assert ev.thumbnail_path == f"thumbnails/episodes/{ev.id}.jpg"
        jpeg = (tmp_path / ev.thumbnail_path).read_bytes()
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert picture.shape == (H, W)
        assert picture[int(y_path * H) - 5:int(y_path * H) + 5].max() > 180  # the object is on the thumbnail
    assert len(await store.events.search(["episodes"], 0, 2e9, zone="bottom")) == 3

    # The segments an event overlapped (with the paddings) are marked as holding motion; the others are not.
    segs = {(s.camera_id, round(s.start_at - scene_zero)): s.has_motion
            for cam in ("episodes", "noisy") for s in await store.segments.for_camera(cam, 0, 2e9, stream="sub")}
    assert segs == {("episodes", -3600): False, ("episodes", 0): True, ("noisy", -3600): False, ("noisy", 0): False}

    # The recorder's summary of a segment window: the peak score and where things moved.
    peak, hm = analysers.summary("episodes", scene_zero + 1.5, scene_zero + 5.0)  # the first episode (top)
    assert hm is not None and peak > 0.005
    assert region_activity(hm, 0.2, 0.2, 0.8, 0.4) > 0.05 and region_activity(hm, 0.0, 0.55, 1.0, 1.0) == 0.0
    assert analysers.summary("noisy", scene_zero + 2, scene_zero + 30) == (0.0, bytes(HEATMAP_BYTES))
    assert analysers.summary("nope", 0, 2e9) == (0.0, None)


# --------------------------------------------------------------------------------------- in the server

APP_CONFIG = """
recording:
  segment_seconds: 2
cameras:
  san-truong:
    name: Sân trường
    simulate:
      main_size: [640, 360]
      main_fps: 10
      sub_size: [320, 180]
      sub_fps: 10
      objects: [{start_s: 2, end_s: 5, size: 0.2, from: [0.1, 0.5], to: [0.9, 0.5]}]
      loop_s: 7
"""


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_server_analyses_a_cameras_sub_stream_and_the_recorder_gets_its_summaries(
        make_api: Any, tmp_path: Path) -> None:
    from mediaserver.app_keys import MOTION_KEY, RECORDERS_KEY, STORE_KEY
    from mediaserver.config import parse_config

    cfg = parse_config(APP_CONFIG, env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    analysers: MotionAnalysers = api.app[MOTION_KEY]
    store: Store = api.app[STORE_KEY]
    assert api.app[RECORDERS_KEY].motion_summary == analysers.summary
    deadline = time.monotonic() + 45
    while True:  # a whole event (the object crosses for 3 s of every 7)
        events = [e for e in await store.events.search(["san-truong"], 0, 2e9) if e.end_at is not None]
        if events:
            break
        assert time.monotonic() < deadline, analysers.stats()
        await asyncio.sleep(0.3)
    assert analysers.analysers["san-truong"].stream == "sub"
    ev = events[0]
    assert 2.0 <= ev.end_at - ev.start_at <= 4.5 and ev.peak_score > 0.01 and ev.thumbnail_path
    assert (cfg.storage.data_dir / ev.thumbnail_path).read_bytes()[:2] == b"\xff\xd8"
    headers = api.auth(await api.token_for("security"))
    text = await (await api.client.get("/metrics", headers=headers)).text()
    assert 'mediaserver_motion_analysed_fps{camera="san-truong",stream="sub"}' in text
    assert 'mediaserver_motion_events_total{camera="san-truong",stream="sub"}' in text
    # The recorder indexes the main stream's segments with the analyser's score and heatmap for their span.
    heatmaps = await store.segments.heatmaps("san-truong", 0, 2e9)
    assert heatmaps and any(region_activity(hm, 0.0, 0.3, 1.0, 0.7) > 0 for *_, hm in heatmaps)
    assert all(region_activity(hm, 0.0, 0.0, 1.0, 0.2) == 0 for *_, hm in heatmaps)
