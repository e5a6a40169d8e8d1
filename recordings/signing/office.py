"""The running server's signing setup: the office's signer (or the test-only demo one) and the roots it trusts.

``signing.backend: demo`` (what ``make run`` ships) makes a certificate on first start in
``data_dir/signing-demo/``: its own CA "CA CHỈ DÙNG THỬ" and a signer "CHỈ DÙNG THỬ — …", so minutes and
exports can be signed and verified on a fresh install. Its signatures prove only that a record did not change
since this server signed it; they have no legal value, and every name in it says so. An office configures
``pkcs12`` or ``pkcs11`` with its own certificate instead (README, "Chữ ký số"); the demo files are then
never used. With ``demo`` the demo CA is a trust root of this server and of ``mediaserver verify``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]

from mediaserver.config import SigningConfig
from recordings.signing.signer import CertSummary, OfficeSigner, SigningError, load_certificates

logger = logging.getLogger(__name__)

DEMO_DIR = "signing-demo"
DEMO_CA_FILE = "ca-chi-dung-thu.pem"
DEMO_P12_FILE = "chung-thu-chi-dung-thu.p12"
DEMO_CA_CN = "CA CHỈ DÙNG THỬ - mediaserver"  # X.520: a CN is at most 64 characters
DEMO_SIGNER_CN = "CHỈ DÙNG THỬ - chữ ký số thử nghiệm"
DEMO_ORG = "CHỈ DÙNG THỬ - không có giá trị pháp lý"
DEMO_VALID_DAYS = 3 * 365


@dataclass(frozen=True, slots=True)
class OfficeSigning:
    """What the server signs with, and what it trusts when it verifies."""

    backend: str  # none / pkcs12 / pkcs11 / demo
    signer: OfficeSigner | None
    trust_roots: Sequence[asn1_x509.Certificate] = field(default=())
    certificate: CertSummary | None = None
    error: SigningError | None = None  # configured, but the signer could not be loaded

    @property
    def demo(self) -> bool:
        """Whether the signer is the test-only demo certificate."""
        return self.backend == "demo"


def demo_paths(data_dir: Path) -> tuple[Path, Path]:
    """Return (CA certificate, PKCS#12 file) of the demo signer under ``data_dir``."""
    d = data_dir / DEMO_DIR
    return d / DEMO_CA_FILE, d / DEMO_P12_FILE


def ensure_demo_pki(data_dir: Path) -> tuple[Path, Path]:
    """Make the demo CA and signer once (blocking); return (CA PEM, PKCS#12 without password)."""
    ca_path, p12_path = demo_paths(data_dir)
    if ca_path.is_file() and p12_path.is_file():
        return ca_path, p12_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEMO_ORG),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = dt.datetime.now(dt.UTC)
    # ECDSA P-256: made in a millisecond (every test server starts with the shipped config), and checked by
    # pdfsig, OpenSSL and Adobe Reader alike.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(DEMO_CA_CN)

    def build(subject: x509.Name, public: ec.EllipticCurvePublicKey, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public)
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
             .not_valid_after(now + dt.timedelta(days=DEMO_VALID_DAYS))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        usage = (x509.KeyUsage(False, False, False, False, False, True, True, False, False) if ca else
                 x509.KeyUsage(True, True, False, False, False, False, False, False, False))
        return b.add_extension(usage, critical=True).sign(ca_key, hashes.SHA256())

    ca_cert = build(ca_name, ca_key.public_key(), True)
    cert = build(name(DEMO_SIGNER_CN), key.public_key(), False)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(ca_path.parent, 0o700)
    p12 = pkcs12.serialize_key_and_certificates(b"demo", key, cert, [ca_cert], serialization.NoEncryption())
    for path, data, mode in ((p12_path, p12, 0o600),
                             (ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)):
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, path)
    logger.warning("signing.backend is demo: made a TEST-ONLY certificate in %s (CHỈ DÙNG THỬ); configure the "
                   "office's own certificate for real records", ca_path.parent)
    return ca_path, p12_path


def load_office_signing(cfg: SigningConfig, data_dir: Path) -> OfficeSigning:
    """Build the signer and trust roots of ``cfg`` (blocking: reads files, may open the token once)."""
    roots: list[asn1_x509.Certificate] = list(load_certificates(cfg.trust_roots))
    try:
        if cfg.backend == "demo":
            ca_path, p12_path = ensure_demo_pki(data_dir)
            roots += load_certificates([ca_path])
            signer: OfficeSigner | None = OfficeSigner.from_pkcs12(
                p12_path, None, tsa_url=cfg.tsa_url, tsa_timeout_s=cfg.tsa_timeout_s)
        else:
            signer = OfficeSigner.from_config(cfg)
        summary = None
        if signer is not None and signer.kind == "pkcs12":
            summary = signer.certificate()  # a token's certificate is read at the first signature instead
    except SigningError as exc:
        logger.error("signing is configured (backend %s) but cannot be used: %s", cfg.backend, exc.message)
        return OfficeSigning(cfg.backend, None, roots, None, exc)
    return OfficeSigning(cfg.backend, signer, roots, summary)


async def load_office_signing_async(cfg: SigningConfig, data_dir: Path) -> OfficeSigning:
    """Build the signing setup in a worker thread."""
    return await asyncio.to_thread(load_office_signing, cfg, data_dir)


def trust_root_files(cfg: SigningConfig, data_dir: Path) -> list[Path]:
    """Return the CA files ``mediaserver verify`` trusts for this config (the demo CA with backend demo)."""
    files = list(cfg.trust_roots)
    ca_path, _ = demo_paths(data_dir)
    if cfg.backend == "demo" and ca_path.is_file():
        files.append(ca_path)
    return files


class SigningService:
    """The server's signing setup, loaded at start-up (the key file or token is read off the event loop)."""

    def __init__(self, cfg: SigningConfig, data_dir: Path) -> None:
        self.cfg = cfg
        self.data_dir = data_dir
        self.current = OfficeSigning(cfg.backend, None)

    async def start(self) -> OfficeSigning:
        """Load the signer and trust roots."""
        self.current = await load_office_signing_async(self.cfg, self.data_dir)
        return self.current


SIGNING_KEY: web.AppKey[SigningService] = web.AppKey("office_signing", SigningService)
