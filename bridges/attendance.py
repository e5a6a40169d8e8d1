"""Roll call (điểm danh) of a scheduled meeting from its sites' connections: pure, tiny-tested rules.

- present: the site first connected no later than ``LATE_AFTER_S`` after the start (the test window counts);
- late: it first connected after that;
- absent: it never connected and the meeting is over (the operator enters the reason);
- pending: it has not connected yet and the meeting is not over.
Minutes present count the union of its connections inside [start, end of the meeting].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

LATE_AFTER_S = 5 * 60.0

Status = Literal["present", "late", "absent", "pending"]


@dataclass(frozen=True, slots=True)
class Interval:
    joined_at: float
    left_at: float | None  # None: still connected
    reason: str | None


@dataclass(frozen=True, slots=True)
class SiteAttendance:
    site_id: str
    status: Status
    connected: bool
    first_join_at: float | None
    last_leave_at: float | None
    intervals: tuple[Interval, ...]
    seconds_present: float


def roll_call(site_id: str, intervals: Iterable[Interval], starts_at: float, end: float,
              over: bool) -> SiteAttendance:
    """Return one invited site's attendance; ``end`` is when the meeting ended (or now while it runs)."""
    ivs = tuple(sorted(intervals, key=lambda i: i.joined_at))
    connected = any(i.left_at is None for i in ivs)
    first = ivs[0].joined_at if ivs else None
    lefts = [i.left_at for i in ivs if i.left_at is not None]
    last_leave = None if connected or not lefts else max(lefts)
    # Union of [joined, left) clipped to [starts_at, end]: reconnects overlap (a new session replaces the old).
    total, cursor = 0.0, starts_at
    for i in ivs:
        a = max(i.joined_at, cursor)
        b = min(end, i.left_at if i.left_at is not None else end)
        if b > a:
            total += b - a
            cursor = b
    status: Status
    if first is None:
        status = "absent" if over else "pending"
    else:
        status = "present" if first <= starts_at + LATE_AFTER_S else "late"
    return SiteAttendance(site_id, status, connected, first, last_leave, ivs, total)
