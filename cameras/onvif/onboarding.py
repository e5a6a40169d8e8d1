"""ONVIF onboarding with onvif-zeep-async: learn a camera's identity, streams, snapshot and PTZ, quirks included.

`probe_camera` runs the calls a camera needs to be onboarded, working around what real devices get wrong:

* XAddrs naming a host/port we cannot reach (cameras behind NAT or with a stale IP) are rewritten to the
  address we reached the device service at, when the advertised one does not accept TCP connections.
* Clock skew: the camera's time is read first and every WS-Security timestamp is shifted by the offset.
* GetSystemDateAndTime demanding authentication (it must not): retried with a UsernameToken.
* GetServices unsupported or empty: service addresses come from GetCapabilities.
* A single profile: no sub stream.
* Stream URIs with embedded credentials: credentials are stripped; add them at use with
  `stream_url_with_credentials`.

Errors are grouped as in Home Assistant's onvif integration: `OnvifAuthError` (wrong credentials, do not
retry), `OnvifUnreachable` (network, retry with backoff) and `OnvifProtocolError` (the device answered
something unusable; names the operation).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import aiohttp
import zeep.exceptions
from onvif import ONVIFCamera, ONVIFService
from onvif.exceptions import ONVIFAuthError, ONVIFError
from onvif.util import is_auth_error, stringify_onvif_error

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# ------------------------------------------------------------------------------------------- constants

PROBE_TIMEOUT_S = 20.0  # whole onboarding of one camera
PTZ_TIMEOUT_S = 10.0  # one PTZ command
SERVICE_CREATE_GRACE_S = 5.0  # most a cancelled service creation may take to finish (WSDL load, no network)
SNAPSHOT_TIMEOUT_S = 10.0  # one snapshot GET (each auth attempt)
XADDR_CHECK_TIMEOUT_S = 2.0  # does an ONVIF device answer at an advertised XAddr that differs from ours?
MAX_SOAP_PROBE_BYTES = 65536  # most of that answer we read
CLOCK_SKEW_NOTE_S = 5.0  # offsets above this are logged as a quirk
DISCOVERY_TIMEOUT_S = 3.0  # how long discover() collects ProbeMatches
DISCOVERY_REPEAT_GAP_S = 0.1  # SOAP-over-UDP: the probe is sent twice this far apart
DISCOVERY_MULTICAST = ("239.255.255.250", 3702)
DISCOVERY_MULTICAST_TTL = 1  # hops
MAX_DATAGRAM_BYTES = 65507

NS_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
NS_PTZ = "http://www.onvif.org/ver20/ptz/wsdl"
# GetCapabilities category -> service namespace (as onvif-zeep-async keys its xaddrs)
_CAPABILITY_NAMESPACES = {
    "Device": NS_DEVICE,
    "Media": NS_MEDIA,
    "PTZ": NS_PTZ,
    "Events": "http://www.onvif.org/ver10/events/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
}
_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
_CREDENTIAL_QUERY_KEYS = frozenset({"user", "username", "pass", "password", "pwd"})
_PREFERRED_ENCODINGS = ("H265", "H264")  # tie-break between profiles of equal resolution


# ---------------------------------------------------------------------------------------------- errors


class OnvifError(Exception):
    """Base of onboarding errors; `camera` and `operation` say where it failed, `fault` the SOAP subcode."""

    code = "camera_error"  # what staff are told (cameras/failures.py, mediaserver/web/errors.js)

    def __init__(self, message: str, *, camera: str, operation: str, fault: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.camera = camera
        self.operation = operation
        if code is not None:
            self.code = code
        # The innermost SOAP fault subcode without its prefix ("NoToken", "TooManyPresets"), when the camera
        # answered with a fault: what callers map to their own error codes (never show the camera's text).
        self.fault = fault


class OnvifAuthError(OnvifError):
    """The camera rejected the credentials (do not retry until they change)."""

    code = "camera_auth_failed"


class OnvifUnreachable(OnvifError):
    """The camera could not be reached or timed out (retry with backoff)."""

    code = "camera_unreachable"


class OnvifProtocolError(OnvifError):
    """The camera answered something unusable."""

    code = "camera_garbled"


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class StreamProfile:
    """One media profile's video stream."""

    token: str
    name: str
    encoding: str | None
    width: int
    height: int
    fps: float | None
    stream_uri: str | None  # never carries credentials

    @property
    def pixels(self) -> int:
        """Return width × height."""
        return self.width * self.height


