"""The CCTV side of the server: brings every configured camera up and keeps it up.

Per camera, in its own task: start the simulator if the camera is simulated; onboard it over ONVIF
(retrying an unreachable camera with capped backoff, stopping at once on bad credentials); store what was
learned in the index; then run one ``CameraIngest`` per stream (main, and sub when there is one). Config
wins over what ONVIF reports (``streams.main_url``/``sub_url``). Live viewers are primed from each
ingest's GOP cache. The camera layer never imports the conference: a camera joins a meeting as a plain
engine source, wired by the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from cameras.ingest import CameraIngest
from cameras.live import LiveViews, ViewError
from cameras.onvif.onboarding import (
    CameraInfo,
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifUnreachable,
    continuous_move,
    fetch_snapshot,
    goto_preset,
    probe_camera,
    set_preset,
    stream_url_with_credentials,
)
from cameras.onvif.onboarding import stop as ptz_stop
from cameras.simulator.camera import SimulatedCamera
from cameras.transcode import LiveTranscoder
from mediaserver.config import CameraConfig, Config
from mediaserver.engine import Engine, Sink
from mediaserver.secretbox import SecretBox
from mediaserver.storage import Store

logger = logging.getLogger(__name__)

ONBOARD_BACKOFF_INITIAL_S = 1.0
ONBOARD_BACKOFF_MAX_S = 60.0
SIM_USER = "admin"
SIM_PASSWORD = "Sim-Camera-2026"  # local simulator only; never a real device's credential


class CameraPhase(StrEnum):
    STARTING = "starting"
    ONBOARDING = "onboarding"
    STREAMING = "streaming"
    OFFLINE = "offline"  # brought up, but no stream is online now (reported by status(), see camera_health)
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass
class ManagedCamera:
    """Everything the server runs for one camera."""

    id: str
    config: CameraConfig
    phase: CameraPhase = CameraPhase.STARTING
    error: str | None = None
    error_code: str | None = None  # the failure as a code staff have words for (cameras/failures.py)
    info: CameraInfo | None = None
    ingests: dict[str, CameraIngest] = field(default_factory=dict)
    simulator: SimulatedCamera | None = None
    onvif_host: str | None = None
    onvif_port: int | None = None
    user: str = ""
    password: str = ""
    task: asyncio.Task[None] | None = None


class StreamListener(Protocol):
    """Something that follows camera streams as they come and go (the recorder, the motion analyser)."""

    async def stream_started(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """A camera stream's ingest has started (it may not be online yet)."""

    async def stream_stopping(self, cam: ManagedCamera, stream: str, ingest: CameraIngest) -> None:
        """A camera stream's ingest is about to stop (camera removed, server stopping)."""


def camera_config(name: str, source: dict[str, Any], password: str, config: Config) -> CameraConfig:
    """Rebuild an API-added camera's config from its stored source (global recording/motion defaults)."""
    data: dict[str, Any] = {"name": name}
    if source.get("onvif"):
        data["onvif"] = {**source["onvif"], "password": password}
    if source.get("streams"):
        data["streams"] = {k: (stream_url_with_credentials(v, source.get("rtsp_user", ""), password)
                               if k.endswith("_url") and v and source.get("rtsp_user") else v)
                           for k, v in source["streams"].items()}
    cfg = CameraConfig.model_validate(data)
    cfg.record = config.recording.model_copy(deep=True)
    cfg.motion = config.motion.model_copy(deep=True)
    return cfg


def _primer(ingest: CameraIngest) -> Callable[[Sink], None]:
    """Return how to start a new viewer of ``ingest``: replay its last GOP into the viewer's sink."""

    def prime(sink: Sink) -> None:
        ingest.gop.replay(ingest.source, sink)

    return prime


def _first_down(cam: ManagedCamera) -> CameraIngest | None:
    """Return the stream whose outage began first, when a streaming camera has no stream online (else None)."""
    if cam.phase != CameraPhase.STREAMING or not cam.ingests:
        return None
    ingests = list(cam.ingests.values())
    if any(i.state in ("online", "connecting") for i in ingests):
        return None
    down = [i for i in ingests if i.offline_since is not None]
    return min(down, key=lambda i: i.offline_since or 0.0) if down else None  # none down: stopped


