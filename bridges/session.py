"""One site's connection to a room: its peer connection, the tracks it publishes and the slots it watches.

The server makes the offer. Its m-lines are fixed for the life of the session, so nothing is ever
renegotiated: four *publish* lines (server recvonly: microphone, camera, screen, camera thumbnail) and a
number of *slots* (server sendonly), each a forwarding sender fed by an engine sink whose source the room switches:
- the host site: one video slot per other site, a screen slot, and ``audible_sites`` audio slots;
- every other site: a host video slot, a speaker video slot, a screen slot, a host audio slot and
  ``audible_sites`` audio slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import RtpPacket

from bridges.layers import Layer, LayerChoice, LinkReport
from mediaserver.engine import EncodedFrame, Engine, FrameAssembler, Sink, Source, rtcp_feedback
from mediaserver.engine import aiortc_hooks as hooks
from mediaserver.engine.frames import OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ

logger = logging.getLogger(__name__)

STATS_INTERVAL_S = 2.0
START_BITRATE_KBPS = 800  # where a browser's camera starts (x-google-start-bitrate), before the estimate says more
# The camera is published twice (issue 12): "video", the high layer (up to 1280x720), and "thumb", a 320x180
# copy for the chair's grid; aiortc cannot receive RID simulcast, so each layer has its own m-line. "thumb"
# comes last so the older lines keep their mids.
PUBLISH_KINDS = (("audio", "audio"), ("video", "video"), ("screen", "video"), ("thumb", "video"))
CAMERA_LAYERS = ("video", "thumb")

SendJson = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Slot:
    """One server-to-site track whose content the room chooses."""

    name: str  # "site:<id>", "speaker", "host", "screen", "audio:<n>", "host-audio"
    kind: str
    sink: Sink
    transceiver: RTCRtpTransceiver
    assigned: str | None = None  # the site whose source fills it

    @property
    def mid(self) -> str | None:
        """Return the m-line id (known after the offer is made)."""
        return self.transceiver.mid


@dataclass
class SessionStats:
    """Live numbers for one site, refreshed every STATS_INTERVAL_S."""

    bitrate_in_kbps: float = 0.0
    bitrate_out_kbps: float = 0.0
    packet_loss_pct: float = 0.0
    rtt_ms: float | None = None
    frames_forwarded: int = 0
    frames_dropped: int = 0
    connection: str = "new"
    fps_in: float = 0.0  # camera frames per second arriving from the site
    # What the site's page reports it sends (its camera's encoded size and rate), if it reports.
    width: int | None = None
    height: int | None = None
    fps_sent: float | None = None
    _frames_in: int = 0
    _bytes_in: int = 0
    _bytes_out: int = 0
    _at: float = field(default_factory=time.monotonic)


def browser_hints(sdp: str, start_kbps: int = START_BITRATE_KBPS) -> str:
    """Add Chrome's ``x-google-start-bitrate`` to every VP8/H.264 format of the offer a browser gets.

    A browser starts sending at 300 kbit/s and climbs ~8 %/s with the estimate we send back (aiortc's REMB
    follows the rate it receives), so HD would take ~20 s after each join. The hint is only for the page:
    aiortc's own description is unchanged, and browsers that do not know it ignore it.
    """
    sections: list[list[str]] = [[]]
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = []
    for section in sections:
        if not section or not section[0].startswith("m=video"):
            out += section
            continue
        with_fmtp = {line[7:].partition(" ")[0] for line in section if line.startswith("a=fmtp:")}
        hinted = set()
        for line in section:
            if line.startswith("a=rtpmap:"):
                pt, _, enc = line[9:].partition(" ")
                if enc.split("/")[0].upper() in ("VP8", "H264"):
                    hinted.add(pt)
                    out.append(line)
                    if pt not in with_fmtp:
                        out.append(f"a=fmtp:{pt} x-google-start-bitrate={start_kbps}")
                    continue
            elif line.startswith("a=fmtp:"):
                pt, _, params = line[7:].partition(" ")
                if pt in hinted:
                    line = f"a=fmtp:{pt} {params};x-google-start-bitrate={start_kbps}"
            out.append(line)
    return "\r\n".join(out)


class SiteSession:
    """A site's peer connection; owns its tasks, sources and slots. ``stop()`` is idempotent."""

    def __init__(self, *, room_id: str, site_id: str, is_host: bool, engine: Engine, video_codec: str,
                 audible_sites: int, video_slot_sites: list[str], ice_servers: list[RTCIceServer],
                 send: SendJson, on_audio_level: Callable[[str, int], None],
                 on_state: Callable[[SiteSession], None],
                 close_channel: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.room_id = room_id
        self.site_id = site_id
        self.is_host = is_host
        self.engine = engine
        self.video_codec = video_codec
        self.send = send
        self._close_channel = close_channel
        self.state = "new"
        self.stats = SessionStats()
        self.sources: dict[str, Source] = {}
        self.slots: list[Slot] = []
        self.publish: dict[str, RTCRtpTransceiver] = {}
        self.sharing = False
        self.muted: dict[str, bool] = {"audio": False, "video": False}  # by the site itself
        self.moderated: dict[str, bool] = {"audio": False, "video": False}  # by the operator
        self._on_audio_level = on_audio_level
        self._on_state = on_state
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ssrc: dict[str, int] = {}
        self._stopped = False
        self._stop_task: asyncio.Future[None] | None = None
        self.media_lost = False
        self._media_bytes = 0
        self._media_at = 0.0
        self._answered_at: float | None = None
        # Which camera layer this site can receive (bridges/layers.py), from its RTCP (rtcp_feedback.watch).
        self.link = rtcp_feedback.LinkFeedback()
        self.layer = LayerChoice()
        self._sent_bytes = 0
        self._sent_at = 0.0
        # Offer/answer and close never interleave: closing while ICE gathers leaks the gatherer's sockets.
        self._pc_lock = asyncio.Lock()
        # MAX_BUNDLE: every m-line on one transport. aiortc's default (BALANCED) bundles per kind first and
        # then leaves the 3rd+ transceivers of a kind on an orphaned transport when the answer bundles all.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        # One REMB estimate for everything the site sends (its camera layers and screen share together).
        self._uplink_estimator = RemoteBitrateEstimator()
        self.pc.on("connectionstatechange", self._connection_changed)
        self._build(audible_sites, video_slot_sites)

    # ---------------------------------------------------------------------------------- building

    def _codecs(self, kind: str) -> list[Any]:
        caps = RTCRtpSender.getCapabilities(kind).codecs
        if kind == "audio":
            return [c for c in caps if c.mimeType.lower() == "audio/opus"]
        want = f"video/{self.video_codec}"
        chosen = [c for c in caps if c.mimeType.lower() == want]
        if self.video_codec == "h264":
            # Constrained baseline, packetization-mode 1: what every browser decodes in hardware or software.
            chosen = [c for c in chosen if str(c.parameters.get("profile-level-id", "")).startswith("42e0")
                      and str(c.parameters.get("packetization-mode")) == "1"][:1] or chosen[:1]
        rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
        return chosen + rtx[:1]

    def _build(self, audible_sites: int, video_slot_sites: list[str]) -> None:
        for name, kind in PUBLISH_KINDS:
            t = self.pc.addTransceiver(kind, direction="recvonly")
            t.setCodecPreferences(self._codecs(kind))
            self.publish[name] = t
            source = Source(f"{self.room_id}/{self.site_id}/{name}", kind, "opus" if kind == "audio"
                            else self.video_codec, OPUS_CLOCK_HZ if kind == "audio" else VIDEO_CLOCK_HZ,
                            keyframe_requester=self._keyframe_requester(name), owner=self.site_id)
            self.sources[name] = self.engine.add_source(source)
            hooks.tap_receiver(t.receiver, self._packet_handler(name, source), self._uplink_estimator)
        video = [f"site:{s}" for s in video_slot_sites] if self.is_host else ["host", "speaker"]
        for name in [*video, "screen"]:
            self._add_slot(name, "video")
        audio = [] if self.is_host else ["host-audio"]
        for name in [*audio, *(f"audio:{i}" for i in range(audible_sites))]:
            self._add_slot(name, "audio")

    def _add_slot(self, name: str, kind: str) -> None:
        t = self.pc.addTransceiver(hooks.PlaceholderTrack(kind), direction="sendonly")
        t.setCodecPreferences(self._codecs(kind))
        sink = self.engine.new_sink(f"{self.room_id}/{self.site_id}/{name}", kind)
        slot = Slot(name, kind, sink, t)

        async def next_frame() -> tuple[list[bytes], int, int | None] | None:
            frame, ts = await sink.next()
            level = None if frame.audio_level is None else -frame.audio_level
            return frame.rtp_payloads(), ts, level

        def keyframe_wanted() -> None:
            if sink.source is not None:
                self.engine.request_keyframe(sink.source)

        hooks.make_forwarding_sender(t.sender, next_frame, keyframe_wanted)
        rtcp_feedback.watch(t.sender, self.link)
        self.slots.append(slot)

    def _keyframe_requester(self, name: str) -> Callable[[], None]:
        def request() -> None:
            ssrc = self._ssrc.get(name)
            if ssrc is not None and not self._stopped:
                self._spawn(hooks.request_keyframe(self.publish[name].receiver, ssrc))

        return request

    def _packet_handler(self, name: str, source: Source) -> hooks.PacketSink:
        if source.kind == "audio":
            site = self.site_id

            def on_audio(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
                self._ssrc[name] = packet.ssrc
                level = packet.extensions.audio_level
                lvl = None if level is None else int(level[1])
                if lvl is not None and source.enabled:
                    self._on_audio_level(site, lvl)
                source.publish(EncodedFrame([packet.payload], packet.timestamp, True, lvl))

            return on_audio
        assembler = FrameAssembler(self.video_codec)

        def on_video(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            self._ssrc[name] = packet.ssrc
            for frame in assembler.add(packet.sequence_number, packet.timestamp, bool(packet.marker),
                                       packet.payload):
                source.publish(frame)

        return on_video

    # ---------------------------------------------------------------------------------- signalling

    async def make_offer(self) -> dict[str, Any]:
        """Create the session's one and only offer; return the message that carries it."""
        async with self._pc_lock:
            if self._stopped:
                raise ConnectionError("session closed before its offer was made")
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.state = "offered"
        local = self.pc.localDescription
        return {
            "type": "offer",
            "sdp": browser_hints(local.sdp),
            "publish": {name: t.mid for name, t in self.publish.items()},
            "slots": {s.mid: {"name": s.name, "kind": s.kind} for s in self.slots},
        }

    async def accept_answer(self, sdp: str) -> None:
        """Apply the site's answer; raises ValueError on an SDP aiortc cannot use."""
        try:
            async with self._pc_lock:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError, InvalidStateError, or bare errors on bad SDP
            raise ValueError(f"the answer's SDP was not accepted: {exc}") from exc
        self.state = "answered"
        self._answered_at = self._media_at = self._sent_at = time.monotonic()
        self.layer = LayerChoice(changed_at=self._answered_at)
        self._spawn(self._stats_loop())

    # ------------------------------------------------------------------------------------ control

    def slot(self, name: str) -> Slot | None:
        """Return a slot by name."""
        return next((s for s in self.slots if s.name == name), None)

    def assign(self, slot: Slot, site: str | None, source: Source | None) -> bool:
        """Point a slot at a source; return whether it changed."""
        if slot.assigned == site and (source is None or slot.sink.source is source or slot.sink.pending is source):
            return False
        slot.assigned = site
        slot.sink.attach(source)
        return True

    def watch_media(self, now: float, lost_after_s: float, first_within_s: float) -> bool:
        """Update ``media_lost`` from the byte counters (no per-packet work); return whether it changed."""
        if self._answered_at is None or self._stopped:
            return False
        total = sum(src.bytes for src in self.sources.values())
        if total != self._media_bytes:
            self._media_bytes, self._media_at = total, now
            lost = False
        elif total:
            lost = now - self._media_at > lost_after_s
        else:
            lost = now - self._answered_at > first_within_s
        changed = lost != self.media_lost
        self.media_lost = lost
        return changed

    def watch_link(self, now: float) -> bool:
        """Feed this tick's link report (what we sent, its REMB and loss) to the layer choice; return if it changed."""
        if self._answered_at is None or self._stopped:
            return False
        sent = sum(hooks.sender_counters(slot.transceiver.sender)[1] for slot in self.slots)
        dt = now - self._sent_at
        if dt <= 0:
            return False
        report = LinkReport(now, (sent - self._sent_bytes) * 8 / dt, self.link.remb(now), self.link.worst_loss(now))
        self._sent_bytes, self._sent_at = sent, now
        changed = self.layer.update(report)
        if changed:
            logger.info("room %s site %s: receives the %s layer (%s; sent %.0f kbit/s, estimate %s, loss %s)",
                        self.room_id, self.site_id, self.layer.layer.value, self.layer.reason,
                        report.sending_bps / 1000, "—" if report.remb_bps is None else f"{report.remb_bps / 1000:.0f}",
                        "—" if report.loss is None else f"{100 * report.loss:.0f} %")
        return changed

    @property
    def wants_high(self) -> bool:
        """Return whether this site's link carries the high layer now."""
        return self.layer.layer is Layer.HIGH

    def _connection_changed(self) -> None:
        state = self.pc.connectionState
        self.stats.connection = state
        logger.info("room %s site %s: connection %s", self.room_id, self.site_id, state)
        self._on_state(self)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            await self.refresh_stats()

    async def refresh_stats(self) -> None:
        """Recompute bitrates, loss and RTT for this site."""
        s = self.stats
        now = time.monotonic()
        dt = max(1e-3, now - s._at)
        bytes_in = sum(src.bytes for src in self.sources.values())
        bytes_out = sum(hooks.sender_counters(slot.transceiver.sender)[1] for slot in self.slots)
        s.bitrate_in_kbps = (bytes_in - s._bytes_in) * 8 / dt / 1000
        frames_in = self.sources["video"].frames
        s.fps_in = (frames_in - s._frames_in) / dt
        s._frames_in = frames_in
        s.bitrate_out_kbps = (bytes_out - s._bytes_out) * 8 / dt / 1000
        s._bytes_in, s._bytes_out, s._at = bytes_in, bytes_out, now
        expected = lost = 0
        for t in self.publish.values():
            e, lo = hooks.receiver_loss(t.receiver)
            expected, lost = expected + e, lost + lo
        s.packet_loss_pct = 100.0 * lost / expected if expected else 0.0
        s.frames_forwarded = sum(slot.sink.frames_out for slot in self.slots)
        s.frames_dropped = sum(slot.sink.frames_dropped for slot in self.slots)
        rtts = []
        for slot in self.slots:
            if slot.sink.frames_out:
                report = await slot.transceiver.sender.getStats()
                rtts += [st.roundTripTime for st in report.values()
                         if getattr(st, "type", "") == "remote-inbound-rtp" and st.roundTripTime is not None]
        s.rtt_ms = 1000 * sum(rtts) / len(rtts) if rtts else None

    async def stop(self, reason: str) -> None:
        """Tell the site why, close the peer connection, release engine objects; idempotent.

        The work runs in its own task, shielded: a caller cancelled midway (aiohttp cancels a WebSocket
        handler when the client goes away) must not leave a half-closed peer connection and its sockets.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop(reason))
            _CLOSING.add(self._stop_task)
            self._stop_task.add_done_callback(_CLOSING.discard)
        await asyncio.shield(self._stop_task)

    async def _stop(self, reason: str) -> None:
        self._stopped = True
        self.state = "closed"
        with contextlib.suppress(Exception):
            await self.send({"type": "bye", "reason": reason})
        if self._close_channel is not None:
            # Close the signalling socket too: a client must not be left waiting on a dead session.
            with contextlib.suppress(Exception):
                await self._close_channel()
        for slot in self.slots:
            slot.sink.close()
        for source in self.sources.values():
            self.engine.remove_source(source.id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._pc_lock:
            await self.pc.close()
        logger.info("room %s site %s: session closed (%s)", self.room_id, self.site_id, reason)


# Sessions being closed, referenced until done (asyncio keeps only weak references to tasks).
_CLOSING: set[asyncio.Future[None]] = set()
