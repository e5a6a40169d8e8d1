"""The forwarding engine's pure parts: keyframe detection, frame assembly, sinks, keyframe throttling."""

from __future__ import annotations

import asyncio

import aiortc
import pytest

from mediaserver.engine import EncodedFrame, Engine, FrameAssembler, Source
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.engine.engine import KEYFRAME_MIN_INTERVAL_S
from mediaserver.engine.frames import ASSEMBLY_WAIT_S, h264_is_keyframe, vp8_is_keyframe
from mediaserver.engine.sink import VIDEO_QUEUE_FRAMES
from tests.conftest import FakeClock

# VP8 payload descriptors: S=1, PID=0, with and without the extension/picture-id bytes.
VP8_KEY = bytes([0x10, 0x00, 0x9D, 0x01, 0x2A])  # P bit (bit 0 of the first VP8 byte) = 0
VP8_DELTA = bytes([0x10, 0x01, 0x00])
VP8_KEY_PICID = bytes([0x90, 0x80, 0x81, 0x23, 0x00, 0x9D])  # X, I, 15-bit picture id
VP8_CONTINUATION = bytes([0x00, 0x00])  # S=0


def test_vp8_keyframe_detection() -> None:
    assert vp8_is_keyframe(VP8_KEY) and vp8_is_keyframe(VP8_KEY_PICID)
    assert not vp8_is_keyframe(VP8_DELTA) and not vp8_is_keyframe(VP8_CONTINUATION)
    assert not vp8_is_keyframe(b"") and not vp8_is_keyframe(b"\x90")


def test_h264_keyframe_detection() -> None:
    idr, sps, non_idr = bytes([0x65, 0x88]), bytes([0x67, 0x42]), bytes([0x41, 0x9A])
    stap = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(idr).to_bytes(2, "big") + idr
    fu_start_idr, fu_mid_idr = bytes([0x7C, 0x85, 0x00]), bytes([0x7C, 0x05, 0x00])
    assert h264_is_keyframe(idr) and h264_is_keyframe(sps) and h264_is_keyframe(stap)
    assert h264_is_keyframe(fu_start_idr) and not h264_is_keyframe(fu_mid_idr)
    assert not h264_is_keyframe(non_idr) and not h264_is_keyframe(b"")


def test_assembler_releases_frames_in_order_and_waits_for_retransmission() -> None:
    clock = FakeClock(now=0.0)
    a = FrameAssembler("vp8", clock=clock)
    assert a.add(100, 1000, False, VP8_KEY) == []
    [f1] = a.add(101, 1000, True, b"\x00tail")
    assert f1.payloads == [VP8_KEY, b"\x00tail"] and f1.keyframe and not f1.discontinuity
    # Frame 2 loses its middle packet; frame 3 arrives complete but must wait behind it.
    assert a.add(102, 4000, False, VP8_DELTA) == []
    assert a.add(104, 4000, True, b"\x00c") == []
    assert a.add(105, 7000, True, VP8_DELTA) == []
    frames = a.add(103, 4000, False, b"\x00b")  # the retransmission fills the gap
    assert [f.timestamp for f in frames] == [4000, 7000]
    assert frames[0].payloads == [VP8_DELTA, b"\x00b", b"\x00c"]
    assert a.add(103, 4000, False, b"\x00b") == []  # a late duplicate is ignored


def test_assembler_gives_up_on_a_lost_packet_and_flags_the_gap() -> None:
    clock = FakeClock(now=0.0)
    a = FrameAssembler("vp8", clock=clock)
    a.add(1, 10, True, VP8_KEY)
    a.add(2, 20, False, VP8_DELTA)  # seq 3 (the end of this frame) never arrives
    clock.now += ASSEMBLY_WAIT_S + 0.01
    [f] = a.add(4, 30, True, VP8_DELTA)
    assert f.timestamp == 30 and f.discontinuity and a.frames_dropped == 1


