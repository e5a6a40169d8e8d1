"""Routes: scheduled meetings (lịch họp) — the calendar, invitations, roll call and the kept chat."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from bridges.attendance import Interval, roll_call
from bridges.invitations import MeetingInfo, invitation, qr_svg, reminder
from mediaserver.api.common import Body, excel_csv, iso
from mediaserver.api.conference import join_url
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import AUDIT_KEY, CONFERENCE_KEY, CONFIG_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.auth import Role
from mediaserver.mail import Mailer
from mediaserver.scheduler import JobContext
from mediaserver.storage.meetings import Meeting
from mediaserver.storage.repos import Room

logger = logging.getLogger(__name__)

STAFF = (Role.ADMIN, Role.OPERATOR)
MAX_MEETING_S = 24 * 3600.0
MAX_RANGE_S = 62 * 86400.0
VN = ZoneInfo("Asia/Ho_Chi_Minh")


class MeetingIn(Body):
    title: str = Field(..., min_length=1, max_length=200, description="Tên cuộc họp.")
    agenda: str = Field("", max_length=10_000, description="Nội dung, chương trình.")
    room_id: str = Field(..., min_length=1, max_length=64)
    chair_site_id: str | None = Field(None, max_length=64, description="Default: the room's host site.")
    invited_sites: list[str] | Literal["all"] = Field("all", description="Invited sites, or every room member.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    test_before_min: int = Field(60, ge=0, le=240, description="The room opens this long before the start.")
    remind_before_min: int | None = Field(30, ge=1, le=7 * 24 * 60, description="E-mail reminder; null: none.")
    mode: Literal["free", "chaired"] = "free"

    @model_validator(mode="after")
    def _window(self) -> MeetingIn:
        span = (self.ends_at - self.starts_at).total_seconds()
        if span <= 0:
            raise ValueError("ends_at must be after starts_at")
        if span > MAX_MEETING_S:
            raise ValueError("a meeting lasts at most 24 hours")
        return self


class MeetingPatch(Body):
    title: str | None = Field(None, min_length=1, max_length=200)
    agenda: str | None = Field(None, max_length=10_000)
    room_id: str | None = Field(None, min_length=1, max_length=64)
    chair_site_id: str | None = Field(None, max_length=64)
    invited_sites: list[str] | Literal["all"] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    test_before_min: int | None = Field(None, ge=0, le=240)
    remind_before_min: int | None = Field(None, ge=1, le=7 * 24 * 60)
    mode: Literal["free", "chaired"] | None = None


class MeetingOut(BaseModel):
    id: int
    title: str
    agenda: str
    room_id: str
    chair_site_id: str
    invited_sites: list[str]
    starts_at: str | None
    ends_at: str | None
    opens_at: str | None
    test_before_min: int
    remind_before_min: int | None
    mode: str
    status: Literal["scheduled", "open", "running", "ended", "cancelled"]
    room_session_ids: list[int]
    recorded: bool
    invitations_sent_at: str | None


class MeetingList(BaseModel):
    items: list[MeetingOut]


class RangeQuery(BaseModel):
    from_: AwareDatetime | None = Field(None, alias="from", description="Default: 7 days ago.")
    to: AwareDatetime | None = Field(None, description="Default: 31 days after 'from'.")
    room_id: str | None = Field(None, max_length=64)


class IntervalOut(BaseModel):
    joined_at: str | None
    left_at: str | None
    reason: str | None


class AttendanceItem(BaseModel):
    site_id: str
    name: str
    name_en: str | None
    status: Literal["present", "late", "absent", "pending"]
    connected: bool
    first_join_at: str | None
    last_leave_at: str | None
    intervals: list[IntervalOut]
    minutes_present: float
    absence_reason: str | None


class AttendanceOut(BaseModel):
    meeting: MeetingOut
    items: list[AttendanceItem]
    counts: dict[str, int]


class AbsenceIn(Body):
    absence_reason: str | None = Field(None, max_length=500)


class ChatOut(BaseModel):
    items: list[dict[str, Any]]


class LinkItem(BaseModel):
    site_id: str
    name: str
    name_en: str | None
    email: str | None
    join_url: str
    qr_svg: str


class LinkList(BaseModel):
    items: list[LinkItem]


class InviteItem(BaseModel):
    site_id: str
    email: str | None
    sent: bool
    error: str | None


class InviteList(BaseModel):
    items: list[InviteItem]


# Invitation links stay valid until a day after the meeting ends (late roll calls, a rerun of the test).
LINK_AFTER_END_S = 86400.0


async def _links(app: web.Application, m: Meeting, url_for: Callable[[str], str],
                 only: Collection[str] | None = None, known: dict[str, str] | None = None) -> list[LinkItem]:
    """Return the join link of each invited site (of those in ``only``), issuing a join token per site.

    ``known`` maps sites to links issued before (kept by the caller for a retry): those are reused, and links
    issued now are added to it.
    """
    sites = {s.id: s for s in await app[STORE_KEY].sites.all()}
    ttl = max(3600.0, m.ends_at + LINK_AFTER_END_S - time.time())
    out = []
    for site_id in m.invited:
        site = sites.get(site_id)
        if site is None or (only is not None and site_id not in only):
            continue
        url = known.get(site_id) if known is not None else None
        if url is None:
            token, _ = await app[TOKENS_KEY].issue_join(site_id, m.room_id, ttl)
            url = url_for(token)
            if known is not None:
                known[site_id] = url
        out.append(LinkItem(site_id=site_id, name=site.name, name_en=site.name_en, email=site.email, join_url=url,
                            qr_svg=qr_svg(url)))
    return out


Compose = Callable[[MeetingInfo, str, str, str, str, str], EmailMessage]


async def _mail_letters(app: web.Application, m: Meeting, links: list[LinkItem], compose: Compose,
                        mailer: Mailer | None = None) -> list[tuple[LinkItem, str | None]]:
    """E-mail every link that has an address its letter (one SMTP connection); return (link, None or why not)."""
    cfg = app[CONFIG_KEY].mail
    store = app[STORE_KEY]
    room = await store.rooms.get(m.room_id)
    chair = next((s for s in await store.sites.all(include_inactive=True) if s.id == m.chair_site_id), None)
    info = MeetingInfo(m.title, m.agenda, room.name if room else m.room_id, m.starts_at, m.ends_at,
                       round(m.test_before_s / 60), chair.name if chair else m.chair_site_id)
    with_mail = [x for x in links if x.email]
    messages = [compose(info, x.name, x.email or "", x.join_url, cfg.sender, cfg.sender_name) for x in with_mail]
    errors = await (mailer or Mailer(cfg)).send(messages)
    return list(zip(with_mail, errors, strict=True))


def _meeting_id(ctx: Ctx) -> int:
    raw = ctx.param("meeting_id")
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no scheduled meeting {raw!r}")
    return int(raw)


async def _get(ctx: Ctx) -> Meeting:
    m = await ctx.app[STORE_KEY].meetings.get(_meeting_id(ctx))
    if m is None:
        raise ApiError(404, "not_found", f"no scheduled meeting {ctx.param('meeting_id')!r}")
    return m


async def _outs(app: web.Application, meetings: list[Meeting]) -> list[MeetingOut]:
    store = app[STORE_KEY]
    conference = app[CONFERENCE_KEY]
    held = await store.meetings.held(m.id for m in meetings)
    recorded = await store.meetings.recorded(sid for _, _, sids in held.values() for sid in sids)
    rooms = {r.id: r for r in await store.rooms.all()}
    now = time.time()
    out = []
    for m in meetings:
        _, _, sids = held.get(m.id, (0.0, None, []))
        room = rooms.get(m.room_id)
        closed_after_open = room is not None and room.closed_at is not None and room.closed_at >= m.opens_at
        status: Literal["scheduled", "open", "running", "ended", "cancelled"]
        if m.cancelled:
            status = "cancelled"
        elif conference.meeting_of(m.room_id) == m.id:
            status = "running"
        elif now >= m.ends_at or (sids and closed_after_open):
            status = "ended"
        elif now >= m.opens_at:
            status = "open"
        else:
            status = "scheduled"
        out.append(MeetingOut(
            id=m.id, title=m.title, agenda=m.agenda, room_id=m.room_id, chair_site_id=m.chair_site_id,
            invited_sites=list(m.invited), starts_at=iso(m.starts_at), ends_at=iso(m.ends_at),
            opens_at=iso(m.opens_at), test_before_min=round(m.test_before_s / 60),
            remind_before_min=None if m.remind_before_s is None else round(m.remind_before_s / 60), mode=m.mode,
            status=status, room_session_ids=sids, recorded=any(s in recorded for s in sids),
            invitations_sent_at=iso(m.invitations_sent_at)))
    return out


async def _out(ctx: Ctx, m: Meeting) -> MeetingOut:
    return (await _outs(ctx.app, [m]))[0]


async def _checked(ctx: Ctx, m: Meeting) -> Meeting:
    """Check a meeting's room and sites exist and belong together; return it with 'all' resolved."""
    store = ctx.app[STORE_KEY]
    room = await store.rooms.get(m.room_id)
    if room is None or not room.active:
        raise ApiError(422, "invalid_input", f"unknown room {m.room_id!r}", "room_id")
    members = await _members(ctx, room)
    if m.chair_site_id not in members:
        raise ApiError(422, "invalid_input", f"site {m.chair_site_id!r} is not a member of room {room.id!r}",
                       "chair_site_id")
    for site in m.invited:
        if site not in members:
            raise ApiError(422, "invalid_input", f"site {site!r} is not a member of room {room.id!r}",
                           "invited_sites")
    invited = tuple(sorted(set(m.invited) | {m.chair_site_id}))
    return replace(m, invited=invited)


