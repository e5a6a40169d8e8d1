"""The server's configuration: strict pydantic models, loaded from YAML with every problem reported by path.

Design (after Frigate's config): every model forbids unknown keys, so a typo is an error, and every field
has bounds, a default and a description. Global ``recording`` and ``motion`` settings are merged into each
camera once, at load. Secrets (camera passwords, the token signing key) are ``SecretStr`` and may come from
the environment with ``${VAR}`` or ``${VAR:-default}``; they are never printed or returned by the API.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, overload
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_M = TypeVar("_M", bound=BaseModel)
# HS256 keys shorter than the hash output weaken the signature (RFC 7518 §3.2).
MIN_TOKEN_SECRET_CHARS = 32

# Ids appear in URLs, file names and log lines: keep them to a safe, readable alphabet.
IDENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Ident = Annotated[str, StringConstraints(pattern=IDENT_PATTERN)]
_IDENT_RE = re.compile(IDENT_PATTERN)
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Deliberately simple (the mail server is the real judge): one '@', and no spaces, line breaks, commas or angle
# brackets, which would let an address smuggle in a header or a second recipient. RFC 5321 caps a path at 254.
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s,<>]+@[^@\s,<>]+$", max_length=254)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------------------------- server


class TlsConfig(_Strict):
    mode: Literal["off", "files", "self_signed"] = Field(
        "off",
        description="off: plain HTTP (fine on localhost); files: use cert_file/key_file; "
        "self_signed: generate a certificate into the data dir on first run.",
    )
    cert_file: Path | None = Field(None, description="PEM certificate chain (mode=files).")
    key_file: Path | None = Field(None, description="PEM private key (mode=files).")
    self_signed_hostnames: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1"],
        min_length=1,
        max_length=32,
        description="Names and addresses the self-signed certificate is valid for.",
    )


class IceServerConfig(_Strict):
    urls: list[Annotated[str, StringConstraints(pattern=r"^(stun|stuns|turn|turns):")]] = Field(
        ..., min_length=1, description="stun:/turn: URLs of one ICE server."
    )
    username: str | None = Field(None, max_length=256, description="Static TURN username (prefer shared_secret).")
    credential: SecretStr | None = Field(
        None, description="Static TURN credential (use ${ENV_VAR}); given as-is to every site's browser."
    )
    shared_secret: SecretStr | None = Field(
        None,
        description="TURN REST API secret (coturn's use-auth-secret / static-auth-secret; use ${ENV_VAR}): each "
        "join gets its own username '<expiry unix time>:<site id>' and credential base64(HMAC-SHA1(secret, "
        "username)); excludes username/credential.",
    )
    credential_ttl_s: int = Field(
        86400, ge=60, le=7 * 86400,
        description="Lifetime of a generated TURN credential; longer than the longest meeting (TURN servers "
        "check it when an allocation is refreshed, too).",
    )
    use_on_server: bool = Field(
        True,
        description="Also used by the server's own peer connections (aiortc uses the first STUN and the first "
        "TURN URL). Set false for a TURN server only the browsers need (the server has a reachable address).",
    )


_ORIGIN = Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+$", max_length=200)]


class SecurityConfig(_Strict):
    """Browser-facing hardening (mediaserver/security.py)."""

    frame_ancestors: list[_ORIGIN] = Field(
        default_factory=list, max_length=16,
        description="Origins (https://portal.example.gov.vn) allowed to embed the embeddable pages in a frame; "
        "empty: no page may be framed by any site.",
    )
    embeddable_paths: list[Annotated[str, StringConstraints(pattern=r"^/", max_length=200)]] = Field(
        default_factory=lambda: ["/meetings/", "/meeting-player/"], max_length=16,
        description="Path prefixes frame_ancestors may embed (the meeting player by default); every other page "
        "refuses to be framed.",
    )
    allowed_origins: list[_ORIGIN] = Field(
        default_factory=list, max_length=16,
        description="Extra origins whose pages may open the signalling WebSocket, beside this server's own "
        "address and public_url's.",
    )


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", min_length=1, description="Address the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP(S) port; 0 picks a free port.")
    public_url: str | None = Field(
        None, pattern=r"^https?://", description="URL sites use to reach the server (links, join URLs)."
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="HTTPS settings.")
    security: SecurityConfig = Field(default_factory=SecurityConfig, description="Security headers and origins.")
    ice_servers: list[IceServerConfig] = Field(
        default_factory=list, max_length=16,
        description="STUN/TURN servers offered to browsers in each site's welcome (and used by the server's own "
        "peer connections unless use_on_server is false).",
    )
    rtp_port_min: int = Field(
        40000, ge=1024, le=65535,
        description="Lowest UDP port for media, for firewall planning: WebRTC (every ICE socket: host candidates "
        "and TURN client sockets, see mediaserver/ice.py) and camera RTP over UDP (streams.transport: udp) bind "
        "within rtp_port_min–rtp_port_max. A WebRTC peer takes one port per advertised address.",
    )
    rtp_port_max: int = Field(40999, ge=1024, le=65535, description="Highest UDP port for media (see rtp_port_min).")
    nat_address: str | None = Field(
        None, min_length=2, max_length=45,
        description="Public IP address of this server behind a 1:1 NAT or port forward of the RTP range (same "
        "ports): advertised in ICE candidates beside the host addresses (a srflx candidate per host candidate).",
    )
    ice_interfaces: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32,
        description="Addresses WebRTC advertises: interface names (shell patterns, e.g. eth0, ens*), IP addresses "
        "or CIDRs. Empty: every interface but loopback and virtual bridges (docker*, br-*, veth*, virbr*, …), "
        "plus 127.0.0.1 when host is a loopback address.",
    )
    ice_transport_policy: Literal["all", "relay"] = Field(
        "all",
        description="iceTransportPolicy the join page uses: relay sends all media through the TURN server "
        "(for testing TURN, or a deployment that must relay); all: direct when possible.",
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, le=64 << 20, description="Largest accepted HTTP request body, in bytes."
    )
    shutdown_timeout_s: float = Field(
        10.0, ge=0.5, le=300, description="Seconds graceful shutdown waits for open work to finish."
    )
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="Event loop implementation (uvloop forwards more packets per core)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class StorageConfig(_Strict):
    data_dir: Path = Field(Path("data"), description="Root for the index, recordings, keys and exports.")
    database_url: str | None = Field(
        None,
        pattern=r"^(sqlite:///.+|postgresql://.+)$",
        max_length=2048,
        description="Index database: unset, sqlite:///<data_dir>/mediaserver.db (one node); sqlite:///<path>; or "
        "postgresql://<user>[:${PGPASSWORD}]@<host>[:5432]/<database> (several nodes share it; put the password "
        "in the environment, e.g. postgresql://mediaserver:${MEDIASERVER_DB_PASSWORD}@10.0.0.5/mediaserver).",
    )
    pool_size: int = Field(
        8, ge=1, le=100,
        description="PostgreSQL only: reader connections this process keeps open (plus 2 for writes).",
    )

    def is_postgres(self) -> bool:
        """Return whether the index is a PostgreSQL database."""
        return self.database_url is not None and self.database_url.startswith("postgresql://")

    def sqlite_path(self) -> Path:
        """Return the SQLite file the index lives in (an SQLite index only)."""
        if self.is_postgres():
            raise ValueError("the index is a PostgreSQL database, not an SQLite file")
        if self.database_url is None:
            return self.data_dir / "mediaserver.db"
        return Path(self.database_url.removeprefix("sqlite:///"))

    def database_target(self) -> Path | str:
        """Return what ``Database`` opens: the SQLite file, or the PostgreSQL URL."""
        return self.database_url if self.is_postgres() and self.database_url else self.sqlite_path()


# ----------------------------------------------------------------------------------------------- mail


class MailConfig(_Strict):
    enabled: bool = Field(False, description="Send invitations and reminders by e-mail.")
    host: str = Field("127.0.0.1", min_length=1, max_length=253, description="SMTP server (relay) address.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port (25 relay, 587 submission, 465 implicit TLS).")
    security: Literal["none", "starttls", "tls"] = Field(
        "none", description="none: plain SMTP; starttls: upgrade with STARTTLS (required); tls: TLS from the start."
    )
    username: str | None = Field(None, min_length=1, max_length=256, description="SMTP AUTH user; unset: no login.")
    password: SecretStr | None = Field(None, description="SMTP AUTH password (use ${ENV_VAR}).")
    sender: EmailAddress = Field("hop@localhost", description="From address of every message.")
    sender_name: str = Field(
        "Hội nghị truyền hình", min_length=1, max_length=120, description="Display name shown with the From address."
    )
    timeout_s: float = Field(20.0, ge=1, le=120, description="Seconds one SMTP step may take before giving up.")
    verify_tls: bool = Field(True, description="Check the server's certificate and host name (starttls/tls).")
    ca_file: Path | None = Field(None, description="Extra PEM CA certificate trusted for the server (a private CA).")


# -------------------------------------------------------------------------------------------- signing


def _existing_file(value: Path | None) -> Path | None:
    # The problem's path names the field (signing.pkcs11_module): the message says what is wrong with it.
    if value is not None and not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


class SigningConfig(_Strict):
    """The organisation's signing certificate: a PKCS#12 file or a PKCS#11 token (USB token, HSM)."""

    backend: Literal["none", "pkcs12", "pkcs11", "demo"] = Field(
        "none", description="Where the signing key is: none (signing off), a PKCS#12 file, a PKCS#11 token, or "
        "demo (a TEST-ONLY certificate made in data_dir/signing-demo on first start; no legal value)."
    )
    organisation: str | None = Field(
        None, min_length=1, max_length=200,
        description="Issuing office printed at the head of the minutes (e.g. UBND huyện …); unset: the chair site.",
    )
    pkcs12_file: Path | None = Field(None, description="PKCS#12 (.p12/.pfx) file with the key and certificate.")
    pkcs12_password: SecretStr | None = Field(
        None, max_length=1024, description="Password of the PKCS#12 file (use ${ENV_VAR}); unset: none."
    )
    pkcs11_module: Path | None = Field(
        None, description="The token vendor's PKCS#11 library (.so), e.g. /usr/lib/softhsm/libsofthsm2.so."
    )
    token_label: str | None = Field(None, min_length=1, max_length=32, description="Label of the PKCS#11 token.")
    key_label: str | None = Field(
        None, min_length=1, max_length=256, description="Label of the private key (and its certificate) on the token."
    )
    key_id: str | None = Field(
        None, pattern=r"^([0-9a-fA-F]{2}){1,64}$", description="CKA_ID of the key (hex), instead of or with key_label."
    )
    pin: SecretStr | None = Field(None, max_length=256, description="User PIN of the token (use ${ENV_VAR}).")
    chain_files: list[Path] = Field(
        default_factory=list, max_length=8,
        description="Intermediate CA certificates (PEM/DER) embedded with each signature.",
    )
    tsa_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None = Field(
        None, description="RFC 3161 timestamp authority; set: signatures get a timestamp (PAdES B-T)."
    )
    tsa_timeout_s: float = Field(15.0, ge=1, le=120, description="Seconds to wait for the timestamp authority.")
    trust_roots: list[Path] = Field(
        default_factory=list, max_length=32,
        description="CA certificates (PEM/DER) that `mediaserver verify` trusts, e.g. the national root CA.",
    )
    reason: str = Field(
        "Xác nhận biên bản", min_length=1, max_length=200, description="Default reason written in PDF signatures."
    )
    location: str = Field("", max_length=200, description="Default place written in PDF signatures.")

    @field_validator("pkcs12_file", "pkcs11_module")
    @classmethod
    def _file_exists(cls, v: Path | None) -> Path | None:
        return _existing_file(v)

    @field_validator("chain_files", "trust_roots")
    @classmethod
    def _files_exist(cls, v: list[Path]) -> list[Path]:
        for p in v:
            _existing_file(p)
        return v

    @model_validator(mode="after")
    def _backend_complete(self) -> SigningConfig:
        if self.backend == "pkcs12" and self.pkcs12_file is None:
            raise ValueError("signing.pkcs12_file is required when backend is pkcs12")
        if self.backend == "pkcs11":
            missing = [n for n in ("pkcs11_module", "token_label") if getattr(self, n) is None]
            if self.key_label is None and self.key_id is None:
                missing.append("key_label (or key_id)")
            if missing:
                raise ValueError(f"backend pkcs11 needs signing.{', signing.'.join(missing)}")
        return self


