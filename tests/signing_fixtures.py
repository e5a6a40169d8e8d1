"""Shared fixtures of the signing tests: a test CA and PKCS#12 file, a SoftHSM2 token, an NSS database for pdfsig.

Session-scoped: SoftHSM reads SOFTHSM2_CONF once, when a process first loads the module, so one token serves
every test module of a process. A test module imports the ``*_fixture`` functions to use ``pki``, ``token``, ``nssdb``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mediaserver.config import SigningConfig
from recordings.signing import OfficeSigner

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
ORG = "UBND huyện Thử nghiệm"
SIGNER_CN = "Văn phòng HĐND và UBND huyện Thử nghiệm"
P12_PASSWORD = "mật-khẩu-thử"
TOKEN_LABEL = "ubnd-thu-nghiem"
TOKEN_PIN = "246810"
KEY_LABEL = "ky-so"
PDF_TITLE = "Biên bản cuộc họp giao ban tháng 12"

@dataclass
class Pki:
    dir: Path
    root_pem: Path
    signer_cert_pem: Path
    signer_key_pem: Path  # PKCS#8, unencrypted (imported into the token)
    p12: Path
    other_root_pem: Path  # a CA that did not issue the signer's certificate
    self_signed_p12: Path
    tsa_cert_pem: Path
    tsa_key_pem: Path


def _name(cn: str, org: str = ORG) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey, *,
          ca: bool, eku: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
         .not_valid_after(now + dt.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _key_pem(path: Path, key: rsa.RSAPrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


# Made once per process: each test module that imports a fixture gets its own definition of it, and SoftHSM's
# library, loaded once, sees only the first token directory.
_MADE: dict[str, Any] = {}


@pytest.fixture(scope="session", name="pki")
def pki_fixture(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if "pki" in _MADE:
        made: Pki = _MADE["pki"]
        return made
    d = tmp_path_factory.mktemp("pki")
    keys = [rsa.generate_private_key(65537, 2048) for _ in range(5)]
    root_key, signer_key, other_key, self_key, tsa_key = keys
    root_name = _name("CA thử nghiệm huyện (gốc)")
    root = _cert(root_name, root_key, root_name, root_key, ca=True)
    signer = _cert(_name(SIGNER_CN), signer_key, root_name, root_key, ca=False)
    other_name = _name("CA khác", "Tổ chức khác")
    other = _cert(other_name, other_key, other_name, other_key, ca=True)
    self_name = _name("Tự ký")
    self_cert = _cert(self_name, self_key, self_name, self_key, ca=False)
    tsa = _cert(_name("TSA thử nghiệm"), tsa_key, root_name, root_key, ca=False,
                eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    enc = serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    p12 = d / "ubnd.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"ubnd", signer_key, signer, [root], enc))
    self_p12 = d / "self.p12"
    self_p12.write_bytes(pkcs12.serialize_key_and_certificates(b"self", self_key, self_cert, None, enc))
    out = _MADE["pki"] = Pki(d, _pem(d / "root.pem", root), _pem(d / "signer.pem", signer),
                             _key_pem(d / "signer.key", signer_key), p12, _pem(d / "other-root.pem", other), self_p12,
                             _pem(d / "tsa.pem", tsa), _key_pem(d / "tsa.key", tsa_key))
    return out


@pytest.fixture(scope="session", name="token")
def token_fixture(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Initialise a SoftHSM2 token in its own directory, with the signer's key pair and certificate (once)."""
    if "token" in _MADE:
        made: Path = _MADE["token"]
        return made
    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    # SoftHSM reads SOFTHSM2_CONF when the module is initialised: set before anything in this process loads it,
    # and kept for the rest of the process (the loaded library keeps reading that directory).
    os.environ["SOFTHSM2_CONF"] = str(conf)
    env = {**os.environ}

    def util(*args: str) -> None:
        subprocess.run(["softhsm2-util", *args], check=True, env=env, capture_output=True, timeout=30)

    util("--init-token", "--free", "--label", TOKEN_LABEL, "--so-pin", "13579", "--pin", TOKEN_PIN)
    util("--import", str(pki.signer_key_pem), "--token", TOKEN_LABEL, "--label", KEY_LABEL, "--id", "a1",
         "--pin", TOKEN_PIN)
    # The certificate goes onto the token through the PKCS#11 API itself (softhsm2-util imports only keys).
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    cert = x509.load_pem_x509_certificate(pki.signer_cert_pem.read_bytes())
    lib = pkcs11.lib(str(SOFTHSM_MODULE))
    tok = lib.get_token(token_label=TOKEN_LABEL)
    with tok.open(rw=True, user_pin=TOKEN_PIN) as session:
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.LABEL: KEY_LABEL, Attribute.ID: bytes.fromhex("a1"),
            Attribute.SUBJECT: cert.subject.public_bytes(), Attribute.VALUE: cert.public_bytes(
                serialization.Encoding.DER),
        })
    _MADE["token"] = conf
    return conf


def p12_signer(pki: Pki, **kw: object) -> OfficeSigner:
    return OfficeSigner.from_config(SigningConfig(backend="pkcs12", pkcs12_file=pki.p12,
                                                  pkcs12_password=P12_PASSWORD, **kw))  # type: ignore[arg-type]


def p11_signer(pin: str = TOKEN_PIN) -> OfficeSigner:
    s = OfficeSigner.from_config(SigningConfig(backend="pkcs11", pkcs11_module=SOFTHSM_MODULE,
                                               token_label=TOKEN_LABEL, key_label=KEY_LABEL, pin=pin))  # type: ignore[arg-type]
    assert s is not None
    return s


@pytest.fixture(scope="session", name="nssdb")
def nssdb_fixture(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return an NSS database (poppler's certificate store) that trusts the test root."""
    d = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{d}", "--empty-password"], check=True, capture_output=True,
                   timeout=30)
    subprocess.run(["certutil", "-A", "-d", f"sql:{d}", "-n", "ca-thu-nghiem", "-t", "CT,C,C", "-i",
                    str(pki.root_pem)], check=True, capture_output=True, timeout=30)
    return f"sql:{d}"


def pdfsig(path: Path, nssdb: str) -> str:
    r = subprocess.run(["pdfsig", "-nssdir", nssdb, str(path)], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