async def _members(ctx: Ctx, room: Room) -> list[str]:
    sites = await ctx.app[STORE_KEY].sites.all()
    return [s.id for s in sites if room.all_sites or s.id in room.site_ids or s.id == room.host_site_id]


async def _resolve_invited(ctx: Ctx, room_id: str, invited: list[str] | Literal["all"]) -> tuple[str, ...]:
    if invited != "all":
        return tuple(dict.fromkeys(invited))
    room = await ctx.app[STORE_KEY].rooms.get(room_id)
    if room is None or not room.active:
        raise ApiError(422, "invalid_input", f"unknown room {room_id!r}", "room_id")
    return tuple(await _members(ctx, room))


def _overlaps(ctx: Ctx, m: Meeting, others: list[Meeting]) -> None:
    for o in others:
        if o.id != m.id and not o.cancelled and o.opens_at < m.ends_at and m.opens_at < o.ends_at:
            raise ApiError(409, "meeting_overlap", f"room {m.room_id!r} already holds “{o.title}” "
                                                   f"({_vn(o.starts_at)}–{_vn(o.ends_at, '%H:%M')})", "starts_at")


def _vn(ts: float, fmt: str = "%H:%M %d/%m/%Y") -> str:
    return datetime.fromtimestamp(ts, VN).strftime(fmt)