# ----------------------------------------------------------------------------------------------- auth


class LockoutConfig(_Strict):
    max_failures: int = Field(5, ge=1, le=100, description="Failed logins that trigger a lockout.")
    window_s: float = Field(30.0, ge=1, le=3600, description="Window in which failures are counted.")
    lockout_s: float = Field(300.0, ge=1, le=86400, description="How long a locked account waits.")
    address_burst: int = Field(
        20, ge=5, le=1000,
        description="Failed logins one client address may make in a burst (any accounts) before it is slowed.",
    )
    address_refill_s: float = Field(
        3.0, ge=0.1, le=600,
        description="Once slowed, an address regains one attempt every this many seconds (never a lockout).",
    )


class PasswordPolicy(_Strict):
    min_length: int = Field(10, ge=8, le=128, description="Shortest accepted password.")
    min_classes: int = Field(
        3, ge=1, le=4, description="Character classes required (lower, upper, digit, symbol)."
    )


class AuthConfig(_Strict):
    token_secret: SecretStr | None = Field(
        None,
        description="HMAC key that signs bearer tokens (use ${ENV_VAR}); generated into the data dir if unset.",
    )
    access_token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="Lifetime of a login token.")
    join_token_ttl_s: int = Field(
        24 * 3600, ge=60, le=90 * 86400, description="Default lifetime of a site's join token."
    )
    lockout: LockoutConfig = Field(default_factory=LockoutConfig, description="Login lockout policy.")
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy, description="Password rules.")
    initial_admin: Ident = Field(
        "admin", description="User created on first start with a random password that must be changed."
    )


