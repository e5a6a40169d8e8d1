"""A scripted RTSP camera: GStreamer's RTSP server pushing numpy-drawn scenes through x264 (baseline H.264).

Run ONLY with Debian's ``/usr/bin/python3`` (PyGObject and the GStreamer RTSP server exist only there), never
from the project venv: it imports nothing but the standard library, ``gi`` and ``numpy``. ``cameras.simulator.rtsp``
starts it as a subprocess.

    /usr/bin/python3 rtsp_server.py --spec spec.json

The spec (JSON)::

    {"host": "127.0.0.1", "port": 0,
     "auth": {"mode": "none" | "basic" | "digest", "user": "...", "password": "..."},
     "tls": {"pem": "/path/cert-and-key.pem"},      (optional: RTSP over TLS, rtsps://)
     "mounts": [{"path": "/main", "width": 1280, "height": 720, "fps": 15, "bitrate_kbps": 1500, "gop": 15,
                 "scene": {"kind": "scene", "noise": 8, "background": 60,
                           "objects": [{"start_s": 5, "end_s": 9, "size": 0.15, "color": 220,
                                        "from": [0.1, 0.5], "to": [0.9, 0.5]}],
                           "lighting": [{"at_s": 12, "level": 200}]}}]}

The scene may also carry a photo backdrop, photo sprites, swaying "trees" and lighting ramps: see
``cameras/simulator/scene.py`` (``cameras.simulator.rtsp`` fills in the pictures' ``assets`` paths).

Scene time is one clock started with the server and shared by every mount, so a camera's main and sub
streams show the same scene at the same moment. Once listening it prints exactly ``READY <port>`` to stdout
(port 0 in the spec: the bound port). SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

import gi  # type: ignore[import-not-found]  # Debian's PyGObject: not in the venv

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

# scene.py sits beside this script (run as a script, its directory is on sys.path; imported, it is the package's).
try:
    from scene import Scene  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # imported as cameras.simulator.rtsp_server (mypy, tools)
    from cameras.simulator.scene import Scene

SCENE_START = time.monotonic()  # the one scene clock, shared by every mount


def scene_time_s() -> float:
    """Return seconds since the server started (the scene clock)."""
    return time.monotonic() - SCENE_START


class Feeder:
    """Feeds one media's appsrc: a frame for the current scene time whenever the pipeline asks for one.

    Buffers carry their own timestamps (frame number × frame duration from when the media started) and the
    RTSP server's sinks are synchronised to the pipeline clock, so the pipeline paces itself in real time;
    each frame is drawn for the scene clock at the moment it is asked for.
    """

    def __init__(self, media: Any, mount: dict[str, Any]) -> None:
        self.appsrc = media.get_element().get_by_name("src")
        self.scene = Scene(mount.get("scene") or {}, int(mount["width"]), int(mount["height"]))
        self.duration_ns = int(Gst.SECOND / float(mount["fps"]))
        self.count = 0
        self.appsrc.connect("need-data", self._on_need_data)

    def _on_need_data(self, appsrc: Any, _length: int) -> None:
        buf = Gst.Buffer.new_wrapped(self.scene.frame(scene_time_s()))
        buf.pts = buf.dts = self.count * self.duration_ns
        buf.duration = self.duration_ns
        self.count += 1
        appsrc.emit("push-buffer", buf)


def launch_line(mount: dict[str, Any]) -> str:
    """Return the gst-launch description of one mount's pipeline."""
    w, h, fps = int(mount["width"]), int(mount["height"]), int(mount["fps"])
    if w % 8 or h % 2:
        raise ValueError(f"mount {mount['path']}: width must be a multiple of 8 and height even")
    frame_bytes = w * h * 3 // 2
    gop, kbps = int(mount.get("gop", fps)), int(mount.get("bitrate_kbps", 1000))
    codec = mount.get("codec", "h264")
    if codec == "h264":
        encode = (f"x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} bitrate={kbps} "
                  f"! video/x-h264,profile=baseline ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96")
    elif codec == "h265":
        # Many real cameras send H.265 main streams; browsers cannot decode them over WebRTC.
        encode = (f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} "
                  f'option-string="pools=1:frame-threads=1" '
                  f"! video/x-h265,profile=main ! h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96")
    else:
        raise ValueError(f"mount {mount['path']}: unknown codec {codec!r} (h264 or h265)")
    return (
        f"( appsrc name=src is-live=false format=time max-bytes={frame_bytes} "
        f"caps=video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 ! {encode} )"
    )


def make_auth(spec: dict[str, Any]) -> tuple[GstRtspServer.RTSPAuth | None, GstRtspServer.RTSPPermissions | None]:
    """Return the server's auth and the factories' permissions for the spec's auth mode."""
    mode = spec.get("mode", "none")
    if mode == "none":
        return None, None
    user, password = str(spec["user"]), str(spec["password"])
    auth = GstRtspServer.RTSPAuth()
    token = _user_token()
    if mode == "basic":
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    elif mode == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        raise ValueError(f"unknown auth mode {mode!r}")
    return auth, _user_permissions()


def _user_token() -> GstRtspServer.RTSPToken:
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "camera-user")
    return token


def _user_permissions() -> GstRtspServer.RTSPPermissions:
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(
        Gst.Structure.from_string("camera-user,media.factory.access=(boolean)true,"
                                  "media.factory.construct=(boolean)true")[0]
    )
    return permissions


def add_tls(auth: GstRtspServer.RTSPAuth | None, permissions: GstRtspServer.RTSPPermissions | None,
            pem: str) -> tuple[GstRtspServer.RTSPAuth, GstRtspServer.RTSPPermissions]:
    """Serve RTSP over TLS with the certificate and key in ``pem`` (GStreamer needs an auth object for it)."""
    if auth is None:  # no credentials asked: everyone gets the camera user's token
        auth = GstRtspServer.RTSPAuth()
        auth.set_default_token(_user_token())
        permissions = _user_permissions()
    auth.set_tls_certificate(Gio.TlsCertificate.new_from_file(pem))
    assert permissions is not None
    return auth, permissions


def main(argv: list[str] | None = None) -> int:
    """Serve the spec's mounts until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="path of the JSON spec")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address(str(spec.get("host", "127.0.0.1")))
    server.set_service(str(int(spec.get("port", 0))))
    auth, permissions = make_auth(spec.get("auth") or {"mode": "none"})
    if spec.get("tls"):
        auth, permissions = add_tls(auth, permissions, str(spec["tls"]["pem"]))
    if auth is not None:
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for mount in spec["mounts"]:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(mount))
        factory.set_shared(True)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        if permissions is not None:
            factory.set_permissions(permissions)
        # The appsrc's need-data handler keeps its Feeder alive exactly as long as the media.
        factory.connect("media-configure", lambda _f, media, m=mount: Feeder(media, m))
        mounts.add_factory(mount["path"], factory)

    try:
        server.attach(None)
    except GLib.Error as exc:
        print(f"cannot listen on {spec.get('host')}:{spec.get('port')}: {exc.message}", file=sys.stderr)
        return 2
    port = server.get_bound_port()
    if port <= 0:
        print(f"cannot listen on {spec.get('host')}:{spec.get('port')}", file=sys.stderr)
        return 2

    def quit_loop() -> bool:
        loop.quit()
        return False  # GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)
    print(f"READY {port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
