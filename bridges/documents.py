"""Meeting documents in a live room: which one is presented (every site opens it at the same page).

The chair's page or staff present a document through the API (``POST /api/v1/rooms/{room}/documents/present``,
like the chair's other moderation); the room tells every site ``document_present {document, page, by}``, and a
site that joins later gets the same message right after its ``welcome``. ``document`` null: nothing is
presented. When staff attach, rename or delete a document, sites get ``documents {meeting_id}`` and fetch the
list again (``GET /api/v1/scheduled-meetings/{id}/documents`` with their join token).
The presentation lives on the room (``LiveRoom.presented_document``) and ends with it.
"""

from __future__ import annotations

import time
from typing import Any

from bridges.room import LiveRoom
from mediaserver.storage.documents import Document


def wire(doc: Document) -> dict[str, Any]:
    """Return a document as sites are told of it (no uploader, no path)."""
    return {"id": doc.id, "meeting_id": doc.meeting_id, "title": doc.title, "filename": doc.filename,
            "content_type": doc.content_type, "size": doc.size, "pages": doc.pages,
            "downloadable": doc.downloadable}


def state(room: LiveRoom) -> dict[str, Any]:
    """Return the ``document_present`` message that describes what the room presents now."""
    current = room.presented_document
    if current is None:
        return {"type": "document_present", "document": None, "page": None, "by": None, "at": None}
    return {"type": "document_present", **current}


def present(room: LiveRoom, doc: Document | None, page: int, by: str) -> dict[str, Any]:
    """Present ``doc`` at ``page`` (None: stop presenting) to every site; return the message sent."""
    room.presented_document = None if doc is None else {
        "document": wire(doc), "page": page if doc.content_type == "application/pdf" else 1, "by": by,
        "at": time.time(),
    }
    msg = state(room)
    room._notify_all(msg)  # the room's bounded, fire-and-forget fan-out (a stalled site cannot hold it up)
    return msg


def changed(room: LiveRoom, doc: Document, deleted: bool = False) -> None:
    """Tell every site the meeting's document list changed; a deleted or updated presented one follows."""
    current = room.presented_document
    if current is not None and current["document"]["id"] == doc.id:
        if deleted:
            present(room, None, 1, current["by"])
        else:
            current["document"] = wire(doc)
            room._notify_all(state(room))
    room._notify_all({"type": "documents", "meeting_id": doc.meeting_id})
