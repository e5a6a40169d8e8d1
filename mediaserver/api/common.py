"""Small shared pieces of the route modules: time formatting and pagination models."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict


def iso(ts: float | None) -> str | None:
    """Format a UTC epoch as ISO-8601 with a Z suffix (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Body(BaseModel):
    """Base of request bodies: unknown fields are errors, as in the config."""

    model_config = ConfigDict(extra="forbid")


class Ok(BaseModel):
    ok: bool = True
