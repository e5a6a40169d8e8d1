"""Meeting documents on a real server: upload, type checks by content, site access by join token, "present".

The files are real: a three-page PDF built by hand (header, objects, cross-reference table, trailer) that
pyHanko and poppler open, images encoded by Pillow, an ELF and a Windows executable renamed ``.pdf``.
"Present" is checked on the signalling WebSocket of real site sessions (the meeting's live room).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediaserver.app_keys import STORE_KEY, TOKENS_KEY
from mediaserver.config import Config
from tests.conftest import Api, ApiFactory
from tests.test_meetings import HOST, ROOM, A, B, C, at, schedule

pytestmark = pytest.mark.timeout(60)


def tiny_pdf(pages: int = 3, text: str = "Trang") -> bytes:
    """Return a valid PDF of ``pages`` pages, each saying "<text> N" (objects, xref table and trailer)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(pages))}] /Count {pages} >>".encode()]
    font = 3 + 2 * pages
    for i in range(pages):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents {4 + 2 * i} 0 R"
                    f" /Resources << /Font << /F1 {font} 0 R >> >> >>".encode())
        stream = f"BT /F1 24 Tf 40 100 Td ({text} {i + 1}) Tj ET".encode()
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def encrypted_pdf() -> bytes:
    """Return tiny_pdf() with a password (pyHanko's writer)."""
    from pyhanko.pdf_utils import writer
    from pyhanko.pdf_utils.reader import PdfFileReader

    w = writer.copy_into_new_writer(PdfFileReader(io.BytesIO(tiny_pdf(2))))
    w.encrypt("mat-khau", "mat-khau")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def elf() -> bytes:
    """Return the first 4 KiB of a real ELF program (this Python interpreter)."""
    import sys

    return Path(sys.executable).resolve().read_bytes()[:4096]


async def upload(api: Api, hdr: dict[str, str], meeting_id: int, body: bytes, filename: str,
                 **query: str) -> aiohttp.ClientResponse:
    return await api.client.post(f"/api/v1/scheduled-meetings/{meeting_id}/documents",
                                 params={"filename": filename, **query},
                                 data=io.BytesIO(body) if isinstance(body, bytes) else body,
                                 headers={**hdr, "Content-Type": "application/pdf"})


async def error_code(r: aiohttp.ClientResponse) -> str:
    return str((await r.json())["error"]["code"])


@pytest.fixture
async def staff(api: Api) -> dict[str, str]:
    return api.auth(await api.token_for("operator"))


def stored_files(config: Config) -> list[str]:
    root = config.storage.data_dir / "documents"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_upload_list_view_rename_toggle_delete(api: Api, staff: dict[str, str], config: Config) -> None:
    m = await schedule(api, staff)
    pdf = tiny_pdf(3)
    r = await upload(api, staff, m["id"], pdf, "Báo cáo kinh tế - xã hội.pdf", title="Báo cáo KT-XH quý IV")
    assert r.status == 201, await r.text()
    doc = await r.json()
    sha = hashlib.sha256(pdf).hexdigest()
    assert doc["sha256"] == sha and doc["size"] == len(pdf) and doc["pages"] == 3
    assert doc["content_type"] == "application/pdf" and doc["downloadable"] is True
    assert doc["title"] == "Báo cáo KT-XH quý IV" and doc["uploaded_by"] == "operator:operator-user"
    # Stored under its content's hash, with nothing left over from the upload.
    assert stored_files(config) == [f"{m['id']}/{sha}.pdf"]
    assert (config.storage.data_dir / "documents" / str(m["id"]) / f"{sha}.pdf").read_bytes() == pdf

    png, jpg = image("PNG"), image("JPEG")
    r = await upload(api, staff, m["id"], png, "so-do.png")
    assert r.status == 201 and (await r.json())["content_type"] == "image/png"
    r = await upload(api, staff, m["id"], jpg, "anh.JPG")
    assert r.status == 201 and (await r.json())["content_type"] == "image/jpeg"
    assert (await r.json())["pages"] is None
    # The same content twice in one meeting is one document.
    r = await upload(api, staff, m["id"], pdf, "ban-sao.pdf")
    assert r.status == 409 and await error_code(r) == "document_duplicate"

    r = await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/documents", headers=staff)
    assert r.status == 200
    listed = await r.json()
    assert [d["filename"] for d in listed["items"]] == ["Báo cáo kinh tế - xã hội.pdf", "so-do.png", "anh.JPG"]
    assert listed["max_mb"] == config.meetings.documents_max_mb

    r = await api.client.get(doc["url"], headers=staff)
    assert r.status == 200 and await r.read() == pdf
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline;")
    assert "filename*=UTF-8''B%C3%A1o%20c%C3%A1o" in r.headers["Content-Disposition"]

    r = await api.client.patch(f"/api/v1/documents/{doc['id']}", json={"title": "Báo cáo (bản cuối)",
                                                                      "downloadable": False}, headers=staff)
    assert r.status == 200, await r.text()
    assert (await r.json())["title"] == "Báo cáo (bản cuối)" and (await r.json())["downloadable"] is False
    r = await api.client.get(doc["url"], headers=staff)
    assert r.headers["Cache-Control"] == "private, no-store" and r.headers["Content-Disposition"].startswith("inline")
    r = await api.client.patch(f"/api/v1/documents/{doc['id']}", json={"title": "  "}, headers=staff)
    assert r.status == 422

    r = await api.client.delete(f"/api/v1/documents/{doc['id']}", headers=staff)
    assert r.status == 204
    assert f"{m['id']}/{sha}.pdf" not in stored_files(config) and len(stored_files(config)) == 2
    r = await api.client.get(doc["url"], headers=staff)
    assert r.status == 404
    store = api.app[STORE_KEY]
    assert [d.filename for d in await store.documents.for_meeting(m["id"])] == ["so-do.png", "anh.JPG"]
    actions = [e.action for e in await store.audit.all(limit=50)]
    assert actions.count("document.upload") == 3 and actions.count("document.delete") == 1
    assert "document.update" in actions


