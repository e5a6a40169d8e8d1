"""A small asyncio RTSP client (RFC 2326) for pulling one camera video track, over TCP or UDP.

Why our own and not FFmpeg's (PyAV): the ingest needs nothing FFmpeg adds over RTP — no parsing, no
probing, no decoding — and FFmpeg's RTSP reader reads interleaved TCP data a few bytes per ``recv`` on a
thread that must take the GIL for every packet it hands to Python. Here the event loop reads whole socket
buffers and the depacketizer slices them: measured on the same camera streams, the ingest costs about what
``ffmpeg -c copy`` does instead of ~1.5× it (BENCHMARKS.md), and a camera costs no thread.

What it does: OPTIONS, DESCRIBE (the SDP names the codec, the control URL and the parameter sets), SETUP
(``RTP/AVP/TCP`` interleaved, or ``RTP/AVP`` over a UDP port pair), PLAY, periodic keepalives within the
session timeout, TEARDOWN. Basic and Digest (RFC 2617 MD5, with or without ``qop=auth``) authentication from
the URL's credentials, re-challenged once when a nonce goes stale. ``rtsps://`` runs it all, media included,
over TLS (``camera_tls_context``). RTP packets go to ``on_packet`` as they arrive (over UDP through a small
reordering window). Like FFmpeg, it sends RTCP receiver reports (``send_receiver_report``, driven by the
caller's clock) and reads the camera's sender reports for their round-trip fields.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from cameras.rtsp.depacketize import Depacketizer, Reorderer
from cameras.rtsp.rtcp import receiver_report, sender_report_lsr
from cameras.rtsp.sdp import VideoTrack, parse_video_track
from mediaserver.config import redact_url

logger = logging.getLogger(__name__)

DEFAULT_PORT = 554
DEFAULT_TLS_PORT = 322  # rtsps:// (RFC 7826 §19.2)
USER_AGENT = "mediaserver"
# An RTSP message header larger than this is not RTSP (protects the parser from a garbage stream).
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
# Keepalive at this fraction of the session timeout the server announces (60 s when it announces none).
KEEPALIVE_FRACTION = 0.5
DEFAULT_SESSION_TIMEOUT_S = 60.0
# Longest a graceful close may take before the connection is aborted (TLS waits for the peer's close_notify).
CLOSE_TIMEOUT_S = 1.0
# NVRs and load-balanced cameras answer DESCRIBE with a redirect; follow this many, as FFmpeg does.
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset((301, 302, 303, 305, 307))
# Binding a UDP RTP/RTCP pair: how many even ports to try before giving up.
UDP_BIND_ATTEMPTS = 64

_STATUS = re.compile(rb"RTSP/\d\.\d (\d{3}) ?([^\r\n]*)")
_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')
# A request from the camera (rare: some send GET_PARAMETER/ANNOUNCE): a method token, then a space.
_REQUEST_START = re.compile(rb"[A-Z_]{3,16} ")

PacketCallback = Callable[[bytes], None]


RtspErrorKind = Literal["refused", "closed", "garbled", "setup"]


class RtspError(OSError):
    """The camera answered with an error status, or spoke something that is not RTSP.

    ``kind`` says which, so callers classify a failure without reading the English message: ``refused`` (an
    error status), ``closed`` (it hung up), ``garbled`` (not RTSP, or out of bounds), ``setup`` (our side: a bad
    URL, no free port).
    """

    def __init__(self, message: str, kind: RtspErrorKind = "garbled") -> None:
        super().__init__(message)
        self.kind: RtspErrorKind = kind


def _lost_kind(cause: BaseException | None) -> RtspErrorKind:
    """Return the kind of a request failed by a lost connection, from why it was lost."""
    if isinstance(cause, RtspError):
        return cause.kind
    return "garbled" if cause is None else "closed"


class RtspAuthError(RtspError):
    """The camera wants credentials we do not have, or refused the ones we sent (401)."""


class _Redirect(Exception):
    """The server sent us elsewhere (3xx with a Location), before the session was set up."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(slots=True)
class Response:
    """One RTSP response: status, headers (lower-case names, every value kept) and body."""

    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), None when absent."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


