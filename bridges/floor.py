"""Who may speak: the meeting mode, the queue of speaking requests (đăng ký phát biểu) and the current turn.

Pure state; the room applies what it decides (mutes, the spotlight) and tells the sites. In ``chaired`` mode
every site but the chair is muted and speaks only when the chair grants it the floor; in ``free`` mode
everyone may speak and the queue only orders requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["free", "chaired"]
MODES: tuple[Mode, ...] = ("free", "chaired")


@dataclass
class Request:
    """A site waiting to speak."""

    site: str
    since: float  # UTC epoch
    record_id: int | None = None  # its row in speaking_requests, once logged


class Floor:
    """The speaking queue and turn of one meeting."""

    def __init__(self, mode: Mode = "free") -> None:
        self.mode: Mode = mode
        self.queue: list[Request] = []
        self.speaking: str | None = None
        self.turn: Request | None = None  # the granted request (None if the chair gave the floor unasked)

    def request(self, site: str, at: float) -> Request | None:
        """Queue a site's request; return it, or None if it is already queued or speaking."""
        if site == self.speaking or any(r.site == site for r in self.queue):
            return None
        req = Request(site, at)
        self.queue.append(req)
        return req

    def withdraw(self, site: str) -> Request | None:
        """Take a site's request out of the queue; return it if there was one."""
        for i, r in enumerate(self.queue):
            if r.site == site:
                return self.queue.pop(i)
        return None

    def grant(self, site: str) -> tuple[Request | None, str | None]:
        """Give a site the floor; return (its request if it had one, the site whose turn this ends)."""
        previous = self.speaking if self.speaking != site else None
        self.turn = self.withdraw(site)
        self.speaking = site
        return self.turn, previous

    def end_turn(self) -> tuple[str | None, Request | None]:
        """End the current turn; return the site that was speaking and its request."""
        site, req = self.speaking, self.turn
        self.speaking, self.turn = None, None
        return site, req

    def forget(self, site: str) -> list[Request]:
        """Drop a site that left or was removed; return its requests that were open (queued or speaking)."""
        gone = [r for r in self.queue if r.site == site]
        self.queue = [r for r in self.queue if r.site != site]
        if self.speaking == site:
            if self.turn is not None:
                gone.append(self.turn)
            self.speaking, self.turn = None, None
        return gone

    def snapshot(self) -> dict[str, object]:
        """Return what sites are told about the floor."""
        return {"mode": self.mode, "queue": [{"site": r.site, "since": r.since} for r in self.queue],
                "speaking": self.speaking}
