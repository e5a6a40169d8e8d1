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
4. conference40_hd — 40 sites (a room made in the benchmark's config), each publishing pre-encoded
   1280x720 VP8 at 25 fps (~1.4 Mbit/s), a 320x180 thumbnail (~150 kbit/s) and Opus, from lean client
   peers in CLIENT_PROCS processes (benchmarks/lean_peers.py: SRTP written straight to the socket, received
   RTP counted from the clear header; their CPU is reported, not counted). Server CPU, delivered, latency,
   RSS, out Mbit/s, pps_per_core; then benchmarks/bare_forwarder.py replays the packet mix measured
   (same payloads, rates, pacer and fan-out) → pps_ceiling_ratio; and a 100-site projection.
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import socket
import sys
import tempfile
import time
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from benchmarks.bench_adapt import CAP_BPS, adapt_media, measure_adapt
from benchmarks.common import ServerProcess, cpu_s, free_port, peak_rss_mb
from bridges.layers import PROBE_AFTER_S
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
                    async with http.get(f"{base}/ready") as r:
                        r.raise_for_status()
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("relay baseline did not start")
            pub = RTCPeerConnection()
            pcs.append(pub)
            pub.addTrack(PacketTrack(frames))
            await pub.setLocalDescription(await pub.createOffer())
            async with http.post(f"{base}/publish", json={"sdp": pub.localDescription.sdp}) as r:
                r.raise_for_status()
                answer = await r.json()
            await pub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            for i in range(SUBSCRIBERS):
                async with http.post(f"{base}/subscribe") as r:
                    r.raise_for_status()
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
                async with http.post(f"{base}/answer", json={"id": offer["id"], "sdp": pc.localDescription.sdp}) as r:
                    r.raise_for_status()
            await asyncio.sleep(4)  # connect and settle
            before = list(counts)
            used = await measure_cpu(proc.pid, seconds)
            delivered = (sum(counts) - sum(before)) / (SUBSCRIBERS * FPS * seconds)
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        proc.terminate()
        await proc.wait()
    if proc.returncode not in (0, -15):
        raise RuntimeError(f"relay baseline exited with {proc.returncode}")
    if delivered < 0.5 or min(c - b for c, b in zip(counts, before, strict=True)) == 0:
        # A baseline that forwards little or nothing measures a broken set-up, not MediaRelay: refuse the figure.
        raise RuntimeError(f"relay baseline set-up is broken: delivered {delivered:.3f}, per subscriber {counts}")
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


# ------------------------------------------------------------------------------------- 40 sites in HD

HD_SIZE, THUMB_SIZE = (1280, 720), (320, 180)
HD_BPS, THUMB_BPS = 1_300_000, 150_000
SITES40 = 40
ROOM40 = "hop-40"
CLIENT_PROCS = 4  # lean peers per process = 10: each process stays well under a core (measured, reported)


def config40() -> dict[str, Any]:
    """Server config overrides: the shipped sites plus generated ones up to 40, and a 40-site room."""
    import yaml

    from benchmarks.common import ROOT

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    sites = dict(cfg["sites"])
    for n in range(len(sites), SITES40):
        sites[f"bench-{n:02d}"] = {"name": f"Điểm cầu thử {n:02d}", "role": "commune"}
    rooms = dict(cfg["rooms"])
    rooms[ROOM40] = {"name": "Họp 40 điểm cầu HD", "host_site": HOST, "sites": "all", "max_sites": SITES40}
    return {"sites": sites, "rooms": rooms}


def hd_media(opus: list[bytes]) -> dict[str, Any]:
    """Encode the 40-site meeting's media once: 2 HD and 2 thumbnail loops (distinct content) and Opus."""
    return {
        "hd": [encode_video("vp8", 100, 11 + i, HD_SIZE, 50, HD_BPS, block=16) for i in range(2)],
        "thumb": [encode_video("vp8", 100, 21 + i, THUMB_SIZE, 50, THUMB_BPS, block=8) for i in range(2)],
        "opus": opus,
    }


class ClientProc:
    """One ``benchmarks.lean_peers`` process: a JSON job in, JSON lines out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, job: dict[str, Any]) -> ClientProc:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.lean_peers",
                                                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(job) + "\n").encode())
        await proc.stdin.drain()
        return cls(proc)

    async def line(self, wait_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        if not raw:
            raise RuntimeError(f"lean peer process {self.proc.pid} ended (rc {await self.proc.wait()})")
        return dict(json.loads(raw))

    async def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{cmd}\n".encode())
        await self.proc.stdin.drain()
        return await self.line(30)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(Exception):
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def merge_snaps(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"sent": {}, "slots": {}, "pub_packets": 0, "resent": 0}
    for s in snaps:
        out["sent"].update(s["sent"])
        out["slots"].update(s["slots"])
        out["pub_packets"] += s["pub_packets"]
        out["resent"] += s["resent"]
    return out


async def conference40_hd(media_file: str, seconds: float) -> dict[str, Any]:
    """Run 40 lean sites in HD for ``seconds``; measure the server (and, apart, the client processes)."""
    with ServerProcess(overrides=config40()) as server:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
            token = await server.admin_token(http)
            sites = [HOST, *[s for s in config40()["sites"] if s != HOST]][:SITES40]
            tokens = []
            for site in sites:
                async with http.post(f"{server.base}/api/v1/rooms/{ROOM40}/join-tokens",
                                     headers={"Authorization": f"Bearer {token}"}, json={"site_id": site}) as r:
                    r.raise_for_status()
                    tokens.append((await r.json())["token"])
            jobs: list[list[dict[str, Any]]] = [[] for _ in range(CLIENT_PROCS)]
            for i, (site, tok) in enumerate(zip(sites, tokens, strict=True)):
                jobs[i % CLIENT_PROCS].append({"site": site, "token": tok, "seed": i, "loud": site == SPEAKER})
            t0 = time.monotonic()
            procs = [await ClientProc.start({"base": server.base, "room": ROOM40, "media": media_file,
                                             "sites": job}) for job in jobs]
            try:
                for p in procs:
                    ready = await p.line(180)
                    assert ready.get("ready"), ready
                log(f"  {SITES40} sites joined in {time.monotonic() - t0:.1f} s "
                    f"({CLIENT_PROCS} lean client processes); warming up")
                await asyncio.sleep(8)
                m0 = await server.metrics(http, token)
                c0 = [cpu_s(p.proc.pid) for p in procs]
                s0 = merge_snaps([await p.ask("snap") for p in procs])
                spy = None
                if os.environ.get("BENCH_PYSPY"):  # profile the server during the window (py-spy, raw stacks)
                    spy = await asyncio.create_subprocess_exec(
                        os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",
                        "--pid", str(server.pid), "-d", str(int(seconds)), "-r", "50", "--nonblocking",
                        "-f", "raw", "-o", os.environ["BENCH_PYSPY"],
                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                used = await measure_cpu(server.pid, seconds)
                if spy is not None:
                    await spy.wait()
                s1 = merge_snaps([await p.ask("snap") for p in procs])
                c1 = [cpu_s(p.proc.pid) for p in procs]
                m1 = await server.metrics(http, token)
                rss = peak_rss_mb(server.pid)
            finally:
                await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)
    return summarize40(seconds, used, rss, m0, m1, s0, s1, [b - a for a, b in zip(c0, c1, strict=True)], sites)


def summarize40(seconds: float, used: float, rss: float, m0: dict[str, Any], m1: dict[str, Any],
                s0: dict[str, Any], s1: dict[str, Any], client_cpu: list[float], sites: list[str]) -> dict[str, Any]:
    """Turn two snapshots of the 40-site meeting into its figures and the packet mix the bare forwarder replays."""
    got = exp = 0
    tiles_kbps, hd_kbps = [], []
    fanout: dict[tuple[str, str], list[int]] = {}
    index = {site: i for i, site in enumerate(sites)}
    out_bytes = 0
    for site, slots in s1["slots"].items():
        before = {c["slot"]: c for c in s0["slots"][site]}
        for c in slots:
            b = before[c["slot"]]
            out_bytes += c["bytes"] - b["bytes"]
            pub = c["assigned"]
            if pub is None or pub != b["assigned"]:
                continue
            kbps = (c["bytes"] - b["bytes"]) * 8 / seconds / 1000
            if c["kind"] == "audio":
                if c["packets"] > b["packets"]:
                    fanout.setdefault((pub, "opus"), []).append(index[site])
                continue
            video_slot = c["slot"].startswith("site:") or c["slot"] in ("host", "speaker")
            if not video_slot:
                continue
            got += c["frames"] - b["frames"]
            exp += s1["sent"][pub]["video"] - s0["sent"][pub]["video"]
            layer = "hd" if kbps > 500 else "thumb"
            (tiles_kbps if c["slot"].startswith("site:") else hd_kbps).append(kbps)
            if c["frames"] > b["frames"]:
                fanout.setdefault((pub, layer), []).append(index[site])
    counts = [b - a for a, b in zip(latency_counts(m0), latency_counts(m1), strict=True)]
    name = "mediaserver_engine_rtp_packets_out_total"
    packets = m1.get(name, 0.0) - m0.get(name, 0.0)
    cores = used / seconds
    streams = [{"kind": layer, "seed": index[site], "fanout": fanout.get((site, layer), [])}
               for site in sites for layer in ("hd", "thumb", "opus")]
    return {
        "seconds": seconds,
        "sites": len(sites),
        "cpu_pct": round(100 * cores, 1),
        "delivered_ratio": round(got / exp, 4) if exp else None,
        "latency_p50_ms": quantile_ms(counts, 0.50),
        "latency_p95_ms": quantile_ms(counts, 0.95),
        "rss_mb": round(rss, 1),
        "out_mbps": round(out_bytes * 8 / seconds / 1e6, 1),
        "pps_in": round((s1["pub_packets"] - s0["pub_packets"]) / seconds),
        "nack_resent": s1["resent"] - s0["resent"],
        "pps_out": round(packets / seconds),
        "pps_per_core": round(packets / seconds / cores) if cores else None,
        "host_tile_kbps_mean": round(sum(tiles_kbps) / len(tiles_kbps)) if tiles_kbps else None,
        "hd_slot_kbps_mean": round(sum(hd_kbps) / len(hd_kbps)) if hd_kbps else None,
        "client_cpu_pct": [round(100 * c / seconds, 1) for c in client_cpu],
        "adapt_s": None,  # filled by main() from benchmarks/bench_adapt.py (a capped subscriber, in-process)
        "_mix": {"subscribers": len(sites), "streams": streams},
    }


async def bare_forwarder(mix: dict[str, Any], media_file: str, seconds: float) -> dict[str, Any]:
    """Replay the 40-site meeting's packet mix through benchmarks/bare_forwarder.py; return its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({**mix, "media": media_file}, f)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feeder = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.bare_forwarder", "feed",
                                                  "--mix", f.name, "--port", str(port),
                                                  stdout=asyncio.subprocess.PIPE)
    fwd = None
    try:
        assert feeder.stdout is not None
        sinks = json.loads(await asyncio.wait_for(feeder.stdout.readline(), 60))["sinks"]
        fwd = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.bare_forwarder", "forward",
                                                   "--mix", f.name, "--port", str(port),
                                                   "--sinks", ",".join(map(str, sinks)), "--warmup", "3",
                                                   "--seconds", str(seconds), stdout=asyncio.subprocess.PIPE)
        assert fwd.stdout is not None
        await asyncio.wait_for(fwd.stdout.readline(), 60)
        f0 = cpu_s(feeder.pid)
        result = json.loads(await asyncio.wait_for(fwd.stdout.readline(), seconds + 60))
        result["feeder_cpu_pct"] = round(100 * (cpu_s(feeder.pid) - f0) / (seconds + 3), 1)
        await fwd.wait()
    finally:
        for p in (fwd, feeder):
            if p is not None and p.returncode is None:
                p.terminate()
                await p.wait()
        os.unlink(f.name)
    if not result["pps_out"]:
        raise RuntimeError(f"bare forwarder forwarded nothing: {result}")
    return dict(result)


