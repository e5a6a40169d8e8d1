"""WebRTC's edge of the network: media ports within the configured range, the addresses advertised in ICE
candidates (a NAT address; no unwanted interfaces), and STUN/TURN servers with time-limited TURN credentials.

aiortc 1.16 gathers candidates with aioice 0.13, which has no option for any of this: it binds each host
candidate's socket with ``loop.create_datagram_endpoint(..., local_addr=(address, 0))`` (an ephemeral port) on
every address ``get_host_addresses()`` returns (all but 127.0.0.1, ::1 and IPv6 link-local), and a TURN client's
socket with ``remote_addr=`` only. ``install()`` therefore patches aioice, once per process, after checking its
version and that the code it patches still reads as expected (a different aioice fails the start-up loudly rather
than binding ports a firewall planned from the config does not open):

* ``aioice.ice.get_host_addresses`` → ``host_addresses()``: the configured interfaces only
  (``server.ice_interfaces``);
* ``Connection.get_component_candidates``: the original, run with an event loop whose
  ``create_datagram_endpoint`` binds the socket itself within ``rtp_port_min``–``rtp_port_max`` (host candidates
  and TURN client sockets alike; a rotating cursor from a random start, skipping ports in use), then one
  NAT candidate per host candidate when ``server.nat_address`` is set;
* the name ``asyncio`` in ``aioice.ice`` and ``aioice.turn``: the real module, except that
  ``get_running_loop()`` returns that loop while a managed gathering runs (a context variable).

The NAT address is advertised as an extra *server-reflexive* candidate (``typ srflx raddr <host> rport <port>``,
the same port as its host candidate; none for loopback or link-local host candidates, which no NAT forwards to),
as Jitsi's NAT harvester does: browsers pair remote srflx candidates like
any other, a site outside reaches the public address, and a site on the server's own LAN still uses the host
candidate without needing the NAT to hairpin. It is what a STUN query would have found behind a port-preserving
1:1 NAT or port forward, without depending on a STUN server being reachable.

The one UDP socket outside the range is aioice's mDNS resolver (port 5353, multicast on the LAN), opened only to
resolve a browser's ``.local`` host candidates; no firewall needs to let it in from outside.

What the patch does comes from ``configure(settings)`` (the app sets it while it runs and restores the previous
value at shutdown); with no settings, or inside ``unmanaged()`` (aiortc client peers a test runs in the server's
process), aioice behaves as shipped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import errno
import fnmatch
import hashlib
import hmac
import inspect
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aioice
import aioice.ice
import aioice.turn
import ifaddr
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCIceServer
from aiortc.rtcicetransport import connection_kwargs

if TYPE_CHECKING:
    from mediaserver.config import IceServerConfig, ServerConfig

logger = logging.getLogger(__name__)

SUPPORTED_AIOICE = "0.13."
# Virtual bridges and container/VM links: their addresses are unreachable from the sites, and every extra
# candidate costs each browser a connectivity check. Advertised only when server.ice_interfaces names them.
VIRTUAL_INTERFACES = ("docker*", "br-*", "veth*", "virbr*", "vnet*", "lxcbr*", "lxdbr*", "cni*", "flannel*",
                      "cali*", "vxlan*", "podman*", "kube*", "vboxnet*", "vmnet*", "tap*")
SERVER_TURN_USER = "mediaserver"  # the user part of the server's own TURN REST credentials

_ORIGINAL_COMPONENT_CANDIDATES = aioice.ice.Connection.get_component_candidates
_ORIGINAL_HOST_ADDRESSES = aioice.ice.get_host_addresses
_settings: IceSettings | None = None
_installed = False
_unmanaged: contextvars.ContextVar[bool] = contextvars.ContextVar("ice_unmanaged", default=False)
_gathering: contextvars.ContextVar[PortRange | None] = contextvars.ContextVar("ice_gathering", default=None)


class PortRangeExhausted(OSError):
    """No free UDP port is left in the configured media range."""


class PortRange:
    """Binds UDP sockets within [low, high]: a rotating cursor from a random start, skipping ports in use."""

    def __init__(self, low: int, high: int) -> None:
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"bad UDP port range {low}-{high}")
        self.low, self.high = low, high
        self._next = random.randint(low, high)

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def bind(self, family: socket.AddressFamily, host: str) -> socket.socket:
        """Return a UDP socket bound to ``host`` on a free port of the range; raise PortRangeExhausted."""
        for i in range(self.size):
            port = self.low + (self._next - self.low + i) % self.size
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            self._next = self.low + (port + 1 - self.low) % self.size  # the next bind starts after this port
            return sock
        raise PortRangeExhausted(
            errno.EADDRINUSE,
            f"no free UDP port for WebRTC media on {host} in server.rtp_port_min–rtp_port_max "
            f"({self.low}–{self.high}): every one is in use; widen the range in the config (and the firewall)")


@dataclass(frozen=True)
class IceSettings:
    """What the patched aioice does: where media binds and which addresses its candidates advertise."""

    port_min: int
    port_max: int
    nat_address: str | None = None
    # Allow-list of interface names (shell patterns: "eth0", "ens*"), addresses and CIDRs; empty: every interface
    # except loopback and VIRTUAL_INTERFACES.
    interfaces: tuple[str, ...] = ()
    # Loopback addresses advertised anyway when ``interfaces`` is empty (the server bound to 127.0.0.1).
    loopback: frozenset[str] = frozenset()
    ports: PortRange = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", PortRange(self.port_min, self.port_max))
        if self.nat_address is not None:
            object.__setattr__(self, "nat_address", str(ipaddress.ip_address(self.nat_address)))


def settings_for(server: ServerConfig) -> IceSettings:
    """Return the settings a server config asks for."""
    loopback: set[str] = set()
    if server.host in ("localhost", "127.0.0.1") or server.host.startswith("127."):
        loopback.add("127.0.0.1")
    if server.host in ("localhost", "::1"):
        loopback.add("::1")
    return IceSettings(server.rtp_port_min, server.rtp_port_max, server.nat_address, tuple(server.ice_interfaces),
                       frozenset(loopback))


# ------------------------------------------------------------------------------------------ interfaces


def _entry_network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def advertised(settings: IceSettings, interface: str, address: str) -> bool:
    """Return whether a host address on ``interface`` is advertised in ICE candidates."""
    ip = ipaddress.ip_address(address)
    if settings.interfaces:
        for entry in settings.interfaces:
            net = _entry_network(entry)
            if net is not None and ip.version == net.version and ip in net:
                return True
            if net is None and fnmatch.fnmatchcase(interface, entry):
                return True
        return False
    if ip.is_loopback:
        return address in settings.loopback
    return not any(fnmatch.fnmatchcase(interface, pattern) for pattern in VIRTUAL_INTERFACES)


def host_addresses(settings: IceSettings, use_ipv4: bool = True, use_ipv6: bool = True,
                   adapters: Iterable[ifaddr.Adapter] | None = None) -> list[str]:
    """Return the local addresses host candidates are gathered on (as aioice's, filtered by ``settings``)."""
    out: list[str] = []
    for adapter in ifaddr.get_adapters() if adapters is None else adapters:
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                if not use_ipv4:
                    continue
                address = ip.ip
            else:
                if not use_ipv6 or ip.ip[2] != 0:  # a scope id: link-local, as aioice skips it
                    continue
                address = ip.ip[0]
            if address not in out and advertised(settings, adapter.name, address):
                out.append(address)
    return out


def nat_mapped(host: str, nat_address: str) -> bool:
    """Return whether a NAT at ``nat_address`` can forward to the local address ``host``: the same family, and
    neither loopback nor link-local (a NAT never forwards to those)."""
    ip, nat = ipaddress.ip_address(host), ipaddress.ip_address(nat_address)
    return ip.version == nat.version and ip != nat and not ip.is_loopback and not ip.is_link_local


def nat_candidates(candidates: Sequence[Candidate], nat_address: str) -> list[Candidate]:
    """Return a server-reflexive candidate at ``nat_address`` (same port) for each host candidate a NAT can
    forward to (``nat_mapped``)."""
    out = []
    for c in candidates:
        if c.type != "host" or not nat_mapped(c.host, nat_address):
            continue
        out.append(Candidate(
            foundation=candidate_foundation("srflx", "udp", c.host), component=c.component, transport=c.transport,
            priority=candidate_priority(c.component, "srflx"), host=nat_address, port=c.port, type="srflx",
            related_address=c.host, related_port=c.port))
    return out


# ------------------------------------------------------------------------------------------ the patch


def _current() -> IceSettings | None:
    return None if _unmanaged.get() else _settings


class _RangeLoop:
    """The running loop as aioice sees it during a managed gathering: UDP sockets bound within the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: PortRange) -> None:
        self._loop, self._ports = loop, ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, protocol_factory: Callable[[], asyncio.DatagramProtocol],
                                       local_addr: tuple[str, int] | None = None,
                                       remote_addr: tuple[str, int] | None = None,
                                       **kw: Any) -> tuple[asyncio.DatagramTransport, asyncio.DatagramProtocol]:
        if kw or (local_addr is None) == (remote_addr is None) or (local_addr is not None and local_addr[1] != 0):
            return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=local_addr,
                                                             remote_addr=remote_addr, **kw)
        if local_addr is not None:  # a host candidate
            family = socket.AF_INET6 if ":" in local_addr[0] else socket.AF_INET
            sock = self._bind(family, local_addr[0])
        else:  # a TURN client: bound in the range too, then connected to the server (aioice sends without address)
            assert remote_addr is not None
            infos = await self._loop.getaddrinfo(remote_addr[0], remote_addr[1], type=socket.SOCK_DGRAM)
            family, _, _, _, server = infos[0]
            sock = self._bind(family, "::" if family == socket.AF_INET6 else "0.0.0.0")
            try:
                sock.connect(server)
            except OSError:
                sock.close()
                raise
        try:
            return await self._loop.create_datagram_endpoint(protocol_factory, sock=sock)
        except BaseException:
            sock.close()
            raise

    def _bind(self, family: socket.AddressFamily, host: str) -> socket.socket:
        try:
            return self._ports.bind(family, host)
        except PortRangeExhausted as exc:
            logger.error("%s", exc.strerror)  # aioice only logs a failed bind at INFO and drops the address
            raise


class _AsyncioForAioice:
    """aioice's ``asyncio``: the real module, but ``get_running_loop()`` is a _RangeLoop in a managed gathering."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def get_running_loop() -> Any:
        loop = asyncio.get_running_loop()
        ports = _gathering.get()
        return loop if ports is None else _RangeLoop(loop, ports)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    settings = _current()
    if settings is None:
        return _ORIGINAL_HOST_ADDRESSES(use_ipv4, use_ipv6)
    return host_addresses(settings, use_ipv4, use_ipv6)


async def _component_candidates(self: aioice.ice.Connection, component: int, addresses: list[str],
                                timeout: int = 5) -> list[Candidate]:  # noqa: ASYNC109 - aioice's signature
    settings = _current()
    if settings is None:
        return await _ORIGINAL_COMPONENT_CANDIDATES(self, component, addresses, timeout)
    token = _gathering.set(settings.ports)
    try:
        candidates = await _ORIGINAL_COMPONENT_CANDIDATES(self, component, addresses, timeout)
    finally:
        _gathering.reset(token)
    for c in candidates:
        if c.type == "host" and not settings.port_min <= c.port <= settings.port_max:
            logger.error("ICE host candidate %s:%d is outside server.rtp_port_min–rtp_port_max (%d–%d)",
                         c.host, c.port, settings.port_min, settings.port_max)
    if settings.nat_address is not None:
        candidates += nat_candidates(candidates, settings.nat_address)
    return candidates


def _check_aioice() -> None:
    """Refuse an aioice whose code the patch was not written against."""
    version = getattr(aioice, "__version__", "?")
    expect: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
        "Connection.get_component_candidates": (_ORIGINAL_COMPONENT_CANDIDATES,
                                                ("loop = asyncio.get_running_loop()", "local_addr=(address, 0)")),
        "Connection.gather_candidates": (aioice.ice.Connection.gather_candidates, ("get_host_addresses(",)),
        "turn.create_turn_endpoint": (aioice.turn.create_turn_endpoint,
                                      ("loop = asyncio.get_running_loop()", "remote_addr=server_addr")),
    }
    problems = [] if version.startswith(SUPPORTED_AIOICE) else [f"version {version}, expected {SUPPORTED_AIOICE}x"]
    for name, (func, needles) in expect.items():
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            problems.append(f"cannot read the source of {name}")
            continue
        problems += [f"{name} no longer contains {n!r}" for n in needles if n not in source]
    if problems:
        raise RuntimeError("mediaserver.ice cannot bind WebRTC media within server.rtp_port_min–rtp_port_max with "
                           f"this aioice ({'; '.join(problems)}): review the patch in mediaserver/ice.py")