async def attendance_of(ctx: Ctx, m: Meeting) -> AttendanceOut:
    """Return the roll call of a meeting, computed from its sites' connections."""
    return await attendance_for(ctx.app, m)


async def attendance_for(app: web.Application, m: Meeting) -> AttendanceOut:
    """Return the roll call of a meeting outside a request (the minutes use it too)."""
    store = app[STORE_KEY]
    meeting = (await _outs(app, [m]))[0]
    held = (await store.meetings.held([m.id])).get(m.id)
    now = time.time()
    running = meeting.status == "running"
    end = now if running or held is None or held[1] is None else held[1]
    over = meeting.status == "ended" or (not running and now >= m.ends_at)
    if over and held is not None and held[1] is not None:
        end = held[1]
    by_site: dict[str, list[Interval]] = {}
    for p in await store.meetings.presence(m.id):
        by_site.setdefault(p.site_id, []).append(Interval(p.joined_at, p.left_at, p.reason))
    sites = {s.id: s for s in await store.sites.all(include_inactive=True)}
    notes = {i.site_id: i for i in await store.meetings.invitees(m.id)}
    items = []
    for site_id in m.invited:
        a = roll_call(site_id, by_site.get(site_id, []), m.starts_at, end, over)
        site = sites.get(site_id)
        note = notes.get(site_id)
        items.append(AttendanceItem(
            site_id=site_id, name=site.name if site else site_id, name_en=site.name_en if site else None,
            status=a.status, connected=a.connected, first_join_at=iso(a.first_join_at),
            last_leave_at=iso(a.last_leave_at),
            intervals=[IntervalOut(joined_at=iso(i.joined_at), left_at=iso(i.left_at), reason=i.reason)
                       for i in a.intervals],
            minutes_present=round(a.seconds_present / 60, 1),
            absence_reason=note.absence_reason if note else None))
    counts = {k: sum(1 for i in items if i.status == k) for k in ("present", "late", "absent", "pending")}
    return AttendanceOut(meeting=meeting, items=items, counts=counts)


