"""Assemble the server: ``create_app(config)`` wires every service through typed keys and cleanup contexts.

Start-up runs the cleanup contexts in order (index → scheduler); shutdown runs them in reverse, each stop
awaited, so the scheduler stops before the index it writes to is flushed and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from bridges.conference import Conference
from cameras.live import LiveViews
from cameras.manager import CameraManager
from cameras.motion.analyser import MotionAnalysers
from cameras.motion.metrics import motion_collector
from mediaserver import rooms_placement
from mediaserver.api import (
    auth_routes,
    cameras,
    cluster_routes,
    conference,
    documents,
    footage,
    live,
    meetings,
    minutes,
    nodes,
    peer,
    recordings,
    review,
    room_forwarding,
    scheduled,
    schedules,
    service_tokens,
    signatures,
    system,
    users,
)
from mediaserver.api import votes as vote_routes
from mediaserver.api.errors import error_middleware
from mediaserver.api.routing import Api
from mediaserver.app_keys import (
    AUDIT_KEY,
    CAMERAS_KEY,
    CLUSTER_KEY,
    CONFERENCE_KEY,
    CONFIG_KEY,
    ENGINE_KEY,
    EXPORTER_KEY,
    LIMITER_KEY,
    LIVE_VIEWS_KEY,
    LOOP_MONITOR_KEY,
    MEETING_RECORDINGS_KEY,
    METRICS_KEY,
    MOTION_KEY,
    PASSWORDS_KEY,
    PLAYBACK_KEY,
    RECORDERS_KEY,
    RETENTION_KEY,
    SCHEDULER_KEY,
    SECRETS_KEY,
    SERVICE_TOKENS_KEY,
    STORE_KEY,
    TOKENS_KEY,
)
from mediaserver.auth import LoginLimiter, Passwords, Role, Tokens, generate_password, load_or_create_secret
from mediaserver.cluster import Cluster
from mediaserver.cluster_client import cluster_secretbox_key, cluster_token_key
from mediaserver.config import Config, RecordSettings
from mediaserver.engine import Engine
from mediaserver.ice import IceServers, configure, host_addresses, nat_mapped, settings_for
from mediaserver.loopmon import LoopMonitor
from mediaserver.metrics import (
    Metrics,
    camera_collector,
    conference_collector,
    metrics_middleware,
    recording_collector,
)
from mediaserver.scheduler import JobContext, Scheduler
from mediaserver.secretbox import SecretBox
from mediaserver.security import SecurityHeaders
from mediaserver.service_tokens import ServiceTokens
from mediaserver.storage import Database, Store
from mediaserver.storage.nodes import LeaseRepo
from mediaserver.storage.repos import Room, Site
from recordings.export import Exporter
from recordings.meeting import ROOM_RECORD_ACTION, MeetingRecordings, remove_partial_files
from recordings.minutes.issue import MINUTES_KEY, MinutesIssuer
from recordings.playback import Playback
from recordings.reconcile import reconcile
from recordings.recorder import SET_MODE_ACTION, Recorders
from recordings.retention import GB_BYTES, RetentionSweeper
from recordings.signing.office import SIGNING_KEY, SigningService

logger = logging.getLogger(__name__)

ICE_SERVERS_KEY = web.AppKey("ice_servers", IceServers)

MAINTENANCE_JOB = "index-maintenance"
MAINTENANCE_EVERY_S = 6 * 3600.0
EXPIRED_TOKEN_KEEP_S = 7 * 86400.0
INITIAL_PASSWORD_FILE = "initial-admin-password.txt"


def build_api() -> Api:
    """Return the route table with every resource module registered."""
    api = Api()
    for module in (system, auth_routes, users, conference, live, meetings, scheduled, cameras, recordings,
                   footage, review, schedules, service_tokens, cluster_routes, documents):
        module.register(api)
    vote_routes.register(api)  # votes (biểu quyết)
    nodes.register(api)  # the cluster's nodes (mediaserver/cluster.py)
    for module in (minutes, signatures):  # minutes (biên bản), signed exports and the signature check
        module.register(api)
    return api


def create_app(config: Config, *, clock: Callable[[], float] = time.time,
               passwords: Passwords | None = None) -> web.Application:
    """Build the aiohttp application for ``config``; services start when the app starts."""
    metrics = Metrics()
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[metrics_middleware(metrics), error_middleware],
    )
    app.on_response_prepare.append(SecurityHeaders(config.server).on_prepare)
    db = Database.for_config(config.storage)
    store = Store(db)
    app[CONFIG_KEY] = config
    app[STORE_KEY] = store
    app[METRICS_KEY] = metrics
    app[LOOP_MONITOR_KEY] = LoopMonitor(metrics.registry)
    app[PASSWORDS_KEY] = passwords or Passwords()
    app[LIMITER_KEY] = LoginLimiter(config.auth.lockout)
    # A cluster's nodes share one token key (a join link works on every node): from cluster.secret if unset.
    token_key = cluster_token_key(config) or load_or_create_secret(config.auth, config.storage.data_dir)
    app[TOKENS_KEY] = Tokens(token_key, store, config.auth, clock=clock)
    app[SERVICE_TOKENS_KEY] = ServiceTokens(store)
    app[SCHEDULER_KEY] = Scheduler(store, config.timezone, clock=clock)
    engine = app[ENGINE_KEY] = Engine()
    # STUN/TURN: the server's own peer connections share one list (TURN REST credentials renewed by _ice_ctx);
    # each site's welcome gets fresh time-limited credentials of its own (bridges/signalling.py).
    ice_servers = app[ICE_SERVERS_KEY] = IceServers(config.server.ice_servers, clock=clock)
    ice = ice_servers.server_list
    app[CONFERENCE_KEY] = Conference(store, engine, ice)
    app[CONFERENCE_KEY].browser_ice_servers = ice_servers.for_browser
    app[CONFERENCE_KEY].ice_transport_policy = config.server.ice_transport_policy
    # Records meetings (API, the room.record action, auto_record rooms); the conference tells it of sites.
    app[MEETING_RECORDINGS_KEY] = MeetingRecordings(store, engine, config.storage.data_dir,
                                                    app[CONFERENCE_KEY].published)
    app[CONFERENCE_KEY].add_listener(app[MEETING_RECORDINGS_KEY])
    # In a cluster a run goes to the room's node, where its media is (mediaserver/api/room_forwarding.py).
    app[SCHEDULER_KEY].register(ROOM_RECORD_ACTION, room_forwarding.on_rooms_node(
        app, ROOM_RECORD_ACTION, app[MEETING_RECORDINGS_KEY].run_job))
    # E-mails scheduled meetings' reminders: one system job, every minute (see _scheduler_ctx).
    app[scheduled.REMINDERS_KEY] = scheduled.Reminders(app)
    app[SCHEDULER_KEY].register(scheduled.REMIND_ACTION, app[scheduled.REMINDERS_KEY].run_job)
    app[LIVE_VIEWS_KEY] = LiveViews(engine, ice)
    app[CAMERAS_KEY] = CameraManager(config, store, engine, app[LIVE_VIEWS_KEY])
    # Analyses every camera's sub stream for motion (events indexed as they happen), and runs the object detector
    # on the motion (one shared pool, config.detection; each camera's config.objects) for the review queue.
    app[MOTION_KEY] = MotionAnalysers(store, engine, config.storage.data_dir, detection=config.detection)
    app[CAMERAS_KEY].add_listener(app[MOTION_KEY])
    # Records every camera's main stream; its scheduler action is registered before configured jobs load.
    app[RECORDERS_KEY] = Recorders(store, engine, config.storage.data_dir)
    app[CAMERAS_KEY].add_listener(app[RECORDERS_KEY])
    app[SCHEDULER_KEY].register(SET_MODE_ACTION, app[RECORDERS_KEY].run_set_mode, per_node=True)  # cluster: all nodes
    app[RECORDERS_KEY].motion_summary = app[MOTION_KEY].summary  # each segment's motion score and heatmap
    app[SECRETS_KEY] = SecretBox(config.storage.data_dir, cluster_secretbox_key(config))  # every node opens them
    metrics.registry.register(camera_collector(app[CAMERAS_KEY]))
    metrics.registry.register(motion_collector(app[MOTION_KEY]))
    metrics.registry.register(conference_collector(app[CONFERENCE_KEY], engine))

    async def audit(**kw: Any) -> None:
        await store.audit.add(**kw)

    app[AUDIT_KEY] = audit
    data_dir = config.storage.data_dir
    app[PLAYBACK_KEY] = Playback(store, data_dir)
    app[EXPORTER_KEY] = Exporter(store, data_dir, min_free_bytes=int(config.retention.min_free_gb * GB_BYTES),
                                 timezone=config.timezone)  # file names in local time, as the UI shows
    # Digital signatures (signing.*): the minutes are signed as PAdES, each finished export gets a signed manifest.
    # The key file or token is read at start-up, off the event loop (_signing_ctx); minutes jobs stop at shutdown.
    app[SIGNING_KEY] = SigningService(config.signing, data_dir)
    app[EXPORTER_KEY].signing = app[SIGNING_KEY]
    app[MINUTES_KEY] = MinutesIssuer(app)
    app.cleanup_ctx.append(_signing_ctx)
    app.on_shutdown.append(_stop_minutes)
    # Registers its scheduler action now, before the scheduler loads configured jobs that may name it.
    app[RETENTION_KEY] = RetentionSweeper(store, config, app[SCHEDULER_KEY], registry=metrics.registry,
                                          reclaim=app[PLAYBACK_KEY].purge, clock=clock)
    retention = app[RETENTION_KEY]
    app[RECORDERS_KEY].on_segment = lambda _segment: retention.request_disk_check()  # never waits for the sweep
    # A disk too full to keep new footage shows on every recording camera, /readyz and /metrics.
    app[RECORDERS_KEY].blocked = lambda: None if retention.disk_alarm is None else (retention.disk_alarm.message,
                                                                                    retention.disk_alarm.since)
    metrics.registry.register(recording_collector(app[RECORDERS_KEY], retention))
    app.cleanup_ctx.append(_loop_monitor_ctx)  # first up, last down: it watches everything else
    app.cleanup_ctx.append(_ice_ctx)  # before anything gathers ICE candidates
    app.cleanup_ctx.append(_index_ctx)
    app.cleanup_ctx.append(_scheduler_ctx)
    app.cleanup_ctx.append(_recordings_ctx)
    app.cleanup_ctx.append(_footage_ctx)
    app.cleanup_ctx.append(_meeting_recordings_ctx)
    app.cleanup_ctx.append(_conference_ctx)
    app.cleanup_ctx.append(_cameras_ctx)
    if config.cluster is not None:
        # Several nodes share the index: cameras run only where their lease is held (mediaserver/cluster.py),
        # segments and job runs say which node wrote them, and each scheduled run is claimed by one node.
        app[CAMERAS_KEY].owned = set()  # none until the cluster's first beat takes this node's share
        app[CLUSTER_KEY] = Cluster(config.cluster, store, app[CAMERAS_KEY])
        app[RECORDERS_KEY].node_id = app[SCHEDULER_KEY].node_id = config.cluster.node_id
        app[MOTION_KEY].node_id = config.cluster.node_id  # thumbnails are on this disk: its retention deletes them
        app.cleanup_ctx.append(_cluster_ctx)  # after the cameras': it stops (and releases them) first
        # Node-to-node requests, footage held by other nodes (mediaserver/api/peer.py), rooms placed on nodes.
        peer.install(app, config.cluster)
        rooms_placement.install(app, config.cluster)
        # A room waiting to be recorded stays placed here, so its meeting's sites are sent where the request is.
        app[rooms_placement.ROOM_PLACEMENT_KEY].held.append(app[MEETING_RECORDINGS_KEY].armed_rooms)
        room_forwarding.install(app)  # the chair's controls for a room placed on another node go there
    app.on_shutdown.append(_end_meetings)
    build_api().install(app)
    return app


async def _signing_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the office's signer (or make the demo one) before anything is signed."""
    signing = await app[SIGNING_KEY].start()
    if signing.signer is not None:
        who = signing.certificate.display() if signing.certificate else "(read from the token at the first signature)"
        logger.info("signing: %s, %s%s", signing.backend, who, " — TEST-ONLY demo certificate" if signing.demo else "")
    yield


