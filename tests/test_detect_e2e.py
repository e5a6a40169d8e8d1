"""Photographs in front of a simulated camera end as exactly the expected review alerts.

The GStreamer RTSP simulator plays a photo scene (scikit-image's bundled photographs, cameras/simulator/photos.py):
the photographer of camera.png crosses a brick courtyard, then the motorbike of motorcycle_left.png, then only
a light switch, foliage swaying in a gust and a slow dimming. The real app path — ONVIF onboarding, RTSP ingest,
the motion analyser with the shared detection pool and YOLOv3-tiny, a real SQLite index — must put exactly
two alerts in the review queue (a person, then a motorcycle, each with a snapshot) and none for the distractors,
which still made a motion event of their own.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from mediaserver.app_keys import STORE_KEY
from mediaserver.config import parse_config
from tests.conftest import Api, ApiFactory

pytest.importorskip("skimage.data")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CAM = "cong-chinh"
# Scene seconds (the simulator's clock starts with its process, a few seconds before the ingest connects).
PERSON = (7.0, 12.0)
MOTORBIKE = (15.0, 20.5)
LIGHT_SWITCH_S, GUST, DIM_S = 24.0, (26.0, 31.0), 31.5
CONFIG = f"""
cameras:
  {CAM}:
    name: Cổng chính
    simulate:
      main_size: [640, 360]
      main_fps: 10
      sub_size: [640, 360]
      sub_fps: 10
      noise: 4
      backdrop: brick
      objects:
        - {{start_s: {PERSON[0]}, end_s: {PERSON[1]}, size: 0.45, from: [0.08, 0.62], to: [0.92, 0.6],
            photo: person}}
        - {{start_s: {MOTORBIKE[0]}, end_s: {MOTORBIKE[1]}, size: 0.42, from: [0.92, 0.64], to: [0.08, 0.62],
            photo: motorcycle}}
      lighting:
        - {{at_s: {LIGHT_SWITCH_S}, level: 125}}
        - {{at_s: {DIM_S}, level: 80, ramp_s: 2}}
      trees:
        - {{region: [0.64, 0.0, 0.34, 0.5], active: [[{GUST[0]}, {GUST[1]}]]}}
      loop_s: 600
"""
SCENE_END_S = DIM_S + 2.0
WAIT_S = 75.0


async def _review(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await api.client.get("/api/v1/review", headers=headers, params={"camera_id": CAM, "limit": "50"})
    assert r.status == 200, await r.text()
    items: list[dict[str, Any]] = (await r.json())["items"]
    return sorted(items, key=lambda i: i["start_at"])


async def test_people_and_a_motorbike_become_alerts_and_lighting_and_foliage_do_not(
        make_api: ApiFactory, tmp_path: Path) -> None:
    cfg = parse_config(CONFIG, env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    headers = api.auth(await api.token_for("security"))
    store = api.client.app[STORE_KEY]
    t0 = time.monotonic()  # within a second or two after the simulator started: its scene clock
    deadline = t0 + WAIT_S

    async def quiet_after_scene() -> tuple[list[dict[str, Any]], list[Any]]:
        """Wait until the scene is over and every motion event has ended; return the queue and the events."""
        while True:
            events = await store.events.in_window(CAM, 0.0, time.time() + 60, 100)
            if time.monotonic() - t0 > SCENE_END_S and events and all(e.end_at is not None for e in events):
                items = await _review(api, headers)
                if all(i["end_at"] is not None for i in items):
                    return items, events
            assert time.monotonic() < deadline, f"the scene's events did not end in time: {events}"
            await asyncio.sleep(0.5)

    items, events = await quiet_after_scene()
    summary = [(i["kind"], i["labels"]) for i in items]
    assert summary == [("alert", ["person"]), ("alert", ["motorcycle"])], (summary, events)
    person, bike = items
    assert person["top_score"] >= 0.5 and bike["top_score"] >= 0.5
    assert person["end_at"] <= bike["start_at"]
    # The distractors moved the picture (a motion event after the motorbike's) but raised no review item.
    later = [e for e in events if e.start_at > bike["end_at"]]
    assert later, f"the foliage gust made no motion event: {events}"
    assert {e.id for e in later}.isdisjoint({i["event_id"] for i in items})
    for item in items:  # each alert has its snapshot
        r = await api.client.get(item["snapshot_url"], headers=headers)
        assert r.status == 200 and r.content_type == "image/jpeg", await r.text()
