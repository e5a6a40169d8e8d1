"""Copy a one-box SQLite index into an empty PostgreSQL database (``mediaserver copy-index``), history and all.

How: the target is first migrated to this program's schema by the PostgreSQL engine itself (``pg.py``), and the
copy goes ahead only when the source's ``PRAGMA user_version``, the target's ``schema_version`` and this program
agree (the source is migrated with ``mediaserver migrate`` while it is still the live index, never here). The
source is read through a read-only connection (``mode=ro``: nothing can write to it) in one read transaction, so
the copy is one consistent snapshot even while the one-box server keeps recording (WAL: readers never block the
writer), and it needs no disk for a temporary copy of a multi-gigabyte index.

The target is written in one transaction: every table is locked first (``SHARE ROW EXCLUSIVE``: a node started
against it by mistake waits, a second copy waits and then finds rows), found empty, then filled with ``COPY …
FROM STDIN`` in foreign-key order (parents first), streaming ``BATCH_ROWS`` rows at a time from the source, so
memory stays flat however many segments and motion events a year left. Columns go by name; values go as SQLite
stored them (booleans are INTEGER 0/1 on both engines, REAL becomes DOUBLE PRECISION exactly, BLOB becomes
BYTEA); COPY writes identity ids as given, and afterwards each identity sequence is moved past the largest id
copied (or SQLite's ``sqlite_sequence`` if a table kept one), so new rows never collide with copied ones.
Anything PostgreSQL refuses rolls the whole copy back: the target is empty again.

Per-box tables are copied as they are: ``nodes`` and ``leases`` are empty on a one-box index (only a cluster node
writes them), and a lease a box held as a cluster node expires on the database clock and is taken over as
usual; ``job_claims`` and ``job_runs`` record scheduled runs already done, so copying them keeps the cluster from
running a job a second time for the same due time. Footage and motion events from the box have no ``node_id``
(NULL); each node adopts those whose files are on its disk at start-up (``SegmentRepo.adopt``), so nothing is
rewritten here. Camera passwords stay sealed with the box's own key (see the README).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from mediaserver.storage.db import Database, MigrationError, available_migrations
from mediaserver.storage.pg import CONNECT_TIMEOUT_S, redact

# Rows read from SQLite and written to COPY per step: big enough to keep both sides busy, small enough that a
# year of motion events never sits in memory (a few MB per batch).
BATCH_ROWS = 5_000
PROGRESS_INTERVAL_S = 1.0
SQLITE_TIMEOUT_S = 30.0
# PostgreSQL's own bookkeeping: the schema version is set by the migrations, never copied.
TARGET_ONLY_TABLES = frozenset({"schema_version"})

# (table, rows copied so far, rows in the table)
Progress = Callable[[str, int, int], None]


class CopyError(Exception):
    """A copy that cannot be done or was refused; the message is one sentence for the operator."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table's result: its name and how many rows were copied."""

    name: str
    rows: int


@dataclass
class CopyResult:
    """What a copy did."""

    source: Path
    target: str  # the URL without its password
    schema_version: int
    seconds: float = 0.0
    tables: list[TableCopy] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Return the rows copied over all tables."""
        return sum(t.rows for t in self.tables)

    def summary(self) -> str:
        """Return the one-line summary the command ends with."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (f"copied {len(self.tables)} tables, {self.rows} rows from {self.source} into {self.target} "
                f"in {self.seconds:.1f} s ({rate:.0f} rows/s), schema version {self.schema_version}")


# ------------------------------------------------------------------------------------------ the source


def open_source(path: Path) -> sqlite3.Connection:
    """Open the SQLite index read-only (it may be live); refuse a missing file."""
    if not path.is_file():
        raise CopyError(f"no SQLite index at {path}: is storage.data_dir (or storage.database_url) right?")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S,
                               isolation_level=None)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("BEGIN")  # one read transaction: every table from the same snapshot
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise CopyError(f"cannot read the SQLite index {path}: {exc}") from exc
    return conn


def source_version(conn: sqlite3.Connection, path: Path) -> int:
    """Return the source's schema version, refusing one that is not this program's."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    program = len(available_migrations())
    if version < program:
        raise CopyError(f"the SQLite index {path} has schema version {version}, this program's is {program}: "
                        "migrate it first with `mediaserver migrate -c <its config>`")
    if version > program:
        raise CopyError(f"the SQLite index {path} has schema version {version}, newer than this program's "
                        f"{program}: upgrade mediaserver first")
    return version


def source_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Return every table of the source and its columns, in the order they are declared."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (n,))] for n in names}


def parents_first(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Return ``tables`` ordered so every table comes after the tables its foreign keys name."""
    parents = {t: {r[0] for r in conn.execute("SELECT \"table\" FROM pragma_foreign_key_list(?)", (t,))} - {t}
               for t in tables}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(tables):
        ready = sorted(t for t in tables if t not in done and parents[t] <= done | (parents[t] - set(tables)))
        if not ready:
            stuck = sorted(set(tables) - done)
            raise CopyError(f"the tables {', '.join(stuck)} refer to each other: no parents-first order exists")
        order.extend(ready)
        done.update(ready)
    return order