@dataclass(frozen=True)
class CameraInfo:
    """What onboarding learned about a camera (never credentials); JSON-able via `to_dict`."""

    name: str
    host: str
    port: int
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None
    profiles: tuple[StreamProfile, ...]
    main: StreamProfile
    sub: StreamProfile | None
    snapshot_uri: str | None
    ptz: bool
    ptz_profile_token: str | None
    clock_offset_s: float | None  # camera clock minus ours; None if the camera would not tell
    xaddrs: Mapping[str, str] = field(default_factory=dict)  # service namespace -> address we use
    quirks: tuple[str, ...] = ()

    @property
    def main_stream_uri(self) -> str | None:
        """Return the main (highest-resolution) stream URL without credentials."""
        return self.main.stream_uri

    @property
    def sub_stream_uri(self) -> str | None:
        """Return the sub (lowest-resolution) stream URL without credentials, if any."""
        return self.sub.stream_uri if self.sub else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (for `CameraRepo.set_info`)."""
        d = asdict(self)
        d["xaddrs"] = dict(self.xaddrs)
        d["quirks"] = list(self.quirks)
        d["profiles"] = [asdict(p) for p in self.profiles]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CameraInfo:
        """Rebuild from `to_dict` output."""
        main = StreamProfile(**d["main"])
        return cls(
            **{k: v for k, v in d.items() if k not in {"profiles", "main", "sub", "xaddrs", "quirks"}},
            profiles=tuple(StreamProfile(**p) for p in d["profiles"]),
            main=main,
            sub=StreamProfile(**d["sub"]) if d.get("sub") else None,
            xaddrs=dict(d.get("xaddrs", {})),
            quirks=tuple(d.get("quirks", ())),
        )


@dataclass(frozen=True)
class DiscoveredDevice:
    """A device that answered a WS-Discovery Probe."""

    endpoint: str  # e.g. urn:uuid:...
    xaddrs: tuple[str, ...]
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    name: str | None
    hardware: str | None
    host: str | None  # from the first http(s) XAddr
    port: int | None
    responder: str  # address the ProbeMatch came from


# ------------------------------------------------------------------------------------------- URL utils


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def strip_credentials(uri: str) -> str:
    """Remove user:password@ and credential query parameters from a URL."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in _CREDENTIAL_QUERY_KEYS]
        if len(kept) != len(parse_qsl(query, keep_blank_values=True)):
            query = urlencode(kept)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def stream_url_with_credentials(uri: str, user: str, password: str) -> str:
    """Return the stream URL with user:password@ added (use it, never store it)."""
    parts = urlsplit(strip_credentials(uri))
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return urlunsplit(parts._replace(netloc=userinfo + parts.netloc))


# ------------------------------------------------------------------------------------- error grouping


def fault_subcode(fault: zeep.exceptions.Fault) -> str | None:
    """Return a SOAP fault's innermost subcode without namespace or prefix ("ter:NoToken" -> "NoToken")."""
    codes = [str(c) for c in (fault.subcodes or []) if c is not None]
    if not codes:
        return None
    last = codes[-1]
    return last.rsplit("}", 1)[-1].rsplit(":", 1)[-1] or None