def install() -> None:
    """Patch aioice (idempotent). It stays inert until ``configure()`` gives it settings."""
    global _installed
    if _installed:
        return
    _check_aioice()
    proxy = _AsyncioForAioice()
    setattr(aioice.ice, "asyncio", proxy)  # noqa: B010 - module attributes patched on purpose
    setattr(aioice.turn, "asyncio", proxy)  # noqa: B010
    setattr(aioice.ice, "get_host_addresses", _host_addresses)  # noqa: B010
    setattr(aioice.ice.Connection, "get_component_candidates", _component_candidates)  # noqa: B010
    _installed = True


def configure(settings: IceSettings | None) -> IceSettings | None:
    """Install the patch if needed and make ``settings`` current (None: aioice as shipped); return the previous."""
    global _settings
    install()
    previous, _settings = _settings, settings
    return previous


def current() -> IceSettings | None:
    """Return the settings in force (None when nothing is configured)."""
    return _settings


@contextlib.contextmanager
def unmanaged() -> Iterator[None]:
    """Within this block (and tasks it starts), aioice gathers as shipped: for client peers in the server process."""
    token = _unmanaged.set(True)
    try:
        yield
    finally:
        _unmanaged.reset(token)


# ------------------------------------------------------------------------------------------ TURN and STUN


