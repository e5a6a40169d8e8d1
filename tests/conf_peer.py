"""A real aiortc site for tests and benchmarks: joins through the signalling WebSocket, publishes pre-encoded
video (and an encoded tone, whose loudness sets the RFC 6464 level), and records the encoded frames it
receives in each slot, tapped before any decoding, so tests can compare bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload
from aiortc.mediastreams import MediaStreamError

from mediaserver.engine import EncodedFrame, FrameAssembler, Source, is_keyframe
from mediaserver.engine import aiortc_hooks as hooks

VIDEO_TB = fractions.Fraction(1, 90_000)
FPS = 25


def encode_video(codec: str, n: int, seed: int, size: tuple[int, int] = (320, 180), gop: int = 10,
                 bitrate: int = 300_000, block: int = 1) -> list[bytes]:
    """Encode ``n`` frames of moving noise (distinct per seed) with a keyframe every ``gop`` frames.

    ``block`` > 1 makes the noise blocky (block x block pixels): VP8's rate control then holds the asked
    bitrate at 1280x720 (per-pixel noise overshoots it ~1.5–3×).
    """
    name = {"vp8": "libvpx", "h264": "libx264"}[codec]
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height = size
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.gop_size = gop
    ctx.bit_rate = bitrate
    if codec == "h264":
        ctx.options = {"profile": "baseline", "tune": "zerolatency", "preset": "ultrafast", "bf": "0",
                       "keyint_min": str(gop), "sc_threshold": "0"}
    else:
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // block, size[0] // block, 3), dtype=np.uint8)
    if block > 1:
        base = base.repeat(block, 0).repeat(block, 1)
    out: list[bytes] = []
    for i in range(n):
        img = np.roll(base, i * 4, axis=1)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for pkt in ctx.encode(frame):
            out.append(bytes(pkt))
    for pkt in ctx.encode(None):
        out.append(bytes(pkt))
    return out


class PacketTrack(MediaStreamTrack):
    """Sends pre-encoded frames in a loop at FPS; aiortc's sender only packetizes them."""

    kind = "video"

    def __init__(self, frames: list[bytes], fps: int = FPS) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        pkt = av.Packet(self.frames[self.sent % len(self.frames)])
        pkt.pts = self.sent * (90_000 // self.fps)
        pkt.time_base = VIDEO_TB
        self.sent += 1
        return pkt


class ToneTrack(MediaStreamTrack):
    """A 48 kHz tone; ``loud`` switches between speech level and near silence (sets the audio level)."""

    kind = "audio"

    def __init__(self, loud: bool = False) -> None:
        super().__init__()
        self.loud = loud
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n * 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(960) + self._n * 960) / 48_000
        amp = 8000 if self.loud else 3
        samples = (amp * np.sin(2 * math.pi * 440 * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = self._n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        self._n += 1
        return frame


def encode_opus(seconds: float = 1.0) -> list[bytes]:
    """Encode a 440 Hz tone as 20 ms mono Opus packets (48 kHz)."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = 48_000
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.bit_rate = 32_000
    out: list[bytes] = []
    for n in range(int(seconds * 50)):
        t = (np.arange(960) + n * 960) / 48_000
        samples = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = n * 960
        out.extend(bytes(p) for p in ctx.encode(frame))
    return out


class OpusLoop:
    """Pre-encoded Opus sent through a forwarding sender, with an RFC 6464 level (no client encoding)."""

    def __init__(self, packets: list[bytes], loud: bool) -> None:
        self.packets = packets
        self.loud = loud
        self.sent = 0
        self._start: float | None = None

    async def next_frame(self) -> tuple[list[bytes], int, int | None]:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent * 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        payload = self.packets[self.sent % len(self.packets)]
        self.sent += 1
        return [payload], self.sent * 960, -20 if self.loud else -110


async def feed_h264(source: Source, aus: list[bytes], stop: asyncio.Event, fps: int = FPS) -> None:
    """Play Annex-B access units into an engine source at ``fps``, as a camera ingest would."""
    i = 0
    start = time.monotonic()
    while not stop.is_set():
        payloads = hooks.h264_payloads(aus[i % len(aus)])
        source.publish(EncodedFrame(payloads, i * (90_000 // fps), is_keyframe("h264", payloads)))
        i += 1
        await asyncio.sleep(max(0.0, start + i / fps - time.monotonic()))


def nal_units(data: bytes) -> list[bytes]:
    """Split an Annex-B stream into NAL units (start codes of 3 or 4 bytes are equivalent)."""
    units, i, n = [], 0, len(data)
    starts = []
    while i < n - 2:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        units.append(data[s:end].rstrip(b"\x00") if k + 1 < len(starts) else data[s:end])
    return units


@dataclass
class SlotRecord:
    name: str
    kind: str
    frames: list[bytes] = field(default_factory=list)
    packets: int = 0
    assigned: str | None = None
    count: int = 0  # frames seen in count_only mode
    # The first frame lost its head before this peer's SRTP was ready (a DTLS start-up race, not the server's
    # doing): what follows up to the next keyframe cannot be checked against a keyframe start.
    lost_head: bool = False


class SitePeer:
    """One site in a meeting, driven by a test."""

    def __init__(self, http: aiohttp.ClientSession, base: str, room: str, token: str, *,
                 video: list[bytes] | None = None, loud: bool = False, codec: str = "vp8", audio: bool = True,
                 count_only: bool = False, opus: list[bytes] | None = None,
                 screen: list[bytes] | None = None, thumb: list[bytes] | None = None, lean: bool = False) -> None:
        self.http, self.base, self.room, self.token, self.codec = http, base, room, token, codec
        self.video = PacketTrack(video) if video else None
        self.screen = PacketTrack(screen) if screen else None
        self.thumb = PacketTrack(thumb) if thumb else None  # the camera's second, 320x180 layer
        self.audio = ToneTrack(loud) if audio and opus is None else None
        self.opus = OpusLoop(opus, loud) if opus is not None else None
        self.count_only = count_only  # benchmarks: count frames (marker bits), keep no bytes
        # benchmarks/lean_peers.py: publish senders stay idle (the benchmark writes SRTP to the socket itself);
        # their mids and negotiated codecs are kept here for it.
        self.lean = lean
        self.publish_mids: dict[str, str] = {}
        self.publish_codecs: dict[str, Any] = {}
        self.pc: RTCPeerConnection | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.messages: list[dict[str, Any]] = []
        self.slots: dict[str, SlotRecord] = {}  # by mid
        self.assignments: dict[str, str | None] = {}
        self.welcome: dict[str, Any] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._got: dict[str, asyncio.Event] = {}

    # ------------------------------------------------------------------------------------ protocol

    async def open(self) -> None:
        """Connect the WebSocket and send join."""
        self.ws = await self.http.ws_connect(f"{self.base}/api/v1/rooms/{self.room}/signal")
        await self.send({"type": "join", "v": 1, "token": self.token})
        self._reader = asyncio.ensure_future(self._read())

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(msg))

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            self.messages.append(data)
            if data["type"] == "slots":
                # May arrive before the offer is processed: keep assignments by mid, resolve on lookup.
                self.assignments.update(data["assign"])
                for mid, site in data["assign"].items():
                    if mid in self.slots:
                        self.slots[mid].assigned = site
            self._got.setdefault(data["type"], asyncio.Event()).set()

    async def wait_for(self, kind: str, wait_s: float = 10.0, where: Any = None) -> dict[str, Any]:
        """Return the first (or first matching) message of a type, waiting for it."""
        deadline = time.monotonic() + wait_s
        while True:
            for m in self.messages:
                if m["type"] == kind and (where is None or where(m)):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind!r} message; got {[m['type'] for m in self.messages]}")
            ev = self._got.setdefault(kind, asyncio.Event())
            ev.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), min(left, 0.2))

    async def join(self, attempts: int = 20) -> None:
        """Join (retrying while the room rate-limits joins), answer the server's offer, and publish."""
        for _ in range(attempts):
            await self.open()
            first = await self._first()
            if first.get("code") != "too_many_joins":
                break
            await self.close()
            self.messages.clear()
            await asyncio.sleep(1.0)
        self.welcome = await self.wait_for("welcome")
        offer = await self.wait_for("offer")
        pc = self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        publish = {mid: name for name, mid in offer["publish"].items()}
        self.publish_mids = dict(offer["publish"])
        for t in pc.getTransceivers():
            if t.mid in publish and self.lean:
                t.sender.replaceTrack(hooks.PlaceholderTrack(t.kind))
                t.sender._next_encoded_frame = self._idle_sender(publish[t.mid])  # type: ignore[method-assign]
                t.direction = "sendonly"
            elif t.mid in publish:
                name = publish[t.mid]
                track = {"audio": self.audio, "video": self.video, "screen": self.screen, "thumb": self.thumb}.get(name)
                if name == "audio" and self.opus is not None:
                    t.sender.replaceTrack(hooks.PlaceholderTrack("audio"))
                    hooks.make_forwarding_sender(t.sender, self.opus.next_frame, lambda: None)
                elif track is not None:
                    t.sender.replaceTrack(track)
                t.direction = "sendonly"
            elif t.mid in offer["slots"]:
                info = offer["slots"][t.mid]
                rec = self.slots[t.mid] = SlotRecord(info["name"], info["kind"], assigned=self.assignments.get(t.mid))
                t.direction = "recvonly"
                self._tap(t.receiver, rec)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "sdp": pc.localDescription.sdp})

    def _idle_sender(self, name: str) -> Any:
        async def idle(codec: Any) -> None:
            self.publish_codecs[name] = codec
            await asyncio.Event().wait()

        return idle

    async def _first(self) -> dict[str, Any]:
        while not self.messages:
            if self._reader is not None and self._reader.done():
                raise ConnectionError("signalling closed before any message")
            await asyncio.sleep(0.01)
        return self.messages[0]

    def _tap(self, receiver: Any, rec: SlotRecord) -> None:
        if self.count_only:
            def count(packet: Any, codec: Any) -> None:
                rec.packets += 1
                if packet.marker or rec.kind == "audio":
                    rec.count += 1

            hooks.tap_receiver(receiver, count)
            return
        if rec.kind == "audio":
            def on_audio(packet: Any, codec: Any) -> None:
                rec.packets += 1
                rec.frames.append(packet.payload)

            hooks.tap_receiver(receiver, on_audio)
            return
        assembler = FrameAssembler(self.codec)
        depay = vp8_depayload if self.codec == "vp8" else h264_depayload

        def on_video(packet: Any, codec: Any) -> None:
            rec.packets += 1
            for frame in assembler.add(packet.sequence_number, packet.timestamp, bool(packet.marker),
                                       packet.payload):
                if not rec.frames and assembler.frames_dropped:
                    rec.lost_head = True
                rec.frames.append(b"".join(depay(p) for p in frame.payloads))

        hooks.tap_receiver(receiver, on_video)

    def slot(self, name: str) -> SlotRecord:
        """Return the record of the slot with this name."""
        return next(s for s in self.slots.values() if s.name == name)

    async def close(self) -> None:
        """Leave: close the socket and the peer connection."""
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.pc is not None:
            await self.pc.close()


def frames_match(received: list[bytes], sent: list[bytes], codec: str) -> Iterator[bool]:
    """Yield, per received frame, whether it equals the sent frame it should be (in order, cyclically)."""
    norm = (lambda b: b) if codec == "vp8" else (lambda b: tuple(nal_units(b)))
    sent_n = [norm(s) for s in sent]
    if not received:
        return
    try:
        k = sent_n.index(norm(received[0]))
    except ValueError:
        yield False
        return
    for i, frame in enumerate(received):
        yield norm(frame) == sent_n[(k + i) % len(sent_n)]
