"""Camera benchmark (`python -m benchmarks.bench_cameras`, `QUICK=1` for a short run).

Server in its own process (benchmarks.common.ServerProcess); the cameras are real GStreamer RTSP servers
(cameras.simulator.rtsp), added by RTSP URL through the API. Only the server's PID is measured: the
simulators' own encoding CPU is theirs, not the server's.

1. ingest_cpu_pct_per_camera — K cameras at 640x360, then K more at 1280x720 (single /main mount each):
   server CPU over a window minus the previous level (the idle server before any camera; then the
   640x360 level), ÷ K, as % of one core.
2. viewer_cpu_ratio — CPU per additional live viewer of one 640x360 camera: aiortc MediaRelay
   (benchmarks/relay_baseline.py: decode once, re-encode per viewer), fed the same camera's H.264 access units
   as pre-encoded packets ÷ our server (N views through the API, H.264 passed through). Per viewer =
   (CPU with N viewers − CPU with none) ÷ N, both measured in this run.
   ingest_loop_lag_p99_ms — p99 of the server's event-loop lag (mediaserver_event_loop_lag_seconds, bucket
   bound) over the window with every camera running: RTP reception runs on the loop, and must not block it.
3. added_latency_p95_ms — p95 of the server's mediaserver_forward_latency_seconds over the viewer window.
4. first_frame_p95_s — headless Chromium opens N views (fetch + RTCPeerConnection): request → framesDecoded > 0.
5. h265_transcode_cpu_pct — the explicit live-view transcode of one 1280x720 H.265 camera (cameras/transcode.py:
   decode every frame, keep 5 fps, scale to 360 lines, libx264): this process's CPU with ingest + transcode
   minus with ingest alone, as % of one core; beside it, as a ratio, the cost of one pass-through viewer.
6. reconnect_p50_s / reconnect_p95_s / reconnect_max_s — RECONNECT_CAMERAS cameras (mounts of one real RTSP
   server process) while it is killed and restarted RECONNECT_RESTARTS times, down 1–4 s each time: from the
   server answering OPTIONS again to each camera's first keyframe published (what the recorder opens its next
   segment on), with our ingest (probe every 0.5 s while down). Beside it, from the same run, the baseline:
   the same ingest with probing disabled, i.e. the previous capped doubling backoff (0.5 → 10 s) before
   every full session attempt.
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
import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from benchmarks.bench_conference import latency_counts, quantile_ms
from benchmarks.common import ServerProcess, cpu_s, free_port, peak_rss_mb
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.loopmon import LAG_BUCKETS_S
from tests.conf_peer import PacketTrack

QUICK = os.environ.get("QUICK") == "1"
CAMERAS_PER_GROUP = 4 if QUICK else 8
FPS = 10 if QUICK else 15
VIEWERS = 4 if QUICK else 8
IDLE_S = 6.0 if QUICK else 15.0
INGEST_S = 10.0 if QUICK else 30.0
VIEW_S = 20.0 if QUICK else 30.0
SETTLE_S = 3.0 if QUICK else 6.0
RESOLUTIONS = {"640x360": (640, 360, 800), "1280x720": (1280, 720, 2000)}
PAGE_JS = """
async ({token, camera, n}) => {
  const h = {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'};
  async function one() {
    const t0 = performance.now();
    const r = await fetch(`/api/v1/cameras/${camera}/views`, {method: 'POST', headers: h,
                                                            body: JSON.stringify({stream: 'main'})});
    if (r.status !== 201) throw new Error('view ' + r.status + ' ' + await r.text());
    const offer = await r.json();
    const pc = new RTCPeerConnection();
    window.__pcs = (window.__pcs || []).concat([pc]);
    await pc.setRemoteDescription({type: 'offer', sdp: offer.sdp});
    await pc.setLocalDescription(await pc.createAnswer());
    const a = await fetch(`/api/v1/cameras/views/${offer.view_id}/answer`,
                          {method: 'POST', headers: h, body: JSON.stringify({sdp: pc.localDescription.sdp})});
    if (a.status !== 200) throw new Error('answer ' + a.status);
    const deadline = t0 + 20000;
    while (performance.now() < deadline) {
      const stats = await pc.getStats();
      for (const s of stats.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'video' && (s.framesDecoded || 0) > 0) {
          return (performance.now() - t0) / 1000;
        }
      }
      await new Promise(res => setTimeout(res, 20));
    }
    return null;
  }
  return await Promise.all(Array.from({length: n}, one));
}
"""


def log(msg: str) -> None:
    print(msg, flush=True)


async def cpu_rate(pid: int, seconds: float) -> float:
    """Return a process's CPU use over the next ``seconds``, in cores."""
    start, t0 = cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_s(pid) - start) / (time.monotonic() - t0)


