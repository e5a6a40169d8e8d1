"""Our RTSP client: RTP depacketization (H.264, H.265), SDP, Digest/Basic auth, real and broken servers."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.rtp import RtcpPacket, RtcpRrPacket, RtcpSenderInfo, RtcpSrPacket, RtpPacket

from cameras.ingest import CameraIngest, nal_types
from cameras.rtsp import Depacketizer, RtspAuthError, RtspClient, RtspError, SdpError
from cameras.rtsp.client import _Auth
from cameras.rtsp.depacketize import Reorderer, rtp_payload
from cameras.rtsp.sdp import parse_video_track, resolve_control
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.engine import Engine
from mediaserver.engine.aiortc_hooks import h264_payloads
from mediaserver.storage import Database, Store

START = b"\x00\x00\x00\x01"


def encoded_h264(frames: int = 12, gop: int = 5) -> list[tuple[bytes, bool]]:
    """Return real libx264 access units (Annex-B) with their keyframe flags."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 360, "yuv420p"
    codec.options = {"preset": "ultrafast", "g": str(gop), "bf": "0", "sc_threshold": "0", "crf": "18"}
    out: list[tuple[bytes, bool]] = []
    import numpy as np

    rng = np.random.default_rng(1)
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), format="rgb24")
        frame.pts = i
        out.extend((bytes(p), bool(p.is_keyframe)) for p in codec.encode(frame))
    out.extend((bytes(p), bool(p.is_keyframe)) for p in codec.encode(None))
    return out


def split_nals(au: bytes) -> list[bytes]:
    """Return an Annex-B access unit's NAL units without start codes."""
    parts = au.replace(START, b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


def rtp(payloads: list[bytes], ts: int, seq0: int, pt: int = 96, marker_last: bool = True) -> list[bytes]:
    """Wrap payloads of one access unit in RTP packets (aiortc's serializer)."""
    packets = []
    for i, payload in enumerate(payloads):
        pkt = RtpPacket(payload_type=pt, marker=int(marker_last and i == len(payloads) - 1),
                        sequence_number=(seq0 + i) % 65536, timestamp=ts, ssrc=1234, payload=payload)
        packets.append(pkt.serialize())
    return packets


class Collect:
    def __init__(self, want: int = 0) -> None:
        self.units: list[tuple[list[bytes], int, bool]] = []
        self.want = want
        self.enough = asyncio.Event()

    def __call__(self, nals: list[bytes], ts: int, keyframe: bool) -> None:
        self.units.append((nals, ts, keyframe))
        if self.want and len(self.units) >= self.want:
            self.enough.set()


# ------------------------------------------------------------------------------------------- depacketizer


def test_h264_round_trip_through_aiortc_packetizer_restores_every_access_unit() -> None:
    aus = encoded_h264()
    got = Collect()
    dep = Depacketizer("h264", 96, got)
    seq = 65530  # crosses the 16-bit sequence wrap
    kinds: set[int] = set()
    for i, (au, _) in enumerate(aus):
        payloads = h264_payloads(au)
        kinds.update(p[0] & 0x1F for p in payloads)
        for pkt in rtp(payloads, 3000 * i, seq):
            dep.push(pkt)
        seq += len(payloads)
    assert {24, 28} <= kinds, "the stream exercises STAP-A and FU-A"
    assert len(got.units) == len(aus) and dep.lost == 0 and dep.dropped_units == 0
    for (nals, ts, key), (i, (au, keyframe)) in zip(got.units, enumerate(aus), strict=True):
        assert nals == split_nals(au)
        assert ts == 3000 * i and key == keyframe
    # What the ingest publishes decodes.
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for nals, _, _ in got.units for f in decoder.decode(av.Packet(START + START.join(nals)))]
    assert len(decoded) >= len(aus) - 2 and decoded[0].width == 640