def _parse_head(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """Split an RTSP message head into its first line and its headers."""
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers


# ------------------------------------------------------------------------------------------------- auth


class _Auth:
    """Builds Authorization headers for the URL's credentials once the camera has challenged us."""

    def __init__(self, user: str | None, password: str | None) -> None:
        self.user = user
        self.password = password or ""
        self.scheme: str | None = None
        self.params: dict[str, str] = {}
        self._nc = 0

    def challenge(self, values: list[str], had_auth: bool) -> bool:
        """Adopt the camera's challenge; return False when retrying cannot succeed."""
        if self.user is None:
            return False
        digest = [v for v in values if v.lower().startswith("digest")]
        basic = [v for v in values if v.lower().startswith("basic")]
        if digest:
            params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _AUTH_PARAM.finditer(digest[0][6:])}
            stale = params.get("stale", "").lower() == "true"
            if had_auth and self.scheme == "digest" and not stale:
                return False  # the same credentials were refused
            self.scheme, self.params, self._nc = "digest", params, 0
            return True
        if basic and not had_auth:
            self.scheme = "basic"
            return True
        return False

    def header(self, method: str, uri: str) -> str | None:
        """Return the Authorization header for a request, None before any challenge."""
        if self.scheme == "basic":
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return f"Basic {token}"
        if self.scheme != "digest":
            return None
        p = self.params
        realm, nonce = p.get("realm", ""), p.get("nonce", "")

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{self.user}:{realm}:{self.password}")
        ha2 = md5(f"{method}:{uri}")
        fields = [f'username="{self.user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
        if "auth" in qops:
            self._nc += 1
            nc, cnonce = f"{self._nc:08x}", os.urandom(8).hex()
            response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = md5(f"{ha1}:{nonce}:{ha2}")
        fields.append(f'response="{response}"')
        if "opaque" in p:
            fields.append(f'opaque="{p["opaque"]}"')
        fields.append("algorithm=MD5")
        return "Digest " + ", ".join(fields)


# -------------------------------------------------------------------------------------------- protocols


class _ControlProtocol(asyncio.Protocol):
    """The RTSP TCP connection: responses to our requests, and RTP interleaved in ``$`` frames."""

    def __init__(self, client: RtspClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.client._connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Hot path: the common case is a buffer of whole interleaved packets; only a packet split across
        # reads is copied into the carry-over buffer.
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        client = self.client
        rtp_channel = client.rtp_channel
        on_packet = client.on_packet
        i, n = 0, len(buf)
        packets = 0
        while i < n:
            if buf[i] == 0x24:  # '$' channel length16 payload
                if i + 4 > n:
                    break
                end = i + 4 + ((buf[i + 2] << 8) | buf[i + 3])
                if end > n:
                    break
                channel = buf[i + 1]
                if channel == rtp_channel:
                    packets += 1
                    on_packet(bytes(buf[i + 4:end]))
                elif channel == rtp_channel + 1:
                    client._on_rtcp(bytes(buf[i + 4:end]))
                i = end
                continue
            if n - i < 17:  # enough to tell an RTSP message from garbage
                break
            if not (buf.startswith(b"RTSP/", i) or _REQUEST_START.match(buf, i)):
                # Not RTSP and not interleaved: resynchronise at the next '$' (a broken camera).
                j = buf.find(b"$", i + 1)
                client.desyncs += 1
                i = n if j < 0 else j
                continue
            head_end = buf.find(b"\r\n\r\n", i)
            if head_end < 0:
                if n - i > MAX_HEADER_BYTES:
                    self._fail(RtspError("the camera sent an RTSP header over 64 KiB"))
                    return
                break
            first, headers = _parse_head(bytes(buf[i:head_end]))
            length_text = (headers.get("content-length") or ["0"])[0]
            length = int(length_text) if length_text.isdigit() else 0
            if length > MAX_BODY_BYTES:
                self._fail(RtspError(f"the camera sent an RTSP body of {length} bytes"))
                return
            end = head_end + 4 + length
            if end > n:
                break
            client._message(first, headers, bytes(buf[head_end + 4:end]))
            i = end
        client.packets += packets
        if i < n:
            if buf is self._buf:
                del self._buf[:i]
            else:
                self._buf = bytearray(buf[i:])
        elif self._buf:
            self._buf = bytearray()

    def _fail(self, exc: Exception) -> None:
        self.client._connection_lost(exc)
        if self.transport is not None:
            self.transport.abort()


class _RtpProtocol(asyncio.DatagramProtocol):
    """A UDP RTP (or RTCP) socket: packets from the camera's address go to ``on_packet``."""

    def __init__(self, client: RtspClient, rtp: bool) -> None:
        self.client = client
        self.rtp = rtp

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        client = self.client
        if addr[0] not in client.media_hosts:
            return
        if self.rtp:
            client.packets += 1
            client.reorderer.push(data)
        else:
            client._on_rtcp(data)


# ----------------------------------------------------------------------------------------------- client


def camera_tls_context() -> ssl.SSLContext:
    """Return the TLS context for rtsps:// cameras: encrypted, the certificate not verified.

    Cameras ship self-signed certificates with no name we could check (FFmpeg's and go2rtc's RTSPS clients do
    not verify them either). This keeps footage and credentials off the wire in clear text; it does not prove
    the camera's identity — the camera's credentials and the network still do that.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context



# A reachability probe that takes longer than this counts as unreachable (a hung camera accepts TCP, never answers).
PROBE_TIMEOUT_S = 1.0


async def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Return whether an RTSP server answers OPTIONS at ``url``'s host and port (any status, 401 included).

    Cheap enough to run every half second while a camera is down: one TCP connect (TLS for rtsps://), one
    OPTIONS, no DESCRIBE (a DESCRIBE-and-hang-up probe can make a GStreamer server's next DESCRIBE fail).
    """
    target = RtspClient(url, lambda _packet: None)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                target.host, target.port, ssl=camera_tls_context() if target.tls else None)
            writer.write(f"OPTIONS {target.url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
                         .encode())
            await writer.drain()
            line = await reader.readline()
        return _STATUS.match(line) is not None
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()


class RtspClient:
    """One RTSP session pulling one video track: ``open()``, ``play()``, packets to ``on_packet``, ``close()``."""

    def __init__(self, url: str, on_packet: PacketCallback, *, transport: Literal["tcp", "udp"] = "tcp",
                 udp_ports: tuple[int, int] | None = None) -> None:
        self._auth = _Auth(None, None)
        self.tls = False
        self._set_url(url)
        if self.tls and transport == "udp":
            # RTSP over TLS protects what goes through the TLS connection; plain RTP over UDP would not be.
            logger.debug("rtsp %s: rtsps:// carries media interleaved over TLS, not UDP", self.url)
            transport = "tcp"
        self.on_packet = on_packet
        self.transport_kind = transport
        self.udp_ports = udp_ports
        self.rtp_channel = 0
        self.media_hosts: set[str] = set()
        self.session: str | None = None
        self.session_timeout_s = DEFAULT_SESSION_TIMEOUT_S
        self.track: VideoTrack | None = None
        self.packets = 0  # RTP packets received (the ingest's stall watchdog reads it)
        # UDP may reorder packets: they pass through a small reordering window on their way to on_packet.
        self.reorderer = Reorderer(lambda packet: self.on_packet(packet))
        # RTCP receiver reports: statistics from whoever depacketizes (set before play()).
        self.receiver: Depacketizer | None = None
        self._rtcp_ssrc = random.getrandbits(32)
        self._last_sr: tuple[int, float] | None = None  # (LSR, monotonic arrival) of the camera's last SR
        self._rr_prior = (0, 0)  # (expected, received) at the previous report
        self._server_rtcp: tuple[str, int] | None = None
        self.reports_sent = 0
        self.desyncs = 0
        self._answered = False  # an RTSP response has been parsed on this connection
        self._cseq = 0
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._control: _ControlProtocol | None = None
        self._udp: list[asyncio.DatagramTransport] = []
        self._supports_get_parameter = False
        self._lost: BaseException | None = None
        self._closed = False

    def _set_url(self, url: str) -> None:
        """Aim at ``url``: host, port, TLS, the credential-free request URL; credentials when it has some."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
            raise RtspError(f"not an rtsp:// URL: {redact_url(url)}", "setup")
        self.tls = parts.scheme.lower() == "rtsps"
        self.host = parts.hostname
        self.port = parts.port or (DEFAULT_TLS_PORT if self.tls else DEFAULT_PORT)
        netloc = self.host if ":" not in self.host else f"[{self.host}]"
        if parts.port:
            netloc += f":{parts.port}"
        # The URL as requests name it: never with credentials in it.
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        if parts.username is not None:
            self._auth = _Auth(unquote(parts.username),
                               unquote(parts.password) if parts.password is not None else None)
        else:
            self._auth.scheme = None  # a redirect keeps our credentials; the new server challenges anew

    @property
    def closed(self) -> asyncio.Future[None]:
        """Return a future done when the control connection has ended."""
        assert self._control is not None
        return self._control.closed

    @property
    def lost_reason(self) -> BaseException | None:
        """Return why the connection ended (None for a clean close by the camera)."""
        return self._lost

    # ------------------------------------------------------------------------------ session

    async def open(self) -> VideoTrack:
        """Connect, DESCRIBE and SETUP the video track; return it (callers bound the time, then ``play``)."""
        loop = asyncio.get_running_loop()
        for hop in range(MAX_REDIRECTS + 1):
            _, protocol = await loop.create_connection(lambda: _ControlProtocol(self), self.host, self.port,
                                                       ssl=camera_tls_context() if self.tls else None)
            self._control = protocol
            try:
                options = await self.request("OPTIONS", self.url)
                self._supports_get_parameter = "GET_PARAMETER" in (options.header("public") or "").upper()
                describe = await self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
                break
            except _Redirect as redirect:
                if hop == MAX_REDIRECTS:
                    raise RtspError(f"more than {MAX_REDIRECTS} redirects (last to {redirect.location})") from None
                logger.debug("rtsp %s: redirected to %s", self.url, redirect.location)
                if protocol.transport is not None:
                    protocol.transport.close()
                await asyncio.shield(protocol.closed)
                self._lost = None
                self._set_url(redirect.location)
        base = describe.header("content-base") or describe.header("content-location") or self.url
        track = parse_video_track(describe.body.decode("utf-8", "replace"), base)  # SdpError: not a video we take
        self.track = track
        if self.transport_kind == "tcp":
            transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            rtp_port = await self._bind_udp(loop)
            transport = f"RTP/AVP;unicast;client_port={rtp_port}-{rtp_port + 1}"
        setup = await self.request("SETUP", track.control, {"Transport": transport})
        self._adopt_session(setup)
        reply = (setup.header("transport") or "").lower()
        if self.transport_kind == "tcp":
            channels = re.search(r"interleaved=(\d+)", reply)
            self.rtp_channel = int(channels.group(1)) if channels else 0
        else:
            source = re.search(r"source=([^;]+)", reply)
            peer = protocol.transport.get_extra_info("peername") if protocol.transport else None
            self.media_hosts = {h for h in (source.group(1) if source else None, peer[0] if peer else None,
                                            self.host) if h}
            ports = re.search(r"server_port=(\d+)-(\d+)", reply)
            media_host = source.group(1) if source else (peer[0] if peer else self.host)
            if ports:
                self._server_rtcp = (media_host, int(ports.group(2)))
        return track

    async def play(self) -> None:
        """Start the stream: from now on RTP packets reach ``on_packet`` (set it before calling this)."""
        await self.request("PLAY", self.url, {"Range": "npt=0.000-"})

    def keepalive(self) -> None:
        """Send a keepalive (GET_PARAMETER when the camera supports it, else OPTIONS); its answer is ignored."""
        if self._control is None or self._closed or self._lost is not None:
            return
        self._write("GET_PARAMETER" if self._supports_get_parameter else "OPTIONS", self.url, {})

    def send_receiver_report(self) -> None:
        """Send an RTCP receiver report about the video stream (cameras take it as a heartbeat, as FFmpeg's)."""
        r = self.receiver
        if r is None or r.ssrc is None or self._closed or self._lost is not None:
            return
        extended = r.extended_max_seq
        expected, received = extended - r.first_seq + 1, r.packets
        prior_expected, prior_received = self._rr_prior
        self._rr_prior = (expected, received)
        expected_interval = expected - prior_expected
        lost_interval = expected_interval - (received - prior_received)
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = int((time.monotonic() - self._last_sr[1]) * 65536)
        packet = receiver_report(self._rtcp_ssrc, r.ssrc, min(fraction, 255), expected - received, extended, 0,
                                 lsr, dlsr)
        if self.transport_kind == "tcp":
            if self._control is not None and self._control.transport is not None:
                self._control.transport.write(b"$" + bytes((self.rtp_channel + 1,)) + len(packet).to_bytes(2, "big")
                                              + packet)
        elif len(self._udp) == 2 and self._server_rtcp is not None:
            self._udp[1].sendto(packet, self._server_rtcp)
        else:
            return
        self.reports_sent += 1

    def _on_rtcp(self, data: bytes) -> None:
        lsr = sender_report_lsr(data)
        if lsr is not None:
            self._last_sr = (lsr, time.monotonic())

    @property
    def keepalive_interval_s(self) -> float:
        """Return how often ``keepalive`` should be called."""
        return max(1.0, self.session_timeout_s * KEEPALIVE_FRACTION)

    async def close(self) -> None:
        """Send TEARDOWN (not waiting for the answer) and close every socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        control = self._control
        if control is not None and control.transport is not None and not control.transport.is_closing():
            if self.session is not None and self._lost is None:
                with contextlib.suppress(OSError, RuntimeError):
                    self._write("TEARDOWN", self.url, {})
            transport = control.transport
            # A frozen camera never drains our write buffer: abort rather than wait for it.
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    # A TLS close waits for the camera's close_notify (30 s by default): a frozen camera
                    # would hold stop() that long.
                    await asyncio.wait_for(asyncio.shield(control.closed), CLOSE_TIMEOUT_S)
                except TimeoutError:
                    transport.abort()
                    await asyncio.shield(control.closed)
        for udp in self._udp:
            udp.close()
        self._udp = []
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    # ------------------------------------------------------------------------------ requests

    async def request(self, method: str, uri: str, headers: dict[str, str] | None = None) -> Response:
        """Send a request and return its 2xx response (answering one auth challenge); raise RtspError."""
        headers = dict(headers or {})
        for attempt in range(2):
            had_auth = self._auth.scheme is not None
            response = await self._exchange(method, uri, headers)
            if response.status != 401:
                break
            if attempt == 1 or not self._auth.challenge(response.headers.get("www-authenticate", []), had_auth):
                who = "refused the credentials" if self._auth.user is not None else "requires credentials"
                raise RtspAuthError(f"RTSP server {who} (401) for {self.url}")
        location = response.header("location")
        if response.status in REDIRECT_STATUSES and location and method in ("OPTIONS", "DESCRIBE"):
            raise _Redirect(location)
        if not 200 <= response.status < 300:
            raise RtspError(f"{method} answered {response.status} {response.reason}".strip(), "refused")
        return response

    async def _exchange(self, method: str, uri: str, headers: dict[str, str]) -> Response:
        if self._lost is not None:
            raise RtspError(f"connection lost: {self._lost}", _lost_kind(self._lost))
        cseq = self._write(method, uri, headers)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[cseq] = future
        try:
            return await future
        finally:
            self._pending.pop(cseq, None)

    def _write(self, method: str, uri: str, headers: dict[str, str]) -> int:
        assert self._control is not None and self._control.transport is not None
        self._cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {USER_AGENT}"]
        if self.session is not None:
            lines.append(f"Session: {self.session}")
        auth = self._auth.header(method, uri)
        if auth is not None:
            lines.append(f"Authorization: {auth}")
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        self._control.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._cseq

    def _message(self, first: str, headers: dict[str, list[str]], body: bytes) -> None:
        """Handle one RTSP message from the camera (a response, or a request we do not serve)."""
        match = _STATUS.match(first.encode())
        if match is None:
            logger.debug("rtsp %s: ignoring a request from the camera: %s", self.url, first)
            return
        self._answered = True
        cseq_text = (headers.get("cseq") or [""])[0]
        future = self._pending.get(int(cseq_text)) if cseq_text.isdigit() else None
        if future is not None and not future.done():
            future.set_result(Response(int(match.group(1)), match.group(2).decode("utf-8", "replace"),
                                       headers, body))

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self._lost is None:
            if exc is None and self.desyncs and not self._answered:
                # It hung up after sending only bytes that are neither RTSP nor interleaved media.
                exc = RtspError("the camera's answer is not RTSP")
            self._lost = exc or ConnectionResetError("the camera closed the RTSP connection")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RtspError(f"connection lost: {self._lost}", _lost_kind(self._lost)))

    def _adopt_session(self, setup: Response) -> None:
        value = setup.header("session")
        if not value:
            raise RtspError("SETUP answer has no Session header")
        session, *params = value.split(";")
        self.session = session.strip()
        for param in params:
            key, _, val = param.strip().partition("=")
            if key.lower() == "timeout":
                with contextlib.suppress(ValueError):
                    self.session_timeout_s = max(2.0, float(val))

    async def _bind_udp(self, loop: asyncio.AbstractEventLoop) -> int:
        """Bind an RTP (even) / RTCP (odd) UDP port pair, within ``udp_ports`` when given; return the RTP port."""
        assert self._control is not None and self._control.transport is not None
        local = self._control.transport.get_extra_info("sockname")
        host = local[0] if local else "0.0.0.0"
        low, high = self.udp_ports or (0, 0)
        for _ in range(UDP_BIND_ATTEMPTS):
            rtp_port = random.randrange(low + (low & 1), high, 2) if self.udp_ports else 0
            try:
                rtp, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, True),
                                                             local_addr=(host, rtp_port))
            except OSError:
                continue
            port = rtp.get_extra_info("sockname")[1]
            if port & 1:
                rtp.close()
                continue
            try:
                rtcp, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, False),
                                                              local_addr=(host, port + 1))
            except OSError:
                rtp.close()
                continue
            self._udp = [rtp, rtcp]
            return int(port)
        where = f"in {low}-{high}" if self.udp_ports else "anywhere"
        raise RtspError(f"no free UDP port pair for RTP {where}", "setup")