# ------------------------------------------------------------------------------------------ conference


class SiteRole(StrEnum):
    HOST = "host"
    COMMUNE = "commune"
    TOWN = "town"
    ORGANISATION = "organisation"
    PARTY = "party"


class SiteConfig(_Strict):
    name: str = Field(..., min_length=1, max_length=120, description="Display name (Vietnamese).")
    name_en: str | None = Field(None, max_length=120, description="Display name in English.")
    role: SiteRole = Field(SiteRole.COMMUNE, description="The site's place in the district.")
    email: EmailAddress | None = Field(None, description="Where invitations and reminders are sent.")


class RoomConfig(_Strict):
    name: str = Field(..., min_length=1, max_length=120, description="Display name of the room.")
    host_site: Ident = Field(..., description="Site that chairs the meeting and sees every other site.")
    sites: list[Ident] | Literal["all"] = Field("all", description="Sites allowed to join, or 'all'.")
    max_sites: int = Field(40, ge=2, le=64, description="Most sites connected at once.")
    auto_record: bool = Field(False, description="Record the room whenever a meeting is running.")
    video_codec: Literal["vp8", "h264"] = Field(
        "vp8", description="Video codec every site sends and receives (forwarded as-is, never transcoded)."
    )
    audible_sites: int = Field(3, ge=1, le=8, description="Loudest sites whose audio is forwarded (plus the host).")


# -------------------------------------------------------------------------------------------- cameras


