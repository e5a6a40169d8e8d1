"""API errors: one JSON shape, ``{"error": {"code", "message", "field"}}``, for every failure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from mediaserver.storage import Conflict, NotFound

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client caused or must handle; rendered as JSON with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """Return the JSON body of an error."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Return an error as a JSON response."""
    return web.json_response(error_body(code, message, field), status=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Any
) -> web.StreamResponse:
    """Render ApiError, storage errors, aiohttp HTTP errors and crashes as JSON errors."""
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)
    except NotFound as exc:
        return error_response(404, "not_found", f"{exc} does not exist")
    except Conflict as exc:
        return error_response(409, "conflict", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            message = f"request body too large (limit {request.app._client_max_size} bytes)"
        headers = None
        if isinstance(exc, web.HTTPMethodNotAllowed):  # RFC 9110: a 405 lists what the resource allows
            headers = {"Allow": ", ".join(sorted(exc.allowed_methods))}
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), message, headers=headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error; the server log has details")