def _classify(camera: str, where: str, user: str, operation: str, exc: BaseException) -> OnvifError:
    """Map a library/network exception to one of our three groups."""
    if isinstance(exc, OnvifError):
        return exc
    if isinstance(exc, ONVIFAuthError) or (isinstance(exc, zeep.exceptions.Fault) and is_auth_error(exc)):
        detail = stringify_onvif_error(exc) if isinstance(exc, zeep.exceptions.Fault) else str(exc)
        return OnvifAuthError(
            f"camera {camera!r} ({where}) rejected the credentials of user {user!r} in {operation}: {detail}",
            camera=camera, operation=operation,
        )
    if isinstance(exc, zeep.exceptions.Fault):
        return OnvifProtocolError(
            f"camera {camera!r} ({where}): {operation} failed: {stringify_onvif_error(exc)}",
            camera=camera, operation=operation, fault=fault_subcode(exc),
        )
    root: BaseException = exc
    if isinstance(exc, ONVIFError) and exc.__cause__ is not None:
        root = exc.__cause__
    if isinstance(root, aiohttp.ServerDisconnectedError):
        return OnvifUnreachable(
            f"camera {camera!r} ({where}) hung up in {operation} without an answer",
            camera=camera, operation=operation, code="camera_closed",
        )
    if isinstance(root, TimeoutError | aiohttp.ClientConnectionError | OSError):
        return OnvifUnreachable(
            f"camera {camera!r} is unreachable at {where} ({operation}): {type(root).__name__}: {root}",
            camera=camera, operation=operation, code="camera_no_answer" if isinstance(root, TimeoutError) else None,
        )
    if isinstance(root, aiohttp.ClientResponseError) and root.status == 400:
        # aiohttp could not parse the answer (too many headers, a header too long, not HTTP at all).
        return OnvifProtocolError(
            f"camera {camera!r} ({where}): {operation}: the camera's answer is not valid HTTP"
            f" ({root.message.splitlines()[0][:80] if root.message else 'unparsable'})",
            camera=camera, operation=operation,
        )
    if isinstance(root, zeep.exceptions.TransportError) and root.status_code in (401, 403):
        return OnvifAuthError(
            f"camera {camera!r} ({where}) refused user {user!r} with HTTP {root.status_code} in {operation}",
            camera=camera, operation=operation,
        )
    return OnvifProtocolError(
        f"camera {camera!r} ({where}): {operation} failed: {root!r}", camera=camera, operation=operation
    )


class _Session:
    """One onboarding/PTZ conversation: the library camera object plus error context."""

    def __init__(self, name: str, host: str, port: int, user: str, password: str) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self.where = _netloc(host, port)
        self.operation = "connect"
        self.quirks: list[str] = []
        self.cam = ONVIFCamera(host, port, user, password, no_cache=True)

    def quirk(self, tag: str, msg: str, *args: object) -> None:
        """Record a worked-around camera quirk and log it at DEBUG, camera name first."""
        if tag not in self.quirks:
            self.quirks.append(tag)
        log.debug("%s: " + msg, self.name, *args)

    def error(self, exc: BaseException) -> OnvifError:
        """Map `exc` raised during the current operation."""
        return _classify(self.name, self.where, self.user, self.operation, exc)

    async def call(self, operation: str, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Run one ONVIF operation, mapping failures to our error groups."""
        self.operation = operation
        if operation.startswith("connect"):
            return await self._create_service(fn)
        try:
            return await fn()
        except Exception as exc:
            raise self.error(exc) from exc

    async def _create_service(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Create a library service so that cancelling us never orphans its HTTP session.

        onvif-zeep-async opens a service's aiohttp session in its constructor and registers the service with
        the camera (which closes it) only after loading its WSDL, in a thread on a cold cache: a cancellation
        in between would leak the session. So the creation runs to completion (briefly: no network) in its
        own task even when we are cancelled, and ``close()`` then closes what it made.
        """
        task = asyncio.ensure_future(fn())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, SERVICE_CREATE_GRACE_S)
            raise
        except Exception as exc:
            raise self.error(exc) from exc

    async def close(self) -> None:
        """Close every HTTP session the library opened, even when we are being cancelled meanwhile."""
        task = asyncio.ensure_future(self.cam.close())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, SERVICE_CREATE_GRACE_S)
            raise
        except Exception as exc:  # closing is best effort; the probe's own outcome matters
            log.debug("%s: closing the ONVIF sessions failed: %s", self.name, exc)


@contextlib.asynccontextmanager
async def _session(
    name: str, host: str, port: int, user: str, password: str, timeout_s: float
) -> AsyncIterator[_Session]:
    s = _Session(name, host, port, user, password)
    try:
        async with asyncio.timeout(timeout_s):
            yield s
    except TimeoutError as exc:
        raise OnvifUnreachable(
            f"camera {name!r} at {s.where} did not answer within {timeout_s:.0f} s ({s.operation})",
            camera=name, operation=s.operation, code="camera_no_answer",
        ) from exc
    finally:
        await s.close()


