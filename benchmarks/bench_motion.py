"""Motion analysis benchmark (`python -m benchmarks.bench_motion`, `QUICK=1` for a short run).

Setup: the camera simulator (a real GStreamer RTSP server, x264 baseline like the sub streams the tests
use) serves a scripted 640x360 25 fps scene at 512 kbit/s — noise, a lighting-free background, objects
moving ~80 % of the time (detection's expensive path, so the worst case for the ratio); a loop of it is
captured once as H.264 access units, exactly as the ingest publishes them.

Then N cameras replay that clip (each from a different GOP) at real-time rate through the real analyser
code path — engine Source → Sink → ``MotionAnalysers`` (pump task, one worker thread per camera: PyAV
decode of every frame, detection at 5 fps, event tracking, thumbnails) — with the whole process pinned to
one CPU core. Process CPU (all threads) is measured over a window, for three phases of the same N streams:

- feed only: the replay itself (what an ingest would cost; subtracted from the two below);
- decode only: the same analysers with a detector that does nothing (decode alone, same plumbing);
- motion analysis: the real detector.

Results:
- ``motion_cost_ratio`` = CPU(motion analysis) ÷ CPU(decode alone), same streams, same run (target ≤ 1.3);
  the two phases alternate over a few rounds and each is averaged, so load from other processes on the
  machine (which slows everything through the shared caches) weighs on both alike.
  Also shown against a tight PyAV decode loop of the same frames (no plumbing at all).
- ``cameras_per_core`` = N ÷ the cores the analysis of N streams used (target ≥ 16), reported only together
  with whether all N kept up on the one core (every camera analysed every frame due at 5 fps, give or take
  the few in flight at the window's edges, and dropped none).
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from cameras.ingest import annexb_parameter_sets, nal_types, to_annexb
from cameras.motion.analyser import MotionAnalysers, default_detector
from cameras.motion.detector import NO_MOTION, Detector, Luma, MotionResult
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.config import MotionSettings, RecordSettings
from mediaserver.engine import EncodedFrame, Engine, Sink, Source
from mediaserver.engine.frames import VIDEO_CLOCK_HZ

W, H, FPS = 640, 360, 25
KBPS = 512  # a typical 640x360 sub stream
ANALYSIS_FPS = 5.0
KEEP_UP_SLACK_FRAMES = 3  # a camera keeps up when no more than this many analyses behind what it was sent
TARGET_RATIO = 1.3
TARGET_CAMERAS = 16
_SPS = 7


def log(msg: str) -> None:
    """Print a progress line at once."""
    print(msg, flush=True)


def params(quick: bool) -> dict[str, Any]:
    """Return the run's sizes: clip length, cameras, warm-up and measurement windows."""
    return {"clip_s": 8 if quick else 20, "cameras": 32 if quick else 48, "warm_s": 2.5 if quick else 4.0,
            "measure_s": 5.0 if quick else 12.0, "rounds": 2 if quick else 3}


# ------------------------------------------------------------------------------------------------ clip


def scene_spec(loop_s: float) -> dict[str, Any]:
    """One 640x360 25 fps mount showing objects moving ~80 % of a loop of ``loop_s`` seconds."""
    objects = [
        {"start_s": 0.3, "end_s": 0.45 * loop_s, "size": 0.15, "color": 220, "from": [0.1, 0.3], "to": [0.9, 0.6]},
        {"start_s": 0.5 * loop_s, "end_s": 0.95 * loop_s, "size": 0.25, "color": 30, "from": [0.9, 0.7],
         "to": [0.2, 0.2]},
    ]
    scene = {"kind": "scene", "noise": 6, "background": 90, "objects": objects, "loop_s": loop_s}
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/sub", "width": W, "height": H, "fps": FPS, "gop": FPS, "bitrate_kbps": KBPS,
                        "scene": scene}]}


def read_clip(url: str, seconds: float) -> list[tuple[bytes, bool]]:
    """Read ``seconds`` of access units (Annex-B, SPS/PPS on keyframes) from an RTSP URL, keyframe first."""
    out: list[tuple[bytes, bool]] = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
        stream = container.streams.video[0]
        param_sets = annexb_parameter_sets(stream.codec_context.extradata)
        for packet in container.demux(stream):
            if packet.size == 0 or (not out and not packet.is_keyframe):
                continue
            data = to_annexb(bytes(packet))
            if packet.is_keyframe and param_sets and _SPS not in nal_types(data):
                data = param_sets + data
            out.append((data, bool(packet.is_keyframe)))
            if len(out) >= seconds * FPS:
                break
    return out


async def capture_clip(seconds: float) -> list[tuple[bytes, bool]]:
    """Capture a loop of the simulator's scripted scene."""
    server = RtspServerProcess(scene_spec(seconds))
    await server.start()
    try:
        return await asyncio.to_thread(read_clip, server.url("/sub"), seconds)
    finally:
        await server.stop()


