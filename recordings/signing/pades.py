"""PAdES signatures of PDF documents (minutes, reports): B-B, or B-T when a timestamp authority is configured.

The signature is an invisible signature field with the PAdES sub-filter (``ETSI.CAdES.detached``), SHA-256, the
signing time in the signature dictionary (``/M``) and, with a TSA, an RFC 3161 signature timestamp: what Adobe
Reader and the Vietnamese signing tools (VGCA, Viettel-CA, …) check. The document is appended to (an
incremental update), so a PDF that already carries signatures keeps them valid.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle

from mediaserver.config import DEFAULT_TIMEZONE
from recordings.signing.signer import OfficeSigner, SigningError

DIGEST = "sha256"
DEFAULT_FIELD = "ChuKySo"
# Noto Sans has every Vietnamese letter; Debian's fonts-noto-core installs it (scripts/install-system-deps.sh).
STAMP_FONT = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
# %(signer)s is the certificate's CN; %(ts_local)s the signing time in the office's zone (pyHanko's %(ts)s is UTC).
STAMP_TEXT = "Ký bởi: %(signer)s\nThời gian ký: %(ts_local)s"
STAMP_TIME_FORMAT = "%H:%M:%S %d/%m/%Y (UTC%z)"


@dataclass(frozen=True, slots=True)
class StampPlacement:
    """Where a visible signature block goes: page index (-1 = last) and box (x1, y1, x2, y2 in points)."""

    page: int = -1
    box: tuple[int, int, int, int] = (330, 36, 560, 96)
    font_file: Path = STAMP_FONT
    font_size_pt: int = 9
    timezone: str = DEFAULT_TIMEZONE


@dataclass
class _FontBytes(FontEngineFactory):
    """A font engine factory that reads the font once (pyHanko's own leaves the file open)."""

    font: bytes
    font_size: int

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> GlyphAccumulator:
        return GlyphAccumulator(writer=writer, font_handle=BytesIO(self.font), font_size=self.font_size)


def _stamp(placement: StampPlacement) -> tuple[TextStampStyle, Callable[[str], SigFieldSpec]]:
    try:
        font = placement.font_file.read_bytes()
    except OSError as exc:
        raise SigningError("signing_config", f"stamp font {placement.font_file}: {exc.strerror}") from exc
    style = TextStampStyle(
        stamp_text=STAMP_TEXT, timestamp_format=STAMP_TIME_FORMAT, border_width=1,
        text_box_style=TextBoxStyle(font=_FontBytes(font, placement.font_size_pt), font_size=placement.font_size_pt),
    )
    return style, lambda name: SigFieldSpec(name, on_page=placement.page, box=placement.box)
# A PDF bigger than this is not a record this server signs (minutes are ~100 kB); bounds the memory of a copy.
MAX_PDF_BYTES = 200 * 1024 * 1024


def sign_pdf(in_bytes: bytes, signer: OfficeSigner, *, reason: str, location: str,
             field_name: str = DEFAULT_FIELD, contact: str | None = None,
             stamp: StampPlacement | None = None) -> bytes:
    """Return ``in_bytes`` with a PAdES signature appended (blocking: run it in a thread, see ``sign_pdf_async``).

    Without ``stamp`` the signature is invisible (readers list it in their signature panel); with it, a block
    "Ký bởi: <CN>, Thời gian ký: …" is drawn in the given box.
    """
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
            style, spec = _stamp(stamp) if stamp is not None else (None, None)
            pdf_signer = signers.PdfSigner(meta, s, timestamper=signer.timestamper(), stamp_style=style,
                                           new_field_spec=spec(field_name) if spec is not None else None)
            # A fresh event loop in this worker thread: pyHanko's signing (and its TSA client) is async inside.
            params = None
            if stamp is not None:
                params = {"ts_local": datetime.now(ZoneInfo(stamp.timezone)).strftime(STAMP_TIME_FORMAT)}
            out = asyncio.run(pdf_signer.async_sign_pdf(writer, appearance_text_params=params))
    except (PyHankoSigningError, TimestampRequestError) as exc:
        raise SigningError("signing_failed", f"cannot sign the PDF: {exc}") from exc
    except PdfError as exc:
        raise SigningError("signing_not_pdf", f"the PDF cannot be read: {exc}") from exc
    data: bytes = out.getvalue()
    return data


async def sign_pdf_async(in_bytes: bytes, signer: OfficeSigner, *, reason: str, location: str,
                         field_name: str = DEFAULT_FIELD, contact: str | None = None,
                         stamp: StampPlacement | None = None) -> bytes:
    """Sign a PDF in a worker thread (the event loop never waits on the token or the TSA)."""
    return await asyncio.to_thread(sign_pdf, in_bytes, signer, reason=reason, location=location,
                                   field_name=field_name, contact=contact, stamp=stamp)
