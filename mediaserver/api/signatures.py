"""Routes: signed evidence exports (the manifest and its .p7s, their check) and checking an uploaded signed record.

Every check answers in words (``summary_vi`` / ``summary_en``): who signed, when, whether anything changed,
and whether the certificate chains to a CA this server trusts (``signing.trust_roots``, plus the demo CA when
``signing.backend`` is demo). Uploads are streamed to a private temporary folder in chunks (a video export is
gigabytes), checked with the same ``verify_async`` as ``mediaserver verify``, and removed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field

from mediaserver.api.errors import ApiError
from mediaserver.api.recordings import FOOTAGE_ROLES
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFIG_KEY, EXPORTER_KEY, STORE_KEY
from mediaserver.auth import STAFF_ROLES
from mediaserver.storage.repos import Export
from recordings.signing import VerifyResult, verify_async
from recordings.signing.manifest import MANIFEST_SUFFIX, SIGNATURE_SUFFIX
from recordings.signing.office import DEMO_CA_CN, SIGNING_KEY

# An uploaded record and its files together (a day's export of one camera is a few GB).
MAX_UPLOAD_BYTES = 16 * 1024**3
MAX_UPLOAD_FILES = 8
UPLOAD_CHUNK_BYTES = 1 << 20
UPLOAD_DIR = "verify-uploads"


class FileCheckOut(BaseModel):
    name: str
    ok: bool
    expected_sha256: str
    actual_sha256: str | None = Field(..., description="None: the file is missing.")


class VerifyOut(BaseModel):
    kind: Literal["pdf", "export"]
    valid: bool = Field(..., description="Intact and not refused by the trust roots.")
    intact: bool = Field(..., description="Nothing the signature covers changed, and the signature is sound.")
    trust: Literal["trusted", "untrusted", "unchecked"]
    signer: str | None = Field(..., description="The certificate's CN and O.")
    issuer: str | None = Field(..., description="The CA that issued the certificate (its CN).")
    serial: str | None
    demo: bool = Field(..., description="Signed with this server's test-only demo certificate (CHỈ DÙNG THỬ).")
    signing_time: str | None = Field(..., description="As the signer states it, ISO 8601.")
    signing_time_vi: str | None = Field(..., description="In the office's time zone: 14:03:21 07/12/2026.")
    timestamp: str | None = Field(..., description="RFC 3161 timestamp, ISO 8601, when present.")
    problem: str | None = Field(..., description="What is wrong (verify.PROBLEMS code), or the trust warning.")
    reason_vi: str
    reason_en: str
    summary_vi: str = Field(..., description="The verdict in one Vietnamese sentence.")
    summary_en: str
    signatures: int = Field(..., description="PDF: how many signatures it carries.")
    files: list[FileCheckOut] = Field(default_factory=list, description="Export: each listed file, checked.")
    camera: str | None = None
    range_local: str | None = None
    exported_by: str | None = None
    export_reason: str | None = None


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).strftime("%H:%M:%S %d/%m/%Y")


def verify_out(r: VerifyResult, timezone: str, demo_trusted: bool = False) -> VerifyOut:
    """Turn a verify result into the API's words."""
    zone = ZoneInfo(timezone)
    who = r.signer.display() if r.signer else None
    when = _local(r.signing_time, zone)
    demo = r.signer is not None and r.signer.issuer_common_name == DEMO_CA_CN
    if r.valid:
        vi = f"HỢP LỆ: chữ ký số đúng, nội dung không thay đổi sau khi ký. Người ký: {who}; ký lúc {when}."
        en = f"VALID: the signature is sound and nothing changed since signing. Signed by {who} at {when}."
        if r.trust == "unchecked":
            vi += " Chưa đối chiếu chứng thư với CA tin cậy."
            en += " The certificate was not checked against a trusted CA."
        if demo:
            vi += " Chứng thư CHỈ DÙNG THỬ, không có giá trị pháp lý."
            en += " The certificate is TEST-ONLY and has no legal value."
    else:
        vi = f"KHÔNG HỢP LỆ: {r.reason('vi')}."
        en = f"NOT VALID: {r.reason('en')}."
        if who:
            vi += f" Người ký ghi trong chữ ký: {who}."
            en += f" The signature names {who}."
    manifest = r.manifest or {}
    cam = manifest.get("camera") or {}
    rng = manifest.get("range") or {}
    return VerifyOut(
        kind=r.kind, valid=r.valid, intact=r.intact, trust=r.trust, signer=who,
        issuer=r.signer.issuer_common_name if r.signer else None, serial=r.signer.serial if r.signer else None,
        demo=demo, signing_time=r.signing_time.isoformat() if r.signing_time else None, signing_time_vi=when,
        timestamp=r.timestamp.isoformat() if r.timestamp else None, problem=r.problem, reason_vi=r.reason("vi"),
        reason_en=r.reason("en"), summary_vi=vi, summary_en=en, signatures=r.signatures,
        files=[FileCheckOut(name=f.name, ok=f.ok, expected_sha256=f.expected_sha256, actual_sha256=f.actual_sha256)
               for f in r.files],
        camera=(cam.get("name") or cam.get("id")) if cam else None,
        range_local=f"{rng.get('start_local')} → {rng.get('end_local')}" if rng else None,
        exported_by=manifest.get("exported_by"), export_reason=manifest.get("reason"))


