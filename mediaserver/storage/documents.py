"""Repository: meeting documents (tài liệu họp), the index rows of the files staff attach to a meeting."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from mediaserver.storage.db import Database

# The content types a meeting document may have, with the file extension it is stored under.
DOCUMENT_EXTENSIONS: dict[str, str] = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    meeting_id: int
    title: str
    filename: str  # the name it was uploaded under (shown, and offered when downloading)
    content_type: str  # one of DOCUMENT_EXTENSIONS
    size: int  # bytes
    sha256: str  # hex digest of the stored file
    uploaded_by: str
    uploaded_at: float  # UTC epoch seconds
    downloadable: bool
    pages: int | None = None  # a PDF's page count; None for an image

    @property
    def relpath(self) -> str:
        """Return the stored file's path relative to data_dir."""
        return f"documents/{self.meeting_id}/{self.sha256}.{DOCUMENT_EXTENSIONS[self.content_type]}"


class DuplicateDocument(ValueError):
    """The meeting already has a document with this content."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"the meeting already has this file as document {existing_id}")
        self.existing_id = existing_id


class DocumentRepo:
    """Meeting documents: add, list, rename, switch downloads, delete."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _doc(r: sqlite3.Row) -> Document:
        return Document(r["id"], r["meeting_id"], r["title"], r["filename"], r["content_type"], r["size"],
                        r["sha256"], r["uploaded_by"], r["uploaded_at"], bool(r["downloadable"]), r["pages"])

    async def add(self, meeting_id: int, title: str, filename: str, content_type: str, size: int, sha256: str,
                  uploaded_by: str, pages: int | None, downloadable: bool = True) -> Document:
        """Record a stored file as a document of a meeting; raise DuplicateDocument if it has that content."""
        now = time.time()
        async with self.db.transaction() as conn:
            async with conn.execute(
                    "INSERT INTO meeting_documents (meeting_id, title, filename, content_type, size, sha256, pages,"
                    " uploaded_by, uploaded_at, downloadable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (meeting_id, sha256) DO NOTHING RETURNING id",
                    (meeting_id, title, filename, content_type, size, sha256, pages, uploaded_by, now,
                     int(downloadable))) as cur:
                row = await cur.fetchone()
            if row is None:
                async with conn.execute("SELECT id FROM meeting_documents WHERE meeting_id = ? AND sha256 = ?",
                                        (meeting_id, sha256)) as cur:
                    old = await cur.fetchone()
                raise DuplicateDocument(int(old["id"]) if old else 0)
        return Document(int(row["id"]), meeting_id, title, filename, content_type, size, sha256, uploaded_by, now,
                        downloadable, pages)

    async def get(self, document_id: int) -> Document | None:
        """Return one document, or None."""
        r = await self.db.fetchone("SELECT * FROM meeting_documents WHERE id = ?", (document_id,))
        return self._doc(r) if r else None

    async def for_meeting(self, meeting_id: int) -> list[Document]:
        """Return a meeting's documents in the order they were attached."""
        rows = await self.db.fetchall("SELECT * FROM meeting_documents WHERE meeting_id = ? ORDER BY id",
                                      (meeting_id,))
        return [self._doc(r) for r in rows]

    async def update(self, document_id: int, *, title: str | None = None,
                     downloadable: bool | None = None) -> Document | None:
        """Rename a document and/or switch its download on or off; return it, or None if there is none."""
        await self.db.execute_rowcount(
            "UPDATE meeting_documents SET title = COALESCE(?, title), downloadable = COALESCE(?, downloadable)"
            " WHERE id = ?", (title, None if downloadable is None else int(downloadable), document_id))
        return await self.get(document_id)

    async def delete(self, document_id: int) -> Document | None:
        """Delete a document's row; return what it was (the caller removes the file), or None."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM meeting_documents WHERE id = ? RETURNING *", (document_id,))
            row = await cur.fetchone()
            await cur.close()
        return self._doc(row) if row else None
