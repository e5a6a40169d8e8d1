"""Routes: service tokens for machines — made and revoked by admins, shown once (see mediaserver/service_tokens.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import SERVICE_TOKENS_KEY, STORE_KEY
from mediaserver.auth import Role
from mediaserver.service_tokens import SCOPES
from mediaserver.storage.service_tokens import ServiceToken

ScopeName = Literal["metrics:read", "read", "cameras:view"]


class ServiceTokenOut(BaseModel):
    id: int
    name: str
    scope: str
    scope_description: str
    created_by: str
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @classmethod
    def of(cls, t: ServiceToken) -> ServiceTokenOut:
        return cls(id=t.id, name=t.name, scope=t.scope, scope_description=SCOPES[t.scope].description,
                   created_by=t.created_by, created_at=iso(t.created_at), expires_at=iso(t.expires_at),
                   revoked_at=iso(t.revoked_at), last_used_at=iso(t.last_used_at))


class ServiceTokenMade(ServiceTokenOut):
    token: str = Field(..., description="The token itself: shown this once, never again.")


class ServiceTokenList(BaseModel):
    items: list[ServiceTokenOut]


class ServiceTokenIn(Body):
    name: str = Field(..., min_length=1, max_length=80, description="What uses it, e.g. 'prometheus'.")
    scope: ScopeName = Field(..., description="What it may do: metrics:read, read or cameras:view.")
    ttl_days: float | None = Field(None, gt=0, le=3650, description="Expire after this many days; null: never.")


def register(api: Api) -> None:
    """Add the service token routes (admin only)."""
    admin = (Role.ADMIN,)

    @api.route("GET", "/api/v1/service-tokens", roles=admin, response=ServiceTokenList, tag="users",
               summary="List service tokens (never the tokens themselves).")
    async def list_tokens(ctx: Ctx) -> ServiceTokenList:
        return ServiceTokenList(items=[ServiceTokenOut.of(t) for t in await ctx.app[STORE_KEY].service_tokens.all()])

    @api.route("POST", "/api/v1/service-tokens", roles=admin, body=ServiceTokenIn, response=ServiceTokenMade,
               status=201, tag="users", summary="Make a scoped, long-lived service token; it is shown once.")
    async def make_token(ctx: Ctx) -> ServiceTokenMade:
        body: ServiceTokenIn = ctx.body
        token, rec = await ctx.app[SERVICE_TOKENS_KEY].issue(body.name, body.scope, ctx.user().subject,
                                                             body.ttl_days)
        await ctx.audit("service_token.create", body.name, scope=body.scope, id=rec.id)
        return ServiceTokenMade(**ServiceTokenOut.of(rec).model_dump(), token=token)

    @api.route("DELETE", "/api/v1/service-tokens/{token_id}", roles=admin, status=204, tag="users",
               summary="Revoke a service token (its next request gets 401).")
    async def revoke_token(ctx: Ctx) -> None:
        raw = ctx.param("token_id")
        if not raw.isdigit():
            raise ApiError(422, "invalid_input", "token_id must be an integer", "token_id")
        store = ctx.app[STORE_KEY]
        rec = await store.service_tokens.get(int(raw))
        if rec is None:
            raise ApiError(404, "not_found", f"no service token {raw}")
        await store.service_tokens.revoke(rec.id)
        await ctx.audit("service_token.revoke", rec.name, id=rec.id)