_STATUS_VI = {"present": "Có mặt", "late": "Đến muộn", "absent": "Vắng mặt", "pending": "Chưa vào"}


def attendance_csv(a: AttendanceOut) -> bytes:
    """Return the roll call as CSV for Excel (UTF-8 with BOM, Vietnamese headers, Vietnam time)."""
    def vn(ts: str | None) -> str:
        return "" if ts is None else _vn(datetime.fromisoformat(ts).timestamp(), "%H:%M:%S %d/%m/%Y")

    return excel_csv(
        ["STT", "Mã điểm cầu", "Điểm cầu", "Trạng thái", "Vào lần đầu", "Rời lần cuối", "Số lần vào",
         "Số phút có mặt", "Lý do vắng"],
        ([n, i.site_id, i.name, _STATUS_VI[i.status], vn(i.first_join_at), vn(i.last_leave_at), len(i.intervals),
          f"{i.minutes_present:.1f}".replace(".", ","), i.absence_reason or ""]
         for n, i in enumerate(a.items, start=1)))


def register(api: Api) -> None:
    """Add the scheduled-meeting routes."""

    @api.route("GET", "/api/v1/scheduled-meetings", roles=STAFF, query=RangeQuery, response=MeetingList,
               tag="schedule", summary="Scheduled meetings overlapping a time range, earliest first.")
    async def list_meetings(ctx: Ctx) -> MeetingList:
        q: RangeQuery = ctx.query
        since = q.from_.timestamp() if q.from_ else time.time() - 7 * 86400
        until = q.to.timestamp() if q.to else since + 31 * 86400
        if until <= since or until - since > MAX_RANGE_S:
            raise ApiError(422, "invalid_input", "'to' must be after 'from', at most 62 days", "to")
        items = await ctx.app[STORE_KEY].meetings.between(since, until, q.room_id)
        return MeetingList(items=await _outs(ctx.app, items))

    @api.route("POST", "/api/v1/scheduled-meetings", roles=STAFF, body=MeetingIn, response=MeetingOut,
               status=201, tag="schedule", summary="Schedule a meeting in a room.")
    async def create(ctx: Ctx) -> MeetingOut:
        b: MeetingIn = ctx.body
        store = ctx.app[STORE_KEY]
        room = await store.rooms.get(b.room_id)
        if room is None or not room.active:
            raise ApiError(422, "invalid_input", f"unknown room {b.room_id!r}", "room_id")
        p = ctx.user()
        m = Meeting(0, b.room_id, b.title.strip(), b.agenda, b.starts_at.timestamp(), b.ends_at.timestamp(),
                    b.chair_site_id or room.host_site_id, b.test_before_min * 60.0,
                    None if b.remind_before_min is None else b.remind_before_min * 60.0, b.mode, False, None,
                    f"{p.role}:{p.subject}", await _resolve_invited(ctx, b.room_id, b.invited_sites))
        m = await _checked(ctx, m)
        _overlaps(ctx, m, await store.meetings.for_room(m.room_id, m.opens_at))
        m = await store.meetings.create(m)
        await ctx.audit("meeting.create", str(m.id), room=m.room_id, title=m.title, starts_at=iso(m.starts_at))
        return await _out(ctx, m)

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}", roles=STAFF, response=MeetingOut,
               tag="schedule", summary="One scheduled meeting.")
    async def get(ctx: Ctx) -> MeetingOut:
        return await _out(ctx, await _get(ctx))

    @api.route("PATCH", "/api/v1/scheduled-meetings/{meeting_id}", roles=STAFF, body=MeetingPatch,
               response=MeetingOut, tag="schedule", summary="Change a scheduled meeting.")
    async def patch(ctx: Ctx) -> MeetingOut:
        b: MeetingPatch = ctx.body
        m = await _get(ctx)
        if m.cancelled:
            raise ApiError(409, "cancelled", "this meeting was cancelled")
        room_id = b.room_id or m.room_id
        invited = m.invited if b.invited_sites is None else await _resolve_invited(ctx, room_id, b.invited_sites)
        fields: dict[str, Any] = {"room_id": room_id, "invited": invited}
        for name in ("title", "agenda", "chair_site_id", "mode"):
            value = getattr(b, name)
            if value is not None:
                fields[name] = value
        if b.starts_at is not None:
            fields["starts_at"] = b.starts_at.timestamp()
        if b.ends_at is not None:
            fields["ends_at"] = b.ends_at.timestamp()
        if b.test_before_min is not None:
            fields["test_before_s"] = b.test_before_min * 60.0
        if "remind_before_min" in b.model_fields_set:
            fields["remind_before_s"] = None if b.remind_before_min is None else b.remind_before_min * 60.0
        new = replace(m, **fields)
        if not 0 < new.ends_at - new.starts_at <= MAX_MEETING_S:
            raise ApiError(422, "invalid_input", "ends_at must be after starts_at, at most 24 hours", "ends_at")
        new = await _checked(ctx, new)
        store = ctx.app[STORE_KEY]
        _overlaps(ctx, new, await store.meetings.for_room(new.room_id, new.opens_at))
        await store.meetings.update(new)
        await ctx.audit("meeting.update", str(m.id), fields=sorted(b.model_fields_set))
        got = await store.meetings.get(m.id)
        assert got is not None
        return await _out(ctx, got)

    @api.route("DELETE", "/api/v1/scheduled-meetings/{meeting_id}", roles=STAFF, status=204, tag="schedule",
               summary="Cancel a scheduled meeting (it stays on the calendar, marked cancelled).")
    async def cancel(ctx: Ctx) -> None:
        m = await _get(ctx)
        await ctx.app[STORE_KEY].meetings.cancel(m.id)
        await ctx.audit("meeting.cancel", str(m.id))

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/attendance", roles=STAFF, response=AttendanceOut,
               tag="schedule", summary="Roll call: each invited site present, late, absent or not yet in.")
    async def attendance(ctx: Ctx) -> AttendanceOut:
        return await attendance_of(ctx, await _get(ctx))

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/attendance.csv", roles=STAFF, tag="schedule",
               content_type="text/csv", summary="Roll call as CSV (UTF-8 with BOM, Vietnamese headers).")
    async def attendance_csv_route(ctx: Ctx) -> web.StreamResponse:
        m = await _get(ctx)
        body = attendance_csv(await attendance_of(ctx, m))
        return web.Response(body=body, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="diem-danh-{m.id}.csv"'})

    @api.route("PUT", "/api/v1/scheduled-meetings/{meeting_id}/attendance/{site_id}", roles=STAFF,
               body=AbsenceIn, response=AttendanceItem, tag="schedule",
               summary="Record why an invited site was absent (null clears it).")
    async def absence(ctx: Ctx) -> AttendanceItem:
        m = await _get(ctx)
        b: AbsenceIn = ctx.body
        site = ctx.param("site_id")
        reason = (b.absence_reason or "").strip() or None
        if not await ctx.app[STORE_KEY].meetings.set_absence_reason(m.id, site, reason):
            raise ApiError(404, "not_invited", f"site {site!r} is not invited to meeting {m.id}")
        await ctx.audit("meeting.absence_reason", f"{m.id}/{site}", reason=reason)
        return next(i for i in (await attendance_of(ctx, m)).items if i.site_id == site)

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/links", roles=STAFF, response=LinkList,
               tag="schedule", summary="Each invited site's join link and its QR code (for the printed invitations).")
    async def links(ctx: Ctx) -> LinkList:
        m = await _get(ctx)
        items = await _links(ctx.app, m, lambda token: join_url(ctx, token))
        await ctx.audit("meeting.links", str(m.id), sites=len(items))
        return LinkList(items=items)

    @api.route("POST", "/api/v1/scheduled-meetings/{meeting_id}/invite", roles=STAFF, response=InviteList,
               tag="schedule", summary="E-mail every invited site its join link (one SMTP connection).")
    async def invite(ctx: Ctx) -> InviteList:
        m = await _get(ctx)
        if not ctx.app[CONFIG_KEY].mail.enabled:
            raise ApiError(409, "mail_disabled", "e-mail is not configured (config.yaml: mail.enabled)")
        links = await _links(ctx.app, m, lambda token: join_url(ctx, token))
        result = {x.site_id: e for x, e in await _mail_letters(ctx.app, m, links, invitation)}
        items = [InviteItem(site_id=x.site_id, email=x.email, sent=x.site_id in result and result[x.site_id] is None,
                            error=result.get(x.site_id) if x.email else "no_email") for x in links]
        await ctx.app[STORE_KEY].meetings.record_invitations(m.id, [(i.site_id, i.error) for i in items])
        await ctx.audit("meeting.invite", str(m.id), sent=sum(i.sent for i in items), total=len(items))
        return InviteList(items=items)

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/chat", roles=STAFF, response=ChatOut,
               tag="schedule", summary="The meeting's chat, kept with it, oldest first.")
    async def chat(ctx: Ctx) -> ChatOut:
        m = await _get(ctx)
        store = ctx.app[STORE_KEY]
        rows = await store.meetings.chat(await store.meetings.session_ids(m.id))
        names = {s.id: s.name for s in await store.sites.all(include_inactive=True)}
        return ChatOut(items=[{"id": r.id, "at": r.at, "from": r.from_site, "from_name": names.get(r.from_site),
                               "to": "all" if r.to_site is None else r.to_site, "text": r.text} for r in rows])


