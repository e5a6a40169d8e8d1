"""Footage on another node: the hooks by which the public footage routes fetch it from the node that holds it.

Footage stays where it was recorded (issue 16). The index is shared, so searches and timelines are answered by
any node from the index alone; only reading a file needs the node holding it. A public route first asks
``FootageRouting`` whether the file it would read is on another node; if so, it checks and audits the person's
request as usual and then streams the owner's answer through (``forward``: status, headers and bytes as the
owner sent them, ``Range`` passed on), from the node-to-node routes in ``mediaserver/api/cluster_routes.py``.
Without ``cluster`` in the config there is no ``FootageRouting`` and every hook answers "local".

Which node serves a time range: the one holding most of its bytes. A range that spans a takeover (the camera
moved from one node to another within it) plays from that node; the other node's part shows as a gap there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Ctx
from mediaserver.app_keys import CAMERAS_KEY, CLUSTER_KEY, EXPORTER_KEY, PLAYBACK_KEY, STORE_KEY
from mediaserver.cluster_client import CLUSTER_CLIENT_KEY, ClusterClient, NodeUnreachable
from mediaserver.config import ClusterConfig
from mediaserver.storage.footage_nodes import FootageNodes
from mediaserver.storage.repos import Segment

logger = logging.getLogger(__name__)

CLUSTER_PREFIX = "/api/v1/cluster"
# A camera's live state as another node sees it: camera id → (status, motion activity) for the cameras it runs.
CameraStates = dict[str, tuple[dict[str, Any] | None, dict[str, Any]]]
# The camera list asks every other node at once and waits at most this long: a slow node's cameras show offline.
STATES_TIMEOUT_S = 2.0
# A live view opened on another node is named "<node id>.<its view id>" here (node ids have no dot).
VIEW_SEPARATOR = "."


class FootageRouting:
    """Where footage is, from this node's point of view; and the client that fetches it from elsewhere."""

    def __init__(self, node_id: str, nodes: FootageNodes, client: ClusterClient) -> None:
        self.node_id = node_id
        self.nodes = nodes
        self.client = client

    def remote(self, node_id: str | None) -> str | None:
        """Return ``node_id`` if it names another node (None: here, or footage from before the cluster)."""
        return node_id if node_id is not None and node_id != self.node_id else None


FOOTAGE_ROUTING_KEY = web.AppKey("footage_routing", FootageRouting)


def _routing(app: web.Application) -> FootageRouting | None:
    return app.get(FOOTAGE_ROUTING_KEY)


async def remote_segment(app: web.Application, segment_id: int) -> tuple[Segment, str] | None:
    """Return a camera segment and the other node holding it, or None when it is here (or does not exist)."""
    routing = _routing(app)
    if routing is None:
        return None
    exists, node = await routing.nodes.segment(segment_id)
    node = routing.remote(node) if exists else None
    if node is None:
        return None
    seg = await app[STORE_KEY].segments.get(segment_id)
    return None if seg is None else (seg, node)


async def range_owner(app: web.Application, camera_id: str, start: float, end: float,
                      stream: str = "main") -> str | None:
    """Return the other node holding most of a camera stream's footage in [start, end), or None (here)."""
    routing = _routing(app)
    if routing is None:
        return None
    held = await routing.nodes.range(camera_id, start, end, stream)
    return routing.remote(held[0].node_id) if held else None


async def export_owner(app: web.Application, export_id: str) -> str | None:
    """Return the other node holding an export's file, or None (here)."""
    routing = _routing(app)
    return None if routing is None else routing.remote(await routing.nodes.export(export_id))


async def event_owner(app: web.Application, camera_id: str, at: float) -> str | None:
    """Return the other node that recorded (and analysed) a camera at ``at``, or None (here)."""
    routing = _routing(app)
    return None if routing is None else routing.remote(await routing.nodes.at(camera_id, at))


async def note_export(app: web.Application, export_id: str) -> None:
    """Record that this node runs an export (its file will be here)."""
    routing = _routing(app)
    if routing is not None:
        await routing.nodes.set_export(export_id, routing.node_id)


async def camera_owner(app: web.Application, camera_id: str) -> str | None:
    """Return the other node running a camera (its camera lease), or None: here, or nowhere."""
    routing = _routing(app)
    cluster = app.get(CLUSTER_KEY)
    if routing is None or cluster is None or app[CAMERAS_KEY].get(camera_id) is not None:
        return None
    owner = routing.remote(await cluster.lease_repo.owner(f"camera:{camera_id}"))
    return owner if owner is not None and cluster.is_alive(owner) else None