# ------------------------------------------------------------------------------------------ onboarding


_TIME_PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    f'<GetSystemDateAndTime xmlns="{NS_DEVICE}"/></s:Body></s:Envelope>'
).encode()


async def _onvif_answers(scheme: str, netloc: str, timeout_s: float = XADDR_CHECK_TIMEOUT_S) -> bool:
    """Tell whether an ONVIF device answers (any SOAP envelope, faults included) at scheme://netloc."""
    url = f"{scheme}://{netloc}/onvif/device_service"
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{NS_DEVICE}/GetSystemDateAndTime"'}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
            http.post(url, data=_TIME_PROBE, headers=headers, ssl=False) as r,
        ):
            body = await r.content.read(MAX_SOAP_PROBE_BYTES)
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False
    try:
        return ET.fromstring(body).tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    except ET.ParseError:
        return False


async def _read_clock(s: _Session, devicemgmt: ONVIFService) -> float | None:
    """Return the camera clock minus ours in seconds (None if the camera will not say)."""
    s.operation = "GetSystemDateAndTime"
    try:
        reply = await devicemgmt.authless_GetSystemDateAndTime()
    except zeep.exceptions.Fault as fault:
        s.quirk("time_needs_auth", "GetSystemDateAndTime without credentials refused (%s); retrying signed",
                stringify_onvif_error(fault))
        try:
            reply = await devicemgmt.GetSystemDateAndTime()
        except zeep.exceptions.Fault as fault2:
            # A skewed clock can make this signed call fail too; go on unadjusted and let later calls decide.
            s.quirk("time_unknown", "signed GetSystemDateAndTime refused too (%s); clock not adjusted",
                    stringify_onvif_error(fault2))
            return None
    except Exception as exc:
        raise s.error(exc) from exc
    try:
        utc = reply.UTCDateTime
        camera_now = dt.datetime(utc.Date.Year, utc.Date.Month, utc.Date.Day,
                                 utc.Time.Hour, utc.Time.Minute, utc.Time.Second, tzinfo=dt.UTC)
    except (AttributeError, TypeError, ValueError) as exc:
        s.quirk("time_unparsable", "GetSystemDateAndTime without a usable UTCDateTime (%r)", exc)
        return None
    return (camera_now - dt.datetime.now(dt.UTC)).total_seconds()


async def _service_xaddrs(s: _Session, devicemgmt: ONVIFService) -> dict[str, str]:
    """Return service namespace -> XAddr from GetServices, or GetCapabilities when that is unsupported."""
    s.operation = "GetServices"
    xaddrs: dict[str, str] = {}
    try:
        services = await devicemgmt.GetServices({"IncludeCapability": False})
    except zeep.exceptions.Fault as fault:
        if is_auth_error(fault):
            raise s.error(fault) from fault
        s.quirk("no_get_services", "GetServices unsupported (%s); using GetCapabilities", stringify_onvif_error(fault))
    except Exception as exc:
        raise s.error(exc) from exc
    else:
        for service in services or []:
            ns, xaddr = getattr(service, "Namespace", None), getattr(service, "XAddr", None)
            if ns and xaddr:
                xaddrs[str(ns)] = str(xaddr)
        if not xaddrs:
            s.quirk("no_get_services", "GetServices returned no services; using GetCapabilities")
    if xaddrs:
        return xaddrs
    caps = await s.call("GetCapabilities", lambda: devicemgmt.GetCapabilities({"Category": "All"}))
    for category, ns in _CAPABILITY_NAMESPACES.items():
        xaddr = getattr(getattr(caps, category, None), "XAddr", None)
        if xaddr:
            xaddrs[ns] = str(xaddr)
    return xaddrs


