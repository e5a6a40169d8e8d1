"""Firewalls and NAT (mediaserver/ice.py), with real parts: the real app on 127.0.0.1, real aiortc sites, the
kernel's own socket table, a real TURN server (Debian's coturn) and a real Chromium joining through it.

* every WebRTC UDP socket the server opens lies within server.rtp_port_min–rtp_port_max (read from
  /proc/net/udp and /proc/net/udp6 while sites are connected, matched to this process through /proc/self/fd);
* server.nat_address is advertised in the server's offer, and an address outside server.ice_interfaces is not;
* a Chromium site with iceTransportPolicy "relay" joins through coturn (TURN REST credentials from a generated
  static-auth-secret) and decodes the host's video over a relayed candidate pair;
* bad firewall/NAT settings are refused with a precise message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import ifaddr
import pytest
from aioice.candidate import Candidate
from pydantic import SecretStr

from mediaserver import ice
from mediaserver.app_keys import TOKENS_KEY
from mediaserver.config import Config, ConfigError, IceServerConfig, parse_config
from tests.browser import decoded
from tests.browser import until as page_until
from tests.conf_peer import SitePeer, encode_video
from tests.conftest import ROOT, Api, ApiFactory
from tests.test_browser import Pages, browser  # noqa: F401  (the browser fixture)

ROOM = "hop-huyen"
HOST = "ubnd-huyen"
SITES = ("xa-an-binh", "xa-an-hoa")
# A narrow range no ephemeral allocation would fill by chance: a socket outside it is the server's mistake.
LOW, HIGH = 41000, 41199
NAT = "203.0.113.77"  # TEST-NET-3: never a local address


# ------------------------------------------------------------------------------------------ the socket table


@dataclass(frozen=True)
class UdpSocket:
    inode: int
    local: tuple[str, int]
    remote: tuple[str, int]


def _hex_address(text: str) -> tuple[str, int]:
    """Decode a /proc/net/udp{,6} address ("0100007F:A028"): the IP as the kernel stores it, in host order."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    # Each 32-bit word is in the host's (little-endian) byte order.
    fixed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(fixed)), int(port, 16)


def udp_sockets() -> dict[int, UdpSocket]:
    """Every UDP socket of the system, by inode, from /proc/net/udp and /proc/net/udp6."""
    out: dict[int, UdpSocket] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        for line in lines:
            f = line.split()
            inode = int(f[9])
            out[inode] = UdpSocket(inode, _hex_address(f[1]), _hex_address(f[2]))
    return out


