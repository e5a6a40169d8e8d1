"""Node-to-node HTTP: requests one node makes of another, signed with the shared ``cluster.secret``.

Footage stays on the disk of the node that recorded it (issue 16), so a node that is asked for footage it does
not hold fetches it from the node that does. Those requests carry no staff token: the asking node has already
checked the person's token and role and writes the audit record; the serving node only needs to know that the
request comes from a node of the same cluster. That is what ``X-Cluster-Auth`` proves:

    X-Cluster-Auth: v1;node=<node id>;ts=<epoch ms>;nonce=<32 hex>;sig=<64 hex>

``sig`` is HMAC-SHA256, keyed by a key derived from ``cluster.secret``, over the method, the raw path with its
query, the node id, the time, the nonce and the SHA-256 of the body. The receiver accepts a header only

- when this server is itself part of a cluster (``cluster`` set) — never otherwise;
- when the signature matches (``hmac.compare_digest``: constant time);
- when ``ts`` is within ``REPLAY_WINDOW_S`` of its own clock, and the nonce has not been seen within that window
  (the nonces it remembers are bounded by the window and by ``MAX_NONCES``).

A captured header is therefore useless after the window, for another path or body, and even within the window
a second time. The signed path includes the query, so a signed request for one range cannot be replayed for
another. The nodes' clocks must agree within the window (NTP; ``REPLAY_WINDOW_S`` is generous for that).

Join tokens must be valid on every node too (a site is redirected to its room's node with the same link):
``token_signing_key`` derives the token key from the same secret when ``auth.token_secret`` is not set, with a
different purpose string, so a token key never signs a node request or the other way round.

``ClusterClient`` owns one ``aiohttp.ClientSession`` for the process's life (opened and closed by the app's
cleanup context) and streams responses through (``forward``): bytes are copied as they arrive, never buffered
whole, and ``Range`` requests and their 206 answers pass through unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from mediaserver.config import Config
from mediaserver.errors import CodedError

logger = logging.getLogger(__name__)

AUTH_HEADER = "X-Cluster-Auth"
AUTH_VERSION = "v1"
# A signed request is accepted this long either side of the receiver's clock (covers NTP-level clock skew and a
# slow network; a replay within it is refused by its nonce).
REPLAY_WINDOW_S = 30.0
# Nonces remembered at once: at most this many node requests per replay window are accepted (≈ 3,300/s).
MAX_NONCES = 100_000
NODE_KEY_PURPOSE = "mediaserver node-to-node v1"
TOKEN_KEY_PURPOSE = "mediaserver token-signing v1"
SECRETBOX_KEY_PURPOSE = "mediaserver secretbox v1"
_HEADER_RE = re.compile(r"^v1;node=(?P<node>[a-z0-9][a-z0-9_-]{0,63});ts=(?P<ts>\d{1,16});"
                        r"nonce=(?P<nonce>[0-9a-f]{32});sig=(?P<sig>[0-9a-f]{64})$")

CONNECT_TIMEOUT_S = 3.0
# Between two reads of an answer: a playback MP4 is remuxed before its first byte (seconds for an hour).
READ_TIMEOUT_S = 60.0
CHUNK_BYTES = 256 * 1024
# Request headers a proxied read passes to the owning node (range reads and conditional requests).
FORWARD_REQUEST_HEADERS = ("Range", "If-Range", "If-None-Match", "If-Modified-Since")
# Response headers passed back to the browser unchanged.
FORWARD_RESPONSE_HEADERS = (
    "Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Content-Encoding", "ETag", "Last-Modified",
    "Cache-Control", "Content-Disposition", "X-Content-SHA256", "X-Segment-Start", "X-Segment-End",
    "X-Playback-Start", "X-Playback-End", "X-Snapshot-Source", "X-Snapshot-Time",
)


class NodeAuthError(CodedError):
    """A node-to-node request was refused (no, bad, stale or replayed signature; no cluster here)."""

    def __init__(self, message: str) -> None:
        super().__init__("node_auth_failed", message)


class NodeUnreachable(CodedError):
    """Another node could not be asked (not alive, not known, or it did not answer)."""

    def __init__(self, message: str) -> None:
        super().__init__("node_unreachable", message)


def derive_key(secret: str, purpose: str) -> bytes:
    """Return a 32-byte key for one purpose from the shared cluster secret."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def token_signing_key(secret: str) -> bytes:
    """Return the bearer-token signing key every node of a cluster shares (used when auth.token_secret is unset)."""
    return derive_key(secret, TOKEN_KEY_PURPOSE)


