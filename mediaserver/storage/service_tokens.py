"""Repository: service tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from mediaserver.storage.db import Database


@dataclass(frozen=True, slots=True)
class ServiceToken:
    id: int
    name: str
    scope: str
    created_by: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


class ServiceTokenRepo:
    """Service tokens: create, find by hash, list, revoke, note their use."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _tok(r: sqlite3.Row) -> ServiceToken:
        return ServiceToken(r["id"], r["name"], r["scope"], r["created_by"], r["created_at"], r["expires_at"],
                            r["revoked_at"], r["last_used_at"])

    async def add(self, name: str, scope: str, token_sha256: str, created_by: str,
                  expires_at: float | None) -> ServiceToken:
        """Record a new service token; return it."""
        now = time.time()
        new_id = await self.db.execute(
            "INSERT INTO service_tokens (name, scope, token_sha256, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (name, scope, token_sha256, created_by, now, expires_at))
        return ServiceToken(new_id, name, scope, created_by, now, expires_at, None, None)

    async def by_hash(self, token_sha256: str) -> ServiceToken | None:
        """Return the token with this hash (revoked or not), or None."""
        r = await self.db.fetchone("SELECT * FROM service_tokens WHERE token_sha256 = ?", (token_sha256,))
        return self._tok(r) if r else None

    async def get(self, token_id: int) -> ServiceToken | None:
        """Return one token by id, or None."""
        r = await self.db.fetchone("SELECT * FROM service_tokens WHERE id = ?", (token_id,))
        return self._tok(r) if r else None

    async def all(self) -> list[ServiceToken]:
        """Return every service token, newest first."""
        rows = await self.db.fetchall("SELECT * FROM service_tokens ORDER BY created_at DESC, id DESC")
        return [self._tok(r) for r in rows]

    async def revoke(self, token_id: int) -> bool:
        """Revoke a token; return whether it was live."""
        n = await self.db.execute_rowcount(
            "UPDATE service_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), token_id))
        return n > 0

    async def touch(self, token_id: int, at: float) -> None:
        """Note when a token was last used."""
        await self.db.execute("UPDATE service_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))
