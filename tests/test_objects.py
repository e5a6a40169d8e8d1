"""The object filters (labels, score, size, masks, zones, alerts, cross-crop dedupe), an event's review record,
the detection budget, and the per-camera objects config with its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cameras.detect.model import Detection
from cameras.detect.objects import (
    DetectSchedule,
    EventObjects,
    LiveKeys,
    ObjectHit,
    bottom_centre,
    dedupe,
    iou,
    is_alert,
    keep,
    point_in_polygon,
    to_frame,
    zones_of,
)
from mediaserver.config import ConfigError, ObjectSettings, parse_config

LEFT = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
BOTTOM_RIGHT = [(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]
ZONES = {"cong": LEFT, "san": BOTTOM_RIGHT}


def test_point_in_polygon_even_for_a_concave_one() -> None:
    square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
    assert point_in_polygon((0.5, 0.5), square) and not point_in_polygon((0.9, 0.5), square)
    u_shape = [(0.0, 0.0), (0.3, 0.0), (0.3, 0.7), (0.7, 0.7), (0.7, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    assert not point_in_polygon((0.5, 0.3), u_shape)  # in the notch
    assert point_in_polygon((0.5, 0.9), u_shape) and point_in_polygon((0.1, 0.3), u_shape)


def test_zones_go_by_where_the_object_stands() -> None:
    # A tall box whose top is in the right half but whose feet are in the left zone belongs to the left zone.
    assert bottom_centre((0.3, 0.1, 0.1, 0.5)) == pytest.approx((0.35, 0.6))
    assert zones_of((0.3, 0.1, 0.1, 0.5), ZONES) == ("cong",)
    assert zones_of((0.6, 0.1, 0.1, 0.6), ZONES) == ("san",)
    assert zones_of((0.6, 0.0, 0.1, 0.3), ZONES) == ()


def test_crop_detections_map_back_to_the_frame() -> None:
    assert to_frame(Detection("person", 0.9, 10, 20, 64, 36), (100, 50, 200, 200), 640, 360) == pytest.approx(
        (110 / 640, 70 / 360, 0.1, 0.1))


def test_iou_and_dedupe_across_crops_keep_the_best_of_one_label_only() -> None:
    a, b, far = (0.1, 0.1, 0.2, 0.4), (0.11, 0.1, 0.2, 0.4), (0.6, 0.1, 0.2, 0.4)
    assert iou(a, a) == pytest.approx(1.0) and iou(a, far) == 0.0 and 0.8 < iou(a, b) < 1.0
    got = dedupe([("person", 0.7, a), ("person", 0.9, b), ("car", 0.6, a), ("person", 0.8, far)])
    assert got == [("person", 0.9, b), ("person", 0.8, far), ("car", 0.6, a)]


def test_keep_filters_by_label_score_size_and_mask_and_tags_zones_and_alerts() -> None:
    settings = ObjectSettings(track=["person", "car"], alert_labels=["person"], min_score=0.5, min_size_pct=1.0,
                              masks=[[(0.8, 0.0), (1.0, 0.0), (1.0, 1.0), (0.8, 1.0)]])
    crop = (0, 0, 360, 360)  # a 360 px crop at the frame's left edge, frame 640x360
    dets = [
        Detection("person", 0.9, 0, 100, 64, 180),  # kept: in the gate zone, an alert
        Detection("car", 0.8, 200, 200, 100, 100),  # kept: a car is tracked but not an alert label
        Detection("truck", 0.99, 10, 10, 100, 100),  # not tracked
        Detection("person", 0.4, 10, 10, 100, 100),  # below min_score
        Detection("person", 0.9, 100, 10, 10, 10),  # 0.04 % of the frame: too small
    ]
    masked = (530, 0, 100, 100)  # second crop: a person standing in the mask at the right
    hits = keep([(crop, dets), (masked, [Detection("person", 0.95, 0, 0, 60, 100)])], 640, 360, settings, ZONES)
    assert [(h.label, h.score, h.zones, h.alert) for h in hits] == [
        ("person", 0.9, ("cong",), True), ("car", 0.8, ("cong",), False)]
    # A duplicate of the person seen from an overlapping crop is one person.
    again = keep([(crop, dets[:1]), ((4, 0, 360, 360), [Detection("person", 0.85, -4, 100, 64, 180)])],
                 640, 360, settings, ZONES)
    assert len(again) == 1


def test_alerts_need_an_alert_label_in_an_alert_zone_when_zones_are_given() -> None:
    anywhere = ObjectSettings()
    gate_only = ObjectSettings(alert_labels=["person", "car"], alert_zones=["cong"])
    assert is_alert("bus", (), anywhere)  # by default every tracked label alerts, anywhere
    assert is_alert("person", ("cong", "san"), gate_only) and not is_alert("person", ("san",), gate_only)
    assert not is_alert("truck", ("cong",), gate_only) and not is_alert("person", (), gate_only)


def test_an_event_record_is_the_union_with_the_best_frame_as_snapshot() -> None:
    ev = EventObjects(start_at=100.0)
    assert ev.kind is None and not ev.add(100.2, [], "frame0")
    assert ev.add(100.5, [ObjectHit("car", 0.6, 0.1, 0.1, 0.2, 0.2, ("san",), False)], "frame1")
    assert ev.kind == "detection"
    assert ev.add(101.0, [ObjectHit("person", 0.9, 0.1, 0.1, 0.2, 0.4, ("cong",), True)], "frame2")
    assert not ev.add(101.5, [ObjectHit("person", 0.7, 0.2, 0.1, 0.2, 0.4, (), True)], "frame3")
    assert ev.kind == "alert" and ev.best_t == 101.0 and ev.best_picture == "frame2"
    f = ev.fields()
    assert f["labels"] == ["car", "person"] and f["zones"] == ["cong", "san"] and f["top_score"] == 0.9
    assert f["boxes"][0] == [100.5, "car", 0.6, 0.1, 0.1, 0.2, 0.2] and len(f["boxes"]) == 3
    assert ev.detected_frames == 4


def test_an_event_record_stays_bounded_and_keeps_the_snapshots_boxes() -> None:
    ev = EventObjects(start_at=0.0)
    ev.add(0.0, [ObjectHit("person", 0.99, 0, 0, 0.1, 0.1)])
    for i in range(1, 1000):
        ev.add(i * 0.5, [ObjectHit("person", 0.6, 0, 0, 0.1, 0.1)])
    assert len(ev.frames) <= 121 and ev.frames[0][0] == 0.0 and ev.best_t == 0.0


def test_the_detection_budget_is_per_second_of_frame_time_without_bursts() -> None:
    sched = DetectSchedule(2.0)
    due = [t / 10 for t in range(0, 30) if sched.due(t / 10)]
    assert due == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert sched.due(100.0) and not sched.due(100.2) and sched.due(100.5)  # after a pause: from then on


def test_live_keys_follow_the_motion_in_progress() -> None:
    keys = LiveKeys()
    a, b = object(), object()
    assert keys.key(None) is None
    assert keys.key(a) == 1 and keys.key(a) == 1  # a candidate keeps its key when it becomes the event
    assert keys.key(b) == 2 and keys.key(a) == 3


CONFIG = """
cameras:
  cong-chinh:
    name: Cổng chính
    streams: {main_url: "rtsp://127.0.0.1/main"}
    motion:
      zones: {cong: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
    objects: %s
"""


def test_objects_config_defaults_and_a_valid_camera() -> None:
    cfg = parse_config(CONFIG % "{track: [person, car], alert_labels: [person], alert_zones: [cong]}", env={})
    obj = cfg.cameras["cong-chinh"].objects
    assert obj.alerting() == {"person"} and obj.min_score == 0.5 and obj.detect_fps == 2.0
    assert cfg.detection.workers == 1 and cfg.detection.queue_max == 4 and cfg.detection.input_px == 320
    default = ObjectSettings()
    assert default.enabled and default.alerting() == set(default.track) and len(default.track) == 6


@pytest.mark.parametrize(("objects", "path", "words"), [
    ("{alert_labels: [person, bus], track: [person]}", "cameras.cong-chinh.objects.alert_labels",
     "camera 'cong-chinh': bus not in objects.track"),
    ("{alert_zones: [cong, san]}", "cameras.cong-chinh.objects.alert_zones.1",
     "camera 'cong-chinh' has no motion zone 'san' (its zones: cong)"),
    ("{track: [dog]}", "cameras.cong-chinh.objects.track.0", "person"),
    ("{min_score: 1.5}", "cameras.cong-chinh.objects.min_score", "1"),
    ("{masks: [[[0, 0], [1, 0]]]}", "cameras.cong-chinh.objects.masks.0", "3"),
    ("{colour: red}", "cameras.cong-chinh.objects.colour", "unknown key"),
])
def test_bad_objects_config_is_reported_by_field(objects: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG % objects, env={})
    found = [p for p in err.value.problems if p.path == path]
    assert found and words in found[0].message, err.value.problems


def test_bad_detection_config_is_reported_by_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("detection: {input_px: 300, workers: 0}\n", env={})
    assert {p.path for p in err.value.problems} == {"detection.input_px", "detection.workers"}


async def test_the_review_writer_joins_early_and_late_detections_and_forgets_dead_candidates(tmp_path: Path) -> None:
    from cameras.detect.review_writer import ReviewWriter
    from cameras.motion.events import TrackedEvent

    person = [ObjectHit("person", 0.9, 0.1, 0.1, 0.2, 0.4, (), True)]
    car = [ObjectHit("car", 0.8, 0.5, 0.5, 0.2, 0.2, (), False)]
    writer = ReviewWriter("cam", None, tmp_path)
    await writer.detected(1, 10.0, car, None)  # a candidate that never becomes an event
    await writer.detected(2, 20.0, person, None)  # detected before its event's start is known
    await writer.started(2, TrackedEvent(1, 20.0, 21.0, 0.1, 20.0), None)
    await writer.ended(2, TrackedEvent(1, 20.0, 24.0, 0.1, 20.0, end=24.0), None)
    await writer.detected(2, 23.5, car, None)  # a busy pool answers after the end
    [ev] = writer.object_events()
    assert ev.kind == "alert" and ev.labels == ["car", "person"] and (ev.start, ev.end) == (20.0, 24.0)
    assert [b[0] for b in ev.boxes] == [20.0, 23.5]
    assert writer.items_written == 0 and not (tmp_path / "review").exists()  # no store: nothing written


async def test_the_review_writer_throttles_unchanged_updates_but_never_loses_the_last(tmp_path: Path) -> None:
    from cameras.detect.review_writer import ReviewWriter
    from cameras.motion.events import TrackedEvent
    from mediaserver.storage import Database, Store

    person = [ObjectHit("person", 0.9, 0.1, 0.1, 0.2, 0.4, ("cong",), True)]
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        store = Store(db)
        await store.cameras.upsert("cam", "Cổng", "config")
        event_id = await store.events.add("cam", 10.0, None, 0.1, [], None, [])
        writer = ReviewWriter("cam", store, tmp_path)
        await writer.started(1, TrackedEvent(1, 10.0, 10.0, 0.1, 10.0), event_id)
        for i in range(5):  # two detected frames a second, same shape: at most one write a second
            await writer.detected(1, 10.0 + i / 2, person, None)
        assert writer.items_written == 3
        await writer.ended(1, TrackedEvent(1, 10.0, 13.0, 0.1, 10.0, end=13.0), event_id)
        await writer.detected(1, 12.9, person, None)  # answered after the end: written at once
        assert writer.items_written == 5
        [item] = await store.review.list(camera_ids=["cam"])
        assert item.event_id == event_id and item.kind == "alert" and item.labels == ["person"]
        assert item.end_at == 13.0 and item.start_at == 10.0 and len(item.boxes) == 6 and item.zones == ["cong"]
    finally:
        await db.close()
