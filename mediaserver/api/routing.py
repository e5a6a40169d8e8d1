"""One route table for the HTTP API: roles, request/response models and the OpenAPI document come from it.

Every route is declared once with ``@api.route(...)``: its method and path, the roles allowed (``None`` only
for the few public routes), the pydantic models of its query, body and response. The wrapper checks the
bearer token and the role *before* reading the body, validates input with the same models the OpenAPI
document is generated from, and turns results into JSON. So the document cannot drift from the routes.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ValidationError

from mediaserver.api.errors import ApiError, error_body
from mediaserver.app_keys import AUDIT_KEY, SERVICE_TOKENS_KEY, TOKENS_KEY
from mediaserver.auth import AuthError, Principal, Role
from mediaserver.service_tokens import is_service_token, scope_allows

logger = logging.getLogger(__name__)

_PATH_PARAM_RE = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")


@dataclass
class Ctx:
    """What a handler gets: the request, the verified principal and the validated input."""

    request: web.Request
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def app(self) -> web.Application:
        """Return the application (for its services)."""
        return self.request.app

    def param(self, name: str) -> str:
        """Return a path parameter."""
        return self.request.match_info[name]

    def user(self) -> Principal:
        """Return the principal of an authenticated route."""
        assert self.principal is not None, "route is authenticated"
        return self.principal

    async def audit(self, action: str, target: str = "", **detail: Any) -> None:
        """Append an operator action to the audit log."""
        p = self.principal
        await self.app[AUDIT_KEY](
            actor=p.subject if p else "anonymous", actor_role=p.role if p else "", action=action,
            target=target, detail=detail, remote=self.request.remote or "",
        )


Handler = Callable[[Ctx], Awaitable[BaseModel | web.StreamResponse | None]]


RoomNode = Literal["follow", "place"]
# The routes that act on a running room, and how (RouteSpec.room_node), by the router's route object.
ROOM_NODE_ROUTES_KEY = web.AppKey("room_node_routes", dict[web.AbstractRoute, RoomNode])


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    roles: frozenset[Role] | None
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    content_type: str = "application/json"
    allow_pending_password: bool = False
    # Extra authorization that depends on the path (e.g. "the host site of this room"), run before the
    # body is read so a caller without the right never learns anything from validation errors.
    check: Callable[[Ctx], Awaitable[None]] | None = None
    errors: frozenset[int] = frozenset()  # error statuses the route may answer beyond auth and validation
    # A raw (non-JSON) request body the handler streams itself, e.g. an uploaded file: its accepted media types
    # (for the OpenAPI document) and what it means; the wrapper does not read it.
    upload: tuple[str, ...] = ()
    upload_description: str = ""
    # In a cluster, acts on the running room ``{room_id}``: answered by the node running it ("follow"), or by the
    # node chosen for it, placing it now if no node holds it ("place"). See mediaserver/api/room_forwarding.py.
    room_node: RoomNode | None = None

    @property
    def path_params(self) -> list[str]:
        """Return the names of the path's parameters."""
        return _PATH_PARAM_RE.findall(self.path)


_RAISES_RE = re.compile(r"[A-Z][A-Za-z]*Error\(\s*(\d{3})|raise (NotFound|Conflict)\b|web\.HTTP(NotFound|Forbidden)\b")
# Services' coded errors a handler turns into API errors (``except FootageError``): the statuses they carry.
SERVICE_ERROR_STATUSES = {"FootageError": frozenset({404, 409, 422, 507})}
_CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(")
_NAMED_STATUS = {"NotFound": 404, "Conflict": 409, "Forbidden": 403}


def raised_statuses(fn: Callable[..., Any], depth: int = 3, _seen: set[int] | None = None) -> frozenset[int]:
    """Return the error statuses a handler visibly raises, in its own code and the module helpers it calls.

    The OpenAPI document must declare every status a route answers (API clients and contract tests rely on
    it); reading them from the code keeps the declaration from drifting as handlers change. What the scan
    cannot see (a status raised deep inside a service) is declared with ``errors=`` on the route.
    """
    seen = _seen if _seen is not None else set()
    if id(fn) in seen or depth < 0:
        return frozenset()
    seen.add(id(fn))
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return frozenset()
    found: set[int] = set()
    for m in _RAISES_RE.finditer(source):
        code, named, http = m.groups()
        found.add(int(code) if code else _NAMED_STATUS[named or http])
    for name, statuses in SERVICE_ERROR_STATUSES.items():
        if name in source:
            found |= statuses
    scope = {**getattr(fn, "__globals__", {})}
    closure = getattr(fn, "__closure__", None) or ()
    for name, cell in zip(getattr(getattr(fn, "__code__", None), "co_freevars", ()), closure, strict=False):
        with contextlib.suppress(ValueError):
            scope[name] = cell.cell_contents
    for name in set(_CALL_RE.findall(source)):
        target = scope.get(name)
        if inspect.isfunction(target) and target.__module__.startswith(("mediaserver", "bridges", "cameras",
                                                                         "recordings")):
            found |= raised_statuses(target, depth - 1, seen)
    return frozenset(found)


def router_path(path: str) -> str:
    """Return a route's path for aiohttp's router: row ids match digits only.

    So ``/api/v1/review/reviewed`` is never taken for ``/api/v1/review/{item_id}``, and a 405's ``Allow``
    lists only the methods of the route that really matches.
    """
    if not path.startswith("/api/"):
        return path
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m.group(1)}:\\d+}}" if m.group(1) in INT_PATH_PARAMS else m.group(0),
                  path)


