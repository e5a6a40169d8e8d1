"""Check a signed record off-line: a PAdES-signed PDF, or an evidence export's signed manifest.

``verify(path, trust_roots)`` says who signed (subject CN and O), when (the signing time the signer states,
and the RFC 3161 timestamp if there is one), whether anything changed since (``intact``), and whether the
signer's certificate chains to one of the given trust roots. Every failure is a result with a plain reason,
never an exception: a damaged PDF, a broken signature, a file of the export whose SHA-256 differs, a
certificate from a self-signed or unknown CA. Without trust roots the chain is not judged (``trust`` is
``unchecked``): the signature can still prove that nothing changed, not who may be trusted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from asn1crypto import cms, x509  # type: ignore[import-untyped]
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_detached_cms, async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel, StandardCMSSignatureStatus
from pyhanko_certvalidator import ValidationContext

from recordings.export import file_sha256
from recordings.signing.manifest import MANIFEST_FORMAT, MANIFEST_SUFFIX, SIGNATURE_SUFFIX
from recordings.signing.signer import CertSummary

logger = logging.getLogger(__name__)

Trust = Literal["trusted", "untrusted", "unchecked"]

# What went wrong, in Vietnamese first and English; "{detail}" is the file or the library's words.
# not_found, no_manifest and ambiguous are the caller's mistakes (`mediaserver verify` exits 2 for them).
USAGE_PROBLEMS = frozenset({"not_found", "no_manifest", "ambiguous"})
PROBLEMS: dict[str, tuple[str, str]] = {
    "not_found": ("Không tìm thấy tệp {detail}", "File not found: {detail}"),
    "no_manifest": ("Thư mục {detail} không có bản kê đã ký", "The folder {detail} holds no signed manifest"),
    "ambiguous": ("Thư mục có nhiều bản kê, hãy chỉ rõ một: {detail}",
                  "The folder holds several manifests; name one: {detail}"),
    "not_signed": ("Tệp không có chữ ký số", "The file carries no digital signature"),
    "unreadable": ("Tệp bị hỏng, không đọc được: {detail}", "The file is damaged and cannot be read: {detail}"),
    "content_changed": ("Nội dung đã bị thay đổi sau khi ký", "The content was changed after it was signed"),
    "changed_after_signing": ("Tệp đã bị sửa thêm sau khi ký", "The file was modified after it was signed"),
    "signature_broken": ("Chữ ký số bị hỏng hoặc giả mạo", "The signature is broken or forged"),
    "manifest_changed": ("Bản kê {detail} đã bị thay đổi sau khi ký",
                         "The manifest {detail} was changed after it was signed"),
    "signature_missing": ("Thiếu tệp chữ ký {detail}", "The signature file {detail} is missing"),
    "manifest_invalid": ("Bản kê không hợp lệ: {detail}", "The manifest is not valid: {detail}"),
    "file_missing": ("Thiếu tệp {detail} có trong bản kê", "The file {detail} listed in the manifest is missing"),
    "file_changed": ("Tệp {detail} đã bị thay đổi (SHA-256 khác bản kê)",
                     "The file {detail} was changed (its SHA-256 differs from the manifest)"),
    "untrusted": ("Chứng thư số không do CA tin cậy cấp ({detail})",
                  "The certificate is not issued by a trusted CA ({detail})"),
    "self_signed": ("Chứng thư số tự ký, không do CA tin cậy cấp",
                    "The certificate is self-signed, not issued by a trusted CA"),
}


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One file of an export, checked against its manifest entry."""

    name: str
    ok: bool
    expected_sha256: str
    actual_sha256: str | None  # None: missing


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking one signed record."""

    kind: Literal["pdf", "export"]
    path: Path
    intact: bool  # nothing covered by the signature changed, and the signature itself is sound
    trust: Trust
    signer: CertSummary | None = None
    signing_time: datetime | None = None  # as the signer states it
    timestamp: datetime | None = None  # from an RFC 3161 timestamp, when present
    problem: str | None = None  # a PROBLEMS code when not valid (or the trust warning when unchecked)
    detail: str = ""
    files: tuple[FileCheck, ...] = ()
    signatures: int = 0  # PDF: how many signatures it carries
    manifest: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        """Intact, and not refused by the trust roots (an unchecked chain is valid but reported)."""
        return self.intact and self.trust != "untrusted"

    def reason(self, lang: Literal["vi", "en"] = "vi") -> str:
        """Say in words what is wrong ("" when nothing is)."""
        if self.problem is None:
            return ""
        vi, en = PROBLEMS[self.problem]
        return (vi if lang == "vi" else en).format(detail=self.detail)


# _DAMAGED: a damaged file makes the PDF and ASN.1 parsers fail in many ways (PdfError, ValueError, but also
# NotImplementedError for a garbled filter name, AttributeError deep in pyHanko): found by flipping each of 300
# random bytes of a signed PDF. For a verifier every one of them means the same, "not valid", never a crash.


def _trust(status: StandardCMSSignatureStatus, roots: Sequence[x509.Certificate]) -> tuple[Trust, str | None, str]:
    if not roots:
        return "unchecked", None, ""
    if status.trusted:
        return "trusted", None, ""
    if status.signing_cert.self_signed != "no":
        return "untrusted", "self_signed", ""
    indic = status.trust_problem_indic
    return "untrusted", "untrusted", str(indic) if indic is not None else "no path to a trust root"


def _context(roots: Sequence[x509.Certificate]) -> ValidationContext:
    # Off-line: never fetch CRLs/OCSP or missing certificates (an evidence check must not depend on the
    # network); revocation is "soft-fail", so missing revocation data is not a failure.
    return ValidationContext(trust_roots=list(roots), allow_fetching=False, revocation_mode="soft-fail")


def _timing(status: StandardCMSSignatureStatus) -> tuple[datetime | None, datetime | None]:
    ts = status.timestamp_validity
    return status.signer_reported_dt, (ts.timestamp if ts is not None else None)


async def _verify_pdf(path: Path, data: bytes, roots: Sequence[x509.Certificate]) -> VerifyResult:
    def fail(problem: str, detail: str = "", **kw: Any) -> VerifyResult:
        return VerifyResult("pdf", path, False, "unchecked", problem=problem, detail=detail, **kw)

    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
    except Exception as exc:  # any parser failure: see _DAMAGED
        return fail("unreadable", str(exc) or type(exc).__name__)
    if not sigs:
        return fail("not_signed")
    last = None
    for i, sig in enumerate(sigs):
        try:
            status = await async_validate_pdf_signature(sig, signer_validation_context=_context(roots))
        except Exception as exc:  # any parser failure: see _DAMAGED
            # A flipped byte inside the signature's DER, or a damaged object, lands here.
            return fail("signature_broken", str(exc), signatures=len(sigs))
        signer = CertSummary.of(status.signing_cert)
        signing_time, timestamp = _timing(status)
        common: dict[str, Any] = {"signer": signer, "signing_time": signing_time, "timestamp": timestamp,
                                  "signatures": len(sigs)}
        if not status.intact:
            return fail("content_changed", **common)
        if not status.valid:
            return fail("signature_broken", **common)
        newest = i == len(sigs) - 1
        if newest and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            return fail("changed_after_signing", **common)
        if not newest and status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE,
                                                  SignatureCoverageLevel.ENTIRE_REVISION):
            return fail("changed_after_signing", **common)
        trust, problem, detail = _trust(status, roots)
        if trust == "untrusted":
            return VerifyResult("pdf", path, True, trust, problem=problem, detail=detail, **common)
        last = VerifyResult("pdf", path, True, trust, **common)
    assert last is not None
    return last


def _export_paths(path: Path) -> tuple[Path, Path] | str:
    """Return (manifest, signature) for a manifest, its signature or an export directory, or "problem:detail"."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir()
                       if p.name == "manifest.json" or p.name.endswith(MANIFEST_SUFFIX))
        if not found:
            return f"no_manifest:{path}"
        if len(found) > 1:
            return "ambiguous:" + ", ".join(p.name for p in found)
        path = found[0]
    if path.name.endswith(SIGNATURE_SUFFIX):
        return path.with_name(path.name[: -len(SIGNATURE_SUFFIX)]), path
    return path, path.with_name(path.name + SIGNATURE_SUFFIX)


