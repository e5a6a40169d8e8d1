"""Repositories: staff users and the bearer tokens signed for them (and for sites' join links)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mediaserver.storage.base import Conflict, NotFound, _now, _Repo

ROLES = ("admin", "operator", "security", "participant")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    password_hash: str
    role: str
    must_change_password: bool
    disabled: bool
    created_at: float
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class TokenRecord:
    jti: str
    user_id: int | None
    kind: str
    role: str
    site_id: str | None
    room_id: str | None
    issued_at: float
    expires_at: float
    revoked_at: float | None
    label: str


class UserRepo(_Repo):
    @staticmethod
    def _user(r: sqlite3.Row) -> User:
        return User(
            r["id"], r["username"], r["password_hash"], r["role"], bool(r["must_change_password"]),
            bool(r["disabled"]), r["created_at"], r["password_changed_at"],
        )

    async def create(self, username: str, password_hash: str, role: str, must_change: bool = False) -> User:
        """Create a user; raise Conflict if the name is taken."""
        now = _now()
        try:
            uid = await self.db.execute(
                "INSERT INTO users (username, password_hash, role, must_change_password, created_at,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (username, password_hash, role, int(must_change), now, now),
            )
        except sqlite3.IntegrityError as exc:
            if "unique" in str(exc).lower():  # both engines name the broken rule: a taken name, or e.g. a role
                raise Conflict(f"user {username!r} already exists") from exc
            raise Conflict(f"user {username!r} not created: {exc}") from exc
        return User(uid, username, password_hash, role, must_change, False, now, now)

    async def get(self, user_id: int) -> User | None:
        """Return the user with this id."""
        r = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return self._user(r) if r else None

    async def by_name(self, username: str) -> User | None:
        """Return the user with this name."""
        r = await self.db.fetchone("SELECT * FROM users WHERE username = ?", (username,))
        return self._user(r) if r else None

    async def all(self) -> list[User]:
        """Return every user, by name."""
        return [self._user(r) for r in await self.db.fetchall("SELECT * FROM users ORDER BY username")]

    async def count(self) -> int:
        """Return how many users exist."""
        r = await self.db.fetchone("SELECT COUNT(*) FROM users")
        return int(r[0]) if r else 0

    async def set_password(self, user_id: int, password_hash: str, must_change: bool = False) -> None:
        """Replace a user's password hash."""
        n = await self.db.execute_rowcount(
            "UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = ? WHERE id = ?",
            (password_hash, int(must_change), _now(), user_id),
        )
        if not n:
            raise NotFound(f"user {user_id}")

    async def update(self, user_id: int, *, role: str | None = None, disabled: bool | None = None) -> None:
        """Change a user's role or disabled flag."""
        n = await self.db.execute_rowcount(
            "UPDATE users SET role = COALESCE(?, role), disabled = COALESCE(?, disabled) WHERE id = ?",
            (role, None if disabled is None else int(disabled), user_id),
        )
        if not n:
            raise NotFound(f"user {user_id}")

    async def delete(self, user_id: int) -> None:
        """Delete a user and (by cascade) their tokens."""
        if not await self.db.execute_rowcount("DELETE FROM users WHERE id = ?", (user_id,)):
            raise NotFound(f"user {user_id}")


class TokenRepo(_Repo):
    @staticmethod
    def _tok(r: sqlite3.Row) -> TokenRecord:
        return TokenRecord(
            r["jti"], r["user_id"], r["kind"], r["role"], r["site_id"], r["room_id"], r["issued_at"],
            r["expires_at"], r["revoked_at"], r["label"],
        )

    async def add(self, rec: TokenRecord) -> None:
        """Record a token that was just signed."""
        await self.db.execute(
            "INSERT INTO api_tokens (jti, user_id, kind, role, site_id, room_id, issued_at, expires_at,"
            " revoked_at, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.jti, rec.user_id, rec.kind, rec.role, rec.site_id, rec.room_id, rec.issued_at,
             rec.expires_at, rec.revoked_at, rec.label),
        )

    async def get(self, jti: str) -> TokenRecord | None:
        """Return a token's record."""
        r = await self.db.fetchone("SELECT * FROM api_tokens WHERE jti = ?", (jti,))
        return self._tok(r) if r else None

    async def get_with_user(self, jti: str) -> tuple[TokenRecord, User | None] | None:
        """Return a token's record and its user (None for join tokens) in one query."""
        r = await self.db.fetchone(
            "SELECT t.*, u.id AS u_id, u.username, u.password_hash, u.role AS u_role, u.must_change_password,"
            " u.disabled, u.created_at, u.password_changed_at"
            " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.jti = ?",
            (jti,),
        )
        if r is None:
            return None
        user = None
        if r["u_id"] is not None:
            user = User(r["u_id"], r["username"], r["password_hash"], r["u_role"], bool(r["must_change_password"]),
                        bool(r["disabled"]), r["created_at"], r["password_changed_at"])
        return self._tok(r), user

    async def revoke(self, jti: str) -> bool:
        """Revoke one token; return whether it existed and was live."""
        n = await self.db.execute_rowcount(
            "UPDATE api_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", (_now(), jti)
        )
        return n > 0

    async def revoke_for_user(self, user_id: int) -> int:
        """Revoke every live token of a user (password change, disable); return how many."""
        return await self.db.execute_rowcount(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (_now(), user_id)
        )

    async def purge_expired(self, before: float) -> int:
        """Delete records of tokens that expired before ``before``."""
        return await self.db.execute_rowcount("DELETE FROM api_tokens WHERE expires_at < ?", (before,))
