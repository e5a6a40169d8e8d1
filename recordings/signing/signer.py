"""The organisation's signer: a PKCS#12 file or a PKCS#11 token, opened for one signing operation at a time.

Signing is blocking work (a USB token takes 0.1–2 s per signature, and a PIN-protected session must be opened
and closed around it), so every operation here runs in a worker thread; the async wrappers in ``pades`` and
``manifest`` hand it to ``asyncio.to_thread``. A token is a single device: ``OfficeSigner.lock`` makes the
operations of one signer take turns. A PKCS#11 session is opened per operation and closed after it, so a token
unplugged and plugged back in works again at the next signature, and no session outlives a request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import pem, x509  # type: ignore[import-untyped]
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper

from mediaserver.config import SigningConfig
from mediaserver.errors import CodedError

logger = logging.getLogger(__name__)


class SigningError(CodedError):
    """Signing could not be done: ``code`` says why (``signing_*``), ``message`` in words for the operator."""


@dataclass(frozen=True, slots=True)
class CertSummary:
    """Who a certificate names, for display."""

    common_name: str | None
    organization: str | None
    serial: str
    not_before: datetime
    not_after: datetime
    issuer_common_name: str | None
    self_signed: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertSummary:
        """Summarise an asn1crypto certificate."""
        subj = cert.subject.native
        issuer = cert.issuer.native
        validity = cert["tbs_certificate"]["validity"]
        return cls(subj.get("common_name"), subj.get("organization_name"), format(cert.serial_number, "x"),
                   validity["not_before"].native, validity["not_after"].native, issuer.get("common_name"),
                   cert.self_signed != "no")

    def display(self) -> str:
        """Return "CN, O" (whichever are present)."""
        return ", ".join(p for p in (self.common_name, self.organization) if p) or "?"


def load_certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    """Read CA certificates from PEM (one or more per file) or DER files (blocking)."""
    out: list[x509.Certificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError("signing_config", f"cannot read certificate file {path}: {exc.strerror}") \
                from exc
        try:
            if pem.detect(data):
                out.extend(x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True))
            else:
                cert = x509.Certificate.load(data)
                cert.native  # noqa: B018 — parse it now, so a bad file fails here, by name
                out.append(cert)
        except (ValueError, TypeError) as exc:
            raise SigningError("signing_config", f"{path} is not a PEM or DER certificate: {exc}") from exc
    return out


@dataclass(frozen=True, slots=True)
class _Pkcs11Spec:
    module: Path
    token_label: str
    key_label: str | None
    key_id: bytes | None
    pin: str | None


class OfficeSigner:
    """A signing key and certificate (PKCS#12 or PKCS#11), with the chain to embed and an optional TSA."""

    def __init__(self, *, pkcs12: signers.SimpleSigner | None = None, pkcs11: _Pkcs11Spec | None = None,
                 chain: Sequence[x509.Certificate] = (), tsa_url: str | None = None,
                 tsa_timeout_s: float = 15.0) -> None:
        if (pkcs12 is None) == (pkcs11 is None):
            raise ValueError("exactly one of pkcs12 and pkcs11")
        self._pkcs12 = pkcs12
        self._pkcs11 = pkcs11
        self.chain = tuple(chain)
        self.tsa_url = tsa_url
        self.tsa_timeout_s = tsa_timeout_s
        self.lock = threading.Lock()
        if pkcs12 is not None:
            pkcs12.cert_registry.register_multiple(self.chain)

    @property
    def kind(self) -> str:
        """``pkcs12`` or ``pkcs11``."""
        return "pkcs12" if self._pkcs12 is not None else "pkcs11"

    @classmethod
    def from_pkcs12(cls, path: Path, password: str | None, *, chain_files: Sequence[Path] = (),
                    tsa_url: str | None = None, tsa_timeout_s: float = 15.0) -> OfficeSigner:
        """Load a PKCS#12 file (blocking); a wrong password or a damaged file is a ``SigningError``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError("signing_key_unreadable", f"cannot read PKCS#12 file {path}: {exc.strerror}") from exc
        try:
            simple = signers.SimpleSigner.load_pkcs12_data(
                data, other_certs=(), passphrase=password.encode() if password is not None else None)
        except ValueError as exc:
            raise SigningError(
                "signing_key_unreadable",
                f"{path}: not a PKCS#12 file, or the password (signing.pkcs12_password) is wrong") from exc
        return cls(pkcs12=simple, chain=load_certificates(chain_files), tsa_url=tsa_url, tsa_timeout_s=tsa_timeout_s)

    @classmethod
    def from_pkcs11(cls, module: Path, token_label: str, *, key_label: str | None = None,
                    key_id: bytes | None = None, pin: str | None = None, chain_files: Sequence[Path] = (),
                    tsa_url: str | None = None, tsa_timeout_s: float = 15.0) -> OfficeSigner:
        """Describe a key on a PKCS#11 token; nothing is opened until the first signature (or ``check``)."""
        if key_label is None and key_id is None:
            raise SigningError("signing_config", "a PKCS#11 signer needs key_label or key_id")
        spec = _Pkcs11Spec(module, token_label, key_label, key_id, pin)
        return cls(pkcs11=spec, chain=load_certificates(chain_files), tsa_url=tsa_url, tsa_timeout_s=tsa_timeout_s)

    @classmethod
    def from_config(cls, cfg: SigningConfig) -> OfficeSigner | None:
        """Build the configured signer (blocking for PKCS#12); None when signing is off."""
        pw = cfg.pkcs12_password.get_secret_value() if cfg.pkcs12_password is not None else None
        if cfg.backend == "pkcs12":
            assert cfg.pkcs12_file is not None  # the config requires it
            return cls.from_pkcs12(cfg.pkcs12_file, pw, chain_files=cfg.chain_files, tsa_url=cfg.tsa_url,
                                   tsa_timeout_s=cfg.tsa_timeout_s)
        if cfg.backend == "pkcs11":
            assert cfg.pkcs11_module is not None and cfg.token_label is not None
            return cls.from_pkcs11(
                cfg.pkcs11_module, cfg.token_label, key_label=cfg.key_label,
                key_id=bytes.fromhex(cfg.key_id) if cfg.key_id else None,
                pin=cfg.pin.get_secret_value() if cfg.pin is not None else None,
                chain_files=cfg.chain_files, tsa_url=cfg.tsa_url, tsa_timeout_s=cfg.tsa_timeout_s)
        return None

    def timestamper(self) -> TimeStamper | None:
        """Return an RFC 3161 client for the configured TSA, or None."""
        if self.tsa_url is None:
            return None
        return HTTPTimeStamper(self.tsa_url, timeout=self.tsa_timeout_s)

    @contextlib.contextmanager
    def open(self) -> Iterator[signers.Signer]:
        """Hold the signer for one operation (blocking: opens and closes a token session); run it in a thread."""
        with self.lock:
            if self._pkcs12 is not None:
                yield self._pkcs12
                return
            assert self._pkcs11 is not None
            with self._pkcs11_session(self._pkcs11) as signer:
                yield signer

    def certificate(self) -> CertSummary:
        """Return the signing certificate's summary (blocking: reads it from the token when PKCS#11)."""
        with self.open() as s:
            cert = s.signing_cert
            if cert is None:
                raise SigningError("signing_key_not_found", "the signer has no certificate")
            return CertSummary.of(cert)

    def _pkcs11_session(self, spec: _Pkcs11Spec) -> contextlib.AbstractContextManager[signers.Signer]:
        # Imported here: python-pkcs11 loads a native module, needed only when a token is configured.
        import pkcs11
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign import pkcs11 as p11

        @contextlib.contextmanager
        def session() -> Iterator[signers.Signer]:
            try:
                sess = p11.open_pkcs11_session(
                    str(spec.module), token_criteria=TokenCriteria(label=spec.token_label),
                    user_pin=spec.pin)
            except pkcs11.exceptions.PinIncorrect as exc:
                raise SigningError("signing_pin_incorrect",
                                   f"token {spec.token_label!r}: the PIN (signing.pin) is wrong") from exc
            except pkcs11.exceptions.PinLocked as exc:
                raise SigningError("signing_pin_locked", f"token {spec.token_label!r}: the PIN is locked") from exc
            except (pkcs11.exceptions.PKCS11Error, OSError, RuntimeError) as exc:
                raise SigningError(
                    "signing_token_unavailable",
                    f"token {spec.token_label!r} via {spec.module}: {exc or type(exc).__name__}"
                    " (is the token plugged in, and signing.token_label its label?)") from exc
            try:
                signer = p11.PKCS11Signer(sess, key_label=spec.key_label, key_id=spec.key_id,
                                          cert_label=spec.key_label, cert_id=spec.key_id, ca_chain=self.chain)
                try:
                    signer.signing_cert  # noqa: B018 — load key and certificate now, to fail with a clear message
                except pkcs11.exceptions.PKCS11Error as exc:
                    what = spec.key_label if spec.key_label is not None else (spec.key_id or b"").hex()
                    raise SigningError(
                        "signing_key_not_found",
                        f"token {spec.token_label!r} has no key and certificate {what!r}: {exc}") from exc
                yield signer
            finally:
                sess.close()

        return session()
