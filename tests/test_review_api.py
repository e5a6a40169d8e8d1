"""The review queue's HTTP API against a real server on 127.0.0.1, a real SQLite file and real footage files."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np

from mediaserver.app_keys import STORE_KEY, TOKENS_KEY
from mediaserver.config import Config
from mediaserver.storage import Store
from tests.conftest import Api, ApiFactory
from tests.media_fixtures import SegmentFixture, output_packets, packets_in_range

T0 = float(int(time.time()) - 3600)  # footage recorded an hour ago


async def review_api(make_api: ApiFactory, config: Config) -> tuple[Api, Store, dict[str, dict[str, str]]]:
    """A running server with two cameras, a zone, and a token per role."""
    config.motion.zones = {"cong-sau": [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]}
    api = await make_api(config)
    store = api.app[STORE_KEY]
    await store.cameras.upsert("cong-chinh", "Cổng chính", "config")
    await store.cameras.upsert("nha-xe", "Nhà xe", "config")
    tokens = {r: await api.token_for(r) for r in ("admin", "operator", "security")}
    tokens["participant"], _ = await api.app[TOKENS_KEY].issue_join("xa-an-binh", "hop-huyen")
    return api, store, {r: api.auth(t) for r, t in tokens.items()}


async def add_item(store: Store, camera: str, start: float, end: float | None, *, kind: str = "detection",
                   labels: tuple[str, ...] = ("person",), zones: tuple[str, ...] = (),
                   boxes: list[list[Any]] | None = None, snapshot: str | None = None,
                   thumbnail: str | None = None) -> int:
    event_id = await store.events.add(camera, start, end, 0.2, list(zones), thumbnail)
    boxes = boxes if boxes is not None else [[start + 0.5, lab, 0.8, 0.1, 0.1, 0.2, 0.3] for lab in labels]
    return await store.review.upsert(event_id, camera, kind=kind, labels=list(labels), top_score=0.8,
                                     zones=list(zones), boxes=boxes, start_at=start, end_at=end,
                                     snapshot_path=snapshot)


async def test_list_filter_page_mark_and_count(make_api: ApiFactory, config: Config) -> None:
    api, store, auth = await review_api(make_api, config)
    a = await add_item(store, "cong-chinh", T0 + 10, T0 + 15, kind="alert", zones=("cong-sau",))
    b = await add_item(store, "cong-chinh", T0 + 20, T0 + 25, labels=("car",))
    c = await add_item(store, "nha-xe", T0 + 30, None, kind="alert", labels=("motorcycle", "person"))
    sec = auth["security"]

    async def ids(query: str, status: int = 200) -> list[int]:
        r = await api.client.get(f"/api/v1/review{query}", headers=sec)
        body = await r.json()
        assert r.status == status, body
        return [i["id"] for i in body["items"]]

    r = await api.client.get("/api/v1/review", headers=sec)
    body = await r.json()
    assert [i["id"] for i in body["items"]] == [c, b, a] and body["next_before_id"] is None
    first = body["items"][2]
    assert first == {**first, "camera_id": "cong-chinh", "camera_name": "Cổng chính", "kind": "alert",
                     "labels": ["person"], "zones": ["cong-sau"], "start_at": T0 + 10, "end_at": T0 + 15,
                     "snapshot_url": f"/api/v1/review/{a}/snapshot", "clip_url": f"/api/v1/review/{a}/clip",
                     "reviewed_by": None, "reviewed_at": None}
    assert first["boxes"] == [[T0 + 10.5, "person", 0.8, 0.1, 0.1, 0.2, 0.3]]
    assert await ids("?camera_id=nha-xe") == [c]
    assert await ids("?camera_id=nha-xe&camera_id=cong-chinh&label=person") == [c, a]
    assert await ids("?zone=cong-sau") == [a]
    assert await ids("?kind=detection") == [b]
    assert await ids(f"?since={T0 + 15}&until={T0 + 30}") == [b]
    page = await (await api.client.get("/api/v1/review?limit=2", headers=sec)).json()
    assert [i["id"] for i in page["items"]] == [c, b] and page["next_before_id"] == b
    assert await ids(f"?limit=2&before_id={b}") == [a]
    for bad in ("?label=dog", "?kind=alarm", "?limit=0", f"?since={T0}&until={T0 - 1}", "?camera_id=../x"):
        r = await api.client.get(f"/api/v1/review{bad}", headers=sec)
        assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_input", bad

    summary = await (await api.client.get("/api/v1/review/summary", headers=sec)).json()
    assert summary == {"unreviewed": 3, "unreviewed_alerts": 2,
                       "by_camera": {"cong-chinh": {"unreviewed": 2, "unreviewed_alerts": 1},
                                     "nha-xe": {"unreviewed": 1, "unreviewed_alerts": 1}}}
    before = time.time()
    r = await api.client.post(f"/api/v1/review/{a}/reviewed", headers=sec)
    item = await r.json()
    assert r.status == 200 and item["reviewed_by"] == "security-user" and before <= item["reviewed_at"] <= time.time()
    r = await api.client.post("/api/v1/review/reviewed", headers=auth["admin"], json={"ids": [a, b, c]})
    assert r.status == 200 and await r.json() == {"updated": 2}  # a keeps its first review
    assert (await store.review.get(a)).reviewed_by == "security-user"
    assert (await store.review.get(b)).reviewed_by == "admin-user"
    assert await ids("?reviewed=false") == []
    r = await api.client.post(f"/api/v1/review/{b}/unreviewed", headers=sec)
    assert r.status == 200 and (await r.json())["reviewed_at"] is None
    assert await ids("?reviewed=false") == [b]
    assert (await (await api.client.get("/api/v1/review/summary", headers=sec)).json())["unreviewed"] == 1
    marks = await store.audit.all(action_prefix="review.")
    assert [(e.action, e.actor, e.detail["ids"], e.detail["updated"]) for e in reversed(marks)] == [
        ("review.mark", "security-user", [a], 1), ("review.mark", "admin-user", [a, b, c], 2),
        ("review.unmark", "security-user", [b], 1)]

    for path in ("/api/v1/review/999999/snapshot", "/api/v1/review/abc/snapshot", "/api/v1/review/0/clip"):
        r = await api.client.get(path, headers=sec)
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found", path
    for body in ({"ids": []}, {"ids": [0]}, {"ids": [a], "extra": 1}, {"ids": list(range(1, 502))}):
        r = await api.client.post("/api/v1/review/reviewed", headers=sec, json=body)
        assert r.status == 422, body
    for role in ("operator", "participant"):
        for method, path in (("GET", "/api/v1/review"), ("GET", "/api/v1/review/summary"),
                             ("POST", f"/api/v1/review/{a}/reviewed")):
            r = await api.client.request(method, path, headers=auth[role])
            assert r.status == 403, (role, path)
    assert (await api.client.get("/api/v1/review")).status == 401


async def test_snapshot_draws_the_boxes_and_falls_back_to_the_thumbnail(make_api: ApiFactory, config: Config) -> None:
    api, store, auth = await review_api(make_api, config)
    data_dir = config.storage.data_dir
    (data_dir / "review" / "cong-chinh").mkdir(parents=True)
    (data_dir / "thumbnails").mkdir(parents=True)
    grey = np.full((360, 640, 3), 128, np.uint8)
    for rel in ("review/cong-chinh/1.jpg", "thumbnails/1.jpg"):
        cv2.imwrite(str(data_dir / rel), grey)
    # Two frames: the best box (0.9, at T0 + 2) is the snapshot's frame; the earlier one is not drawn.
    boxes = [[T0 + 1, "car", 0.6, 0.0, 0.0, 0.2, 0.2], [T0 + 2, "person", 0.9, 0.25, 0.25, 0.5, 0.5],
             [T0 + 2, "car", "bad", 0.0, 0.0, 0.1], ["x", "car", 0.99, 0, 0, 1, 1]]  # malformed: not drawn
    item = await add_item(store, "cong-chinh", T0, T0 + 5, boxes=boxes, snapshot="review/cong-chinh/1.jpg",
                          thumbnail="thumbnails/1.jpg")

    async def picture(source: str) -> np.ndarray[Any, Any]:
        r = await api.client.get(f"/api/v1/review/{item}/snapshot", headers=auth["security"])
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg", await r.text()
        assert r.headers["X-Snapshot-Source"] == source
        img = cv2.imdecode(np.frombuffer(await r.read(), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (360, 640, 3)
        return img

    for source in ("review", "motion"):
        img = await picture(source)
        b, g, r_ = (int(v) for v in img[180, 160])  # the person box's left edge, halfway down (x = 0.25 · 640)
        assert r_ > 200 and g < 60 and b < 60, (source, b, g, r_)
        assert abs(int(img[180, 320].mean()) - 128) < 6  # inside the box: the picture, untouched
        assert abs(int(img[36, 64].mean()) - 128) < 6  # the car box of another frame is not drawn
        (data_dir / "review/cong-chinh/1.jpg").unlink(missing_ok=True)  # next round: only the event's thumbnail
    (data_dir / "thumbnails/1.jpg").write_bytes(b"not a jpeg")
    r = await api.client.get(f"/api/v1/review/{item}/snapshot", headers=auth["security"])
    assert r.status == 404 and (await r.json())["error"]["code"] == "review_no_snapshot"


async def test_clip_is_the_events_footage_remuxed_byte_for_byte(make_api: ApiFactory, config: Config,
                                                                tmp_path: Path) -> None:
    api, store, auth = await review_api(make_api, config)
    data_dir = config.storage.data_dir
    fx = SegmentFixture(store, data_dir, "cong-chinh", start_at=T0)
    try:
        segs = await fx.write(10)  # 20 s of 2 s segments, a keyframe every second
    finally:
        fx.close()
    item = await add_item(store, "cong-chinh", T0 + 6.5, T0 + 10.0)
    r = await api.client.get(f"/api/v1/review/{item}/clip", headers=auth["security"])
    assert r.status == 200 and r.headers["Content-Type"] == "video/mp4", await r.text()
    assert float(r.headers["X-Playback-Start"]) == T0 + 4.0  # the keyframe at or before start - 2 s
    out = tmp_path / "clip.mp4"
    out.write_bytes(await r.read())
    with av.open(str(out)) as c:
        assert c.duration is not None and abs(c.duration / 1e6 - 8.0) < 0.1  # T0 + 4 … T0 + 12 (end + 2 s)
        assert c.streams.video[0].codec_context.name == "h264"
    expected = packets_in_range(data_dir, segs, T0 + 4.5, T0 + 12.0)
    got = output_packets(out)
    assert len(got) == len(expected) == 200
    assert all(g[0] == e.data for g, e in zip(got, expected, strict=True)), "not a remux: payloads differ"
    played = (await store.audit.all(action_prefix="footage.playback"))[0]
    assert (played.actor, played.target, played.detail["review_item"]) == ("security-user", "cong-chinh", item)

    ticket = await (await api.client.post(f"/api/v1/review/{item}/clip", headers=auth["security"])).json()
    assert ticket["media_start"] == T0 + 4.0 and ticket["url"].startswith("/api/v1/media/")
    r = await api.client.get(ticket["url"])  # no token: the ticket is the credential (<video src>)
    assert r.status == 200 and await r.read() == out.read_bytes()

    long = await add_item(store, "cong-chinh", T0, T0 + 200)
    r = await api.client.get(f"/api/v1/review/{long}/clip", headers=auth["security"])
    assert r.status == 422 and (await r.json())["error"]["code"] == "review_clip_too_long"
    none = await add_item(store, "nha-xe", T0, T0 + 5)
    r = await api.client.post(f"/api/v1/review/{none}/clip", headers=auth["security"])
    assert r.status == 404 and (await r.json())["error"]["code"] == "no_footage"
    assert (await api.client.get(f"/api/v1/review/{item}/clip", headers=auth["operator"])).status == 403


async def test_free_text_search_is_answered_from_the_index(make_api: ApiFactory, config: Config) -> None:
    api, store, auth = await review_api(make_api, config)
    tz = ZoneInfo(config.timezone)
    yesterday = datetime.now(tz).date() - timedelta(days=1)

    def local(h: int, m: int) -> float:
        return datetime(yesterday.year, yesterday.month, yesterday.day, h, m, tzinfo=tz).timestamp()

    hit = await add_item(store, "cong-chinh", local(14, 10), local(14, 11))
    await add_item(store, "cong-chinh", local(14, 20), local(14, 21), labels=("car",))  # another object
    await add_item(store, "nha-xe", local(14, 15), local(14, 16))  # another camera
    await add_item(store, "cong-chinh", local(14, 40), local(14, 41))  # after the range
    q = "người ở Cổng chính hôm qua 14:00–14:30"
    r = await api.client.get("/api/v1/review/search", params={"q": q}, headers=auth["security"])
    body = await r.json()
    assert r.status == 200, body
    assert [i["id"] for i in body["items"]] == [hit]
    assert body["query"] == {"label": "person", "camera_id": "cong-chinh", "zone": None, "since": local(14, 0),
                             "until": local(14, 30), "understood": body["query"]["understood"], "ignored": []}
    assert len(body["query"]["understood"]) == 4
    r = await api.client.get("/api/v1/review/search", params={"q": "xe máy cổng sau con mèo"},
                             headers=auth["security"])
    body = await r.json()
    assert body["query"]["label"] == "motorcycle" and body["query"]["zone"] == "cong-sau"
    assert body["query"]["ignored"] == ["con", "mèo"] and body["items"] == []
    r = await api.client.get("/api/v1/review/search", params={"q": ""}, headers=auth["security"])
    assert r.status == 422