def sim_spec(width: int, height: int, kbps: int) -> dict[str, Any]:
    """One unauthenticated /main mount with a moving object (tests/test_ingest.camera_spec's scene)."""
    scene = {"kind": "scene", "noise": 6, "background": 70, "loop_s": 20,
             "objects": [{"start_s": 0, "end_s": 20, "size": 0.2, "color": 230, "from": [0.1, 0.3],
                          "to": [0.9, 0.7]}]}
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": width, "height": height, "fps": FPS, "gop": FPS,
                        "bitrate_kbps": kbps, "scene": scene}]}


def capture_access_units(url: str, seconds: float) -> list[bytes]:
    """Read ``seconds`` of H.264 access units from an RTSP URL (no decoding), starting at a keyframe."""
    out: list[bytes] = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as c:
        stream = c.streams.video[0]
        extradata = bytes(stream.codec_context.extradata or b"")
        for pkt in c.demux(stream):
            if pkt.size == 0:
                continue
            if not out and not pkt.is_keyframe:
                continue
            data = bytes(pkt)
            if pkt.is_keyframe and b"\x00\x00\x01\x67" not in data[:64] and extradata.startswith(b"\x00\x00"):
                data = extradata + data  # in-band SPS/PPS for a mid-stream joiner
            out.append(data)
            if len(out) >= seconds * FPS:
                break
    return out


def loop_lag_counts(metrics: dict[str, Any]) -> list[float]:
    """Return per-bucket counts of the server's event-loop lag histogram."""
    return latency_counts(metrics, "mediaserver_event_loop_lag_seconds", LAG_BUCKETS_S)


def sdp_codec(sdp: str) -> str:
    """Return the first (negotiated) video codec of an SDP answer."""
    lines = sdp.splitlines()
    video = next((ln for ln in lines if ln.startswith("m=video")), "")
    pt = video.split()[3] if len(video.split()) > 3 else "?"
    return next((ln.split(" ", 1)[1] for ln in lines if ln.startswith(f"a=rtpmap:{pt} ")), pt)


def prefer_h264(pc: RTCPeerConnection) -> None:
    """Negotiate H.264 only on every transceiver (the camera's codec)."""
    codecs = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/H264", "video/rtx")]
    for t in pc.getTransceivers():
        t.setCodecPreferences(codecs)