class RecordSettings(_Strict):
    mode: Literal["continuous", "motion", "off"] = Field("motion", description="What footage is kept.")
    segment_seconds: float = Field(10.0, ge=2, le=120, description="Target segment length (cut on keyframes).")
    pre_padding_s: float = Field(5.0, ge=0, le=120, description="Footage kept before motion (mode=motion).")
    post_padding_s: float = Field(10.0, ge=0, le=600, description="Footage kept after motion (mode=motion).")
    retain_days: float = Field(7.0, ge=0, le=3650, description="Days continuous footage is kept.")
    motion_retain_days: float = Field(30.0, ge=0, le=3650, description="Days footage with motion is kept.")
    events_retain_days: float = Field(
        90.0, ge=0, le=3650, description="Days motion events and thumbnails are kept."
    )


class MotionSettings(_Strict):
    enabled: bool = Field(True, description="Analyse the sub stream for motion.")
    analysis_fps: float = Field(5.0, ge=0.5, le=30, description="Frames per second analysed.")
    threshold: int = Field(25, ge=1, le=255, description="Per-pixel luminance change that counts.")
    min_area_pct: float = Field(0.2, ge=0, le=100, description="Smallest changed area, % of the frame.")
    min_event_s: float = Field(1.0, ge=0, le=600, description="Shortest motion reported as an event.")
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list,
        max_length=32,
        description="Polygons to ignore, in relative (0..1) image coordinates.",
    )
    zones: dict[Ident, list[tuple[float, float]]] = Field(
        default_factory=dict, description="Named polygons (relative coordinates) events are tagged with."
    )


# The detector's label set (cameras/detect/model.py LABELS; the API and the console use the same names).
ObjectLabel = Literal["person", "bicycle", "motorcycle", "car", "truck", "bus"]
OBJECT_LABELS: tuple[ObjectLabel, ...] = ("person", "bicycle", "motorcycle", "car", "truck", "bus")
RelCoord = Annotated[float, Field(ge=0, le=1)]
RelPolygon = Annotated[list[tuple[RelCoord, RelCoord]], Field(min_length=3, max_length=64)]


class ObjectSettings(_Strict):
    """What a camera's object detector looks for on its motion, and which objects raise an alert."""

    enabled: bool = Field(True, description="Run the object detector on this camera's motion (needs the weights).")
    track: list[ObjectLabel] = Field(
        default_factory=lambda: list(OBJECT_LABELS), min_length=1, max_length=6,
        description="Objects kept (person, bicycle, motorcycle, car, truck, bus); others are ignored.",
    )
    min_score: float = Field(0.5, ge=0.05, le=1, description="Lowest detector confidence kept (0..1).")
    min_size_pct: float = Field(0.5, ge=0, le=100, description="Smallest object box kept, % of the frame area.")
    detect_fps: float = Field(2.0, ge=0.1, le=10, description="At most this many detections a second on this camera.")
    alert_labels: list[ObjectLabel] | None = Field(
        None, max_length=6, description="Objects that make a review item an alert (subset of track); null: all tracked."
    )
    alert_zones: list[Ident] = Field(
        default_factory=list, max_length=32,
        description="Motion zones an alert object must stand in (box bottom-centre); empty: anywhere.",
    )
    masks: list[RelPolygon] = Field(
        default_factory=list, max_length=32,
        description="Polygons (relative 0..1): an object whose box bottom-centre is inside one is dropped.",
    )

    def alerting(self) -> frozenset[str]:
        """Return the labels that make an alert (every tracked label unless alert_labels narrows them)."""
        return frozenset(self.track if self.alert_labels is None else self.alert_labels)


class DetectionSettings(_Strict):
    """The shared object detector: one pool of workers for every camera, bounded so recording never waits."""

    enabled: bool = Field(True, description="Run object detection at all (off: motion events stay unlabelled).")
    workers: int = Field(1, ge=1, le=8, description="Detector threads (each uses about one core when busy).")
    queue_max: int = Field(4, ge=1, le=64, description="Crops waiting for a worker; beyond this they are skipped.")
    input_px: int = Field(320, ge=128, le=608, multiple_of=32,
                          description="Network input side in pixels (a multiple of 32; 320: ~35 ms a crop).")


class OnvifConfig(_Strict):
    host: str = Field(..., min_length=1, description="Camera address.")
    port: int = Field(80, ge=1, le=65535, description="ONVIF HTTP port.")
    username: str = Field("admin", max_length=128, description="ONVIF/RTSP user.")
    password: SecretStr = Field(SecretStr(""), description="ONVIF/RTSP password (use ${ENV_VAR}).")


class StreamsConfig(_Strict):
    main_url: str | None = Field(None, pattern=r"^rtsps?://", description="Main (high-res) stream URL.")
    sub_url: str | None = Field(None, pattern=r"^rtsps?://", description="Sub (low-res) stream URL.")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")


class SimObjectConfig(_Strict):
    start_s: float = Field(..., ge=0, description="Seconds after the simulator starts when the object appears.")
    end_s: float = Field(..., gt=0, description="When it leaves.")
    size: float = Field(0.15, gt=0, le=1, description="Side of the square, as a fraction of frame height.")
    color: int = Field(220, ge=0, le=255, description="Gray level of the object.")
    from_: tuple[float, float] = Field((0.1, 0.5), alias="from", description="Start (x, y), relative 0..1.")
    to: tuple[float, float] = Field((0.9, 0.5), description="End (x, y), relative 0..1.")
    photo: Literal["person", "motorcycle"] | None = Field(
        None, description="Show a real photograph (scikit-image's sample photos) instead of a grey square; "
        "size is then its height as a fraction of the frame height.",
    )


