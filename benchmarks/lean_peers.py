"""Lean client peers for ``conference40_hd``: many sites in one process at as little client CPU as we can.

A 2-core box must carry the server *and* 40 sites (~9 k packets/s published, ~20–30 k received), so the
clients skip everything a site does not need to be a load generator:

- Signalling, ICE, DTLS and SRTP key setup are aiortc's, through ``tests.conf_peer.SitePeer`` (the server
  cannot tell these from the test peers).
- **Publishing** bypasses aiortc's sender: the pre-encoded frames are packetized once (aiortc's own VP8
  payloader, shared by every peer of the process); per packet we copy a per-peer RTP header template
  (its SSRC, payload type, mid, audio level), set sequence number, timestamp, marker and abs-send-time,
  SRTP-protect with the peer's DTLS-derived session and ``sendto`` on the nominated ICE pair's socket. One
  timer per process sends every peer's due packets each 20 ms.
- **Receiving** is counted below the SRTP layer: SRTP leaves the RTP header in clear, so a hook on the ICE
  socket's ``datagram_received`` counts packets, bytes and frames (marker bits; each Opus packet) by SSRC
  and drops the datagram — no unprotect, no parse, no jitter buffer. STUN, DTLS and RTCP still go to aiortc.

Run by ``bench_conference.conference40_hd`` as ``python -m benchmarks.lean_peers`` with a JSON job on stdin;
commands on stdin (``snap``, ``quit``), one JSON line per reply on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import struct
import sys
import time
from collections import deque
from typing import Any

import aiohttp
import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, RtpPacket

from mediaserver.engine import aiortc_hooks as hooks
from tests.conf_peer import VIDEO_TB, SitePeer

FPS = 25
TICK_S = 0.005
PACE_PACKETS = 6  # per stream per tick: ≤ 1200 packets/s (~11 Mbit/s), a keyframe leaves in ~30 ms
HISTORY = 512
ABS_SENTINEL = 0x5A_A5_5A


def packetize(frames: list[bytes]) -> list[list[bytes]]:
    """Return each pre-encoded VP8 frame as aiortc's RTP payloads (descriptor + partition chunks)."""
    enc = Vp8Encoder()
    out = []
    for i, data in enumerate(frames):
        pkt = av.Packet(data)
        pkt.pts, pkt.time_base = i * (90_000 // FPS), VIDEO_TB
        out.append(enc.pack(pkt)[0])
    return out


class Stream:
    """One published stream of one peer, sent straight to the socket."""

    def __init__(self, peer: SitePeer, name: str, frames: list[list[bytes]], interval: float, ts_step: int,
                 audio_level: int | None, offset: int = 0) -> None:
        pc = peer.pc
        assert pc is not None
        t = peer_transceiver(peer, name)
        sender = t.sender
        dtls = sender.transport
        self.srtp = dtls._tx_srtp
        pair = dtls.transport._connection._nominated[1]
        self.sendto = pair.protocol.transport.sendto
        self.addr = pair.remote_addr
        pt = peer.publish_codecs[name].payloadType
        self.peer, self.name = peer, name
        tpl = RtpPacket(payload_type=pt, sequence_number=0, timestamp=0, ssrc=sender._ssrc)
        tpl.extensions.mid = t.mid
        self.abs_at = -1
        if audio_level is not None:
            tpl.extensions.audio_level = (False, -audio_level)
        else:
            tpl.extensions.abs_send_time = ABS_SENTINEL
        header = tpl.serialize(dtls._rtp_header_extensions_map)
        if audio_level is None:
            self.abs_at = header.find(ABS_SENTINEL.to_bytes(3, "big"))
            assert self.abs_at > 0, "abs-send-time not negotiated"
        self.header = header
        self.frames = frames
        self.offset = offset  # where in the loop this peer starts: peers' keyframes do not all coincide
        self.interval = interval
        self.ts_step = ts_step
        self.seq = 0
        self.sent = 0  # frames
        self.packets = 0
        self.resent = 0
        self.start = 0.0
        self.queue: deque[tuple[bytes, int, bool]] = deque()  # (payload, timestamp, marker) waiting for the pacer
        self.history: dict[int, bytes] = {}  # seq % HISTORY → protected packet, for NACKs
        sender._handle_rtcp_packet = self._rtcp  # type: ignore[method-assign]

    def send_due(self, now: float) -> None:
        due = int((now - self.start) / self.interval) + 1
        while self.sent < due:
            payloads = self.frames[(self.sent + self.offset) % len(self.frames)]
            ts = (self.sent * self.ts_step) & 0xFFFFFFFF
            last = len(payloads) - 1
            self.queue.extend((p, ts, i == last) for i, p in enumerate(payloads))
            self.sent += 1
        # A pacer, as browsers have: at most PACE_PACKETS per tick, so a keyframe leaves over a few ticks.
        pack_into = struct.pack_into
        abs_send = ((hooks.fast_ntp_time() >> 14) & 0xFFFFFF).to_bytes(3, "big") if self.abs_at > 0 else b""
        for _ in range(min(PACE_PACKETS, len(self.queue))):
            payload, ts, marker = self.queue.popleft()
            hdr = bytearray(self.header)
            pack_into("!HI", hdr, 2, self.seq, ts)
            if marker:
                hdr[1] |= 0x80
            if abs_send:
                hdr[self.abs_at:self.abs_at + 3] = abs_send
            data = self.srtp.protect(bytes(hdr) + payload)
            self.history[self.seq % HISTORY] = data
            self.sendto(data, self.addr)
            self.seq = (self.seq + 1) & 0xFFFF
            self.packets += 1

    async def _rtcp(self, packet: Any) -> None:
        # The server's NACKs: resend the packet as protected the first time (SRTP accepts it: it was never
        # received). Other RTCP (RR, REMB, PLI: the loops' GOP answers PLIs soon enough) is ignored.
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                data = self.history.get(seq % HISTORY)
                if data is not None and int.from_bytes(data[2:4], "big") == seq:
                    self.sendto(data, self.addr)
                    self.resent += 1


def peer_transceiver(peer: SitePeer, name: str) -> Any:
    mid = peer.publish_mids[name]
    assert peer.pc is not None
    return next(t for t in peer.pc.getTransceivers() if t.mid == mid)


class Counter:
    """Counts one slot's packets, bytes and frames from the clear RTP header."""

    __slots__ = ("bytes", "frames", "kind", "packets", "slot")

    def __init__(self, slot: str, kind: str) -> None:
        self.slot, self.kind = slot, kind
        self.packets = self.bytes = self.frames = 0


def hook_receive(peer: SitePeer) -> dict[int, Counter]:
    """Count the peer's incoming RTP on its ICE sockets by SSRC, below SRTP; the rest goes to aiortc."""
    assert peer.pc is not None
    counters: dict[int, Counter] = {}
    dtls = None
    for t in peer.pc.getTransceivers():
        if t.mid in peer.slots:
            rec = peer.slots[t.mid]
            dtls = t.receiver.transport
            rtx = t.receiver._RTCRtpReceiver__rtx_ssrc  # RTX SSRC → media SSRC: retransmissions are not counted
            for ssrc, receiver in dtls._rtp_router.ssrc_table.items():
                if receiver is t.receiver and ssrc not in rtx:
                    counters[ssrc] = Counter(rec.name, rec.kind)
    assert dtls is not None
    for protocol in dtls.transport._connection._protocols:
        stock = protocol.datagram_received

        def fast(data: bytes, addr: Any, stock: Any = stock) -> None:
            b1 = data[1]
            if 127 < data[0] < 192 and not 191 < b1 < 209:  # RTP (SRTP: header in clear), not RTCP
                c = counters.get(int.from_bytes(data[8:12], "big"))
                if c is not None:
                    c.packets += 1
                    c.bytes += len(data)
                    if b1 & 0x80 or c.kind == "audio":
                        c.frames += 1
                return
            stock(data, addr)

        protocol.datagram_received = fast
    return counters


async def never() -> None:
    await asyncio.Event().wait()


async def run(job: dict[str, Any]) -> None:
    media = pickle.loads(open(job["media"], "rb").read())  # noqa: ASYNC230,SIM115 - read once at start
    hd = [packetize(f) for f in media["hd"]]
    thumb = [packetize(f) for f in media["thumb"]]
    opus = [[p] for p in media["opus"]]
    loop = asyncio.get_running_loop()
    peers: list[SitePeer] = []
    streams: list[Stream] = []
    counters: list[tuple[str, dict[int, Counter]]] = []
    async with aiohttp.ClientSession() as http:
        for site in job["sites"]:
            p = SitePeer(http, job["base"], job["room"], site["token"], audio=False, count_only=True, lean=True)
            peers.append(p)
            await p.join()
        # Wait for every peer's DTLS (SRTP keys) and ICE pair.
        for _ in range(400):
            if all(p.pc is not None and p.pc.connectionState == "connected" for p in peers):
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("peers did not connect: " + ",".join(str(p.pc and p.pc.connectionState)
                                                                     for p in peers))
        for _ in range(100):  # receivers register their SSRCs and senders learn their codec just after DTLS
            if all(len(p.publish_codecs) == len(p.publish_mids) for p in peers):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        start = time.monotonic()
        for p, site in zip(peers, job["sites"], strict=True):
            i = site["seed"]
            level = -20 if site["loud"] else -110
            for name, frames, interval, step, lvl in (("video", hd[i % len(hd)], 1 / FPS, 90_000 // FPS, None),
                                                      ("thumb", thumb[i % len(thumb)], 1 / FPS, 90_000 // FPS, None),
                                                      ("audio", opus, 0.02, 960, level)):
                s = Stream(p, name, frames, interval, step, lvl, offset=(i * 7) % len(frames))
                s.start = start + (hash(site["site"]) % 40) / 1000  # spread peers over the tick
                streams.append(s)
            cs = hook_receive(p)
            if len({c.slot for c in cs.values()}) != len(p.slots):
                raise RuntimeError(f"{site['site']}: {len(cs)} receive SSRCs known for {len(p.slots)} slots")
            counters.append((site["site"], cs))

        async def pump() -> None:
            nxt = loop.time()
            while True:
                now = time.monotonic()
                for s in streams:
                    s.send_due(now)
                nxt += TICK_S
                await asyncio.sleep(max(0.0, nxt - loop.time()))

        pumping = asyncio.ensure_future(pump())
        print(json.dumps({"ready": True}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if line in ("", "quit"):
                break
            if line == "snap":
                print(json.dumps({
                    "sent": {p.welcome["site"] if p.welcome else "": {s_.name: s_.sent for s_ in streams_of(streams, p)}
                             for p in peers},
                    "slots": {site: [{"slot": c.slot, "kind": c.kind, "frames": c.frames, "packets": c.packets,
                                      "bytes": c.bytes, "assigned": assigned(peers, site, c.slot)}
                                     for c in cs.values()] for site, cs in counters},
                    "pub_packets": sum(s.packets for s in streams),
                    "resent": sum(s.resent for s in streams),
                }), flush=True)
        pumping.cancel()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


def streams_of(streams: list[Stream], peer: SitePeer) -> list[Stream]:
    return [s for s in streams if s.peer is peer]


def assigned(peers: list[SitePeer], site: str, slot: str) -> str | None:
    p = next(p for p in peers if p.welcome and p.welcome["site"] == site)
    return next((r.assigned for r in p.slots.values() if r.name == slot), None)


def main() -> None:
    import uvloop

    job = json.loads(sys.stdin.readline())
    # Ctrl-C in try-40's terminal reaches these children too: the parent stops them, so no traceback here.
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run(job))


if __name__ == "__main__":
    main()