class Viewer:
    """An aiortc viewer that counts frames by RTP marker bit without decoding."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.count = 0

    def tap(self) -> None:
        def on_packet(packet: Any, codec: Any) -> None:
            if packet.marker:
                self.count += 1
        hooks.tap_receiver(self.pc.getTransceivers()[0].receiver, on_packet)


# ------------------------------------------------------------------------------------ our server


async def add_camera(http: aiohttp.ClientSession, server: ServerProcess, headers: dict[str, str], cam_id: str,
                     url: str) -> None:
    async with http.post(f"{server.base}/api/v1/cameras", headers=headers,
                         json={"id": cam_id, "name": cam_id, "streams": {"main_url": url}}) as r:
        if r.status != 201:
            raise RuntimeError(f"adding {cam_id}: {r.status} {await r.text()}")


async def wait_online(http: aiohttp.ClientSession, server: ServerProcess, headers: dict[str, str],
                      ids: list[str], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    pending = set(ids)
    while pending:
        for cam_id in sorted(pending):
            async with http.get(f"{server.base}/api/v1/cameras/{cam_id}", headers=headers) as r:
                cam = await r.json()
            streams = (cam.get("status") or {}).get("streams", {})
            if streams and {s.get("state") for s in streams.values()} == {"online"}:
                pending.discard(cam_id)
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"cameras not online after {limit_s:.0f} s: {sorted(pending)}")
        await asyncio.sleep(0.3)


async def open_view(http: aiohttp.ClientSession, server: ServerProcess, headers: dict[str, str],
                    cam_id: str) -> Viewer:
    async with http.post(f"{server.base}/api/v1/cameras/{cam_id}/views", headers=headers,
                         json={"stream": "main"}) as r:
        if r.status != 201:
            raise RuntimeError(f"view: {r.status} {await r.text()}")
        offer = await r.json()
    v = Viewer()
    await v.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    v.tap()
    await v.pc.setLocalDescription(await v.pc.createAnswer())
    async with http.post(f"{server.base}/api/v1/cameras/views/{offer['view_id']}/answer", headers=headers,
                         json={"sdp": v.pc.localDescription.sdp}) as r:
        if r.status != 200:
            raise RuntimeError(f"answer: {r.status} {await r.text()}")
    return v


async def first_frames(server: ServerProcess, token: str, cam_id: str) -> list[float | None] | None:
    """Open VIEWERS views in headless Chromium; return request → first decoded frame times (s)."""
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base}/healthz")
            result = await asyncio.wait_for(
                page.evaluate(PAGE_JS, {"token": token, "camera": cam_id, "n": VIEWERS}), 60)
            await page.evaluate("() => (window.__pcs || []).forEach(pc => pc.close())")
            return [None if x is None else round(float(x), 3) for x in result]
        finally:
            await browser.close()


async def server_phase(sims: dict[str, list[RtspServerProcess]]) -> dict[str, Any]:
    out: dict[str, Any] = {"ingest": {}}
    # Ingest alone, as the figure is defined: cameras added by the API would otherwise also be recorded and
    # motion-analysed with the config's defaults (bench_recordings measures those).
    with ServerProcess(overrides={"recording": {"mode": "off"}, "motion": {"enabled": False}}) as server:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
            token = await server.admin_token(http)
            headers = {"Authorization": f"Bearer {token}"}
            await asyncio.sleep(2)
            level = idle = await cpu_rate(server.pid, IDLE_S)
            log(f"  idle server: {100 * idle:.2f} % of a core")
            ids: dict[str, list[str]] = {}
            for res, group in sims.items():
                if not group[0].running:
                    await asyncio.gather(*(s.start() for s in group))
                ids[res] = [f"cam-{res.replace('x', '-')}-{i}" for i in range(len(group))]
                t0 = time.monotonic()
                for cam_id, sim in zip(ids[res], group, strict=True):
                    await add_camera(http, server, headers, cam_id, sim.url("/main"))
                await wait_online(http, server, headers, ids[res])
                log(f"  {len(group)} × {res} cameras online in {time.monotonic() - t0:.1f} s")
                await asyncio.sleep(SETTLE_S)
                m = await server.metrics(http, token)
                rate = await cpu_rate(server.pid, INGEST_S)
                m_end = await server.metrics(http, token)
                fps = [m.get(f'mediaserver_camera_fps{{camera="{c}",stream="main"}}') for c in ids[res]]
                lag = [b - a for a, b in zip(loop_lag_counts(m), loop_lag_counts(m_end), strict=True)]
                out["loop_lag_p99_ms"] = quantile_ms(lag, 0.99, LAG_BUCKETS_S)  # the last (all cameras) wins
                per_cam = (rate - level) / len(group)
                out["ingest"][res] = round(100 * per_cam, 2)
                log(f"  {res}: server {100 * rate:.1f} % total, previous level {100 * level:.1f} % → "
                    f"{100 * per_cam:.2f} % of a core per camera (received fps {fps}); event-loop lag p99 ≤ "
                    f"{out['loop_lag_p99_ms']} ms over {int(sum(lag))} probes")
                level = rate
            out["rss_mb"] = round(peak_rss_mb(server.pid), 1)
            # Viewers: keep one 640x360 camera, drop the rest so the viewer window measures fan-out.
            keep = ids["640x360"][0]
            for cam_id in [c for cs in ids.values() for c in cs if c != keep]:
                async with http.delete(f"{server.base}/api/v1/cameras/{cam_id}", headers=headers) as r:
                    if r.status != 204:
                        log(f"  warning: deleting {cam_id}: {r.status}")
            for group in sims.values():
                for s in group:
                    if s is not sims["640x360"][0]:
                        await s.stop()
            await asyncio.sleep(SETTLE_S)
            zero = await cpu_rate(server.pid, VIEW_S)
            log(f"  one 640x360 camera, no viewers: {100 * zero:.2f} % of a core")
            viewers = [await open_view(http, server, headers, keep) for _ in range(VIEWERS)]
            try:
                await asyncio.sleep(SETTLE_S)
                m0 = await server.metrics(http, token)
                c0 = sum(v.count for v in viewers)
                rate = await cpu_rate(server.pid, VIEW_S)
                c1 = sum(v.count for v in viewers)
                m1 = await server.metrics(http, token)
            finally:
                await asyncio.gather(*(v.pc.close() for v in viewers), return_exceptions=True)
            out["engine_per_viewer"] = (rate - zero) / VIEWERS
            out["engine_delivered"] = (c1 - c0) / (VIEWERS * FPS * VIEW_S)
            counts = [b - a for a, b in zip(latency_counts(m0), latency_counts(m1), strict=True)]
            out["latency_p50_ms"] = quantile_ms(counts, 0.50)
            out["latency_p95_ms"] = quantile_ms(counts, 0.95)
            out["latency_samples"] = int(sum(counts))
            log(f"  {VIEWERS} viewers: {100 * rate:.2f} % total → {100 * out['engine_per_viewer']:.3f} % of a core "
                f"per viewer (delivered {out['engine_delivered']:.3f}); forward latency p50 "
                f"{out['latency_p50_ms']} ms p95 {out['latency_p95_ms']} ms ({out['latency_samples']} frames)")
            await asyncio.sleep(1)
            try:
                out["first_frames"] = await first_frames(server, token, keep)
            except Exception as exc:  # the figure is optional: report null and why
                log(f"  first frame in Chromium: failed ({type(exc).__name__}: {str(exc)[:300]})")
                out["first_frames"] = None
    return out


# ------------------------------------------------------------------------------------ relay baseline


async def relay_phase(frames: list[bytes]) -> dict[str, Any]:
    """Return per-viewer CPU (cores) of aiortc MediaRelay re-encoding the camera's stream, and delivery."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.relay_baseline", "--port",
                                                str(port))
    base = f"http://127.0.0.1:{port}"
    pcs: list[RTCPeerConnection] = []
    viewers: list[Viewer] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/"):  # any reply (404) means it listens
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            pub = RTCPeerConnection()
            pcs.append(pub)
            pub.addTrack(PacketTrack(frames, fps=FPS))  # the camera's rate, as our viewers get it
            prefer_h264(pub)
            await pub.setLocalDescription(await pub.createOffer())
            async with http.post(f"{base}/publish", json={"sdp": pub.localDescription.sdp}) as r:
                answer = await r.json()
            await pub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            await asyncio.sleep(SETTLE_S + 1)
            zero = await cpu_rate(proc.pid, VIEW_S)
            log(f"  relay, publisher only (decodes): {100 * zero:.2f} % of a core")
            for _ in range(VIEWERS):
                async with http.post(f"{base}/subscribe") as r:
                    offer = await r.json()
                v = Viewer()
                viewers.append(v)
                pcs.append(v.pc)
                await v.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
                v.tap()
                await v.pc.setLocalDescription(await v.pc.createAnswer())
                async with http.post(f"{base}/answer", json={"id": offer["id"], "sdp": v.pc.localDescription.sdp}):
                    pass
            log(f"  relay publishes {sdp_codec(answer['sdp'])}, re-encodes to viewers as "
                f"{sdp_codec(viewers[0].pc.localDescription.sdp)}")
            await asyncio.sleep(SETTLE_S + 1)
            c0 = sum(v.count for v in viewers)
            rate = await cpu_rate(proc.pid, VIEW_S)
            c1 = sum(v.count for v in viewers)
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        proc.terminate()
        await proc.wait()
    per_viewer = (rate - zero) / VIEWERS
    delivered = (c1 - c0) / (VIEWERS * FPS * VIEW_S)
    log(f"  relay, {VIEWERS} viewers: {100 * rate:.1f} % total → {100 * per_viewer:.2f} % of a core per viewer "
        f"(delivered {delivered:.3f})")
    return {"per_viewer": per_viewer, "delivered": delivered}


