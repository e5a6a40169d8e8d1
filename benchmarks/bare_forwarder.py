"""The ceiling of this stack for ``pps_ceiling_ratio``: a bare SRTP packet forwarder, no aiortc at all.

Per incoming packet: SRTP unprotect once; then per subscriber leg: rewrite SSRC, sequence number and
timestamp in the RTP header, SRTP protect with that subscriber's own session, ``sendto``. On uvloop, with
pylibsrtp directly. No DTLS (keys are fixed and pre-shared: what is measured is the per-packet work), no
RTCP, no NACK history, no jitter handling, no layout — everything our server does besides is what the ratio
charges it for.

Two roles, each its own process:

- ``forward`` (measured): binds a UDP port, prints it, forwards for ``--warmup`` + ``--seconds``, then prints
  one JSON line with its own CPU (``time.process_time``) and packets in/out over the measured window.
- ``feed`` (the load, not measured): plays the packet mix — the same pre-packetized VP8 HD, thumbnail and
  Opus payloads as ``conference40_hd``, at their real rates and with the same pacer and keyframe stagger,
  each input stream with the fan-out the conference measured — and owns one UDP socket per subscriber as
  the destination, read empty as a site would (an unread, full socket makes ``sendto`` cheaper).

The mix is a JSON file: ``{"media": <pickle of the benchmark's frames>, "subscribers": N,
"streams": [{"kind": "hd"|"thumb"|"opus", "seed": i, "fanout": [subscriber index, ...]}, ...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import socket
import struct
import sys
import time
from collections import deque
from typing import Any

from pylibsrtp import Policy, Session

PROFILE = Policy.SRTP_PROFILE_AEAD_AES_256_GCM  # what aiortc negotiates between aiortc peers (its first choice)
KEY_LEN = 32 + 12
FPS = 25
PACE_PACKETS = 6  # per stream per 5 ms tick, as benchmarks/lean_peers.py


def key(n: int) -> bytes:
    return bytes((n * 7 + i) % 256 for i in range(KEY_LEN))


def session(n: int, inbound: bool) -> Session:
    policy = Policy(key=key(n), ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND,
                    srtp_profile=PROFILE)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


class Leg:
    __slots__ = ("addr", "seq", "srtp", "ssrc", "ts_off")

    def __init__(self, addr: tuple[str, int], srtp: Session, ssrc: int) -> None:
        self.addr, self.srtp, self.ssrc = addr, srtp, ssrc
        self.seq = ssrc & 0xFFFF
        self.ts_off = (ssrc * 2654435761) & 0xFFFFFFFF


class Forwarder(asyncio.DatagramProtocol):
    def __init__(self, routes: dict[int, list[Leg]]) -> None:
        self.routes = routes
        self.rx = session(0, inbound=True)
        self.packets_in = 0
        self.packets_out = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            plain = self.rx.unprotect(data)
        except Exception:
            return
        self.packets_in += 1
        legs = self.routes.get(int.from_bytes(plain[8:12], "big"))
        if not legs:
            return
        ts = int.from_bytes(plain[4:8], "big")
        buf = bytearray(plain)
        sendto = self.transport.sendto
        pack_into = struct.pack_into
        for leg in legs:
            pack_into("!HII", buf, 2, leg.seq, (ts + leg.ts_off) & 0xFFFFFFFF, leg.ssrc)
            leg.seq = (leg.seq + 1) & 0xFFFF
            sendto(leg.srtp.protect(bytes(buf)), leg.addr)
        self.packets_out += len(legs)


async def forward(mix: dict[str, Any], sinks: list[int], warmup: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    subs = [session(1 + i, inbound=False) for i in range(mix["subscribers"])]
    routes: dict[int, list[Leg]] = {}
    for n, stream in enumerate(mix["streams"]):
        routes[1000 + n] = [Leg(("127.0.0.1", sinks[s]), subs[s], 0x10000 * (n + 1) + s) for s in stream["fanout"]]
    fwd = Forwarder(routes)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # One socket takes what 40 sessions' sockets take in the server: give it their buffers together.
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", int(os.environ["BARE_PORT"])))
    await loop.create_datagram_endpoint(lambda: fwd, sock=sock)
    print(json.dumps({"listening": True}), flush=True)
    await asyncio.sleep(warmup)
    c0, i0, o0, t0 = time.process_time(), fwd.packets_in, fwd.packets_out, time.monotonic()
    await asyncio.sleep(seconds)
    c1, i1, o1, t1 = time.process_time(), fwd.packets_in, fwd.packets_out, time.monotonic()
    wall, cpu = t1 - t0, c1 - c0
    print(json.dumps({"cpu_pct": round(100 * cpu / wall, 1), "pps_in": round((i1 - i0) / wall),
                      "pps_out": round((o1 - o0) / wall),
                      "pps_per_core": round((o1 - o0) / cpu) if cpu else None}), flush=True)


def packetize(frames: list[bytes]) -> list[list[bytes]]:
    from benchmarks.lean_peers import packetize as vp8

    return vp8(frames)


def drain(sock: socket.socket) -> None:
    """Read a sink socket empty: the forwarder's sendto then costs the kernel what delivering to a site does."""
    recv = sock.recv
    with contextlib.suppress(BlockingIOError):
        while True:
            recv(2048)