def bearer_token(request: web.Request) -> str | None:
    """Return the bearer token of a request (Authorization header), if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _query_dict(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in set(request.query.keys()):
        values = request.query.getall(key)
        f = model.model_fields.get(key)
        is_list = f is not None and "list" in str(f.annotation)
        out[key] = values if is_list else values[-1]
    return out


def validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """Turn a pydantic error into a 422 naming the first offending field."""
    errs = exc.errors(include_url=False)
    first = errs[0]
    loc = ".".join(str(p) for p in first["loc"])
    fieldname = f"{prefix}{loc}" if loc else prefix.rstrip(".")
    msg = first["msg"] if first["type"] != "extra_forbidden" else "unknown field"
    more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
    return ApiError(422, "invalid_input", f"{fieldname or 'body'}: {msg}{more}", fieldname or None)


class Api:
    """The route table: declare routes with ``route``, install them with ``install``."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        roles: Iterable[Role] | None,
        summary: str,
        tag: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        content_type: str = "application/json",
        allow_pending_password: bool = False,
        check: Callable[[Ctx], Awaitable[None]] | None = None,
        errors: Iterable[int] = (),
        upload: Iterable[str] = (),
        upload_description: str = "",
        room_node: RoomNode | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; ``roles=None`` makes it public; ``errors`` adds statuses the scan cannot see.

        ``upload`` names the media types of a raw request body (a file) that the handler streams itself.
        """

        def deco(fn: Handler) -> Handler:
            raised = raised_statuses(fn) | (raised_statuses(check) if check is not None else frozenset())
            self.specs.append(
                RouteSpec(
                    method=method.upper(), path=path, handler=fn,
                    roles=None if roles is None else frozenset(roles), summary=summary, tag=tag, body=body,
                    query=query, response=response, status=status, content_type=content_type,
                    allow_pending_password=allow_pending_password, check=check,
                    errors=raised | frozenset(errors), upload=tuple(upload),
                    upload_description=upload_description, room_node=room_node,
                )
            )
            return fn

        return deco

    def install(self, app: web.Application) -> None:
        """Add every declared route to the application's router."""
        room_routes = app[ROOM_NODE_ROUTES_KEY] = {}
        for spec in self.specs:
            route = app.router.add_route(spec.method, router_path(spec.path), _wrap(spec))
            if spec.room_node is not None:
                if "{room_id}" not in spec.path:
                    raise ValueError(f"{spec.method} {spec.path}: room_node needs a {{room_id}} in the path")
                room_routes[route] = spec.room_node


