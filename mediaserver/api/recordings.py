"""Routes: recorded segments and motion events (read side of the media index)."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field, model_validator

from mediaserver.api.common import iso
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import STORE_KEY
from mediaserver.auth import Role

FOOTAGE_ROLES = (Role.ADMIN, Role.SECURITY)
DAY_S = 86400.0


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
    camera_id: list[str] = Field(default_factory=list, description="Repeat to search several cameras.")
    limit: int = Field(50, ge=1, le=500)
    before_id: int | None = Field(None, ge=1, description="Page: events older than this id.")


class EventOut(BaseModel):
    id: int
    camera_id: str
    start_at: str | None
    end_at: str | None
    peak_score: float
    zones: list[str]


class EventList(BaseModel):
    items: list[EventOut]
    next_before_id: int | None


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
               tag="recordings", summary="Search motion events, newest first, paginated.")
    async def events(ctx: Ctx) -> EventList:
        q: EventQuery = ctx.query
        assert q.since is not None and q.until is not None
        rows = await ctx.app[STORE_KEY].events.search(q.camera_id or None, q.since, q.until, q.limit, q.before_id)
        return EventList(
            items=[EventOut(id=e.id, camera_id=e.camera_id, start_at=iso(e.start_at), end_at=iso(e.end_at),
                            peak_score=e.peak_score, zones=e.zones) for e in rows],
            next_before_id=rows[-1].id if len(rows) == q.limit else None,
        )
