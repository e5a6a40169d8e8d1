"""Meeting documents' files: what an upload really is (by its bytes, then a real parse), and storing it.

A document is accepted only if its first bytes say PDF, JPEG or PNG *and* it parses as one: a PDF opens with
pyHanko's reader (header, cross-reference table and trailer, page tree) and is not password-protected; an image
decodes fully with Pillow. So a renamed executable, archive or Office file is refused with what it really is.
Every step that touches the disk or parses runs in a worker thread, never on the event loop.

Files live at ``data_dir/documents/<meeting_id>/<sha256>.<ext>``, written to a temporary name in the same
directory, flushed to disk, then renamed: a crash leaves either the whole file or none of it under its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

from mediaserver.storage.documents import DOCUMENT_EXTENSIONS

MB_BYTES = 1_000_000
MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; larger is a decompression bomb, not a slide
HEAD_BYTES = 1024  # a PDF's %PDF- header may follow up to 1 KiB of junk (PDF 32000-1, annex H)
WRITE_BATCH_BYTES = 1 << 20  # bytes gathered before one hop to the writer thread

# What a refused file's first bytes say it is (the error names it).
_FOREIGN = (
    (b"\x7fELF", "an ELF executable (a Linux/Unix program)"),
    (b"MZ", "a Windows executable (MZ/PE)"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive (or a Word/Excel/PowerPoint file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office (OLE) file"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"GIF8", "a GIF image"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
)


class DocumentRefused(Exception):
    """An upload is not an acceptable document; ``code`` and ``status`` are the API error's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A checked upload, stored under its content's SHA-256."""

    path: Path
    content_type: str
    size: int
    sha256: str
    pages: int | None
    created: bool  # False: the same content was already stored (another document of the meeting)


def sniff(head: bytes) -> str:
    """Return the content type the first bytes announce; raise DocumentRefused for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    # A program or archive is refused even if "%PDF-" follows (a polyglot file).
    what = next((name for magic, name in _FOREIGN if head.startswith(magic)), None)
    if what is None and b"%PDF-" in head[:HEAD_BYTES]:
        return "application/pdf"
    if what is None and head[:1] == b"<":
        what = "an HTML/XML/SVG text"
    if what is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        what = "a WebP image"
    raise DocumentRefused(415, "document_type_refused",
                          f"the file is {what or 'not a PDF, JPEG or PNG file'}; only PDF, JPEG and PNG "
                          "documents are accepted")


def _check_pdf(path: Path) -> int:
    """Open a PDF with pyHanko's reader; return its page count or raise DocumentRefused."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with path.open("rb") as fh:  # read as the parser seeks: a large PDF is not held in memory whole
            reader = PdfFileReader(fh, strict=False)
            if reader.encrypted:
                raise DocumentRefused(422, "document_encrypted", "the PDF is password-protected; the sites' "
                                      "browsers could not open it — upload it without a password")
            pages = int(reader.root["/Pages"]["/Count"])
    except DocumentRefused:
        raise
    except Exception as exc:  # a malformed PDF fails in many ways inside the parser; all mean "damaged"
        raise DocumentRefused(422, "document_damaged", f"the PDF cannot be read: {exc}") from exc
    if pages < 1:
        raise DocumentRefused(422, "document_damaged", "the PDF has no pages")
    return pages


def _check_image(path: Path, content_type: str) -> None:
    """Decode an image fully with Pillow, or raise DocumentRefused."""
    from PIL import Image

    try:
        with Image.open(path, formats=["JPEG" if content_type == "image/jpeg" else "PNG"]) as img:
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                raise DocumentRefused(413, "document_too_large", f"the image is {w}×{h} pixels; at most "
                                                                 f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")
            img.load()
    except DocumentRefused:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError… for a broken file
        raise DocumentRefused(422, "document_damaged", f"the image cannot be decoded: {exc}") from exc


def check(path: Path, head: bytes) -> tuple[str, int | None]:
    """Return (content type, PDF page count or None) of a received file; raise DocumentRefused (blocking)."""
    content_type = sniff(head)
    if content_type == "application/pdf":
        return content_type, _check_pdf(path)
    _check_image(path, content_type)
    return content_type, None


def expected_type(filename: str) -> str | None:
    """Return the content type a file name's extension claims (None: no known extension)."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}.get(ext)


class DocumentFiles:
    """Meeting documents under ``data_dir/documents``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "documents"

    def path_of(self, relpath: str) -> Path:
        """Return the absolute path of a stored document (``Document.relpath``)."""
        return self.root.parent / relpath

    async def receive(self, meeting_id: int, chunks: AsyncIterable[bytes], max_bytes: int,
                      filename: str) -> StoredFile:
        """Stream an upload to disk, check it and store it under its SHA-256; raise DocumentRefused."""
        folder = self.root / str(meeting_id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        tmp = folder / f".upload-{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        head = b""
        fh = await asyncio.to_thread(tmp.open, "wb")
        try:
            try:
                batch: list[bytes] = []
                pending = 0
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise DocumentRefused(413, "document_too_large",
                                              f"the file is larger than {_mb(max_bytes)} MB "
                                              "(meetings.documents_max_mb)")
                    if len(head) < HEAD_BYTES:
                        head = (head + chunk)[:HEAD_BYTES]
                    batch.append(chunk)
                    pending += len(chunk)
                    if pending >= WRITE_BATCH_BYTES:
                        await asyncio.to_thread(_write, fh, digest, batch)
                        batch, pending = [], 0
                await asyncio.to_thread(_write, fh, digest, batch, True)
            finally:
                await asyncio.to_thread(fh.close)
            if size == 0:
                raise DocumentRefused(422, "document_empty", "the upload is empty: send the file as the body")
            content_type, pages = await asyncio.to_thread(check, tmp, head)
            claimed = expected_type(filename)
            if claimed is not None and claimed != content_type:
                raise DocumentRefused(415, "document_type_refused",
                                      f"the file is named {filename!r} but its content is "
                                      f"{_NAMES[content_type]}; rename it or upload the right file")
            sha = digest.hexdigest()
            final = folder / f"{sha}.{DOCUMENT_EXTENSIONS[content_type]}"
            created = await asyncio.to_thread(_place, tmp, final)
            return StoredFile(final, content_type, size, sha, pages, created)
        finally:
            await asyncio.to_thread(_unlink, tmp)

    async def remove(self, path: Path) -> None:
        """Delete a stored file (gone already is fine)."""
        await asyncio.to_thread(_unlink, path)


_NAMES = {"application/pdf": "a PDF", "image/jpeg": "a JPEG image", "image/png": "a PNG image"}


def _mb(n: int) -> str:
    return f"{n / MB_BYTES:g}"


def _write(fh: io.BufferedWriter, digest: hashlib._Hash, batch: list[bytes], final: bool = False) -> None:
    for chunk in batch:
        fh.write(chunk)
        digest.update(chunk)
    if final:
        fh.flush()
        os.fsync(fh.fileno())


def _place(tmp: Path, final: Path) -> bool:
    """Rename the checked file to its final name; return False if that content was stored already."""
    if final.exists():
        return False
    os.replace(tmp, final)
    with contextlib.suppress(OSError):  # the rename is durable once the directory is synced
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return True


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
