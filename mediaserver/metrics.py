"""Prometheus metrics: one registry per app (tests run several apps in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.job_runs = Counter("mediaserver_scheduler_runs", "Job runs by outcome", ["outcome"],
                                registry=self.registry)

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