class SimLightingConfig(_Strict):
    at_s: float = Field(..., ge=0, description="When the lighting changes (seconds after start).")
    level: int = Field(..., ge=0, le=255,
                       description="New background gray level (with a backdrop: gain x 1/background).")
    ramp_s: float = Field(0.0, ge=0, le=3600,
                          description="Seconds the change takes (0: a switch; more: dusk, clouds).")


class SimTreeConfig(_Strict):
    """A swaying textured region in a simulated scene (foliage in the wind): motion that is no object."""

    region: tuple[RelCoord, RelCoord, RelCoord, RelCoord] = Field(
        (0.6, 0.05, 0.3, 0.5), description="Left, top, width, height, relative 0..1."
    )
    texture: Literal["grass", "gravel", "brick"] = Field("grass", description="Texture photo it is made of.")
    sway: float = Field(0.04, ge=0, le=0.2, description="Largest sideways sway, as a fraction of the frame width.")
    period_s: float = Field(1.6, ge=0.2, le=60, description="Seconds of one sway back and forth.")
    active: list[tuple[float, float]] = Field(
        default_factory=list, max_length=64, description="[start_s, end_s] windows (gusts) it moves in; empty: always."
    )


class SimulatorConfig(_Strict):
    """A simulated ONVIF camera: a real GStreamer RTSP server plus our ONVIF device service."""

    main_size: tuple[int, int] = Field((1280, 720), description="Main stream width, height.")
    main_fps: int = Field(15, ge=1, le=30, description="Main stream frame rate.")
    sub_size: tuple[int, int] | None = Field((640, 360), description="Sub stream size; null: no sub stream.")
    sub_fps: int = Field(10, ge=1, le=30, description="Sub stream frame rate.")
    main_codec: Literal["h264", "h265"] = Field("h264", description="Main stream codec (H.265: no direct live view).")
    sub_codec: Literal["h264", "h265"] = Field("h264", description="Sub stream codec.")
    noise: int = Field(6, ge=0, le=40, description="Sensor noise amplitude.")
    background: int = Field(90, ge=0, le=255, description="Background gray level.")
    backdrop: Literal["gravel", "brick"] | None = Field(
        None, description="A photographed backdrop (tinted texture photo) instead of flat grey."
    )
    trees: list[SimTreeConfig] = Field(default_factory=list, max_length=8, description="Swaying foliage regions.")
    objects: list[SimObjectConfig] = Field(default_factory=list, max_length=64, description="Moving objects.")
    lighting: list[SimLightingConfig] = Field(default_factory=list, max_length=64, description="Light changes.")
    loop_s: float | None = Field(60.0, gt=0, description="Repeat the script every this many seconds.")


class CameraConfig(_Strict):
    name: str = Field(..., min_length=1, max_length=120, description="Display name.")
    enabled: bool = Field(True, description="Ingest this camera.")
    onvif: OnvifConfig | None = Field(None, description="ONVIF device (streams discovered from it).")
    streams: StreamsConfig = Field(default_factory=StreamsConfig, description="Explicit RTSP stream URLs.")
    simulate: SimulatorConfig | None = Field(
        None, description="Run a simulated camera for this entry (demos, tests): no real device needed."
    )
    record: RecordSettings | None = Field(None, description="Overrides of the global 'recording' section.")
    motion: MotionSettings | None = Field(None, description="Overrides of the global 'motion' section.")
    objects: ObjectSettings = Field(
        default_factory=ObjectSettings, description="Object detection on this camera's motion (labels, alerts)."
    )


class CameraGroupConfig(_Strict):
    name: str = Field(..., min_length=1, max_length=120, description="Display name (e.g. 'Cổng và hàng rào').")
    cameras: list[Ident] = Field(..., min_length=1, max_length=64, description="Camera ids, in wall order.")


# ----------------------------------------------------------------------------------- storage policies


class RetentionConfig(_Strict):
    disk_quota_gb: float | None = Field(None, gt=0, description="Most space footage may use; unset: no quota.")
    min_free_gb: float = Field(2.0, ge=0, description="Free space kept on the data disk at all times.")
    sweep_interval_s: float = Field(300.0, ge=10, le=86400, description="How often retention runs.")


