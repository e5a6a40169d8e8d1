"""Routes: the review queue — people and vehicles the detector saw on motion, for security staff to review.

One item per motion event with kept detections (written by the analyser through ``ReviewRepo.upsert``).
Staff list and filter them (camera, object, zone, kind, reviewed, time), count the unreviewed (the console's
badge), mark them reviewed (who and when are kept, and the audit log says ``review.mark``), look at the
snapshot with the boxes drawn, play a short clip, and search in free text ("người ở Cổng chính hôm qua
14:00–14:30", parsed by ``mediaserver.review_query``) answered from the index.

The clip is the event from ``CLIP_PAD_S`` before its start to ``CLIP_PAD_S`` after its end, remuxed from the
recorded segments by the playback service (``recordings.playback``: no re-encoding, cached, range requests);
``POST …/clip`` hands out a ticket URL for ``<video src>``, which cannot send the bearer token.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from mediaserver.api.common import Body
from mediaserver.api.errors import ApiError
from mediaserver.api.footage import MEDIA_PREFIX
from mediaserver.api.recordings import FOOTAGE_ROLES, thumbnail_file
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, PLAYBACK_KEY, STORE_KEY
from mediaserver.config import IDENT_PATTERN, Config, ObjectLabel
from mediaserver.review_query import parse_query
from mediaserver.storage import Store
from mediaserver.storage.review import ReviewItem
from recordings.export import FootageError
from recordings.playback import PlaybackFile

CLIP_PAD_S = 2.0  # footage shown before the event's start and after its end
CLIP_MAX_S = 120.0  # longest clip (padding included); longer events are watched on the recordings page
MAX_PAGE = 200
MAX_BULK_IDS = 500
SNAPSHOT_JPEG_QUALITY = 88
SNAPSHOT_MAX_AGE_S = 60  # boxes are added while the event lasts: a short cache only
# Two boxes belong to the same frame when their times differ by less than this (the analyser writes one t per frame).
SAME_FRAME_S = 1e-3
# Box colours (BGR) per label, bright enough to read over any picture.
LABEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "person": (0, 0, 255), "bicycle": (255, 255, 0), "motorcycle": (0, 165, 255), "car": (255, 0, 0),
    "truck": (255, 0, 255), "bus": (0, 255, 255),
}
_IDENT_RE = re.compile(IDENT_PATTERN)


# ------------------------------------------------------------------------------------------ models


class ReviewQuery(BaseModel):
    camera_id: list[str] = Field(default_factory=list, max_length=64,
                                 description="Repeat for several cameras (none: every camera).")
    label: ObjectLabel | None = Field(None, description="Only items in which this object was seen.")
    zone: str | None = Field(None, pattern=IDENT_PATTERN, description="Only items whose objects stood in this zone.")
    kind: Literal["alert", "detection"] | None = Field(None, description="Only alerts, or only detections.")
    reviewed: bool | None = Field(None, description="true: only reviewed items; false: only unreviewed ones.")
    since: float | None = Field(None, allow_inf_nan=False, description="Items starting at or after (UTC epoch s).")
    until: float | None = Field(None, allow_inf_nan=False, description="Items starting before (UTC epoch s).")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Items per page.")
    before_id: int | None = Field(None, ge=1, lt=2**63, description="Page: the next_before_id of the previous page.")

    @model_validator(mode="after")
    def _range(self) -> ReviewQuery:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since must be before until")
        for camera_id in self.camera_id:
            if not _ident(camera_id):
                raise ValueError(f"camera_id {camera_id!r} is not a camera id")
        return self


class ReviewItemOut(BaseModel):
    id: int
    event_id: int = Field(..., description="The motion event (GET /api/v1/events) this item is about.")
    camera_id: str
    camera_name: str
    kind: Literal["alert", "detection"] = Field(..., description="alert: a configured object in a configured zone.")
    labels: list[str] = Field(..., description="Objects seen: person, bicycle, motorcycle, car, truck, bus.")
    top_score: float = Field(..., description="Best detection score (0..1).")
    zones: list[str] = Field(..., description="Zones the objects stood in.")
    start_at: float = Field(..., description="UTC epoch seconds.")
    end_at: float | None = Field(..., description="UTC epoch seconds; null while the event goes on.")
    boxes: list[list[Any]] = Field(..., description="[[t, label, score, x, y, w, h], ...], relative coordinates.")
    snapshot_url: str = Field(..., description="JPEG with the boxes drawn (fetch with the token).")
    clip_url: str = Field(..., description="MP4 of the event (GET with the token; POST for a ticket URL).")
    reviewed_by: str | None
    reviewed_at: float | None = Field(..., description="UTC epoch seconds; null: not reviewed.")


class ReviewList(BaseModel):
    items: list[ReviewItemOut]
    next_before_id: int | None = Field(..., description="Pass as before_id for the next (older) page; null at the end.")


class CameraCounts(BaseModel):
    unreviewed: int
    unreviewed_alerts: int


class SummaryOut(BaseModel):
    unreviewed: int = Field(..., description="Items nobody has reviewed yet.")
    unreviewed_alerts: int = Field(..., description="Of which alerts.")
    by_camera: dict[str, CameraCounts] = Field(..., description="The same per camera (cameras with none omitted).")


class BulkMarkIn(Body):
    ids: list[int] = Field(..., min_length=1, max_length=MAX_BULK_IDS, description="Review item ids.")
    reviewed: bool = Field(True, description="false: put the items back in the queue.")

    @model_validator(mode="after")
    def _positive(self) -> BulkMarkIn:
        if any(not 0 < i < 2**63 for i in self.ids):
            raise ValueError("ids are positive integers")
        return self


class UpdatedOut(BaseModel):
    updated: int = Field(..., description="How many items changed (already reviewed ones keep their first review).")


class SearchQuery(BaseModel):
    q: str = Field(..., min_length=1, max_length=300, description="Free text, Vietnamese or English, e.g. "
                   "'người ở Cổng chính hôm qua 14:00–14:30'.")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Items answered at most.")


class ParsedOut(BaseModel):
    label: str | None = Field(..., description="The object asked for.")
    camera_id: str | None
    zone: str | None
    since: float | None = Field(..., description="UTC epoch seconds.")
    until: float | None = Field(..., description="UTC epoch seconds.")
    understood: list[str] = Field(..., description="The pieces understood: 'words as written → meaning'.")
    ignored: list[str] = Field(..., description="Words not understood (not used in the search).")


class SearchOut(BaseModel):
    query: ParsedOut
    items: list[ReviewItemOut]


class ClipOut(BaseModel):
    url: str = Field(..., description="Ticket URL for <video src> (no token needed; expires when unused).")
    media_start: float = Field(..., description="Wall time (UTC epoch s) of media time 0.")
    media_end: float = Field(..., description="Wall time where the last frame ends.")
    bytes: int


# ----------------------------------------------------------------------------------------- helpers


def _ident(value: str) -> bool:
    return _IDENT_RE.match(value) is not None


def item_out(item: ReviewItem, names: dict[str, str]) -> ReviewItemOut:
    """Return the API shape of a review item."""
    return ReviewItemOut(
        id=item.id, event_id=item.event_id, camera_id=item.camera_id,
        camera_name=names.get(item.camera_id, item.camera_id), kind=item.kind,
        labels=item.labels, top_score=item.top_score, zones=item.zones, start_at=item.start_at, end_at=item.end_at,
        boxes=item.boxes, snapshot_url=f"/api/v1/review/{item.id}/snapshot", clip_url=f"/api/v1/review/{item.id}/clip",
        reviewed_by=item.reviewed_by, reviewed_at=item.reviewed_at)


async def camera_names(store: Store) -> dict[str, str]:
    """Return every camera's display name by id."""
    return {c.id: c.name for c in await store.cameras.all()}


