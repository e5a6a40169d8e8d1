"""The storage index's database: SQLite (the embedded default) or PostgreSQL (shared by several nodes).

``Database(target)`` opens SQLite for a path and PostgreSQL for a ``postgresql://`` URL
(``mediaserver.storage.pg``); both offer the same API, so the repositories run unchanged on either:
``execute`` (returns the new row's id for an INSERT into a table with an ``id``), ``insert``, ``execute_rowcount``,
``executemany``, ``fetchall``/``fetchone`` (rows readable as ``r["name"]`` and ``r[0]``), ``transaction()`` (a
``Tx`` whose ``execute`` gives a cursor with ``fetchone``/``fetchall``/``rowcount``/``lastrowid``), ``user_version``
and ``integrity_check``. SQL is written once with ``?`` placeholders; ``dialect`` names the engine for the rare
statement that must differ.

SQLite: two connections. WAL mode lets readers run beside one writer, so reads (searches, listings) never
queue behind a long write. Both run in aiosqlite's own threads, so no call blocks the event loop. Writes are
serialised with an asyncio lock and always run inside ``BEGIN IMMEDIATE`` … ``COMMIT``: a killed process
leaves either the whole transaction or none of it (WAL + journalled commits).

Migrations are numbered SQL files in ``migrations/`` (``0001_initial.sql``, …), written in portable SQL (see
``pg.py`` for how each becomes PostgreSQL). On SQLite each is applied in one transaction together with
``PRAGMA user_version``, so a crash mid-migration leaves the previous version.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiosqlite

if TYPE_CHECKING:
    from mediaserver.config import StorageConfig

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_INSERT_RE = re.compile(r"^\s*INSERT\s", re.IGNORECASE)
_RETURNING_RE = re.compile(r"\bRETURNING\b", re.IGNORECASE)

Params = Sequence[Any] | dict[str, Any]
Dialect = Literal["sqlite", "postgresql"]
# The row both engines return: sqlite3.Row on SQLite, pg.PgRow on PostgreSQL, which offers the same interface
# (r["column"], r[0], keys(), len, iteration). Typed as sqlite3.Row so every repository's annotations hold.
Row = sqlite3.Row


class MigrationError(RuntimeError):
    """The database is newer than this program, or a migration failed."""


class IntegrityError(sqlite3.IntegrityError):
    """A uniqueness, reference or check rule refused a write (raised by the PostgreSQL engine).

    A subclass of ``sqlite3.IntegrityError`` so that ``except sqlite3.IntegrityError`` catches it on both engines.
    """


class Cursor(Protocol):
    """What a statement run in a transaction gives back, on both engines."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> Iterable[Row]: ...

    async def close(self) -> None: ...


class CursorCall(Awaitable[Cursor], AbstractAsyncContextManager[Cursor], Protocol):
    """``await tx.execute(...)`` or ``async with tx.execute(...) as cur``."""


class Tx(Protocol):
    """The connection a ``transaction()`` block runs its statements on."""

    def execute(self, sql: str, params: Params = ()) -> CursorCall: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...


def available_migrations() -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("mediaserver.storage.migrations").iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    for i, (version, name, _) in enumerate(out, start=1):
        if version != i:
            raise MigrationError(f"migration numbering has a gap or duplicate at {name}")
    return out


def with_returning_id(sql: str) -> str:
    """Return an INSERT statement that gives back the new row's id (``… RETURNING id``)."""
    if not _INSERT_RE.match(sql):
        raise ValueError("insert() runs INSERT statements only")
    return sql if _RETURNING_RE.search(sql) else f"{sql.rstrip().rstrip(';')} RETURNING id"