async def _fix_xaddrs(s: _Session, xaddrs: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """Rewrite XAddrs naming a host:port other than ours where no ONVIF device answers; return them + bad netlocs.

    A plain TCP connect is not enough: the advertised LAN address of a camera behind NAT may be another
    machine on our side (or a proxy), so the check asks for an unauthenticated SOAP answer.
    """
    ours = s.where
    verdicts: dict[str, bool] = {}
    fixed: dict[str, str] = {}
    for ns, xaddr in xaddrs.items():
        parts = urlsplit(xaddr)
        netloc = parts.netloc.rpartition("@")[2]
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OnvifProtocolError(
                f"camera {s.name!r} ({ours}): {s.operation} returned an unusable XAddr {xaddr!r}",
                camera=s.name, operation=s.operation,
            )
        if netloc != ours and netloc not in verdicts:
            verdicts[netloc] = await _onvif_answers(parts.scheme, netloc)
            if not verdicts[netloc]:
                s.quirk("xaddr_rewritten", "no ONVIF device answers at advertised XAddr host %s; using %s",
                        netloc, ours)
        fixed[ns] = urlunsplit(parts._replace(netloc=ours)) if verdicts.get(netloc) is False else xaddr
    return fixed, {n for n, ok in verdicts.items() if not ok}


def _stream_profiles(raw_profiles: Any) -> list[tuple[str, str, str | None, int, int, float | None]]:
    out = []
    for p in raw_profiles or []:
        enc = getattr(p, "VideoEncoderConfiguration", None)
        res = getattr(enc, "Resolution", None)
        width, height = getattr(res, "Width", None), getattr(res, "Height", None)
        token = getattr(p, "token", None)
        if not token or not width or not height:
            continue  # audio/metadata-only profile
        fps = getattr(getattr(enc, "RateControl", None), "FrameRateLimit", None)
        encoding = getattr(enc, "Encoding", None)
        out.append((str(token), str(getattr(p, "Name", "") or token), str(encoding) if encoding else None,
                    int(width), int(height), float(fps) if fps else None))
    return out


def _rank(p: StreamProfile) -> tuple[int, int]:
    enc = (p.encoding or "").upper()
    return p.pixels, (len(_PREFERRED_ENCODINGS) - _PREFERRED_ENCODINGS.index(enc)) if enc in _PREFERRED_ENCODINGS else 0


async def probe_camera(
    host: str,
    port: int,
    user: str,
    password: str,
    *,
    name: str | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> CameraInfo:
    """Onboard a camera over ONVIF: identity, main/sub streams, snapshot URI, PTZ and clock offset."""
    label = name or _netloc(host, port)
    async with _session(label, host, port, user, password, timeout_s) as s:
        cam = s.cam
        devicemgmt = await s.call("connect", cam.create_devicemgmt_service)
        offset_s = await _read_clock(s, devicemgmt)
        if offset_s is not None:
            if abs(offset_s) > CLOCK_SKEW_NOTE_S:
                s.quirk("clock_skew", "camera clock is %+.0f s off ours; signing with its time", offset_s)
            # The signed token's time is fixed when a service is built, so rebuild devicemgmt with the offset.
            cam.dt_diff = dt.timedelta(seconds=offset_s)
            await devicemgmt.close()
            cam.services.pop(devicemgmt.binding_key, None)
            devicemgmt = await s.call("connect", cam.create_devicemgmt_service)

        xaddrs, bad_netlocs = await _fix_xaddrs(s, await _service_xaddrs(s, devicemgmt))
        if NS_MEDIA not in xaddrs:
            raise OnvifProtocolError(f"camera {label!r} ({s.where}) advertises no media service",
                                     camera=label, operation=s.operation)
        cam.xaddrs = dict(xaddrs)

        info = await s.call("GetDeviceInformation", devicemgmt.GetDeviceInformation)
        media = await s.call("connect media", cam.create_media_service)
        raw_profiles = await s.call("GetProfiles", media.GetProfiles) or []
        try:
            found = _stream_profiles(raw_profiles)
        except (TypeError, ValueError) as exc:
            raise s.error(exc) from exc
        if not found:
            raise OnvifProtocolError(f"camera {label!r} ({s.where}): GetProfiles returned no video profile",
                                     camera=label, operation="GetProfiles")

        profiles: list[StreamProfile] = []
        for token, pname, encoding, width, height, fps in found:
            uri = await _stream_uri(s, media, token)
            profiles.append(StreamProfile(token, pname, encoding, width, height, fps, uri))
        usable = [p for p in profiles if p.stream_uri] or profiles
        main = max(usable, key=_rank)
        others = [p for p in usable if p is not main]
        sub = min(others, key=lambda p: p.pixels) if others else None
        if sub is None:
            s.quirk("no_sub_stream", "only one video profile (%s %dx%d); no sub stream", main.token,
                    main.width, main.height)
        if main.stream_uri is None:
            raise OnvifProtocolError(f"camera {label!r} ({s.where}): GetStreamUri gave no usable RTSP URL",
                                     camera=label, operation="GetStreamUri")

        snapshot_uri = await _snapshot_uri(s, media, main.token, bad_netlocs)
        ptz_tokens = [str(getattr(p, "token", "")) for p in raw_profiles if getattr(p, "PTZConfiguration", None)]
        ptz_token = main.token if main.token in ptz_tokens else next(iter(ptz_tokens), None)
        has_ptz = NS_PTZ in xaddrs and ptz_token is not None

        return CameraInfo(
            name=label,
            host=host,
            port=port,
            manufacturer=_opt_str(getattr(info, "Manufacturer", None)),
            model=_opt_str(getattr(info, "Model", None)),
            firmware=_opt_str(getattr(info, "FirmwareVersion", None)),
            serial=_opt_str(getattr(info, "SerialNumber", None)),
            hardware_id=_opt_str(getattr(info, "HardwareId", None)),
            profiles=tuple(profiles),
            main=main,
            sub=sub,
            snapshot_uri=snapshot_uri,
            ptz=has_ptz,
            ptz_profile_token=ptz_token if has_ptz else None,
            clock_offset_s=offset_s,
            xaddrs=xaddrs,
            quirks=tuple(s.quirks),
        )


def _opt_str(v: object) -> str | None:
    return str(v) if v is not None else None


async def _stream_uri(s: _Session, media: ONVIFService, token: str) -> str | None:
    s.operation = f"GetStreamUri({token})"
    try:
        reply = await media.GetStreamUri({"StreamSetup": _STREAM_SETUP, "ProfileToken": token})
    except zeep.exceptions.Fault as fault:
        if is_auth_error(fault):
            raise s.error(fault) from fault
        s.quirk("stream_uri_fault", "GetStreamUri(%s) refused: %s", token, stringify_onvif_error(fault))
        return None
    except Exception as exc:
        raise s.error(exc) from exc
    uri = getattr(reply, "Uri", None)
    if not uri or not str(uri).lower().startswith(("rtsp://", "rtsps://")):
        s.quirk("stream_uri_unusable", "GetStreamUri(%s) gave %r", token, uri)
        return None
    clean = strip_credentials(str(uri))
    if clean != str(uri):
        s.quirk("credentials_in_stream_uri", "GetStreamUri(%s) embeds credentials; stripped", token)
    return clean


async def _snapshot_uri(s: _Session, media: ONVIFService, token: str, bad_netlocs: set[str]) -> str | None:
    s.operation = "GetSnapshotUri"
    try:
        reply = await media.GetSnapshotUri({"ProfileToken": token})
    except zeep.exceptions.Fault as fault:
        if is_auth_error(fault):
            raise s.error(fault) from fault
        s.quirk("no_snapshot", "GetSnapshotUri refused: %s", stringify_onvif_error(fault))
        return None
    except Exception as exc:
        raise s.error(exc) from exc
    uri = getattr(reply, "Uri", None)
    if not uri:
        return None
    parts = urlsplit(strip_credentials(str(uri)))
    if parts.netloc in bad_netlocs:
        s.quirk("xaddr_rewritten", "snapshot URI names unreachable host %s; using %s", parts.netloc, s.where)
        parts = parts._replace(netloc=s.where)
    return urlunsplit(parts)


# -------------------------------------------------------------------------------------------- snapshot


async def fetch_snapshot(info: CameraInfo, user: str, password: str, *, timeout_s: float = SNAPSHOT_TIMEOUT_S) -> bytes:
    """Fetch one JPEG from the camera's snapshot URI with HTTP Digest auth, falling back to Basic."""
    op = "snapshot"
    uri = info.snapshot_uri
    if not uri:
        raise OnvifProtocolError(f"camera {info.name!r} has no snapshot URI", camera=info.name, operation=op)
    where = _netloc(info.host, info.port)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            async with http.get(uri, middlewares=(aiohttp.DigestAuthMiddleware(user, password),), ssl=False) as r:
                status, challenge, body = r.status, r.headers.get("WWW-Authenticate", ""), await r.read()
            if status == 401 and not challenge.lower().startswith("digest"):
                log.debug("%s: snapshot endpoint wants %s auth; retrying with Basic", info.name,
                          challenge.split(" ", 1)[0] or "no")
                basic = {"Authorization": aiohttp.encode_basic_auth(user, password)}
                async with http.get(uri, headers=basic, ssl=False) as r:
                    status, body = r.status, await r.read()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _classify(info.name, where, user, op, exc) from exc
    if status in (401, 403):
        raise OnvifAuthError(f"camera {info.name!r} ({where}) rejected the credentials of user {user!r} "
                             f"for the snapshot (HTTP {status})", camera=info.name, operation=op)
    if status != 200:
        raise OnvifProtocolError(f"camera {info.name!r}: snapshot GET answered HTTP {status}",
                                 camera=info.name, operation=op)
    if not body.startswith(b"\xff\xd8"):
        raise OnvifProtocolError(f"camera {info.name!r}: snapshot is not a JPEG ({body[:8]!r}...)",
                                 camera=info.name, operation=op)
    return body


# ------------------------------------------------------------------------------------------------- PTZ


@contextlib.asynccontextmanager
async def _ptz(
    info: CameraInfo, user: str, password: str, timeout_s: float
) -> AsyncIterator[tuple[_Session, Any, str]]:
    """Yield (session, ptz service, profile token) built from what onboarding learned (no discovery calls)."""
    async with _session(info.name, info.host, info.port, user, password, timeout_s) as s:
        if not info.ptz or NS_PTZ not in info.xaddrs:
            raise OnvifProtocolError(f"camera {info.name!r} has no PTZ", camera=info.name, operation="PTZ")
        s.cam.xaddrs = dict(info.xaddrs)
        if info.clock_offset_s is not None:
            s.cam.dt_diff = dt.timedelta(seconds=info.clock_offset_s)
        service = await s.call("connect ptz", s.cam.create_ptz_service)
        yield s, service, info.ptz_profile_token or info.main.token


def _unit(v: float) -> float:
    return max(-1.0, min(1.0, float(v)))


async def continuous_move(
    info: CameraInfo, user: str, password: str, pan: float, tilt: float, zoom: float = 0.0,
    *, timeout_s: float = PTZ_TIMEOUT_S,
) -> None:
    """Start moving at normalized velocities in [-1, 1] until `stop`."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        velocity = {"PanTilt": {"x": _unit(pan), "y": _unit(tilt)}, "Zoom": {"x": _unit(zoom)}}
        await s.call("ContinuousMove", lambda: ptz.ContinuousMove({"ProfileToken": token, "Velocity": velocity}))


async def stop(info: CameraInfo, user: str, password: str, *, timeout_s: float = PTZ_TIMEOUT_S) -> None:
    """Stop any pan/tilt/zoom movement."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        await s.call("Stop", lambda: ptz.Stop({"ProfileToken": token, "PanTilt": True, "Zoom": True}))


async def set_preset(
    info: CameraInfo, user: str, password: str, name: str | None = None, *, timeout_s: float = PTZ_TIMEOUT_S
) -> str:
    """Store the current position as a preset; return its token."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        req: dict[str, Any] = {"ProfileToken": token}
        if name:
            req["PresetName"] = name
        reply = await s.call("SetPreset", lambda: ptz.SetPreset(req))
        preset = reply if isinstance(reply, str) else getattr(reply, "PresetToken", None)
        if not preset:
            raise OnvifProtocolError(f"camera {info.name!r}: SetPreset returned no token", camera=info.name,
                                     operation="SetPreset")
        return str(preset)


async def goto_preset(
    info: CameraInfo, user: str, password: str, preset_token: str, *, timeout_s: float = PTZ_TIMEOUT_S
) -> None:
    """Move to a stored preset."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        await s.call("GotoPreset", lambda: ptz.GotoPreset({"ProfileToken": token, "PresetToken": preset_token}))


async def remove_preset(
    info: CameraInfo, user: str, password: str, preset_token: str, *, timeout_s: float = PTZ_TIMEOUT_S
) -> None:
    """Delete a stored preset from the camera."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        await s.call("RemovePreset", lambda: ptz.RemovePreset({"ProfileToken": token, "PresetToken": preset_token}))


async def get_presets(
    info: CameraInfo, user: str, password: str, *, timeout_s: float = PTZ_TIMEOUT_S
) -> dict[str, str]:
    """Return the camera's presets as token -> name."""
    async with _ptz(info, user, password, timeout_s) as (s, ptz, token):
        presets = await s.call("GetPresets", lambda: ptz.GetPresets({"ProfileToken": token}))
        return {str(p.token): str(getattr(p, "Name", None) or p.token) for p in presets or []}


# ------------------------------------------------------------------------------------------- discovery

_NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_NS_DN = "http://www.onvif.org/ver10/network/wsdl"


def _probe_message(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_NS_SOAP12}" xmlns:a="{_NS_WSA}" xmlns:d="{_NS_WSD}" xmlns:dn="{_NS_DN}">'
        "<s:Header>"
        f"<a:Action>{_NS_WSD}/Probe</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def _scope_value(scopes: list[str], kind: str) -> str | None:
    prefix = f"onvif://www.onvif.org/{kind}/"
    return next((unquote(sc[len(prefix):]) for sc in scopes if sc.startswith(prefix)), None)


def _parse_probe_matches(data: bytes, message_id: str, responder: str) -> list[DiscoveredDevice]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    relates_to = root.findtext(f"{{{_NS_SOAP12}}}Header/{{{_NS_WSA}}}RelatesTo")
    if relates_to is not None and relates_to.strip() != message_id:
        return []
    out = []
    for match in root.iterfind(f"{{{_NS_SOAP12}}}Body/{{{_NS_WSD}}}ProbeMatches/{{{_NS_WSD}}}ProbeMatch"):
        endpoint = (match.findtext(f"{{{_NS_WSA}}}EndpointReference/{{{_NS_WSA}}}Address") or "").strip()
        xaddrs = (match.findtext(f"{{{_NS_WSD}}}XAddrs") or "").split()
        scopes = (match.findtext(f"{{{_NS_WSD}}}Scopes") or "").split()
        types = (match.findtext(f"{{{_NS_WSD}}}Types") or "").split()
        host: str | None = None
        port: int | None = None
        for xaddr in xaddrs:
            parts = urlsplit(xaddr)
            if parts.scheme in ("http", "https") and parts.hostname:
                host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
                break
        out.append(DiscoveredDevice(
            endpoint=endpoint or (xaddrs[0] if xaddrs else responder),
            xaddrs=tuple(xaddrs), types=tuple(types), scopes=tuple(scopes),
            name=_scope_value(scopes, "name"), hardware=_scope_value(scopes, "hardware"),
            host=host, port=port, responder=responder,
        ))
    return out


class _ProbeCollector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.found: dict[str, DiscoveredDevice] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        for device in _parse_probe_matches(data, self.message_id, f"{addr[0]!s}:{addr[1]}"):
            self.found.setdefault(device.endpoint, device)


async def discover(
    timeout_s: float = DISCOVERY_TIMEOUT_S, target: tuple[str, int] | None = None
) -> list[DiscoveredDevice]:
    """Send a WS-Discovery Probe (multicast, or unicast to `target`) and return the devices that answered."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    collector = _ProbeCollector(message_id)
    dest = target or DISCOVERY_MULTICAST
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setblocking(False)
    if target is None:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, DISCOVERY_MULTICAST_TTL)
    sock.bind(("0.0.0.0", 0))
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: collector, sock=sock)
    try:
        probe = _probe_message(message_id)
        for i in range(2):
            try:
                transport.sendto(probe, dest)
            except OSError as exc:
                log.debug("WS-Discovery probe to %s:%d failed: %s", dest[0], dest[1], exc)
            if i == 0:
                await asyncio.sleep(min(DISCOVERY_REPEAT_GAP_S, timeout_s))
        await asyncio.sleep(max(0.0, timeout_s - DISCOVERY_REPEAT_GAP_S))
    finally:
        transport.close()
    return sorted(collector.found.values(), key=lambda d: (d.host or "", d.port or 0, d.endpoint))
