"""Routes: meeting documents (tài liệu họp) — staff attach PDFs and images, invited sites open them.

Upload is the file itself as the request body (``Content-Type`` of the file; no multipart form), with its name
and title in the query: a browser's XHR shows upload progress for it and the server streams it to disk without
holding it in memory. What the file is comes from its bytes and a real parse (mediaserver/documents.py), never
from its name or the declared type. Sites read with their join token in the ``Authorization`` header (the join
page fetches the file and shows it from a blob: URL), so no token ends up in a URL or an access log.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from bridges import documents as live_documents
from mediaserver.api.common import Body, iso
from mediaserver.api.errors import ApiError
from mediaserver.api.live import _host_or_chair, _live_room
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CONFERENCE_KEY, CONFIG_KEY, STORE_KEY
from mediaserver.auth import Principal, Role
from mediaserver.documents import MB_BYTES, DocumentFiles, DocumentRefused
from mediaserver.storage.documents import Document, DuplicateDocument
from mediaserver.storage.meetings import Meeting

STAFF = (Role.ADMIN, Role.OPERATOR)
READERS = (Role.ADMIN, Role.OPERATOR, Role.PARTICIPANT)
MODERATORS = (Role.ADMIN, Role.OPERATOR, Role.PARTICIPANT)
UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png", "application/octet-stream")
CHUNK_BYTES = 256 * 1024
_FILENAME = r"^[^/\\\x00-\x1f\x7f]+$"  # a plain name, no path or control characters


class UploadQuery(BaseModel):
    filename: str = Field(..., min_length=1, max_length=200, pattern=_FILENAME,
                          description="The file's name (its extension must match its content).")
    title: str | None = Field(None, min_length=1, max_length=200, description="Shown to sites; default: the name.")
    downloadable: bool = Field(True, description="Sites may save it (off: view only).")


class DocumentOut(BaseModel):
    id: int
    meeting_id: int
    title: str
    filename: str
    content_type: str
    size: int = Field(..., description="Bytes.")
    sha256: str
    pages: int | None = Field(None, description="A PDF's page count; null for an image.")
    uploaded_by: str
    uploaded_at: str | None
    downloadable: bool
    url: str = Field(..., description="GET it with the same bearer token to view the file.")


class DocumentList(BaseModel):
    items: list[DocumentOut]
    max_mb: float = Field(..., description="Largest upload (meetings.documents_max_mb).")


class DocumentPatch(Body):
    title: str | None = Field(None, min_length=1, max_length=200)
    downloadable: bool | None = None


class ContentQuery(BaseModel):
    download: bool = Field(False, description="Ask the browser to save it (Content-Disposition: attachment).")


class PresentIn(Body):
    document_id: int | None = Field(..., ge=1, description="The document every site opens; null stops presenting.")
    page: int = Field(1, ge=1, le=100_000, description="The page (PDF) every site opens it at.")


class PresentOut(BaseModel):
    document: dict[str, object] | None
    page: int | None
    by: str | None


def _out(d: Document) -> DocumentOut:
    return DocumentOut(id=d.id, meeting_id=d.meeting_id, title=d.title, filename=d.filename,
                       content_type=d.content_type, size=d.size, sha256=d.sha256, pages=d.pages,
                       uploaded_by=d.uploaded_by, uploaded_at=iso(d.uploaded_at), downloadable=d.downloadable,
                       url=f"/api/v1/documents/{d.id}/content")


def _files(ctx: Ctx) -> DocumentFiles:
    return DocumentFiles(ctx.app[CONFIG_KEY].storage.data_dir)


def _disposition(kind: str, filename: str) -> str:
    """Return a Content-Disposition with an ASCII fallback name and the real (UTF-8) one (RFC 6266)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("_") or "document"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _meeting(ctx: Ctx, meeting_id: int) -> Meeting:
    m = await ctx.app[STORE_KEY].meetings.get(meeting_id)
    if m is None:
        raise ApiError(404, "not_found", f"no scheduled meeting {meeting_id}")
    return m


def _may_read(p: Principal, m: Meeting) -> None:
    """Let staff read every meeting's documents, a site only those of a meeting it is invited to."""
    if p.role != Role.PARTICIPANT:
        return
    if p.room_id != m.room_id or (p.site_id not in m.invited and p.site_id != m.chair_site_id):
        raise ApiError(403, "document_forbidden", "this join link is not for the meeting these documents "
                                                  "belong to")


async def _document(ctx: Ctx) -> tuple[Document, Meeting]:
    doc = await ctx.app[STORE_KEY].documents.get(int(ctx.param("document_id")))
    if doc is None:
        raise ApiError(404, "not_found", f"no document {ctx.param('document_id')}")
    return doc, await _meeting(ctx, doc.meeting_id)


def _tell_room(ctx: Ctx, m: Meeting, doc: Document, deleted: bool = False) -> None:
    """Tell the meeting's live room (if it is running) that its documents changed."""
    room = ctx.app[CONFERENCE_KEY].live(m.room_id)
    if room is not None and room.policy.meeting is not None and room.policy.meeting.id == m.id:
        live_documents.changed(room, doc, deleted)


def register(api: Api) -> None:
    """Add the meeting-document routes."""

    @api.route("POST", "/api/v1/scheduled-meetings/{meeting_id}/documents", roles=STAFF, query=UploadQuery,
               response=DocumentOut, status=201, tag="documents", errors=(409, 413, 415, 422),
               upload=UPLOAD_TYPES,
               upload_description="The file itself (PDF, JPEG or PNG), at most meetings.documents_max_mb; "
                                  "its type is read from its content.",
               summary="Attach a document (PDF, JPEG, PNG) to a scheduled meeting; the body is the file.")
    async def upload(ctx: Ctx) -> DocumentOut:
        q: UploadQuery = ctx.query
        m = await _meeting(ctx, int(ctx.param("meeting_id")))
        cfg = ctx.app[CONFIG_KEY].meetings
        store = ctx.app[STORE_KEY]
        max_bytes = int(cfg.documents_max_mb * MB_BYTES)
        if len(await store.documents.for_meeting(m.id)) >= cfg.documents_max_per_meeting:
            raise ApiError(409, "document_limit", f"the meeting already has {cfg.documents_max_per_meeting} "
                                                  "documents (meetings.documents_max_per_meeting)")
        declared = ctx.request.content_length
        if declared is not None and declared > max_bytes:
            raise ApiError(413, "document_too_large", f"the file is {declared / MB_BYTES:.1f} MB; at most "
                                                      f"{cfg.documents_max_mb:g} MB (meetings.documents_max_mb)")
        if ctx.request.content_type.startswith("multipart/"):
            raise ApiError(415, "document_type_refused", "send the file itself as the request body, not a form")
        files = _files(ctx)
        try:
            stored = await files.receive(m.id, ctx.request.content.iter_chunked(CHUNK_BYTES), max_bytes,
                                         q.filename)
        except DocumentRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc
        p = ctx.user()
        try:
            doc = await store.documents.add(m.id, (q.title or q.filename).strip() or q.filename, q.filename,
                                            stored.content_type, stored.size, stored.sha256, f"{p.role}:{p.subject}",
                                            stored.pages, q.downloadable)
        except DuplicateDocument as exc:
            raise ApiError(409, "document_duplicate", f"the meeting already has this file (document "
                                                      f"{exc.existing_id})") from exc
        except BaseException:
            if stored.created:
                await files.remove(stored.path)
            raise
        await ctx.audit("document.upload", f"meeting:{m.id}", document_id=doc.id, title=doc.title,
                        filename=doc.filename, content_type=doc.content_type, size=doc.size, sha256=doc.sha256)
        _tell_room(ctx, m, doc)
        return _out(doc)

    @api.route("GET", "/api/v1/scheduled-meetings/{meeting_id}/documents", roles=READERS, response=DocumentList,
               tag="documents", summary="A meeting's documents (staff, or a site invited to the meeting).")
    async def list_documents(ctx: Ctx) -> DocumentList:
        m = await _meeting(ctx, int(ctx.param("meeting_id")))
        _may_read(ctx.user(), m)
        docs = await ctx.app[STORE_KEY].documents.for_meeting(m.id)
        return DocumentList(items=[_out(d) for d in docs], max_mb=ctx.app[CONFIG_KEY].meetings.documents_max_mb)

    @api.route("GET", "/api/v1/documents/{document_id}/content", roles=READERS, query=ContentQuery,
               content_type="application/octet-stream", tag="documents",
               summary="The document's file (inline; attachment with download=true when it is downloadable).")
    async def content(ctx: Ctx) -> web.StreamResponse:
        doc, m = await _document(ctx)
        p = ctx.user()
        _may_read(p, m)
        q: ContentQuery = ctx.query
        if q.download and not doc.downloadable and p.role == Role.PARTICIPANT:
            raise ApiError(403, "document_not_downloadable", "this document may be viewed but not saved")
        path = _files(ctx).path_of(doc.relpath)
        if not await asyncio.to_thread(path.is_file):
            raise ApiError(404, "document_missing", f"document {doc.id}'s file is missing from the data directory")
        headers = {
            "Content-Type": doc.content_type,
            "Content-Disposition": _disposition("attachment" if q.download else "inline", doc.filename),
            # View-only documents are not kept in the browser's cache (nor any shared cache).
            "Cache-Control": "private, max-age=300" if doc.downloadable else "private, no-store",
            "ETag": f'"{doc.sha256}"',
        }
        return web.FileResponse(path, headers=headers)

    @api.route("PATCH", "/api/v1/documents/{document_id}", roles=STAFF, body=DocumentPatch, response=DocumentOut,
               tag="documents", summary="Rename a document or switch its download on or off.")
    async def patch(ctx: Ctx) -> DocumentOut:
        b: DocumentPatch = ctx.body
        doc, m = await _document(ctx)
        title = b.title.strip() if b.title is not None else None
        if title == "":
            raise ApiError(422, "invalid_input", "title: must not be blank", "title")
        new = await ctx.app[STORE_KEY].documents.update(doc.id, title=title, downloadable=b.downloadable)
        if new is None:
            raise ApiError(404, "not_found", f"no document {doc.id}")
        await ctx.audit("document.update", f"meeting:{m.id}", document_id=doc.id,
                        fields=sorted(b.model_fields_set), title=new.title, downloadable=new.downloadable)
        _tell_room(ctx, m, new)
        return _out(new)

    @api.route("DELETE", "/api/v1/documents/{document_id}", roles=STAFF, status=204, tag="documents",
               summary="Delete a document and its file.")
    async def delete(ctx: Ctx) -> None:
        doc, m = await _document(ctx)
        gone = await ctx.app[STORE_KEY].documents.delete(doc.id)
        if gone is None:
            raise ApiError(404, "not_found", f"no document {doc.id}")
        await _files(ctx).remove(_files(ctx).path_of(gone.relpath))
        await ctx.audit("document.delete", f"meeting:{m.id}", document_id=doc.id, title=doc.title,
                        filename=doc.filename, sha256=doc.sha256)
        _tell_room(ctx, m, gone, deleted=True)

    @api.route("POST", "/api/v1/rooms/{room_id}/documents/present", room_node="follow",
               roles=MODERATORS, body=PresentIn, check=_host_or_chair, response=PresentOut, tag="documents",
               summary="Present a document of the running meeting at a page: every site opens it there.")
    async def present(ctx: Ctx) -> PresentOut:
        room = await _live_room(ctx)  # staff, or the host site's own page
        b: PresentIn = ctx.body
        meeting = room.policy.meeting
        if meeting is None:
            raise ApiError(409, "no_meeting", "the running meeting is not a scheduled one: it has no documents")
        doc = None
        if b.document_id is not None:
            doc = await ctx.app[STORE_KEY].documents.get(b.document_id)
            if doc is None or doc.meeting_id != meeting.id:
                raise ApiError(404, "not_found", f"the running meeting has no document {b.document_id}",
                               "document_id")
            if doc.pages is not None and b.page > doc.pages:
                raise ApiError(422, "invalid_input", f"the document has {doc.pages} pages", "page")
        p = ctx.user()
        by = p.site_id if p.role == Role.PARTICIPANT and p.site_id else p.subject
        msg = live_documents.present(room, doc, b.page, by)
        await ctx.audit("document.present" if doc is not None else "document.present_stop",
                        f"meeting:{meeting.id}", document_id=b.document_id, page=msg["page"])
        return PresentOut(document=msg["document"], page=msg["page"], by=msg["by"])
