"""Exports and playback against a real server on 127.0.0.1, a real SQLite index and real fMP4 segment files.

"Byte-exact remux" is checked packet by packet: the export's demuxed H.264 packets are the source segments'
packets of the range (from the keyframe at or before its start to the last frame before its end) — same
count, identical payloads — with strictly increasing timestamps.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest

from mediaserver.app_keys import CONFIG_KEY, EXPORTER_KEY, RETENTION_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.config import Config
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import Segment
from recordings.export import EXPORTS_DIR, Exporter, FootageError, remux_range
from recordings.playback import PLAYBACK_DIR
from recordings.retention import GB_BYTES
from tests.conftest import Api, ApiFactory
from tests.media_fixtures import CLIP_FPS, SegmenterFeed, SegmentFixture, output_packets, packets_in_range

T0 = float(int(time.time()) - 3600)  # footage recorded an hour ago
CAMERA = "gate-1"


async def footage_api(make_api: ApiFactory, config: Config, segments: int = 10,
                      gap_after: int | None = None) -> tuple[Api, list[Segment]]:
    """A running server with ``segments`` 2 s segments of gate-1 from T0 (optionally a 5 s outage)."""
    api = await make_api(config)
    store = api.app[STORE_KEY]
    await store.cameras.upsert(CAMERA, "Cổng chính", "config")
    fx = SegmentFixture(store, config.storage.data_dir, CAMERA, start_at=T0)
    try:
        if gap_after is None:
            segs = await fx.write(segments)
        else:
            segs = await fx.write(gap_after)
            fx.skip(5.0)
            segs += await fx.write(segments - gap_after)
    finally:
        fx.close()
    return api, segs


async def role_tokens(api: Api) -> dict[str, str]:
    tokens = {r: await api.token_for(r) for r in ("admin", "operator", "security")}
    tokens["participant"], _ = await api.app[TOKENS_KEY].issue_join("xa-an-binh", "hop-huyen")
    return tokens


async def wait_done(api: Api, token: str, export_id: str) -> dict[str, Any]:
    for _ in range(400):
        r = await api.client.get(f"/api/v1/exports/{export_id}", headers=api.auth(token))
        body: dict[str, Any] = await r.json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"export {export_id} did not finish: {body}")


def assert_byte_exact(out: Path, data_dir: Path, segments: list[Segment], start: float, end: float) -> None:
    expected = packets_in_range(data_dir, segments, start, end)
    got = output_packets(out)
    assert len(got) == len(expected) > 0
    assert all(g[0] == e.data for g, e in zip(got, expected, strict=True)), "payloads differ"
    assert [g[2] for g in got] == [e.keyframe for e in expected]
    pts = [g[1] for g in got]
    assert all(b > a for a, b in itertools.pairwise(pts)), "pts not strictly increasing"
    assert got[0][2], "does not start on a keyframe"


# --------------------------------------------------------------------------------------------- export


async def test_export_is_a_hashed_byte_exact_remux_downloadable_by_footage_roles_only(
        make_api: ApiFactory, config: Config, tmp_path: Path) -> None:
    api, segs = await footage_api(make_api, config)
    tokens = await role_tokens(api)
    start, end = T0 + 3.3, T0 + 15.7
    r = await api.client.post("/api/v1/exports", headers=api.auth(tokens["security"]),
                              json={"camera_id": CAMERA, "start": start, "end": end, "reason": "vụ trộm xe 14/5"})
    assert r.status == 202, await r.text()
    created = await r.json()
    assert created["status"] == "queued" and created["hold_id"] is not None
    done = await wait_done(api, tokens["security"], created["id"])
    assert done["status"] == "done", done
    assert done["progress"] == 1.0

    r = await api.client.get(f"/api/v1/exports/{created['id']}/file", headers=api.auth(tokens["security"]))
    assert r.status == 200
    body = await r.read()
    assert len(body) == done["bytes"]
    assert hashlib.sha256(body).hexdigest() == done["sha256"] == r.headers["X-Content-SHA256"]
    assert r.headers["Content-Disposition"].startswith("attachment;") and ".mp4" in r.headers["Content-Disposition"]
    out = tmp_path / "export.mp4"
    out.write_bytes(body)
    assert_byte_exact(out, config.storage.data_dir, segs, start, end)
    with av.open(str(out)) as c:  # starts at the keyframe at or before start: up to one GOP (1 s) early
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == round((15.7 - 3.0) * CLIP_FPS)

    for role in ("operator", "participant"):
        r = await api.client.get(f"/api/v1/exports/{created['id']}/file", headers=api.auth(tokens[role]))
        assert r.status == 403, role
        r = await api.client.post("/api/v1/exports", headers=api.auth(tokens[role]),
                                  json={"camera_id": CAMERA, "start": start, "end": end, "reason": "x"})
        assert r.status == 403, role
    assert (await api.client.get(f"/api/v1/exports/{created['id']}/file",
                                 headers=api.auth(tokens["admin"]))).status == 200

    # A plain download link (no Authorization header) through a ticket, audited as its issuer's download.
    r = await api.client.post(f"/api/v1/exports/{created['id']}/link", headers=api.auth(tokens["security"]))
    link = (await r.json())["url"]
    r = await api.client.get(link)
    assert r.status == 200 and await r.read() == body and r.headers["X-Content-SHA256"] == done["sha256"]
    assert (await api.client.get(link.rsplit("/", 1)[0] + "/not-a-ticket")).status == 404

    store = api.app[STORE_KEY]
    actions = [(a.action, a.actor) for a in await store.audit.all()]
    assert ("export.create", "security-user") in actions
    assert actions.count(("export.download", "security-user")) == 2  # bearer download + ticket download
    assert ("export.download", "admin-user") in actions
    holds = await (await api.client.get("/api/v1/holds", headers=api.auth(tokens["security"]))).json()
    [hold] = holds["items"]
    assert hold["id"] == created["hold_id"] and created["id"] in hold["reason"] and "vụ trộm" in hold["reason"]
    listed = await (await api.client.get("/api/v1/exports", headers=api.auth(tokens["admin"]))).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]


async def test_the_export_hold_protects_its_segments_from_the_disk_floor_until_released(
        make_api: ApiFactory, config: Config) -> None:
    api, segs = await footage_api(make_api, config)
    token = await api.token_for("security")
    start, end = T0 + 6.5, T0 + 9.5  # overlaps segments 3 and 4
    r = await api.client.post("/api/v1/exports", headers=api.auth(token),
                              json={"camera_id": CAMERA, "start": start, "end": end, "reason": "evidence"})
    export = await r.json()
    assert (await wait_done(api, token, export["id"]))["status"] == "done"
    store, data_dir = api.app[STORE_KEY], config.storage.data_dir
    # A quota far below what is recorded: the disk check must delete everything it may.
    api.app[CONFIG_KEY].retention.disk_quota_gb = 1000 / GB_BYTES
    report = await api.app[RETENTION_KEY].check_disk()
    assert report.deleted_segments == len(segs) - 2
    assert report.blocked  # still over the quota, and all that is left is held
    alive = [await store.segments.get(s.id) is not None for s in segs]
    assert alive == [i in (3, 4) for i in range(len(segs))]
    assert all((data_dir / s.path).exists() for s in segs[3:5])
    # The export's file survives too (exports are not footage).
    assert (data_dir / EXPORTS_DIR).is_dir() and len(list((data_dir / EXPORTS_DIR).glob("*.mp4"))) == 1

    r = await api.client.delete(f"/api/v1/holds/{export['hold_id']}", headers=api.auth(token))
    assert r.status == 200 and (await r.json())["released_at"] is not None
    assert (await api.client.delete(f"/api/v1/holds/{export['hold_id']}", headers=api.auth(token))).status == 409
    report = await api.app[RETENTION_KEY].check_disk()
    assert report.deleted_segments == 2
    assert not any((data_dir / s.path).exists() for s in segs)
    assert [a.action for a in await store.audit.all(action_prefix="hold.")] == ["hold.release"]


async def test_export_and_hold_requests_are_checked(make_api: ApiFactory, config: Config) -> None:
    api, _ = await footage_api(make_api, config, segments=2)
    token = await api.token_for("security")

    async def post(path: str, **body: Any) -> tuple[int, dict[str, Any]]:
        r = await api.client.post(path, headers=api.auth(token), json=body)
        return r.status, (await r.json())

    status, body = await post("/api/v1/exports", camera_id=CAMERA, start=T0 + 3, end=T0 + 2, reason="x")
    assert (status, body["error"]["field"]) == (422, "end")
    status, body = await post("/api/v1/exports", camera_id=CAMERA, start=T0, end=T0 + 2 * 86400, reason="x")
    assert (status, body["error"]["field"]) == (422, "end")
    status, body = await post("/api/v1/exports", camera_id="no-such-cam", start=T0, end=T0 + 1, reason="x")
    assert (status, body["error"]["field"]) == (404, "camera_id")
    status, body = await post("/api/v1/exports", camera_id=CAMERA, start=T0 - 100, end=T0 - 50, reason="x")
    assert (status, body["error"]["code"]) == (404, "no_footage")
    status, body = await post("/api/v1/exports", camera_id=CAMERA, start=T0, end=T0 + 1, reason="")
    assert (status, body["error"]["field"]) == (422, "reason")
    status, body = await post("/api/v1/holds", camera_id=CAMERA, start=T0, end=T0 + 60, reason="")
    assert status == 422
    status, hold = await post("/api/v1/holds", camera_id=CAMERA, start=T0, end=T0 + 60, reason="giữ lại")
    assert status == 201 and hold["created_by"] == "security-user"
    assert (await api.client.delete("/api/v1/holds/999999", headers=api.auth(token))).status == 404
    assert (await api.client.get("/api/v1/exports/nope", headers=api.auth(token))).status == 404
    assert [a.action for a in await api.app[STORE_KEY].audit.all(action_prefix="hold.")] == ["hold.create"]


async def test_remux_keeps_time_continuous_and_places_an_outage_at_its_wall_time(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        store = Store(db)
        await store.cameras.upsert(CAMERA, "Cổng", "config")
        fx = SegmentFixture(store, tmp_path, CAMERA, start_at=T0)
        segs = await fx.write(4)
        fx.skip(5.0)
        segs += await fx.write(3)
        fx.close()
        out = tmp_path / "out.mp4"
        seen: list[float] = []
        result = await asyncio.to_thread(remux_range, tmp_path, segs, T0 + 1.5, T0 + 17.0, out,
                                         progress=seen.append, cancel=threading.Event())
    finally:
        await db.close()
    assert_byte_exact(out, tmp_path, segs, T0 + 1.5, T0 + 17.0)
    assert result.first_wall == T0 + 1.0 and abs(result.last_wall - 17.0 - T0) < 1 / CLIP_FPS + 1e-6
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        assert vs.time_base is not None
        times = [float(p.pts * vs.time_base) for p in c.demux(vs) if p.size and p.pts is not None]
    steps = [b - a for a, b in itertools.pairwise(times)]
    frame = 1 / CLIP_FPS
    assert max(steps) == pytest.approx(5.0 + frame, abs=1e-3)  # the outage, where the wall clock puts it
    assert all(s == pytest.approx(frame, abs=1e-3) for s in steps if s < 1)  # continuous elsewhere
    assert seen and seen == sorted(seen) and seen[0] >= 0 and seen[-1] <= 1


async def test_remux_of_the_real_segment_writers_files_is_byte_exact(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        store = Store(db)
        await store.cameras.upsert(CAMERA, "Cổng", "config")
        feed = SegmenterFeed(store, tmp_path, CAMERA, start_at=T0)
        segs = await feed.write(5)
        await feed.aclose()
        segs = await store.segments.for_camera(CAMERA, T0, T0 + 60)
    finally:
        await db.close()
    assert len(segs) == 6 and all(not s.gap_before for s in segs[1:])
    out = tmp_path / "out.mp4"
    result = await asyncio.to_thread(remux_range, tmp_path, segs, T0 + 2.5, T0 + 9.9, out)
    assert result.first_wall == pytest.approx(T0 + 2.0)
    assert_byte_exact(out, tmp_path, segs, T0 + 2.5, T0 + 9.9)


async def test_remux_of_a_range_without_footage_is_a_clear_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        store = Store(db)
        await store.cameras.upsert(CAMERA, "Cổng", "config")
        fx = SegmentFixture(store, tmp_path, CAMERA, start_at=T0)
        segs = await fx.write(1)
        fx.close()
    finally:
        await db.close()
    with pytest.raises(FootageError) as info:
        remux_range(tmp_path, segs, T0 + 50, T0 + 60, tmp_path / "none.mp4")
    assert info.value.code == "no_footage" and not (tmp_path / "none.mp4").exists()


async def test_exports_interrupted_by_a_restart_are_marked_failed(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db")
    await db.open()
    try:
        store = Store(db)
        await store.cameras.upsert(CAMERA, "Cổng", "config")
        await store.exports.create("e1", CAMERA, T0, T0 + 10, "security-user", None)
        await store.exports.set_progress("e1", 0.4)
        (tmp_path / EXPORTS_DIR).mkdir()
        leftover = tmp_path / EXPORTS_DIR / "gate-1_e1.mp4.part"
        leftover.write_bytes(b"partial")
        exporter = Exporter(store, tmp_path)
        await exporter.start()
        await exporter.stop()
        await exporter.stop()
        e1 = await store.exports.get("e1")
        assert e1 is not None and e1.status == "failed" and "restart" in (e1.error or "")
        assert not leftover.exists()
    finally:
        await db.close()


# ------------------------------------------------------------------------------------------- playback


async def test_playback_serves_a_seekable_mp4_with_range_requests(make_api: ApiFactory, config: Config,
                                                                  tmp_path: Path) -> None:
    api, segs = await footage_api(make_api, config, segments=10, gap_after=6)
    tokens = await role_tokens(api)
    sec = api.auth(tokens["security"])
    start, end = T0 + 3.3, T0 + 21.0
    url = f"/api/v1/cameras/{CAMERA}/playback.mp4?start={start}&end={end}"
    r = await api.client.get(url, headers=sec)
    assert r.status == 200, await r.text()
    full = await r.read()
    assert r.headers["Content-Type"] == "video/mp4" and r.headers["Accept-Ranges"] == "bytes"
    assert float(r.headers["X-Playback-Start"]) == T0 + 3.0  # the keyframe at or before start
    assert full.find(b"moov") < full.find(b"mdat"), "index not up front (+faststart)"

    r = await api.client.get(url, headers={**sec, "Range": "bytes=1000-1999"})
    assert r.status == 206 and r.headers["Content-Range"] == f"bytes 1000-1999/{len(full)}"
    assert await r.read() == full[1000:2000]
    r = await api.client.get(url, headers={**sec, "Range": "bytes=-500"})
    assert r.status == 206 and await r.read() == full[-500:]
    assert len(list((config.storage.data_dir / PLAYBACK_DIR).glob("*.mp4"))) == 1  # built once, then cached

    out = tmp_path / "playback.mp4"
    out.write_bytes(full)
    assert_byte_exact(out, config.storage.data_dir, segs, start, end)
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        assert vs.time_base is not None
        target_s = 6.5
        c.seek(int(target_s / vs.time_base), stream=vs)
        frame = next(iter(c.decode(vs)))
        assert frame.time is not None and target_s - 1.0 <= frame.time <= target_s  # the keyframe before it

    for role in ("operator", "participant"):
        assert (await api.client.get(url, headers=api.auth(tokens[role]))).status == 403, role
    r = await api.client.get(f"/api/v1/cameras/{CAMERA}/playback.mp4?start={T0}&end={T0 + 3601}", headers=sec)
    assert r.status == 422 and (await r.json())["error"]["field"] == "end"
    r = await api.client.get(f"/api/v1/cameras/{CAMERA}/playback.mp4?start={T0 - 99}&end={T0 - 9}", headers=sec)
    assert r.status == 404


async def test_playback_ticket_url_plays_without_a_token(make_api: ApiFactory, config: Config) -> None:
    api, _ = await footage_api(make_api, config, segments=4)
    tokens = await role_tokens(api)
    body = {"start": T0 + 1.2, "end": T0 + 7.0}
    r = await api.client.post(f"/api/v1/cameras/{CAMERA}/playback", headers=api.auth(tokens["security"]), json=body)
    assert r.status == 200, await r.text()
    out = await r.json()
    assert out["media_start"] == T0 + 1.0 and out["url"].startswith("/api/v1/media/")
    r = await api.client.get(out["url"])  # what <video src> does: no Authorization header
    full = await r.read()
    assert r.status == 200 and len(full) == out["bytes"]
    r = await api.client.get(out["url"], headers={"Range": "bytes=10-19"})
    assert r.status == 206 and await r.read() == full[10:20]
    for role in ("operator", "participant"):
        r = await api.client.post(f"/api/v1/cameras/{CAMERA}/playback", headers=api.auth(tokens[role]), json=body)
        assert r.status == 403, role


async def test_segment_file_with_range(make_api: ApiFactory, config: Config) -> None:
    api, segs = await footage_api(make_api, config, segments=2)
    tokens = await role_tokens(api)
    on_disk = (config.storage.data_dir / segs[1].path).read_bytes()
    url = f"/api/v1/recordings/{segs[1].id}/file"
    r = await api.client.get(url, headers={**api.auth(tokens["security"]), "Range": "bytes=0-99"})
    assert r.status == 206 and await r.read() == on_disk[:100]
    assert float(r.headers["X-Segment-Start"]) == segs[1].start_at
    r = await api.client.get(url, headers=api.auth(tokens["admin"]))
    assert r.status == 200 and await r.read() == on_disk
    for role in ("operator", "participant"):
        assert (await api.client.get(url, headers=api.auth(tokens[role]))).status == 403, role
    assert (await api.client.get("/api/v1/recordings/999999/file", headers=api.auth(tokens["admin"]))).status == 404
    assert (await api.client.get("/api/v1/recordings/x1/file", headers=api.auth(tokens["admin"]))).status == 404
    assert api.app[EXPORTER_KEY] is not None


async def test_an_export_names_its_file_in_local_time_and_says_how_much_footage_is_missing(
        make_api: ApiFactory, config: Config) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    api, segs = await footage_api(make_api, config, segments=10, gap_after=3)  # 0–6 s, outage, 11–25 s
    token = await api.token_for("security")
    start, end = T0 + 1.0, T0 + 30.0
    r = await api.client.post("/api/v1/exports", headers=api.auth(token),
                              json={"camera_id": CAMERA, "start": start, "end": end, "reason": "kiểm tra"})
    assert r.status == 202, await r.text()
    created = await r.json()
    outage = (segs[2].end_at, segs[3].start_at)
    assert outage[1] - outage[0] == pytest.approx(5.0, abs=0.3)
    assert created["missing_s"] == pytest.approx(outage[1] - outage[0] + end - segs[-1].end_at, abs=0.01)
    assert created["covered_s"] == pytest.approx(end - start - created["missing_s"], abs=0.01)
    assert [(g["start"], g["end"]) for g in created["gaps"]] == [
        (iso_utc(outage[0]), iso_utc(outage[1])), (iso_utc(segs[-1].end_at), iso_utc(end))]
    done = await wait_done(api, token, created["id"])
    assert done["status"] == "done" and done["missing_s"] == created["missing_s"], done
    local = datetime.fromtimestamp(start, ZoneInfo(config.timezone))
    assert done["file_name"].startswith(f"{CAMERA}_{local:%Y%m%dT%H%M%S}+0700_"), done["file_name"]
    r = await api.client.get(f"/api/v1/exports/{created['id']}/file", headers=api.auth(token))
    assert done["file_name"] in r.headers["Content-Disposition"]
    # Fully covered: nothing missing, no gaps.
    r = await api.client.post("/api/v1/exports", headers=api.auth(token),
                              json={"camera_id": CAMERA, "start": T0 + 12.0, "end": T0 + 20.0, "reason": "đủ"})
    full = await r.json()
    assert (full["missing_s"], full["gaps"], full["covered_s"]) == (0.0, [], 8.0), full


def iso_utc(ts: float) -> str | None:
    from mediaserver.api.common import iso

    return iso(ts)