class ScheduleConfig(_Strict):
    action: str = Field(
        ..., pattern=r"^[a-z_]+(\.[a-z_]+)+$", description="Registered job handler, e.g. 'room.start'."
    )
    kind: Literal["once", "interval", "cron"] = Field(..., description="How the job repeats.")
    at: datetime | None = Field(None, description="When a 'once' job runs (naive times use 'timezone').")
    every_s: float | None = Field(None, ge=1, le=366 * 86400, description="Period of an 'interval' job.")
    cron: str | None = Field(None, description="Five-field cron expression of a 'cron' job.")
    timezone: str | None = Field(None, description="Time zone of 'at'/'cron'; default: the global one.")
    grace_s: float = Field(
        300.0, ge=0, le=7 * 86400, description="How late a missed run may still start after downtime."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments passed to the handler.")
    enabled: bool = Field(True, description="Run this job.")


# -------------------------------------------------------------------------------------------- meetings


class MeetingsConfig(_Strict):
    """Scheduled meetings' own records: documents (tài liệu họp) staff attach for the sites to open."""

    documents_max_mb: float = Field(
        50.0, gt=0, le=500,
        description="Largest meeting document (PDF, JPEG, PNG) staff may upload, in MB (10^6 bytes).",
    )
    documents_max_per_meeting: int = Field(
        100, ge=1, le=1000, description="Most documents one scheduled meeting may have.",
    )


# -------------------------------------------------------------------------------------------- cluster


class ClusterConfig(_Strict):
    """Several server processes sharing one index: each owns the cameras whose lease it holds (issue 16)."""

    node_id: Ident = Field(..., description="This node's id, unique among the nodes sharing the index.")
    advertise_url: Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+/?$", max_length=256)] = Field(
        ..., description="How other nodes (and redirected browsers) reach this node, e.g. http://10.0.0.2:8080."
    )
    secret: SecretStr = Field(
        ..., description="Shared by every node; authenticates node-to-node requests (use ${ENV_VAR}, ≥ 32 chars)."
    )
    heartbeat_s: float = Field(
        2.0, ge=0.2, le=60, description="Seconds between heartbeats (lease renewals and camera rebalancing)."
    )
    lease_ttl_s: float = Field(
        10.0, ge=1, le=600,
        description="Seconds a node's leases last without renewal; a dead node's cameras move after about this.",
    )
    capacity: int = Field(32, ge=0, le=10_000, description="Most cameras this node records at once.")
    # R (routing): rooms placed on nodes (mediaserver/rooms_placement.py)
    room_pins: dict[Ident, Ident] = Field(
        default_factory=dict, max_length=10_000,
        description="Rooms that run on a given node while it is alive: {room_id: node_id}; other rooms go to the "
                    "least loaded live node.",
    )

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < MIN_TOKEN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_SECRET_CHARS} characters")
        return v

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> ClusterConfig:
        # Three heartbeats per lease: one lost renewal (a slow database, a GC pause) must not drop a camera.
        if self.lease_ttl_s < 3 * self.heartbeat_s:
            raise ValueError("lease_ttl_s must be at least 3 × heartbeat_s")
        return self


# --------------------------------------------------------------------------------------------- root