async def authenticate(request: web.Request, roles: frozenset[Role], path: str = "") -> Principal:
    """Verify the request's bearer token and check its role (or a service token's scope); raise ApiError 401/403."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthenticated", "this route needs a bearer token (Authorization: Bearer …)")
    try:
        if is_service_token(token):
            principal = await request.app[SERVICE_TOKENS_KEY].verify(token)
        else:
            principal = await request.app[TOKENS_KEY].verify(token)
    except AuthError as exc:
        raise ApiError(401, exc.code, exc.message) from exc
    if principal.scope is not None:  # a service token: its scope alone decides
        if not scope_allows(principal.scope, request.method, path, roles):
            raise ApiError(403, "scope_denied", f"a '{principal.scope}' service token may not use this route")
        return principal
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"role '{principal.role}' may not use this route")
    return principal


def _wrap(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        principal = None
        if spec.roles is not None:
            principal = await authenticate(request, spec.roles, spec.path)
            if principal.must_change_password and not spec.allow_pending_password:
                raise ApiError(403, "password_change_required",
                               "change the initial password first (POST /api/v1/auth/password)")
        ctx = Ctx(request, principal)
        if spec.check is not None:
            await spec.check(ctx)
        if spec.query is not None:
            try:
                ctx.query = spec.query.model_validate(_query_dict(request, spec.query))
            except ValidationError as exc:
                raise validation_error(exc, "query.") from exc
        if spec.body is not None:
            raw = await request.read()  # bounded by client_max_size → 413
            try:
                data = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
            try:
                ctx.body = spec.body.model_validate(data)
            except ValidationError as exc:
                raise validation_error(exc) from exc
        result = await spec.handler(ctx)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return web.json_response(
            text=result.model_dump_json(by_alias=True), status=spec.status, content_type="application/json"
        )

    return handler


# --------------------------------------------------------------------------------------------- OpenAPI


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


# Path parameters that are row ids: declared as integers so clients (and contract tests) send numbers.
INT_PATH_PARAMS = frozenset({"user_id", "token_id", "meeting_id", "session_id", "segment_id", "event_id", "hold_id",
                             "item_id", "document_id"})
ERROR_DESCRIPTIONS = {
    404: "no such resource", 409: "conflicts with the resource's current state", 410: "gone",
    422: "invalid input", 423: "locked", 429: "too many requests (see Retry-After)",
    500: "internal error", 502: "the camera or another upstream failed", 503: "temporarily unavailable",
    504: "the camera or another upstream did not answer in time", 507: "no space left",
}


def openapi_document(specs: list[RouteSpec], title: str, version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document describing ``specs``."""
    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"]},
                    },
                }
            },
        }
    }
    paths: dict[str, Any] = {}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for spec in specs:
        op: dict[str, Any] = {
            "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower()).strip('_')}",
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "integer"} if p in INT_PATH_PARAMS and spec.path.startswith("/api/")
                 else {"type": "string"}}
                for p in spec.path_params
            ],
            "responses": {},
        }
        if spec.query is not None:
            qschema = spec.query.model_json_schema()
            for name, prop in qschema.get("properties", {}).items():
                op["parameters"].append({
                    "name": name, "in": "query", "required": name in qschema.get("required", []),
                    "schema": prop, "description": prop.get("description", ""),
                })
        if spec.body is not None:
            op["requestBody"] = {
                "required": True, "content": {"application/json": {"schema": _schema_ref(spec.body, components)}}
            }
        if spec.upload:
            op["requestBody"] = {
                "required": True, "description": spec.upload_description,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in spec.upload},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if spec.response is not None:
            ok["content"] = {spec.content_type: {"schema": _schema_ref(spec.response, components)}}
        elif spec.content_type != "application/json":
            ok["content"] = {spec.content_type: {"schema": {"type": "string"}}}
        op["responses"][str(spec.status)] = ok
        if spec.roles is None:
            op["security"] = []
        else:
            op["security"] = [{"bearerAuth": []}]
            op["description"] = "Roles: " + ", ".join(sorted(spec.roles))
            op["x-roles"] = sorted(spec.roles)
            op["responses"]["401"] = {"description": "missing, invalid or expired token", **err}
            op["responses"]["403"] = {"description": "role not allowed", **err}
        if spec.body is not None or spec.query is not None or spec.path_params:
            op["responses"]["422"] = {"description": "invalid input", **err}
        if spec.path_params:
            op["responses"]["404"] = {"description": "no such resource", **err}
        for status in sorted(spec.errors):
            op["responses"].setdefault(str(status), {"description": ERROR_DESCRIPTIONS.get(status, "error"), **err})
        if spec.body is not None:
            op["responses"]["400"] = {"description": "body is not JSON", **err}
            op["responses"]["413"] = {"description": "body too large", **err}
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


__all__ = ["Api", "Ctx", "RouteSpec", "authenticate", "bearer_token", "error_body", "openapi_document"]
