"""Prometheus metrics: one registry per app (tests run several apps in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from mediaserver.api.live import warnings_for
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.engine.engine import LATENCY_BUCKETS_S

if TYPE_CHECKING:
    from bridges.conference import Conference
    from cameras.manager import CameraManager
    from mediaserver.engine import Engine
    from recordings.recorder import Recorders
    from recordings.retention import RetentionSweeper

REQUEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The server's metrics; subsystems add their own instruments to ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "mediaserver_http_requests", "HTTP requests served", ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "mediaserver_http_request_duration_seconds", "HTTP request handling time", ["route"],
            buckets=REQUEST_BUCKETS_S, registry=self.registry,
        )
        self.logins_failed = Counter("mediaserver_login_failures", "Failed logins", registry=self.registry)
        self.start_time = Gauge("mediaserver_start_time_seconds", "Server start, UTC epoch",
                                registry=self.registry)
        self.start_time.set(time.time())
        self.jobs_running = Gauge("mediaserver_scheduler_running_jobs", "Jobs running now", registry=self.registry)

    def render(self) -> bytes:
        """Return the exposition text."""
        return generate_latest(self.registry)


def metrics_middleware(metrics: Metrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Count requests per route template (not per URL, to keep label cardinality bounded)."""

    @web.middleware
    async def mw(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
        start = time.perf_counter()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.http_requests.labels(request.method, route, str(status)).inc()
            metrics.http_latency.labels(route).observe(time.perf_counter() - start)

    return mw


class _CameraCollector(Collector):
    """Per-camera stream health, read from the camera manager at scrape time."""

    def __init__(self, cameras: CameraManager) -> None:
        self.cameras = cameras

    def collect(self) -> Any:
        """Yield the camera gauges."""
        labels = ["camera", "stream"]
        online = GaugeMetricFamily("mediaserver_camera_online", "1 while the stream is online", labels=labels)
        fps = GaugeMetricFamily("mediaserver_camera_fps", "Frames per second received", labels=labels)
        kbps = GaugeMetricFamily("mediaserver_camera_bitrate_kbps", "Bitrate received", labels=labels)
        last = GaugeMetricFamily("mediaserver_camera_last_frame_time_seconds", "UTC epoch of the last frame",
                                 labels=labels)
        reconnects = CounterMetricFamily("mediaserver_camera_reconnects", "Reconnection attempts", labels=labels)
        lost = CounterMetricFamily("mediaserver_camera_rtp_packets_lost", "RTP packets that never arrived",
                                   labels=labels)
        dropped = CounterMetricFamily("mediaserver_camera_frames_dropped",
                                      "Frames dropped after a lost packet, up to the next keyframe", labels=labels)
        for cid, cam in list(self.cameras.cameras.items()):
            for stream, ingest in cam.ingests.items():
                st = ingest.stats()
                online.add_metric([cid, stream], 1.0 if st.state == "online" else 0.0)
                fps.add_metric([cid, stream], st.fps)
                kbps.add_metric([cid, stream], st.bitrate_kbps)
                if st.last_frame_at is not None:
                    last.add_metric([cid, stream], st.last_frame_at)
                reconnects.add_metric([cid, stream], st.reconnects)
                lost.add_metric([cid, stream], st.packets_lost)
                dropped.add_metric([cid, stream], st.frames_dropped)
        yield from (online, fps, kbps, last, reconnects, lost, dropped)


def camera_collector(cameras: CameraManager) -> Collector:
    """Return a collector exposing each camera stream's health."""
    return _CameraCollector(cameras)


class _RecordingCollector(Collector):
    """Whether new footage can be kept: retention's disk-full alarm and the cameras it blocks, at scrape time."""

    def __init__(self, recorders: Recorders, retention: RetentionSweeper) -> None:
        self.recorders = recorders
        self.retention = retention

    def collect(self) -> Any:
        """Yield the recording-blocked gauges."""
        alarm = self.retention.disk_alarm
        yield GaugeMetricFamily("mediaserver_recording_disk_full", "1 while the data disk is too full to keep new "
                                "footage (every new segment would be deleted)", value=0.0 if alarm is None else 1.0)
        since = GaugeMetricFamily("mediaserver_recording_disk_full_since_seconds",
                                  "UTC epoch the disk-full alarm began (absent when none)")
        if alarm is not None:
            since.add_metric([], alarm.since)
        yield since
        blocked = GaugeMetricFamily("mediaserver_camera_recording_blocked", "1 for each camera whose footage cannot "
                                    "be kept now, by reason", labels=["camera", "reason"])
        for cid in sorted(self.recorders.blocked_cameras()):
            blocked.add_metric([cid, "disk_full"], 1.0)
        yield blocked


def recording_collector(recorders: Recorders, retention: RetentionSweeper) -> Collector:
    """Return a collector saying whether, and for which cameras, recording is blocked by a full disk."""
    return _RecordingCollector(recorders, retention)


class _ConferenceCollector(Collector):
    """Per-site live numbers, read from the running meetings at scrape time (nothing kept in between)."""

    def __init__(self, conference: Conference, engine: Engine) -> None:
        self.conference = conference
        self.engine = engine

    def collect(self) -> Any:
        """Yield the conference gauges."""
        labels = ["room", "site"]
        fams = {
            "in": GaugeMetricFamily("mediaserver_site_bitrate_in_kbps", "Media a site sends us", labels=labels),
            "out": GaugeMetricFamily("mediaserver_site_bitrate_out_kbps", "Media we send a site", labels=labels),
            "loss": GaugeMetricFamily("mediaserver_site_packet_loss_percent", "Loss on a site's uplink",
                                      labels=labels),
            "rtt": GaugeMetricFamily("mediaserver_site_rtt_ms", "Round-trip time to a site", labels=labels),
            "fwd": GaugeMetricFamily("mediaserver_site_frames_forwarded", "Frames sent to a site", labels=labels),
            "drop": GaugeMetricFamily("mediaserver_site_frames_dropped", "Frames dropped for a slow site",
                                      labels=labels),
        }
        speaker = GaugeMetricFamily("mediaserver_room_speaker", "1 for the room's active speaker", labels=labels)
        # The same numbers in base units, as GET /api/v1/rooms/{room}/live shows them per site.
        base = {
            "rtt": GaugeMetricFamily("mediaserver_site_rtt_seconds", "Round-trip time to a site (RTCP)",
                                     labels=labels),
            "loss": GaugeMetricFamily("mediaserver_site_loss_ratio", "Share of a site's uplink packets lost (0-1)",
                                      labels=labels),
            "fps": GaugeMetricFamily("mediaserver_site_fps", "Camera frames per second arriving from a site",
                                     labels=labels),
            "fps_sent": GaugeMetricFamily("mediaserver_site_fps_sent", "Frames per second a site's page reports "
                                          "its camera encodes", labels=labels),
            "width": GaugeMetricFamily("mediaserver_site_video_width_pixels", "Camera width a site reports sending",
                                       labels=labels),
            "height": GaugeMetricFamily("mediaserver_site_video_height_pixels",
                                        "Camera height a site reports sending", labels=labels),
            "lost": GaugeMetricFamily("mediaserver_site_media_lost", "1 while a connected site's media has stopped "
                                      "arriving (no packet for 2 s)", labels=labels),
        }
        bitrate = GaugeMetricFamily("mediaserver_site_bitrate_bps", "Media bitrate, in: a site sends us, out: we "
                                    "send it", labels=[*labels, "direction"])
        warning = GaugeMetricFamily("mediaserver_site_warning", "1 for each quality warning a site has now "
                                    "(media_lost, high_loss, high_rtt, low_fps, low_bitrate)",
                                    labels=[*labels, "warning"])
        for room_id, room in list(self.conference.rooms.items()):
            for site, session in list(room.sessions.items()):
                st = session.stats
                for key, value in (("in", st.bitrate_in_kbps), ("out", st.bitrate_out_kbps),
                                   ("loss", st.packet_loss_pct), ("rtt", st.rtt_ms),
                                   ("fwd", st.frames_forwarded), ("drop", st.frames_dropped)):
                    if value is not None:
                        fams[key].add_metric([room_id, site], float(value))
                speaker.add_metric([room_id, site], 1.0 if room.current_speaker == site else 0.0)
                ids = [room_id, site]
                answered = session.state == "answered"
                if st.rtt_ms is not None:
                    base["rtt"].add_metric(ids, st.rtt_ms / 1000)
                base["loss"].add_metric(ids, st.packet_loss_pct / 100)
                base["fps"].add_metric(ids, st.fps_in)
                for key, reported in (("fps_sent", st.fps_sent), ("width", st.width), ("height", st.height)):
                    if reported is not None:
                        base[key].add_metric(ids, float(reported))
                base["lost"].add_metric(ids, 1.0 if answered and session.media_lost else 0.0)
                bitrate.add_metric([*ids, "in"], st.bitrate_in_kbps * 1000)
                bitrate.add_metric([*ids, "out"], st.bitrate_out_kbps * 1000)
                media = None if not answered else "lost" if session.media_lost else "ok"
                for code in warnings_for(media, st.packet_loss_pct, st.rtt_ms, st.fps_in, st.bitrate_in_kbps,
                                         session.muted["video"] or session.moderated["video"]):
                    warning.add_metric([*ids, code], 1.0)
        yield from fams.values()
        yield speaker
        yield from base.values()
        yield bitrate
        yield warning
        packets = sum(hooks.sender_counters(slot.transceiver.sender)[0]
                      for room in self.conference.rooms.values() for session in room.sessions.values()
                      for slot in session.slots)
        yield CounterMetricFamily("mediaserver_engine_rtp_packets_out", "RTP packets forwarded to sites",
                                  value=packets)
        hist = HistogramMetricFamily("mediaserver_forward_latency_seconds",
                                     "Frame complete at the server → handed to a site's sender")
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), self.engine.latency_counts, strict=True):
            cumulative += count
            buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
        hist.add_metric([], buckets, sum_value=0.0)
        yield hist
        stats = self.engine.stats()
        yield GaugeMetricFamily("mediaserver_engine_sources", "Sources in the engine", value=stats["sources"])
        yield GaugeMetricFamily("mediaserver_engine_keyframe_requests", "Keyframe requests sent to publishers",
                                value=stats["keyframe_requests_sent"])


def conference_collector(conference: Conference, engine: Engine) -> Collector:
    """Return a collector exposing the conference's live per-site numbers."""
    return _ConferenceCollector(conference, engine)
