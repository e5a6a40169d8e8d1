"""A small simulated ONVIF device (SOAP 1.2 over aiohttp) with switchable real-world quirks.

It answers the operations our onboarding and PTZ code use: device management (GetSystemDateAndTime,
GetServices, GetCapabilities, GetDeviceInformation), media (GetProfiles, GetStreamUri, GetSnapshotUri) and
PTZ (ContinuousMove, Stop, GotoPreset, SetPreset, RemovePreset, GetPresets, GetStatus; preset faults as the
ONVIF PTZ specification names them: ter:NoToken, ter:PresetExist, ter:TooManyPresets, ter:InvalidPresetName,
ter:MovingPTZ), plus an HTTP snapshot endpoint
guarded by HTTP Digest or Basic auth. Every SOAP call except GetSystemDateAndTime must carry a valid
WS-Security UsernameToken whose Created time is within `CLOCK_TOLERANCE_S` of the device's own clock.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import itertools
import logging
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------- namespaces

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
NS_TER = "http://www.onvif.org/ver10/error"
PASSWORD_DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)

# -------------------------------------------------------------------------------------------- limits

CLOCK_TOLERANCE_S = 60.0  # largest |Created - device clock| a UsernameToken may show
PTZ_FULL_SPEED_PER_S = 1.0  # normalized position units per second at velocity 1.0
PTZ_LIMIT = 1.0  # pan/tilt positions are clamped to [-1, 1], zoom to [0, 1]
SNAPSHOT_WIDTH_PX = 160
SNAPSHOT_HEIGHT_PX = 90
SNAPSHOT_GRAY_LEVEL = 128  # 0..255
MAX_PRESET_NAME_CHARS = 64  # longer names are refused with ter:InvalidPresetName
DIGEST_REALM = "SimCamera"

SOAP_CONTENT_TYPE = "application/soap+xml"
DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
PTZ_PATH = "/onvif/ptz_service"
SNAPSHOT_PATH = "/onvif/snapshot"


# ------------------------------------------------------------------------------------------------ spec


@dataclass(frozen=True)
class SimCameraSpec:
    """What a simulated camera is and which quirks it has."""

    name: str
    host: str = "127.0.0.1"
    port: int = 0  # ONVIF HTTP port; 0 = any free port
    rtsp_host: str = "127.0.0.1"
    rtsp_port: int = 8554
    main_path: str = "/main"
    sub_path: str | None = "/sub"  # None: the camera has a single stream
    user: str = "admin"
    password: str = "secret"
    manufacturer: str = "SimCam"
    model: str = "SC-1080"
    firmware: str = "1.2.3"
    serial: str = "SIM0001"
    hardware_id: str = "SC-HW-1"
    main_resolution: tuple[int, int] = (1920, 1080)
    sub_resolution: tuple[int, int] = (640, 360)
    main_fps: int = 25
    sub_fps: int = 10
    ptz: bool = True
    max_presets: int = 16  # SetPreset beyond this faults with ter:TooManyPresets
    # --- quirks
    xaddr_host: str | None = None  # "host:port" reported in XAddrs and the snapshot URI instead of the real one
    clock_offset_s: float = 0.0  # device clock minus real time
    no_get_services: bool = False  # GetServices faults: clients must fall back to GetCapabilities
    snapshot_auth: Literal["digest", "basic"] = "digest"  # the only HTTP auth the snapshot accepts
    time_needs_auth: bool = False  # GetSystemDateAndTime wrongly demands a UsernameToken
    bad_credentials_always: bool = False  # every authenticated call fails (locked account / broken firmware)
    credentials_in_stream_uri: bool = False  # GetStreamUri embeds user:password@ in the RTSP URL


@dataclass
class Preset:
    """A stored PTZ position."""

    token: str
    name: str
    pan: float
    tilt: float
    zoom: float


@dataclass
class PtzState:
    """The simulated PTZ head: a position that integrates the current velocity over time."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    moving_since: float | None = None  # monotonic seconds
    presets: dict[str, Preset] = field(default_factory=dict)
    moves: int = 0  # ContinuousMove calls
    stops: int = 0  # Stop calls
    _preset_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def position(self, now: float | None = None) -> tuple[float, float, float]:
        """Return (pan, tilt, zoom) now, integrating any ongoing move."""
        if self.moving_since is None:
            return self.pan, self.tilt, self.zoom
        elapsed_s = (time.monotonic() if now is None else now) - self.moving_since
        vp, vt, vz = self.velocity
        step = PTZ_FULL_SPEED_PER_S * elapsed_s
        return (
            _clamp(self.pan + vp * step, -PTZ_LIMIT, PTZ_LIMIT),
            _clamp(self.tilt + vt * step, -PTZ_LIMIT, PTZ_LIMIT),
            _clamp(self.zoom + vz * step, 0.0, PTZ_LIMIT),
        )

    @property
    def moving(self) -> bool:
        """Tell whether a continuous move is in progress."""
        return self.moving_since is not None and any(v != 0.0 for v in self.velocity)

    def _settle(self) -> None:
        now = time.monotonic()
        self.pan, self.tilt, self.zoom = self.position(now)
        self.moving_since = now if self.moving_since is not None else None

    def start_move(self, pan: float, tilt: float, zoom: float) -> None:
        """Start moving at the given normalized velocities."""
        self._settle()
        self.velocity = (pan, tilt, zoom)
        self.moving_since = time.monotonic()
        self.moves += 1

    def stop(self) -> None:
        """Stop any move, keeping the position reached."""
        self._settle()
        self.velocity = (0.0, 0.0, 0.0)
        self.moving_since = None
        self.stops += 1

    def set_preset(self, name: str | None, token: str | None, max_presets: int) -> str:
        """Store the current position as a new preset (no token) or over an existing one; return its token.

        Raises the SOAP faults a real camera sends: unknown token, a name another preset has, an invalid
        name, a full preset table, or a head still moving.
        """
        if token is not None and token not in self.presets:
            raise SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:NoToken"), f"No such preset: {token}")
        if name is not None and (not name.strip() or len(name) > MAX_PRESET_NAME_CHARS):
            raise SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:InvalidPresetName"), "Invalid preset name")
        if name is not None and any(p.name == name and p.token != token for p in self.presets.values()):
            raise SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:PresetExist"), f"Preset {name} exists")
        if token is None and len(self.presets) >= max_presets:
            raise SoapFault("env:Receiver", ("ter:Action", "ter:TooManyPresets"), "Maximum number of presets", 500)
        if self.moving:
            raise SoapFault("env:Receiver", ("ter:Action", "ter:MovingPTZ"), "PTZ is moving", 500)
        self._settle()
        token = token or f"preset_{next(self._preset_ids)}"
        old = self.presets.get(token)
        self.presets[token] = Preset(token, name or (old.name if old else token), self.pan, self.tilt, self.zoom)
        return token

    def remove_preset(self, token: str) -> None:
        """Delete a stored preset (ter:NoToken if unknown)."""
        if self.presets.pop(token, None) is None:
            raise SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:NoToken"), f"No such preset: {token}")

    def goto_preset(self, token: str) -> bool:
        """Jump to a stored preset; return False if unknown."""
        preset = self.presets.get(token)
        if preset is None:
            return False
        self.velocity = (0.0, 0.0, 0.0)
        self.moving_since = None
        self.pan, self.tilt, self.zoom = preset.pan, preset.tilt, preset.zoom
        return True


