"""What every repository shares: the clock, the two errors callers catch, and the base class."""

from __future__ import annotations

import time

from mediaserver.storage.db import Database


def _now() -> float:
    return time.time()


class NotFound(LookupError):
    """The record does not exist."""


class Conflict(ValueError):
    """The write would break a uniqueness or reference rule."""


class _Repo:
    def __init__(self, db: Database) -> None:
        self.db = db
