"""A whole simulated camera: a real RTSP server process (scripted scene) behind our ONVIF device service."""

from __future__ import annotations

import logging
from typing import Any

from cameras.simulator.onvif_service import SimCameraSpec, SimOnvifCamera
from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.config import SimulatorConfig

logger = logging.getLogger(__name__)

MAIN_KBPS_PER_MPIXEL = 1500  # x264 target for the simulated main stream, per megapixel
SUB_KBPS = 300


def rtsp_spec(cfg: SimulatorConfig, user: str, password: str) -> dict[str, Any]:
    """Translate a camera's ``simulate`` config into the RTSP server's spec (digest auth, one scene)."""
    scene: dict[str, Any] = {
        "kind": "scene", "noise": cfg.noise, "background": cfg.background,
        "objects": [{"start_s": o.start_s, "end_s": o.end_s, "size": o.size, "color": o.color,
                     "from": list(o.from_), "to": list(o.to), **({"photo": o.photo} if o.photo else {})}
                    for o in cfg.objects],
        "lighting": [{"at_s": c.at_s, "level": c.level, "ramp_s": c.ramp_s} for c in cfg.lighting],
        "trees": [{"region": list(t.region), "texture": t.texture, "sway": t.sway, "period_s": t.period_s,
                   "active": [list(a) for a in t.active]} for t in cfg.trees],
    }
    if cfg.backdrop is not None:
        scene["backdrop"] = cfg.backdrop
    if cfg.loop_s is not None:
        scene["loop_s"] = cfg.loop_s
    w, h = cfg.main_size
    mounts = [{"path": "/main", "width": w, "height": h, "fps": cfg.main_fps, "gop": cfg.main_fps,
               "bitrate_kbps": max(300, int(MAIN_KBPS_PER_MPIXEL * w * h / 1e6)), "scene": scene,
               "codec": cfg.main_codec}]
    if cfg.sub_size is not None:
        sw, sh = cfg.sub_size
        mounts.append({"path": "/sub", "width": sw, "height": sh, "fps": cfg.sub_fps, "gop": cfg.sub_fps,
                       "bitrate_kbps": SUB_KBPS, "scene": scene, "codec": cfg.sub_codec})
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "digest", "user": user, "password": password},
            "mounts": mounts}


class SimulatedCamera:
    """Start/stop the RTSP server and the ONVIF service of one simulated camera, in that order."""

    def __init__(self, name: str, cfg: SimulatorConfig, user: str, password: str) -> None:
        self.name = name
        self.cfg = cfg
        self.user = user
        self.password = password
        self.rtsp = RtspServerProcess(rtsp_spec(cfg, user, password))
        self.onvif: SimOnvifCamera | None = None

    async def start(self) -> tuple[str, int]:
        """Start both servers; return the ONVIF (host, port) to onboard the camera from."""
        rtsp_port = await self.rtsp.start()
        spec = SimCameraSpec(
            name=self.name, rtsp_port=rtsp_port, sub_path="/sub" if self.cfg.sub_size else None,
            user=self.user, password=self.password, main_resolution=self.cfg.main_size,
            sub_resolution=self.cfg.sub_size or self.cfg.main_size, main_fps=self.cfg.main_fps,
            sub_fps=self.cfg.sub_fps,
        )
        self.onvif = SimOnvifCamera(spec)
        await self.onvif.start()
        logger.info("%s: simulated camera up (ONVIF :%d, RTSP :%d)", self.name, self.onvif.port, rtsp_port)
        return "127.0.0.1", self.onvif.port

    async def stop(self) -> None:
        """Stop the ONVIF service and the RTSP server; idempotent."""
        if self.onvif is not None:
            await self.onvif.stop()
            self.onvif = None
        await self.rtsp.stop()