async def camera_states(app: web.Application) -> CameraStates:
    """Return the live state of the cameras the other live nodes run (empty without a cluster)."""
    routing = _routing(app)
    cluster = app.get(CLUSTER_KEY)
    if routing is None or cluster is None:
        return {}
    others = sorted(n for n in cluster.live if routing.remote(n) is not None)

    async def ask(node_id: str) -> CameraStates:
        try:
            async with asyncio.timeout(STATES_TIMEOUT_S):
                status, data = await routing.client.call(node_id, "GET", f"{CLUSTER_PREFIX}/cameras/states")
        except (NodeUnreachable, TimeoutError) as exc:
            logger.warning("camera states of node %s: %s", node_id, exc)
            return {}
        if status != 200 or not isinstance(data, dict):
            return {}
        return {cid: (v.get("status"), v.get("activity") or {}) for cid, v in data.get("cameras", {}).items()}

    merged: CameraStates = {}
    for part in await asyncio.gather(*(ask(n) for n in others)):
        merged.update(part)
    return merged


def remote_view_id(node_id: str, view_id: str) -> str:
    """Return the id this node gives a live view opened on another node."""
    return f"{node_id}{VIEW_SEPARATOR}{view_id}"


def split_view_id(app: web.Application, view_id: str) -> tuple[str, str] | None:
    """Return (node, its view id) for a view opened on another node, or None for a view of this node."""
    node, sep, inner = view_id.partition(VIEW_SEPARATOR)
    routing = _routing(app)
    if not sep or routing is None or routing.remote(node) is None or not inner:
        return None
    return node, inner


def _client(app: web.Application) -> ClusterClient:
    routing = _routing(app)
    assert routing is not None, "only called for footage on another node, so with a cluster"
    return routing.client


async def forward(ctx: Ctx, node_id: str, path: str, query: Mapping[str, str] | None = None) -> web.StreamResponse:
    """Answer the request with the owning node's answer to GET ``CLUSTER_PREFIX + path`` (streamed)."""
    try:
        return await _client(ctx.app).forward(ctx.request, node_id, CLUSTER_PREFIX + path, query)
    except NodeUnreachable as exc:
        raise ApiError(502, exc.code, f"the footage is on node {node_id!r}, which cannot be reached: "
                       f"{exc.message}") from exc


def node_error(data: Any) -> dict[str, Any]:
    """Return the ``error`` object of another node's error answer ({} when it sent none)."""
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


async def call(ctx: Ctx, node_id: str, method: str, path: str, body: Any = None) -> Any:
    """Send a JSON request to the owning node; return its JSON, or raise its error as this route's own."""
    try:
        status, data = await _client(ctx.app).call(node_id, method, CLUSTER_PREFIX + path, json_body=body)
    except NodeUnreachable as exc:
        raise ApiError(502, exc.code, f"the footage is on node {node_id!r}, which cannot be reached: "
                       f"{exc.message}") from exc
    if status >= 400:
        err = node_error(data)
        raise ApiError(status, str(err.get("code") or "node_error"),
                       f"node {node_id!r}: {err.get('message') or f'answered {status}'}", err.get("field"))
    return data


def remote_ticket(ctx: Ctx, node_id: str, path: str, query: Mapping[str, str] | None, name: str,
                  headers: dict[str, str], audit_action: str | None = None) -> str:
    """Issue a ticket URL whose file is read from another node when it is used."""
    user = ctx.user()
    return ctx.app[PLAYBACK_KEY].tickets.issue(Path(name), subject=user.subject, role=user.role, headers=headers,
                                               audit_action=audit_action,
                                               remote=(node_id, CLUSTER_PREFIX + path, dict(query or {})))


async def forward_ticket(ctx: Ctx, remote: tuple[str, str, dict[str, str]]) -> web.StreamResponse:
    """Answer a ticket URL whose file is on another node."""
    node_id, path, query = remote
    return await forward(ctx, node_id, path.removeprefix(CLUSTER_PREFIX), query)


def install(app: web.Application, cfg: ClusterConfig) -> None:
    """Wire node-to-node requests and footage routing into an app whose config has ``cluster``."""
    store = app[STORE_KEY]

    async def resolve(node_id: str) -> str | None:
        # Only a live node is asked (it heartbeated within the lease time, as of this node's last beat).
        cluster = app.get(CLUSTER_KEY)
        return cluster.address_of(node_id) if cluster is not None and cluster.is_alive(node_id) else None

    client = app[CLUSTER_CLIENT_KEY] = ClusterClient(cfg.node_id, cfg.secret.get_secret_value(), resolve)
    footage = FootageNodes(store.db)
    app[FOOTAGE_ROUTING_KEY] = FootageRouting(cfg.node_id, footage, client)

    async def interrupt_mine() -> int:  # the other nodes' exports are still running there
        return await footage.interrupt_exports(cfg.node_id, time.time())

    app[EXPORTER_KEY].interrupt_running = interrupt_mine

    async def client_ctx(_app: web.Application) -> AsyncIterator[None]:
        await client.start()
        try:
            yield
        finally:
            await client.close()

    app.cleanup_ctx.append(client_ctx)


__all__ = [
    "CLUSTER_PREFIX",
    "FOOTAGE_ROUTING_KEY",
    "CameraStates",
    "FootageRouting",
    "call",
    "camera_owner",
    "camera_states",
    "event_owner",
    "export_owner",
    "forward",
    "forward_ticket",
    "install",
    "note_export",
    "range_owner",
    "remote_segment",
    "remote_ticket",
    "remote_view_id",
    "split_view_id",
]
