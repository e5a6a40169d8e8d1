"""Routes: log in and out, who am I, change my password."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from mediaserver.api.common import Body, Ok, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, LIMITER_KEY, METRICS_KEY, PASSWORDS_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.auth import Role, password_problems

ALL_ROLES = tuple(Role)
STAFF = (Role.ADMIN, Role.OPERATOR, Role.SECURITY)


class LoginIn(Body):
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    expires_at: str | None
    role: str
    must_change_password: bool


class MeOut(BaseModel):
    subject: str
    role: str
    site_id: str | None
    room_id: str | None
    expires_at: str | None
    must_change_password: bool


class PasswordIn(Body):
    current_password: str = Field(..., min_length=1, max_length=256)
    new_password: str = Field(..., min_length=1, max_length=256)


def register(api: Api) -> None:
    """Add the auth routes."""

    @api.route("POST", "/api/v1/auth/login", roles=None, body=LoginIn, response=LoginOut, tag="auth",
               summary="Exchange a user name and password for a bearer token (rate-limited).")
    async def login(ctx: Ctx) -> LoginOut:
        body: LoginIn = ctx.body
        limiter = ctx.app[LIMITER_KEY]
        # The lockout is per account; the client address is only slowed (see mediaserver/auth.py).
        keys = (f"user:{body.username.lower()}",)
        address = ctx.request.remote or "?"
        wait = limiter.addresses.wait_for(address)
        if wait > 0:
            raise ApiError(429, "login_throttled",
                           f"too many failed logins from this address; try again in {math.ceil(wait)} s",
                           headers={"Retry-After": str(math.ceil(wait))})
        left = limiter.locked_for(*keys)
        if left > 0:
            raise ApiError(429, "locked_out", f"too many failed logins; try again in {int(left) + 1} s",
                           headers={"Retry-After": str(int(left) + 1)})
        store = ctx.app[STORE_KEY]
        user = await store.users.by_name(body.username)
        ok = False
        if user is not None and not user.disabled:
            ok = await ctx.app[PASSWORDS_KEY].verify(user.password_hash, body.password)
        if not ok or user is None:
            locked = limiter.failure(*keys)
            limiter.addresses.failure(address)
            ctx.app[METRICS_KEY].logins_failed.inc()
            await ctx.audit("auth.login_failed", body.username, locked=locked)
            if locked:
                policy = ctx.app[CONFIG_KEY].auth.lockout
                raise ApiError(429, "locked_out", f"too many failed logins; locked for {int(policy.lockout_s)} s",
                               headers={"Retry-After": str(int(policy.lockout_s))})
            raise ApiError(401, "bad_credentials", "wrong user name or password")
        limiter.success(*keys)
        token, exp = await ctx.app[TOKENS_KEY].issue_access(user)
        await ctx.audit("auth.login", user.username)
        return LoginOut(token=token, expires_at=iso(exp), role=user.role,
                        must_change_password=user.must_change_password)

    @api.route("POST", "/api/v1/auth/logout", roles=ALL_ROLES, response=Ok, tag="auth",
               allow_pending_password=True, summary="Revoke the token used for this request.")
    async def logout(ctx: Ctx) -> Ok:
        await ctx.app[TOKENS_KEY].revoke(ctx.user().jti)
        await ctx.audit("auth.logout", ctx.user().subject)
        return Ok()

    @api.route("GET", "/api/v1/auth/me", roles=ALL_ROLES, response=MeOut, tag="auth",
               allow_pending_password=True, summary="Describe the caller's token.")
    async def me(ctx: Ctx) -> MeOut:
        p = ctx.user()
        return MeOut(subject=p.subject, role=p.role, site_id=p.site_id, room_id=p.room_id,
                     expires_at=iso(p.expires_at), must_change_password=p.must_change_password)

    @api.route("POST", "/api/v1/auth/password", roles=STAFF, body=PasswordIn, response=LoginOut, tag="auth",
               allow_pending_password=True,
               summary="Change the caller's password; revokes their other tokens and returns a new one.")
    async def change_password(ctx: Ctx) -> LoginOut:
        body: PasswordIn = ctx.body
        p = ctx.user()
        store = ctx.app[STORE_KEY]
        assert p.user_id is not None
        user = await store.users.get(p.user_id)
        assert user is not None
        passwords = ctx.app[PASSWORDS_KEY]
        if not await passwords.verify(user.password_hash, body.current_password):
            raise ApiError(403, "bad_credentials", "current password is wrong", "current_password")
        problems = password_problems(body.new_password, user.username, ctx.app[CONFIG_KEY].auth.password_policy)
        if body.new_password == body.current_password:
            problems.append("must differ from the current password")
        if problems:
            raise ApiError(422, "weak_password", "new password " + "; ".join(problems), "new_password")
        await store.users.set_password(user.id, await passwords.hash(body.new_password))
        await store.tokens.revoke_for_user(user.id)
        await ctx.audit("auth.password_changed", user.username)
        fresh = await store.users.get(user.id)
        assert fresh is not None
        token, exp = await ctx.app[TOKENS_KEY].issue_access(fresh)
        return LoginOut(token=token, expires_at=iso(exp), role=fresh.role, must_change_password=False)
