"""Run the scripted RTSP camera (``rtsp_server.py``) as a subprocess of Debian's Python, from the venv.

The server needs PyGObject and GStreamer's RTSP server, which exist only for ``/usr/bin/python3``; this
wrapper writes its spec to a temporary file, starts it with asyncio, waits for its ``READY <port>`` line and
then probes it with an RTSP OPTIONS request (not DESCRIBE: a DESCRIBE-and-disconnect probe can leave the
shared media unpreparing, so the next real DESCRIBE gets a 503). A restarted server keeps its first port,
so a camera "comes back" at the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
READY_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 5.0
# A restart on the same port can briefly find it busy (the killed server's sockets): retry for this long.
REBIND_RETRY_S = 3.0
REBIND_PAUSE_S = 0.1


class RtspServerError(RuntimeError):
    """The RTSP server did not start."""


def default_spec(width: int = 640, height: int = 360, fps: int = 10) -> dict[str, Any]:
    """Return a spec with one unauthenticated ``/main`` mount showing a plain scene."""
    return {"host": "127.0.0.1", "port": 0, "auth": {"mode": "none"},
            "mounts": [{"path": "/main", "width": width, "height": height, "fps": fps, "gop": fps,
                        "bitrate_kbps": 800, "scene": {"kind": "scene", "noise": 4, "background": 64}}]}


def _uses_pictures(scene: dict[str, Any]) -> bool:
    """Return whether a scene shows photographs (a backdrop, photo objects or trees)."""
    return bool(scene.get("backdrop") or scene.get("trees") or any(o.get("photo") for o in scene.get("objects", [])))


def _without_pictures(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a spec whose scenes draw grey squares instead of photographs."""
    out: dict[str, Any] = json.loads(json.dumps(spec))
    for mount in out.get("mounts", []):
        scene = mount.get("scene") or {}
        scene.pop("backdrop", None)
        scene.pop("trees", None)
        for obj in scene.get("objects", []):
            obj.pop("photo", None)
    return out


class RtspServerProcess:
    """One scripted RTSP camera process; start again after stop/kill to bring it back on the same port."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self.spec: dict[str, Any] = dict(spec or default_spec())
        self.host = str(self.spec.get("host", "127.0.0.1"))
        self.port: int | None = int(self.spec["port"]) if self.spec.get("port") else None
        self._proc: asyncio.subprocess.Process | None = None
        self._dir: Path | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def url(self, path: str, with_credentials: bool = True) -> str:
        """Return the rtsp:// URL of a mount (credentials from the spec's auth unless told otherwise)."""
        if self.port is None:
            raise RuntimeError("the server has not started")
        auth = self.spec.get("auth") or {}
        userinfo = ""
        if with_credentials and auth.get("mode", "none") != "none":
            userinfo = f"{quote(str(auth['user']), safe='')}:{quote(str(auth['password']), safe='')}@"
        return f"{self.scheme}://{userinfo}{self.host}:{self.port}{path}"

    @property
    def scheme(self) -> str:
        """Return the URL scheme the server speaks: rtsps when the spec asks for TLS."""
        return "rtsps" if self.spec.get("tls") else "rtsp"

    async def start(self) -> int:
        """Start the server (on its previous port if it ran before); return the port once it answers OPTIONS."""
        if self.running:
            assert self.port is not None
            return self.port
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="rtsp-sim-"))
        spec = dict(self.spec, port=self.port or 0)
        if any(_uses_pictures(m.get("scene") or {}) for m in spec.get("mounts", [])):
            from cameras.simulator.photos import AssetError, with_assets  # OpenCV: only for scenes with pictures

            try:
                spec = await asyncio.to_thread(with_assets, spec)  # decodes PNGs the first time
            except AssetError as exc:  # e.g. scikit-image (dev extra) not installed: show a grey scene instead
                logger.warning("simulated camera: %s; showing grey scenes without photographs", exc)
                spec = _without_pictures(spec)
        if self.spec.get("tls"):  # "tls": true → a self-signed certificate for the host, made once
            spec["tls"] = {"pem": str(self._tls_pem())}
        spec_path = self._dir / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        deadline = time.monotonic() + REBIND_RETRY_S
        while True:
            try:
                port = await self._spawn(spec_path)
                break
            except RtspServerError:
                if self.port is None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(REBIND_PAUSE_S)  # the old server's port is not free yet
        self.port = port
        await self._probe()
        self.starts += 1
        return port

    def _tls_pem(self) -> Path:
        """Return a PEM file holding a self-signed certificate for the host and its key (made once)."""
        from mediaserver.tls import ensure_self_signed

        assert self._dir is not None
        cert, key, pem = self._dir / "cert.pem", self._dir / "key.pem", self._dir / "tls.pem"
        if not pem.exists():
            ensure_self_signed(cert, key, [self.host])
            pem.write_bytes(cert.read_bytes() + key.read_bytes())
        return pem

    async def _spawn(self, spec_path: Path) -> int:
        assert self._dir is not None
        log_path = self._dir / "server.log"
        with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local log file, opened once per start
            proc = await asyncio.create_subprocess_exec(
                SYSTEM_PYTHON, str(SERVER_SCRIPT), "--spec", str(spec_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
            )
        self._proc = proc
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
        except TimeoutError:
            line = b""
        text = line.decode(errors="replace").strip()
        if not text.startswith("READY "):
            await self.kill()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RtspServerError(f"RTSP server did not become ready (got {text!r}); its log:\n{tail}")
        return int(text.split()[1])

    async def _probe(self) -> None:
        """Send an RTSP OPTIONS request and wait for any RTSP reply."""
        assert self.port is not None
        tls = None
        if self.scheme == "rtsps":
            from cameras.rtsp.client import camera_tls_context

            tls = camera_tls_context()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port, ssl=tls),
                                                PROBE_TIMEOUT_S)
        try:
            writer.write(f"OPTIONS {self.scheme}://{self.host}:{self.port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_S)
            if not status.startswith(b"RTSP/1.0 "):
                raise RtspServerError(f"unexpected reply to OPTIONS: {status!r}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP), like a hung camera."""
        if self._proc is not None and self.running:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a paused server (SIGCONT)."""
        if self._proc is not None and self.running:
            self._proc.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL), like a camera losing power, and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await self._reap(proc)

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers) and remove its files; idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
                    proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await self._reap(proc)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        # communicate() waits for exit *and* drains/closes the stdout pipe, so no transport is left unclosed.
        await proc.communicate()
        if self._proc is proc:
            self._proc = None

    async def __aenter__(self) -> RtspServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