async def _stop_minutes(app: web.Application) -> None:
    await app[MINUTES_KEY].stop()


async def _loop_monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sample the event loop's lag into /metrics while the server runs."""
    monitor = app[LOOP_MONITOR_KEY]
    monitor.start()
    try:
        yield
    finally:
        await monitor.stop()


async def _ice_ctx(app: web.Application) -> AsyncIterator[None]:
    """Bind WebRTC media within the RTP port range and advertise the configured addresses (mediaserver/ice.py)
    while the app runs; renew the server's own TURN REST credentials."""
    server = app[CONFIG_KEY].server
    settings = settings_for(server)
    previous = configure(settings)
    addresses = await asyncio.to_thread(host_addresses, settings)
    logger.info("WebRTC media: UDP %d–%d on %s%s", server.rtp_port_min, server.rtp_port_max,
                ", ".join(addresses) or "no address (check server.ice_interfaces)",
                f", advertised through NAT as {server.nat_address}" if server.nat_address else "")
    if server.nat_address and not any(nat_mapped(a, server.nat_address) for a in addresses):
        logger.warning("server.nat_address %s is not advertised: no advertised address of its family that a NAT "
                       "forwards to (not loopback or link-local); check server.ice_interfaces", server.nat_address)
    servers = app[ICE_SERVERS_KEY]
    # One socket per site and advertised address, and one more per site for the server's TURN client, if any.
    per_site = max(1, len(addresses)) + (1 if servers.server_uses_turn else 0)
    needed = sum(r.max_sites for r in app[CONFIG_KEY].rooms.values()) * per_site
    if settings.ports.size < needed:
        logger.warning("server.rtp_port_min–rtp_port_max has %d ports; full rooms need about %d (one per site and "
                       "address, and per TURN client, plus cameras' RTP and live views): widen the range",
                       settings.ports.size, needed)
    every = servers.refresh_every_s
    refresher = None
    if every is not None:
        async def refresh() -> None:
            while True:
                await asyncio.sleep(every)
                servers.refresh()

        refresher = asyncio.ensure_future(refresh())
    try:
        yield
    finally:
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        configure(previous)


