"""Live-room moderation through any node: a request for a room running on another node is answered by that node.

Sites are redirected to their room's node (mediaserver/rooms_placement.py), but staff keep one console address:
the chair's controls (the live roster, mute, floor, lobby, end, votes, presenting a document) for a room placed
elsewhere are sent on to the room's node with the caller's own bearer token — tokens verify on every node (the
shared keys) — and its answer is passed back as it came. A forwarded request carries ``FORWARDED_HEADER`` so it
is never forwarded again (no loops while leases move).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from mediaserver.api.errors import error_body
from mediaserver.cluster_client import CLUSTER_CLIENT_KEY, NodeUnreachable
from mediaserver.rooms_placement import ROOM_PLACEMENT_KEY

FORWARDED_HEADER = "X-Mediaserver-Forwarded-By"
# The routes that act on a running room (mediaserver/api/live.py, votes.py, documents.py).
LIVE_ROOM_PATH = re.compile(
    r"^/api/v1/rooms/(?P<room>[^/]+)/(live|pin|end|lock|unlock|camera|mute-all|chat|reopen|vote|vote/open|vote/close"
    r"|documents/present|floor/(grant|end-turn|mode)|sites/[^/]+/(mute|remove|readmit)|lobby/[^/]+/(admit|refuse))$"
)
_PASSED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept-Language")
_PASSED_RESPONSE_HEADERS = ("Content-Type",)


@web.middleware
async def room_forwarding(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Send a live-room request on to the room's node when the room runs on another live node."""
    match = LIVE_ROOM_PATH.match(request.path)
    if match is None or FORWARDED_HEADER in request.headers:
        return await handler(request)
    app = request.app
    node_id = await app[ROOM_PLACEMENT_KEY].node_elsewhere(match["room"])
    if node_id is None:
        return await handler(request)
    client = app[CLUSTER_CLIENT_KEY]
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


def install(app: web.Application) -> None:
    """Forward live-room requests (after the cluster client and room placement are installed)."""
    app.middlewares.append(room_forwarding)


__all__ = ["FORWARDED_HEADER", "LIVE_ROOM_PATH", "install", "room_forwarding"]
