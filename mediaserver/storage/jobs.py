"""Repository: the shared scheduler's jobs and their runs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mediaserver.storage.base import NotFound, _now, _Repo, not_in


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    action: str
    kind: str
    spec: str
    timezone: str
    grace_s: float
    args: dict[str, Any]
    enabled: bool
    source: str
    next_run_at: float | None
    last_run_at: float | None


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int
    job_id: str
    scheduled_for: float
    started_at: float
    ended_at: float | None
    outcome: str
    late_s: float
    error: str | None


class JobRepo(_Repo):
    @staticmethod
    def _job(r: sqlite3.Row) -> Job:
        return Job(
            r["id"], r["action"], r["kind"], r["spec"], r["timezone"], r["grace_s"], json.loads(r["args_json"]),
            bool(r["enabled"]), r["source"], r["next_run_at"], r["last_run_at"],
        )

    @staticmethod
    def _run(r: sqlite3.Row) -> JobRun:
        return JobRun(r["id"], r["job_id"], r["scheduled_for"], r["started_at"], r["ended_at"], r["outcome"],
                      r["late_s"], r["error"])

    async def upsert(self, job: Job) -> None:
        """Create or update a job definition; keep its next run if the timing is unchanged."""
        now = _now()
        await self.db.execute(
            "INSERT INTO jobs (id, action, kind, spec, timezone, grace_s, args_json, enabled, source, next_run_at,"
            " last_run_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET action = excluded.action, args_json = excluded.args_json,"
            " grace_s = excluded.grace_s, enabled = excluded.enabled, source = excluded.source,"
            " next_run_at = CASE WHEN jobs.kind = excluded.kind AND jobs.spec = excluded.spec"
            "   AND jobs.timezone = excluded.timezone THEN jobs.next_run_at ELSE excluded.next_run_at END,"
            " kind = excluded.kind, spec = excluded.spec, timezone = excluded.timezone,"
            " updated_at = excluded.updated_at",
            (job.id, job.action, job.kind, job.spec, job.timezone, job.grace_s, json.dumps(job.args),
             int(job.enabled), job.source, job.next_run_at, job.last_run_at, now, now),
        )

    async def get(self, job_id: str) -> Job | None:
        """Return one job."""
        r = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(r) if r else None

    async def all(self) -> list[Job]:
        """Return every job."""
        return [self._job(r) for r in await self.db.fetchall("SELECT * FROM jobs ORDER BY id")]

    async def delete(self, job_id: str) -> None:
        """Delete a job and its run history."""
        if not await self.db.execute_rowcount("DELETE FROM jobs WHERE id = ?", (job_id,)):
            raise NotFound(f"job {job_id}")

    async def disable_config_jobs_except(self, keep: Iterable[str]) -> None:
        """Disable config jobs no longer configured (their history stays)."""
        ids = list(keep)
        await self.db.execute(
            f"UPDATE jobs SET enabled = 0 WHERE source = 'config' AND {not_in('id', ids)}",
            ids,
        )

    async def set_next_run(self, job_id: str, next_run_at: float | None, last_run_at: float | None = None) -> None:
        """Store when a job runs next (None: never again)."""
        await self.db.execute(
            "UPDATE jobs SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at), updated_at = ? WHERE id = ?",
            (next_run_at, last_run_at, _now(), job_id),
        )

    async def start_run(self, job_id: str, scheduled_for: float, late_s: float, node_id: str | None = None) -> int:
        """Record that a run started (on ``node_id`` in a cluster); return the run id."""
        return await self.db.execute(
            "INSERT INTO job_runs (job_id, scheduled_for, started_at, outcome, late_s, node_id)"
            " VALUES (?, ?, ?, 'running', ?, ?)",
            (job_id, scheduled_for, _now(), late_s, node_id),
        )

    async def finish_run(self, run_id: int, outcome: str, error: str | None = None) -> None:
        """Record a run's end and outcome."""
        await self.db.execute("UPDATE job_runs SET ended_at = ?, outcome = ?, error = ? WHERE id = ?",
                              (_now(), outcome, error, run_id))

    async def record_missed(self, job_id: str, scheduled_for: float, late_s: float,
                            node_id: str | None = None) -> int:
        """Record a run skipped because the server was down past its grace window."""
        now = _now()
        return await self.db.execute(
            "INSERT INTO job_runs (job_id, scheduled_for, started_at, ended_at, outcome, late_s, error, node_id)"
            " VALUES (?, ?, ?, ?, 'missed', ?, 'server was down past the grace window', ?)",
            (job_id, scheduled_for, now, now, late_s, node_id),
        )

    async def interrupt_running(self, node_id: str | None = None) -> int:
        """Mark runs left 'running' by a killed process (in a cluster: this node's) as interrupted; return how many."""
        if node_id is None:
            return await self.db.execute_rowcount(
                "UPDATE job_runs SET outcome = 'interrupted', ended_at = ?, error = 'server stopped during the run'"
                " WHERE outcome = 'running'",
                (_now(),),
            )
        return await self.db.execute_rowcount(
            "UPDATE job_runs SET outcome = 'interrupted', ended_at = ?, error = 'server stopped during the run'"
            " WHERE outcome = 'running' AND node_id = ?",
            (_now(), node_id),
        )

    async def runs(self, job_id: str | None = None, limit: int = 100) -> list[JobRun]:
        """Return runs, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM job_runs WHERE ? IS NULL OR job_id = ? ORDER BY id DESC LIMIT ?",
            (job_id, job_id, limit),
        )
        return [self._run(r) for r in rows]