async def feed(mix: dict[str, Any], port: int, sinks: list[socket.socket]) -> None:
    loop = asyncio.get_running_loop()
    for sink in sinks:
        sink.setblocking(False)
        loop.add_reader(sink.fileno(), drain, sink)
    media = pickle.loads(open(mix["media"], "rb").read())  # noqa: ASYNC230,SIM115 - read once at start
    layers = {"hd": [packetize(f) for f in media["hd"]], "thumb": [packetize(f) for f in media["thumb"]],
              "opus": [[[p] for p in media["opus"]]]}
    tx = session(0, inbound=False)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    dest = ("127.0.0.1", port)
    streams = []
    for n, s in enumerate(mix["streams"]):
        frames = layers[s["kind"]][s["seed"] % len(layers[s["kind"]])]
        interval, step = (0.02, 960) if s["kind"] == "opus" else (1 / FPS, 90_000 // FPS)
        header = bytearray(struct.pack("!BBHII", 0x80, 111 if s["kind"] == "opus" else 96, 0, 0, 1000 + n))
        # As benchmarks/lean_peers.py: each site starts at its own place in the loop, and a pacer.
        offset = (s["seed"] * 7) % len(frames)
        streams.append([frames, interval, step, header, 0, 0, offset, deque()])
    start = time.monotonic()
    while True:
        now = time.monotonic()
        for st in streams:
            frames, interval, step, header, sent, seq, offset, queue = st
            due = int((now - start) / interval) + 1
            while sent < due:
                payloads = frames[(sent + offset) % len(frames)]
                queue.extend((p, sent * step, i == len(payloads) - 1) for i, p in enumerate(payloads))
                sent += 1
            for _ in range(min(PACE_PACKETS, len(queue))):
                payload, ts, marker = queue.popleft()
                struct.pack_into("!HI", header, 2, seq, ts & 0xFFFFFFFF)
                header[1] = (header[1] & 0x7F) | (0x80 if marker else 0)
                with contextlib.suppress(BlockingIOError):
                    out.sendto(tx.protect(bytes(header) + payload), dest)
                seq = (seq + 1) & 0xFFFF
            st[4], st[5] = sent, seq
        await asyncio.sleep(0.005)


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("forward", "feed"))
    parser.add_argument("--mix", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sinks", default="")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.mix) as f:
        mix = json.load(f)
    if args.role == "forward":
        os.environ.setdefault("BARE_PORT", str(args.port))
        uvloop.run(forward(mix, [int(p) for p in args.sinks.split(",")], args.warmup, args.seconds))
    else:
        sinks = []
        for _ in range(mix["subscribers"]):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            sinks.append(s)
        print(json.dumps({"sinks": [s.getsockname()[1] for s in sinks]}), flush=True)
        sys.stdout.flush()
        uvloop.run(feed(mix, args.port, sinks))


if __name__ == "__main__":
    main()