class ExportSignatureOut(BaseModel):
    export_id: str
    signed: bool = Field(..., description="A signed manifest lies beside the export.")
    manifest_name: str | None
    signature_name: str | None
    manifest_url: str | None = Field(..., description="GET with the bearer token.")
    signature_url: str | None
    error_code: str | None = Field(..., description="Why the manifest was not signed, when it failed.")
    error_message: str | None


def _manifest_paths(ctx: Ctx, export: Export) -> tuple[Path, Path] | None:
    path = ctx.app[EXPORTER_KEY].path_of(export)
    if path is None:
        return None
    manifest = path.with_name(path.name + MANIFEST_SUFFIX)
    return manifest, manifest.with_name(manifest.name + SIGNATURE_SUFFIX)


async def _export(ctx: Ctx) -> Export:
    export = await ctx.app[STORE_KEY].exports.get(ctx.param("export_id"))
    if export is None:
        raise ApiError(404, "not_found", f"no export {ctx.param('export_id')!r}")
    return export


async def _signed_paths(ctx: Ctx) -> tuple[Export, Path, Path]:
    export = await _export(ctx)
    paths = _manifest_paths(ctx, export)
    if paths is None or not await asyncio.to_thread(paths[1].is_file):
        raise ApiError(404, "export_not_signed", f"export {export.id} has no signed manifest")
    return export, paths[0], paths[1]


