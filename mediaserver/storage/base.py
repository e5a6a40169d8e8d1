"""What every repository shares: the clock, the two errors callers catch, and the base class."""

from __future__ import annotations

import time
from collections.abc import Sequence

from mediaserver.storage.db import Database


def _now() -> float:
    return time.time()


class NotFound(LookupError):
    """The record does not exist."""


class Conflict(ValueError):
    """The write would break a uniqueness or reference rule."""


def not_in(column: str, values: Sequence[object]) -> str:
    """Return ``column NOT IN (?, …)`` for ``values``, or a true condition when there are none.

    SQLite accepts an empty ``NOT IN ()``; PostgreSQL does not.
    """
    return f"{column} NOT IN ({','.join('?' * len(values))})" if values else "1 = 1"


class _Repo:
    def __init__(self, db: Database) -> None:
        self.db = db
