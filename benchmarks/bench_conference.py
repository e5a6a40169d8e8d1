"""Conference benchmark (`make bench-conference`, `QUICK=1` for the 60 s meeting).

Server in its own process; client peers (aiortc, in this process) send pre-encoded 640x360 VP8 at 25 fps
(~600 kbit/s) so the box measures the server, and count frames by RTP marker bits without decoding.

1. relay_cpu_ratio — one publisher, SUBSCRIBERS subscribers, same pre-encoded stream, same run:
   server CPU per forwarded stream with aiortc's MediaRelay (benchmarks/relay_baseline.py: decode once,
   encode per subscriber) ÷ with our engine (room `hop-huyen`, sites watching the host slot).
2. conference21 — the shipped 21-site room: every site publishes video + Opus; the host sees the other 20;
   each site sees the host and the speaker (one site talks). Server CPU, frames delivered ÷ expected,
   server-added latency (frame complete → handed to the sender, from the server's histogram), peak RSS.
3. pps_per_core — RTP packets forwarded per second per core of server CPU during (2).
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from benchmarks.common import ServerProcess, cpu_s, free_port, peak_rss_mb
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.engine.engine import LATENCY_BUCKETS_S
from tests.conf_peer import FPS, PacketTrack, SitePeer, encode_opus, encode_video

SUBSCRIBERS = 8
WIDTH, HEIGHT = 640, 360
ROOM = "hop-huyen"
HOST = "ubnd-huyen"
SPEAKER = "xa-an-binh"


def log(msg: str) -> None:
    print(msg, flush=True)


async def measure_cpu(pid: int, seconds: float) -> float:
    """Return a process's CPU seconds used over the next ``seconds``."""
    start = cpu_s(pid)
    await asyncio.sleep(seconds)
    return cpu_s(pid) - start


# ------------------------------------------------------------------------------------ relay baseline