async def transcode_phase() -> dict[str, Any]:
    """Measure one H.265 camera's live-view transcode, in this process: ingest alone, then ingest + transcode."""
    import tempfile
    from pathlib import Path

    from cameras.ingest import CameraIngest
    from cameras.transcode import LiveTranscoder
    from mediaserver.engine import Engine
    from mediaserver.storage import Database, Store

    window_s = 8.0 if QUICK else 20.0
    spec = sim_spec(1280, 720, 2000)
    spec["mounts"][0]["codec"] = "h265"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "index.db")
        await db.open()
        store = Store(db)
        await store.cameras.upsert("h265", "H.265", "api")
        engine = Engine()
        async with RtspServerProcess(spec) as sim:
            ingest = CameraIngest("h265", "main", sim.url("/main"), engine, store)
            await ingest.start()
            tx: LiveTranscoder | None = None
            try:
                await ingest.wait_state("online", timeout_s=15)
                await asyncio.sleep(SETTLE_S)
                c0, t0 = time.process_time(), time.monotonic()
                await asyncio.sleep(window_s)
                ingest_only = (time.process_time() - c0) / (time.monotonic() - t0)
                tx = LiveTranscoder(engine, ingest.source, ingest.attach_sink)
                await tx.start()
                await asyncio.sleep(SETTLE_S)
                f0, c0, t0 = tx.frames_out, time.process_time(), time.monotonic()
                await asyncio.sleep(window_s)
                elapsed = time.monotonic() - t0
                with_tx = (time.process_time() - c0) / elapsed
                out_fps = (tx.frames_out - f0) / elapsed
            finally:
                if tx is not None:
                    await tx.stop()
                await ingest.stop()
        await db.close()
    return {"ingest_pct": round(100 * ingest_only, 2), "transcode_pct": round(100 * (with_tx - ingest_only), 1),
            "out_fps": round(out_fps, 1)}


