"""A WS-Discovery responder for simulated ONVIF cameras.

It answers SOAP-over-UDP Probe messages with a ProbeMatch per device (its endpoint UUID, types, scopes
and XAddrs). It binds a unicast address and port of the caller's choice (tests use 127.0.0.1 and port 0
and probe it directly) and, when asked, also joins the WS-Discovery multicast group 239.255.255.250:3702.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import quote
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
ACTION_PROBE = f"{NS_WSD}/Probe"
ACTION_PROBE_MATCHES = f"{NS_WSD}/ProbeMatches"
WSA_ANONYMOUS = f"{NS_WSA}/role/anonymous"

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
MAX_DATAGRAM_BYTES = 65507
DEVICE_TYPES = ("NetworkVideoTransmitter", "Device")  # local names of the types a camera advertises


@dataclass(frozen=True)
class DiscoverableDevice:
    """What one device announces in its ProbeMatch."""

    xaddrs: tuple[str, ...]
    name: str = "SimCamera"
    hardware: str = "SC-1080"
    endpoint: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    extra_scopes: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the ONVIF scopes (name, hardware, profile) of the device."""
        return (
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/Profile/Streaming",
            f"onvif://www.onvif.org/name/{quote(self.name)}",
            f"onvif://www.onvif.org/hardware/{quote(self.hardware)}",
            *self.extra_scopes,
        )


def _probe_match(device: DiscoverableDevice) -> str:
    return (
        "<d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>{escape(device.endpoint)}</a:Address></a:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
        f"<d:Scopes>{escape(' '.join(device.scopes))}</d:Scopes>"
        f"<d:XAddrs>{escape(' '.join(device.xaddrs))}</d:XAddrs>"
        "<d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch>"
    )


def build_probe_matches(devices: list[DiscoverableDevice], relates_to: str) -> bytes:
    """Build the ProbeMatches reply to the Probe with message id `relates_to`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" xmlns:dn="{NS_DN}"'
        f' xmlns:tds="{NS_TDS}"><s:Header>'
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"<a:To>{WSA_ANONYMOUS}</a:To>"
        f"<a:Action>{ACTION_PROBE_MATCHES}</a:Action>"
        "</s:Header><s:Body><d:ProbeMatches>"
        + "".join(_probe_match(d) for d in devices)
        + "</d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def _parse_probe(data: bytes) -> tuple[str, list[str]] | None:
    """Return (message id, requested type local names) of a Probe, or None if it is not one."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    probe = root.find(f"{{{NS_SOAP12}}}Body/{{{NS_WSD}}}Probe")
    if probe is None:
        return None
    message_id = root.findtext(f"{{{NS_SOAP12}}}Header/{{{NS_WSA}}}MessageID", "").strip()
    types = (probe.findtext(f"{{{NS_WSD}}}Types") or "").split()
    return message_id, [t.rpartition(":")[2] for t in types]


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answer WS-Discovery Probes for a set of devices."""

    def __init__(self, devices: list[DiscoverableDevice]) -> None:
        self.devices = list(devices)
        self.probes_seen = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.multicast_joined = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        """Reply to a Probe whose types match a camera (or that names no types)."""
        parsed = _parse_probe(data)
        if parsed is None or self.transport is None:
            return
        message_id, wanted = parsed
        self.probes_seen += 1
        if wanted and not any(t in DEVICE_TYPES for t in wanted):
            return
        if self.devices:
            self.transport.sendto(build_probe_matches(self.devices, message_id), addr)

    def close(self) -> None:
        """Stop answering and release the socket."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def start_discovery_responder(
    devices: list[DiscoverableDevice],
    host: str = "0.0.0.0",
    port: int = DISCOVERY_PORT,
    *,
    multicast: bool = True,
) -> DiscoveryResponder:
    """Bind a responder on host:port (port 0 = any) and optionally join the multicast group."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        responder = DiscoveryResponder(devices)
        if multicast:
            membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton("0.0.0.0"))
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
                responder.multicast_joined = True
            except OSError as exc:
                log.debug("WS-Discovery responder: cannot join %s (%s); unicast only", MULTICAST_GROUP, exc)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: responder, sock=sock)
    except BaseException:
        with contextlib.suppress(OSError):
            sock.close()
        raise
    responder.port = int(sock.getsockname()[1])
    return responder