def raw_decode_s_per_frame(clip: list[tuple[bytes, bool]], min_s: float = 2.0) -> float:
    """Return the CPU seconds per frame of a tight PyAV decode loop over the clip (the plainest baseline)."""
    frames, c0 = 0, time.process_time()
    while time.process_time() - c0 < min_s:
        decoder = av.CodecContext.create("h264", "r")
        decoder.thread_count = 1
        for data, _ in clip:
            frames += len(decoder.decode(av.Packet(data)))
    return (time.process_time() - c0) / frames


# ------------------------------------------------------------------------------------------- replay


class ClipFeed:
    """A camera stream replaying the clip at real-time rate from one of its GOPs (what an ingest publishes)."""

    def __init__(self, camera_id: str, clip: list[tuple[bytes, bool]], first: int) -> None:
        self.source = Source(f"camera/{camera_id}/sub", "video", "h264", VIDEO_CLOCK_HZ, owner=camera_id)
        self.clip = clip
        self.index = first
        self.published = 0

    def attach_sink(self, sink: Sink) -> int:
        """Attach a sink (nothing cached to replay)."""
        sink.attach(self.source)
        return 0

    async def run(self, delay_s: float) -> None:
        """Publish one frame every 1/FPS seconds, wall-clock stamped, until cancelled."""
        loop = asyncio.get_running_loop()
        step = 1.0 / FPS
        due = loop.time() + delay_s
        ts = 0
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            data, keyframe = self.clip[self.index]
            self.source.publish(EncodedFrame([], ts, keyframe, data=data, wall=time.time()))
            self.published += 1
            self.index = (self.index + 1) % len(self.clip)
            ts += VIDEO_CLOCK_HZ // FPS
            due += step
            if loop.time() - due > 1.0:  # starved for a second: do not burst to catch up
                due = loop.time()


class NullDetector:
    """Decode only: a detector that looks at nothing."""

    lighting_changes = 0

    def detect(self, luma: Luma) -> MotionResult:
        """Report no motion without reading the picture."""
        return NO_MOTION

    def reset(self) -> None:
        """Nothing to forget."""