async def relay_baseline(frames: list[bytes], seconds: float) -> tuple[float, float]:
    """Return (server CPU s per s per stream, delivered ratio) for aiortc MediaRelay."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.relay_baseline", "--port",
                                                str(port))
    base = f"http://127.0.0.1:{port}"
    pcs: list[RTCPeerConnection] = []
    counts = [0] * SUBSCRIBERS
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.post(f"{base}/answer", json={"id": 0, "sdp": ""}):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            pub = RTCPeerConnection()
            pcs.append(pub)
            pub.addTrack(PacketTrack(frames))
            await pub.setLocalDescription(await pub.createOffer())
            async with http.post(f"{base}/publish", json={"sdp": pub.localDescription.sdp}) as r:
                answer = await r.json()
            await pub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            for i in range(SUBSCRIBERS):
                async with http.post(f"{base}/subscribe") as r:
                    offer = await r.json()
                pc = RTCPeerConnection()
                pcs.append(pc)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))

                def counter(i: int) -> Any:
                    def count(packet: Any, codec: Any) -> None:
                        if packet.marker:
                            counts[i] += 1
                    return count

                hooks.tap_receiver(pc.getTransceivers()[0].receiver, counter(i))
                await pc.setLocalDescription(await pc.createAnswer())
                async with http.post(f"{base}/answer", json={"id": offer["id"], "sdp": pc.localDescription.sdp}):
                    pass
            await asyncio.sleep(4)  # connect and settle
            before = list(counts)
            used = await measure_cpu(proc.pid, seconds)
            delivered = (sum(counts) - sum(before)) / (SUBSCRIBERS * FPS * seconds)
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        proc.terminate()
        await proc.wait()
    return used / seconds / SUBSCRIBERS, delivered


async def engine_fanout(frames: list[bytes], seconds: float) -> tuple[float, float]:
    """Return (server CPU s per s per stream, delivered ratio) for our engine, same shape as the baseline."""
    with ServerProcess() as server:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
            sites = ["xa-an-hoa", "xa-binh-minh", "xa-dong-hung", "xa-hoa-binh", "xa-hung-dao", "xa-long-hung",
                     "xa-minh-tan", "xa-nam-son", "xa-phu-xuan", "xa-quang-trung"]
            peers = [SitePeer(http, server.base, ROOM, server.cli("issue-join-token", "--room", ROOM, "--site", s),
                              audio=False, count_only=True, video=frames if s == HOST else None)
                     for s in [HOST, *sites[:SUBSCRIBERS]]]
            try:
                for p in peers:
                    await p.join()
                await asyncio.sleep(4)
                slots = [p.slot("host") for p in peers[1:]]
                before = sum(s.count for s in slots)
                used = await measure_cpu(server.pid, seconds)
                delivered = (sum(s.count for s in slots) - before) / (SUBSCRIBERS * FPS * seconds)
            finally:
                await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    return used / seconds / SUBSCRIBERS, delivered


# -------------------------------------------------------------------------------------- 21 sites


def latency_counts(metrics: dict[str, Any], name: str = "mediaserver_forward_latency_seconds",
                   buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> list[float]:
    """Return per-bucket (non-cumulative) counts of a histogram (the forwarding latency by default)."""
    cumulative = []
    for bound in (*buckets, float("inf")):
        le = "+Inf" if bound == float("inf") else str(bound)
        cumulative.append(metrics.get(f'{name}_bucket{{le="{le}"}}', 0.0))
    return [c - (cumulative[i - 1] if i else 0.0) for i, c in enumerate(cumulative)]


def quantile_ms(counts: list[float], q: float, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> float | None:
    """Return the upper bound (ms) of the bucket holding quantile ``q`` of per-bucket counts."""
    total = sum(counts)
    if not total:
        return None
    seen = 0.0
    for i, c in enumerate(counts):
        seen += c
        if seen >= q * total:
            return buckets[i] * 1000 if i < len(buckets) else float("inf")
    return float("inf")


async def conference21(frames: dict[str, list[bytes]], opus: list[bytes], seconds: float) -> dict[str, Any]:
    """Run the full 21-site meeting for ``seconds`` and measure the server."""
    with ServerProcess() as server:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
            token = await server.admin_token(http)
            async with http.get(f"{server.base}/api/v1/sites", headers={"Authorization": f"Bearer {token}"}) as r:
                sites = [s["id"] for s in (await r.json())["items"]]
            assert sites[0] == HOST and len(sites) == 21
            peers = []
            for i, site in enumerate(sites):
                join = server.cli("issue-join-token", "--room", ROOM, "--site", site)
                peers.append(SitePeer(http, server.base, ROOM, join, video=frames[str(i % len(frames))],
                                      loud=site == SPEAKER, count_only=True, opus=opus))
            try:
                t0 = time.monotonic()
                for p in peers:
                    await p.join()
                log(f"  21 sites joined in {time.monotonic() - t0:.1f} s; warming up")
                await asyncio.sleep(6)
                host_slots = [s for s in peers[0].slots.values() if s.name.startswith("site:")]
                site_slots = [p.slot(n) for p in peers[1:] for n in ("host", "speaker")]
                video_slots = host_slots + site_slots
                by_site = {p.welcome["site"]: p for p in peers if p.welcome}

                def published() -> int:
                    # Frames each slot should have carried: what its assigned publisher actually sent.
                    total = 0
                    for s in video_slots:
                        pub = by_site.get(s.assigned or "")
                        if pub is not None and pub.video is not None:
                            total += pub.video.sent
                    return total

                m0 = await server.metrics(http, token)
                f0, e0 = sum(s.count for s in video_slots), published()
                used = await measure_cpu(server.pid, seconds)
                f1, e1 = sum(s.count for s in video_slots), published()
                m1 = await server.metrics(http, token)
                rss = peak_rss_mb(server.pid)
            finally:
                await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    counts = [b - a for a, b in zip(latency_counts(m0), latency_counts(m1), strict=True)]
    packets = m1.get("mediaserver_engine_rtp_packets_out_total", m1.get("mediaserver_engine_rtp_packets_out", 0.0)) \
        - m0.get("mediaserver_engine_rtp_packets_out_total", m0.get("mediaserver_engine_rtp_packets_out", 0.0))
    cores = used / seconds
    return {
        "seconds": seconds,
        "cpu_pct": round(100 * cores, 1),
        "delivered_ratio": round((f1 - f0) / (e1 - e0), 4) if e1 > e0 else None,
        "publish_fps": round((e1 - e0) / len(video_slots) / seconds, 1),
        "video_streams": len(video_slots),
        "latency_p50_ms": quantile_ms(counts, 0.50),
        "latency_p95_ms": quantile_ms(counts, 0.95),
        "rss_mb": round(rss, 1),
        "pps_out": round(packets / seconds),
        "pps_per_core": round(packets / seconds / cores) if cores else None,
    }


async def main() -> None:
    quick = os.environ.get("QUICK") == "1"
    fanout_s = 10.0 if quick else 30.0
    meeting_s = 60.0 if quick else 300.0
    log(f"encoding test video ({WIDTH}x{HEIGHT} VP8, 25 fps, ~600 kbit/s)…")
    frames = {str(i): await asyncio.to_thread(encode_video, "vp8", 100, i + 1, (WIDTH, HEIGHT), 50,
                                             600_000)
              for i in range(4)}
    kbps = sum(len(f) for f in frames["0"]) * 8 / (len(frames["0"]) / FPS) / 1000
    log(f"  stream bitrate {kbps:.0f} kbit/s")
    log(f"[1/2] fan-out of one stream to {SUBSCRIBERS} subscribers, {fanout_s:.0f} s each")
    relay, relay_ok = await relay_baseline(frames["0"], fanout_s)
    log(f"  aiortc MediaRelay: {100 * relay:.1f} % of a core per stream (delivered {relay_ok:.3f})")
    ours, ours_ok = await engine_fanout(frames["0"], fanout_s)
    log(f"  mediaserver engine: {100 * ours:.2f} % of a core per stream (delivered {ours_ok:.3f})")
    ratio = relay / ours if ours else float("inf")
    log(f"  relay_cpu_ratio = {ratio:.1f} (target ≥ 10)")
    log(f"[2/2] 21-site meeting for {meeting_s:.0f} s")
    opus = await asyncio.to_thread(encode_opus)
    c21 = await conference21(frames, opus, meeting_s)
    log(f"  server CPU {c21['cpu_pct']} % of a core (target ≤ 100), delivered {c21['delivered_ratio']} "
        f"(target ≥ 0.99; publishers achieved {c21['publish_fps']} fps), "
        f"latency p50 {c21['latency_p50_ms']} ms p95 {c21['latency_p95_ms']} ms "
        f"(target p95 ≤ 30), peak RSS {c21['rss_mb']} MiB, {c21['pps_per_core']} packets/s per core")
    print(json.dumps({
        "bench": "conference", "quick": quick, "stream_kbps": round(kbps),
        "relay_cpu_ratio": round(ratio, 1),
        "relay_cpu_pct_per_stream": round(100 * relay, 2), "engine_cpu_pct_per_stream": round(100 * ours, 2),
        "conference21": c21, "pps_per_core": c21["pps_per_core"],
    }))


if __name__ == "__main__":
    import uvloop

    uvloop.install()  # the client peers share one process: give them the faster loop too
    asyncio.run(main())
