"""Recording benchmark (`python -m benchmarks.bench_record`, `QUICK=1` for a short run): record_cpu_ratio.

N simulated cameras (real GStreamer RTSP servers, 1280x720) are recorded at the same time, from the same
RTSP streams, by
- ours: a process running only what recording needs in the server — per camera a ``CameraIngest`` (our RTSP
  client, engine source) and a ``CameraRecorder`` (engine sink, writer thread remuxing to fragmented MP4
  segments, SQLite index) on uvloop like the server — ``python -m benchmarks.bench_record --worker``;
- the baseline: one ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 10
  -reset_timestamps 1 out%03d.mp4`` per camera;
- and, to split our figure, the same worker with ingest only (``--ingest-only``): what the server spends
  on these cameras anyway for live view and motion analysis.
After a warm-up, each process's user+system CPU is read from /proc over the same window.
- record_cpu_ratio = ours ÷ ffmpeg (target ≤ 1.5);
- record_marginal_cpu_ratio = (ours − ingest only) ÷ ffmpeg: the recorder's own cost next to ffmpeg's.
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import cpu_s, peak_rss_mb
from cameras.simulator.rtsp import RtspServerProcess

CAMERAS = 4
WIDTH, HEIGHT, FPS, KBPS = 1280, 720, 15, 2000
WARMUP_S = 6.0
QUICK_S, FULL_S = 30.0, 120.0
SEGMENT_S = 10.0
WORKER_READY_TIMEOUT_S = 30.0


def log(msg: str) -> None:
    print(msg, flush=True)


def sim_spec() -> dict[str, Any]:
    """One unauthenticated /main mount: a moving object over sensor noise, a keyframe every second."""
    scene = {"kind": "scene", "noise": 6, "background": 70, "loop_s": 20,
             "objects": [{"start_s": 0, "end_s": 20, "size": 0.2, "color": 230, "from": [0.1, 0.3],
                          "to": [0.9, 0.7]}]}
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": WIDTH, "height": HEIGHT, "fps": FPS, "gop": FPS,
                        "bitrate_kbps": KBPS, "scene": scene}]}


# ------------------------------------------------------------------------------------------- our side


async def _worker(data_dir: Path, urls: list[str], record: bool) -> None:
    """Ingest (and record) ``urls`` with the server's classes until SIGTERM; print what was written."""
    from cameras.ingest import CameraIngest
    from mediaserver.config import RecordSettings
    from mediaserver.engine import Engine
    from mediaserver.storage import Database, Store
    from recordings.recorder import CameraRecorder

    db = Database(data_dir / "index.db")
    await db.open()
    store = Store(db)
    engine = Engine()
    settings = RecordSettings(mode="continuous", segment_seconds=SEGMENT_S)
    ingests, recorders = [], []
    for i, url in enumerate(urls):
        cam = f"cam-{i}"
        await store.cameras.upsert(cam, cam, "config")
        ingest = CameraIngest(cam, "main", url, engine, store)
        await ingest.start()
        ingests.append(ingest)
    for ingest in ingests:
        await ingest.wait_state("online", timeout_s=WORKER_READY_TIMEOUT_S)
        if record:
            rec = CameraRecorder(ingest.camera_id, "main", ingest, engine, store, data_dir, settings, "continuous")
            await rec.start()
            recorders.append(rec)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    await stop.wait()
    for rec in recorders:
        await rec.stop()
    for ingest in ingests:
        await ingest.stop()
    await db.close()
    print(json.dumps({"segments": sum(r.segments_written for r in recorders),
                      "bytes": sum(r.bytes_written for r in recorders),
                      "errors": [r.last_error for r in recorders if r.last_error]}), flush=True)


def start_worker(data_dir: Path, urls: list[str], record: bool = True) -> subprocess.Popen[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    args = ["--worker" if record else "--ingest-only", str(data_dir), *urls]
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_record", *args], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "READY":
        proc.kill()
        raise RuntimeError(f"worker did not start (said {line!r})")
    return proc


def start_ffmpeg(out_dir: Path, url: str) -> subprocess.Popen[bytes]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rtsp_transport", "tcp",
                             "-i", url, "-c", "copy", "-f", "segment", "-segment_time", str(int(SEGMENT_S)),
                             "-reset_timestamps", "1", str(out_dir / "out%03d.mp4")],
                            stdin=subprocess.DEVNULL)


