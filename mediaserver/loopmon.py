"""Event-loop lag: how late the loop runs a callback it was asked to run on time, as a metric.

Everything latency-sensitive shares the one loop — RTP forwarding, camera RTP reception, signalling, the API —
so a handler that hogs it shows here first. A probe sleeps ``PROBE_INTERVAL_S`` and records how much later
than asked it woke (``mediaserver_event_loop_lag_seconds``); ten wake-ups a second cost nothing measurable.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry, Histogram

from mediaserver.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.1
LAG_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0)
# A lag this long is logged (once per episode): something ran seconds on the loop.
LAG_WARN_S = 0.5


class LoopMonitor:
    """Samples the running loop's lag into a histogram until stopped."""

    def __init__(self, registry: CollectorRegistry, interval_s: float = PROBE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.lag = Histogram("mediaserver_event_loop_lag_seconds", "How late the event loop woke a sleeping probe",
                             buckets=LAG_BUCKETS_S, registry=registry)
        self.max_lag_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        """Stop sampling; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        clock, interval, observe = time.monotonic, self.interval_s, self.lag.observe
        warned = False
        while True:
            asked = clock() + interval
            await asyncio.sleep(interval)
            lag = max(0.0, clock() - asked)
            observe(lag)
            if lag > self.max_lag_s:
                self.max_lag_s = lag
            if lag >= LAG_WARN_S and not warned:
                logger.warning("the event loop was blocked for %.2f s", lag)
            warned = lag >= LAG_WARN_S