def camera_health(cam: ManagedCamera) -> tuple[str, float | None, str | None]:
    """Return a camera's phase as staff should see it, since when it is offline, and why.

    A brought-up camera is ``streaming`` only while a stream is online (or still making its first connection);
    when none is, it is ``offline`` (``auth_failed`` when the camera refused every stream's credentials), since
    the earliest of its streams' outages.
    """
    first = _first_down(cam)
    if first is None:
        return cam.phase.value, None, cam.error
    auth = all(i.state == "auth_failed" for i in cam.ingests.values())
    phase = CameraPhase.AUTH_FAILED if auth else CameraPhase.OFFLINE
    return phase.value, first.offline_since, first.error or cam.error


def camera_error_code(cam: ManagedCamera) -> str | None:
    """Return the code of the reason camera_health gives: the first down stream's, else the camera's own."""
    first = _first_down(cam)
    return (first.error_code if first is not None else None) or cam.error_code


def offline_view_error(cam: ManagedCamera) -> ViewError | None:
    """Return why a live view of the camera cannot start now (offline since …), None when it can."""
    phase, since, why = camera_health(cam)
    if phase not in (CameraPhase.OFFLINE, CameraPhase.AUTH_FAILED) or since is None:
        return None
    at = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return ViewError("camera_offline", f"camera {cam.id!r} is offline since {at}" + (f": {why}" if why else ""))