async def _index_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the index, apply migrations, mirror the config into it; flush and close it at the end."""
    cfg, store = app[CONFIG_KEY], app[STORE_KEY]
    await store.db.open()
    try:
        await sync_config_to_index(cfg, store)
        # In a cluster, a room another live node runs (it holds the room's lease) is not this node's to close.
        keep = [] if cfg.cluster is None else [
            lease.resource.removeprefix("room:") for lease in await LeaseRepo(store.db).unexpired("room:")
            if lease.node_id != cfg.cluster.node_id]
        closed = await store.rooms.close_open_sessions("server restarted", keep)
        if closed:
            logger.warning("closed %d meeting(s) left open by an unclean stop", closed)
        await bootstrap_admin(cfg, store, app[PASSWORDS_KEY])
        logger.info("index ready: %s (schema v%d)", store.db.describe(), await store.db.user_version())
        yield
    finally:
        await store.db.close()
        logger.info("index closed")


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """Register the control plane's own jobs, load the configured ones and run the scheduler."""
    scheduler, store, cfg, metrics = app[SCHEDULER_KEY], app[STORE_KEY], app[CONFIG_KEY], app[METRICS_KEY]

    async def maintenance(ctx: JobContext) -> None:
        purged = await store.tokens.purge_expired(time.time() - EXPIRED_TOKEN_KEEP_S)
        logger.info("index maintenance: purged %d expired token record(s)", purged)

    scheduler.register("index.maintenance", maintenance)
    await scheduler.add_job(MAINTENANCE_JOB, "index.maintenance", "interval", str(MAINTENANCE_EVERY_S),
                            grace_s=MAINTENANCE_EVERY_S, source="system")
    await scheduler.add_job(scheduled.REMIND_JOB, scheduled.REMIND_ACTION, "interval", f"{scheduled.REMIND_EVERY_S:g}",
                            grace_s=scheduled.REMIND_EVERY_S, source="system")
    await scheduler.sync_config(cfg.schedules)
    await scheduler.start()
    metrics.jobs_running.set_function(lambda: len(scheduler.status().get("running_jobs", [])))
    try:
        yield
    finally:
        await scheduler.stop()


