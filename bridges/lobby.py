"""The lobby: sites that arrived at a locked room, or were not invited, wait here until the chair decides."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

LOBBY_LIMIT = 100  # waiting sites per room; a room has at most 64 members, so more is a client gone wrong


@dataclass
class Waiting:
    site: str
    reason: str  # "locked" | "not_invited"
    since: float  # UTC epoch
    decision: asyncio.Future[bool] = field(
        repr=False, default_factory=lambda: asyncio.get_running_loop().create_future())


class Lobby:
    """Sites waiting to be admitted to one room's meeting."""

    def __init__(self) -> None:
        self.waiting: dict[str, Waiting] = {}

    def enter(self, site: str, reason: str, at: float) -> Waiting:
        """Put a site in the lobby (a second arrival of the same site replaces the first, which is refused)."""
        old = self.waiting.pop(site, None)
        if old is not None and not old.decision.done():
            old.decision.set_result(False)
        if len(self.waiting) >= LOBBY_LIMIT:
            raise OverflowError("the lobby is full")
        entry = Waiting(site, reason, at)
        self.waiting[site] = entry
        return entry

    def leave(self, entry: Waiting) -> None:
        """Take a site out of the lobby without a decision (it went away)."""
        if self.waiting.get(entry.site) is entry:
            del self.waiting[entry.site]

    def decide(self, site: str, admit: bool) -> bool:
        """Admit or refuse a waiting site; return False if it is not waiting."""
        entry = self.waiting.pop(site, None)
        if entry is None or entry.decision.done():
            return False
        entry.decision.set_result(admit)
        return True

    def close(self) -> None:
        """Refuse everyone still waiting (the meeting ended)."""
        for entry in self.waiting.values():
            if not entry.decision.done():
                entry.decision.set_result(False)
        self.waiting.clear()

    def snapshot(self, names: dict[str, str], names_en: dict[str, str | None]) -> list[dict[str, object]]:
        """Return the waiting sites as the chair sees them, first come first."""
        return [{"site": w.site, "name": names.get(w.site, w.site), "name_en": names_en.get(w.site),
                 "since": w.since, "reason": w.reason}
                for w in sorted(self.waiting.values(), key=lambda w: w.since)]