def is_postgres_url(target: Path | str) -> bool:
    """Return whether ``target`` names a PostgreSQL database rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Database:
    """The storage index: SQLite for a path, PostgreSQL for a ``postgresql://`` URL (same API)."""

    dialect: Dialect = "sqlite"

    def __new__(cls, target: Path | str, **kwargs: Any) -> Database:
        """Pick the engine for ``target``: a ``postgresql://`` URL opens PostgreSQL, anything else an SQLite file."""
        if cls is Database and is_postgres_url(target):
            from mediaserver.storage.pg import PostgresDatabase

            return super().__new__(PostgresDatabase)
        return super().__new__(cls)

    @classmethod
    def for_config(cls, storage: StorageConfig) -> Database:
        """Return the (unopened) index the ``storage`` config names: PostgreSQL or SQLite."""
        if storage.is_postgres() and storage.database_url:
            from mediaserver.storage.pg import PostgresDatabase

            return PostgresDatabase(storage.database_url, pool_size=storage.pool_size)
        return Database(storage.sqlite_path())

    def __init__(self, target: Path | str) -> None:
        self.path = Path(target)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Database {self.dialect} {self.describe()}>"

    def describe(self) -> str:
        """Return where the index lives, for logs and messages (never a password)."""
        return str(self.path)

    @property
    def schema_version(self) -> int:
        """Return the schema version this program writes."""
        return len(available_migrations())

    async def open(self, target_version: int | None = None) -> None:
        """Open the file (creating it), set pragmas and apply pending migrations up to ``target_version``."""
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        try:
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._migrate(target_version)
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only=ON")
        except BaseException:
            # aiosqlite's connection threads are not daemons: an unclosed one keeps the process alive.
            await self.close()
            raise

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys=ON")
        # NORMAL in WAL mode: a power cut can lose the last commits but never corrupts the file.
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return conn

    async def close(self) -> None:
        """Checkpoint the WAL into the main file and close both connections; idempotent."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None:
            await reader.close()
        if writer is not None:
            async with self._write_lock:
                try:
                    await writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:  # still consistent; the WAL is replayed on next open
                    logger.warning("WAL checkpoint at close failed: %s", exc)
                await writer.close()

    async def user_version(self) -> int:
        """Return the schema version stored in the database."""
        row = await self.fetchone("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def _migrate(self, target_version: int | None) -> None:
        assert self._writer is not None
        migrations = available_migrations()
        target = len(migrations) if target_version is None else target_version
        async with self._writer.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise MigrationError(
                f"{self.path} has schema version {current}, newer than this program's {len(migrations)}; "
                "upgrade mediaserver instead of downgrading the database"
            )
        for version, name, sql in migrations:
            if version <= current or version > target:
                continue
            logger.info("applying migration %s to %s", name, self.path)
            script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;"
            try:
                await self._writer.executescript(script)
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise MigrationError(f"migration {name} failed: {exc}") from exc

    # ------------------------------------------------------------------------------------ access

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Run the block's writes atomically on the writer connection (BEGIN IMMEDIATE … COMMIT)."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn  # type: ignore[misc]  # aiosqlite's Connection is a Tx (execute, executemany)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; return the new row's id (INSERT), else 0."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            rowid = cur.lastrowid or 0
            await cur.close()
            return rowid

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT in its own transaction and return the new row's ``id`` (0 if it inserted none)."""
        async with self.transaction() as conn:
            return await tx_insert(conn, sql, params)

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; return how many rows it changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            count = cur.rowcount
            await cur.close()
            return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one write statement for many parameter rows in a single transaction."""
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query on the reader connection and return every row."""
        conn = self._reader or self._writer
        if conn is None:
            raise RuntimeError("database is not open")
        lock = self._read_lock if conn is self._reader else self._write_lock
        async with lock:
            # One hop to the connection's thread (execute + fetch + close), not three.
            return list(await conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a read query on the reader connection and return its first row, if any."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def integrity_check(self) -> str:
        """Return the engine's integrity verdict ('ok' when healthy)."""
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"


async def tx_insert(conn: Tx, sql: str, params: Params = ()) -> int:
    """Run one INSERT inside a transaction and return the new row's ``id`` (0 if it inserted none)."""
    async with conn.execute(with_returning_id(sql), params) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0