async def stop_worker(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
    return dict(json.loads(out.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------- the run


async def _run(quick: bool) -> dict[str, Any]:
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed (scripts/install-system-deps.sh installs it)")
    window_s = QUICK_S if quick else FULL_S
    log(f"record_cpu_ratio: {CAMERAS} simulated cameras {WIDTH}x{HEIGHT} @ {FPS} fps, {KBPS} kbit/s, "
        f"{window_s:.0f} s measured after {WARMUP_S:.0f} s warm-up")
    sims = [RtspServerProcess(sim_spec()) for _ in range(CAMERAS)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-record-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        await asyncio.gather(*(s.start() for s in sims))
        urls = [s.url("/main") for s in sims]
        log("  cameras up; starting our recorder, an ingest-only worker and one ffmpeg per camera")
        ours = await asyncio.to_thread(start_worker, tmp / "ours", urls)
        procs.append(ours)
        ingest_only = await asyncio.to_thread(start_worker, tmp / "ingest", urls, False)
        procs.append(ingest_only)
        ffmpegs = [start_ffmpeg(tmp / "ffmpeg" / f"cam-{i}", url) for i, url in enumerate(urls)]
        procs.extend(ffmpegs)
        await asyncio.sleep(WARMUP_S)
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a measured process exited early")
        start = [cpu_s(p.pid) for p in procs]
        t0 = time.monotonic()
        step = window_s / 6
        for i in range(6):
            await asyncio.sleep(step)
            log(f"  {(i + 1) * step:.0f}/{window_s:.0f} s")
        used = [cpu_s(p.pid) - c for p, c in zip(procs, start, strict=True)]
        elapsed = time.monotonic() - t0
        ours_rss, ffmpeg_rss = peak_rss_mb(ours.pid), max(peak_rss_mb(p.pid) for p in ffmpegs)
        summary = await stop_worker(ours)
        await stop_worker(ingest_only)
        for p in ffmpegs:
            p.send_signal(signal.SIGINT)  # ffmpeg finishes its current segment on SIGINT
        await asyncio.to_thread(lambda: [p.wait(30) for p in ffmpegs])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        await asyncio.gather(*(s.stop() for s in sims), return_exceptions=True)
    ffmpeg_files = sorted((tmp / "ffmpeg").rglob("*.mp4"))
    ffmpeg_bytes = sum(f.stat().st_size for f in ffmpeg_files)
    shutil.rmtree(tmp, ignore_errors=True)
    ours_cpu, ingest_cpu, ffmpeg_cpu = used[0], used[1], sum(used[2:])
    pct = [100 * c / elapsed for c in (ours_cpu, ingest_cpu, ffmpeg_cpu)]
    ratio = ours_cpu / ffmpeg_cpu if ffmpeg_cpu > 0 else float("inf")
    marginal = (ours_cpu - ingest_cpu) / ffmpeg_cpu if ffmpeg_cpu > 0 else float("inf")
    if summary["errors"]:
        log(f"  recorder errors: {summary['errors']}")
    log(f"  ours (ingest + record): {pct[0]:5.2f} % of a core for {CAMERAS} streams ({pct[0] / CAMERAS:.2f} % each), "
        f"{summary['segments']} segments, {summary['bytes'] / 1e6:.1f} MB, peak RSS {ours_rss:.0f} MiB")
    log(f"  ingest only:            {pct[1]:5.2f} % of a core ({pct[1] / CAMERAS:.2f} % each)")
    log(f"  ffmpeg -c copy:         {pct[2]:5.2f} % of a core ({pct[2] / CAMERAS:.2f} % each), "
        f"{len(ffmpeg_files)} files, {ffmpeg_bytes / 1e6:.1f} MB, peak RSS {ffmpeg_rss:.0f} MiB each")
    log(f"  record_cpu_ratio = {ratio:.2f} (ours ÷ ffmpeg, same streams, same window; target ≤ 1.5)")
    log(f"  record_marginal_cpu_ratio = {marginal:.2f} ((ours − ingest only) ÷ ffmpeg: the recorder's own cost)")
    return {"record_cpu_ratio": round(ratio, 3), "record_marginal_cpu_ratio": round(marginal, 3),
            "record_cpu_pct_ours": round(pct[0], 2), "record_cpu_pct_ingest_only": round(pct[1], 2),
            "record_cpu_pct_ffmpeg": round(pct[2], 2), "record_streams": CAMERAS,
            "record_stream": f"{WIDTH}x{HEIGHT}@{FPS}", "record_window_s": round(elapsed, 1),
            "record_segments": summary["segments"], "record_errors": len(summary["errors"])}


def run(quick: bool) -> dict[str, Any]:
    """Measure record_cpu_ratio; return the results."""
    return asyncio.run(_run(quick))


def main() -> None:
    """Run the benchmark (or, with --worker/--ingest-only DIR URL..., a process it measures)."""
    if len(sys.argv) > 2 and sys.argv[1] in ("--worker", "--ingest-only"):
        import uvloop

        uvloop.install()  # the server's default event loop (server.event_loop)
        asyncio.run(_worker(Path(sys.argv[2]), sys.argv[3:], record=sys.argv[1] == "--worker"))
        return
    result = run(os.environ.get("QUICK") == "1" or "--quick" in sys.argv)
    print(json.dumps({"bench": "record", **result}), flush=True)


if __name__ == "__main__":
    main()
