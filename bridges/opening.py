"""Whether a room may hold a meeting now: its scheduled meetings' windows and the chair's End (pure rules).

- A scheduled meeting's window runs from ``opens_at`` (start minus the test window, when technicians check
  sound and picture) to its end; inside it the room opens for that meeting.
- The chair's End closes the room (``closed_at``): it stays closed until staff reopen it or a meeting whose
  window begins after the End opens.
- A room with no meeting now but one later the same day (within ``NOT_OPEN_HORIZON_S``) stays shut until that
  window (join links say when it starts); otherwise it is an ad-hoc room, open whenever a site joins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

NOT_OPEN_HORIZON_S = 12 * 3600.0


class Scheduled(Protocol):
    @property
    def opens_at(self) -> float: ...

    @property
    def starts_at(self) -> float: ...

    @property
    def ends_at(self) -> float: ...

    @property
    def cancelled(self) -> bool: ...


@dataclass(frozen=True)
class Opening:
    state: Literal["open", "ended", "not_open"]
    meeting: Scheduled | None  # open: the meeting held (None: ad hoc); not_open: the next one


def opening(now: float, meetings: Sequence[Scheduled], closed_at: float | None) -> Opening:
    """Decide whether the room opens at ``now`` and for which meeting."""
    live = sorted((m for m in meetings if not m.cancelled and m.ends_at > now), key=lambda m: m.starts_at)
    current = next((m for m in live if m.opens_at <= now), None)
    if current is not None:
        if closed_at is None or current.opens_at > closed_at:
            return Opening("open", current)
        return Opening("ended", current)
    if closed_at is not None:
        return Opening("ended", None)
    upcoming = next((m for m in live if m.opens_at > now), None)
    if upcoming is not None and upcoming.opens_at - now <= NOT_OPEN_HORIZON_S:
        return Opening("not_open", upcoming)
    return Opening("open", None)