RECONNECT_CAMERAS = 8
RECONNECT_RESTARTS = 4 if QUICK else 12


async def _online_after(ingest: Any, back: float) -> float:
    """Return the seconds from ``back`` (monotonic) until the ingest is online again."""
    await ingest.wait_state("online", timeout_s=60)
    return time.monotonic() - back


async def reconnect_phase(probing: bool) -> dict[str, Any]:
    """Kill and restart one RTSP server of RECONNECT_CAMERAS mounts; return time-to-stream-again figures."""
    import random
    import tempfile
    from pathlib import Path

    from cameras.ingest import CameraIngest
    from mediaserver.engine import Engine
    from mediaserver.storage import Database, Store

    class BackoffOnly(CameraIngest):
        """The ingest as it was: no reachability probe, every retry waits out the backoff."""

        async def _probe(self) -> bool:
            return True

    rng = random.Random(13)
    scene = {"kind": "scene", "noise": 4, "background": 80}
    spec = {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": f"/cam{i}", "width": 320, "height": 180, "fps": 10, "gop": 10, "bitrate_kbps": 300,
                        "scene": scene} for i in range(RECONNECT_CAMERAS)]}
    kind = CameraIngest if probing else BackoffOnly
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "index.db")
        await db.open()
        store = Store(db)
        engine = Engine()
        sim = RtspServerProcess(spec)
        await sim.start()
        ingests = []
        try:
            for i in range(RECONNECT_CAMERAS):
                await store.cameras.upsert(f"r{i}", f"R{i}", "api")
                ingests.append(kind(f"r{i}", "main", sim.url(f"/cam{i}"), engine, store))
            for ing in ingests:
                await ing.start()
            await asyncio.gather(*(i.wait_state("online", timeout_s=30) for i in ingests))
            for _ in range(RECONNECT_RESTARTS):
                await asyncio.sleep(1.0)
                await sim.kill()
                await asyncio.gather(*(i.wait_state("offline", timeout_s=15) for i in ingests))
                await asyncio.sleep(rng.uniform(1.0, 4.0))
                await sim.start()  # returns once the server answers OPTIONS
                back = time.monotonic()

                samples += await asyncio.gather(*(_online_after(i, back) for i in ingests))
            outages = sum([len(await store.cameras.outages(f"r{i}", 0, time.time() + 1))
                           for i in range(RECONNECT_CAMERAS)])
        finally:
            await asyncio.gather(*(i.stop() for i in ingests), return_exceptions=True)
            await sim.stop()
            await db.close()
    samples.sort()

    def q(p: float) -> float:
        return round(samples[min(len(samples) - 1, max(0, -(-int(p * 100) * len(samples) // 100) - 1))], 2)

    return {"p50": q(0.50), "p95": q(0.95), "max": round(samples[-1], 2), "n": len(samples), "outages": outages}


async def main() -> None:
    t_start = time.monotonic()
    log(f"camera benchmark ({'QUICK' if QUICK else 'full'}): {CAMERAS_PER_GROUP} cameras per resolution at "
        f"{FPS} fps, {VIEWERS} viewers")
    sims = {res: [RtspServerProcess(sim_spec(w, h, kbps)) for _ in range(CAMERAS_PER_GROUP)]
            for res, (w, h, kbps) in RESOLUTIONS.items()}
    try:
        await asyncio.gather(*(s.start() for s in sims["640x360"]))
        frames = await asyncio.to_thread(capture_access_units, sims["640x360"][0].url("/main"), 6.0)
        kbps = sum(len(f) for f in frames) * 8 / (len(frames) / FPS) / 1000
        log(f"  captured {len(frames)} H.264 access units from a 640x360 camera ({kbps:.0f} kbit/s)")
        log(f"[1/4] ingest, then {VIEWERS} viewers of one 640x360 camera, through our server")
        ours = await server_phase(sims)
    finally:
        await asyncio.gather(*(s.stop() for g in sims.values() for s in g), return_exceptions=True)
    log(f"[2/4] baseline: aiortc MediaRelay (decode + re-encode per viewer), same access units, {VIEWERS} viewers")
    relay = await relay_phase(frames)
    log("[3/4] the explicit H.265 → H.264 live-view transcode of one 1280x720 camera (in this process)")
    tx = await transcode_phase()
    log(f"[3b/4] reconnect: {RECONNECT_CAMERAS} cameras on one RTSP server killed and restarted "
        f"{RECONNECT_RESTARTS} times (ours, then the backoff-only baseline)")
    rc = await reconnect_phase(probing=True)
    rc_base = await reconnect_phase(probing=False)
    engine = ours["engine_per_viewer"]
    ratio = relay["per_viewer"] / engine if engine > 0 else None
    ff = ours.get("first_frames")
    ff_ok = sorted(x for x in (ff or []) if x is not None)
    ff_p95 = round(ff_ok[min(len(ff_ok) - 1, max(0, -(-95 * len(ff_ok) // 100) - 1))], 3) if ff_ok else None
    log("[4/4] results")
    for res, pct in ours["ingest"].items():
        log(f"  ingest {res}: {pct} % of a core per camera (baseline: idle / previous level measured in this run)")
    log(f"  per live viewer: ours {100 * engine:.3f} % vs MediaRelay {100 * relay['per_viewer']:.2f} % of a core "
        f"→ viewer_cpu_ratio = {'n/a (ours ≤ 0: below noise)' if ratio is None else f'{ratio:.1f}'} "
        f"(target ≥ 10)")
    log(f"  added latency p95: {ours['latency_p95_ms']} ms (target ≤ 20; p50 {ours['latency_p50_ms']} ms)")
    log(f"  first frame in Chromium, {VIEWERS} views: "
        + (f"p95 {ff_p95} s (all: {ff})" if ff_p95 is not None else "not measured (null)"))
    tx_ratio = tx["transcode_pct"] / (100 * engine) if engine > 0 else None
    log(f"  H.265 live-view transcode (1280x720 → 360 lines at {tx['out_fps']} fps): {tx['transcode_pct']} % of a core "
        f"per camera (ingest alone {tx['ingest_pct']} %) = {'n/a' if tx_ratio is None else f'{tx_ratio:.0f}'}× one "
        f"pass-through viewer — why it is opt-in")
    log(f"  reconnect, server back → streaming again ({rc['n']} camera returns, {rc['outages']} outages recorded): "
        f"ours p50 {rc['p50']} s, p95 {rc['p95']} s, max {rc['max']} s (target p95 ≤ 5) vs backoff-only baseline "
        f"p50 {rc_base['p50']} s, p95 {rc_base['p95']} s, max {rc_base['max']} s")
    log(f"  run time {time.monotonic() - t_start:.0f} s")
    print(json.dumps({
        "bench": "cameras", "quick": QUICK, "cameras_per_resolution": CAMERAS_PER_GROUP, "fps": FPS,
        "viewers": VIEWERS,
        "ingest_cpu_pct_per_camera": ours["ingest"],
        "ingest_loop_lag_p99_ms": ours.get("loop_lag_p99_ms"),
        "viewer_cpu_ratio": round(ratio, 1) if ratio is not None else None,
        "relay_cpu_pct_per_viewer": round(100 * relay["per_viewer"], 2),
        "engine_cpu_pct_per_viewer": round(100 * engine, 3),
        "relay_delivered": round(relay["delivered"], 3), "engine_delivered": round(ours["engine_delivered"], 3),
        "added_latency_p95_ms": ours["latency_p95_ms"],
        "first_frame_p95_s": ff_p95,
        "server_peak_rss_mb": ours["rss_mb"],
        "h265_transcode_cpu_pct": tx["transcode_pct"], "h265_transcode_fps": tx["out_fps"],
        "transcode_vs_passthrough_viewer": round(tx_ratio) if tx_ratio is not None else None,
        "reconnect_p50_s": rc["p50"], "reconnect_p95_s": rc["p95"], "reconnect_max_s": rc["max"],
        "reconnect_baseline_p50_s": rc_base["p50"], "reconnect_baseline_p95_s": rc_base["p95"],
        "reconnect_baseline_max_s": rc_base["max"], "reconnect_outages_recorded": rc["outages"],
    }))


if __name__ == "__main__":
    asyncio.run(main())