def cluster_token_key(cfg: Config) -> bytes | None:
    """Return the token key a cluster shares when auth.token_secret is unset (None: not a cluster, or it is set)."""
    configured = cfg.auth.token_secret is not None and cfg.auth.token_secret.get_secret_value()
    if cfg.cluster is None or configured:
        return None
    return token_signing_key(cfg.cluster.secret.get_secret_value())


def cluster_secretbox_key(cfg: Config) -> bytes | None:
    """Return the key a cluster's nodes seal camera secrets with (None: not a cluster)."""
    return None if cfg.cluster is None else derive_key(cfg.cluster.secret.get_secret_value(), SECRETBOX_KEY_PURPOSE)


def _canonical(method: str, path_qs: str, node_id: str, ts: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([AUTH_VERSION, method.upper(), path_qs, node_id, ts, nonce,
                      hashlib.sha256(body).hexdigest()]).encode()


class NodeSigner:
    """Signs this node's requests to other nodes."""

    def __init__(self, node_id: str, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self._key = derive_key(secret, NODE_KEY_PURPOSE)
        self._clock = clock

    def sign(self, method: str, path_qs: str, body: bytes = b"") -> str:
        """Return the ``X-Cluster-Auth`` value for one request (``path_qs``: the raw path and query as sent)."""
        ts = str(int(self._clock() * 1000))
        nonce = secrets.token_hex(16)
        sig = hmac.new(self._key, _canonical(method, path_qs, self.node_id, ts, nonce, body), hashlib.sha256)
        return f"{AUTH_VERSION};node={self.node_id};ts={ts};nonce={nonce};sig={sig.hexdigest()}"


class NodeVerifier:
    """Checks other nodes' signed requests: signature, time window and replay."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time,
                 window_s: float = REPLAY_WINDOW_S, max_nonces: int = MAX_NONCES) -> None:
        self._key = derive_key(secret, NODE_KEY_PURPOSE)
        self._clock = clock
        self._window_s = window_s
        self._max_nonces = max_nonces
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce → when it was accepted (receiver's clock)

    def verify(self, method: str, path_qs: str, header: str | None, body: bytes = b"") -> str:
        """Return the calling node's id, or raise NodeAuthError saying precisely why not."""
        if not header:
            raise NodeAuthError(f"a node-to-node request needs a signed {AUTH_HEADER} header")
        m = _HEADER_RE.match(header.strip())
        if m is None:
            raise NodeAuthError(f"{AUTH_HEADER} is malformed (expected v1;node=…;ts=…;nonce=…;sig=…)")
        node, ts, nonce, sig = m["node"], m["ts"], m["nonce"], m["sig"]
        expected = hmac.new(self._key, _canonical(method, path_qs, node, ts, nonce, body), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), sig):
            raise NodeAuthError("the node signature does not match (another cluster.secret, or the request changed)")
        now = self._clock()
        skew = abs(now - int(ts) / 1000)
        if skew > self._window_s:
            raise NodeAuthError(f"the node signature is {skew:.0f} s away from this node's clock (limit "
                                f"{self._window_s:.0f} s: replayed, or the clocks disagree — check NTP)")
        self._forget(now)
        if nonce in self._seen:
            raise NodeAuthError("this node request was already received once (replayed)")
        if len(self._seen) >= self._max_nonces:
            raise NodeAuthError("too many node requests in the replay window; try again shortly")
        self._seen[nonce] = now
        return node

    def _forget(self, now: float) -> None:
        # Accepted in time order, so the oldest are first; a nonce older than the window could not pass anyway.
        while self._seen:
            nonce, at = next(iter(self._seen.items()))
            if now - at <= 2 * self._window_s:
                break
            del self._seen[nonce]


Resolve = Callable[[str], Awaitable[str | None]]  # node id → its advertise URL, None when not alive or unknown


class ClusterClient:
    """This node's HTTP client for the other nodes, and the verifier of their requests to it."""

    def __init__(self, node_id: str, secret: str, resolve: Resolve, *, clock: Callable[[], float] = time.time,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.node_id = node_id
        self.signer = NodeSigner(node_id, secret, clock)
        self.verifier = NodeVerifier(secret, clock)
        self._resolve = resolve
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s,
                                              sock_read=read_timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            # Bytes pass through as the owner sent them (no decompression): a proxied file stays byte-identical.
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False)

    async def close(self) -> None:
        """Close the session (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def url_of(self, node_id: str, path: str, query: Mapping[str, str] | None = None) -> URL:
        """Return the URL of ``path`` on a node; NodeUnreachable when the node is not alive."""
        base = await self._resolve(node_id)
        if not base:
            raise NodeUnreachable(f"node {node_id!r} is not alive (no heartbeat within the lease time)")
        url = URL(base.rstrip("/")).with_path(path)
        return url.with_query(dict(query)) if query else url

    @contextlib.asynccontextmanager
    async def open(self, node_id: str, method: str, path: str, query: Mapping[str, str] | None = None, *,
                   json_body: Any = None, data: bytes | None = None, headers: Mapping[str, str] | None = None
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a signed request to a node and yield its response (any status); NodeUnreachable if none came.

        The body is ``json_body`` as JSON, or ``data`` as it is (its Content-Type in ``headers``).
        """
        if self._session is None:
            raise NodeUnreachable("the cluster client is not started")
        url = await self.url_of(node_id, path, query)
        body = data if data is not None else b"" if json_body is None else web.json_response(json_body).body
        assert isinstance(body, bytes)
        send = {**(headers or {}), AUTH_HEADER: self.signer.sign(method, url.raw_path_qs, body)}
        if json_body is not None:
            send["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, data=body or None, headers=send,
                                             allow_redirects=False) as resp:
                yield resp
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeUnreachable(f"node {node_id!r} ({url.origin()}) did not answer: "
                                  f"{type(exc).__name__}: {exc}") from exc

    async def call(self, node_id: str, method: str, path: str, query: Mapping[str, str] | None = None,
                   json_body: Any = None) -> tuple[int, Any]:
        """Send a signed JSON request to a node; return its status and decoded JSON body (None when empty)."""
        async with self.open(node_id, method, path, query, json_body=json_body) as resp:
            raw = await resp.read()
            try:
                return resp.status, await resp.json(content_type=None) if raw else None
            except ValueError as exc:
                raise NodeUnreachable(f"node {node_id!r} answered {resp.status} with a body that is not JSON") from exc

    async def forward(self, request: web.Request, node_id: str, path: str,
                      query: Mapping[str, str] | None = None) -> web.StreamResponse:
        """Answer ``request`` with a node's answer to a signed GET of ``path``: status, headers and bytes as sent."""
        wanted = {h: request.headers[h] for h in FORWARD_REQUEST_HEADERS if h in request.headers}
        async with self.open(node_id, "GET", path, query, headers=wanted) as upstream:
            headers = {h: upstream.headers[h] for h in FORWARD_RESPONSE_HEADERS if h in upstream.headers}
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            await resp.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                    await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def verify(self, request: web.Request) -> str:
        """Return the id of the node that signed ``request``, or raise NodeAuthError."""
        body = await request.read() if request.body_exists else b""
        return self.verifier.verify(request.method, request.raw_path, request.headers.get(AUTH_HEADER), body)


CLUSTER_CLIENT_KEY = web.AppKey("cluster_client", ClusterClient)

__all__ = ["AUTH_HEADER", "CLUSTER_CLIENT_KEY", "ClusterClient", "NodeAuthError", "NodeSigner", "NodeUnreachable",
           "NodeVerifier", "cluster_secretbox_key", "cluster_token_key", "derive_key", "token_signing_key"]