# ---------------------------------------------------------------------------------------- reminders

REMIND_ACTION = "meeting.remind"
REMIND_JOB = "meeting-reminders"
REMIND_EVERY_S = 60.0


@dataclass
class ReminderRun:
    """What one run did for one meeting: the sites reminded now, and those that failed (retried next run)."""

    meeting_id: int
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Reminders:
    """The ``meeting.remind`` job: e-mail each invited site its reminder once the meeting's reminder time comes.

    A meeting is due from ``starts_at - remind_before_s`` until it ends, unless cancelled or already done. Each
    site's reminder is recorded as it is accepted by the SMTP server, so it goes out once, restarts included;
    one that failed (the server down, a refused recipient) is logged and tried again on the next run, with the
    same link. When every invited site with an address has had its reminder the meeting is marked done. Runs
    are serialised, so a run the scheduler starts and one started by hand never send twice.
    """

    def __init__(self, app: web.Application, clock: Callable[[], float] = time.time) -> None:
        self._app = app
        self._clock = clock
        self._lock = asyncio.Lock()
        # Links issued for a reminder that has not gone out yet, per meeting: a retry reuses them, so an SMTP
        # outage does not mint a join token per site per minute.
        self._links: dict[int, dict[str, str]] = {}
        self._mailer: Mailer | None = None

    async def run_job(self, job: JobContext) -> None:
        """The scheduler's handler."""
        await self.run()

    def _url(self, token: str) -> str:
        server = self._app[CONFIG_KEY].server
        scheme = "https" if server.tls.mode != "off" else "http"
        base = server.public_url or f"{scheme}://{server.host}:{server.port}"
        return f"{base.rstrip('/')}/join#token={token}"

    async def run(self) -> list[ReminderRun]:
        """Send every reminder that is due; return what was done per meeting (nothing while mail is off)."""
        async with self._lock:
            cfg = self._app[CONFIG_KEY].mail
            if not cfg.enabled:
                return []
            if self._mailer is None:
                self._mailer = Mailer(cfg)  # one per server: a failing SMTP server is logged once, not per run
            now = self._clock()
            due = await self._app[STORE_KEY].meetings.due_reminders(now)
            out = []
            for m in due:
                try:
                    run = await self._remind(m, self._mailer)
                except Exception:
                    # One meeting's trouble (a bug, the database briefly locked) must not stop the others.
                    logger.exception("meeting %d: reminders failed; retrying on the next run", m.id)
                    continue
                if run is not None:
                    out.append(run)
            return out

    async def _remind(self, m: Meeting, mailer: Mailer) -> ReminderRun | None:
        store = self._app[STORE_KEY]
        status = (await _outs(self._app, [m]))[0].status
        if status in ("ended", "cancelled"):  # e.g. the chair ended it early: nothing to remind of
            self._links.pop(m.id, None)
            return None
        emails = {s.id: s.email for s in await store.sites.all()}
        done = {i.site_id for i in await store.meetings.invitees(m.id) if i.reminded_at is not None}
        pending = [s for s in m.invited if emails.get(s) and s not in done]
        run = ReminderRun(m.id)
        if pending:
            known = self._links.setdefault(m.id, {})
            links = await _links(self._app, m, self._url, only=pending, known=known)
            for link, error in await _mail_letters(self._app, m, links, reminder, mailer):
                if error is None:
                    run.sent.append(link.site_id)
                    known.pop(link.site_id, None)
                else:
                    run.failed[link.site_id] = error
            await store.meetings.record_reminders(
                m.id, [*((s, None) for s in run.sent), *run.failed.items()], done=not run.failed)
            await self._app[AUDIT_KEY](actor="system", actor_role="system", action="meeting.remind",
                                       target=str(m.id), detail={"sent": run.sent, "failed": run.failed},
                                       remote="")
        else:
            await store.meetings.record_reminders(m.id, [], done=True)
        if run.failed:
            logger.warning("meeting %d: reminder not sent to %d of %d site(s), retrying on the next run: %s",
                           m.id, len(run.failed), len(pending),
                           "; ".join(f"{site}: {err}" for site, err in sorted(run.failed.items())))
        else:
            self._links.pop(m.id, None)
            if run.sent:
                logger.info("meeting %d: reminder sent to %d site(s)", m.id, len(run.sent))
        return run


REMINDERS_KEY: web.AppKey[Reminders] = web.AppKey("meeting_reminders", Reminders)
