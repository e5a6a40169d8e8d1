"""Authentication and roles: Argon2id password hashes, signed expiring bearer tokens, login lockout.

- Passwords are hashed with Argon2id (memory-hard), off the event loop (a hash costs tens of ms of CPU).
- Tokens are HS256 JWTs carrying role, expiry and a ``jti``; every issued jti is stored in the index so a
  token can be revoked (logout, password change, user disabled) before it expires.
- Login lockout follows the Vietnamese camera-system guidance, which is about the account: 5 failures within
  30 s lock that account for 5 minutes (all configurable). A client address is never locked out (a whole
  office shares one address: one clerk's typos must not lock out the admin); instead a token bucket slows an
  address that fails many logins across accounts (password spraying) to one attempt every few seconds.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mediaserver.config import AuthConfig, LockoutConfig, PasswordPolicy
from mediaserver.errors import CodedError
from mediaserver.storage import Store
from mediaserver.storage.repos import TokenRecord, User

TOKEN_ALGORITHM = "HS256"
TOKEN_ISSUER = "mediaserver"
SECRET_KEY_BYTES = 32
TOKEN_LEEWAY_S = 5.0


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"  # runs conferences and schedules
    SECURITY = "security"  # cameras, recordings, exports
    PARTICIPANT = "participant"  # one site in one room, via a join token


STAFF_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.SECURITY})


class AuthError(CodedError):
    """A credential or token was refused; ``code`` is the API error code."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as established from a verified token."""

    subject: str  # username, or "site:<id>" for a join token
    role: Role
    jti: str
    expires_at: float
    user_id: int | None = None
    site_id: str | None = None
    room_id: str | None = None
    must_change_password: bool = False
    scope: str | None = None  # a service token's scope (mediaserver/service_tokens.py); None for people


# ------------------------------------------------------------------------------------------ passwords


