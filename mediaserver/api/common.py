"""Small shared pieces of the route modules: time formatting and pagination models."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from mediaserver.api.errors import ApiError

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def iso(ts: float | None) -> str | None:
    """Format a UTC epoch as ISO-8601 with a Z suffix (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def excel_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """Return a table as CSV that Excel opens in UTF-8 (a byte-order mark first): Vietnamese stays readable."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


class Body(BaseModel):
    """Base of request bodies: unknown fields are errors, as in the config."""

    model_config = ConfigDict(extra="forbid")


class Ok(BaseModel):
    ok: bool = True


# A package's web file: a plain name with a known suffix, never a path.
_WEB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}\.(html|js|css)$")


def web_files(package: str) -> frozenset[str]:
    """Return the names of a package's web files (its pages, ES modules and styles)."""
    return frozenset(e.name for e in resources.files(package).iterdir() if _WEB_NAME.match(e.name))


async def package_file(package: str, name: str, allowed: frozenset[str]) -> web.StreamResponse:
    """Serve one of a package's web files by name (only names in ``allowed``: no path tricks)."""
    if name not in allowed:
        raise ApiError(404, "not_found", f"no file {name!r}")
    data = await asyncio.to_thread(resources.files(package).joinpath(name).read_bytes)
    content_type = _TYPES[name[name.rindex("."):]]
    return web.Response(body=data, content_type=content_type, charset="utf-8", headers={"Cache-Control": "no-cache"})
