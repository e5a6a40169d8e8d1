"""Active speaker and loudest-N selection from RFC 6464 audio levels (no audio decoding).

Levels are RFC 6464 values: 0 is the loudest (0 dBov), 127 silence. Each site's level is smoothed with
an exponential average; a site below ``SPEECH_LEVEL`` (quieter than -50 dBov) is silent. The speaker
changes only when a challenger has been louder than the current speaker by ``SWITCH_MARGIN`` for
``SWITCH_HOLD_S`` — the hysteresis that keeps the speaker slot from flapping between two voices. The
loudest-N set (whose audio is forwarded) is sticky: a member stays through pauses shorter than
``DISPLACE_AFTER_S`` whoever else speaks, and leaves after ``AUDIBLE_HOLD_S`` of silence even if nobody
needs its place — so word gaps never cut a voice in and out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

SILENCE = 127
SPEECH_LEVEL = 50  # quieter than -50 dBov is silence
SMOOTHING = 0.3  # weight of a new sample in the moving average (samples arrive every 20 ms)
SWITCH_MARGIN = 6  # dB a challenger must be louder by
SWITCH_HOLD_S = 1.0
AUDIBLE_HOLD_S = 2.0
LEVEL_STALE_S = 0.5
DISPLACE_AFTER_S = 0.6  # no packet for this long counts as silence
TALKING_HOLD_S = 1.0  # a site is "talking" (the label on its tile) for this long after its last speech


@dataclass
class _Track:
    level: float = SILENCE
    updated: float = 0.0
    challenging_since: float | None = None
    last_speech: float = -1e9


@dataclass
class SpeakerDetector:
    """Tracks who is speaking; feed ``update`` with levels, read ``speaker`` and ``audible``."""

    loudest_n: int = 3
    speaker: str | None = None
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _audible: list[str] = field(default_factory=list)

    def update(self, site: str, level: int, now: float) -> None:
        """Record one audio packet's level (0 loudest … 127 silent) for ``site``."""
        t = self._tracks.get(site)
        if t is None:
            t = self._tracks[site] = _Track(level=float(level), updated=now)
        else:
            t.level = t.level + SMOOTHING * (level - t.level)
            t.updated = now
        if t.level <= SPEECH_LEVEL:
            t.last_speech = now

    def talking(self, now: float) -> set[str]:
        """Return the sites speaking now (not the kept last speaker: silence clears the label)."""
        return {s for s, t in self._tracks.items() if now - t.last_speech <= TALKING_HOLD_S}

    def remove(self, site: str) -> None:
        """Forget a site (it left)."""
        self._tracks.pop(site, None)
        if self.speaker == site:
            self.speaker = None

    def _level(self, t: _Track, now: float) -> float:
        return t.level if now - t.updated <= LEVEL_STALE_S else SILENCE

    def evaluate(self, now: float, exclude: Iterable[str] = ()) -> str | None:
        """Re-decide the active speaker at ``now``; return it (it may be unchanged or None)."""
        skip = set(exclude)
        candidates = [(self._level(t, now), s) for s, t in self._tracks.items() if s not in skip]
        speaking = sorted((lvl, s) for lvl, s in candidates if lvl <= SPEECH_LEVEL)
        if not speaking:
            return self.speaker  # silence: keep showing the last speaker
        best_level, best = speaking[0]
        current = self._tracks.get(self.speaker) if self.speaker else None
        if self.speaker is None or current is None or self.speaker in skip:
            self.speaker = best
            return best
        if best == self.speaker:
            for t in self._tracks.values():
                t.challenging_since = None
            return best
        current_level = self._level(current, now)
        challenger = self._tracks[best]
        if best_level + SWITCH_MARGIN <= current_level or current_level > SPEECH_LEVEL:
            if challenger.challenging_since is None:
                challenger.challenging_since = now
            elif now - challenger.challenging_since >= SWITCH_HOLD_S:
                self.speaker = best
                for t in self._tracks.values():
                    t.challenging_since = None
        else:
            challenger.challenging_since = None
        return self.speaker

    def audible(self, now: float, exclude: Iterable[str] = ()) -> list[str]:
        """Return the (at most ``loudest_n``) sites whose audio is forwarded, minus ``exclude``."""
        skip = set(exclude)
        self._refresh_audible(now)
        return [s for s in self._audible if s not in skip]

    def _refresh_audible(self, now: float) -> None:
        # One shared, sticky set: members stay through pauses; a member does not hear itself.
        size = self.loudest_n
        tracks = self._tracks
        members = [s for s in self._audible if s in tracks and now - tracks[s].last_speech <= AUDIBLE_HOLD_S]
        speaking = sorted((self._level(t, now), s) for s, t in tracks.items()
                          if s not in members and self._level(t, now) <= SPEECH_LEVEL)
        for _, site in speaking:
            if len(members) < size:
                members.append(site)
                continue
            # Full: a new voice displaces a member silent for DISPLACE_AFTER_S (a word gap is shorter).
            silent = [(now - tracks[m].last_speech, m) for m in members
                      if now - tracks[m].last_speech >= DISPLACE_AFTER_S]
            if not silent:
                break
            _, out = max(silent)
            members[members.index(out)] = site
        members.sort(key=lambda m: self._level(tracks[m], now))
        self._audible = members
