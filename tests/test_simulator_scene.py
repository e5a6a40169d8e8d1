"""The simulator's photo scenes: colour pictures from real photographs, ground truth, foliage, lighting, and the
RTSP server drawing the same picture as the offline renderer."""

from __future__ import annotations

import asyncio

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from cameras.detect.model import ObjectModel
from cameras.simulator import clips
from cameras.simulator.photos import AssetError, load, scene_assets
from cameras.simulator.rtsp import RtspServerProcess, _without_pictures
from cameras.simulator.scene import Scene
from mediaserver.config import SimulatorConfig

pytest.importorskip("skimage.data")

W, H = 640, 360
SCENE = {"noise": 0, "background": 90, "backdrop": "brick",
         "objects": [{"start_s": 0, "end_s": 10, "size": 0.45, "from": [0.1, 0.6], "to": [0.9, 0.6], "photo": "person"},
                     {"start_s": 10, "end_s": 20, "size": 0.42, "from": [0.9, 0.6], "to": [0.1, 0.6],
                      "photo": "motorcycle"}],
         "trees": [{"region": [0.64, 0.0, 0.34, 0.5], "active": [[20, 25]]}],
         "lighting": [{"at_s": 30, "level": 150, "ramp_s": 10}]}


def bgr(scene: Scene, t: float) -> np.ndarray:
    """Return the scene's frame at ``t`` as BGR."""
    i420 = np.frombuffer(scene.frame(t), dtype=np.uint8).reshape(H * 3 // 2, W)
    out: np.ndarray = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    return out


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(SCENE, W, H, scene_assets(SCENE))


@pytest.fixture(scope="module")
def model() -> ObjectModel:
    return ObjectModel(320)


def test_the_picture_is_in_colour_and_the_truth_follows_the_script(scene: Scene) -> None:
    y, u, v = scene.planes(5.0)
    assert y.shape == (H, W) and u.shape == v.shape == (H // 2, W // 2)
    assert float(np.abs(v.astype(int) - 128).mean()) > 5  # red brick: real chroma, not a grey scene
    (label, (x, _, w, h)), = scene.truth(5.0)
    assert label == "person" and abs(h - 0.45) < 0.01 and 0.4 < x + w / 2 < 0.6
    assert [lab for lab, _ in scene.truth(15.0)] == ["motorcycle"]
    assert scene.truth(22.0) == []
    assert clips.truth(clips.Clip("c", 40.0, SCENE)) == [clips.Truth("person", 0, 10),
                                                         clips.Truth("motorcycle", 10, 20)]


@pytest.mark.parametrize(("t", "label"), [(2.5, "person"), (7.5, "person"), (12.5, "motorcycle"), (17.5, "motorcycle")])
def test_the_detector_finds_the_sprites_at_the_sub_stream_size(scene: Scene, model: ObjectModel, t: float,
                                                               label: str) -> None:
    frame = bgr(scene, t)
    (_, (x, y, w, h)), = scene.truth(t)
    side = int(min(max(w * W, h * H) * 1.5, H))  # a square motion crop around the object, as the analyser cuts
    cx, cy = (x + w / 2) * W, (y + h / 2) * H
    left, top = int(min(max(cx - side / 2, 0), W - side)), int(min(max(cy - side / 2, 0), H - side))
    found = [d for d in model.detect(frame[top:top + side, left:left + side]) if d.score >= 0.5]
    assert found and found[0].label == label, found


def test_foliage_sways_only_in_its_gust_and_inside_its_region(scene: Scene, model: ObjectModel) -> None:
    still = [scene.planes(t)[0] for t in (25.5, 26.8, 28.1)]  # after the gust, before the light: noise 0
    assert all((a == still[0]).all() for a in still)
    gust = [scene.planes(20.0 + 0.25 * k)[0].astype(int) for k in range(6)]
    diff = np.abs(gust[0] - gust[3])
    tree = scene.trees[0]
    inside = diff[tree.y:tree.y + tree.h, tree.x:tree.x + tree.w]
    assert inside.mean() > 5  # it moves ...
    outside = diff.copy()
    outside[tree.y:tree.y + tree.h, tree.x:tree.x + tree.w] = 0
    assert outside.max() == 0  # ... and nothing else does
    for t in (20.5, 21.1):  # and the detector sees no person or vehicle in it
        assert [d for d in model.detect(bgr(scene, t)) if d.score >= 0.5] == []


def test_lighting_ramps_from_the_previous_level(scene: Scene) -> None:
    assert scene.level(29.0) == 90 and scene.level(35.0) == 120 and scene.level(45.0) == 150
    assert scene.planes(45.0)[0].mean() > scene.planes(29.0)[0].mean() * 1.4  # the backdrop brightens with it


def test_bad_pictures_are_refused_precisely() -> None:
    with pytest.raises(AssetError, match="unknown picture 'dog'"):
        load("dog")
    with pytest.raises(ValueError, match="scene asset 'person' is missing"):
        Scene({"objects": [{"start_s": 0, "end_s": 1, "photo": "person"}]}, W, H, {})
    with pytest.raises(ValidationError, match="photo"):
        SimulatorConfig.model_validate({"objects": [{"start_s": 0, "end_s": 1, "photo": "dog"}]})
    spec = {"mounts": [{"path": "/main", "scene": SCENE}]}
    grey = _without_pictures(spec)["mounts"][0]["scene"]
    assert "backdrop" not in grey and "trees" not in grey and all("photo" not in o for o in grey["objects"])
    assert spec["mounts"][0]["scene"]["backdrop"] == "brick"  # the original is untouched


async def test_the_rtsp_server_draws_the_same_picture_as_the_offline_renderer() -> None:
    still = {"noise": 0, "background": 90, "backdrop": "gravel"}
    spec = {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": W, "height": H, "fps": 10, "gop": 10, "bitrate_kbps": 1500,
                        "scene": still}]}
    async with RtspServerProcess(spec) as server:
        def first_frame() -> np.ndarray:
            with av.open(server.url("/main"), options={"rtsp_transport": "tcp"}, timeout=10) as c:
                for k, frame in enumerate(c.decode(video=0)):
                    if k == 5:  # past the first keyframe's coarser quantisation
                        out: np.ndarray = frame.to_ndarray(format="bgr24")
                        return out
            raise AssertionError("no frame")

        decoded = await asyncio.to_thread(first_frame)
    expected = bgr(Scene(still, W, H, scene_assets(still)), 0.0)
    assert float(np.abs(decoded.astype(int) - expected.astype(int)).mean()) < 6  # another backdrop: > 20
