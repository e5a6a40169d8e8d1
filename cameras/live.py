"""Live view of a camera in a browser: one WebRTC peer per viewer, H.264 passed through untouched.

The server offers one sendonly video m-line with the constrained-baseline H.264 profile (what cameras in
this district send on their sub streams and every browser decodes); its forwarding sender is fed by an
engine sink attached to the camera's source, so any number of viewers cost one ingest and no transcoding.
Cameras cannot be asked for a keyframe: a new viewer is primed from the ingest's last GOP instead
(``prime``), so its first picture arrives without waiting for the camera's next IDR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from mediaserver.engine import Engine, Sink, Source
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.errors import CodedError

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 30.0
MAX_VIEWS = 64


class ViewError(CodedError):
    """A live view could not be set up; ``code`` is the API error code."""


class ViewerSession:
    """One viewer of one camera stream; owns its peer connection and sink. ``stop()`` is idempotent."""

    def __init__(self, engine: Engine, source: Source, ice_servers: list[RTCIceServer],
                 prime: Callable[[Sink], None] | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.id = uuid.uuid4().hex
        self._on_close = on_close
        self.source = source
        self.created = time.monotonic()
        self.sink = engine.new_sink(f"view/{self.id}", "video")
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self._prime = prime
        self._stopped = False
        t = self.pc.addTransceiver(hooks.PlaceholderTrack("video"), direction="sendonly")
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.lower() == "video/h264"
                and str(c.parameters.get("profile-level-id", "")).startswith("42e0")
                and str(c.parameters.get("packetization-mode")) == "1"]
        rtx = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/rtx"]
        t.setCodecPreferences(h264[:1] + rtx[:1])
        sink = self.sink

        async def next_frame() -> tuple[list[bytes], int, int | None]:
            frame, ts = await sink.next()
            return frame.rtp_payloads(), ts, None

        hooks.make_forwarding_sender(t.sender, next_frame, lambda: sink.wait_for_keyframe())

    async def offer(self) -> str:
        """Create the offer the viewer must answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        """Apply the viewer's answer and start the picture."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises several types on bad SDP
            raise ViewError("bad_sdp", f"the answer's SDP was not accepted: {exc}") from exc
        self.sink.attach(self.source)
        if self._prime is not None:
            self._prime(self.sink)

    async def stop(self) -> None:
        """Close the peer connection and detach from the camera."""
        if self._stopped:
            return
        self._stopped = True
        self.sink.close()
        await self.pc.close()
        if self._on_close is not None:
            await self._on_close()


class LiveViews:
    """Every open live view; expires views whose answer never came."""

    def __init__(self, engine: Engine, ice_servers: list[RTCIceServer]) -> None:
        self.engine = engine
        self.ice_servers = ice_servers
        self.views: dict[str, ViewerSession] = {}
        self._primers: dict[str, Callable[[Sink], None]] = {}
        self._gates: dict[str, Callable[[], ViewError | None]] = {}

    def set_primer(self, source_id: str, prime: Callable[[Sink], None] | None) -> None:
        """Register how to prime a new viewer of a source (the ingest's GOP cache)."""
        if prime is None:
            self._primers.pop(source_id, None)
        else:
            self._primers[source_id] = prime

    def set_gate(self, source_id: str, gate: Callable[[], ViewError | None] | None) -> None:
        """Register what says a source cannot be viewed now (an offline camera), so a view fails at once."""
        if gate is None:
            self._gates.pop(source_id, None)
        else:
            self._gates[source_id] = gate

    async def open(self, source_id: str,
                   on_close: Callable[[], Awaitable[None]] | None = None) -> ViewerSession:
        """Start a view of a source; raise ViewError if it is not streaming (``on_close`` runs at its end)."""
        await self._expire()
        source = self.engine.sources.get(source_id)
        if source is None:
            raise ViewError("not_streaming", f"{source_id} is not streaming right now")
        gate = self._gates.get(source_id)
        refusal = gate() if gate is not None else None
        if refusal is not None:  # an offline camera: say so now, not "connecting…" forever
            raise refusal
        if len(self.views) >= MAX_VIEWS:
            raise ViewError("too_many_views", f"at most {MAX_VIEWS} live views at once")
        view = ViewerSession(self.engine, source, self.ice_servers, self._primers.get(source_id), on_close)
        self.views[view.id] = view
        return view

    async def close(self, view_id: str) -> bool:
        """End one view; return whether it existed."""
        view = self.views.pop(view_id, None)
        if view is None:
            return False
        await view.stop()
        return True

    async def _expire(self) -> None:
        now = time.monotonic()
        stale = [v for v in self.views.values()
                 if (v.pc.remoteDescription is None and now - v.created > ANSWER_TIMEOUT_S)
                 or v.pc.connectionState in ("failed", "closed")]
        for v in stale:
            self.views.pop(v.id, None)
            with contextlib.suppress(Exception):
                await v.stop()

    async def stop(self) -> None:
        """Close every view (shutdown)."""
        views = list(self.views.values())
        self.views.clear()
        await asyncio.gather(*(v.stop() for v in views), return_exceptions=True)
