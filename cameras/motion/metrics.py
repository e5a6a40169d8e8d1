"""Prometheus view of the motion analysers, read at scrape time (nothing is kept in between)."""

from __future__ import annotations

from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cameras.motion.analyser import MotionAnalysers


class _MotionCollector(Collector):
    def __init__(self, analysers: MotionAnalysers) -> None:
        self.analysers = analysers

    def collect(self) -> Any:
        """Yield each analysed camera's rates, costs and counts."""
        labels = ["camera", "stream"]
        fps = GaugeMetricFamily("mediaserver_motion_analysed_fps", "Frames analysed for motion per second",
                                labels=labels)
        decode = GaugeMetricFamily("mediaserver_motion_decode_ms", "CPU per decoded frame (recent mean)",
                                   labels=labels)
        detect = GaugeMetricFamily("mediaserver_motion_detect_ms", "CPU per analysed frame (recent mean)",
                                   labels=labels)
        events = CounterMetricFamily("mediaserver_motion_events", "Motion events started", labels=labels)
        dropped = CounterMetricFamily("mediaserver_motion_frames_dropped", "Frames the analyser dropped",
                                      labels=labels)
        lighting = CounterMetricFamily("mediaserver_motion_lighting_changes",
                                       "Global lighting changes re-baselined", labels=labels)
        objects = CounterMetricFamily("mediaserver_objects_detected_frames",
                                      "Frames sent to the object detector", labels=labels)
        skipped = CounterMetricFamily("mediaserver_objects_skipped_frames",
                                      "Frames the detection pool refused (full) or could not detect", labels=labels)
        kept = CounterMetricFamily("mediaserver_objects_kept", "Objects kept after the camera's filters",
                                   labels=labels)
        object_ms = GaugeMetricFamily("mediaserver_objects_detect_ms", "Detector time per crop (recent mean)",
                                      labels=labels)
        reviews = CounterMetricFamily("mediaserver_review_writes", "Review item writes (upserts)", labels=labels)
        for cid, st in self.analysers.stats().items():
            key = [cid, st.stream]
            fps.add_metric(key, st.analysed_fps)
            decode.add_metric(key, st.decode_ms)
            detect.add_metric(key, st.detect_ms)
            events.add_metric(key, st.events)
            dropped.add_metric(key, st.frames_dropped)
            lighting.add_metric(key, st.lighting_changes)
            objects.add_metric(key, st.object_frames)
            skipped.add_metric(key, st.object_skipped)
            kept.add_metric(key, st.objects_kept)
            object_ms.add_metric(key, st.object_ms)
            reviews.add_metric(key, st.review_items_written)
        yield from (fps, decode, detect, events, dropped, lighting, objects, skipped, kept, object_ms, reviews)


def motion_collector(analysers: MotionAnalysers) -> Collector:
    """Return a collector exposing every camera analyser's statistics."""
    return _MotionCollector(analysers)
