"""Which layer of a site's camera each subscriber receives, from what its own link reports.

Every site publishes its camera twice: the high layer (``video``, up to 1280x720) and a thumbnail (``thumb``,
320x180). A chair's grid tile shows the thumbnail; the picture someone looks at (a site's host and speaker
slots, the chair's spotlighted tile) shows the high layer — unless that subscriber's link cannot carry it.

The decision is a small pure state machine, fed every ``LinkWatch`` tick with the subscriber's latest
receiver estimate (REMB, what its browser says it can take) and loss (RTCP receiver reports):
- *down* to the thumbnail when loss stays high, or the estimate stays below what we send it and is not
  rising, for ``DOWN_HOLD_S`` (one bad report is not a bad link). A browser's receive-side estimate starts
  low and climbs about 8 % a second after the rate it receives jumps (a join, a climb back to HD): while it
  rises, or within ``BANDWIDTH_GRACE_S`` of a change, a low estimate is a ramp, not congestion — a congested
  link's estimate falls, and a capped one loses packets;
- *up* by probing: a browser's estimate cannot rise much above what it receives (GCC caps it near 1.5× the
  incoming rate), so on the thumbnail we cannot wait for the estimate to say HD fits. After ``PROBE_AFTER_S``
  of a clean link we try the high layer again; if the link fails again within ``PROBE_GRACE_S`` the next try
  waits twice as long (up to ``PROBE_MAX_S``). That is the hysteresis: a link that cannot carry HD is
  retried every 10, 20, 40 … 120 s, never flapping every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DOWN_HOLD_S = 2.0  # a bad link for this long moves the subscriber to the thumbnail
LOSS_DOWN = 0.08  # fraction of packets lost (RTCP fraction_lost / 256) that counts as bad
LOSS_CLEAN = 0.02  # at most this much loss counts as clean (may probe up)
REMB_DOWN_RATIO = 0.8  # estimate below this share of what we send: the link is congested
PROBE_AFTER_S = 10.0  # first retry of the high layer after a fall
PROBE_MAX_S = 120.0
PROBE_GRACE_S = 8.0  # a fall this soon after climbing back means the probe failed
BANDWIDTH_GRACE_S = 6.0  # after a join or a layer change, only loss counts (the estimate is still ramping)


class Layer(StrEnum):
    """A camera layer."""

    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class LinkReport:
    """What one subscriber's link said in the last tick."""

    now: float  # monotonic seconds
    sending_bps: float  # what the server sent it over the last tick
    remb_bps: float | None = None  # its latest receiver estimate, if its browser sends REMB
    loss: float | None = None  # its worst recent fraction lost (0..1) over the slots it receives


@dataclass
class LayerChoice:
    """One subscriber's layer, with the reason shown to the chair (``ok``, ``bandwidth``, ``loss``, ``probe``)."""

    layer: Layer = Layer.HIGH
    reason: str = "ok"
    changed_at: float = 0.0
    bad_since: float | None = None
    clean_since: float | None = None
    probe_wait_s: float = PROBE_AFTER_S
    last_remb_bps: float | None = None
    history: list[tuple[float, Layer, str]] = field(default_factory=list)

    def update(self, report: LinkReport) -> bool:
        """Take one tick's report; return whether the layer changed."""
        now = report.now
        ramping = now - self.changed_at < BANDWIDTH_GRACE_S or (
            report.remb_bps is not None and self.last_remb_bps is not None and report.remb_bps > self.last_remb_bps)
        if report.remb_bps is not None:
            self.last_remb_bps = report.remb_bps
        bad = _bad_reason(report, ramping)
        if bad is not None:
            self.clean_since = None
            if self.bad_since is None:
                self.bad_since = now
        else:
            self.bad_since = None
            if self.clean_since is None:
                self.clean_since = now
        if self.layer is Layer.HIGH:
            if bad is not None and now - (self.bad_since or now) >= DOWN_HOLD_S:
                # A probe that failed quickly makes the next one wait longer; a long good spell resets it.
                failed_probe = self.reason == "probe" and now - self.changed_at < PROBE_GRACE_S + DOWN_HOLD_S
                self.probe_wait_s = min(PROBE_MAX_S, self.probe_wait_s * 2) if failed_probe else PROBE_AFTER_S
                return self._set(Layer.LOW, bad, now)
            if self.reason == "probe" and now - self.changed_at >= PROBE_GRACE_S + DOWN_HOLD_S:
                self.reason = "ok"  # the probe held: this link carries HD
            return False
        if bad is None and self.clean_since is not None and now - self.changed_at >= self.probe_wait_s \
                and (report.loss is None or report.loss <= LOSS_CLEAN):
            return self._set(Layer.HIGH, "probe", now)
        if bad is not None:
            self.reason = bad
        return False

    def _set(self, layer: Layer, reason: str, now: float) -> bool:
        self.layer, self.reason, self.changed_at = layer, reason, now
        self.bad_since = self.clean_since = None
        self.history.append((now, layer, reason))
        del self.history[:-20]
        return True


def _bad_reason(report: LinkReport, ramping: bool) -> str | None:
    """Say why a link looks unable to carry what it is sent (None: it carries it)."""
    if report.loss is not None and report.loss >= LOSS_DOWN:
        return "loss"
    if not ramping and report.remb_bps is not None and report.sending_bps > 0 \
            and report.remb_bps < REMB_DOWN_RATIO * report.sending_bps:
        return "bandwidth"
    return None