class Config(_Strict):
    timezone: str = Field(DEFAULT_TIMEZONE, description="Zone the UI and schedules use; storage is UTC.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP, TLS and ICE.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Data dir and index.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Tokens, lockout, passwords.")
    sites: dict[Ident, SiteConfig] = Field(default_factory=dict, description="Conference sites by id.")
    rooms: dict[Ident, RoomConfig] = Field(default_factory=dict, description="Conference rooms by id.")
    cameras: dict[Ident, CameraConfig] = Field(default_factory=dict, description="Cameras by id.")
    camera_groups: dict[Ident, CameraGroupConfig] = Field(
        default_factory=dict, max_length=64, description="Camera groups by id, for every staff member's wall."
    )
    recording: RecordSettings = Field(default_factory=RecordSettings, description="Camera recording defaults.")
    motion: MotionSettings = Field(default_factory=MotionSettings, description="Motion analysis defaults.")
    detection: DetectionSettings = Field(
        default_factory=DetectionSettings, description="The shared object detector (workers, queue, input size)."
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Disk safety rules.")
    schedules: dict[Ident, ScheduleConfig] = Field(default_factory=dict, description="Scheduled jobs by id.")
    mail: MailConfig = Field(default_factory=MailConfig, description="Outgoing e-mail (invitations, reminders).")
    signing: SigningConfig = Field(
        default_factory=SigningConfig, description="Digital signatures of minutes and evidence exports."
    )
    meetings: MeetingsConfig = Field(
        default_factory=MeetingsConfig, description="Scheduled meetings' documents (size and count bounds)."
    )
    cluster: ClusterConfig | None = Field(
        None, description="Several nodes sharing one index (PostgreSQL); unset: one node, everything local."
    )

    def camera_record(self, camera_id: str) -> RecordSettings:
        """Return a camera's recording settings (global defaults merged at load)."""
        rec = self.cameras[camera_id].record
        assert rec is not None, "merged at load"
        return rec

    def camera_motion(self, camera_id: str) -> MotionSettings:
        """Return a camera's motion settings (global defaults merged at load)."""
        mot = self.cameras[camera_id].motion
        assert mot is not None, "merged at load"
        return mot


# ------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Problem:
    """One configuration problem at a dotted path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


class _Loader(yaml.SafeLoader):
    """A SafeLoader that records duplicate mapping keys instead of silently keeping the last one."""

    duplicates: list[tuple[yaml.Node, str]]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            loader.duplicates.append((node, str(key)))
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _find_paths(node: yaml.Node, target: yaml.Node, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if node is target:
        yield prefix
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _find_paths(v, target, (*prefix, str(k.value)))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _find_paths(v, target, (*prefix, str(i)))


def _parse_yaml(text: str, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    loader.duplicates = []
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else {}
    except yaml.YAMLError as exc:
        problems.append(Problem("", f"not valid YAML: {exc}"))
        return None
    finally:
        loader.dispose()
    for mapping_node, key in loader.duplicates:
        assert root is not None  # duplicates were found in it
        path = next(_find_paths(root, mapping_node), ())
        problems.append(Problem(".".join((*path, key)), "duplicate key (each id may appear only once)"))
    return data


def _expand_env(value: Any, path: tuple[str, ...], env: Mapping[str, str], problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, str(k)), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, str(i)), env, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(Problem(".".join(path), f"environment variable {name} is not set"))
            return ""

        return _ENV_RE.sub(sub, value)
    return value


_UNION_TAG_RE = re.compile(r"^(list|literal|function-[a-z]+|constrained-[a-z]+|dict|tuple)(\[|$)")

_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "missing": "required field is missing",
    "string_pattern_mismatch": "must match {pattern}",
}


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        # Unions add the member's type to the location ("literal['all']"); users never wrote that.
        loc = [p for p in loc if not _UNION_TAG_RE.match(p)]
        template = _MESSAGES.get(err["type"])
        if loc and loc[-1] == "[key]":
            loc.pop()
            msg = "is not a valid id (use lower-case letters, digits, '-' and '_'; at most 64)"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the documented fields)"
        elif template:
            msg = template.format(**err.get("ctx", {}))
        else:
            msg = err["msg"]
        out.append(Problem(".".join(loc), msg))
    return out


def _check_timezone(name: str, path: str, problems: list[Problem]) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(path, f"unknown time zone {name!r}"))


def _check_semantics(cfg: Config, problems: list[Problem]) -> None:
    """Cross-field rules pydantic cannot express on one field; also merge camera defaults."""
    _check_timezone(cfg.timezone, "timezone", problems)
    if cfg.server.rtp_port_min > cfg.server.rtp_port_max:
        problems.append(Problem("server.rtp_port_max", "must be >= server.rtp_port_min"))
    else:
        ports = cfg.server.rtp_port_max - cfg.server.rtp_port_min + 1
        largest = max((r.max_sites for r in cfg.rooms.values()), default=0)
        if ports < largest:
            problems.append(Problem("server.rtp_port_max", f"the range has {ports} port(s); a room of {largest} "
                                    "sites needs at least one UDP port per site and advertised address"))
    _check_ice(cfg.server, problems)
    tls = cfg.server.tls
    if tls.mode == "files":
        for field in ("cert_file", "key_file"):
            if getattr(tls, field) is None:
                problems.append(Problem(f"server.tls.{field}", "required when mode is 'files'"))
    if cfg.storage.is_postgres() and cfg.storage.database_url:
        _check_postgres_url(cfg.storage.database_url, problems)
    secret = cfg.auth.token_secret
    if secret is not None and 0 < len(secret.get_secret_value()) < MIN_TOKEN_SECRET_CHARS:
        problems.append(Problem("auth.token_secret", f"must be at least {MIN_TOKEN_SECRET_CHARS} characters"))
    hosts = [sid for sid, s in cfg.sites.items() if s.role == SiteRole.HOST]
    if cfg.sites and len(hosts) != 1:
        problems.append(Problem("sites", f"exactly one site must have role 'host' (found {len(hosts)})"))
    for rid, room in cfg.rooms.items():
        if room.host_site not in cfg.sites:
            problems.append(Problem(f"rooms.{rid}.host_site", f"unknown site {room.host_site!r}"))
        if room.sites != "all":
            for i, sid in enumerate(room.sites):
                if sid not in cfg.sites:
                    problems.append(Problem(f"rooms.{rid}.sites.{i}", f"unknown site {sid!r}"))
            if len(set(room.sites)) != len(room.sites):
                problems.append(Problem(f"rooms.{rid}.sites", "lists a site more than once"))
    for cid, cam in cfg.cameras.items():
        if cam.onvif is None and cam.streams.main_url is None and cam.simulate is None:
            problems.append(Problem(f"cameras.{cid}", "needs 'onvif', 'streams.main_url' or 'simulate'"))
        cam.record = _merge(cfg.recording, cam.record)
        cam.motion = _merge(cfg.motion, cam.motion)
        _check_objects(cid, cam, problems)
    for gid, group in cfg.camera_groups.items():
        for i, cid in enumerate(group.cameras):
            if cid not in cfg.cameras:
                problems.append(Problem(f"camera_groups.{gid}.cameras.{i}", f"unknown camera {cid!r}"))
        if len(set(group.cameras)) != len(group.cameras):
            problems.append(Problem(f"camera_groups.{gid}.cameras", "lists a camera more than once"))
    for jid, job in cfg.schedules.items():
        needed = {"once": "at", "interval": "every_s", "cron": "cron"}[job.kind]
        if getattr(job, needed) is None:
            problems.append(Problem(f"schedules.{jid}.{needed}", f"required when kind is '{job.kind}'"))
        if job.cron is not None and not croniter.is_valid(job.cron):
            problems.append(Problem(f"schedules.{jid}.cron", f"not a valid cron expression: {job.cron!r}"))
        if job.timezone is not None:
            _check_timezone(job.timezone, f"schedules.{jid}.timezone", problems)


def _check_objects(cid: str, cam: CameraConfig, problems: list[Problem]) -> None:
    """Check a camera's alert labels are tracked and its alert zones are motion zones it has."""
    obj = cam.objects
    untracked = [lb for lb in obj.alert_labels or () if lb not in obj.track]
    if untracked:
        problems.append(Problem(f"cameras.{cid}.objects.alert_labels", f"camera {cid!r}: {', '.join(untracked)} "
                                f"not in objects.track ({', '.join(obj.track)})"))
    zones = cam.motion.zones if cam.motion is not None else {}
    for i, zone in enumerate(obj.alert_zones):
        if zone not in zones:
            known = ", ".join(sorted(zones)) or "none"
            problems.append(Problem(f"cameras.{cid}.objects.alert_zones.{i}",
                                    f"camera {cid!r} has no motion zone {zone!r} (its zones: {known})"))


_INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.:@*?\[\]-]{1,64}$")