def frame(ts: int, key: bool, level: int | None = None) -> EncodedFrame:
    return EncodedFrame([b"k" if key else b"d", bytes([ts % 256])], ts, key, level)


async def test_sink_starts_on_a_keyframe_and_switches_only_on_one() -> None:
    requests: list[str] = []
    engine = Engine()
    a = engine.add_source(Source("a", "video", "vp8", 90_000, lambda: requests.append("a")))
    b = engine.add_source(Source("b", "video", "vp8", 90_000, lambda: requests.append("b")))
    sink = engine.new_sink("s", "video")
    sink.attach(a)
    assert requests == ["a"]  # a new subscriber asks for a keyframe at once
    a.publish(frame(3000, False))
    assert sink.queued() == 0  # never a delta frame first
    a.publish(frame(6000, True))
    a.publish(frame(9000, False))
    sink.attach(b)  # switch: keep showing a until b's keyframe
    assert requests == ["a", "b"]
    b.publish(frame(500, False))
    a.publish(frame(12000, False))
    b.publish(frame(900, True))
    a.publish(frame(15000, False))  # a no longer feeds this sink
    out = [await sink.next() for _ in range(sink.queued())]
    assert [f.timestamp for f, _ in out] == [6000, 9000, 12000, 900]
    ts = [t for _, t in out]
    assert ts[:3] == [6000, 9000, 12000]  # spacing kept (the sender adds its own random origin)
    assert ts[3] > ts[2]  # continuous across the switch: the receiver sees one stream
    assert a.sinks == set() and b.sinks == {sink} and sink.switches == 1


async def test_slow_sink_drops_and_resumes_on_a_keyframe_without_growing() -> None:
    engine = Engine()
    src = engine.add_source(Source("a", "video", "vp8", 90_000, lambda: None))
    sink = engine.new_sink("s", "video")
    other = engine.new_sink("o", "video", capacity=1000)
    sink.attach(src)
    other.attach(src)
    src.publish(frame(0, True))
    for i in range(1, 100):
        src.publish(frame(i * 3000, i % 30 == 0))
        assert sink.queued() <= VIDEO_QUEUE_FRAMES
    assert sink.frames_dropped > 50
    first, _ = await sink.next()
    assert first.keyframe  # after overflow it restarts on a keyframe
    assert other.queued() == 100  # a slow sink never costs another sink a frame


async def test_keyframe_requests_are_throttled_with_one_trailing_request() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    engine = Engine()
    src = engine.add_source(Source("a", "video", "vp8", 90_000, lambda: sent.append(loop.time())))
    for _ in range(20):
        engine.request_keyframe(src)
    assert len(sent) == 1
    await asyncio.sleep(KEYFRAME_MIN_INTERVAL_S + 0.1)
    assert len(sent) == 2  # the trailing request, so a late joiner is not left waiting
    assert sent[1] - sent[0] >= KEYFRAME_MIN_INTERVAL_S - 0.01
    engine.close()


def test_audio_sinks_need_no_keyframe_and_never_ask() -> None:
    asked: list[int] = []
    engine = Engine()
    src = engine.add_source(Source("m", "audio", "opus", 48_000, lambda: asked.append(1)))
    sink = engine.new_sink("s", "audio")
    sink.attach(src)
    src.publish(EncodedFrame([b"\x01"], 960, True, 30))
    assert sink.queued() == 1 and asked == []


def test_hooks_are_pinned_to_the_aiortc_they_were_written_for() -> None:
    """Fails loudly when aiortc changes under the engine: re-read aiortc_hooks.py against the new source."""
    assert aiortc.__version__.startswith(hooks.SUPPORTED_AIORTC)
    from aiortc import RTCRtpReceiver, RTCRtpSender
    from aiortc.rtcrtpsender import RTCEncodedFrame

    for name in ("codecs", "remote_streams", "rtx_ssrc", "nack_generator", "remote_bitrate_estimator",
                 "rtcp_ssrc", "stop_decoder"):
        assert f"_RTCRtpReceiver__{name}" in RTCRtpReceiver.__init__.__code__.co_names or hasattr(
            RTCRtpReceiver, f"_RTCRtpReceiver__{name}"), name
    for name in ("_handle_rtp_packet", "_send_rtcp_nack", "_send_rtcp_pli", "_send_rtcp", "receive"):
        assert callable(getattr(RTCRtpReceiver, name)), name
    for name in ("_next_encoded_frame", "_send_keyframe", "_run_rtp"):
        assert callable(getattr(RTCRtpSender, name)), name
    assert "packet_count" in " ".join(RTCRtpSender.__init__.__code__.co_names)
    assert RTCEncodedFrame([b"x"], 1, None).payloads == [b"x"]  # type: ignore[arg-type]


def test_hooks_refuse_another_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "2.0.0")
    with pytest.raises(hooks.UnsupportedAiortc, match=r"2\.0\.0"):
        hooks.check_version()


def test_h264_access_units_become_rtp_payloads_once() -> None:
    from aiortc.codecs.h264 import h264_depayload

    sps, pps, idr = b"\x67\x42\xc0\x1e\xaa", b"\x68\xce\x3c\x80", b"\x65" + bytes(range(256)) * 20
    au = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps + b"\x00\x00\x01" + idr
    payloads = hooks.h264_payloads(au)
    assert len(payloads) > 1 and all(len(p) <= 1300 for p in payloads)  # the big IDR is fragmented (FU-A)
    assert h264_is_keyframe(payloads[0])
    rebuilt = b"".join(h264_depayload(p) for p in payloads)
    assert rebuilt.count(b"\x00\x00\x00\x01") == 3 and idr in rebuilt and sps in rebuilt


def test_fast_clock_gives_aiortcs_values_without_datetime() -> None:
    """The per-packet clock we install must read what aiortc's own (datetime-based) one reads."""
    import datetime

    from aiortc import clock

    assert clock.current_ntp_time is hooks.fast_ntp_time and clock.current_ms is hooks.fast_ms
    expected_ntp = clock.datetime_to_ntp(clock.current_datetime())  # aiortc's own formula
    got_ntp = hooks.fast_ntp_time()
    assert 0 <= (got_ntp - expected_ntp) / (1 << 32) < 0.05
    back = clock.datetime_from_ntp(got_ntp)
    assert abs((back - datetime.datetime.now(datetime.UTC)).total_seconds()) < 0.05
    expected_ms = int((clock.current_datetime() - clock.NTP_EPOCH).total_seconds() * 1000)
    assert 0 <= hooks.fast_ms() - expected_ms < 50
    # abs-send-time (6.18 fixed point, 24 bits) as the sender derives it stays in range.
    assert 0 <= (hooks.fast_ntp_time() >> 14) & 0xFFFFFF < 1 << 24


def test_a_first_frame_that_lost_its_head_is_dropped_not_forwarded() -> None:
    """Packets sent before this end's SRTP was ready are lost: the first frame would start mid-picture."""
    a = FrameAssembler("vp8")
    # Frame at ts 3000 arrives without its first packet (S bit); the next frame starts properly.
    assert a.add(11, 3000, False, b"\x00middle") == []
    assert a.add(12, 3000, True, b"\x00end") == []
    frames = a.add(13, 6000, False, b"\x10\x00start") + a.add(14, 6000, True, b"\x00end")
    assert a.frames_dropped == 1
    assert [f.timestamp for f in frames] == [6000] and frames[0].discontinuity
    h = FrameAssembler("h264")
    fu_middle, fu_end = bytes((0x7C, 0x05)) + b"mid", bytes((0x7C, 0x45)) + b"end"
    assert h.add(1, 90, False, fu_middle) + h.add(2, 90, True, fu_end) == [] and h.frames_dropped == 1
    whole = h.add(3, 180, True, bytes((0x65,)) + b"idr")
    assert len(whole) == 1 and whole[0].keyframe
