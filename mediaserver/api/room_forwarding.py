"""Rooms through any node: a request for a room running on another node is answered by that node.

Sites are redirected to their room's node (mediaserver/rooms_placement.py), but staff keep one console address:
the chair's controls (the live roster, mute, floor, lobby, end, votes, presenting a document) for a room placed
elsewhere are sent on to the room's node with the caller's own bearer token — tokens verify on every node (the
shared keys) — and its answer is passed back as it came. A forwarded request carries ``FORWARDED_HEADER`` so it
is never forwarded again (no loops while leases move).

Recording a room happens where its media is. Asking to record it (``POST .../recording``, or a scheduled
``room.record`` run, which any node may claim) places the room if no node holds it yet, and the request goes to
that node; the node keeps the room's lease while the request waits for the meeting (rooms_placement), so the
sites of that meeting are sent there too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mediaserver.api.errors import error_body
from mediaserver.api.peer import CLUSTER_PREFIX, node_error
from mediaserver.api.routing import ROOM_NODE_ROUTES_KEY
from mediaserver.cluster_client import CLUSTER_CLIENT_KEY, NodeUnreachable
from mediaserver.rooms_placement import ROOM_PLACEMENT_KEY
from mediaserver.scheduler import Handler, JobContext

FORWARDED_HEADER = "X-Mediaserver-Forwarded-By"
# The node-to-node route that runs a room's scheduled job on the room's node (mediaserver/api/cluster_routes.py).
ROOM_JOB_PATH = CLUSTER_PREFIX + "/room-jobs/{action}"
# action → the handler that performs it here (what the route above runs; the scheduler holds the wrapper).
ROOM_JOBS_KEY = web.AppKey("room_jobs", dict[str, Handler])
_PASSED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept-Language")
_PASSED_RESPONSE_HEADERS = ("Content-Type",)


@web.middleware
async def room_forwarding(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Send a request for a running room (a route declared with ``room_node``) on to the room's node."""
    route = request.match_info.route
    mode = request.app[ROOM_NODE_ROUTES_KEY].get(route)
    if mode is None or FORWARDED_HEADER in request.headers:
        return await handler(request)
    app = request.app
    room_id = request.match_info["room_id"]
    placement, client = app[ROOM_PLACEMENT_KEY], app[CLUSTER_CLIENT_KEY]
    if mode == "place":  # e.g. "record its next meeting": the room goes where the request goes
        node = await placement.node_for(room_id)
        node_id = None if node == client.node_id else node
    else:
        node_id = await placement.node_elsewhere(room_id)
    if node_id is None:
        return await handler(request)
    headers = {h: request.headers[h] for h in _PASSED_REQUEST_HEADERS if h in request.headers}
    headers[FORWARDED_HEADER] = client.node_id
    body = await request.read() if request.body_exists else None
    try:
        async with client.open(node_id, request.method, request.path, dict(request.query), data=body,
                               headers=headers) as upstream:
            raw = await upstream.read()
            passed = {h: upstream.headers[h] for h in _PASSED_RESPONSE_HEADERS if h in upstream.headers}
            return web.Response(status=upstream.status, body=raw, headers=passed)
    except NodeUnreachable as exc:
        return web.json_response(error_body("node_unreachable", str(exc)), status=502)


def on_rooms_node(app: web.Application, action: str, local: Handler) -> Handler:
    """Wrap a scheduler action on ``args.room`` so that, in a cluster, it runs on the room's node."""
    app.setdefault(ROOM_JOBS_KEY, {})[action] = local

    async def run(ctx: JobContext) -> None:
        placement, client = app.get(ROOM_PLACEMENT_KEY), app.get(CLUSTER_CLIENT_KEY)
        room = ctx.args.get("room")
        if placement is None or client is None or not isinstance(room, str) or not room:
            await local(ctx)  # one node, or arguments the local handler refuses with its own message
            return
        node_id = await placement.node_for(room)
        if node_id == client.node_id:
            await local(ctx)
            return
        body = {"job_id": ctx.job_id, "args": ctx.args, "scheduled_for": ctx.scheduled_for}
        status, data = await client.call(node_id, "POST", ROOM_JOB_PATH.format(action=action), json_body=body)
        if status >= 400:
            err = node_error(data)
            raise RuntimeError(f"room {room!r} runs on node {node_id!r}, which refused the {action} run: "
                               f"{err.get('message') or f'HTTP {status}'}")

    return run


def install(app: web.Application) -> None:
    """Forward live-room requests (after the cluster client and room placement are installed)."""
    app.middlewares.append(room_forwarding)


__all__ = ["FORWARDED_HEADER", "ROOM_JOBS_KEY", "ROOM_JOB_PATH", "install", "on_rooms_node",
           "room_forwarding"]