async def main() -> None:
    # Importing the app for the adapt phase leaves the root logger at INFO (a dependency's basicConfig):
    # the client peers' aioice chatter would bury the results.
    logging.getLogger().setLevel(logging.WARNING)
    quick = os.environ.get("QUICK") == "1"
    fanout_s = 10.0 if quick else 30.0
    meeting_s = 60.0 if quick else 300.0
    log(f"encoding test video ({WIDTH}x{HEIGHT} VP8, 25 fps, ~600 kbit/s)…")
    frames = {str(i): await asyncio.to_thread(encode_video, "vp8", 100, i + 1, (WIDTH, HEIGHT), 50,
                                             600_000)
              for i in range(4)}
    kbps = sum(len(f) for f in frames["0"]) * 8 / (len(frames["0"]) / FPS) / 1000
    log(f"  stream bitrate {kbps:.0f} kbit/s")
    log(f"[1/4] fan-out of one stream to {SUBSCRIBERS} subscribers, {fanout_s:.0f} s each")
    relay, relay_ok = await relay_baseline(frames["0"], fanout_s)
    log(f"  aiortc MediaRelay: {100 * relay:.1f} % of a core per stream (delivered {relay_ok:.3f})")
    ours, ours_ok = await engine_fanout(frames["0"], fanout_s)
    log(f"  mediaserver engine: {100 * ours:.2f} % of a core per stream (delivered {ours_ok:.3f})")
    ratio = relay / ours if ours else float("inf")
    log(f"  relay_cpu_ratio = {ratio:.1f} (target ≥ 10)")
    log(f"[2/4] 21-site meeting for {meeting_s:.0f} s")
    opus = await asyncio.to_thread(encode_opus)
    c21 = await conference21(frames, opus, meeting_s)
    log(f"  server CPU {c21['cpu_pct']} % of a core (target ≤ 100), delivered {c21['delivered_ratio']} "
        f"(target ≥ 0.99; publishers achieved {c21['publish_fps']} fps), "
        f"latency p50 {c21['latency_p50_ms']} ms p95 {c21['latency_p95_ms']} ms "
        f"(target p95 ≤ 30), peak RSS {c21['rss_mb']} MiB, {c21['pps_per_core']} packets/s per core")
    c40, bare = await hd40_phase(opus, 30.0 if quick else 120.0)
    log(f"[4/4] adapt_s: a subscriber's link capped at {CAP_BPS // 1000} kbit/s below HD, then lifted")
    try:
        adapt = await measure_adapt(*await adapt_media())
    except TimeoutError:
        # Seen once after the 40-site phase in the same process (standalone it settles in 5–9 s): say so, and
        # still end with the JSON line.
        log("  adapt_s: NOT MEASURED — the capped slot did not settle within 60 s "
            "(run `python -m benchmarks.bench_adapt` alone)")
        c40["adapt_s"] = None
    else:
        c40["adapt_s"] = {"down": adapt["down_s"], "up": adapt["up_s"]}
        log(f"  cap → thumbnail in {adapt['down_s']} s ({adapt['reason']}); lift → HD in {adapt['up_s']} s "
            f"(the first probe waits {PROBE_AFTER_S:.0f} s: hysteresis)")
    print(json.dumps({
        "bench": "conference", "quick": quick, "stream_kbps": round(kbps),
        "relay_cpu_ratio": round(ratio, 1),
        "relay_cpu_pct_per_stream": round(100 * relay, 2), "engine_cpu_pct_per_stream": round(100 * ours, 2),
        "conference21": c21, "pps_per_core": c21["pps_per_core"],
        "conference40_hd": c40, "pps_per_core_40": c40["pps_per_core"], "bare_forwarder": bare,
        "pps_ceiling_ratio": c40["pps_ceiling_ratio"], "projection_100_sites": c40["projection_100_sites"],
        "adapt_s": c40["adapt_s"],
    }))


