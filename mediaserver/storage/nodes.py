"""Repositories: the nodes sharing one index, the leases by which one node owns a resource, run claims.

Clock: every time here (heartbeats, lease expiry, claims) is the DATABASE's clock, read inside the very
statement that compares or writes it. Two nodes' clocks may differ by seconds (no NTP, a VM resumed); the
index is the one thing they share, so "expired" means the same instant to all of them. A holder never
trusts its own wall clock for its lease either: it stops using a lease ``ttl - margin`` seconds of its own
*monotonic* clock after the renewal request was sent, which is never later than the database's expiry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mediaserver.storage.db import Database

# Epoch seconds now, as a SQL expression of each engine (see the module docstring: the database's clock).
_NOW_SQL = {
    # julianday('now') is fixed for the whole statement and has millisecond precision.
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    # clock_timestamp(), not now(): now() is the transaction's start, which a long transaction would age.
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
}


def now_sql(db: Database) -> str:
    """Return the SQL expression for the database's current epoch time in seconds."""
    return _NOW_SQL[getattr(db, "dialect", "sqlite")]


async def _write_returning(db: Database, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run one write statement with RETURNING in its own transaction and return its rows."""
    async with db.transaction() as conn:
        cur = await conn.execute(sql, params)
        rows = list(await cur.fetchall())
        await cur.close()
        return rows


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    address: str  # the node's advertise_url
    capacity: int  # cameras it may own
    load: dict[str, Any]  # {"cameras": n, "rooms": n, "cpu_pct": x, ...} as of its last heartbeat
    heartbeat_at: float  # database clock
    started_at: float


@dataclass(frozen=True, slots=True)
class Lease:
    resource: str  # 'camera:<id>', 'room:<id>', …
    node_id: str
    expires_at: float  # database clock
    acquired_at: float  # when this node took it (renewals keep it)


class NodeRepo:
    """The nodes sharing the index: register at start, heartbeat, list the live ones."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _node(r: Any) -> Node:
        try:
            load = json.loads(r["load_json"])
        except ValueError:
            load = {}
        return Node(r["id"], r["address"], int(r["capacity"]), load if isinstance(load, dict) else {},
                    float(r["heartbeat_at"]), float(r["started_at"]))

    async def now(self) -> float:
        """Return the database's clock (epoch seconds)."""
        row = await self.db.fetchone(f"SELECT {now_sql(self.db)} AS now")
        assert row is not None
        return float(row["now"])

    async def register(self, node_id: str, address: str, capacity: int) -> Node:
        """Record this node as started now (a restarted node keeps its id and gets a new started_at)."""
        now = now_sql(self.db)
        rows = await _write_returning(
            self.db,
            f"INSERT INTO nodes (id, address, capacity, load_json, heartbeat_at, started_at)"
            f" VALUES (?, ?, ?, '{{}}', {now}, {now})"
            " ON CONFLICT (id) DO UPDATE SET address = excluded.address, capacity = excluded.capacity,"
            " load_json = excluded.load_json, heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at"
            " RETURNING *",
            (node_id, address, capacity),
        )
        return self._node(rows[0])

    async def heartbeat(self, node_id: str, load: dict[str, Any]) -> float:
        """Say this node is alive, with its load; return the database's time of the beat."""
        rows = await _write_returning(
            self.db,
            f"UPDATE nodes SET heartbeat_at = {now_sql(self.db)}, load_json = ? WHERE id = ? RETURNING heartbeat_at",
            (json.dumps(load, separators=(",", ":")), node_id),
        )
        if not rows:
            raise LookupError(f"node {node_id!r} is not registered")
        return float(rows[0]["heartbeat_at"])

    async def get(self, node_id: str) -> Node | None:
        """Return one node, alive or not."""
        r = await self.db.fetchone("SELECT * FROM nodes WHERE id = ?", (node_id,))
        return self._node(r) if r else None

    async def all(self) -> list[Node]:
        """Return every node ever registered, by id."""
        return [self._node(r) for r in await self.db.fetchall("SELECT * FROM nodes ORDER BY id")]

    async def live(self, now: float | None = None, ttl_s: float = 10.0) -> list[Node]:
        """Return the nodes whose last heartbeat is at most ``ttl_s`` old (``now`` None: the database's clock)."""
        if now is None:
            rows = await self.db.fetchall(
                f"SELECT * FROM nodes WHERE heartbeat_at > {now_sql(self.db)} - ? ORDER BY id", (ttl_s,))
        else:
            rows = await self.db.fetchall("SELECT * FROM nodes WHERE heartbeat_at > ? ORDER BY id", (now - ttl_s,))
        return [self._node(r) for r in rows]

    async def remove(self, node_id: str) -> bool:
        """Forget a node (a graceful stop or an admin's clean-up); its leases are released too."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM leases WHERE node_id = ?", (node_id,))
            cur = await conn.execute("DELETE FROM nodes WHERE id = ?", (node_id,))
            count = cur.rowcount
            await cur.close()
        return count > 0


class LeaseRepo:
    """Leases: a resource is owned by one node until its lease expires; acquire is one atomic upsert."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _lease(r: Any) -> Lease:
        return Lease(r["resource"], r["node_id"], float(r["expires_at"]), float(r["acquired_at"]))

    async def acquire(self, resource: str, node_id: str, ttl_s: float) -> bool:
        """Take (or keep) ``resource`` for ``ttl_s`` seconds unless another node holds an unexpired lease.

        One statement, so two nodes racing for a free resource cannot both win: the row's conflict makes the
        second an UPDATE whose WHERE (mine already, or expired) fails, and RETURNING gives it no row.
        """
        now = now_sql(self.db)
        rows = await _write_returning(
            self.db,
            f"INSERT INTO leases (resource, node_id, expires_at, acquired_at) VALUES (?, ?, {now} + ?, {now})"
            " ON CONFLICT (resource) DO UPDATE SET node_id = excluded.node_id, expires_at = excluded.expires_at,"
            " acquired_at = CASE WHEN leases.node_id = excluded.node_id AND leases.expires_at >= excluded.acquired_at"
            " THEN leases.acquired_at ELSE excluded.acquired_at END"
            " WHERE leases.node_id = excluded.node_id OR leases.expires_at < excluded.acquired_at"
            " RETURNING node_id",
            (resource, node_id, ttl_s),
        )
        return bool(rows) and rows[0]["node_id"] == node_id

    async def renew(self, resource: str, node_id: str, ttl_s: float) -> bool:
        """Extend this node's unexpired lease; False when it expired or another node holds it."""
        return resource in await self.renew_all(node_id, ttl_s, [resource])

    async def renew_all(self, node_id: str, ttl_s: float, resources: Sequence[str] | None = None) -> set[str]:
        """Extend every unexpired lease this node holds (or only ``resources``); return those extended."""
        now = now_sql(self.db)
        sql = f"UPDATE leases SET expires_at = {now} + ? WHERE node_id = ? AND expires_at >= {now}"
        params: list[Any] = [ttl_s, node_id]
        if resources is not None:
            if not resources:
                return set()
            sql += f" AND resource IN ({', '.join('?' for _ in resources)})"
            params.extend(resources)
        rows = await _write_returning(self.db, sql + " RETURNING resource", params)
        return {r["resource"] for r in rows}

    async def release(self, resource: str, node_id: str) -> bool:
        """Give up this node's lease now (the next node need not wait for it to expire)."""
        return await self.db.execute_rowcount(
            "DELETE FROM leases WHERE resource = ? AND node_id = ?", (resource, node_id)) > 0

    async def owner(self, resource: str) -> str | None:
        """Return the node holding an unexpired lease on ``resource``, if any."""
        r = await self.db.fetchone(
            f"SELECT node_id FROM leases WHERE resource = ? AND expires_at >= {now_sql(self.db)}", (resource,))
        return str(r["node_id"]) if r else None

    async def held_by(self, node_id: str, prefix: str = "") -> list[Lease]:
        """Return the unexpired leases ``node_id`` holds (only resources starting with ``prefix``)."""
        rows = await self.db.fetchall(
            f"SELECT * FROM leases WHERE node_id = ? AND expires_at >= {now_sql(self.db)}"
            " AND substr(resource, 1, ?) = ? ORDER BY resource",
            (node_id, len(prefix), prefix),
        )
        return [self._lease(r) for r in rows]

    async def unexpired(self, prefix: str = "") -> list[Lease]:
        """Return every unexpired lease (only resources starting with ``prefix``), by resource."""
        rows = await self.db.fetchall(
            f"SELECT * FROM leases WHERE expires_at >= {now_sql(self.db)} AND substr(resource, 1, ?) = ?"
            " ORDER BY resource",
            (len(prefix), prefix),
        )
        return [self._lease(r) for r in rows]


class JobClaimRepo:
    """Claims of scheduled runs: the first node to insert (job, due time) performs it; nobody else does."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, job_id: str, scheduled_for: float, node_id: str) -> bool:
        """Claim the run of ``job_id`` due at ``scheduled_for``; True when this node won it."""
        rows = await _write_returning(
            self.db,
            f"INSERT INTO job_claims (job_id, scheduled_for, node_id, claimed_at) VALUES (?, ?, ?, {now_sql(self.db)})"
            " ON CONFLICT (job_id, scheduled_for) DO NOTHING RETURNING node_id",
            (job_id, scheduled_for, node_id),
        )
        return bool(rows)

    async def claimed_by(self, job_id: str, scheduled_for: float) -> str | None:
        """Return the node that claimed a run, if any."""
        r = await self.db.fetchone("SELECT node_id FROM job_claims WHERE job_id = ? AND scheduled_for = ?",
                                   (job_id, scheduled_for))
        return str(r["node_id"]) if r else None

    async def purge(self, before: float) -> int:
        """Forget claims of runs due before ``before`` (their job_runs rows keep the history)."""
        return await self.db.execute_rowcount("DELETE FROM job_claims WHERE scheduled_for < ?", (before,))