async def _save_upload(request: web.Request, folder: Path) -> list[str]:
    """Stream every file part of a multipart upload into ``folder``; return the names written."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError) as exc:  # not multipart, or no boundary
        raise ApiError(415, "unsupported_media_type", f"send the files as multipart/form-data: {exc}") from exc
    names: list[str] = []
    total = 0
    while True:
        try:
            part = await reader.next()
        except (ValueError, HttpProcessingError) as exc:  # a garbled part header or boundary
            raise ApiError(422, "invalid_input", f"the upload is not valid multipart: {exc}") from exc
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.filename:
            continue
        # Only the plain name: a signed manifest names its files relative to itself, so they must sit together.
        # Percent-decoded: browsers escape '"' and line breaks as %22/%0D/%0A, aiohttp's client every non-ASCII
        # byte and '+' — a manifest names "cong-chinh_20261207T143000+0700_….mp4".
        name = Path(unquote(part.filename).replace("\\", "/")).name
        if not name or name.startswith(".") or name in names:
            raise ApiError(422, "invalid_input", f"file name {part.filename!r} is empty, hidden or given twice",
                           "files")
        if len(names) >= MAX_UPLOAD_FILES:
            raise ApiError(422, "invalid_input", f"at most {MAX_UPLOAD_FILES} files", "files")
        names.append(name)
        f = await asyncio.to_thread((folder / name).open, "wb")
        try:
            while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
                total += len(chunk)
                if total > MAX_UPLOAD_BYTES:
                    raise ApiError(413, "body_too_large", f"the upload exceeds {MAX_UPLOAD_BYTES // 1024**3} GiB")
                await asyncio.to_thread(f.write, chunk)
        except (ValueError, HttpProcessingError) as exc:
            raise ApiError(422, "invalid_input", f"the upload is not valid multipart: {exc}") from exc
        finally:
            await asyncio.to_thread(f.close)
    if not names:
        raise ApiError(422, "invalid_input", "no file uploaded (a signed PDF, or a manifest with its .p7s)",
                       "files")
    return names


def _pick(folder: Path, names: list[str]) -> Path:
    """Return what to verify among uploaded files: the PDF, else the manifest (or its .p7s)."""
    pdfs = [n for n in names if n.lower().endswith(".pdf")]
    if len(pdfs) == 1 and len(names) == 1:
        return folder / pdfs[0]
    sigs = [n for n in names if n.endswith(SIGNATURE_SUFFIX)]
    manifests = [n for n in names if n.endswith(".json")]
    if len(sigs) == 1:
        return folder / sigs[0]
    if len(manifests) == 1:
        return folder / manifests[0]
    if len(pdfs) == 1:
        return folder / pdfs[0]
    raise ApiError(422, "verify_what", "upload one signed PDF, or one export's manifest (.json) with its .p7s "
                   "(and the files it lists)", "files")


def register(api: Api) -> None:
    """Add the signature routes."""

    @api.route("GET", "/api/v1/exports/{export_id}/signature", roles=FOOTAGE_ROLES, response=ExportSignatureOut,
               tag="recordings", summary="Whether an export has a signed manifest, and where to download it.")
    async def export_signature(ctx: Ctx) -> ExportSignatureOut:
        export = await _export(ctx)
        paths = _manifest_paths(ctx, export)
        signed = paths is not None and await asyncio.to_thread(paths[1].is_file)
        err = ctx.app[EXPORTER_KEY].sign_errors.get(export.id)
        base = f"/api/v1/exports/{export.id}"
        return ExportSignatureOut(
            export_id=export.id, signed=signed, manifest_name=paths[0].name if signed and paths else None,
            signature_name=paths[1].name if signed and paths else None,
            manifest_url=f"{base}/manifest" if signed else None,
            signature_url=f"{base}/manifest.p7s" if signed else None,
            error_code=err.code if err else None, error_message=err.message if err else None)

    @api.route("GET", "/api/v1/exports/{export_id}/manifest", roles=FOOTAGE_ROLES, content_type="application/json",
               tag="recordings", errors=(404,), summary="The export's signed manifest (the exact signed bytes).")
    async def export_manifest_file(ctx: Ctx) -> web.StreamResponse:
        export, manifest, _ = await _signed_paths(ctx)
        await ctx.audit("export.manifest", export.id, file=manifest.name)
        return web.FileResponse(manifest, headers={
            "Content-Type": "application/json", "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="{manifest.name}"'})

    @api.route("GET", "/api/v1/exports/{export_id}/manifest.p7s", roles=FOOTAGE_ROLES,
               content_type="application/pkcs7-signature", tag="recordings", errors=(404,),
               summary="The manifest's detached CMS signature (DER).")
    async def export_signature_file(ctx: Ctx) -> web.StreamResponse:
        export, _, sig = await _signed_paths(ctx)
        await ctx.audit("export.manifest", export.id, file=sig.name)
        return web.FileResponse(sig, headers={
            "Content-Type": "application/pkcs7-signature", "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="{sig.name}"'})

    @api.route("GET", "/api/v1/exports/{export_id}/verify", roles=FOOTAGE_ROLES, response=VerifyOut,
               tag="recordings", errors=(404,),
               summary="Check the export's signed manifest and its file: who signed, when, whether anything changed.")
    async def export_verify(ctx: Ctx) -> VerifyOut:
        _, manifest, _ = await _signed_paths(ctx)
        signing = ctx.app[SIGNING_KEY].current
        result = await verify_async(manifest, signing.trust_roots)
        return verify_out(result, ctx.app[CONFIG_KEY].timezone)

    @api.route("POST", "/api/v1/verify", roles=STAFF_ROLES, response=VerifyOut, tag="recordings",
               errors=(413, 415, 422), upload=("multipart/form-data",),
               upload_description="A signed minutes PDF; or an export's manifest (.json), its .p7s and the files "
                                  "it lists (each part a file; its name kept)",
               summary="Check an uploaded signed record: who signed, when, and whether anything changed.")
    async def verify_upload(ctx: Ctx) -> VerifyOut:
        data_dir = ctx.app[CONFIG_KEY].storage.data_dir
        base = data_dir / UPLOAD_DIR
        await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=base))
        try:
            names = await _save_upload(ctx.request, folder)
            target = _pick(folder, names)
            signing = ctx.app[SIGNING_KEY].current
            result = await verify_async(target, signing.trust_roots)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        await ctx.audit("signature.verify", target.name, valid=result.valid, problem=result.problem)
        out = verify_out(result, ctx.app[CONFIG_KEY].timezone)
        return out


__all__ = ["VerifyOut", "register", "verify_out"]