def password_problems(password: str, username: str, policy: PasswordPolicy) -> list[str]:
    """Return why a password is too weak (empty when it is acceptable)."""
    problems = []
    if len(password) < policy.min_length:
        problems.append(f"must be at least {policy.min_length} characters")
    classes = sum(
        any(pred(c) for c in password)
        for pred in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if classes < policy.min_classes:
        problems.append(
            f"must mix at least {policy.min_classes} of: lower case, upper case, digits, symbols"
        )
    if username and username.lower() in password.lower():
        problems.append("must not contain the user name")
    if password.lower() in {"admin", "password", "12345678", "123456789", "1234567890", "admin123"}:
        problems.append("is a well-known default password")
    return problems


def generate_password(length: int = 16) -> str:
    """Return a random password that satisfies the strictest policy."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(p(c) for c in pw) for p in (str.islower, str.isupper, str.isdigit)) and any(
            not c.isalnum() for c in pw
        ):
            return pw


class Passwords:
    """Argon2id hashing that never blocks the event loop."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    async def hash(self, password: str) -> str:
        """Hash a password in a worker thread."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Check a password against its hash in a worker thread."""

        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def hash_sync(self, password: str) -> str:
        """Hash a password on the calling thread (CLI use only)."""
        return self._hasher.hash(password)


# ------------------------------------------------------------------------------------------- lockout


class AddressThrottle:
    """A token bucket of failed logins per client address: a burst, then one attempt per refill interval."""

    MAX_ADDRESSES = 10_000

    def __init__(self, burst: int, refill_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) / self.refill_s)

    def wait_for(self, address: str) -> float:
        """Return the seconds before ``address`` may try again (0: it may now)."""
        tokens = self._tokens(address, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * self.refill_s

    def failure(self, address: str) -> None:
        """Spend one attempt of ``address``."""
        now = self._clock()
        self._buckets[address] = (max(0.0, self._tokens(address, now) - 1.0), now)
        if len(self._buckets) > self.MAX_ADDRESSES:  # bound memory: forget full buckets
            for key in [a for a in self._buckets if self._tokens(a, now) >= self.burst]:
                del self._buckets[key]


class LoginLimiter:
    """Counts failed logins per account in a sliding window and locks accounts out; slows spraying addresses."""

    def __init__(self, policy: LockoutConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self.addresses = AddressThrottle(policy.address_burst, policy.address_refill_s, clock)

    def locked_for(self, *keys: str) -> float:
        """Return the seconds left on the longest lockout among ``keys`` (0 when none is locked)."""
        now = self._clock()
        left = 0.0
        for key in keys:
            until = self._locked_until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked_until[key]
            else:
                left = max(left, until - now)
        return left

    def failure(self, *keys: str) -> bool:
        """Record a failed attempt for each key; return whether any key is now locked."""
        now = self._clock()
        locked = False
        for key in keys:
            q = self._failures.setdefault(key, deque())
            q.append(now)
            while q and q[0] <= now - self.policy.window_s:
                q.popleft()
            if len(q) >= self.policy.max_failures:
                self._locked_until[key] = now + self.policy.lockout_s
                q.clear()
                locked = True
        self._prune(now)
        return locked

    def success(self, *keys: str) -> None:
        """Forget the failures of keys that just logged in successfully."""
        for key in keys:
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        # Bound memory under a spray of distinct user names: drop windows that have fully expired.
        if len(self._failures) > 10_000:
            for key in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.policy.window_s]:
                del self._failures[key]


# -------------------------------------------------------------------------------------------- tokens


def load_or_create_secret(cfg: AuthConfig, data_dir: Path) -> bytes:
    """Return the token signing key: from config/env, else a key file created once in the data dir."""
    if cfg.token_secret is not None and cfg.token_secret.get_secret_value():
        return cfg.token_secret.get_secret_value().encode()
    path = data_dir / "token-signing.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(SECRET_KEY_BYTES)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key.hex())
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


class Tokens:
    """Signs, verifies and revokes bearer tokens; every token is recorded in the index."""

    def __init__(self, secret: bytes, store: Store, cfg: AuthConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._store = store
        self._cfg = cfg
        self._clock = clock

    async def issue_access(self, user: User) -> tuple[str, float]:
        """Sign a login token for a staff user; return it with its expiry."""
        return await self._issue(
            TokenRecord(uuid.uuid4().hex, user.id, "access", user.role, None, None, 0, 0, None, ""),
            self._cfg.access_token_ttl_s, sub=user.username,
        )

    async def issue_join(self, site_id: str, room_id: str, ttl_s: float | None = None,
                         label: str = "") -> tuple[str, float]:
        """Sign a participant token that lets one site join one room; return it with its expiry."""
        return await self._issue(
            TokenRecord(uuid.uuid4().hex, None, "join", Role.PARTICIPANT, site_id, room_id, 0, 0, None, label),
            ttl_s or self._cfg.join_token_ttl_s, sub=f"site:{site_id}",
        )

    async def _issue(self, rec: TokenRecord, ttl_s: float, sub: str) -> tuple[str, float]:
        now = self._clock()
        exp = now + ttl_s
        claims: dict[str, object] = {
            "iss": TOKEN_ISSUER, "sub": sub, "role": rec.role, "jti": rec.jti, "iat": int(now), "exp": exp,
        }
        if rec.site_id:
            claims["site"] = rec.site_id
            claims["room"] = rec.room_id
        await self._store.tokens.add(
            TokenRecord(rec.jti, rec.user_id, rec.kind, rec.role, rec.site_id, rec.room_id, now, exp, None,
                        rec.label)
        )
        return jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM), exp

    async def verify(self, token: str) -> Principal:
        """Return who a token belongs to, or raise AuthError (bad signature, expired, revoked, disabled)."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[TOKEN_ALGORITHM], issuer=TOKEN_ISSUER,
                options={"require": ["exp", "jti", "sub", "role"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise AuthError("invalid_token", f"invalid token: {exc}") from exc
        # Expiry is checked against our injectable clock (tests move it) rather than PyJWT's.
        if float(claims["exp"]) + TOKEN_LEEWAY_S < self._clock():
            raise AuthError("token_expired", "token expired; log in again or ask for a new join link")
        found = await self._store.tokens.get_with_user(str(claims["jti"]))
        if found is None or found[0].revoked_at is not None:
            raise AuthError("token_revoked", "token was revoked")
        rec, user = found
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise AuthError("invalid_token", "token has an unknown role") from exc
        must_change = False
        if rec.user_id is not None:
            if user is None or user.disabled:
                raise AuthError("token_revoked", "user is disabled or deleted")
            if user.role != role:
                raise AuthError("token_revoked", "user's role changed; log in again")
            must_change = user.must_change_password
        return Principal(
            subject=str(claims["sub"]), role=role, jti=rec.jti, expires_at=rec.expires_at, user_id=rec.user_id,
            site_id=rec.site_id, room_id=rec.room_id, must_change_password=must_change,
        )

    async def revoke(self, jti: str) -> bool:
        """Revoke one token."""
        return await self._store.tokens.revoke(jti)
