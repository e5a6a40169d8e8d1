"""Meeting recording benchmark (`python -m benchmarks.bench_meeting_record`, `QUICK=1` for a short run).

A 21-site meeting's published tracks (each site: 640x360 VP8 at 25 fps, ~500 kbit/s, and 20 ms Opus) are
played into engine sources at their real rate, in one process, as a site's connection would deliver them
(RTP payloads), and recorded by ``recordings.meeting.MeetingRecorder`` (sinks, depacketizing, one writer
thread remuxing to 10 s WebM segments, commit + index in SQLite). Measured in the same run:
- feed: the process's CPU while only the sources are fed (nothing subscribed);
- ours: the same with the recorder attached, minus feed = what recording costs;
- baseline: ``ffmpeg -c copy -f segment`` remuxing the very files we wrote (the same packets) into 10 s
  WebM segments, one ffmpeg per track, CPU from rusage of the children, minus the same processes' start-up
  (measured by remuxing 0.1 s of each track).
Prints CPU per recorded track, the whole meeting's recording CPU, and ours ÷ ffmpeg; last line one JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aiortc.codecs.vpx import Vp8Encoder

from mediaserver.engine import EncodedFrame, Engine, Source, is_keyframe
from mediaserver.storage import Database, Store
from mediaserver.storage.repos import Room, Site
from recordings.meeting import MeetingRecorder
from tests.conf_peer import encode_opus, encode_video

SITES = 21
FPS = 25
QUICK_S, FULL_S = 20.0, 60.0
SEGMENT_S = 10.0


def log(msg: str) -> None:
    print(msg, flush=True)


def self_cpu_s() -> float:
    """Return this process's user+system CPU seconds (every thread)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu_s() -> float:
    """Return the CPU seconds of finished child processes."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def feed(sources: list[tuple[Source, Source]], video: list[list[bytes]], audio: list[bytes],
               seconds: float) -> int:
    """Publish every site's video (25 fps) and audio (50 pps) for ``seconds``; return frames published."""
    start = time.monotonic()
    tick = 0
    n = 0
    while time.monotonic() - start < seconds:
        for i, (v, a) in enumerate(sources):
            a.publish(EncodedFrame([audio[tick % len(audio)]], (tick * 960) % (1 << 32), True))
            n += 1
            if tick % 2 == 0:
                k = tick // 2
                payloads = video[k % len(video)]
                v.publish(EncodedFrame(payloads, (k * 3600 + i) % (1 << 32), is_keyframe("vp8", payloads)))
                n += 1
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))
    return n


async def run(seconds: float, work: Path) -> dict[str, Any]:
    log(f"encoding test media (640x360 VP8, {FPS} fps; Opus 20 ms) …")
    frames = encode_video("vp8", 50, 5, size=(640, 360), gop=50, bitrate=500_000)
    video = [list(Vp8Encoder._packetize(f, i)) for i, f in enumerate(frames)]
    audio = encode_opus(1.0)
    db = Database(work / "index.db")
    store = Store(db)
    await db.open()
    site_ids = [f"site-{i:02d}" for i in range(SITES)]
    await store.sites.sync_config([Site(s, s, None, "commune", "config", True) for s in site_ids])
    await store.rooms.upsert(Room("bench", "Bench", site_ids[0], True, (), 64, False, False, "config", True),
                             "config")
    engine = Engine()
    sources = [(engine.add_source(Source(f"bench/{s}/video", "video", "vp8", 90_000, owner=s)),
                engine.add_source(Source(f"bench/{s}/audio", "audio", "opus", 48_000, owner=s))) for s in site_ids]
    try:
        log(f"feed only: {SITES} sites for {seconds:.0f} s …")
        c0 = self_cpu_s()
        await feed(sources, video, audio, seconds)
        feed_cpu = self_cpu_s() - c0
        session = await store.rooms.start_session("bench", "bench")
        rec = MeetingRecorder(store, engine, work, "bench", session.id, segment_s=SEGMENT_S)
        log(f"recording: {SITES} sites x (video, audio) for {seconds:.0f} s …")
        c0 = self_cpu_s()
        await rec.start()
        for s, (v, a) in zip(site_ids, sources, strict=True):
            rec.add_site(s, {"video": v, "audio": a})
        published = await feed(sources, video, audio, seconds)
        await rec.stop()
        rec_cpu = self_cpu_s() - c0
        segs = await store.segments.for_session(session.id)
    finally:
        engine.close()
        await db.close()
    tracks = 2 * SITES
    log(f"recorded {len(segs)} segments, {sum(s.bytes for s in segs) / 1e6:.1f} MB, "
        f"{rec.frames_dropped} frames dropped of {published}")
    ffmpeg_cpu = await asyncio.to_thread(ffmpeg_baseline, work, [(s.site_id or "", s.track, s.path) for s in segs])
    ours = rec_cpu - feed_cpu
    result = {
        "sites": SITES, "tracks": tracks, "seconds": seconds, "segments": len(segs),
        "frames_dropped": rec.frames_dropped,
        "feed_cpu_pct": round(100 * feed_cpu / seconds, 1),
        "record_cpu_pct": round(100 * ours / seconds, 1),
        "record_cpu_pct_per_track": round(100 * ours / seconds / tracks, 2),
        "ffmpeg_copy_cpu_pct": round(100 * ffmpeg_cpu / seconds, 1),
        "meeting_record_cpu_ratio": round(ours / ffmpeg_cpu, 2) if ffmpeg_cpu > 0 else None,
    }
    log(f"recording a {SITES}-site meeting: {result['record_cpu_pct']} % of one core "
        f"({result['record_cpu_pct_per_track']} % per track) beside ffmpeg -c copy "
        f"{result['ffmpeg_copy_cpu_pct']} %: ratio {result['meeting_record_cpu_ratio']} "
        f"(feeding the sources alone: {result['feed_cpu_pct']} %)")
    return result


def ffmpeg_baseline(work: Path, segs: list[tuple[str, str, str]]) -> float:
    """Remux every track's files with ``ffmpeg -c copy -f segment``; return the CPU seconds it took."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        log("ffmpeg not found: no baseline")
        return float("nan")
    by_track: dict[tuple[str, str], list[str]] = {}
    for site, track, path in segs:
        by_track.setdefault((site, track), []).append(path)
    log(f"baseline: ffmpeg -c copy -f segment over the same {len(by_track)} tracks …")

    def remux(tag: str, extra: list[str]) -> float:
        c0 = children_cpu_s()
        for k, ((site, track), paths) in enumerate(sorted(by_track.items())):
            lst = work / f"list-{k}.txt"
            lst.write_text("".join(f"file '{work / p}'\n" for p in paths))
            out = work / f"ff-{tag}-{site}-{track}"
            out.mkdir()
            subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(lst),
                            *extra, "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_S),
                            "-reset_timestamps", "1", str(out / "%03d.webm")], check=True)
        return children_cpu_s() - c0

    # One ffmpeg per track pays its start-up each time (we start once): measure that with a 0.1 s remux.
    startup = remux("startup", ["-t", "0.1"])
    total = remux("full", [])
    log(f"ffmpeg start-up ({len(by_track)} processes, 0.1 s each): {startup:.2f} s of CPU, subtracted")
    return max(1e-6, total - startup)


def main() -> None:
    """Run the benchmark and print its JSON line."""
    seconds = QUICK_S if os.environ.get("QUICK") else FULL_S
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(seconds, Path(tmp)))
    print(json.dumps({"bench": "meeting_record", **result}), flush=True)


if __name__ == "__main__":
    main()
