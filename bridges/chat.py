"""Meeting chat: to everyone, to the chair only, or the chair's private reply; bounded in size and rate."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from mediaserver.errors import CodedError

MAX_CHAT_CHARS = 1000
CHAT_BURST = 5  # messages a site may send within CHAT_WINDOW_S
CHAT_WINDOW_S = 10.0
HISTORY_LIMIT = 500  # messages kept in memory for sites that (re)join; the index keeps them all


class ChatRefused(CodedError):
    """A chat message was not accepted; ``code`` is the signalling error code."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    at: float  # UTC epoch
    sender: str
    sender_name: str
    to: str | None  # None: everyone; else the one site it is for
    text: str

    def visible_to(self, site: str) -> bool:
        """Return whether ``site`` may read this message."""
        return self.to is None or site in (self.sender, self.to)

    def wire(self, chair: str) -> dict[str, object]:
        """Return the message as sites receive it (``to``: 'all', 'chair' or the site it is for)."""
        to = "all" if self.to is None else "chair" if self.to == chair else self.to
        return {"id": self.id, "at": self.at, "from": self.sender, "from_name": self.sender_name, "to": to,
                "text": self.text}


def clean_text(text: str) -> str:
    """Return the text to keep, or raise ChatRefused for an empty or oversized message."""
    text = "".join(c for c in text if c in "\n\t" or c.isprintable()).strip()
    if not text:
        raise ChatRefused("chat_empty", "the message is empty")
    if len(text) > MAX_CHAT_CHARS:
        raise ChatRefused("chat_too_long", f"a message has at most {MAX_CHAT_CHARS} characters, this one "
                                           f"{len(text)}")
    return text


def recipient(sender: str, to: str, chair: str, members: set[str]) -> str | None:
    """Resolve ``to`` ('all', 'chair' or a site id) to the site a message is for (None: everyone)."""
    if to == "all":
        return None
    if to == "chair":
        if sender == chair:
            raise ChatRefused("not_allowed", "the chair writes to everyone or to one site")
        return chair
    if sender != chair:
        raise ChatRefused("not_allowed", "only the chair sends a message to one site")
    if to not in members or to == chair:
        raise ChatRefused("not_allowed", f"site {to!r} is not in this meeting")
    return to


class RateLimit:
    """At most ``burst`` events per ``window_s`` per key (a sliding window)."""

    def __init__(self, burst: int = CHAT_BURST, window_s: float = CHAT_WINDOW_S) -> None:
        self.burst = burst
        self.window_s = window_s
        self._times: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> float:
        """Count an event; return 0 if allowed, else the seconds until the next one would be."""
        q = self._times.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if len(q) >= self.burst:
            return q[0] + self.window_s - now
        q.append(now)
        return 0.0
