"""The conference service: live rooms on demand, their record in the index, and join rate limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from aiortc import RTCIceServer

from bridges.chat import ChatMessage
from bridges.floor import Request
from bridges.opening import opening
from bridges.room import JoinRefused, LiveRoom, MeetingRef, RoomPolicy
from mediaserver.engine import Engine, Source
from mediaserver.storage import Store
from mediaserver.storage.meetings import Meeting

logger = logging.getLogger(__name__)

# A room accepts at most this many joins per second (a reconnect storm or a misbehaving client must not
# starve the sites already in the meeting); the excess get a 'too_many_joins' error and retry.
JOINS_PER_S = 10
JOIN_WINDOW_S = 1.0


class MeetingListener(Protocol):
    """Told about every meeting as it happens (the meeting recorder); what it raises is logged, not passed on.

    ``sources`` are a site's published tracks by name (``audio``, ``video``, ``screen``): engine sources,
    valid until the site leaves (a reconnecting site gets new ones and is announced again).
    """

    async def meeting_started(self, room_id: str, room_session_id: int) -> None: ...

    async def site_joined(self, room_id: str, room_session_id: int, site_id: str,
                          sources: Mapping[str, Source]) -> None: ...

    async def site_left(self, room_id: str, room_session_id: int, site_id: str) -> None: ...

    async def meeting_ended(self, room_id: str, room_session_id: int) -> None: ...


class Conference:
    """Owns every live room; ``stop()`` ends them all."""

    def __init__(self, store: Store, engine: Engine, ice_servers: list[RTCIceServer]) -> None:
        self.store = store
        self.engine = engine
        self.ice_servers = ice_servers
        # What each site's welcome tells its browser (the app sets them from server.ice_servers and
        # server.ice_transport_policy): RTCIceServer dicts for one site, with fresh TURN credentials, and the policy.
        self.browser_ice_servers: Callable[[str], list[dict[str, Any]]] = lambda site_id: []
        self.ice_transport_policy = "all"
        self.rooms: dict[str, LiveRoom] = {}
        self._room_sessions: dict[str, int] = {}
        self._meeting_of: dict[str, int | None] = {}  # room → the scheduled meeting its live room holds
        self._site_sessions: dict[tuple[str, str], int] = {}
        self._joins: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._listeners: list[MeetingListener] = []

    def add_listener(self, listener: MeetingListener) -> None:
        """Tell ``listener`` about every meeting start and end and every site joining and leaving."""
        self._listeners.append(listener)

    async def _tell(self, event: str, room_id: str, *args: Any) -> None:
        for listener in self._listeners:
            try:
                await getattr(listener, event)(room_id, *args)
            except Exception:
                logger.exception("room %s: meeting listener failed on %s", room_id, event)

    def published(self, room_id: str) -> tuple[int, dict[str, dict[str, Source]]] | None:
        """Return the running meeting's index id and each connected site's published sources, if it runs."""
        live = self.rooms.get(room_id)
        rs = self._room_sessions.get(room_id)
        if live is None or rs is None:
            return None
        return rs, {site: dict(s.sources) for site, s in live.sessions.items()}

    def admit(self, room_id: str) -> None:
        """Count a join attempt; raise JoinRefused beyond JOINS_PER_S per room."""
        now = time.monotonic()
        q = self._joins.setdefault(room_id, deque())
        while q and q[0] <= now - JOIN_WINDOW_S:
            q.popleft()
        if len(q) >= JOINS_PER_S:
            raise JoinRefused("too_many_joins", "too many joins to this room right now; retry in a second")
        q.append(now)

    async def room(self, room_id: str) -> LiveRoom:
        """Return the room's live meeting, starting one if needed."""
        async with self._lock:
            live = self.rooms.get(room_id)
            if live is not None:
                return live
            room = await self.store.rooms.get(room_id)
            if room is None or not room.active:
                raise JoinRefused("unknown_room", f"room {room_id!r} does not exist")
            now = time.time()
            decision = opening(now, await self.store.meetings.for_room(room_id, now), room.closed_at)
            meeting = decision.meeting if isinstance(decision.meeting, Meeting) else None
            if decision.state == "ended":
                raise JoinRefused("meeting_ended", "the chair ended the meeting; the room opens again for the "
                                                   "next scheduled meeting or when staff reopen it")
            if decision.state == "not_open" and meeting is not None:
                raise JoinRefused(
                    "meeting_not_open",
                    f"the meeting starts at {_iso(meeting.starts_at)}; the room opens at {_iso(meeting.opens_at)}",
                    starts_at=_iso(meeting.starts_at), opens_at=_iso(meeting.opens_at), title=meeting.title)
            sites = await self.store.sites.all()
            host = meeting.chair_site_id if meeting is not None else room.host_site_id
            chosen = [s for s in sites if room.all_sites or s.id in room.site_ids or s.id in (room.host_site_id, host)]
            ref = None if meeting is None else MeetingRef(meeting.id, meeting.title, meeting.agenda,
                                                          meeting.starts_at, meeting.ends_at)
            policy = RoomPolicy(room.id, room.name, host, {s.id: s.name for s in chosen},
                                {s.id: s.name_en for s in chosen}, room.video_codec, room.audible_sites,
                                room.max_sites, invited=None if meeting is None else frozenset(meeting.invited),
                                meeting=ref, mode="chaired" if meeting is not None and meeting.mode == "chaired"
                                else "free")
            live = LiveRoom(policy, self.engine, self.ice_servers, on_event=self._recorder(room_id),
                            on_chat=self._chat_keeper(room_id), on_floor=self._floor_logger(room_id))
            live.locked = room.locked
            self.rooms[room_id] = live
            self._meeting_of[room_id] = None if meeting is None else meeting.id
            logger.info("room %s: meeting opened (%d member sites, %s%s)", room_id, len(chosen), room.video_codec,
                        "" if meeting is None else f", scheduled meeting {meeting.id}")
            return live

    async def _session_id(self, room_id: str) -> int:
        """Return the index id of the room's running meeting, starting its record if needed."""
        rs = self._room_sessions.get(room_id)
        if rs is None:
            rs = (await self.store.rooms.start_session(room_id, started_by="chat",
                                                       meeting_id=self._meeting_of.get(room_id))).id
            self._room_sessions[room_id] = rs
            await self._tell("meeting_started", room_id, rs)
        return rs

    def _chat_keeper(self, room_id: str) -> Any:
        async def keep(msg: ChatMessage) -> int:
            rs = await self._session_id(room_id)
            return await self.store.meetings.add_chat(rs, msg.at, msg.sender, msg.to, msg.text)

        return keep

    def _floor_logger(self, room_id: str) -> Any:
        async def log(event: str, req: Request, at: float) -> None:
            if event == "opened":
                req.record_id = await self.store.meetings.request_opened(await self._session_id(room_id),
                                                                          req.site, at)
            elif req.record_id is None:
                return
            elif event == "granted":
                await self.store.meetings.request_granted(req.record_id, at)
            else:
                await self.store.meetings.request_closed(req.record_id, at, event)

        return log

    def meeting_of(self, room_id: str) -> int | None:
        """Return the scheduled meeting the room's live meeting holds, if any."""
        return self._meeting_of.get(room_id) if room_id in self.rooms else None

    def session_of(self, room_id: str) -> int | None:
        """Return the index id (room session) of the room's running meeting, if it has one yet."""
        return self._room_sessions.get(room_id)

    def _recorder(self, room_id: str) -> Any:
        async def record(event: str, site: str, detail: str | None) -> None:
            if event == "joined":
                if room_id not in self._room_sessions:
                    rs = await self.store.rooms.start_session(room_id, started_by=f"site:{site}",
                                                              meeting_id=self._meeting_of.get(room_id))
                    self._room_sessions[room_id] = rs.id
                    await self._tell("meeting_started", room_id, rs.id)
                room_session = self._room_sessions[room_id]
                sid = await self.store.rooms.site_joined(room_session, site)
                self._site_sessions[(room_id, site)] = sid
                live_ = self.rooms.get(room_id)
                session = live_.sessions.get(site) if live_ is not None else None
                if session is not None:
                    await self._tell("site_joined", room_id, room_session, site, dict(session.sources))
            elif event == "left":
                sid_ = self._site_sessions.pop((room_id, site), None)
                if sid_ is not None:
                    await self.store.rooms.site_left(sid_, detail or "left")
                if room_id in self._room_sessions:
                    await self._tell("site_left", room_id, self._room_sessions[room_id], site)
                live = self.rooms.get(room_id)
                if live is not None and not live.sessions and detail not in ("replaced", "ended"):
                    # Everyone has gone: close the meeting record; the next join opens a new one.
                    task = asyncio.ensure_future(self.end(room_id, "everyone left"))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

        return record

    def live(self, room_id: str) -> LiveRoom | None:
        """Return the room's meeting if one is running."""
        return self.rooms.get(room_id)

    async def set_locked(self, room_id: str, locked: bool) -> None:
        """Apply a lock change to the running meeting (the index holds the lasting state)."""
        live = self.rooms.get(room_id)
        if live is not None:
            live.locked = locked
            await live.broadcast_roster()

    async def end(self, room_id: str, reason: str = "ended", close: bool = False) -> bool:
        """End a room's meeting for every site (``close``: and keep the room shut); return False if none ran."""
        if close:
            # Closed first: a site pressing "rejoin" while the meeting is being torn down must not reopen it.
            await self.store.rooms.set_closed(room_id, time.time())
        live = self.rooms.pop(room_id, None)
        self._meeting_of.pop(room_id, None)
        if live is None:
            return False
        await live.end(reason)
        rs = self._room_sessions.pop(room_id, None)
        if rs is not None:
            await self._tell("meeting_ended", room_id, rs)
            await self.store.rooms.end_session(rs)
        return True

    async def stop(self) -> None:
        """End every meeting (server shutdown)."""
        for room_id in list(self.rooms):
            await self.end(room_id, "server shutting down")
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