def test_h264_loss_drops_the_broken_unit_and_waits_for_the_next_keyframe() -> None:
    aus = encoded_h264(frames=11, gop=5)  # keyframes at 0, 5, 10
    assert [k for _, k in aus].count(True) == 3
    got = Collect()
    dep = Depacketizer("h264", 96, got)
    seq = 0
    for i, (au, _) in enumerate(aus):
        packets = rtp(h264_payloads(au), 3000 * i, seq)
        seq += len(packets)
        if i == 2:
            assert len(packets) > 2
            packets = packets[:1] + packets[2:]  # lose a middle FU-A fragment of frame 2
        for pkt in packets:
            dep.push(pkt)
    assert dep.lost == 1
    assert [ts // 3000 for _, ts, _ in got.units] == [0, 1, 5, 6, 7, 8, 9, 10]
    assert dep.dropped_units == 3  # frame 2 (broken), 3 and 4 (no reference)


def test_a_fragment_that_never_ends_is_bounded() -> None:
    from cameras.rtsp import depacketize

    got = Collect()
    dep = Depacketizer("h264", 96, got)
    chunk = bytes((0x7C, 0x85)) + bytes(1400)  # FU-A start of an IDR, then only middles, never an end
    middle = bytes((0x7C, 0x05)) + bytes(1400)
    dep.push(rtp([chunk], 0, 0, marker_last=False)[0])
    for seq in range(1, depacketize.MAX_ACCESS_UNIT_BYTES // 1400 + 10):
        dep.push(rtp([middle], 0, seq, marker_last=False)[0])
    held = sum(map(len, dep._fragments or [])) + sum(map(len, dep._nals))
    assert held < 1500 * 10 and not got.units  # dropped when it passed the bound, not kept growing


def test_h264_missing_marker_and_foreign_payload_types() -> None:
    aus = encoded_h264(frames=3)
    got = Collect()
    dep = Depacketizer("h264", 96, got)
    seq = 0
    for i, (au, _) in enumerate(aus):
        packets = rtp(h264_payloads(au), 3000 * i, seq, marker_last=False)  # a camera that never sets it
        seq += len(packets)
        for pkt in packets:
            dep.push(pkt)
        dep.push(rtp([b"\x01\x02"], 3000 * i, 0, pt=97)[0])  # another stream's payload type: ignored
    assert len(got.units) == 2  # the last one completes only when the next timestamp arrives
    dep.push(b"\x80")  # malformed
    assert dep.malformed == 1


def test_h265_aggregation_and_fragmentation() -> None:
    def nal(kind: int, body: bytes) -> bytes:
        return bytes(((kind << 1) & 0x7E, 1)) + body

    vps, sps, pps = nal(32, b"v" * 10), nal(33, b"s" * 20), nal(34, b"p" * 5)
    idr = nal(19, bytes(range(256)) * 12)
    trail = nal(1, b"t" * 100)
    ap = bytes(((48 << 1), 1)) + b"".join(len(n).to_bytes(2, "big") + n for n in (vps, sps, pps))
    body = idr[2:]
    chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    fus = []
    for i, chunk in enumerate(chunks):
        fu = 19 | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        fus.append(bytes(((49 << 1), 1, fu)) + chunk)
    got = Collect()
    dep = Depacketizer("h265", 96, got)
    packets = rtp([ap, *fus], 9000, 10) + rtp([trail], 12000, 10 + 1 + len(fus))
    for pkt in packets:
        dep.push(pkt)
    assert got.units == [([vps, sps, pps, idr], 9000, True), ([trail], 12000, False)]


def test_udp_reordering_is_undone_and_a_real_loss_is_given_up_after_the_window() -> None:
    aus = encoded_h264(frames=11, gop=5)
    packets: list[bytes] = []
    seq = 65500  # crosses the wrap
    for i, (au, _) in enumerate(aus):
        payloads = h264_payloads(au)
        packets += rtp(payloads, 3000 * i, seq)
        seq += len(payloads)
    shuffled = list(packets)
    for k in range(3, len(shuffled) - 4, 7):  # swap neighbours, and move one packet 3 places later
        shuffled[k], shuffled[k + 1] = shuffled[k + 1], shuffled[k]
        shuffled.insert(k + 4, shuffled.pop(k + 2))
    assert shuffled != packets
    got = Collect()
    dep = Depacketizer("h264", 96, got)
    reorder = Reorderer(dep.push, window=8)
    for pkt in shuffled:
        reorder.push(pkt)
    reorder.push(packets[5])  # a duplicate long after: dropped as late
    assert dep.lost == 0 and dep.dropped_units == 0 and reorder.reordered > 0 and reorder.late == 1
    assert len(got.units) == len(aus)

    got = Collect()
    dep = Depacketizer("h264", 96, got)
    reorder = Reorderer(dep.push, window=8)
    lost = len(packets) // 3
    for pkt in packets[:lost] + packets[lost + 1:]:
        reorder.push(pkt)
    assert dep.lost == 1 and not reorder.held  # given up after 8 held packets, then all passed on in order
    assert len(got.units) < len(aus) and got.units[-1][1] == 3000 * (len(aus) - 1)


def test_rtp_header_extension_csrc_and_padding() -> None:
    payload = b"\x65payload"
    header = bytes((0x80 | 0x20 | 0x10 | 1, 0x80 | 96)) + (7).to_bytes(2, "big") + (1234).to_bytes(4, "big")
    header += (1).to_bytes(4, "big") + (2).to_bytes(4, "big")  # SSRC, one CSRC
    header += b"\xbe\xde\x00\x01" + b"\x10\xaa\x00\x00"  # one-word header extension
    packet = header + payload + b"\x00\x00\x03"  # 3 bytes of padding
    assert rtp_payload(packet) == (96, 7, True, 1234, payload)
    assert rtp_payload(b"\x40" + bytes(20)) is None  # RTP version 1
    assert rtp_payload(bytes((0x8F,)) + bytes(12)) is None  # 15 CSRCs announced, none there


# --------------------------------------------------------------------------------------------------- SDP


SPROP = "Z0LAH9kAUAW7ARAAAAMAEAAAAwPI8YMkgA==,aMuDyyA="
GST_SDP = f"""v=0
o=- 1188340656180883 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
t=0 0
a=tool:GStreamer
a=type:broadcast
a=control:*
a=range:npt=now-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:2000
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets={SPROP}
a=control:stream=0
"""


def test_sdp_video_track_from_gstreamer_and_quirky_cameras() -> None:
    track = parse_video_track(GST_SDP, "rtsp://127.0.0.1:8554/main/")
    assert (track.codec, track.payload_type, track.clock_rate) == ("h264", 96, 90000)
    assert track.control == "rtsp://127.0.0.1:8554/main/stream=0"
    sps, pps = base64.b64decode("Z0LAH9kAUAW7ARAAAAMAEAAAAwPI8YMkgA=="), base64.b64decode("aMuDyyA=")
    assert track.parameter_sets == START + sps + START + pps
    hevc = ("v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\nm=video 0 RTP/AVP 98\r\n"
            "a=rtpmap:98 H265/90000\r\na=fmtp:98 sprop-vps=QAEMAf//;sprop-sps=QgEB;sprop-pps=RAHA\r\n"
            "a=control:rtsp://10.0.0.9/Streaming/trackID=1\r\n")
    track = parse_video_track(hevc, "rtsp://10.0.0.9/Streaming")
    assert track.codec == "h265" and track.control == "rtsp://10.0.0.9/Streaming/trackID=1"
    assert track.parameter_sets.count(START) == 3
    with pytest.raises(SdpError, match="the stream has no video"):
        parse_video_track("v=0\r\nm=audio 0 RTP/AVP 0\r\n", "rtsp://h/")
    with pytest.raises(SdpError, match=r"the stream is JPEG, not H\.264 or H\.265"):
        parse_video_track("v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n", "rtsp://h/")
    with pytest.raises(SdpError, match="packetization-mode=2"):
        parse_video_track("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                          "a=fmtp:96 packetization-mode=2\r\n", "rtsp://h/")
    with pytest.raises(SdpError, match="sprop-max-don-diff"):
        parse_video_track("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n"
                          "a=fmtp:96 sprop-max-don-diff=2\r\n", "rtsp://h/")
    assert resolve_control("rtsp://h/a", "*") == "rtsp://h/a"
    assert resolve_control("rtsp://h/a/", "track1") == "rtsp://h/a/track1"


def test_digest_known_answer_and_basic(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 2617 §3.5's worked example (the method and URI are what the digest covers).
    auth = _Auth("Mufasa", "Circle Of Life")
    assert auth.header("GET", "/dir/index.html") is None  # nothing before a challenge
    assert auth.challenge(['Digest realm="testrealm@host.com", qop="auth,auth-int", '
                           'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'],
                          had_auth=False)
    monkeypatch.setattr("cameras.rtsp.client.os.urandom", lambda n: bytes.fromhex("0a4f113b"))
    header = auth.header("GET", "/dir/index.html")
    assert header is not None and 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "nc=00000001" in header
    assert not auth.challenge(['Digest realm="r", nonce="n2"'], had_auth=True), "refused: do not loop"
    assert auth.challenge(['Digest realm="r", nonce="n3", stale=TRUE'], had_auth=True), "stale: retry"
    basic = _Auth("user", "p:w")
    assert basic.challenge(['Basic realm="cam"'], had_auth=False)
    assert basic.header("DESCRIBE", "rtsp://h/") == "Basic " + base64.b64encode(b"user:p:w").decode()
    assert not _Auth(None, None).challenge(['Basic realm="cam"'], had_auth=False)


# ---------------------------------------------------------------------------------------- real servers


def spec(auth: dict[str, str]) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": 0, "auth": auth,
            "mounts": [{"path": "/main", "width": 320, "height": 180, "fps": 10, "bitrate_kbps": 300, "gop": 10,
                        "scene": {"kind": "scene", "noise": 4, "background": 80, "objects": []}}]}


@pytest.fixture
async def basic_server() -> AsyncIterator[RtspServerProcess]:
    srv = RtspServerProcess(spec({"mode": "basic", "user": "op", "password": "Pa ss@9"}))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def pull(client: RtspClient, units: int) -> Collect:
    got = Collect(units)
    track = await asyncio.wait_for(client.open(), 5)
    dep = Depacketizer(track.codec, track.payload_type, got)
    client.on_packet = dep.push
    client.receiver = dep
    await asyncio.wait_for(client.play(), 5)
    await asyncio.wait_for(got.enough.wait(), 5)
    return got


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_basic_auth_camera_over_tcp_and_udp_within_the_port_range(
        basic_server: RtspServerProcess, transport: str) -> None:
    url = basic_server.url("/main")
    assert "Pa%20ss%409" in url or "Pa ss@9" not in url  # credentials are percent-encoded in the URL
    client = RtspClient(url, lambda p: None, transport="udp" if transport == "udp" else "tcp",
                        udp_ports=(41000, 41100))
    try:
        got = await pull(client, 12)
        if transport == "udp":
            ports = [t.get_extra_info("sockname")[1] for t in client._udp]
            assert 41000 <= ports[0] < 41100 and ports[1] == ports[0] + 1 and ports[0] % 2 == 0
            assert client._server_rtcp is not None and client._server_rtcp[0] == "127.0.0.1"
        client.send_receiver_report()  # to the server's RTCP port (UDP) or the odd channel (TCP)
        assert client.reports_sent == 1
        count = len(got.units)
        await asyncio.sleep(0.3)
        assert len(got.units) > count and not client.closed.done(), "the camera took the report and streams on"
        assert "Pa" not in client.url and client.session
        assert any(key for _, _, key in got.units)
        assert all(0 < b[1] - a[1] < 90_000 for a, b in itertools.pairwise(got.units))
    finally:
        await client.close()
        await client.close()
    assert client.closed.done()
    bad = RtspClient(url.replace("Pa%20ss%409", "wrong"), lambda p: None)
    try:
        with pytest.raises(RtspAuthError, match=r"refused the credentials \(401\)"):
            await asyncio.wait_for(bad.open(), 5)
    finally:
        await bad.close()
    missing = RtspClient(basic_server.url("/nope"), lambda p: None)
    try:
        with pytest.raises(RtspError, match="DESCRIBE answered 404"):
            await asyncio.wait_for(missing.open(), 5)
    finally:
        await missing.close()


# A broken camera of our own on loopback: it answers RTSP, then streams garbage between valid packets, or
# announces a codec we cannot take.


STREAMS: set[asyncio.Task[Any]] = set()


async def fake_camera(sdp: str, stream: Callable[[asyncio.StreamWriter], Any] | None,
                      from_client: list[tuple[int, bytes]] | None = None,
                      redirect: Callable[[], str] | None = None) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":  # interleaved data from the client (RTCP receiver reports)
                    header = await reader.readexactly(3)
                    data = await reader.readexactly(int.from_bytes(header[1:3], "big"))
                    if from_client is not None:
                        from_client.append((header[0], data))
                    continue
                head = first + await reader.readuntil(b"\r\n\r\n")
                method = head.split(b" ", 1)[0].decode()
                cseq = next(line.split(b":")[1].strip() for line in head.split(b"\r\n")
                            if line.lower().startswith(b"cseq"))
                extra = ""
                body = b""
                if method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
                elif method == "DESCRIBE":
                    body = sdp.encode()
                    extra = f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n"
                elif method == "SETUP":
                    extra = "Transport: RTP/AVP/TCP;unicast;interleaved=4-5\r\nSession: abc;timeout=2\r\n"
                if method == "DESCRIBE" and redirect is not None:  # an NVR sending us to the recorder
                    writer.write(f"RTSP/1.0 302 Moved\r\nCSeq: {cseq.decode()}\r\nLocation: {redirect()}\r\n\r\n"
                                 .encode())
                    continue
                writer.write(f"RTSP/1.0 200 OK\r\nCSeq: {cseq.decode()}\r\n{extra}\r\n".encode() + body)
                if method == "PLAY" and stream is not None:
                    task = asyncio.ensure_future(stream(writer))
                    STREAMS.add(task)
                    task.add_done_callback(STREAMS.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_broken_stream_resyncs_keeps_the_session_alive_and_reports_reception() -> None:
    aus = encoded_h264(frames=10, gop=5)
    sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
    sr = RtcpSrPacket(ssrc=1234, sender_info=RtcpSenderInfo(ntp_timestamp=(0x12345678 << 32) | 0x9ABC0000,
                                                              rtp_timestamp=0, packet_count=1, octet_count=1))
    from_client: list[tuple[int, bytes]] = []

    async def stream(writer: asyncio.StreamWriter) -> None:
        sr_bytes = bytes(sr)
        writer.write(b"$\x05" + len(sr_bytes).to_bytes(2, "big") + sr_bytes)  # the camera's sender report
        seq = 0
        for i, (au, _) in enumerate(aus):
            for pkt in rtp(h264_payloads(au), 3000 * i, seq):
                seq += 1
                writer.write(b"$\x04" + len(pkt).to_bytes(2, "big") + pkt)
                writer.write(b"$\x05\x00\x02rr")  # RTCP on the odd channel: ignored
            if i == 3:
                writer.write(b"\x17garbage bytes from a broken camera")
            await asyncio.sleep(0.01)

    server = await fake_camera(sdp, stream, from_client)
    port = server.sockets[0].getsockname()[1]
    client = RtspClient(f"rtsp://127.0.0.1:{port}/cam", lambda p: None)
    try:
        got = await pull(client, 9)
        assert client.rtp_channel == 4 and client.desyncs >= 1
        assert client.session == "abc" and client.keepalive_interval_s == 1.0
        assert [ts // 3000 for _, ts, _ in got.units][:9] == list(range(9))
        client.keepalive()  # answered 200 and ignored: the session stays up
        assert client.receiver is not None
        reported_seq = client.receiver.extended_max_seq  # the stream flows on after the report
        client.send_receiver_report()
        await asyncio.sleep(0.1)
        assert not client.closed.done()
        [(channel, data)] = from_client
        [rr] = RtcpPacket.parse(data)  # aiortc's parser reads what we sent
        assert channel == 5 and isinstance(rr, RtcpRrPacket) and rr.ssrc == client._rtcp_ssrc
        [block] = rr.reports
        assert block.ssrc == 1234 and block.highest_sequence == reported_seq
        assert block.packets_lost == 0 and block.fraction_lost == 0
        assert block.lsr == 0x56789ABC and 0 < block.dlsr < 65536  # the SR's middle 32 bits, under 1 s ago
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "index.db")
    await db.open()
    st = Store(db)
    await st.cameras.upsert("cam", "Camera", "config")
    try:
        yield st
    finally:
        await db.close()


async def test_a_camera_with_an_unsupported_codec_is_offline_with_a_clear_reason(store: Store) -> None:
    sdp = "v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=control:track1\r\n"
    server = await fake_camera(sdp, None)
    port = server.sockets[0].getsockname()[1]
    ingest = CameraIngest("cam", "main", f"rtsp://u:secret@127.0.0.1:{port}/cam", Engine(), store,
                          backoff_initial_s=5.0)
    try:
        await ingest.start()
        await ingest.wait_state("offline", timeout_s=5.0)
        assert ingest.error == "connect failed: the stream is JPEG, not H.264 or H.265", ingest.error
    finally:
        await ingest.stop()
        server.close()
        await server.wait_closed()


async def test_parameter_sets_sent_as_their_own_unit_reach_the_keyframe(store: Store) -> None:
    aus = encoded_h264(frames=6, gop=5)
    sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"  # no sprop

    async def stream(writer: asyncio.StreamWriter) -> None:
        seq = 0
        for i, (au, _) in enumerate(aus):
            nals = split_nals(au)
            units = [[n for n in nals if n[0] & 0x1F in (7, 8)], [n for n in nals if n[0] & 0x1F not in (7, 8)]]
            for k, unit in enumerate(u for u in units if u):
                for pkt in rtp(h264_payloads(START + START.join(unit)), 3000 * i + k, seq):
                    seq += 1
                    writer.write(b"$\x04" + len(pkt).to_bytes(2, "big") + pkt)
            await asyncio.sleep(0.02)

    server = await fake_camera(sdp, stream)
    port = server.sockets[0].getsockname()[1]
    engine = Engine()
    ingest = CameraIngest("cam", "main", f"rtsp://127.0.0.1:{port}/cam", engine, store)
    sink = engine.new_sink("rec", "video")
    try:
        await ingest.start()
        ingest.attach_sink(sink)
        frames = [(await asyncio.wait_for(sink.next(), 5))[0] for _ in range(6)]
        assert [f.keyframe for f in frames] == [True, False, False, False, False, True]
        for frame in frames:
            assert frame.data is not None
            types = nal_types(frame.data)
            assert ({7, 8, 5} <= types) if frame.keyframe else not types & {7, 8}, types
    finally:
        sink.close()
        await ingest.stop()
        server.close()
        await server.wait_closed()


@pytest.mark.slow
async def test_rtsps_camera_over_tls_with_digest_auth(store: Store) -> None:
    srv = RtspServerProcess({**spec({"mode": "digest", "user": "op", "password": "Tls-Pass-1"}), "tls": True})
    await srv.start()
    url = srv.url("/main")
    assert url.startswith("rtsps://")
    client = RtspClient(url, lambda p: None, transport="udp")  # media stays inside TLS: interleaved
    ingest = CameraIngest("cam", "main", url, Engine(), store)
    try:
        got = await pull(client, 5)
        assert client.transport_kind == "tcp" and client.tls and any(key for _, _, key in got.units)
        await ingest.start()
        await ingest.wait_state("online", timeout_s=5.0)
        plain = RtspClient(url.replace("rtsps://", "rtsp://"), lambda p: None)
        try:  # the same port without TLS: a failure, not a hang
            with pytest.raises((RtspError, TimeoutError)):
                await asyncio.wait_for(plain.open(), 3)
        finally:
            await plain.close()
        # A frozen TLS camera never sends its close_notify: stopping must not wait for it (30 s by default).
        srv.pause()
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        await ingest.stop()
        assert time.monotonic() - t0 < 3.0
    finally:
        srv.resume()
        await client.close()
        await ingest.stop()
        await srv.stop()


async def test_describe_redirects_are_followed_a_few_times() -> None:
    aus = encoded_h264(frames=6, gop=5)
    sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"

    async def stream(writer: asyncio.StreamWriter) -> None:
        seq = 0
        for i, (au, _) in enumerate(aus):
            for pkt in rtp(h264_payloads(au), 3000 * i, seq):
                seq += 1
                writer.write(b"$\x04" + len(pkt).to_bytes(2, "big") + pkt)
            await asyncio.sleep(0.01)

    real = await fake_camera(sdp, stream)
    real_url = f"rtsp://127.0.0.1:{real.sockets[0].getsockname()[1]}/recorder/cam"
    nvr = await fake_camera(sdp, None, redirect=lambda: real_url)
    looping_port: list[int] = []
    looping = await fake_camera(sdp, None, redirect=lambda: f"rtsp://127.0.0.1:{looping_port[0]}/again")
    looping_port.append(looping.sockets[0].getsockname()[1])
    client = RtspClient(f"rtsp://u:p@127.0.0.1:{nvr.sockets[0].getsockname()[1]}/cam", lambda p: None)
    loop_client = RtspClient(f"rtsp://127.0.0.1:{looping_port[0]}/cam", lambda p: None)
    try:
        got = await pull(client, 5)
        assert client.url == real_url and client._auth.user == "u"  # credentials kept across the redirect
        assert got.units[0][2]
        with pytest.raises(RtspError, match="more than 3 redirects"):
            await asyncio.wait_for(loop_client.open(), 5)
    finally:
        await client.close()
        await loop_client.close()
        for server in (real, nvr, looping):
            server.close()
            await server.wait_closed()


async def test_garbage_from_a_camera_never_raises() -> None:
    """Random bytes into the RTSP reader and random RTP into both depacketizers: counted, never an exception."""
    import random

    from cameras.rtsp.client import _ControlProtocol

    rng = random.Random(7)
    got = Collect()
    deps = [Depacketizer("h264", 96, got), Depacketizer("h265", 96, got)]
    for _ in range(20_000):
        header = bytes((0x80, 96 | (0x80 if rng.random() < 0.3 else 0))) + rng.randbytes(10)
        payload = rng.randbytes(rng.randrange(0, 40))
        for dep in deps:
            dep.push(header + payload)
            dep.push(rng.randbytes(rng.randrange(0, 20)))
    assert all(dep.packets > 0 and dep.malformed > 0 for dep in deps)

    client = RtspClient("rtsp://127.0.0.1:1/cam", deps[0].push)
    protocol = _ControlProtocol(client)
    for _ in range(3000):
        chunk = rng.choice([rng.randbytes(rng.randrange(1, 300)), b"$\x00" + rng.randbytes(rng.randrange(0, 50)),
                            b"RTSP/1.0 200 OK\r\nCSeq: " + rng.randbytes(8) + b"\r\nContent-Length: 3\r\n\r\nabc"])
        protocol.data_received(chunk)
    assert client.desyncs > 0 and not protocol.closed.done()
