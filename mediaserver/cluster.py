"""Several server processes (nodes) sharing one index: who is alive, and which node records which camera.

Each node registers itself (id, advertise_url, capacity) and heartbeats every ``heartbeat_s`` with its load.
A camera runs on the one node holding its lease (``camera:<id>`` in ``leases``, mediaserver/storage/nodes.py);
the holder renews its leases with every heartbeat. Each beat a node also balances: it takes free cameras up to
its fair share, ``ceil(cameras / live nodes)`` (more when the other live nodes are full; never more than its
capacity), and gives one camera back when it holds more than its share while another live node has room. So
two nodes split four cameras 2/2, and when one dies its leases expire and the survivor takes them over within
about ``lease_ttl_s + heartbeat_s`` (plus the camera's own start-up).

Fencing (nothing is recorded twice): a lease is valid until ``expires_at`` of the DATABASE's clock. The holder
stops a camera when its renewal fails, and at the latest ``lease_ttl_s - margin`` seconds of its own monotonic
clock after the last successful renewal was *sent* — always before the database lets another node take it.
A node that was paused or cut off past that point has stopped the camera when it resumes; a segment it still
finishes then is refused by the index (``SegmentRepo.add`` checks the lease), so the index never holds two
nodes' overlapping footage of one camera.

Lifecycle (the project's service style): ``await start()`` (registers, takes its first cameras), then
``await stop()`` (idempotent) cancels and awaits its tasks, stops its cameras and leaves the node list with
its leases, so the other nodes take them over at once (a node that crashes stays listed, dead).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any, Literal

from cameras.manager import CameraManager
from mediaserver.config import ClusterConfig
from mediaserver.storage import Store
from mediaserver.storage.nodes import Lease, LeaseRepo, Node, NodeRepo

logger = logging.getLogger(__name__)

State = Literal["new", "running", "stopping", "stopped"]
CAMERA_PREFIX = "camera:"
# A lease stops being used this fraction of its TTL before the database would let it go: room for the
# camera's stop (finishing and indexing its segment) and for clock rate drift. ClusterConfig guarantees
# ttl >= 3 heartbeats, so at least two renewals are tried before a camera is fenced off.
FENCE_MARGIN_FRACTION = 1 / 3
# After an unexpected error in a beat (the database briefly unreachable), the next one comes this much later.
ERROR_RETRY_S = 1.0


def camera_resource(camera_id: str) -> str:
    """Return the lease resource name of a camera."""
    return CAMERA_PREFIX + camera_id


def _preference(node_id: str, camera_id: str) -> int:
    """Return how much ``node_id`` prefers ``camera_id`` (rendezvous hashing: nodes prefer different cameras)."""
    return int.from_bytes(hashlib.blake2b(f"{node_id}\0{camera_id}".encode(), digest_size=8).digest(), "big")


class _CpuMeter:
    """This process's CPU use (% of one core) since the previous reading."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def read(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        span = wall - self._wall
        pct = 100.0 * (cpu - self._cpu) / span if span > 0 else 0.0
        self._wall, self._cpu = wall, cpu
        return round(pct, 1)