def rest_credential(secret: str, username: str) -> str:
    """Return the TURN REST API credential of ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(secret: str, user: str, ttl_s: float, now: float | None = None) -> tuple[str, str]:
    """Return (username, credential) valid for ``ttl_s`` (coturn ``use-auth-secret``): ``<expiry>:<user>``."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{user}"
    return username, rest_credential(secret, username)


class IceServers:
    """The configured STUN/TURN servers, for browsers (fresh TURN credentials per join) and for the server's own
    peer connections (one list, shared with every session; ``refresh()`` renews its TURN REST credentials)."""

    def __init__(self, configs: Sequence[IceServerConfig], clock: Callable[[], float] = time.time) -> None:
        self.configs = list(configs)
        self.clock = clock
        self._server: list[tuple[IceServerConfig, RTCIceServer]] = [
            (c, RTCIceServer(urls=list(c.urls))) for c in self.configs if c.use_on_server]
        # What the server's own RTCPeerConnections use: one list, its entries renewed in place by refresh().
        self.server_list: list[RTCIceServer] = [s for _, s in self._server]
        self.refresh()

    def refresh(self) -> None:
        """Renew the server's own TURN REST credentials (static ones are set once)."""
        for cfg, server in self._server:
            server.username, server.credential = self._credentials(cfg, SERVER_TURN_USER)

    @property
    def server_uses_turn(self) -> bool:
        """Whether the server's own peer connections allocate on a TURN server (one more UDP socket each)."""
        chosen = connection_kwargs(self.server_list)  # what aiortc picks: the first usable TURN URL
        return "turn_server" in chosen and chosen["turn_transport"] == "udp" and not chosen["turn_ssl"]

    @property
    def refresh_every_s(self) -> float | None:
        """How often ``refresh()`` must run (a quarter of the shortest TTL), None when no credential expires."""
        ttls = [c.credential_ttl_s for c, _ in self._server if c.shared_secret is not None]
        return min(ttls) / 4 if ttls else None

    def _credentials(self, cfg: IceServerConfig, user: str) -> tuple[str | None, str | None]:
        if cfg.shared_secret is not None:
            return turn_credentials(cfg.shared_secret.get_secret_value(), user, cfg.credential_ttl_s, self.clock())
        return cfg.username, cfg.credential.get_secret_value() if cfg.credential is not None else None

    def for_browser(self, site_id: str) -> list[dict[str, Any]]:
        """Return browser ``RTCIceServer`` dicts for one site's join: {urls, username?, credential?}."""
        out: list[dict[str, Any]] = []
        for cfg in self.configs:
            entry: dict[str, Any] = {"urls": list(cfg.urls)}
            username, credential = self._credentials(cfg, site_id)
            if username is not None:
                entry["username"] = username
            if credential is not None:
                entry["credential"] = credential
            out.append(entry)
        return out


__all__ = ["IceServers", "IceSettings", "PortRange", "PortRangeExhausted", "advertised", "configure", "current",
           "host_addresses", "install", "nat_candidates", "nat_mapped", "rest_credential", "settings_for",
           "turn_credentials", "unmanaged"]