@dataclass
class SimCameraState:
    """Mutable state of one simulated camera that tests can inspect."""

    spec: SimCameraSpec
    ptz: PtzState = field(default_factory=PtzState)
    calls: list[str] = field(default_factory=list)  # SOAP operations answered (or refused), in order
    auth_failures: list[str] = field(default_factory=list)  # operations refused for bad credentials
    snapshots_served: int = 0
    digest_nonces: set[str] = field(default_factory=set)

    def device_now(self) -> dt.datetime:
        """Return the device's (possibly skewed) clock."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.spec.clock_offset_s)


ONVIF_STATE = web.AppKey("onvif_state", SimCameraState)
_SNAPSHOT_JPEG = web.AppKey("onvif_snapshot_jpeg", bytes)


def _clamp(v: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, v))


# ------------------------------------------------------------------------------------------ SOAP I/O


class SoapFault(Exception):
    """A SOAP 1.2 Fault to send back."""

    def __init__(self, code: str, subcode: str | tuple[str, ...], reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.status = status


def _not_authorized() -> SoapFault:
    return SoapFault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")


def _envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{NS_SOAP12}" xmlns:tt="{NS_TT}" xmlns:tds="{NS_TDS}" xmlns:trt="{NS_TRT}"'
        f' xmlns:tptz="{NS_TPTZ}" xmlns:ter="{NS_TER}"><env:Body>{body}</env:Body></env:Envelope>'
    )


def _soap_response(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=_envelope(body), content_type=SOAP_CONTENT_TYPE, charset="utf-8"
    )


def _fault_response(fault: SoapFault) -> web.Response:
    subcodes = (fault.subcode,) if isinstance(fault.subcode, str) else fault.subcode
    nested = "".join(f"<env:Subcode><env:Value>{c}</env:Value>" for c in subcodes) + "</env:Subcode>" * len(subcodes)
    body = (
        "<env:Fault><env:Code>"
        f"<env:Value>{fault.code}</env:Value>{nested}"
        f'</env:Code><env:Reason><env:Text xml:lang="en">{escape(fault.reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )
    return _soap_response(body, status=fault.status)


def _e(tag: str, text: object) -> str:
    value = str(text).lower() if isinstance(text, bool) else str(text)
    return f"<{tag}>{escape(value)}</{tag}>"


def _find_text(elem: ET.Element, path: str) -> str | None:
    found = elem.find(path, {"wsse": NS_WSSE, "wsu": NS_WSU, "tt": NS_TT, "tptz": NS_TPTZ, "trt": NS_TRT})
    return found.text.strip() if found is not None and found.text is not None else None


def _parse_created(text: str) -> dt.datetime:
    created = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


def _check_auth(state: SimCameraState, header: ET.Element | None) -> None:
    """Raise NotAuthorized unless the header carries a valid, fresh UsernameToken."""
    token = header.find(f".//{{{NS_WSSE}}}UsernameToken") if header is not None else None
    if token is None:
        raise _not_authorized()
    spec = state.spec
    user = _find_text(token, "wsse:Username")
    password_el = token.find(f"{{{NS_WSSE}}}Password")
    if user != spec.user or password_el is None or spec.bad_credentials_always:
        raise _not_authorized()
    supplied = (password_el.text or "").strip()
    if password_el.get("Type", PASSWORD_DIGEST_TYPE).endswith("#PasswordText"):
        if not hmac.compare_digest(supplied, spec.password):
            raise _not_authorized()
        return
    nonce_b64 = _find_text(token, "wsse:Nonce")
    created_text = _find_text(token, "wsu:Created")
    if nonce_b64 is None or created_text is None:
        raise _not_authorized()
    try:
        nonce = base64.b64decode(nonce_b64, validate=True)
        created = _parse_created(created_text)
    except (binascii.Error, ValueError):
        raise _not_authorized() from None
    expected = base64.b64encode(
        hashlib.sha1(nonce + created_text.encode() + spec.password.encode()).digest()
    ).decode()
    if not hmac.compare_digest(supplied, expected):
        raise _not_authorized()
    skew_s = abs((created - state.device_now()).total_seconds())
    if skew_s > CLOCK_TOLERANCE_S:
        log.debug("%s: UsernameToken Created is %.0f s off the device clock", spec.name, skew_s)
        raise _not_authorized()


# ------------------------------------------------------------------------------------------ handlers


def _base_address(request: web.Request, spec: SimCameraSpec) -> str:
    if spec.xaddr_host:
        return f"http://{spec.xaddr_host}"
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if sockname:
        return f"http://{sockname[0]}:{sockname[1]}"
    return f"http://{request.host}"


def _profiles(spec: SimCameraSpec) -> list[tuple[str, str, tuple[int, int], int]]:
    """Return (token, name, resolution, fps) of each media profile."""
    out = [("main", "MainStream", spec.main_resolution, spec.main_fps)]
    if spec.sub_path is not None:
        out.append(("sub", "SubStream", spec.sub_resolution, spec.sub_fps))
    return out


def _profile_xml(spec: SimCameraSpec, token: str, name: str, res: tuple[int, int], fps: int) -> str:
    w, h = res
    mw, mh = spec.main_resolution
    ptz = ""
    if spec.ptz:
        ptz = (
            '<tt:PTZConfiguration token="ptz0">'
            + _e("tt:Name", "PTZ")
            + _e("tt:UseCount", 2)
            + _e("tt:NodeToken", "ptznode0")
            + _e("tt:DefaultContinuousPanTiltVelocitySpace",
                 "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace")
            + _e("tt:DefaultContinuousZoomVelocitySpace",
                 "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace")
            + _e("tt:DefaultPTZTimeout", "PT10S")
            + "</tt:PTZConfiguration>"
        )
    return (
        f'<trt:Profiles token={quoteattr(token)} fixed="true">'
        + _e("tt:Name", name)
        + '<tt:VideoSourceConfiguration token="vsc0">'
        + _e("tt:Name", "VideoSource")
        + _e("tt:UseCount", 2)
        + _e("tt:SourceToken", "vs0")
        + f'<tt:Bounds x="0" y="0" width="{mw}" height="{mh}"/>'
        + "</tt:VideoSourceConfiguration>"
        + f'<tt:VideoEncoderConfiguration token="vec_{escape(token)}">'
        + _e("tt:Name", f"{name}Encoder")
        + _e("tt:UseCount", 1)
        + _e("tt:Encoding", "H264")
        + f"<tt:Resolution>{_e('tt:Width', w)}{_e('tt:Height', h)}</tt:Resolution>"
        + _e("tt:Quality", "4.0")
        + "<tt:RateControl>"
        + _e("tt:FrameRateLimit", fps)
        + _e("tt:EncodingInterval", 1)
        + _e("tt:BitrateLimit", max(256, w * h * fps // 8000))
        + "</tt:RateControl>"
        + f"<tt:H264>{_e('tt:GovLength', fps * 2)}{_e('tt:H264Profile', 'Main')}</tt:H264>"
        + "<tt:Multicast><tt:Address>"
        + _e("tt:Type", "IPv4")
        + _e("tt:IPv4Address", "0.0.0.0")
        + "</tt:Address>"
        + _e("tt:Port", 0)
        + _e("tt:TTL", 1)
        + _e("tt:AutoStart", False)
        + "</tt:Multicast>"
        + _e("tt:SessionTimeout", "PT60S")
        + "</tt:VideoEncoderConfiguration>"
        + ptz
        + "</trt:Profiles>"
    )


def _media_uri(uri: str) -> str:
    return (
        "<trt:MediaUri>"
        + _e("tt:Uri", uri)
        + _e("tt:InvalidAfterConnect", False)
        + _e("tt:InvalidAfterReboot", False)
        + _e("tt:Timeout", "PT0S")
        + "</trt:MediaUri>"
    )


def _profile_token(state: SimCameraState, op: ET.Element, ns: str) -> str:
    token = _find_text(op, f"{{{ns}}}ProfileToken")
    if token not in {t for t, *_ in _profiles(state.spec)}:
        raise SoapFault("env:Sender", "ter:InvalidArgVal", f"No such profile: {token}")
    return token or ""


def _vector(op: ET.Element, path: str) -> tuple[float, float, float]:
    """Read PanTilt x/y and Zoom x under `path` (missing parts are 0)."""
    base = op.find(path, {"tptz": NS_TPTZ})
    if base is None:
        return 0.0, 0.0, 0.0
    pan_tilt = base.find(f"{{{NS_TT}}}PanTilt")
    zoom = base.find(f"{{{NS_TT}}}Zoom")
    try:
        return (
            float(pan_tilt.get("x", "0")) if pan_tilt is not None else 0.0,
            float(pan_tilt.get("y", "0")) if pan_tilt is not None else 0.0,
            float(zoom.get("x", "0")) if zoom is not None else 0.0,
        )
    except ValueError:
        raise SoapFault("env:Sender", "ter:InvalidArgVal", "Bad PTZ vector") from None


def _device_op(request: web.Request, state: SimCameraState, name: str, op: ET.Element) -> str:
    spec = state.spec
    base = _base_address(request, spec)
    if name == "GetSystemDateAndTime":
        now = state.device_now()
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            + _e("tt:DateTimeType", "NTP")
            + _e("tt:DaylightSavings", False)
            + "<tt:TimeZone>" + _e("tt:TZ", "UTC0") + "</tt:TimeZone>"
            + "<tt:UTCDateTime><tt:Time>"
            + _e("tt:Hour", now.hour) + _e("tt:Minute", now.minute) + _e("tt:Second", now.second)
            + "</tt:Time><tt:Date>"
            + _e("tt:Year", now.year) + _e("tt:Month", now.month) + _e("tt:Day", now.day)
            + "</tt:Date></tt:UTCDateTime>"
            + "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
    if name == "GetServices":
        if spec.no_get_services:
            raise SoapFault("env:Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented", 500)
        services = [(NS_TDS, DEVICE_PATH, 2, 40), (NS_TRT, MEDIA_PATH, 2, 40)]
        if spec.ptz:
            services.append((NS_TPTZ, PTZ_PATH, 2, 40))
        return (
            "<tds:GetServicesResponse>"
            + "".join(
                "<tds:Service>"
                + _e("tds:Namespace", ns)
                + _e("tds:XAddr", base + path)
                + f"<tds:Version>{_e('tt:Major', major)}{_e('tt:Minor', minor)}</tds:Version>"
                + "</tds:Service>"
                for ns, path, major, minor in services
            )
            + "</tds:GetServicesResponse>"
        )
    if name == "GetCapabilities":
        ptz = f"<tt:PTZ>{_e('tt:XAddr', base + PTZ_PATH)}</tt:PTZ>" if spec.ptz else ""
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            + f"<tt:Device>{_e('tt:XAddr', base + DEVICE_PATH)}</tt:Device>"
            + "<tt:Media>"
            + _e("tt:XAddr", base + MEDIA_PATH)
            + "<tt:StreamingCapabilities>"
            + _e("tt:RTPMulticast", False) + _e("tt:RTP_TCP", True) + _e("tt:RTP_RTSP_TCP", True)
            + "</tt:StreamingCapabilities></tt:Media>"
            + ptz
            + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )
    if name == "GetDeviceInformation":
        return (
            "<tds:GetDeviceInformationResponse>"
            + _e("tds:Manufacturer", spec.manufacturer)
            + _e("tds:Model", spec.model)
            + _e("tds:FirmwareVersion", spec.firmware)
            + _e("tds:SerialNumber", spec.serial)
            + _e("tds:HardwareId", spec.hardware_id)
            + "</tds:GetDeviceInformationResponse>"
        )
    raise SoapFault("env:Receiver", "ter:ActionNotSupported", f"Action {name} not supported", 500)


def _media_op(request: web.Request, state: SimCameraState, name: str, op: ET.Element) -> str:
    spec = state.spec
    if name == "GetProfiles":
        body = "".join(_profile_xml(spec, *p) for p in _profiles(spec))
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"
    if name == "GetStreamUri":
        token = _profile_token(state, op, NS_TRT)
        path = spec.main_path if token == "main" else spec.sub_path
        userinfo = f"{spec.user}:{spec.password}@" if spec.credentials_in_stream_uri else ""
        uri = f"rtsp://{userinfo}{spec.rtsp_host}:{spec.rtsp_port}{path}"
        return f"<trt:GetStreamUriResponse>{_media_uri(uri)}</trt:GetStreamUriResponse>"
    if name == "GetSnapshotUri":
        token = _profile_token(state, op, NS_TRT)
        uri = f"{_base_address(request, spec)}{SNAPSHOT_PATH}?profile={token}"
        return f"<trt:GetSnapshotUriResponse>{_media_uri(uri)}</trt:GetSnapshotUriResponse>"
    raise SoapFault("env:Receiver", "ter:ActionNotSupported", f"Action {name} not supported", 500)


def _preset_xml(p: Preset) -> str:
    return (
        f"<tptz:Preset token={quoteattr(p.token)}>"
        + _e("tt:Name", p.name)
        + f'<tt:PTZPosition><tt:PanTilt x="{p.pan}" y="{p.tilt}"/><tt:Zoom x="{p.zoom}"/></tt:PTZPosition>'
        + "</tptz:Preset>"
    )


def _ptz_op(request: web.Request, state: SimCameraState, name: str, op: ET.Element) -> str:
    if not state.spec.ptz:
        raise SoapFault("env:Receiver", "ter:ActionNotSupported", "PTZ is not supported", 500)
    ptz = state.ptz
    if name == "GetPresets":
        _profile_token(state, op, NS_TPTZ)
        presets = "".join(_preset_xml(p) for p in ptz.presets.values())
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"
    if name == "ContinuousMove":
        _profile_token(state, op, NS_TPTZ)
        ptz.start_move(*_vector(op, "tptz:Velocity"))
        return "<tptz:ContinuousMoveResponse/>"
    if name == "Stop":
        _profile_token(state, op, NS_TPTZ)
        ptz.stop()
        return "<tptz:StopResponse/>"
    if name == "SetPreset":
        _profile_token(state, op, NS_TPTZ)
        token = ptz.set_preset(_find_text(op, "tptz:PresetName"), _find_text(op, "tptz:PresetToken"),
                               state.spec.max_presets)
        return f"<tptz:SetPresetResponse>{_e('tptz:PresetToken', token)}</tptz:SetPresetResponse>"
    if name == "RemovePreset":
        _profile_token(state, op, NS_TPTZ)
        ptz.remove_preset(_find_text(op, "tptz:PresetToken") or "")
        return "<tptz:RemovePresetResponse/>"
    if name == "GotoPreset":
        _profile_token(state, op, NS_TPTZ)
        preset = _find_text(op, "tptz:PresetToken") or ""
        if not ptz.goto_preset(preset):
            raise SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:NoToken"), f"No such preset: {preset}")
        return "<tptz:GotoPresetResponse/>"
    if name == "GetStatus":
        _profile_token(state, op, NS_TPTZ)
        pan, tilt, zoom = ptz.position()
        status = "MOVING" if ptz.moving else "IDLE"
        utc = state.device_now().strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus>"
            + f'<tt:Position><tt:PanTilt x="{pan}" y="{tilt}"/><tt:Zoom x="{zoom}"/></tt:Position>'
            + f"<tt:MoveStatus>{_e('tt:PanTilt', status)}{_e('tt:Zoom', status)}</tt:MoveStatus>"
            + _e("tt:UtcTime", utc)
            + "</tptz:PTZStatus></tptz:GetStatusResponse>"
        )
    raise SoapFault("env:Receiver", "ter:ActionNotSupported", f"Action {name} not supported", 500)


_DISPATCH = {NS_TDS: _device_op, NS_TRT: _media_op, NS_TPTZ: _ptz_op}


async def _soap_handler(request: web.Request) -> web.Response:
    state = request.app[ONVIF_STATE]
    try:
        root = ET.fromstring(await request.read())
    except ET.ParseError:
        return _fault_response(SoapFault("env:Sender", "ter:WellFormed", "Malformed XML"))
    body = root.find(f"{{{NS_SOAP12}}}Body")
    if root.tag != f"{{{NS_SOAP12}}}Envelope" or body is None or len(body) == 0:
        return _fault_response(SoapFault("env:VersionMismatch", "ter:WrongSOAPVersion", "Expected SOAP 1.2"))
    op = body[0]
    ns, _, name = op.tag[1:].partition("}")
    state.calls.append(name)
    try:
        handler = _DISPATCH.get(ns)
        if handler is None:
            raise SoapFault("env:Receiver", "ter:ActionNotSupported", f"Unknown service {ns}", 500)
        if name != "GetSystemDateAndTime" or state.spec.time_needs_auth:
            try:
                _check_auth(state, root.find(f"{{{NS_SOAP12}}}Header"))
            except SoapFault:
                state.auth_failures.append(name)
                raise
        return _soap_response(handler(request, state, name, op))
    except SoapFault as fault:
        return _fault_response(fault)


# ------------------------------------------------------------------------------------------- snapshot


def make_gray_jpeg(width: int = SNAPSHOT_WIDTH_PX, height: int = SNAPSHOT_HEIGHT_PX) -> bytes:
    """Encode a uniform gray frame as a JPEG."""
    import cv2
    import numpy as np

    frame = np.full((height, width, 3), SNAPSHOT_GRAY_LEVEL, dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", frame)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


def _digest_ok(state: SimCameraState, request: web.Request, header: str) -> bool:
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _AUTH_PARAM.finditer(header)}
    spec = state.spec
    nonce, uri, response = params.get("nonce"), params.get("uri"), params.get("response")
    if params.get("username") != spec.user or nonce not in state.digest_nonces or not uri or not response:
        return False
    if uri != request.path_qs:
        return False

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"{spec.user}:{DIGEST_REALM}:{spec.password}")
    ha2 = md5(f"{request.method}:{uri}")
    if params.get("qop"):
        expected = md5(f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:{params['qop']}:{ha2}")
    else:
        expected = md5(f"{ha1}:{nonce}:{ha2}")
    return hmac.compare_digest(expected, response)


def _basic_ok(state: SimCameraState, header: str) -> bool:
    try:
        user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
    except (IndexError, ValueError):
        return False
    return hmac.compare_digest(user, state.spec.user) and hmac.compare_digest(password, state.spec.password)


async def _snapshot_handler(request: web.Request) -> web.Response:
    state = request.app[ONVIF_STATE]
    spec = state.spec
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if spec.snapshot_auth == "digest":
        ok = scheme == "digest" and _digest_ok(state, request, header)
        nonce = secrets.token_hex(16)
        state.digest_nonces.add(nonce)
        challenge = f'Digest realm="{DIGEST_REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
    else:
        ok = scheme == "basic" and _basic_ok(state, header)
        challenge = f'Basic realm="{DIGEST_REALM}"'
    if not ok or spec.bad_credentials_always:
        return web.Response(status=401, headers={"WWW-Authenticate": challenge}, text="Unauthorized")
    state.snapshots_served += 1
    return web.Response(body=request.app[_SNAPSHOT_JPEG], content_type="image/jpeg")


# ------------------------------------------------------------------------------------------------ app


def create_onvif_app(camera: SimCameraSpec) -> web.Application:
    """Build the aiohttp app of one simulated ONVIF camera (state under `ONVIF_STATE`)."""
    app = web.Application()
    app[ONVIF_STATE] = SimCameraState(camera)
    app[_SNAPSHOT_JPEG] = make_gray_jpeg()
    app.router.add_post("/onvif/{service}", _soap_handler)
    app.router.add_get(SNAPSHOT_PATH, _snapshot_handler)
    return app


class SimOnvifCamera:
    """Run a simulated camera on a real TCP port (`async with SimOnvifCamera(spec) as cam`)."""

    def __init__(self, spec: SimCameraSpec) -> None:
        self.spec = spec
        self.app = create_onvif_app(spec)
        self._runner: web.AppRunner | None = None
        self.port = spec.port

    @property
    def state(self) -> SimCameraState:
        """Return the camera's inspectable state."""
        return self.app[ONVIF_STATE]

    @property
    def device_url(self) -> str:
        """Return the device-management service URL."""
        return f"http://{self.spec.host}:{self.port}{DEVICE_PATH}"

    async def start(self) -> None:
        """Bind the HTTP server and learn the port it got."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.spec.host, self.spec.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimOnvifCamera:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
