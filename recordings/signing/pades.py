"""PAdES signatures of PDF documents (minutes, reports): B-B, or B-T when a timestamp authority is configured.

The signature is an invisible signature field with the PAdES sub-filter (``ETSI.CAdES.detached``), SHA-256, the
signing time in the signature dictionary (``/M``) and, with a TSA, an RFC 3161 signature timestamp: what Adobe
Reader and the Vietnamese signing tools (VGCA, Viettel-CA, …) check. The document is appended to (an
incremental update), so a PDF that already carries signatures keeps them valid.
"""

from __future__ import annotations

import asyncio
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from recordings.signing.signer import OfficeSigner, SigningError

DIGEST = "sha256"
DEFAULT_FIELD = "ChuKySo"
# A PDF bigger than this is not a record this server signs (minutes are ~100 kB); bounds the memory of a copy.
MAX_PDF_BYTES = 200 * 1024 * 1024


def sign_pdf(in_bytes: bytes, signer: OfficeSigner, *, reason: str, location: str,
             field_name: str = DEFAULT_FIELD, contact: str | None = None) -> bytes:
    """Return ``in_bytes`` with a PAdES signature appended (blocking: run it in a thread, see ``sign_pdf_async``)."""
    if len(in_bytes) > MAX_PDF_BYTES:
        raise SigningError("signing_pdf_too_large", f"PDF of {len(in_bytes)} bytes exceeds {MAX_PDF_BYTES}")
    if not in_bytes.lstrip()[:5] == b"%PDF-":
        raise SigningError("signing_not_pdf", "the document to sign is not a PDF")
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, reason=reason or None, location=location or None, contact_info=contact,
        md_algorithm=DIGEST, subfilter=SigSeedSubFilter.PADES,
    )
    try:
        writer = IncrementalPdfFileWriter(BytesIO(in_bytes), strict=False)
        with signer.open() as s:
            pdf_signer = signers.PdfSigner(meta, s, timestamper=signer.timestamper())
            # A fresh event loop in this worker thread: pyHanko's signing (and its TSA client) is async inside.
            out = asyncio.run(pdf_signer.async_sign_pdf(writer))
    except (PyHankoSigningError, TimestampRequestError) as exc:
        raise SigningError("signing_failed", f"cannot sign the PDF: {exc}") from exc
    except PdfError as exc:
        raise SigningError("signing_not_pdf", f"the PDF cannot be read: {exc}") from exc
    data: bytes = out.getvalue()
    return data


async def sign_pdf_async(in_bytes: bytes, signer: OfficeSigner, *, reason: str, location: str,
                         field_name: str = DEFAULT_FIELD, contact: str | None = None) -> bytes:
    """Sign a PDF in a worker thread (the event loop never waits on the token or the TSA)."""
    return await asyncio.to_thread(sign_pdf, in_bytes, signer, reason=reason, location=location,
                                   field_name=field_name, contact=contact)