def _sqlite_sequences(conn: sqlite3.Connection) -> dict[str, int]:
    """Return SQLite's AUTOINCREMENT high-water marks (none unless a table declared AUTOINCREMENT)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is None:
        return {}
    return {str(r[0]): int(r[1]) for r in conn.execute("SELECT name, seq FROM sqlite_sequence")}


# ------------------------------------------------------------------------------------------ the target


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_S), application_name="mediaserver-copy")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CopyError(f"cannot connect to {redact(url)}: {reason}") from exc


async def migrate_target(url: str) -> int:
    """Apply this program's migrations to the target (as a node would at start) and return its version."""
    db = Database(url)
    try:
        await db.open()
        return await db.user_version()
    except MigrationError as exc:
        raise CopyError(f"cannot migrate {redact(url)}: {exc}") from exc
    finally:
        await db.close()


def _target_tables(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, set[str]]:
    rows = conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(str(table), set()).add(str(column))
    return {t: cols for t, cols in out.items() if t not in TARGET_ONLY_TABLES}


def _identity_columns(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name").fetchall()
    return [(str(t), str(c)) for t, c in rows]


def _check_schemas(source: dict[str, list[str]], target: dict[str, set[str]], url: str) -> None:
    missing = sorted(set(source) - set(target))
    if missing:
        raise CopyError(f"{redact(url)} has no table {', '.join(missing)} although its schema version matches")
    extra = sorted(set(target) - set(source))
    if extra:
        raise CopyError(f"the SQLite index has no table {', '.join(extra)} although its schema version matches")
    for table, cols in source.items():
        unknown = [c for c in cols if c not in target[table]]
        if unknown:
            raise CopyError(f"{redact(url)} table {table} has no column {', '.join(unknown)}")


def _copy(source: Path, url: str, version: int, progress: Progress | None, batch_rows: int) -> CopyResult:
    """Copy every table in one target transaction (blocking: run it in a thread)."""
    started = time.monotonic()
    result = CopyResult(source, redact(url), version)
    src = open_source(source)
    try:
        have = source_version(src, source)
        if have != version:
            raise CopyError(f"the SQLite index {source} has schema version {have} but {redact(url)} has "
                            f"{version}: migrate both with this program first")
        tables = source_tables(src)
        sequences = _sqlite_sequences(src)
        with _connect(url) as dst:
            _check_schemas(tables, _target_tables(dst), url)
            order = parents_first(src, list(tables))
            current = "(lock)"
            try:
                with dst.transaction():
                    dst.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(sql.Identifier(t) for t in order)))
                    for table in order:
                        if dst.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
                                sql.Identifier(table))).fetchone() == (True,):
                            raise CopyError(f"{redact(url)} already has rows in table {table}: copy-index copies "
                                            "into an empty database only (create a new one with createdb)")
                    for table in order:
                        current = table
                        result.tables.append(TableCopy(table, _copy_table(
                            src, dst, table, tables[table], progress, batch_rows)))
                    current = "(sequences)"
                    for table, column in _identity_columns(dst):
                        dst.execute(sql.SQL(
                            "SELECT setval(pg_get_serial_sequence(%s, %s), GREATEST((SELECT max({}) FROM {}), %s))"
                        ).format(sql.Identifier(column), sql.Identifier(table)),
                            (sql.Identifier(table).as_string(dst), column, sequences.get(table)))
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CopyError(f"PostgreSQL refused the copy at {current} ({reason}); nothing was copied") from exc
    finally:
        src.close()
    result.seconds = time.monotonic() - started
    return result


def _copy_table(src: sqlite3.Connection, dst: psycopg.Connection[tuple[object, ...]], table: str,
                columns: list[str], progress: Progress | None, batch_rows: int) -> int:
    """Stream one table from the source into COPY; return how many rows went."""
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    name = '"' + table.replace('"', '""') + '"'
    total = int(src.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
    copied = 0
    last = time.monotonic()
    if progress is not None:
        progress(table, 0, total)
    cur = src.execute(f"SELECT {quoted} FROM {name}")
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with dst.cursor() as pg, pg.copy(copy_sql) as copy:
        while rows := cur.fetchmany(batch_rows):
            for row in rows:
                copy.write_row(row)
            copied += len(rows)
            now = time.monotonic()
            if progress is not None and now - last >= PROGRESS_INTERVAL_S:
                progress(table, copied, total)
                last = now
    if progress is not None and total:
        progress(table, copied, total)
    return copied


async def copy_index(source: Path, url: str, *, progress: Progress | None = None,
                     batch_rows: int = BATCH_ROWS) -> CopyResult:
    """Copy the SQLite index at ``source`` into the empty PostgreSQL database ``url`` (migrated first)."""
    def check_source() -> None:
        conn = open_source(source)
        try:
            source_version(conn, source)
        finally:
            conn.close()

    # Both checks before anything is written to the target: a refused copy leaves it as it was.
    await asyncio.to_thread(check_source)
    await asyncio.to_thread(lambda: _connect(url).close())
    version = await migrate_target(url)
    return await asyncio.to_thread(_copy, source, url, version, progress, batch_rows)
