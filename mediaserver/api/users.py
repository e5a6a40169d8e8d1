"""Routes: user administration (admin only)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, PASSWORDS_KEY, STORE_KEY
from mediaserver.auth import Role, password_problems
from mediaserver.storage.repos import User

StaffRole = Literal["admin", "operator", "security"]


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    must_change_password: bool
    disabled: bool
    created_at: str | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(id=u.id, username=u.username, role=u.role, must_change_password=u.must_change_password,
                   disabled=u.disabled, created_at=iso(u.created_at))


class UserList(BaseModel):
    items: list[UserOut]


class UserIn(Body):
    username: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$", description="Login name.")
    role: StaffRole = Field(..., description="Staff role; sites join with join tokens instead.")
    password: str = Field(..., min_length=1, max_length=256, description="Initial password (policy applies).")
    must_change_password: bool = Field(True, description="Force a change at first login.")


class UserPatch(Body):
    role: StaffRole | None = Field(None, description="New staff role.")
    disabled: bool | None = Field(None, description="Disable (true) or enable (false) the account.")
    must_change_password: bool | None = Field(None, description="Force (true) a password change at next login.")


class PasswordReset(Body):
    password: str = Field(..., min_length=1, max_length=256, description="Temporary password (policy applies).")
    must_change_password: bool = Field(True, description="The user must change it at their next login.")


def register(api: Api) -> None:
    """Add the user administration routes."""
    admin = (Role.ADMIN,)

    @api.route("GET", "/api/v1/users", roles=admin, response=UserList, tag="users", summary="List users.")
    async def list_users(ctx: Ctx) -> UserList:
        return UserList(items=[UserOut.of(u) for u in await ctx.app[STORE_KEY].users.all()])

    @api.route("POST", "/api/v1/users", roles=admin, body=UserIn, response=UserOut, status=201, tag="users",
               summary="Create a staff user.")
    async def create_user(ctx: Ctx) -> UserOut:
        body: UserIn = ctx.body
        problems = password_problems(body.password, body.username, ctx.app[CONFIG_KEY].auth.password_policy)
        if problems:
            raise ApiError(422, "weak_password", "password " + "; ".join(problems), "password")
        pw_hash = await ctx.app[PASSWORDS_KEY].hash(body.password)
        user = await ctx.app[STORE_KEY].users.create(body.username, pw_hash, body.role, body.must_change_password)
        await ctx.audit("user.create", body.username, role=body.role)
        return UserOut.of(user)

    @api.route("PATCH", "/api/v1/users/{user_id}", roles=admin, body=UserPatch, response=UserOut, tag="users",
               summary="Change a user's role or disable them (revokes their tokens).")
    async def patch_user(ctx: Ctx) -> UserOut:
        body: UserPatch = ctx.body
        store = ctx.app[STORE_KEY]
        uid = _user_id(ctx)
        if uid == ctx.user().user_id and (body.disabled or body.must_change_password
                                          or (body.role and body.role != "admin")):
            raise ApiError(409, "conflict", "admins cannot demote, disable or force a password change on themselves")
        await store.users.update(uid, role=body.role, disabled=body.disabled)
        if body.must_change_password is not None:
            # Only the flag: the password (and when it was changed) stays as it is.
            await store.db.execute_rowcount("UPDATE users SET must_change_password = ? WHERE id = ?",
                                            (int(body.must_change_password), uid))
        await store.tokens.revoke_for_user(uid)
        user = await store.users.get(uid)
        assert user is not None
        await ctx.audit("user.update", user.username, **body.model_dump(exclude_none=True))
        return UserOut.of(user)

    @api.route("POST", "/api/v1/users/{user_id}/password", roles=admin, body=PasswordReset, response=UserOut,
               tag="users", summary="Set a temporary password for a user (revokes their tokens).")
    async def reset_password(ctx: Ctx) -> UserOut:
        body: PasswordReset = ctx.body
        store = ctx.app[STORE_KEY]
        user = await store.users.get(_user_id(ctx))
        if user is None:
            raise ApiError(404, "not_found", f"no user {ctx.param('user_id')}")
        if user.id == ctx.user().user_id:  # one's own password is changed with the current one (auth/password)
            raise ApiError(409, "conflict", "change your own password with POST /api/v1/auth/password")
        problems = password_problems(body.password, user.username, ctx.app[CONFIG_KEY].auth.password_policy)
        if problems:
            raise ApiError(422, "weak_password", "password " + "; ".join(problems), "password")
        pw_hash = await ctx.app[PASSWORDS_KEY].hash(body.password)
        await store.users.set_password(user.id, pw_hash, must_change=body.must_change_password)
        await store.tokens.revoke_for_user(user.id)
        await ctx.audit("user.password_reset", user.username, must_change_password=body.must_change_password)
        fresh = await store.users.get(user.id)
        assert fresh is not None
        return UserOut.of(fresh)

    @api.route("DELETE", "/api/v1/users/{user_id}", roles=admin, status=204, tag="users",
               summary="Delete a user and their tokens.")
    async def delete_user(ctx: Ctx) -> None:
        uid = _user_id(ctx)
        if uid == ctx.user().user_id:
            raise ApiError(409, "conflict", "admins cannot delete themselves")
        await ctx.app[STORE_KEY].users.delete(uid)
        await ctx.audit("user.delete", str(uid))


def _user_id(ctx: Ctx) -> int:
    raw = ctx.param("user_id")
    if not raw.isdigit():
        raise ApiError(422, "invalid_input", "user_id must be an integer", "user_id")
    return int(raw)