async def _verify_export(manifest_path: Path, sig_path: Path, roots: Sequence[x509.Certificate]) -> VerifyResult:
    def fail(problem: str, detail: str = "", **kw: Any) -> VerifyResult:
        return VerifyResult("export", manifest_path, False, "unchecked", problem=problem, detail=detail, **kw)

    try:
        data = await asyncio.to_thread(manifest_path.read_bytes)
    except OSError:
        return fail("not_found", str(manifest_path))
    try:
        der = await asyncio.to_thread(sig_path.read_bytes)
    except OSError:
        return fail("signature_missing", sig_path.name)
    try:
        ci = cms.ContentInfo.load(der)
        if ci["content_type"].native != "signed_data":
            raise ValueError(f"a CMS {ci['content_type'].native}, not signed data")
        signed_data = ci["content"]
        status = await async_validate_detached_cms(data, signed_data, signer_validation_context=_context(roots))
    except Exception as exc:  # any parser failure: see _DAMAGED
        return fail("signature_broken", str(exc) or type(exc).__name__)
    signer = CertSummary.of(status.signing_cert)
    signing_time, timestamp = _timing(status)
    common: dict[str, Any] = {"signer": signer, "signing_time": signing_time, "timestamp": timestamp}
    if not status.intact:
        return fail("manifest_changed", manifest_path.name, **common)
    if not status.valid:
        return fail("signature_broken", **common)
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a {MANIFEST_FORMAT}")
        entries = [(str(f["name"]), str(f["sha256"]).lower()) for f in manifest["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        return fail("manifest_invalid", str(exc), **common)
    checks = await asyncio.to_thread(_check_files, manifest_path.parent, entries)
    common.update(files=tuple(checks), manifest=manifest)
    bad = next((c for c in checks if not c.ok), None)
    if bad is not None:
        return fail("file_missing" if bad.actual_sha256 is None else "file_changed", bad.name, **common)
    trust, problem, detail = _trust(status, roots)
    return VerifyResult("export", manifest_path, True, trust, problem=problem, detail=detail, **common)


def _check_files(folder: Path, entries: Sequence[tuple[str, str]]) -> list[FileCheck]:
    """Hash each listed file next to the manifest (blocking)."""
    checks: list[FileCheck] = []
    for name, expected in entries:
        target = folder / name
        # Names are plain file names next to the manifest: a signed "../x" must not make us hash other files.
        if Path(name).name != name or not target.is_file():
            checks.append(FileCheck(name, False, expected, None))
            continue
        actual = file_sha256(target)
        checks.append(FileCheck(name, actual == expected, expected, actual))
    return checks


def _classify(path: Path) -> tuple[Literal["pdf"], bytes] | tuple[Literal["export"], tuple[Path, Path]] | str:
    """Read a PDF, or find an export's manifest and signature (blocking); a string says what is wrong."""
    if not path.exists():
        return f"not_found:{path}"
    if path.is_file() and _head(path).startswith(b"%PDF-"):
        return "pdf", path.read_bytes()
    paths = _export_paths(path)
    return paths if isinstance(paths, str) else ("export", paths)


async def verify_async(path: Path, trust_roots: Sequence[x509.Certificate] = ()) -> VerifyResult:
    """Check a signed PDF, an export manifest (or its ``.p7s``), or a directory holding one export."""
    try:
        found = await asyncio.to_thread(_classify, path)
    except OSError as exc:
        return VerifyResult("pdf", path, False, "unchecked", problem="unreadable", detail=str(exc))
    if isinstance(found, str):
        problem, _, detail = found.partition(":")
        return VerifyResult("export", path, False, "unchecked", problem=problem, detail=detail)
    if found[0] == "pdf":
        return await _verify_pdf(path, found[1], trust_roots)
    manifest_path, sig_path = found[1]
    return await _verify_export(manifest_path, sig_path, trust_roots)


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(1024).lstrip()


def verify(path: Path, trust_roots: Sequence[x509.Certificate] = ()) -> VerifyResult:
    """Check a signed record (blocking; from async code use ``verify_async``)."""
    return asyncio.run(verify_async(path, trust_roots))
