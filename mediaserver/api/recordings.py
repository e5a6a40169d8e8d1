"""Routes: the read side of the media index — segments, motion event search, thumbnails, region search, timeline.

Everything here answers from the index (and thumbnail files): no video is decoded. Region search reads the
per-segment motion heatmaps (``mediaserver.storage.heatmap``); the timeline aggregates one day of one camera
into per-minute buckets from two index ranges (segments, events) plus the camera's outages.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from aiohttp import web
from pydantic import BaseModel, Field, field_validator, model_validator

from mediaserver.api import peer
from mediaserver.api.common import iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.config import IDENT_PATTERN
from mediaserver.storage.heatmap import HEATMAP_BYTES, HEATMAP_H, HEATMAP_MAX, HEATMAP_W, region_cells
from mediaserver.storage.repos import MotionEvent, Outage, Store

FOOTAGE_ROLES = (Role.ADMIN, Role.SECURITY)
DAY_S = 86400.0
BUCKET_S = 60.0
# Segments closer than this count as one recorded span (timestamps of consecutive segments jitter a little).
SPAN_JOIN_S = 1.0
MAX_REGION_RANGE_S = 7 * DAY_S  # a week of 10 s segments is ~35 MB of heatmaps: enough for one request
MAX_TIMELINE_EVENTS = 3000
THUMBNAIL_MAX_AGE_S = 86400
_CURSOR_RE = re.compile(r"^(?P<start>\d+(?:\.\d+)?(?:e[+-]?\d+)?):(?P<id>\d+)$")
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
FloatArray = npt.NDArray[np.float64]


class RangeQuery(BaseModel):
    since: float | None = Field(None, description="Start, UTC epoch seconds (default: 24 h ago).")
    until: float | None = Field(None, description="End, UTC epoch seconds (default: now).")

    @model_validator(mode="after")
    def _defaults(self) -> RangeQuery:
        now = time.time()
        self.until = now if self.until is None else self.until
        self.since = self.until - DAY_S if self.since is None else self.since
        if self.since > self.until:
            raise ValueError("since must be before until")
        return self


class SegmentQuery(RangeQuery):
    camera_id: str = Field(..., min_length=1, max_length=64)
    stream: str = Field("main", pattern=r"^(main|sub)$")


class SegmentOut(BaseModel):
    id: int
    camera_id: str | None
    start_at: str | None
    end_at: str | None
    bytes: int
    keyframes: int
    motion_score: float


class SegmentList(BaseModel):
    items: list[SegmentOut]


class EventQuery(RangeQuery):
    camera_id: list[str] = Field(default_factory=list, max_length=64,
                                 description="Repeat to search several cameras (none: every camera).")
    zone: str | None = Field(None, pattern=IDENT_PATTERN, description="Only events that touched this zone.")
    min_duration_s: float = Field(0.0, ge=0, le=DAY_S, description="Only events lasting at least this long.")
    min_score: float = Field(0.0, ge=0, le=1, description="Only events whose peak score reached this.")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=64, pattern=_CURSOR_RE.pattern,
                               description="Page: the next_cursor of the previous page.")


class EventSummary(BaseModel):
    id: int
    camera_id: str
    start_at: str | None = Field(..., description="ISO-8601, UTC.")
    end_at: str | None = Field(..., description="ISO-8601, UTC; null while the event is still going on.")
    start_ts: float = Field(..., description="UTC epoch seconds.")
    end_ts: float | None
    duration_s: float | None = Field(..., description="Null while the event is still going on.")
    peak_score: float = Field(..., description="Largest share of the picture that moved (0..1).")
    zones: list[str]
    thumbnail_url: str | None = Field(..., description="JPEG of the peak frame, when there is one.")


class EventOut(EventSummary):
    boxes: list[Any] = Field(..., description="[[t, x, y, w, h], ...]: relative boxes over time.")


class EventList(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(..., description="Pass as cursor for the next (older) page; null at the end.")


class RegionQuery(RangeQuery):
    camera_id: str = Field(..., pattern=IDENT_PATTERN)
    stream: str = Field("main", pattern=r"^(main|sub)$")
    x0: float = Field(..., ge=0, le=1, description="Left edge, relative to the picture width (0..1).")
    y0: float = Field(..., ge=0, le=1, description="Top edge, relative to the picture height (0..1).")
    x1: float = Field(..., ge=0, le=1, description="Right edge (0..1), greater than x0.")
    y1: float = Field(..., ge=0, le=1, description="Bottom edge (0..1), greater than y0.")
    min_activity: float = Field(0.05, gt=0, le=1, description="Least share of analysed frames in which the "
                                "region's most active cell moved, for a segment to match.")

    @model_validator(mode="after")
    def _region(self) -> RegionQuery:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("the region needs x0 < x1 and y0 < y1")
        assert self.since is not None and self.until is not None
        if self.until - self.since > MAX_REGION_RANGE_S:
            raise ValueError(f"a region search covers at most {MAX_REGION_RANGE_S / DAY_S:.0f} days")
        return self


class Span(BaseModel):
    start_at: str | None
    end_at: str | None
    start_ts: float
    end_ts: float


class RegionSpan(Span):
    activity: float = Field(..., description="Peak activity of the region over the span (0..1).")
    segments: int = Field(..., description="How many segments the span merges.")


class RegionResult(BaseModel):
    camera_id: str
    region: list[float] = Field(..., description="[x0, y0, x1, y1], relative.")
    segments_scanned: int
    spans: list[RegionSpan]


class TimelineQuery(BaseModel):
    camera_id: str = Field(..., pattern=IDENT_PATTERN)
    date: str = Field(..., pattern=_DATE_RE, description="The day, YYYY-MM-DD, in the configured time zone.")
    stream: str = Field("main", pattern=r"^(main|sub)$")

    @field_validator("date")
    @classmethod
    def _real_date(cls, v: str) -> str:
        date.fromisoformat(v)  # raises ValueError (→ 422 naming query.date) for 2026-02-30
        return v


class Gap(Span):
    kind: str = Field(..., description="'outage': the camera was down; 'not_recorded': no footage was kept.")
    reason: str = ""


class Buckets(BaseModel):
    size_s: float = BUCKET_S
    count: int
    recorded: list[float] = Field(..., description="Share of each minute with footage (0..1).")
    activity: list[float] = Field(..., description="Motion activity of each minute (0..1).")
    events: list[int] = Field(..., description="Motion events starting in each minute.")


class Timeline(BaseModel):
    camera_id: str
    date: str
    timezone: str
    start_at: str | None
    end_at: str | None
    start_ts: float
    end_ts: float
    now_ts: float
    buckets: Buckets
    spans: list[Span] = Field(..., description="Recorded spans, oldest first.")
    gaps: list[Gap] = Field(..., description="Outages and holes between recorded spans, oldest first.")
    events: list[EventSummary] = Field(..., description="Events overlapping the day, oldest first (no boxes: "
                                       "GET /api/v1/events has them).")
    events_truncated: bool


# ------------------------------------------------------------------------------------------- helpers


def event_summary(e: MotionEvent) -> EventSummary:
    """Return the API shape of an event without its boxes (timelines)."""
    return EventSummary(
        id=e.id, camera_id=e.camera_id, start_at=iso(e.start_at), end_at=iso(e.end_at), start_ts=e.start_at,
        end_ts=e.end_at, duration_s=None if e.end_at is None else round(e.end_at - e.start_at, 3),
        peak_score=e.peak_score, zones=e.zones,
        thumbnail_url=f"/api/v1/events/{e.id}/thumbnail" if e.thumbnail_path else None,
    )


def event_out(e: MotionEvent) -> EventOut:
    """Return the API shape of an event."""
    return EventOut(**event_summary(e).model_dump(), boxes=e.boxes)


def encode_cursor(e: MotionEvent) -> str:
    """Return the cursor of the page after ``e`` (repr keeps the float exact, so no event is lost or repeated)."""
    return f"{e.start_at!r}:{e.id}"


def decode_cursor(cursor: str) -> tuple[float, int]:
    """Return (start, id) of a cursor made by encode_cursor."""
    m = _CURSOR_RE.match(cursor)
    if m is None:
        raise ApiError(422, "invalid_input", "query.cursor: not a cursor this API returned", "query.cursor")
    return float(m["start"]), int(m["id"])


async def require_camera(store: Store, camera_id: str) -> None:
    """Raise 404 naming the camera if the index has never known it."""
    if await store.cameras.get(camera_id) is None:
        raise ApiError(404, "not_found", f"camera {camera_id!r} does not exist", "camera_id")


def span(start: float, end: float) -> Span:
    """Return a span with both time forms."""
    return Span(start_at=iso(start), end_at=iso(end), start_ts=start, end_ts=end)


def region_spans(rows: list[tuple[int, float, float, bytes]], x0: float, y0: float, x1: float, y1: float,
                 min_activity: float) -> list[RegionSpan]:
    """Return the spans of consecutive segments whose region activity reaches ``min_activity``.

    Activity is ``heatmap.region_activity``'s (the most active cell of the region, 0..1), computed for all the
    segments at once with numpy.
    """
    rows = [r for r in rows if len(r[3]) == HEATMAP_BYTES]
    if not rows:
        return []
    c0, r0, c1, r1 = region_cells(x0, y0, x1, y1)
    grid = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(len(rows), HEATMAP_H, HEATMAP_W)
    peaks = grid[:, r0:r1, c0:c1].max(axis=(1, 2)).astype(np.float64) / HEATMAP_MAX
    merged: list[list[float]] = []  # [start, end, peak activity, segments]
    for i in np.flatnonzero(peaks >= min_activity).tolist():
        _, start, end, _ = rows[i]
        if merged and start - merged[-1][1] <= SPAN_JOIN_S:
            last = merged[-1]
            last[1], last[2], last[3] = max(last[1], end), max(last[2], float(peaks[i])), last[3] + 1
        else:
            merged.append([start, end, float(peaks[i]), 1])
    out = [RegionSpan(start_at=iso(a), end_at=iso(b), start_ts=a, end_ts=b, activity=round(act, 4), segments=int(k))
           for a, b, act, k in merged]
    return out


def day_window(day: str, tz: str) -> tuple[float, float]:
    """Return [start, end) in UTC epoch seconds of a calendar day in time zone ``tz``."""
    d = date.fromisoformat(day)
    zone = ZoneInfo(tz)
    start = datetime(d.year, d.month, d.day, tzinfo=zone)
    nxt = d + timedelta(days=1)
    return start.timestamp(), datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()


def subtract(intervals: list[tuple[float, float]], cuts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Return ``intervals`` minus ``cuts`` (both lists of [start, end))."""
    out: list[tuple[float, float]] = []
    for a, b in intervals:
        pieces = [(a, b)]
        for c, d in cuts:
            pieces = [p for s, e in pieces for p in ((s, min(e, c)), (max(s, d), e)) if p[1] > p[0]]
        out.extend(pieces)
    return out