def zone_names(config: Config) -> list[str]:
    """Return the motion zone names of every configured camera and of the global motion section."""
    names = dict.fromkeys(config.motion.zones)
    for camera_id in config.cameras:
        names.update(dict.fromkeys(config.camera_motion(camera_id).zones))
    return list(names)


def snapshot_boxes(boxes: list[list[Any]]) -> list[list[Any]]:
    """Return the boxes of the snapshot's frame: those at the time of the best-scoring box."""
    valid = [b for b in boxes if len(b) == 7 and isinstance(b[1], str)
             and all(isinstance(v, int | float) and not isinstance(v, bool) for v in (b[0], *b[2:]))]
    if not valid:
        return []
    best_t = float(max(valid, key=lambda b: float(b[2]))[0])
    return [b for b in valid if abs(float(b[0]) - best_t) < SAME_FRAME_S]


def draw_boxes(jpeg: bytes, boxes: list[list[Any]]) -> bytes:
    """Return the JPEG with each box ([t, label, score, x, y, w, h], relative) and its label drawn (blocking)."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the snapshot is not a readable image")
    h, w = image.shape[:2]
    thickness = max(2, round(min(w, h) / 240))
    scale = max(0.4, min(w, h) / 900)
    for _, label, score, x, y, bw, bh in boxes:
        colour = LABEL_COLOURS.get(str(label), (255, 255, 255))
        x0, y0 = round(float(x) * w), round(float(y) * h)
        x1, y1 = round((float(x) + float(bw)) * w), round((float(y) + float(bh)) * h)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
        # Hershey fonts are ASCII: the label's English name and the score, as the detector names them.
        text = f"{label} {float(score) * 100:.0f}%"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y0 - thickness if y0 - th - base - thickness >= 0 else y1 + th + base + thickness
        cv2.rectangle(image, (x0, ty - th - base), (x0 + tw + 4, ty + base // 2), colour, cv2.FILLED)
        cv2.putText(image, text, (x0 + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    ok, out = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_JPEG_QUALITY])
    if not ok:
        raise ValueError("the snapshot could not be encoded")
    return out.tobytes()


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def _item(ctx: Ctx) -> ReviewItem:
    raw = ctx.param("item_id")
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise ApiError(404, "not_found", f"no review item {raw!r}")
    return await ctx.app[STORE_KEY].review.get(int(raw))  # NotFound → 404


async def _clip(ctx: Ctx, item: ReviewItem) -> PlaybackFile:
    start = item.start_at - CLIP_PAD_S
    end = (item.end_at if item.end_at is not None else time.time()) + CLIP_PAD_S
    if end - start > CLIP_MAX_S:
        raise ApiError(422, "review_clip_too_long",
                       f"review item {item.id} lasts {end - start - 2 * CLIP_PAD_S:.0f} s: a clip is at most "
                       f"{CLIP_MAX_S:.0f} s; play the range from the recordings (POST /api/v1/cameras/"
                       f"{item.camera_id}/playback)")
    try:
        return await ctx.app[PLAYBACK_KEY].range_file(item.camera_id, start, end, "main")
    except FootageError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from exc


def _clip_headers(pb: PlaybackFile) -> dict[str, str]:
    return {"X-Playback-Start": f"{pb.first_wall:.3f}", "X-Playback-End": f"{pb.last_wall:.3f}",
            "Cache-Control": "private, no-cache"}


# -------------------------------------------------------------------------------------------- routes


def register(api: Api) -> None:
    """Add the review queue routes."""

    @api.route("GET", "/api/v1/review", roles=FOOTAGE_ROLES, query=ReviewQuery, response=ReviewList, tag="review",
               summary="List review items (alerts and detections) by camera, object, zone, kind, reviewed and "
               "time; newest first, paged by before_id.")
    async def list_items(ctx: Ctx) -> ReviewList:
        q: ReviewQuery = ctx.query
        store = ctx.app[STORE_KEY]
        items = await store.review.list(camera_ids=q.camera_id or None, label=q.label, zone=q.zone, kind=q.kind,
                                        reviewed=q.reviewed, since=q.since, until=q.until, limit=q.limit,
                                        before_id=q.before_id)
        names = await camera_names(store)
        return ReviewList(items=[item_out(i, names) for i in items],
                          next_before_id=items[-1].id if len(items) == q.limit else None)

    @api.route("GET", "/api/v1/review/summary", roles=FOOTAGE_ROLES, response=SummaryOut, tag="review",
               summary="How many items are unreviewed (and alerts), in all and per camera.")
    async def summary(ctx: Ctx) -> SummaryOut:
        return SummaryOut.model_validate(await ctx.app[STORE_KEY].review.summary())

    @api.route("GET", "/api/v1/review/search", roles=FOOTAGE_ROLES, query=SearchQuery, response=SearchOut,
               tag="review", summary="Search review items in free text (Vietnamese or English): object, camera, "
               "zone, day and time, e.g. 'người ở Cổng chính hôm qua 14:00–14:30'.")
    async def search(ctx: Ctx) -> SearchOut:
        q: SearchQuery = ctx.query
        store, config = ctx.app[STORE_KEY], ctx.app[CONFIG_KEY]
        names = await camera_names(store)
        parsed = parse_query(q.q, cameras=names, zones=zone_names(config), now=time.time(), tz=config.timezone)
        items = await store.review.list(camera_ids=[parsed.camera_id] if parsed.camera_id else None,
                                        label=parsed.label, zone=parsed.zone, since=parsed.since,
                                        until=parsed.until, limit=q.limit)
        return SearchOut(query=ParsedOut(label=parsed.label, camera_id=parsed.camera_id, zone=parsed.zone,
                                         since=parsed.since, until=parsed.until, understood=parsed.understood,
                                         ignored=parsed.ignored),
                         items=[item_out(i, names) for i in items])

    @api.route("POST", "/api/v1/review/reviewed", roles=FOOTAGE_ROLES, body=BulkMarkIn, response=UpdatedOut,
               tag="review", summary="Mark several items reviewed (or, with reviewed=false, unreviewed).")
    async def mark_many(ctx: Ctx) -> UpdatedOut:
        b: BulkMarkIn = ctx.body
        user = ctx.user()
        updated = await ctx.app[STORE_KEY].review.mark(b.ids, user.subject if b.reviewed else None, None)
        await ctx.audit("review.mark" if b.reviewed else "review.unmark", ",".join(map(str, b.ids[:50])),
                        ids=b.ids, reviewed=b.reviewed, updated=updated)
        return UpdatedOut(updated=updated)

    # No GET /api/v1/review/{item_id}: it would also match /api/v1/review/reviewed (whose Allow would then
    # advertise a GET it does not have); the list, the mark routes and the snapshot/clip routes cover its uses.

    async def mark_one(ctx: Ctx, reviewed: bool) -> ReviewItemOut:
        item = await _item(ctx)
        store = ctx.app[STORE_KEY]
        updated = await store.review.mark([item.id], ctx.user().subject if reviewed else None, None)
        await ctx.audit("review.mark" if reviewed else "review.unmark", str(item.id), ids=[item.id],
                        reviewed=reviewed, updated=updated)
        return item_out(await store.review.get(item.id), await camera_names(store))

    @api.route("POST", "/api/v1/review/{item_id}/reviewed", roles=FOOTAGE_ROLES, response=ReviewItemOut,
               tag="review", summary="Mark an item reviewed (by the caller, now; a reviewed item keeps its first "
               "review).")
    async def mark_reviewed(ctx: Ctx) -> ReviewItemOut:
        return await mark_one(ctx, True)

    @api.route("POST", "/api/v1/review/{item_id}/unreviewed", roles=FOOTAGE_ROLES, response=ReviewItemOut,
               tag="review", summary="Put an item back in the queue.")
    async def mark_unreviewed(ctx: Ctx) -> ReviewItemOut:
        return await mark_one(ctx, False)

    @api.route("GET", "/api/v1/review/{item_id}/snapshot", roles=FOOTAGE_ROLES, content_type="image/jpeg",
               tag="review", summary="The item's snapshot (else its motion event's thumbnail) with the boxes drawn; "
               "X-Snapshot-Source says which.")
    async def snapshot(ctx: Ctx) -> web.StreamResponse:
        item = await _item(ctx)
        store, data_dir = ctx.app[STORE_KEY], ctx.app[CONFIG_KEY].storage.data_dir
        candidates: list[tuple[str, str]] = []
        if item.snapshot_path:
            candidates.append(("review", item.snapshot_path))
        event = await store.events.get(item.event_id)
        if event is not None and event.thumbnail_path:
            candidates.append(("motion", event.thumbnail_path))
        for source, relpath in candidates:
            path = await asyncio.to_thread(thumbnail_file, data_dir, relpath)
            if path is None:
                continue
            raw = await asyncio.to_thread(_read, path)
            try:
                body = await asyncio.to_thread(draw_boxes, raw, snapshot_boxes(item.boxes))
            except ValueError:
                continue  # a damaged file: try the next picture
            return web.Response(body=body, content_type="image/jpeg", headers={
                "X-Snapshot-Source": source, "Cache-Control": f"private, max-age={SNAPSHOT_MAX_AGE_S}"})
        raise ApiError(404, "review_no_snapshot", f"review item {item.id} has no snapshot and its motion event no "
                       "thumbnail (deleted, or never saved)")

    @api.route("GET", "/api/v1/review/{item_id}/clip", roles=FOOTAGE_ROLES, content_type="video/mp4", tag="review",
               summary=f"The event as an MP4, {CLIP_PAD_S:.0f} s before to {CLIP_PAD_S:.0f} s after (remuxed "
               f"footage, at most {CLIP_MAX_S:.0f} s; range requests).")
    async def clip(ctx: Ctx) -> web.StreamResponse:
        item = await _item(ctx)
        pb = await _clip(ctx, item)
        rng = ctx.request.headers.get("Range", "")
        if not rng or rng.replace(" ", "").startswith("bytes=0-"):
            await ctx.audit("footage.playback", item.camera_id, start=pb.first_wall, end=pb.last_wall,
                            stream="main", review_item=item.id)
        return web.FileResponse(pb.path, headers={"Content-Type": "video/mp4", **_clip_headers(pb)})

    @api.route("POST", "/api/v1/review/{item_id}/clip", roles=FOOTAGE_ROLES, response=ClipOut, tag="review",
               summary="A ticket URL for <video src> playing the item's clip (no token needed).")
    async def clip_ticket(ctx: Ctx) -> ClipOut:
        item = await _item(ctx)
        pb = await _clip(ctx, item)
        user = ctx.user()
        ticket = ctx.app[PLAYBACK_KEY].tickets.issue(pb.path, subject=user.subject, role=user.role,
                                                     headers=_clip_headers(pb))
        await ctx.audit("footage.playback", item.camera_id, start=pb.first_wall, end=pb.last_wall, stream="main",
                        review_item=item.id)
        return ClipOut(url=MEDIA_PREFIX + ticket, media_start=pb.first_wall, media_end=pb.last_wall, bytes=pb.size)


__all__ = ["draw_boxes", "register", "snapshot_boxes"]