async def hd40_phase(opus: list[bytes], seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """conference40_hd, then the bare forwarder on the packet mix it measured, and the 100-site projection."""
    log(f"[3/4] 40-site HD meeting for {seconds:.0f} s; encoding 1280x720 and 320x180 VP8 once…")
    media = await asyncio.to_thread(hd_media, opus)
    for name, bps in (("hd", HD_BPS), ("thumb", THUMB_BPS)):
        got = sum(len(f) for f in media[name][0]) * 8 / (len(media[name][0]) / FPS) / 1000
        log(f"  {name}: {got:.0f} kbit/s (asked {bps // 1000})")
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump(media, f)
    try:
        c40 = await conference40_hd(f.name, seconds)
        mix = c40.pop("_mix")
        log(f"  server CPU {c40['cpu_pct']} % of a core (target ≤ 100), delivered {c40['delivered_ratio']} "
            f"(≥ 0.99), latency p50 {c40['latency_p50_ms']} p95 {c40['latency_p95_ms']} ms (≤ 30), "
            f"RSS {c40['rss_mb']} MiB, out {c40['out_mbps']} Mbit/s, {c40['pps_out']} packets/s out, "
            f"{c40['pps_per_core']} per core; host tiles {c40['host_tile_kbps_mean']} kbit/s, "
            f"HD slots {c40['hd_slot_kbps_mean']} kbit/s; client processes {c40['client_cpu_pct']} % each")
        bare = await bare_forwarder(mix, f.name, min(seconds, 20.0))
    finally:
        os.unlink(f.name)
    ratio = c40["pps_per_core"] / bare["pps_per_core"] if c40["pps_per_core"] and bare["pps_per_core"] else None
    c40["pps_ceiling_ratio"] = None if ratio is None else round(ratio, 3)
    c40["projection_100_sites"] = project100(c40)
    log(f"  bare forwarder, same mix: {bare['pps_out']} packets/s out at {bare['cpu_pct']} % → "
        f"{bare['pps_per_core']} per core; pps_ceiling_ratio {c40['pps_ceiling_ratio']} (target ≥ 0.7)")
    log(f"  100-site projection: {c40['projection_100_sites']}")
    return c40, bare


def project100(c40: dict[str, Any]) -> dict[str, Any]:
    """Project a 100-site meeting of the same shape from the measured cost per forwarded packet.

    Same shape: the host gets N-1 thumbnail tiles, every other site host + speaker in HD and host + 3
    loudest audio. Outgoing packets scale with the 40-site mix per subscriber; the cost per packet
    (server CPU ÷ packets out, which also carries the incoming side at the measured in/out proportion) is
    taken as constant — an optimistic assumption at 2.5× the sockets and sessions.
    """
    if not c40.get("pps_out") or not c40.get("cpu_pct"):
        return {}
    n40, n = c40["sites"], 100
    us_per_packet = c40["cpu_pct"] / 100 / c40["pps_out"] * 1e6
    pps100 = c40["pps_out"] * (n - 1) / (n40 - 1)  # out streams grow with the subscribers (≈ per site constant)
    return {"us_per_packet_out": round(us_per_packet, 1), "pps_out": round(pps100),
            "cores": round(pps100 * us_per_packet / 1e6, 2)}


if __name__ == "__main__":
    import uvloop

    uvloop.install()  # the client peers share one process: give them the faster loop too
    asyncio.run(main())
