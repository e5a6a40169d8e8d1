"""Repository: the append-only audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mediaserver.storage.base import _now, _Repo


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    actor_role: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    remote: str = ""


class AuditRepo(_Repo):
    async def add(self, actor: str, actor_role: str, action: str, target: str = "",
                  detail: dict[str, Any] | None = None, remote: str = "") -> int:
        """Append an entry to the audit log."""
        return await self.db.execute(
            "INSERT INTO audit_log (at, actor, actor_role, action, target, detail_json, remote)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), actor, actor_role, action, target, json.dumps(detail or {}, ensure_ascii=False), remote),
        )

    async def all(self, limit: int = 100, before_id: int | None = None, action_prefix: str = "", *,
                  actor: str = "", target: str = "", since: float | None = None,
                  until: float | None = None) -> list[AuditEntry]:
        """Return entries newest first, keyset-paginated by ``before_id``, filtered by action prefix, actor,
        target (a substring, e.g. a camera or room id), and time."""
        # A substring test each engine spells its own way (SQLite instr, PostgreSQL strpos); LIKE would need
        # the target's % and _ escaped.
        contains = "instr(target, ?)" if self.db.dialect == "sqlite" else "strpos(target, ?)"
        rows = await self.db.fetchall(
            "SELECT * FROM audit_log WHERE (? IS NULL OR id < ?) AND action LIKE ? AND (? = '' OR actor = ?)"
            f" AND (? = '' OR {contains} > 0) AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?)"
            " ORDER BY id DESC LIMIT ?",
            (before_id, before_id, action_prefix + "%", actor, actor, target, target, since, since, until, until,
             limit),
        )
        return [AuditEntry(r["id"], r["at"], r["actor"], r["actor_role"], r["action"], r["target"],
                           json.loads(r["detail_json"]), r["remote"]) for r in rows]