async def phase(label: str, clip: list[tuple[bytes, bool]], n: int, p: dict[str, Any],
                detector: Callable[[MotionSettings, str], Detector] | None) -> dict[str, Any]:
    """Replay the clip as ``n`` cameras (analysed with ``detector``; None: not analysed); measure CPU."""
    engine = Engine()
    gops = max(1, len(clip) // FPS)
    feeds = [ClipFeed(f"cam-{i:02d}", clip, (i % gops) * FPS) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        analysers = None
        if detector is not None:
            analysers = MotionAnalysers(None, engine, Path(tmp), detector_factory=detector)
            for feed in feeds:
                await analysers.analyse(feed.source.owner, "sub", feed, MotionSettings(analysis_fps=ANALYSIS_FPS),
                                        RecordSettings())
        tasks = [asyncio.create_task(f.run(i / FPS / n)) for i, f in enumerate(feeds)]
        try:
            await asyncio.sleep(p["warm_s"])
            before = analysers.stats() if analysers else {}
            published = {f.source.owner: f.published for f in feeds}
            c0, t0 = time.process_time(), time.monotonic()
            await asyncio.sleep(p["measure_s"])
            cpu, elapsed = time.process_time() - c0, time.monotonic() - t0
            after = analysers.stats() if analysers else {}
            published = {f.source.owner: f.published - published[f.source.owner] for f in feeds}
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if analysers is not None:
                await analysers.stop()
            engine.close()
    out: dict[str, Any] = {"cores": cpu / elapsed}
    if after:
        fps = [(after[c].frames_analysed - before[c].frames_analysed) / elapsed for c in after]
        dec = [(after[c].frames_decoded - before[c].frames_decoded) / elapsed for c in after]
        # Kept up: every camera analysed what it was sent at ANALYSIS_FPS (give or take the frames in flight
        # at the window's edges) and dropped nothing.
        behind = [published[c] * ANALYSIS_FPS / FPS - (after[c].frames_analysed - before[c].frames_analysed)
                  for c in after]
        out.update(analysed_fps_min=min(fps), decoded_fps_min=min(dec), behind_max=max(behind),
                   dropped=sum(a.frames_dropped + a.decode_errors for a in after.values()),
                   decode_ms=sum(a.decode_ms for a in after.values()) / len(after),
                   detect_ms=sum(a.detect_ms for a in after.values()) / len(after),
                   events=sum(a.events for a in after.values()))
    extra = ""
    if "analysed_fps_min" in out:
        extra = (f", slowest camera decoded {out['decoded_fps_min']:.1f} fps / analysed {out['analysed_fps_min']:.2f}"
                 f" fps (at most {out['behind_max']:.0f} behind), dropped {out['dropped']},"
                 f" decode {out['decode_ms']:.3f} ms/frame, detect {out['detect_ms']:.3f} ms/analysed frame")
    log(f"  {label}: {n} cameras, process {100 * out['cores']:.1f} % of a core{extra}")
    return out


async def _run(quick: bool) -> dict[str, Any]:
    p = params(quick)
    n = p["cameras"]
    t0 = time.monotonic()
    log(f"[1/4] capturing a {p['clip_s']} s loop of the simulator's scene ({W}x{H} {FPS} fps, {KBPS} kbit/s)")
    clip = await capture_clip(p["clip_s"])
    kb = sum(len(d) for d, _ in clip) / 1000
    log(f"  {len(clip)} frames, {sum(k for _, k in clip)} keyframes, {8 * kb / (len(clip) / FPS):.0f} kbit/s")
    log("[2/4] tight PyAV decode loop (baseline without any plumbing)")
    raw_s = await asyncio.to_thread(raw_decode_s_per_frame, clip)
    log(f"  {1000 * raw_s:.3f} ms CPU per frame → {n} cameras × {FPS} fps = {100 * raw_s * n * FPS:.1f} % of a core")
    log(f"[3/4] {n} cameras replayed in real time, process pinned to one core; decode-only and motion phases"
        f" alternate ({p['rounds']} rounds) so a change in the machine's load hits both alike")
    feed = await phase("feed only", clip, n, p, None)
    decodes, motions = [], []
    for _ in range(p["rounds"]):
        decodes.append(await phase("decode only (null detector)", clip, n, p, lambda s, c: NullDetector()))
        motions.append(await phase("motion analysis (decode + detect)", clip, n, p, default_detector))
    decode = {"cores": sum(d["cores"] for d in decodes) / len(decodes)}
    motion = {"cores": sum(m["cores"] for m in motions) / len(motions),
              "dropped": sum(m["dropped"] for m in motions),
              "analysed_fps_min": min(m["analysed_fps_min"] for m in motions),
              "behind_max": max(m["behind_max"] for m in motions),
              "detect_ms": sum(m["detect_ms"] for m in motions) / len(motions),
              "decode_ms": sum(m["decode_ms"] for m in motions) / len(motions)}
    log("[4/4] results")
    decode_net = max(1e-9, decode["cores"] - feed["cores"])
    motion_net = max(1e-9, motion["cores"] - feed["cores"])
    raw_cores = raw_s * n * FPS
    ratio = motion_net / decode_net
    kept_up = motion["dropped"] == 0 and motion["behind_max"] <= KEEP_UP_SLACK_FRAMES
    per_core = n / motion_net
    # Cross-check from the worker threads' own CPU clocks (immune to other processes, blind to cache effects
    # and to the loop side): detection CPU per second ÷ decoding CPU per second.
    thread_share = motion["detect_ms"] * ANALYSIS_FPS / (motion["decode_ms"] * FPS)
    log(f"  motion_cost_ratio = {100 * motion_net:.1f} % ÷ {100 * decode_net:.1f} % (decode alone, same plumbing)"
        f" = {ratio:.3f} (target ≤ {TARGET_RATIO})")
    log(f"  worker threads' own clocks: detection {motion['detect_ms']:.3f} ms × {ANALYSIS_FPS:g}/s ÷ decoding"
        f" {motion['decode_ms']:.3f} ms × {FPS}/s = +{100 * thread_share:.1f} %")
    log(f"  against the tight decode loop: {100 * motion_net:.1f} % ÷ {100 * raw_cores:.1f} % ="
        f" {motion_net / raw_cores:.3f}")
    log(f"  cameras_per_core = {n} ÷ {motion_net:.3f} cores = {per_core:.1f} (target ≥ {TARGET_CAMERAS}); "
        f"all {n} kept up on one core: {kept_up}; decode-only would allow {n / decode_net:.1f}")
    log(f"  run time {time.monotonic() - t0:.0f} s")
    return {"motion_cost_ratio": round(ratio, 3), "cameras_per_core": round(per_core, 1) if kept_up else None,
            "motion_cost_ratio_vs_raw_decode": round(motion_net / raw_cores, 3),
            "motion_cameras_measured": n, "motion_kept_up": kept_up,
            "motion_cores": round(motion_net, 4), "decode_cores": round(decode_net, 4),
            "raw_decode_ms_per_frame": round(1000 * raw_s, 4), "feed_cores": round(feed["cores"], 4),
            "motion_detect_thread_share": round(thread_share, 3),
            "motion_detect_ms": round(motion["detect_ms"], 3), "motion_decode_ms": round(motion["decode_ms"], 3),
            "motion_stream": f"{W}x{H} {FPS} fps H.264 {KBPS} kbit/s, analysed at {ANALYSIS_FPS:g} fps"}


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark pinned to one CPU core (restored afterwards); return its results."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})  # threads started from now on inherit it
    try:
        return asyncio.run(_run(quick))
    finally:
        os.sched_setaffinity(0, allowed)


def main() -> None:
    """Run the benchmark and print its JSON last."""
    result = run(os.environ.get("QUICK") == "1" or "--quick" in sys.argv)
    print(json.dumps({"bench": "motion", **result}), flush=True)


if __name__ == "__main__":
    main()
