"""Detached CMS signatures over CCTV evidence manifests, so an export verifies off-line, without this server.

An export's manifest is a JSON document naming each exported file with its size and SHA-256, the camera, the
time range (UTC and local), its footage coverage, who exported it and why. ``write_signed_manifest`` writes it
next to the export file as ``<export>.manifest.json`` with its detached CMS signature (DER) in
``<export>.manifest.json.p7s``; the file names in it are relative to that directory, so the three files can be
copied together (to a USB stick, to a court) and still verify with ``mediaserver verify``, or with any CMS tool
(``openssl cms -verify -binary -inform DER -in X.p7s -content X.manifest.json``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from mediaserver import __version__
from mediaserver.config import DEFAULT_TIMEZONE
from mediaserver.storage.repos import Export
from recordings.export import file_sha256
from recordings.signing.signer import OfficeSigner, SigningError

MANIFEST_FORMAT = "mediaserver-evidence-manifest"
MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
SIGNATURE_SUFFIX = ".p7s"
DIGEST = "sha256"


def _iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_local(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")


def export_manifest(export: Export, *, camera_name: str | None = None, reason: str | None = None,
                    exported_by: str | None = None, timezone: str = DEFAULT_TIMEZONE,
                    extra_files: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Return the manifest of a finished export (file, SHA-256, camera, range, who and why).

    ``exported_by`` defaults to the export's ``created_by``; ``extra_files`` adds more files of the same
    directory as ``{"name", "bytes", "sha256"}`` (e.g. a snapshot or a report exported with it).
    """
    if export.status != "done" or not export.path or not export.sha256 or export.bytes is None:
        raise SigningError("signing_export_not_done", f"export {export.id} is {export.status}, not done")
    zone = ZoneInfo(timezone)
    files = [{"name": Path(export.path).name, "bytes": export.bytes, "sha256": export.sha256}]
    files += [{"name": str(f["name"]), "bytes": int(f["bytes"]), "sha256": str(f["sha256"]).lower()}
              for f in extra_files]
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "export_id": export.id,
        "camera": {"id": export.camera_id, "name": camera_name},
        "range": {
            "start": _iso_utc(export.start_at), "end": _iso_utc(export.end_at),
            "start_local": _iso_local(export.start_at, zone), "end_local": _iso_local(export.end_at, zone),
            "timezone": timezone,
        },
        "coverage": {
            "covered_s": export.covered_s, "missing_s": export.missing_s,
            "gaps": [[_iso_utc(a), _iso_utc(b)] for a, b in export.gaps],
        },
        "exported_by": exported_by or export.created_by,
        "reason": reason,
        "created_at": _iso_utc(export.created_at),
        "finished_at": _iso_utc(export.finished_at) if export.finished_at is not None else None,
        "files": files,
        "generator": f"mediaserver {__version__}",
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Serialise a manifest as the exact bytes that are signed (UTF-8 JSON, Vietnamese kept readable)."""
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()


def sign_manifest(data: bytes, signer: OfficeSigner) -> bytes:
    """Return a detached CMS signature (DER) over ``data`` (blocking: run it in a thread).

    CAdES-style signed attributes: content type, message digest, signing time and the signing certificate
    (v2); with a TSA configured, an RFC 3161 signature timestamp is added as an unsigned attribute.
    """
    try:
        with signer.open() as s:
            # A fresh event loop in this worker thread: pyHanko's CMS signing (and its TSA client) is async inside.
            ci = asyncio.run(s.async_sign_general_data(data, DIGEST, detached=True, use_cades=True,
                                                       timestamper=signer.timestamper()))
    except (PyHankoSigningError, TimestampRequestError) as exc:
        raise SigningError("signing_failed", f"cannot sign the manifest: {exc}") from exc
    der: bytes = ci.dump()
    return der


async def sign_manifest_async(data: bytes, signer: OfficeSigner) -> bytes:
    """Sign manifest bytes in a worker thread."""
    return await asyncio.to_thread(sign_manifest, data, signer)


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """Where a signed manifest was written."""

    manifest_path: Path
    signature_path: Path


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_signed_manifest(export_dir: Path, manifest: Mapping[str, Any], signer: OfficeSigner, *,
                          name: str | None = None, check_files: bool = True) -> SignedManifest:
    """Write ``<name>`` (default ``<first file>.manifest.json``) and its ``.p7s`` into ``export_dir`` (blocking).

    With ``check_files`` every listed file is hashed first: a manifest that does not match the files is
    refused, never signed.
    """
    files = manifest.get("files") or []
    if not files:
        raise SigningError("signing_manifest_mismatch", "the manifest lists no file")
    if check_files:
        for f in files:
            path = export_dir / str(f["name"])
            if Path(str(f["name"])).name != f["name"] or not path.is_file():
                raise SigningError("signing_manifest_mismatch", f"{f['name']} is not a file in {export_dir}")
            if file_sha256(path) != f["sha256"]:
                raise SigningError("signing_manifest_mismatch",
                                   f"{f['name']}: its SHA-256 differs from the export record's")
    name = name or f"{files[0]['name']}{MANIFEST_SUFFIX}"
    data = manifest_bytes(manifest)
    der = sign_manifest(data, signer)
    out = SignedManifest(export_dir / name, export_dir / (name + SIGNATURE_SUFFIX))
    # The signature first: a manifest never appears without its signature next to it.
    _write_atomic(out.signature_path, der)
    _write_atomic(out.manifest_path, data)
    return out


async def write_signed_manifest_async(export_dir: Path, manifest: Mapping[str, Any], signer: OfficeSigner, *,
                                      name: str | None = None, check_files: bool = True) -> SignedManifest:
    """Hash, sign and write an export's manifest in a worker thread."""
    return await asyncio.to_thread(write_signed_manifest, export_dir, manifest, signer, name=name,
                                   check_files=check_files)