async def _footage_ctx(app: web.Application) -> AsyncIterator[None]:
    """Fail exports a restart interrupted, empty the playback cache, run retention and the disk check."""
    await app[EXPORTER_KEY].start()
    await app[PLAYBACK_KEY].start()
    await app[RETENTION_KEY].start()
    try:
        yield
    finally:
        await app[RETENTION_KEY].stop()
        await app[EXPORTER_KEY].stop()
        await app[PLAYBACK_KEY].stop()


async def _recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    """Reconcile recordings with the index before any recorder writes; finish every segment at the end."""
    cfg, store, recorders = app[CONFIG_KEY], app[STORE_KEY], app[RECORDERS_KEY]

    def settings_for(camera_id: str) -> RecordSettings:
        cam = cfg.cameras.get(camera_id)
        return cam.record if cam is not None and cam.record is not None else cfg.recording

    await reconcile(store, cfg.storage.data_dir, settings_for,
                    node_id=cfg.cluster.node_id if cfg.cluster is not None else None)  # a cluster: this disk only
    await recorders.restore_modes(await store.jobs.all())  # schedule windows survive a restart
    try:
        yield
    finally:
        await recorders.stop()


async def _meeting_recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    """Clear meeting segments a crash left half-written; at the end, finish every recording."""
    removed = await asyncio.to_thread(remove_partial_files, app[CONFIG_KEY].storage.data_dir)
    if removed:
        logger.warning("removed %d unfinished meeting segment(s) left by an unclean stop", removed)
    try:
        yield
    finally:
        await app[MEETING_RECORDINGS_KEY].stop()  # after the conference ended its meetings