def covered_s(day0: float, n: int, starts: FloatArray, ends: FloatArray) -> FloatArray:
    """Return the seconds of each of ``n`` minute buckets that intervals [start, end) cover.

    The intervals are a stream's segments: sorted by start, not overlapping, already clipped to the day.
    Recorded time up to each bucket edge is a prefix sum plus the part of the interval the edge falls in.
    """
    if not len(starts):
        return np.zeros(n)
    edges = day0 + BUCKET_S * np.arange(n + 1)
    lengths = ends - starts
    before = np.concatenate(([0.0], np.cumsum(lengths)))  # covered before interval k starts
    k = np.searchsorted(starts, edges, side="left")  # how many intervals start before each edge
    last = np.maximum(k - 1, 0)
    upto = np.where(k > 0, before[last] + np.clip(edges - starts[last], 0.0, lengths[last]), 0.0)
    return np.maximum(np.diff(upto), 0.0)


def minute_max(day0: float, n: int, starts: FloatArray, ends: FloatArray, values: FloatArray) -> FloatArray:
    """Return, per minute bucket, the largest value of the intervals touching it (0 where none does)."""
    out = np.zeros(n)
    if not len(starts):
        return out
    first = np.clip(np.floor((starts - day0) / BUCKET_S), 0, n - 1).astype(np.int64)
    stop = np.maximum(np.clip(np.ceil((ends - day0) / BUCKET_S), 0, n).astype(np.int64), first + 1)
    reps = stop - first
    # Every (interval, minute) pair at once: each interval's first minute, plus 0, 1, ... within it.
    offsets = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    np.maximum.at(out, np.repeat(first, reps) + offsets, np.repeat(values, reps))
    return out