def own_socket_inodes() -> set[int]:
    """The inodes of every socket this process holds open (/proc/self/fd → socket:[inode])."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own fd)
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            out.add(int(m.group(1)))
    return out


def own_udp_sockets() -> dict[int, UdpSocket]:
    mine = own_socket_inodes()
    return {i: s for i, s in udp_sockets().items() if i in mine}


def client_addresses(peer: SitePeer) -> set[tuple[str, int]]:
    """The local (address, port) of every ICE socket of a test's own aiortc site (not the server's)."""
    assert peer.pc is not None
    out = set()
    for t in peer.pc.getTransceivers():
        for dtls in (t.sender.transport, t.receiver.transport):
            if dtls is None:
                continue
            for protocol in dtls.transport._connection._protocols:
                sockname = protocol.transport.get_extra_info("sockname")
                out.add((str(ipaddress.ip_address(sockname[0])), int(sockname[1])))
    assert out, "the site's ICE sockets were not found (aiortc internals changed?)"
    return out


def in_range(s: UdpSocket) -> bool:
    return LOW <= s.local[1] <= HIGH


def ranged(config: Config) -> Config:
    config.server.rtp_port_min, config.server.rtp_port_max = LOW, HIGH
    return config


async def until(cond: Any, what: str, wait_s: float = 15.0) -> None:
    deadline = time.monotonic() + wait_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Sites:
    """aiortc sites run by the test in the server's process; their own ICE gathers as aioice ships it (ephemeral
    ports, outside the server's range), so the sockets they add are told apart from the server's."""

    def __init__(self, api: Api, http: aiohttp.ClientSession) -> None:
        self.api, self.http = api, http
        self.base = str(api.client.make_url("")).rstrip("/")
        self.peers: list[SitePeer] = []

    async def join(self, site: str, **kw: Any) -> SitePeer:
        token = (await self.api.app[TOKENS_KEY].issue_join(site, ROOM))[0]
        peer = SitePeer(self.http, self.base, ROOM, token, **kw)
        self.peers.append(peer)
        with ice.unmanaged():
            await peer.join()
        return peer

    def addresses(self) -> set[tuple[str, int]]:
        return set().union(*(client_addresses(p) for p in self.peers))

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)


@pytest.fixture
async def sites_of() -> AsyncIterator[Any]:
    opened: list[tuple[Sites, aiohttp.ClientSession]] = []

    async def make(api: Api) -> Sites:
        http = aiohttp.ClientSession()
        s = Sites(api, http)
        opened.append((s, http))
        return s

    try:
        yield make
    finally:
        for s, http in opened:
            await s.close()
            await http.close()


# ------------------------------------------------------------------------------------------ port range


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_every_webrtc_socket_the_server_opens_is_in_the_port_range(make_api: ApiFactory, config: Config,
                                                                         sites_of: Any) -> None:
    before = set(own_udp_sockets())
    api = await make_api(ranged(config))
    sites = await sites_of(api)
    video = encode_video("vp8", 20, 3)
    host = await sites.join(HOST, video=video)
    others = [await sites.join(s, video=video) for s in SITES]
    # Media flows both ways, so every leg's ICE is connected (not merely gathered).
    await until(lambda: all(len(host.slot(f"site:{s}").frames) >= 5 for s in SITES)
                and all(len(p.slot("host").frames) >= 5 for p in others), "media between all three sites")

    clients = sites.addresses()
    sockets = own_udp_sockets()
    server = {i: s for i, s in sockets.items() if i not in before and s.local not in clients}
    client = [s for s in sockets.values() if s.local in clients]
    assert len(client) == len(clients), "the sites' own sockets are in this process's table"
    # One socket per site and advertised address at least; none outside the range.
    assert len(server) >= 3, f"found only {len(server)} server UDP socket(s): {sorted(sockets.values(), key=str)}"
    outside = sorted(f"{s.local[0]}:{s.local[1]}" for s in server.values() if not in_range(s))
    assert not outside, f"server UDP sockets outside {LOW}–{HIGH}: {outside}"
    # The check can fail: the sites' sockets, bound as aioice ships (ephemeral ports), are outside it.
    assert any(not in_range(s) for s in client), "the sites' ephemeral ports happened to fall in the range"


# ------------------------------------------------------------------------------------------ advertised addresses


def local_addresses() -> set[str]:
    """Every address of this machine a host candidate could be gathered on (no link-local)."""
    out = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                out.add(ip.ip)
            elif ip.ip[2] == 0:
                out.add(str(ipaddress.ip_address(ip.ip[0])))
    return out


def candidates(sdp: str) -> list[dict[str, Any]]:
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            f = line[len("a=candidate:"):].split()
            c: dict[str, Any] = {"host": str(ipaddress.ip_address(f[4])), "port": int(f[5]), "type": f[7]}
            if "raddr" in f:
                c["raddr"] = str(ipaddress.ip_address(f[f.index("raddr") + 1]))
                c["rport"] = int(f[f.index("rport") + 1])
            out.append(c)
    return out


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_nat_address_is_advertised_and_excluded_interfaces_are_not(make_api: ApiFactory, config: Config,
                                                                         sites_of: Any) -> None:
    local = local_addresses()
    # A NAT forwards to a LAN address, never to loopback: advertise one IPv4 LAN address of this machine only.
    lan = sorted(a for a in local if ice.nat_mapped(a, NAT))
    if not lan:
        pytest.skip(f"this machine has no non-loopback IPv4 address for a NAT to forward to (only {sorted(local)})")
    wanted = lan[0]
    excluded = local - {wanted}
    assert excluded, "the machine has 127.0.0.1 at least: excluded by server.ice_interfaces"
    config = ranged(config)
    config.server.nat_address = NAT
    config.server.ice_interfaces = [f"{wanted}/32"]
    api = await make_api(config)
    sites = await sites_of(api)
    video = encode_video("vp8", 20, 5)
    host = await sites.join(HOST, video=video)
    site = await sites.join(SITES[0], video=video)
    for peer in (host, site):
        offer = next(m for m in peer.messages if m["type"] == "offer")
        cands = candidates(offer["sdp"])
        hosts = [c for c in cands if c["type"] == "host"]
        nat = [c for c in cands if c["host"] == NAT]
        assert hosts and all(c["host"] == wanted and LOW <= c["port"] <= HIGH for c in hosts), cands
        # The NAT address: a srflx candidate per host candidate, on the same port (a 1:1 NAT or port forward).
        assert nat and all(c["type"] == "srflx" for c in nat), cands
        assert {(c["raddr"], c["rport"], c["port"]) for c in nat} == {(h["host"], h["port"], h["port"])
                                                                    for h in hosts}
        leaked = {c["host"] for c in cands} & excluded | {c.get("raddr") for c in cands} & excluded
        assert not leaked, f"excluded addresses advertised: {leaked}"
    # The sites still reach the server on the one advertised host address.
    await until(lambda: len(site.slot("host").frames) >= 5, "media through the advertised address")


async def test_a_nat_address_no_advertised_address_can_carry_is_warned_of(
        make_api: ApiFactory, config: Config, caplog: pytest.LogCaptureFixture) -> None:
    config = ranged(config)
    config.server.nat_address = NAT
    config.server.ice_interfaces = ["127.0.0.0/8"]  # loopback only: no NAT forwards there
    await make_api(config)
    assert f"server.nat_address {NAT} is not advertised" in caplog.text


# ------------------------------------------------------------------------------------------ TURN relay


@dataclass
class Turn:
    port: int
    secret: str
    log: Path


def free_udp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            if LOW <= port <= HIGH:
                continue
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def stun_answers(port: int, wait_s: float = 0.2) -> bool:
    """Whether a STUN Binding request to 127.0.0.1:port gets a Binding success response."""
    tid = secrets.token_bytes(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait_s)
        s.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid, ("127.0.0.1", port))
        try:
            data = s.recv(2048)
        except OSError:  # a timeout, or ICMP port unreachable
            return False
    return len(data) >= 20 and struct.unpack("!H", data[:2])[0] == 0x0101 and data[8:20] == tid


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    """coturn on 127.0.0.1, a free port, TURN REST auth with a secret made for this test, logging to a file."""
    exe = shutil.which("turnserver") or ("/usr/bin/turnserver" if Path("/usr/bin/turnserver").exists() else None)
    if exe is None:
        pytest.skip("coturn's turnserver is not installed: `make system-deps` (scripts/install-system-deps.sh) "
                    "installs it")
    t = Turn(free_udp_port(), secrets.token_hex(24), tmp_path / "turnserver.log")
    proc = subprocess.Popen(
        [exe, "-n", "--verbose",  # no config file: only these options
         "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(t.port),
         "--use-auth-secret", f"--static-auth-secret={t.secret}", "--realm", "mediaserver.test",
         "--no-tls", "--no-dtls", "--no-rfc5780", "--allow-loopback-peers", "--no-cli", "--fingerprint",
         "--min-port", "49152", "--max-port", "65535",
         "--log-file", str(t.log), "--simple-log", "--no-stdout-log", "--pidfile", str(tmp_path / "turn.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not stun_answers(t.port):
            assert proc.poll() is None, f"turnserver exited {proc.returncode}: {log_text(t)}"
            assert time.monotonic() < deadline, f"turnserver does not answer STUN: {log_text(t)}"
        yield t
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_text(t: Turn) -> str:
    return t.log.read_text(errors="replace")[-3000:] if t.log.exists() else "(no log)"


async def host_decoded(page: Any) -> dict[str, int] | None:
    got = await decoded(page)
    return got if got.get("host", 0) > 0 else None


# The local candidate of the selected pair (its type, address and protocol) and framesDecoded per slot.
SELECTED_JS = """async () => {
  const pc = window.__conf && window.__conf.pc;
  if (!pc) return null;
  const stats = new Map();
  (await pc.getStats()).forEach((s) => stats.set(s.id, s));
  for (const s of stats.values()) {
    if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
    const pair = stats.get(s.selectedCandidatePairId);
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    if (local) return {state: pair.state, local: {type: local.candidateType, address: local.address,
                       relayProtocol: local.relayProtocol}, remote: remote && {type: remote.candidateType,
                       address: remote.address, port: remote.port}};
  }
  return null;
}"""


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_chromium_site_with_relay_policy_joins_through_coturn(
        make_api: ApiFactory, config: Config, turn: Turn, browser: Any, sites_of: Any) -> None:  # noqa: F811
    config = ranged(config)
    config.server.ice_servers = [IceServerConfig(urls=[f"turn:127.0.0.1:{turn.port}?transport=udp"],
                                                 shared_secret=SecretStr(turn.secret), credential_ttl_s=600)]
    config.server.ice_transport_policy = "relay"
    before = set(own_udp_sockets())
    api = await make_api(config)
    sites = await sites_of(api)
    host = await sites.join(HOST, video=encode_video("vp8", 40, 9))
    pages = Pages(browser, api)
    try:
        page = await pages.open(SITES[0], await pages.token(SITES[0]))
        welcome = await page_until(lambda: page.evaluate("() => window.__conf.welcome"), "the welcome")
        assert welcome["ice_transport_policy"] == "relay"
        (entry,) = welcome["ice_servers"]
        # Time-limited TURN REST credentials: '<expiry>:<site>', base64(HMAC-SHA1(secret, username)).
        expiry, _, user = entry["username"].partition(":")
        assert user == SITES[0] and 0 < int(expiry) - time.time() <= 600
        assert entry["credential"] == ice.rest_credential(turn.secret, entry["username"])
        try:
            await page_until(lambda: page.evaluate("() => window.__conf.state === 'connected'"),
                             "the relayed page to connect", 20)
            decoded = await page_until(lambda: host_decoded(page), "the host's video decoded", 20)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; console={pages.console.get(SITES[0], [])[-15:]}; "
                                 f"turnserver log: {log_text(turn)}") from None
        selected = await page.evaluate(SELECTED_JS)
        assert selected is not None and selected["state"] == "succeeded", selected
        assert selected["local"]["type"] == "relay", selected
        assert selected["local"]["address"] == "127.0.0.1" and selected["local"]["relayProtocol"] == "udp", selected
        assert decoded["host"] > 0
        # The host's aiortc site receives the browser's camera through the relay too.
        await until(lambda: len(host.slot(f"site:{SITES[0]}").frames) >= 5, "the relayed site's video at the host")
        pages.assert_no_script_errors()
    finally:
        await pages.close()

    # The server's own TURN client socket (connected to coturn) is in the range like every other server socket.
    clients = sites.addresses()
    server = [s for i, s in own_udp_sockets().items() if i not in before and s.local not in clients]
    assert any(s.remote == ("127.0.0.1", turn.port) for s in server), server
    outside = sorted(f"{s.local[0]}:{s.local[1]}" for s in server if not in_range(s))
    assert not outside, f"server UDP sockets outside {LOW}–{HIGH}: {outside}"
    # coturn itself accepted the site's generated credential (and the server's own) for its allocation.
    for user in (re.escape(entry["username"]), rf"\d+:{ice.SERVER_TURN_USER}"):
        allocated = re.compile(rf"user <{user}>: incoming packet ALLOCATE processed, success")
        await until(lambda a=allocated: a.search(turn.log.read_text(errors="replace")) is not None,
                    f"coturn to log an allocation by {user}", 5)


# ------------------------------------------------------------------------------------------ bad settings

ROOM_OF_10 = ("sites: {h: {name: H, role: host}}\n"
              "rooms: {r: {name: R, host_site: h, max_sites: 10}}\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {rtp_port_min: 41200, rtp_port_max: 41000}",
         "server.rtp_port_max: must be >= server.rtp_port_min"),
        (ROOM_OF_10 + "server: {rtp_port_min: 41000, rtp_port_max: 41003}",
         "server.rtp_port_max: the range has 4 port(s); a room of 10 sites needs at least one UDP port per site"),
        ("server: {rtp_port_min: 80}", "server.rtp_port_min: must be >= 1024"),
        ("server: {nat_address: public.example.vn}",
         "server.nat_address: must be an IP address (e.g. 203.0.113.10)"),
        ("server: {nat_address: 203.0.113.300}", "server.nat_address: must be an IP address"),
        ("server: {nat_address: 0.0.0.0}", "server.nat_address: must be a unicast address"),
        ("server: {nat_address: 224.0.0.1}", "server.nat_address: must be a unicast address"),
        ("server: {ice_transport_policy: relay}",
         "server.ice_transport_policy: 'relay' needs a turn: or turns: URL in server.ice_servers"),
        ("server: {ice_transport_policy: relay, ice_servers: [{urls: ['stun:stun.example.vn:3478']}]}",
         "server.ice_transport_policy: 'relay' needs a turn: or turns: URL in server.ice_servers"),
        ("server: {ice_transport_policy: relay-only}", "server.ice_transport_policy"),
        ("server: {ice_servers: [{urls: ['stun:stun.example.vn'], shared_secret: s3cret}]}",
         "server.ice_servers.0.urls: a shared_secret needs a turn: URL"),
        ("server: {ice_servers: [{urls: ['turn:t.example.vn'], shared_secret: s, username: u}]}",
         "server.ice_servers.0.shared_secret: excludes username and credential"),
        ("server: {ice_servers: [{urls: ['http://t.example.vn']}]}", "server.ice_servers.0.urls.0: must match"),
        ("server: {ice_servers: [{urls: ['turn:[2001:db8::1]:3478'], username: u, credential: c}]}",
         "server.ice_servers.0.urls.0: the server's WebRTC stack (aiortc) cannot use this URL"),
        ("server: {ice_servers: [{urls: ['stun:stun.example.vn?transport=udp']}]}",
         "server.ice_servers.0.urls.0: the server's WebRTC stack (aiortc) cannot use this URL"),
        ("server: {ice_interfaces: ['eth 0']}",
         "server.ice_interfaces.0: must be an interface name (pattern), an IP address or a CIDR"),
    ],
)
def test_bad_network_settings_are_refused_precisely(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, env={})
    found = [str(p) for p in err.value.problems]
    assert any(p.startswith(expected) for p in found), found


def test_nat_candidates_only_for_addresses_a_nat_forwards_to() -> None:
    def host(address: str, port: int) -> Candidate:
        return Candidate("f", 1, "udp", 1, address, port, "host")

    got = ice.nat_candidates([host("127.0.0.1", 41000), host("192.168.1.5", 41001), host("fd00::5", 41002),
                              host("169.254.3.4", 41003), host("192.168.1.5", 41004)], NAT)
    assert [(c.type, c.host, c.port, c.related_address, c.related_port) for c in got] == [
        ("srflx", NAT, 41001, "192.168.1.5", 41001), ("srflx", NAT, 41004, "192.168.1.5", 41004)]
    assert [c.host for c in ice.nat_candidates([host("fd00::5", 41002)], "2001:db8::7")] == ["2001:db8::7"]


def test_good_network_settings_are_accepted() -> None:
    cfg = parse_config(
        ROOM_OF_10 + "server:\n  rtp_port_min: 41000\n  rtp_port_max: 41009\n  nat_address: 203.0.113.10\n"
        "  ice_interfaces: [eth0, 'ens*', 10.0.0.0/8]\n  ice_transport_policy: relay\n"
        "  ice_servers:\n    - urls: ['turn:turn.example.vn:3478?transport=udp']\n"
        "      shared_secret: ${TURN_SECRET}\n", env={"TURN_SECRET": "a-long-shared-secret"})
    assert cfg.server.nat_address == "203.0.113.10"
    assert cfg.server.ice_servers[0].shared_secret is not None
    # An IPv6 literal is fine for browsers only (aiortc cannot parse it).
    parse_config("server: {ice_servers: [{urls: ['turn:[2001:db8::1]:3478'], shared_secret: s, "
                 "use_on_server: false}]}", env={})


def test_the_shipped_configs_commented_network_examples_are_valid() -> None:
    """config.yaml's commented nat_address / ice_* examples, uncommented, pass the config check."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    keys = ("nat_address", "ice_interfaces", "ice_servers", "ice_transport_policy")
    uncommented, n = re.subn(rf"^  # ({'|'.join(keys)}):", r"  \1:", text, flags=re.M)
    assert n == len(keys), f"config.yaml documents {n} of {keys}"
    uncommented = re.sub(r"^  #   - ", "    - ", uncommented, flags=re.M)
    uncommented = re.sub(r"^  #     (\w+):", r"      \1:", uncommented, flags=re.M)
    cfg = parse_config(uncommented, env={"TURN_SECRET": "a-shared-secret-for-coturn"})
    s = cfg.server
    assert s.nat_address and s.ice_interfaces and s.ice_transport_policy == "all"
    assert [bool(i.shared_secret) for i in s.ice_servers] == [False, True]