class Cluster:
    """This node's membership: heartbeat, camera leases (renew, take, give back, fence) and the node list."""

    def __init__(self, config: ClusterConfig, store: Store, cameras: CameraManager, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.node_id = config.node_id
        self.address = config.advertise_url.rstrip("/")
        self.store = store
        self.node_repo = NodeRepo(store.db)
        self.lease_repo = LeaseRepo(store.db)
        self.cameras = cameras
        self._monotonic = monotonic
        self.state: State = "new"
        # Extra load figures for the heartbeat (e.g. R's room count): each returns a dict merged into the load.
        self.load_providers: list[Callable[[], dict[str, Any]]] = []
        self.nodes: dict[str, Node] = {}  # every registered node as of the last beat
        self.live: set[str] = set()  # ids of the live ones
        self.last_beat_at: float | None = None  # database clock of the last successful heartbeat
        self._deadlines: dict[str, float] = {}  # camera id → monotonic time it must have stopped by
        self._owned_since: dict[str, float] = {}  # camera id → monotonic time this node took it
        self._changed = asyncio.Event()  # deadlines moved: the fence re-plans its sleep
        self._wake = asyncio.Event()  # beat now (a camera was added or removed)
        self._lock = asyncio.Lock()  # one beat or fence action at a time
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._cpu = _CpuMeter()

    # ------------------------------------------------------------------------------------- queries

    @property
    def ttl_s(self) -> float:
        """Return the lease TTL in seconds."""
        return self.config.lease_ttl_s

    def is_local(self, node_id: str | None) -> bool:
        """Return whether ``node_id`` (a segment's, a lease's) is this node; None (no cluster then) is local."""
        return node_id is None or node_id == self.node_id

    def address_of(self, node_id: str) -> str | None:
        """Return a node's advertise_url as of the last beat (None: unknown node)."""
        if node_id == self.node_id:
            return self.address
        node = self.nodes.get(node_id)
        return node.address.rstrip("/") if node is not None else None

    def is_alive(self, node_id: str) -> bool:
        """Return whether the node heartbeated within the lease TTL (as of the last beat)."""
        return node_id in self.live

    def owned_cameras(self) -> list[str]:
        """Return the cameras this node holds the lease of, by id."""
        return sorted(self._deadlines)

    def load(self) -> dict[str, Any]:
        """Return what this node reports in its heartbeat."""
        load: dict[str, Any] = {"cameras": len(self._deadlines), "cpu_pct": self._cpu.read(),
                                "cpus": os.cpu_count() or 1}
        for provider in self.load_providers:
            try:
                load.update(provider())
            except Exception:  # a broken figure must not stop the heartbeat
                logger.exception("cluster: a load provider failed")
        return load

    def wake(self) -> None:
        """Beat now instead of at the next interval (e.g. a camera was added through the API)."""
        self._wake.set()

    # ----------------------------------------------------------------------------------- lifecycle

    def _set_state(self, state: State) -> None:
        if state != self.state:
            logger.info("cluster node %s: %s -> %s", self.node_id, self.state, state)
            self.state = state

    async def start(self) -> None:
        """Register this node, take its first cameras and start the heartbeat and fence tasks."""
        if self.state != "new":
            raise RuntimeError(f"cluster cannot start from state {self.state!r}")
        self._set_state("running")
        try:
            node = await self.node_repo.register(self.node_id, self.address, self.config.capacity)
            logger.info("cluster node %s registered at %s (capacity %d cameras, lease %g s, heartbeat %g s)",
                        node.id, node.address, node.capacity, self.ttl_s, self.config.heartbeat_s)
            await self._beat()
        except BaseException:
            await self.stop()
            raise
        self._tasks = [asyncio.create_task(self._beat_loop(), name=f"cluster-beat-{self.node_id}"),
                       asyncio.create_task(self._fence_loop(), name=f"cluster-fence-{self.node_id}")]

    async def stop(self) -> None:
        """Stop the tasks, then this node's cameras, then leave the node list (releasing its leases); idempotent."""
        if self.state == "stopped":
            return
        if self.state == "stopping":
            await self._stopped.wait()
            return
        self._set_state("stopping")
        try:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
            async with self._lock:
                owned = list(self._deadlines)
                # Stopped first (segments finished and indexed while the leases are still ours), then released.
                await self.cameras.set_owned(set())
                self._deadlines.clear()
                self._changed.set()
                try:
                    # Leaves the node list with every lease it holds (rooms too): the others take over at once
                    # instead of after the TTL. A node that crashes instead stays listed, dead.
                    await self.node_repo.remove(self.node_id)
                    logger.info("cluster node %s: left the cluster, released %d camera(s)", self.node_id, len(owned))
                except Exception as exc:  # an unreachable index: the leases simply expire
                    logger.warning("cluster node %s: could not leave the cluster cleanly (%s); its leases expire "
                                   "in %g s", self.node_id, exc, self.ttl_s)
        finally:
            self._set_state("stopped")
            self._stopped.set()

    # ------------------------------------------------------------------------------------- beating

    async def _beat_loop(self) -> None:
        while True:
            self._wake.clear()
            delay = self.config.heartbeat_s
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("cluster node %s: heartbeat failed; retrying in %g s", self.node_id, ERROR_RETRY_S)
                delay = ERROR_RETRY_S
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _beat(self) -> None:
        """Heartbeat, renew, then take or give back cameras toward this node's fair share."""
        async with self._lock:
            if self.state != "running":
                return
            ttl = self.ttl_s
            sent = self._monotonic()
            self.last_beat_at = await self.node_repo.heartbeat(self.node_id, self.load())
            renewed = await self.lease_repo.renew_all(self.node_id, ttl)
            mine = {r.removeprefix(CAMERA_PREFIX) for r in renewed if r.startswith(CAMERA_PREFIX)}
            lost = set(self._deadlines) - mine
            for camera_id in mine:
                self._deadlines[camera_id] = sent + ttl * (1 - FENCE_MARGIN_FRACTION)
            if lost:
                logger.warning("cluster node %s: lost the lease of camera(s) %s; stopping them", self.node_id,
                               ", ".join(sorted(lost)))
                await self._drop(lost)
            self.nodes = {n.id: n for n in await self.node_repo.all()}
            live = await self.node_repo.live(None, ttl)
            self.live = {n.id for n in live}
            leases = {lease.resource.removeprefix(CAMERA_PREFIX): lease
                      for lease in await self.lease_repo.unexpired(CAMERA_PREFIX)}
            # Leases this node holds on cameras it no longer runs (removed through the API): give them back.
            for camera_id in sorted(mine - self.cameras.wanted.keys()):
                await self._give_back(camera_id)
                mine.discard(camera_id)
            await self._balance(leases, live, sent)
            self._changed.set()
            await self.cameras.set_owned(set(self._deadlines))

    async def _balance(self, leases: dict[str, Lease], live: list[Node], sent: float) -> None:
        """Take free cameras up to this node's target, or give one back when it holds more than its share."""
        wanted = sorted(self.cameras.wanted)
        if not wanted:
            return
        others = [n for n in live if n.id != self.node_id]
        share = math.ceil(len(wanted) / (len(others) + 1))
        free = [c for c in wanted if c not in leases]
        # Room the other live nodes have below their own share (as of their last heartbeat).
        others_room = sum(max(0, min(n.capacity, share) - int(n.load.get("cameras", 0))) for n in others)
        target = min(self.config.capacity, share + max(0, len(free) - others_room))
        mine = set(self._deadlines)
        if len(mine) < target and free:
            for camera_id in sorted(free, key=lambda c: _preference(self.node_id, c), reverse=True):
                if len(self._deadlines) >= target:
                    break
                if await self.lease_repo.acquire(camera_resource(camera_id), self.node_id, self.ttl_s):
                    self._deadlines[camera_id] = sent + self.ttl_s * (1 - FENCE_MARGIN_FRACTION)
                    self._owned_since[camera_id] = self._monotonic()
                    logger.info("cluster node %s: took camera %s", self.node_id, camera_id)
        elif len(mine) > target and others_room > 0:
            # One at a time: the others take it on their next beat, and the shares settle without a stampede.
            camera_id = min(mine, key=lambda c: _preference(self.node_id, c))
            logger.info("cluster node %s: holds %d camera(s), share %d; giving camera %s back", self.node_id,
                        len(mine), target, camera_id)
            await self._give_back(camera_id)

    async def _give_back(self, camera_id: str) -> None:
        """Stop a camera here, then release its lease (in that order: its last segment is indexed first)."""
        await self._drop({camera_id})
        await self.lease_repo.release(camera_resource(camera_id), self.node_id)

    async def _drop(self, camera_ids: set[str]) -> None:
        for camera_id in camera_ids:
            self._deadlines.pop(camera_id, None)
            self._owned_since.pop(camera_id, None)
        self._changed.set()
        await self.cameras.set_owned(set(self._deadlines))

    # ------------------------------------------------------------------------------------- fencing

    async def _fence_loop(self) -> None:
        """Stop every camera whose lease may have expired, even while a beat is stuck on the database."""
        while True:
            self._changed.clear()
            now = self._monotonic()
            overdue = {c for c, deadline in self._deadlines.items() if deadline <= now}
            if overdue:
                logger.warning("cluster node %s: lease of camera(s) %s not renewed in time; stopping them",
                               self.node_id, ", ".join(sorted(overdue)))
                for camera_id in overdue:
                    self._deadlines.pop(camera_id, None)
                # Not under the lock: a beat stuck on the database holds it, and this must not wait.
                await self.cameras.set_owned(set(self._deadlines))
                continue
            delay = min(self._deadlines.values(), default=now + 3600.0) - now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self._changed.wait()
