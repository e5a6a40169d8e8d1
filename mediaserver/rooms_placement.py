"""Rooms placed on nodes: a meeting runs on one node, and a site that connects elsewhere is sent there (issue 16).

A room must fit on a single node (as in LiveKit): its sites' media all meet in one process, so every site of a
room must connect to the same node. Which node holds a room is a lease in the shared index, ``room:<id>``
(mediaserver/storage/nodes.py), so every node answers the same:

1. the node holding an unexpired ``room:<id>`` lease, if it is alive;
2. otherwise the room's pinned node (``cluster.room_pins``), if alive;
3. otherwise the least loaded live node: fewest connected sites, then fewest running rooms, then lowest CPU.

The node that decides takes the lease for the chosen node in one atomic statement (a race between two nodes
placing the same room at once has one winner, and the loser follows it). The room's node keeps the lease while the
room runs here, or a request to record its next meeting waits here (renewed every heartbeat), and lets it expire
when the meeting ends, so the next meeting is placed afresh. A placed node that never sees the site (it went away)
lets the lease lapse after ``lease_ttl_s``.

A site's signalling WebSocket is told where to go by ``redirect_for`` (bridges/signalling.py sends a
``redirect`` message; the join page reloads itself from that node with the same join link, which every node
accepts: the token key is shared and tokens are checked against the shared index). A plain page request for
``/join?room=<id>`` is answered 307 by ``current_elsewhere`` (the fragment with the token is kept by the
browser); it only follows an existing lease, so an unauthenticated page view never places a room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiohttp import web

from bridges.conference import Conference
from mediaserver.app_keys import CLUSTER_KEY, CONFERENCE_KEY
from mediaserver.cluster import Cluster
from mediaserver.config import ClusterConfig

logger = logging.getLogger(__name__)

ROOM_PREFIX = "room:"


def room_resource(room_id: str) -> str:
    """Return the lease resource name of a room."""
    return ROOM_PREFIX + room_id


class RoomPlacement:
    """Decides and keeps which node runs each room; ``start()`` / ``stop()`` (idempotent) run its renewals."""

    def __init__(self, cluster: Cluster, conference: Conference, pins: dict[str, str]) -> None:
        self.cluster = cluster
        self.conference = conference
        self.pins = pins
        self._task: asyncio.Task[None] | None = None
        # Rooms this node keeps although no meeting runs in them yet (a recording request waiting for one).
        self.held: list[Callable[[], Iterable[str]]] = []
        cluster.load_providers.append(self.load)

    def load(self) -> dict[str, Any]:
        """Return this node's meeting load for its heartbeat (rooms running here, sites connected)."""
        rooms = self.conference.rooms
        return {"rooms": len(rooms), "sites": sum(len(r.sessions) for r in rooms.values()),
                "room_ids": sorted(rooms)}

    def _least_loaded(self) -> str:
        live = [n for n in self.cluster.live if n != self.cluster.node_id and n in self.cluster.nodes]
        mine = self.load()

        def key(node_id: str) -> tuple[float, float, float, str]:
            load = mine if node_id == self.cluster.node_id else self.cluster.nodes[node_id].load
            return (float(load.get("sites", 0)), float(load.get("rooms", 0)), float(load.get("cpu_pct", 0.0)),
                    node_id)

        return min([self.cluster.node_id, *live], key=key)

    async def node_for(self, room_id: str) -> str:
        """Return the node that runs ``room_id``, placing it now if no live node holds it."""
        leases = self.cluster.lease_repo
        resource = room_resource(room_id)
        owner = await leases.owner(resource)
        if owner is not None and (owner == self.cluster.node_id or self.cluster.is_alive(owner)):
            return owner
        pinned = self.pins.get(room_id)
        if pinned is not None and (pinned == self.cluster.node_id or self.cluster.is_alive(pinned)):
            chosen = pinned
        else:
            chosen = self._least_loaded()
        if owner is not None and owner != chosen:
            # The holder is dead but its lease has not expired yet: it cannot be taken over before it expires.
            return chosen
        if await leases.acquire(resource, chosen, self.cluster.ttl_s):
            logger.info("room %s placed on node %s%s", room_id, chosen, " (pinned)" if chosen == pinned else "")
            return chosen
        return await leases.owner(resource) or chosen  # another node placed it at the same moment: follow it

    async def redirect_for(self, room_id: str) -> str | None:
        """Return the advertise URL of the room's node when it is not this one (None: run it here)."""
        node = await self.node_for(room_id)
        return None if node == self.cluster.node_id else self.cluster.address_of(node)

    async def node_elsewhere(self, room_id: str) -> str | None:
        """Return the id of the live node holding the room's lease when it is another node."""
        owner = await self.cluster.lease_repo.owner(room_resource(room_id))
        if owner is None or owner == self.cluster.node_id or not self.cluster.is_alive(owner):
            return None
        return owner

    async def current_elsewhere(self, room_id: str) -> str | None:
        """Return the advertise URL of the live node holding the room's lease when it is another node."""
        owner = await self.node_elsewhere(room_id)
        return None if owner is None else self.cluster.address_of(owner)

    async def renew(self) -> None:
        """Keep the leases of the rooms running here."""
        leases = self.cluster.lease_repo
        rooms = set(self.conference.rooms)
        for provider in self.held:
            rooms.update(provider())
        for room_id in sorted(rooms):
            if not await leases.acquire(room_resource(room_id), self.cluster.node_id, self.cluster.ttl_s):
                # Another node took it (this node was cut off past its lease): its sites will be redirected.
                logger.warning("room %s: lease lost to another node while running here", room_id)

    async def start(self) -> None:
        """Start renewing this node's room leases every heartbeat."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="room-placement")

    async def stop(self) -> None:
        """Stop renewing (the leases lapse by themselves); idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.renew()
            except Exception:  # the index briefly unreachable: try again next beat
                logger.exception("room placement: renewing room leases failed")
            await asyncio.sleep(self.cluster.config.heartbeat_s)


ROOM_PLACEMENT_KEY = web.AppKey("room_placement", RoomPlacement)


def install(app: web.Application, cfg: ClusterConfig) -> None:
    """Place rooms on nodes in an app whose config has ``cluster`` (after its Cluster is on CLUSTER_KEY)."""
    placement = app[ROOM_PLACEMENT_KEY] = RoomPlacement(app[CLUSTER_KEY], app[CONFERENCE_KEY], dict(cfg.room_pins))

    async def placement_ctx(_app: web.Application) -> AsyncIterator[None]:
        await placement.start()
        try:
            yield
        finally:
            await placement.stop()

    app.cleanup_ctx.append(placement_ctx)


__all__ = ["ROOM_PLACEMENT_KEY", "RoomPlacement", "install", "room_resource"]