async def test_refused_uploads_say_why(make_api: ApiFactory, config: Config) -> None:
    config.meetings.documents_max_mb = 0.05  # 50 kB
    api = await make_api(config)
    staff = api.auth(await api.token_for("operator"))
    m = await schedule(api, staff)
    big = tiny_pdf(1) + b"%" + b"x" * 60_000 + b"\n"
    r = await upload(api, staff, m["id"], big, "lon.pdf")
    assert r.status == 413 and await error_code(r) == "document_too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]
    r = await upload(api, staff, m["id"], chunked(), "lon.pdf")  # type: ignore[arg-type]
    assert r.status == 413 and await error_code(r) == "document_too_large"

    r = await upload(api, staff, m["id"], elf(), "bao-cao.pdf")
    assert r.status == 415 and await error_code(r) == "document_type_refused"
    assert "ELF executable" in (await r.json())["error"]["message"]
    r = await upload(api, staff, m["id"], b"MZ\x90\x00" + b"\x00" * 200 + b"%PDF-1.4", "bao-cao.pdf")
    assert r.status == 415 and "Windows executable" in (await r.json())["error"]["message"]
    r = await upload(api, staff, m["id"], image("PNG"), "anh.pdf")  # a real PNG named .pdf
    assert r.status == 415 and "PNG" in (await r.json())["error"]["message"]
    pdf = tiny_pdf(2)
    r = await upload(api, staff, m["id"], pdf[: len(pdf) // 2], "cut.pdf")  # a header but no xref or trailer
    assert r.status == 422 and await error_code(r) == "document_damaged"
    r = await upload(api, staff, m["id"], image("PNG")[:40], "cut.png")
    assert r.status == 422 and await error_code(r) == "document_damaged"
    r = await upload(api, staff, m["id"], encrypted_pdf(), "mat.pdf")
    assert r.status == 422 and await error_code(r) == "document_encrypted"
    r = await upload(api, staff, m["id"], b"", "empty.pdf")
    assert r.status == 422 and await error_code(r) == "document_empty"
    form = aiohttp.FormData()
    form.add_field("file", pdf, filename="x.pdf", content_type="application/pdf")
    r = await api.client.post(f"/api/v1/scheduled-meetings/{m['id']}/documents", params={"filename": "x.pdf"},
                              data=form, headers=staff)
    assert r.status == 415 and await error_code(r) == "document_type_refused"
    r = await upload(api, staff, m["id"], pdf, "../../etc/passwd.pdf")
    assert r.status == 422 and await error_code(r) == "invalid_input"
    r = await upload(api, staff, 9999, pdf, "x.pdf")
    assert r.status == 404
    # Nothing refused was kept, not even a partial upload.
    assert stored_files(config) == []
    assert await api.app[STORE_KEY].documents.for_meeting(m["id"]) == []


async def test_sites_read_only_their_meetings_documents(api: Api, staff: dict[str, str]) -> None:
    m1 = await schedule(api, staff, invited_sites=[HOST, A, B])
    m2 = await schedule(api, staff, invited_sites=[HOST, C], starts_at=at(7200), ends_at=at(9000))
    r = await upload(api, staff, m1["id"], tiny_pdf(2), "tai-lieu.pdf", downloadable="false")
    assert r.status == 201, await r.text()
    doc = await r.json()
    assert doc["downloadable"] is False
    tokens = api.app[TOKENS_KEY]

    async def site(sid: str) -> dict[str, str]:
        return api.auth((await tokens.issue_join(sid, ROOM))[0])

    a, c = await site(A), await site(C)
    r = await api.client.get(f"/api/v1/scheduled-meetings/{m1['id']}/documents", headers=a)
    assert r.status == 200 and [d["id"] for d in (await r.json())["items"]] == [doc["id"]]
    r = await api.client.get(doc["url"], headers=a)
    assert r.status == 200 and (await r.read()).startswith(b"%PDF-")
    assert r.headers["Content-Disposition"].startswith("inline;")
    r = await api.client.get(doc["url"], params={"download": "true"}, headers=a)
    assert r.status == 403 and await error_code(r) == "document_not_downloadable"
    r = await api.client.get(doc["url"], params={"download": "true"}, headers=staff)  # staff may save it
    assert r.status == 200 and r.headers["Content-Disposition"].startswith("attachment;")
    # C is a site of the same room but of another meeting.
    for url in (f"/api/v1/scheduled-meetings/{m1['id']}/documents", doc["url"]):
        r = await api.client.get(url, headers=c)
        assert r.status == 403 and await error_code(r) == "document_forbidden", url
    r = await api.client.get(f"/api/v1/scheduled-meetings/{m2['id']}/documents", headers=c)
    assert r.status == 200 and (await r.json())["items"] == []
    # Sites never change documents; a security guard reads none.
    r = await upload(api, a, m1["id"], tiny_pdf(1), "x.pdf")
    assert r.status == 403
    r = await api.client.delete(f"/api/v1/documents/{doc['id']}", headers=a)
    assert r.status == 403
    guard = api.auth(await api.token_for("security"))
    r = await api.client.get(doc["url"], headers=guard)
    assert r.status == 403
    r = await api.client.get(doc["url"])
    assert r.status == 401


class Site:
    """One site's signalling WebSocket: every message it received."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
                self._new.set()

    async def next(self, kind: str, after: int = 0, wait_s: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                for m in self.messages[after:]:
                    if m["type"] == kind:
                        return m
                self._new.clear()
                await self._new.wait()
        return await asyncio.wait_for(find(), wait_s)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def test_present_reaches_every_site_and_late_joiners(api: Api, staff: dict[str, str]) -> None:
    m = await schedule(api, staff, starts_at=at(60), ends_at=at(3600))
    r = await upload(api, staff, m["id"], tiny_pdf(3), "slide.pdf", title="Trình chiếu")
    doc = await r.json()
    r = await upload(api, staff, m["id"], image("PNG"), "hinh.png")
    img = await r.json()
    tokens = api.app[TOKENS_KEY]
    sites: list[Site] = []

    async def join(sid: str) -> Site:
        ws = await api.client.ws_connect(f"/api/v1/rooms/{ROOM}/signal")
        await ws.send_json({"type": "join", "v": 1, "token": (await tokens.issue_join(sid, ROOM))[0]})
        s = Site(ws)
        sites.append(s)
        await s.next("welcome")
        return s

    try:
        chair, a = await join(HOST), await join(A)
        first = await a.next("document_present")
        assert first["document"] is None  # nothing presented yet
        # The chair's page presents page 2 with its own join token; staff may too.
        chair_hdr = api.auth((await tokens.issue_join(HOST, ROOM))[0])
        n_a, n_chair = len(a.messages), len(chair.messages)
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/documents/present",
                                  json={"document_id": doc["id"], "page": 2}, headers=chair_hdr)
        assert r.status == 200, await r.text()
        got = await a.next("document_present", n_a)
        assert got["document"]["id"] == doc["id"] and got["page"] == 2 and got["by"] == HOST
        assert got["document"]["title"] == "Trình chiếu" and got["document"]["pages"] == 3
        assert (await chair.next("document_present", n_chair))["page"] == 2
        # A site that joins later opens it at the same page.
        b = await join(B)
        late = await b.next("document_present")
        assert late["document"]["id"] == doc["id"] and late["page"] == 2
        # Only the chair or staff present; a page past the end and another meeting's document are refused.
        a_hdr = api.auth((await tokens.issue_join(A, ROOM))[0])
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/documents/present",
                                  json={"document_id": doc["id"], "page": 1}, headers=a_hdr)
        assert r.status == 403
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/documents/present",
                                  json={"document_id": doc["id"], "page": 4}, headers=staff)
        assert r.status == 422 and (await r.json())["error"]["field"] == "page"
        other = await schedule(api, staff, starts_at=at(7200), ends_at=at(9000))
        r = await upload(api, staff, other["id"], tiny_pdf(1), "khac.pdf")
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/documents/present",
                                  json={"document_id": (await r.json())["id"], "page": 1}, headers=staff)
        assert r.status == 404
        # Staff present the image; deleting what is presented stops it everywhere, and lists refresh.
        n_b = len(b.messages)
        r = await api.client.post(f"/api/v1/rooms/{ROOM}/documents/present",
                                  json={"document_id": img["id"], "page": 5}, headers=staff)
        assert r.status == 200 and (await r.json())["page"] == 1  # an image has one page
        assert (await b.next("document_present", n_b))["document"]["id"] == img["id"]
        n_b = len(b.messages)
        r = await api.client.delete(f"/api/v1/documents/{img['id']}", headers=staff)
        assert r.status == 204
        stopped = await b.next("document_present", n_b)
        assert stopped["document"] is None
        assert (await b.next("documents", n_b))["meeting_id"] == m["id"]
        actions = [e.action for e in await api.app[STORE_KEY].audit.all(limit=50)]
        assert actions.count("document.present") == 2
    finally:
        for s in sites:
            await s.close()