async def _end_meetings(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for open connections: say bye to every site and close its peer."""
    await app[CONFERENCE_KEY].stop()
    await app[LIVE_VIEWS_KEY].stop()


async def _cameras_ctx(app: web.Application) -> AsyncIterator[None]:
    """Bring the configured cameras up (each in the background); stop ingests and simulators at the end."""
    await app[CAMERAS_KEY].start(app[SECRETS_KEY])
    try:
        yield
    finally:
        await app[CAMERAS_KEY].stop()
        await app[MOTION_KEY].stop()  # idempotent: the cameras' streams stopped their analysers already


async def _cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """Join the cluster (heartbeat, take this node's cameras); at the end stop them and release their leases."""
    cluster = app[CLUSTER_KEY]
    await cluster.start()
    try:
        yield
    finally:
        await cluster.stop()


async def _conference_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the conference bridge; its meetings end in on_shutdown, while the index is still open."""
    yield
    await app[CONFERENCE_KEY].stop()  # idempotent: anything left after on_shutdown
    app[ENGINE_KEY].close()


async def sync_config_to_index(cfg: Config, store: Store) -> None:
    """Mirror config-defined sites, rooms and cameras into the index (config wins for those)."""
    await store.sites.sync_config(
        Site(sid, s.name, s.name_en, s.role.value, "config", True, s.email) for sid, s in cfg.sites.items()
    )
    for rid, r in cfg.rooms.items():
        members = () if r.sites == "all" else tuple(r.sites)
        await store.rooms.upsert(
            Room(rid, r.name, r.host_site, r.sites == "all", members, r.max_sites, r.auto_record, False,
                 "config", True, r.video_codec, r.audible_sites),
            "config",
        )
    await store.rooms.deactivate_config_rooms_except(cfg.rooms)
    for cid, c in cfg.cameras.items():
        await store.cameras.upsert(cid, c.name, "config")
    await store.cameras.deactivate_config_cameras_except(cfg.cameras)


async def bootstrap_admin(cfg: Config, store: Store, passwords: Passwords) -> None:
    """On an empty index, create the initial admin with a random password that must be changed."""
    if await store.users.count():
        return
    password = generate_password()
    await store.users.create(cfg.auth.initial_admin, await passwords.hash(password), Role.ADMIN,
                             must_change=True)
    path = cfg.storage.data_dir / INITIAL_PASSWORD_FILE
    path.write_text(f"{cfg.auth.initial_admin}\n{password}\n")
    path.chmod(0o600)
    # The password itself is never logged; the file is readable only by the server's user.
    logger.warning("created user %r; its one-time password is in %s (change it at first login)",
                   cfg.auth.initial_admin, path)
