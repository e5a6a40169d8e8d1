"""What every repository shares: the clock, the two errors callers catch, and the base class."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

from mediaserver.storage.db import Database

T = TypeVar("T")


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


# Values bound in one statement at most: SQLite bounds the number of parameters of one statement.
IN_CHUNK = 500


def in_chunks(values: Sequence[T]) -> Iterator[tuple[str, Sequence[T]]]:
    """Yield ``values`` in statement-sized chunks, each with its ``?, ?, …`` placeholders for an ``IN (…)``."""
    for i in range(0, len(values), IN_CHUNK):
        chunk = values[i:i + IN_CHUNK]
        yield ",".join("?" * len(chunk)), chunk


class _Repo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _adopt(self, table: str, key: str, values: Sequence[object], node_id: str) -> int:
        """Give rows from before the cluster (``node_id`` NULL) whose ``key`` is in ``values`` to ``node_id``."""
        count = 0
        for marks, chunk in in_chunks(values):
            count += await self.db.execute_rowcount(
                f"UPDATE {table} SET node_id = ? WHERE node_id IS NULL AND {key} IN ({marks})", (node_id, *chunk))
        return count
