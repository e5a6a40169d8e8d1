"""Digital signatures of the server's records: PAdES PDFs (minutes) and signed CCTV evidence manifests.

The API the meeting minutes and the exports call:

- ``OfficeSigner.from_config(cfg.signing)`` -> the organisation's signer (PKCS#12 file or PKCS#11 token), or None.
- ``await sign_pdf_async(pdf, signer, reason=..., location=..., field_name=...)`` -> signed PDF bytes.
- ``export_manifest(export, camera_name=..., reason=..., timezone=...)`` -> manifest dict;
  ``await write_signed_manifest_async(export_dir, manifest, signer)`` -> the manifest and its ``.p7s``.
- ``await verify_async(path, trust_roots)`` -> ``VerifyResult`` (``mediaserver verify`` prints it).
"""

from recordings.signing.manifest import (
    SignedManifest,
    export_manifest,
    manifest_bytes,
    sign_manifest,
    sign_manifest_async,
    write_signed_manifest,
    write_signed_manifest_async,
)
from recordings.signing.pades import StampPlacement, sign_pdf, sign_pdf_async
from recordings.signing.signer import CertSummary, OfficeSigner, SigningError, load_certificates
from recordings.signing.verify import FileCheck, VerifyResult, verify, verify_async

__all__ = [
    "CertSummary", "FileCheck", "OfficeSigner", "SignedManifest", "SigningError", "StampPlacement",
    "VerifyResult",
    "export_manifest", "load_certificates", "manifest_bytes", "sign_manifest", "sign_manifest_async", "sign_pdf",
    "sign_pdf_async", "verify", "verify_async", "write_signed_manifest", "write_signed_manifest_async",
]