def build_timeline(day0: float, day1: float, now: float, segments: list[tuple[float, float, float, bool]],
                   events: list[MotionEvent], outages: list[Outage]) -> tuple[Buckets, list[Span], list[Gap]]:
    """Aggregate a day's segments, events and outages into minute buckets, recorded spans and gaps."""
    n = max(1, round((day1 - day0) / BUCKET_S))
    seg = np.array([(max(s, day0), min(e, day1), score) for s, e, score, _ in segments if min(e, day1) > max(s, day0)],
                   dtype=np.float64).reshape(-1, 3)
    recorded = np.minimum(covered_s(day0, n, seg[:, 0], seg[:, 1]) / BUCKET_S, 1.0)
    activity = minute_max(day0, n, seg[:, 0], seg[:, 1], np.clip(seg[:, 2], 0.0, 1.0))
    ev = np.array([(max(e.start_at, day0), min(e.end_at if e.end_at is not None else now, day1), e.peak_score)
                   for e in events], dtype=np.float64).reshape(-1, 3)
    ev = ev[ev[:, 1] >= ev[:, 0]]
    activity = np.maximum(activity, minute_max(day0, n, ev[:, 0], ev[:, 1], np.clip(ev[:, 2], 0.0, 1.0)))
    starting = [int((e.start_at - day0) // BUCKET_S) for e in events if day0 <= e.start_at < day1]
    counts = np.bincount(np.minimum(np.array(starting, dtype=np.int64), n - 1), minlength=n)

    spans: list[list[float]] = []
    for start, end, _, gap_before in segments:
        if spans and not gap_before and start - spans[-1][1] <= SPAN_JOIN_S:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    # Holes are what lies between two spans of the day (footage before the day's first span is not asked for).
    spans = [[max(a, day0), min(b, day1)] for a, b in spans if min(b, day1) > max(a, day0)]
    holes = [(a[1], b[0]) for a, b in pairwise(spans) if b[0] > a[1]]
    down = [(max(o.started_at, day0), min(o.ended_at if o.ended_at is not None else now, day1)) for o in outages]
    gaps = [Gap(**span(a, b).model_dump(), kind="outage", reason=o.reason)
            for (a, b), o in zip(down, outages, strict=True) if b > a]
    gaps += [Gap(**span(a, b).model_dump(), kind="not_recorded") for a, b in subtract(holes, down)]
    gaps.sort(key=lambda g: g.start_ts)
    buckets = Buckets(count=n, recorded=np.round(recorded, 3).tolist(), activity=np.round(activity, 3).tolist(),
                      events=counts.tolist())
    return buckets, [span(a, b) for a, b in spans], gaps


def thumbnail_file(data_dir: Path, relpath: str) -> Path | None:
    """Return the thumbnail's absolute path if it is a file inside the data dir (no escaping it)."""
    root = data_dir.resolve()
    path = (root / relpath).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


# -------------------------------------------------------------------------------------------- routes


def register(api: Api) -> None:
    """Add the recording routes."""

    @api.route("GET", "/api/v1/recordings", roles=FOOTAGE_ROLES, query=SegmentQuery, response=SegmentList,
               tag="recordings", summary="List a camera's recorded segments in a time range.")
    async def segments(ctx: Ctx) -> SegmentList:
        q: SegmentQuery = ctx.query
        assert q.since is not None and q.until is not None
        rows = await ctx.app[STORE_KEY].segments.for_camera(q.camera_id, q.since, q.until, q.stream)
        return SegmentList(items=[
            SegmentOut(id=s.id, camera_id=s.camera_id, start_at=iso(s.start_at), end_at=iso(s.end_at),
                       bytes=s.bytes, keyframes=s.keyframes, motion_score=s.motion_score) for s in rows
        ])

    @api.route("GET", "/api/v1/events", roles=FOOTAGE_ROLES, query=EventQuery, response=EventList,
               tag="recordings", summary="Search motion events by camera, zone, time, duration and score; "
               "newest first, keyset-paginated (cursor).")
    async def events(ctx: Ctx) -> EventList:
        q: EventQuery = ctx.query
        assert q.since is not None and q.until is not None
        store = ctx.app[STORE_KEY]
        for camera_id in dict.fromkeys(q.camera_id):
            await require_camera(store, camera_id)
        before_start, before_id = decode_cursor(q.cursor) if q.cursor else (None, None)
        rows = await store.events.search(q.camera_id or None, q.since, q.until, q.limit, before_id, zone=q.zone,
                                         min_duration_s=q.min_duration_s, min_score=q.min_score,
                                         before_start=before_start)
        return EventList(items=[event_out(e) for e in rows],
                         next_cursor=encode_cursor(rows[-1]) if len(rows) == q.limit else None)

    @api.route("GET", "/api/v1/events/{event_id}/thumbnail", roles=FOOTAGE_ROLES, tag="recordings",
               content_type="image/jpeg", summary="The JPEG of an event's peak frame.")
    async def thumbnail(ctx: Ctx) -> web.StreamResponse:
        raw = ctx.param("event_id")
        event = await ctx.app[STORE_KEY].events.get(int(raw)) if raw.isdigit() and len(raw) < 19 else None
        if event is None:
            raise ApiError(404, "not_found", f"motion event {raw!r} does not exist")
        if not event.thumbnail_path:
            raise ApiError(404, "not_found", f"motion event {event.id} has no thumbnail")
        node = await peer.event_owner(ctx.app, event.camera_id, event.start_at)  # cluster: analysed elsewhere
        if node is not None:
            return await peer.forward(ctx, node, f"/events/{event.id}/thumbnail")
        data_dir = ctx.app[CONFIG_KEY].storage.data_dir
        path = await asyncio.to_thread(thumbnail_file, data_dir, event.thumbnail_path)
        if path is None:
            raise ApiError(404, "not_found", f"the thumbnail of motion event {event.id} is gone")
        body = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=body, content_type="image/jpeg",
                            headers={"Cache-Control": f"private, max-age={THUMBNAIL_MAX_AGE_S}"})

    @api.route("GET", "/api/v1/motion/region", roles=FOOTAGE_ROLES, query=RegionQuery, response=RegionResult,
               tag="recordings", summary="When was there motion in this region of the picture (from the "
               "segments' heatmaps, without decoding video)?")
    async def region(ctx: Ctx) -> RegionResult:
        q: RegionQuery = ctx.query
        assert q.since is not None and q.until is not None
        store = ctx.app[STORE_KEY]
        await require_camera(store, q.camera_id)
        rows = await store.segments.heatmaps(q.camera_id, q.since, q.until, q.stream)
        spans = await asyncio.to_thread(region_spans, rows, q.x0, q.y0, q.x1, q.y1, q.min_activity)
        return RegionResult(camera_id=q.camera_id, region=[q.x0, q.y0, q.x1, q.y1], segments_scanned=len(rows),
                            spans=spans)

    @api.route("GET", "/api/v1/timeline", roles=FOOTAGE_ROLES, query=TimelineQuery, response=Timeline,
               tag="recordings", summary="One camera's day: per-minute footage, motion activity and event "
               "counts; recorded spans, gaps and events (for the timeline).")
    async def timeline(ctx: Ctx) -> Timeline:
        q: TimelineQuery = ctx.query
        store, tz = ctx.app[STORE_KEY], ctx.app[CONFIG_KEY].timezone
        await require_camera(store, q.camera_id)
        day0, day1 = day_window(q.date, tz)
        now = time.time()
        segments = await store.segments.coverage(q.camera_id, day0, day1, q.stream)
        events = await store.events.in_window(q.camera_id, day0, day1, MAX_TIMELINE_EVENTS + 1)
        outages = await store.cameras.outages(q.camera_id, day0, day1)
        truncated = len(events) > MAX_TIMELINE_EVENTS
        events = events[:MAX_TIMELINE_EVENTS]
        buckets, spans, gaps = await asyncio.to_thread(build_timeline, day0, day1, now, segments, events, outages)
        return Timeline(camera_id=q.camera_id, date=q.date, timezone=tz, start_at=iso(day0), end_at=iso(day1),
                        start_ts=day0, end_ts=day1, now_ts=now, buckets=buckets, spans=spans, gaps=gaps,
                        events=[event_summary(e) for e in events], events_truncated=truncated)
