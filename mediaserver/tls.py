"""TLS: load the configured certificate, or generate a self-signed one on first run.

Browsers allow camera and microphone only in a secure context, so sites on other machines need HTTPS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from pathlib import Path

from mediaserver.config import Config

logger = logging.getLogger(__name__)

SELF_SIGNED_VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def ensure_self_signed(cert_path: Path, key_path: Path, hostnames: list[str]) -> None:
    """Create a self-signed certificate and key unless both already exist."""
    if cert_path.exists() and key_path.exists():
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mediaserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_tmp = key_path.with_suffix(".tmp")
    key_tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key_tmp.chmod(0o600)
    key_tmp.replace(key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    logger.info("generated a self-signed TLS certificate for %s at %s", ", ".join(hostnames), cert_path)


def ssl_context(cfg: Config) -> ssl.SSLContext | None:
    """Return the server's SSL context, or None when TLS is off."""
    tls = cfg.server.tls
    if tls.mode == "off":
        return None
    if tls.mode == "self_signed":
        cert, key = cfg.storage.data_dir / "tls" / "cert.pem", cfg.storage.data_dir / "tls" / "key.pem"
        ensure_self_signed(cert, key, tls.self_signed_hostnames)
    else:
        assert tls.cert_file is not None and tls.key_file is not None
        cert, key = tls.cert_file, tls.key_file
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx
