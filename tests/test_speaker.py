"""Active-speaker rules as a pure function of levels over time."""

from __future__ import annotations

from bridges.speaker import SWITCH_HOLD_S, SpeakerDetector


def feed(det: SpeakerDetector, levels: dict[str, int], start: float, seconds: float) -> float:
    t = start
    while t < start + seconds:
        for site, level in levels.items():
            det.update(site, level, t)
        det.evaluate(t)
        t += 0.02
    return t


def test_first_voice_becomes_speaker_at_once() -> None:
    det = SpeakerDetector()
    feed(det, {"a": 20, "b": 127}, 0.0, 0.2)
    assert det.speaker == "a"


def test_hysteresis_needs_a_clearly_louder_voice_for_a_second() -> None:
    det = SpeakerDetector()
    t = feed(det, {"a": 30}, 0.0, 1.0)
    # b is only slightly louder: no switch however long it lasts
    t = feed(det, {"a": 30, "b": 27}, t, 3.0)
    assert det.speaker == "a"
    # b is clearly louder, but for less than the hold time: still a
    t = feed(det, {"a": 30, "b": 15}, t, SWITCH_HOLD_S * 0.6)
    assert det.speaker == "a"
    feed(det, {"a": 30, "b": 15}, t, SWITCH_HOLD_S * 0.6)
    assert det.speaker == "b"


def test_silence_keeps_the_last_speaker_and_a_new_voice_takes_over() -> None:
    det = SpeakerDetector()
    t = feed(det, {"a": 20}, 0.0, 1.0)
    t = feed(det, {"a": 127}, t, 2.0)
    assert det.speaker == "a"
    feed(det, {"a": 127, "c": 40}, t, SWITCH_HOLD_S + 0.2)
    assert det.speaker == "c"


def test_audible_set_is_the_loudest_three_with_a_hold() -> None:
    det = SpeakerDetector(loudest_n=3)
    t = feed(det, {"a": 10, "b": 20, "c": 30, "d": 40, "e": 127}, 0.0, 0.5)
    assert det.audible(t) == ["a", "b", "c"]
    assert det.audible(t, exclude=["a"]) == ["b", "c"]  # a site never hears itself
    t = feed(det, {"a": 127, "b": 20, "c": 30, "d": 40}, t, 0.4)
    assert "a" in det.audible(t)  # a pause within a sentence does not cut a site out
    t = feed(det, {"a": 127, "b": 20, "c": 30, "d": 40}, t, 2.5)
    assert det.audible(t) == ["b", "c", "d"]
    # a new voice replaces a member that has gone silent, without waiting for its hold to end
    t = feed(det, {"a": 127, "b": 127, "c": 30, "d": 40, "e": 127}, t, 0.8)
    t = feed(det, {"a": 127, "b": 127, "c": 30, "d": 40, "e": 15, "f": 25}, t, 0.2)
    assert det.audible(t) == ["e", "c", "d"]  # b, silent long enough, gave its place to the loudest newcomer