class CameraManager:
    """Owns every camera's simulator, onboarding and ingests; ``stop()`` ends them all."""

    def __init__(self, config: Config, store: Store, engine: Engine, views: LiveViews) -> None:
        self.config = config
        self.store = store
        self.engine = engine
        self.views = views
        self.cameras: dict[str, ManagedCamera] = {}
        self.listeners: list[StreamListener] = []
        self.transcoders: dict[str, LiveTranscoder] = {}  # by the H.265 source id
        # Every enabled camera, running here or not. With a cluster (mediaserver/cluster.py) only those in
        # ``owned`` (whose lease this node holds) run here; None: every camera runs here (one node).
        self.wanted: dict[str, CameraConfig] = {}
        self.owned: set[str] | None = None
        self._owned_lock = asyncio.Lock()

    def add_listener(self, listener: StreamListener) -> None:
        """Tell ``listener`` about every stream started from now on (and ending)."""
        self.listeners.append(listener)

    async def start(self, secrets: SecretBox | None = None) -> None:
        """Start bringing up every enabled camera, configured or added through the API (returns at once)."""
        for cid, cfg in self.config.cameras.items():
            if cfg.enabled:
                self.add(cid, cfg)
        if secrets is not None:
            for cam, source, sealed in await self.store.cameras.api_sources():
                try:
                    password = secrets.open(sealed) if sealed else ""
                    self.add(cam.id, camera_config(cam.name, source, password, self.config))
                except ValueError as exc:
                    logger.error("%s: stored camera cannot be started: %s", cam.id, exc)

    def add(self, camera_id: str, cfg: CameraConfig) -> ManagedCamera | None:
        """Bring one camera up in the background (used at start and when the API adds a camera).

        Returns None when the camera is another node's (``owned`` does not hold it): it is only remembered.
        """
        self.wanted[camera_id] = cfg
        if self.owned is not None and camera_id not in self.owned:
            return None
        cam = self.cameras[camera_id] = ManagedCamera(camera_id, cfg)
        cam.task = asyncio.create_task(self._bring_up(cam), name=f"camera-{camera_id}")
        return cam

    async def set_owned(self, owned: set[str]) -> None:
        """Run exactly the wanted cameras in ``owned`` here: stop the others (awaited), start the new ones."""
        self.owned = set(owned)
        # Serialised, and always towards the latest ``owned``: two callers (a heartbeat, the lease fence) never
        # start one camera twice, and a camera lost meanwhile is not started again.
        async with self._owned_lock:
            leaving = [cam for cid, cam in self.cameras.items() if cid not in self.owned]
            for cam in leaving:
                self.cameras.pop(cam.id, None)
            # Awaited: a camera this node lost must have stopped recording before its lease can pass on.
            await asyncio.gather(*(self._stop_camera(cam) for cam in leaving), return_exceptions=True)
            for cid in sorted(self.owned - self.cameras.keys()):
                if cid in self.wanted:
                    self.add(cid, self.wanted[cid])

    async def remove(self, camera_id: str) -> bool:
        """Stop one camera (its ingests, simulator and onboarding); return whether it was running."""
        self.wanted.pop(camera_id, None)
        cam = self.cameras.pop(camera_id, None)
        if cam is None:
            return False
        await self._stop_camera(cam)
        return True

    def _set_phase(self, cam: ManagedCamera, phase: CameraPhase, error: str | None = None) -> None:
        if phase != cam.phase:
            logger.info("%s: %s -> %s%s", cam.id, cam.phase, phase, f" ({error})" if error else "")
        cam.phase, cam.error = phase, error
        if error is None:
            cam.error_code = None

    async def _bring_up(self, cam: ManagedCamera) -> None:
        cfg = cam.config
        try:
            if cfg.onvif is not None:
                cam.user, cam.password = cfg.onvif.username, cfg.onvif.password.get_secret_value()
                cam.onvif_host, cam.onvif_port = cfg.onvif.host, cfg.onvif.port
            if cfg.simulate is not None:
                cam.user, cam.password = cam.user or SIM_USER, cam.password or SIM_PASSWORD
                cam.simulator = SimulatedCamera(cfg.name, cfg.simulate, cam.user, cam.password)
                cam.onvif_host, cam.onvif_port = await cam.simulator.start()
            urls = {"main": cfg.streams.main_url, "sub": cfg.streams.sub_url}
            if cam.onvif_host is not None and cam.onvif_port is not None:
                cam.info = await self._onboard(cam)
                if cam.info is None:
                    return
                for stream, profile in (("main", cam.info.main), ("sub", cam.info.sub)):
                    if urls[stream] is None and profile is not None and profile.stream_uri:
                        urls[stream] = stream_url_with_credentials(profile.stream_uri, cam.user, cam.password)
            for stream, url in urls.items():
                if url is None:
                    continue
                ingest = CameraIngest(cam.id, stream, url, self.engine, self.store, transport=cfg.streams.transport,
                                      udp_ports=(self.config.server.rtp_port_min, self.config.server.rtp_port_max))
                cam.ingests[stream] = ingest
                await ingest.start()
                self.views.set_primer(ingest.source.id, _primer(ingest))
                self.views.set_gate(ingest.source.id, functools.partial(offline_view_error, cam))
                for listener in self.listeners:
                    try:
                        await listener.stream_started(cam, stream, ingest)
                    except Exception:  # a recorder failing must not take the live view down
                        logger.exception("%s/%s: %s failed to start", cam.id, stream, type(listener).__name__)
            self._set_phase(cam, CameraPhase.STREAMING if cam.ingests else CameraPhase.ERROR,
                            None if cam.ingests else "no stream URL configured or reported")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken simulator install, an unexpected reply: this camera only
            logger.exception("%s: could not be brought up", cam.id)
            self._set_phase(cam, CameraPhase.ERROR, str(exc))

    async def _onboard(self, cam: ManagedCamera) -> CameraInfo | None:
        """Probe the camera over ONVIF until it answers; None when credentials are refused."""
        assert cam.onvif_host is not None and cam.onvif_port is not None
        delay = ONBOARD_BACKOFF_INITIAL_S
        while True:
            if cam.phase not in (CameraPhase.UNREACHABLE, CameraPhase.ERROR):  # a retry keeps saying why
                self._set_phase(cam, CameraPhase.ONBOARDING)
            try:
                info = await probe_camera(cam.onvif_host, cam.onvif_port, cam.user, cam.password,
                                          name=cam.config.name)
            except OnvifAuthError as exc:
                cam.error_code = exc.code
                self._set_phase(cam, CameraPhase.AUTH_FAILED, str(exc))  # fail hard: retrying locks accounts
                return None
            except (OnvifUnreachable, OnvifProtocolError) as exc:
                # Unreachable, or answering garbage (rebooting, or not a camera): this camera only, retried.
                cam.error_code = exc.code
                phase = CameraPhase.UNREACHABLE if isinstance(exc, OnvifUnreachable) else CameraPhase.ERROR
                self._set_phase(cam, phase, str(exc))
                await asyncio.sleep(delay)
                delay = min(ONBOARD_BACKOFF_MAX_S, delay * 2)
                continue
            await self.store.cameras.set_info(cam.id, info.to_dict())
            return info

    # ------------------------------------------------------------------------------------ control

    def get(self, camera_id: str) -> ManagedCamera | None:
        """Return a running camera."""
        return self.cameras.get(camera_id)

    def status(self, camera_id: str) -> dict[str, Any] | None:
        """Return a camera's phase and each stream's health."""
        cam = self.cameras.get(camera_id)
        if cam is None:
            return None
        streams = {}
        for name, ingest in cam.ingests.items():
            st = ingest.stats()
            streams[name] = {"state": st.state, "fps": st.fps, "bitrate_kbps": st.bitrate_kbps,
                             "last_frame_at": st.last_frame_at, "reconnects": st.reconnects, "error": st.error,
                             "offline_since": st.offline_since,
                             "codec": st.codec, "packets_lost": st.packets_lost, "frames_dropped": st.frames_dropped,
                             # H.265 cannot go to a browser as-is: the wall offers the explicit transcode.
                             "live": "needs_transcode" if st.codec == "h265" else "direct"}
        phase, since, last_error = camera_health(cam)
        return {"phase": phase, "error": cam.error, "offline_since": since, "last_error": last_error,
                "last_error_code": camera_error_code(cam) if last_error else None,
                "ptz": bool(cam.info and cam.info.ptz), "snapshot": bool(cam.info and cam.info.snapshot_uri),
                "streams": streams}

    async def ptz(self, camera_id: str, action: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0,
                  preset: str | None = None) -> None:
        """Drive a camera's PTZ; raises LookupError when the camera has none, OnvifError on failure."""
        cam = self.cameras.get(camera_id)
        if cam is None or cam.info is None or not cam.info.ptz:
            raise LookupError(f"camera {camera_id!r} has no PTZ")
        info, user, pw = cam.info, cam.user, cam.password
        if action == "move":
            await continuous_move(info, user, pw, pan, tilt, zoom)
        elif action == "stop":
            await ptz_stop(info, user, pw)
        elif action == "goto_preset" and preset is not None:
            await goto_preset(info, user, pw, preset)
        elif action == "set_preset" and preset is not None:
            await set_preset(info, user, pw, preset)
        else:
            raise ValueError(f"unknown PTZ action {action!r} (or missing preset)")

    async def snapshot(self, camera_id: str) -> bytes:
        """Return a JPEG from the camera's snapshot endpoint."""
        cam = self.cameras.get(camera_id)
        if cam is None or cam.info is None or not cam.info.snapshot_uri:
            raise LookupError(f"camera {camera_id!r} has no snapshot endpoint")
        return await fetch_snapshot(cam.info, cam.user, cam.password)

    async def acquire_transcode(self, camera_id: str, stream: str) -> LiveTranscoder:
        """Return the running low-fps H.264 transcode of an H.265 stream, starting it for its first viewer."""
        cam = self.cameras.get(camera_id)
        ingest = cam.ingests.get(stream) if cam is not None else None
        if ingest is None or ingest.codec != "h265":
            raise LookupError(f"camera {camera_id!r} has no H.265 {stream} stream to transcode")
        tx = self.transcoders.get(ingest.source.id)
        if tx is None:
            tx = self.transcoders[ingest.source.id] = LiveTranscoder(self.engine, ingest.source, ingest.attach_sink)
            await tx.start()
            self.views.set_primer(tx.output.id, tx.prime)
            logger.warning("%s/%s: transcoding H.265 to H.264 for live view (%.0f fps, CPU cost: see "
                           "BENCHMARKS.md)", camera_id, stream, tx.fps)
        tx.users += 1
        return tx

    async def release_transcode(self, camera_id: str, stream: str) -> None:
        """A viewer of a transcoded stream left; the last one stops the transcode."""
        source_id = f"camera/{camera_id}/{stream}"
        tx = self.transcoders.get(source_id)
        if tx is None:
            return
        tx.users -= 1
        if tx.users <= 0:
            self.transcoders.pop(source_id, None)
            self.views.set_primer(tx.output.id, None)
            await tx.stop()

    async def stop(self) -> None:
        """Stop every camera: onboarding tasks, ingests, simulators; idempotent."""
        transcoders = list(self.transcoders.values())
        self.transcoders.clear()
        await asyncio.gather(*(tx.stop() for tx in transcoders), return_exceptions=True)
        cams = list(self.cameras.values())
        self.cameras.clear()
        await asyncio.gather(*(self._stop_camera(cam) for cam in cams), return_exceptions=True)

    async def _stop_camera(self, cam: ManagedCamera) -> None:
        if cam.task is not None:
            cam.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await cam.task
        for stream, ingest in cam.ingests.items():
            for listener in reversed(self.listeners):
                try:
                    await listener.stream_stopping(cam, stream, ingest)
                except Exception:
                    logger.exception("%s/%s: %s failed to stop", cam.id, stream, type(listener).__name__)
        await asyncio.gather(*(i.stop() for i in cam.ingests.values()), return_exceptions=True)
        for ingest in cam.ingests.values():
            self.views.set_primer(ingest.source.id, None)
            self.views.set_gate(ingest.source.id, None)
        if cam.simulator is not None:
            await cam.simulator.stop()
        self._set_phase(cam, CameraPhase.STOPPED)


__all__ = ["CameraManager", "CameraPhase", "ManagedCamera", "OnvifError", "StreamListener", "camera_health",
           "offline_view_error"]
