"""The conference service: live rooms on demand, their record in the index, and join rate limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiortc import RTCIceServer

from bridges.room import JoinRefused, LiveRoom, RoomPolicy
from mediaserver.engine import Engine
from mediaserver.storage import Store

logger = logging.getLogger(__name__)

# A room accepts at most this many joins per second (a reconnect storm or a misbehaving client must not
# starve the sites already in the meeting); the excess get a 'too_many_joins' error and retry.
JOINS_PER_S = 10
JOIN_WINDOW_S = 1.0


class Conference:
    """Owns every live room; ``stop()`` ends them all."""

    def __init__(self, store: Store, engine: Engine, ice_servers: list[RTCIceServer]) -> None:
        self.store = store
        self.engine = engine
        self.ice_servers = ice_servers
        self.rooms: dict[str, LiveRoom] = {}
        self._room_sessions: dict[str, int] = {}
        self._site_sessions: dict[tuple[str, str], int] = {}
        self._joins: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[Any]] = set()

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
            sites = await self.store.sites.all()
            chosen = [s for s in sites if room.all_sites or s.id in room.site_ids or s.id == room.host_site_id]
            policy = RoomPolicy(room.id, room.name, room.host_site_id, {s.id: s.name for s in chosen},
                                {s.id: s.name_en for s in chosen}, room.video_codec, room.audible_sites,
                                room.max_sites)
            live = LiveRoom(policy, self.engine, self.ice_servers, on_event=self._recorder(room_id))
            live.locked = room.locked
            self.rooms[room_id] = live
            logger.info("room %s: meeting opened (%d member sites, %s)", room_id, len(chosen), room.video_codec)
            return live

    def _recorder(self, room_id: str) -> Any:
        async def record(event: str, site: str, detail: str | None) -> None:
            if event == "joined":
                if room_id not in self._room_sessions:
                    rs = await self.store.rooms.start_session(room_id, started_by=f"site:{site}")
                    self._room_sessions[room_id] = rs.id
                sid = await self.store.rooms.site_joined(self._room_sessions[room_id], site)
                self._site_sessions[(room_id, site)] = sid
            elif event == "left":
                sid_ = self._site_sessions.pop((room_id, site), None)
                if sid_ is not None:
                    await self.store.rooms.site_left(sid_, detail or "left")
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

    async def end(self, room_id: str, reason: str = "ended") -> bool:
        """End a room's meeting for every site; return False if none was running."""
        live = self.rooms.pop(room_id, None)
        if live is None:
            return False
        await live.end(reason)
        rs = self._room_sessions.pop(room_id, None)
        if rs is not None:
            await self.store.rooms.end_session(rs)
        return True

    async def stop(self) -> None:
        """End every meeting (server shutdown)."""
        for room_id in list(self.rooms):
            await self.end(room_id, "server shutting down")
        await asyncio.gather(*self._tasks, return_exceptions=True)
