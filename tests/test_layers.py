"""The per-subscriber layer choice (bridges/layers.py): pure decisions, fed ticks of link reports."""

from __future__ import annotations

from bridges.layers import (
    BANDWIDTH_GRACE_S,
    DOWN_HOLD_S,
    PROBE_AFTER_S,
    PROBE_MAX_S,
    Layer,
    LayerChoice,
    LinkReport,
)

TICK_S = 0.5
HD_BPS = 2_600_000.0
THUMB_BPS = 300_000.0


def run(choice: LayerChoice, start: float, seconds: float, *, loss: float | None = 0.0,
        remb: float | None = None, remb_step: float = 0.0,
        loss_on_thumb: float | None = None) -> list[tuple[float, Layer, str]]:
    """Feed ``seconds`` of ticks; return the changes (time, layer, reason)."""
    changes = []
    t = start
    r = remb
    while t < start + seconds - 1e-9:
        high = choice.layer is Layer.HIGH
        sending = HD_BPS if high else THUMB_BPS
        lost = loss if high or loss_on_thumb is None else loss_on_thumb
        if choice.update(LinkReport(t, sending, r, lost)):
            changes.append((t, choice.layer, choice.reason))
        t += TICK_S
        if r is not None:
            r += remb_step
    return changes


def test_a_clean_link_keeps_hd() -> None:
    c = LayerChoice()
    assert run(c, 100.0, 300.0, loss=0.0, remb=4_000_000.0) == []
    assert (c.layer, c.reason) == (Layer.HIGH, "ok")


def test_a_short_loss_burst_is_not_a_bad_link() -> None:
    c = LayerChoice()
    assert run(c, 100.0, DOWN_HOLD_S - TICK_S, loss=0.3) == []
    assert run(c, 100.0 + DOWN_HOLD_S, 20.0, loss=0.0) == []
    assert c.layer is Layer.HIGH


def test_sustained_loss_falls_to_the_thumbnail_after_the_hold() -> None:
    c = LayerChoice()
    changes = run(c, 100.0, 10.0, loss=0.2)
    assert [(layer, reason) for _, layer, reason in changes] == [(Layer.LOW, "loss")]
    assert changes[0][0] - 100.0 == DOWN_HOLD_S


def test_a_falling_estimate_below_what_we_send_is_congestion() -> None:
    c = LayerChoice(changed_at=0.0)
    changes = run(c, 100.0, 10.0, loss=0.0, remb=1_500_000.0, remb_step=-10_000.0)
    assert [(layer, reason) for _, layer, reason in changes] == [(Layer.LOW, "bandwidth")]


def test_a_rising_estimate_is_a_ramp_not_congestion() -> None:
    c = LayerChoice(changed_at=0.0)
    assert run(c, 100.0, 20.0, loss=0.0, remb=500_000.0, remb_step=40_000.0) == []


def test_a_low_estimate_right_after_joining_is_ignored() -> None:
    c = LayerChoice(changed_at=100.0)
    assert run(c, 100.0, BANDWIDTH_GRACE_S - TICK_S, loss=0.0, remb=300_000.0) == []
    assert c.layer is Layer.HIGH
    # ... but loss counts at once.
    c = LayerChoice(changed_at=100.0)
    assert [layer for _, layer, _ in run(c, 100.0, BANDWIDTH_GRACE_S, loss=0.5)] == [Layer.LOW]


def test_after_the_cap_lifts_it_probes_hd_and_stays() -> None:
    c = LayerChoice()
    run(c, 100.0, 5.0, loss=0.3)
    assert c.layer is Layer.LOW
    fell_at = c.changed_at
    changes = run(c, 105.0, 60.0, loss=0.0, remb=5_000_000.0)
    assert [(layer, reason) for _, layer, reason in changes] == [(Layer.HIGH, "probe")]
    assert changes[0][0] - fell_at == PROBE_AFTER_S
    assert c.reason == "ok"  # the probe held


def test_failed_probes_back_off_and_never_flap() -> None:
    c = LayerChoice()
    # A link that carries the thumbnail but never HD: every probe loses packets.
    changes = run(c, 100.0, 600.0, loss=0.3, loss_on_thumb=0.0)
    ups = [t for t, layer, _ in changes if layer is Layer.HIGH]
    downs = [t for t, layer, _ in changes if layer is Layer.LOW]
    waits = [up - down for down, up in zip(downs, ups, strict=False)]
    assert waits[:4] == [PROBE_AFTER_S, 2 * PROBE_AFTER_S, 4 * PROBE_AFTER_S, 8 * PROBE_AFTER_S]
    assert max(waits) == PROBE_MAX_S
    assert len(changes) <= 16  # 10 minutes of a bad link: a handful of probes, not a change every tick


def test_but_a_probe_that_held_resets_the_back_off() -> None:
    c = LayerChoice()
    run(c, 100.0, 5.0, loss=0.3)
    run(c, 105.0, 25.0, loss=0.0)  # probed up after 10 s, and the probe held
    assert (c.layer, c.reason) == (Layer.HIGH, "ok")
    run(c, 130.0, 5.0, loss=0.3)
    assert c.layer is Layer.LOW and c.probe_wait_s == PROBE_AFTER_S


def test_the_reason_follows_the_link_while_on_the_thumbnail() -> None:
    c = LayerChoice(changed_at=0.0)
    run(c, 100.0, 5.0, loss=0.3)
    assert (c.layer, c.reason) == (Layer.LOW, "loss")
    run(c, 105.0, 8.0, loss=0.0, remb=100_000.0, remb_step=-1_000.0)  # past the grace: a falling estimate
    assert (c.layer, c.reason) == (Layer.LOW, "bandwidth")


def test_browser_offer_hints_a_start_bitrate_on_every_video_format_only() -> None:
    from bridges.session import browser_hints

    sdp = ("v=0\r\nm=audio 9 UDP 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP 97 98 99\r\n"
           "a=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack\r\na=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=97\r\n"
           "a=rtpmap:99 H264/90000\r\na=fmtp:99 packetization-mode=1\r\n")
    lines = browser_hints(sdp, 800).split("\r\n")
    assert lines[lines.index("a=rtpmap:97 VP8/90000") + 1] == "a=fmtp:97 x-google-start-bitrate=800"
    assert "a=fmtp:99 packetization-mode=1;x-google-start-bitrate=800" in lines
    assert "a=fmtp:98 apt=97" in lines  # RTX untouched
    assert not any("start-bitrate" in line for line in lines[:4])  # nothing on the audio section
    assert len(lines) == len(sdp.split("\r\n")) + 1