def _check_postgres_url(url: str, problems: list[Problem]) -> None:
    """Check a PostgreSQL URL names a host and a database (never echoing it: it may hold a password)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        problems.append(Problem("storage.database_url", "not a valid postgresql:// URL"))
        return
    if not parts.path.strip("/"):
        problems.append(Problem("storage.database_url", "names no database: postgresql://<user>@<host>/<database>"))


def _check_ice(server: ServerConfig, problems: list[Problem]) -> None:
    if server.nat_address is not None:
        try:
            nat = ipaddress.ip_address(server.nat_address)
        except ValueError:
            problems.append(Problem("server.nat_address", "must be an IP address (e.g. 203.0.113.10)"))
        else:
            if nat.is_unspecified or nat.is_multicast:
                problems.append(Problem("server.nat_address", "must be a unicast address"))
    for i, entry in enumerate(server.ice_interfaces):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not _INTERFACE_RE.match(entry):
                problems.append(Problem(f"server.ice_interfaces.{i}",
                                        "must be an interface name (pattern), an IP address or a CIDR"))
    for i, ice in enumerate(server.ice_servers):
        if ice.use_on_server:
            # The server's own peer connections parse every URL with aiortc, which raises on what it cannot read
            # (an IPv6 literal, a transport on a stun: URL): every join would then fail.
            from aiortc.rtcicetransport import parse_stun_turn_uri

            for j, url in enumerate(ice.urls):
                try:
                    parse_stun_turn_uri(url)
                except ValueError:
                    problems.append(Problem(
                        f"server.ice_servers.{i}.urls.{j}",
                        "the server's WebRTC stack (aiortc) cannot use this URL: write turn:<host name or IPv4>"
                        "[:port][?transport=udp|tcp] (stun: without transport), or set use_on_server: false"))
        if ice.shared_secret is not None:
            if ice.username is not None or ice.credential is not None:
                problems.append(Problem(f"server.ice_servers.{i}.shared_secret",
                                        "excludes username and credential (they are generated from it)"))
            if not ice.shared_secret.get_secret_value():
                problems.append(Problem(f"server.ice_servers.{i}.shared_secret", "must not be empty"))
            if not any(u.startswith(("turn:", "turns:")) for u in ice.urls):
                problems.append(Problem(f"server.ice_servers.{i}.urls", "a shared_secret needs a turn: URL"))
    if server.ice_transport_policy == "relay" and not any(
            u.startswith(("turn:", "turns:")) for ice in server.ice_servers for u in ice.urls):
        problems.append(Problem("server.ice_transport_policy", "'relay' needs a turn: or turns: URL in "
                                "server.ice_servers (browsers then send all media through that TURN server)"))


def _merge(default: _M, override: _M | None) -> _M:
    """Return ``default`` with the fields ``override`` set explicitly (a camera's own values win)."""
    if override is None:
        return default.model_copy(deep=True)
    return default.model_copy(update=override.model_dump(exclude_unset=True), deep=True)


def parse_config(text: str, env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate YAML text, raising ConfigError with every problem found."""
    problems: list[Problem] = []
    data = _parse_yaml(text, problems)
    if data is None and not problems:
        data = {}
    if data is not None and not isinstance(data, dict):
        problems.append(Problem("", "the top level must be a mapping of sections"))
        data = None
    cfg: Config | None = None
    if data is not None:
        data = _expand_env(data, (), os.environ if env is None else env, problems)
        try:
            cfg = Config.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc))
    if cfg is not None:
        _check_semantics(cfg, problems)
    if problems or cfg is None:
        raise ConfigError(problems)
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load a config file; relative data paths are taken relative to the file's folder."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {p}: {exc.strerror}")]) from exc
    cfg = parse_config(text, env)
    base = p.resolve().parent
    if not cfg.storage.data_dir.is_absolute():
        cfg.storage.data_dir = base / cfg.storage.data_dir
    if cfg.storage.database_url and cfg.storage.database_url.startswith("sqlite:///") \
            and not Path(cfg.storage.database_url[len("sqlite:///") :]).is_absolute():
        cfg.storage.database_url = f"sqlite:///{base / cfg.storage.database_url[len('sqlite:///') :]}"
    return cfg


@overload
def redact_url(url: str) -> str: ...
@overload
def redact_url(url: None) -> None: ...
def redact_url(url: str | None) -> str | None:
    """Drop the user name and password embedded in a URL (rtsp://user:pass@host/… → rtsp://host/…)."""
    if url is None or "@" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redacted(cfg: Config) -> dict[str, Any]:
    """Return the config as JSON-able data with every secret masked and URL credentials removed."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and "://" in v:
            return redact_url(v)
        return v

    # SecretStr fields dump as '**********' in JSON mode.
    data: dict[str, Any] = walk(json.loads(cfg.model_dump_json()))
    return data


def is_ident(value: str) -> bool:
    """Return whether ``value`` is a valid id for a site, room, camera or job."""
    return bool(_IDENT_RE.match(value))
