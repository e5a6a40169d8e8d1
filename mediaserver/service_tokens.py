"""Service tokens: long-lived, revocable, scoped API tokens for machines (Prometheus, scripts, a wall display).

A service token is an opaque random string (``mst_`` + 43 URL-safe characters), shown once when an admin makes
it and stored only as its SHA-256, so a copy of the index does not leak usable tokens. It carries one scope,
which is the whole of what it may do — checked per route, not through a staff role:

- ``metrics:read``: ``GET /metrics`` and nothing else (a Prometheus scrape);
- ``read``: every ``GET`` route open to operators or security staff (never admin-only routes such as users,
  the audit log or the tokens themselves);
- ``cameras:view``: the camera list, groups, snapshots and live views (a wall display in a guard room).

Revocation takes effect on the next request (every use looks the hash up); uses are noted at most once a
minute per token, so a scrape every 15 s does not write the index four times a minute.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mediaserver.auth import AuthError, Principal, Role
from mediaserver.storage import Store
from mediaserver.storage.service_tokens import ServiceToken

TOKEN_PREFIX = "mst_"
TOKEN_BYTES = 32
TOUCH_EVERY_S = 60.0  # note a token's use at most this often
NEVER_EXPIRES = float("inf")


@dataclass(frozen=True, slots=True)
class Scope:
    """What one scope allows."""

    name: str
    description: str
    role: Role  # the role its principal carries (for handlers that look at it)


SCOPES: dict[str, Scope] = {s.name: s for s in (
    Scope("metrics:read", "Prometheus metrics only (GET /metrics)", Role.SECURITY),
    Scope("read", "read-only: every GET route open to operators or security staff", Role.OPERATOR),
    Scope("cameras:view", "camera list, groups, snapshots and live views", Role.SECURITY),
)}

CAMERA_VIEW_ROUTES = frozenset({
    ("GET", "/api/v1/cameras"), ("GET", "/api/v1/cameras/{camera_id}"), ("GET", "/api/v1/camera-groups"),
    ("GET", "/api/v1/cameras/{camera_id}/snapshot"), ("POST", "/api/v1/cameras/{camera_id}/views"),
    ("POST", "/api/v1/cameras/views/{view_id}/answer"), ("DELETE", "/api/v1/cameras/views/{view_id}"),
})
READ_ROLES = frozenset({Role.OPERATOR, Role.SECURITY})


def scope_allows(scope: str, method: str, path: str, roles: Iterable[Role]) -> bool:
    """Return whether a service token of ``scope`` may call the route ``method path`` open to ``roles``."""
    if scope == "metrics:read":
        return method == "GET" and path == "/metrics"
    if scope == "read":
        return method in ("GET", "HEAD") and bool(READ_ROLES.intersection(roles))
    if scope == "cameras:view":
        return (method, path) in CAMERA_VIEW_ROUTES
    return False


def token_sha256(token: str) -> str:
    """Return the hex SHA-256 a token is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_service_token(token: str) -> bool:
    """Return whether a bearer token looks like a service token (not a signed login or join token)."""
    return token.startswith(TOKEN_PREFIX)


class ServiceTokens:
    """Makes, verifies and revokes service tokens."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._touched: dict[int, float] = {}

    async def issue(self, name: str, scope: str, created_by: str,
                    ttl_days: float | None = None) -> tuple[str, ServiceToken]:
        """Make a token; return it (shown once) and its record."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r} (known: {', '.join(SCOPES)})")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        expires = time.time() + ttl_days * 86400.0 if ttl_days else None
        rec = await self._store.service_tokens.add(name, scope, token_sha256(token), created_by, expires)
        return token, rec

    async def verify(self, token: str) -> Principal:
        """Return the principal of a service token, or raise AuthError (unknown, revoked, expired)."""
        rec = await self._store.service_tokens.by_hash(token_sha256(token))
        if rec is None:
            raise AuthError("invalid_token", "unknown service token")
        if rec.revoked_at is not None:
            raise AuthError("token_revoked", "service token was revoked")
        now = time.time()
        if rec.expires_at is not None and rec.expires_at < now:
            raise AuthError("token_expired", "service token expired; ask an admin for a new one")
        if now - self._touched.get(rec.id, 0.0) >= TOUCH_EVERY_S:
            self._touched[rec.id] = now
            await self._store.service_tokens.touch(rec.id, now)
        return Principal(subject=f"service:{rec.name}", role=SCOPES[rec.scope].role, jti=f"service:{rec.id}",
                         expires_at=rec.expires_at or NEVER_EXPIRES, scope=rec.scope)
