"""Typed application keys through which ``create_app`` hands services to routes (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bridges.conference import Conference
    from cameras.live import LiveViews
    from cameras.manager import CameraManager
    from cameras.motion.analyser import MotionAnalysers
    from mediaserver.auth import LoginLimiter, Passwords, Tokens
    from mediaserver.cluster import Cluster
    from mediaserver.config import Config
    from mediaserver.engine import Engine
    from mediaserver.loopmon import LoopMonitor
    from mediaserver.metrics import Metrics
    from mediaserver.scheduler import Scheduler
    from mediaserver.secretbox import SecretBox
    from mediaserver.service_tokens import ServiceTokens
    from mediaserver.storage import Store
    from recordings.export import Exporter
    from recordings.meeting import MeetingRecordings
    from recordings.playback import Playback
    from recordings.recorder import Recorders
    from recordings.retention import RetentionSweeper

CONFIG_KEY: web.AppKey[Config] = web.AppKey("config")
STORE_KEY: web.AppKey[Store] = web.AppKey("store")
TOKENS_KEY: web.AppKey[Tokens] = web.AppKey("tokens")
SERVICE_TOKENS_KEY: web.AppKey[ServiceTokens] = web.AppKey("service_tokens")
PASSWORDS_KEY: web.AppKey[Passwords] = web.AppKey("passwords")
LIMITER_KEY: web.AppKey[LoginLimiter] = web.AppKey("login_limiter")
SCHEDULER_KEY: web.AppKey[Scheduler] = web.AppKey("scheduler")
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics")
LOOP_MONITOR_KEY: web.AppKey[LoopMonitor] = web.AppKey("loop_monitor")
# The audit writer: a callable so the route layer needs no storage import.
AUDIT_KEY: web.AppKey[Callable[..., Awaitable[Any]]] = web.AppKey("audit")
ENGINE_KEY: web.AppKey[Engine] = web.AppKey("engine")
CONFERENCE_KEY: web.AppKey[Conference] = web.AppKey("conference")
LIVE_VIEWS_KEY: web.AppKey[LiveViews] = web.AppKey("live_views")
CAMERAS_KEY: web.AppKey[CameraManager] = web.AppKey("cameras")
SECRETS_KEY: web.AppKey[SecretBox] = web.AppKey("secrets")
MOTION_KEY: web.AppKey[MotionAnalysers] = web.AppKey("motion")
RECORDERS_KEY: web.AppKey[Recorders] = web.AppKey("recorders")
RETENTION_KEY: web.AppKey[RetentionSweeper] = web.AppKey("retention")
EXPORTER_KEY: web.AppKey[Exporter] = web.AppKey("exporter")
PLAYBACK_KEY: web.AppKey[Playback] = web.AppKey("playback")
MEETING_RECORDINGS_KEY: web.AppKey[MeetingRecordings] = web.AppKey("meeting_recordings")
# This node's cluster membership (leases, node list); absent when config.cluster is unset (one node).
CLUSTER_KEY: web.AppKey[Cluster] = web.AppKey("cluster")
