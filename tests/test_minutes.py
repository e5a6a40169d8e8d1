"""Meeting minutes (biên bản) and signed evidence with real parts: a held meeting in a real SQLite index, the
real app over HTTP, the PDF read back with poppler (pdftotext, pdftoppm), signatures from the demo certificate,
a PKCS#12 file and a SoftHSM2 token checked by pyHanko's validator, pdfsig, openssl and ``mediaserver verify``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from mediaserver.app_keys import CONFIG_KEY, EXPORTER_KEY, STORE_KEY
from mediaserver.config import Config, SigningConfig
from mediaserver.storage.meetings import Meeting
from mediaserver.storage.repos import Segment
from mediaserver.storage.votes import VoteRepo
from recordings.minutes.issue import MINUTES_KEY
from recordings.signing.office import DEMO_SIGNER_CN, demo_paths
from tests.conftest import Api, ApiFactory
from tests.media_fixtures import SegmentFixture
from tests.signing_fixtures import (
    KEY_LABEL,
    P12_PASSWORD,
    SIGNER_CN,
    SOFTHSM_MODULE,
    TOKEN_LABEL,
    TOKEN_PIN,
    Pki,
    flip,
    nssdb_fixture,  # noqa: F401 — the nssdb fixture
    pdfsig,
    pki_fixture,  # noqa: F401 — the pki fixture
    token_fixture,  # noqa: F401 — the token fixture
)

TITLE = "Họp giao ban tháng 12 năm 2026"
AGENDA = "1. Tình hình kinh tế - xã hội tháng 12\n2. Phòng chống thiên tai"
ABSENCE = "Mất điện cả xã, đã báo trước"
CONCLUSIONS = "Giao các xã, thị trấn hoàn thành báo cáo trước ngày 15/12/2026."
VOTE_TEXT = "Thông qua kế hoạch phát triển kinh tế - xã hội năm 2027"
CHAT = "Xã An Bình đã hoàn thành chỉ tiêu thu ngân sách"
INVITED = ("ubnd-huyen", "xa-an-binh", "xa-dong-hung", "tt-phu-thinh")


async def _held_meeting(api: Api) -> int:
    """Store a meeting held 3 h ago: two sites on time, one late, one absent with a reason; turns, a vote,
    a document, chat and two recorded segment files."""
    store = api.app[STORE_KEY]
    db = store.db
    starts = float(int(time.time()) - 3 * 3600)
    m = await store.meetings.create(Meeting(
        0, "hop-huyen", TITLE, AGENDA, starts, starts + 3600, "ubnd-huyen", 3600.0, None, "free", False, None,
        "admin:test", INVITED))
    session = await store.rooms.start_session("hop-huyen", "test", meeting_id=m.id)
    sid = session.id
    await db.execute("UPDATE room_sessions SET started_at = ?, ended_at = ? WHERE id = ?",
                     (starts - 300, starts + 3550, sid))
    for site, joined in (("ubnd-huyen", starts - 120), ("xa-an-binh", starts - 60), ("xa-dong-hung", starts + 900)):
        ss = await store.rooms.site_joined(sid, site)
        await db.execute("UPDATE site_sessions SET joined_at = ?, left_at = ?, leave_reason = 'left' WHERE id = ?",
                         (joined, starts + 3500, ss))
    await store.meetings.set_absence_reason(m.id, "tt-phu-thinh", ABSENCE)
    rid = await store.meetings.request_opened(sid, "xa-an-binh", starts + 600)
    await store.meetings.request_granted(rid, starts + 620)
    await store.meetings.request_closed(rid, starts + 900, "spoke")
    votes = VoteRepo(db)
    q = await votes.open("hop-huyen", m.id, sid, VOTE_TEXT, False, "site:ubnd-huyen", starts + 1800,
                         ["ubnd-huyen", "xa-an-binh", "xa-dong-hung"])
    assert q is not None
    await votes.cast(q.id, "ubnd-huyen", "yes", starts + 1810)
    await votes.cast(q.id, "xa-an-binh", "yes", starts + 1820)
    await votes.close(q.id, starts + 1900, "site:ubnd-huyen")
    await store.documents.add(m.id, "Báo cáo tình hình tháng 12", "bao-cao-thang-12.pdf", "application/pdf", 123_456,
                              "ab" * 32, "admin", 3)
    await store.meetings.add_chat(sid, starts + 700, "xa-an-binh", None, CHAT)
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    for n in range(2):
        rel = f"meetings/hop-huyen/{sid}/xa-an-binh/video-{n}.webm"
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_bytes(os.urandom(20_000))
        await store.segments.add(Segment(0, None, "main", sid, "xa-an-binh", rel, starts + 10 * n,
                                         starts + 10 * n + 10, 20_000, 1, 0.0, "video", "vp8", "conference", False,
                                         False))
    return m.id


async def _issue(api: Api, token: str, meeting_id: int) -> dict[str, Any]:
    r = await api.client.post(f"/api/v1/scheduled-meetings/{meeting_id}/minutes/issue", headers=api.auth(token))
    assert r.status == 202, await r.text()
    job = await api.app[MINUTES_KEY].wait(meeting_id)
    assert job is not None and job.state == "done", (job.error_code, job.error_message) if job else None
    r = await api.client.get(f"/api/v1/scheduled-meetings/{meeting_id}/minutes", headers=api.auth(token))
    body: dict[str, Any] = await r.json()
    return body


async def _pdf(api: Api, token: str, meeting_id: int, version: int | None = None) -> bytes:
    q = f"?version={version}" if version else ""
    r = await api.client.get(f"/api/v1/scheduled-meetings/{meeting_id}/minutes.pdf{q}", headers=api.auth(token))
    assert r.status == 200, await r.text()
    return await r.read()


def _text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def _ink_pages(path: Path) -> list[float]:
    """Return each page's share of non-white pixels (pdftoppm at 30 dpi)."""
    import numpy as np

    out = subprocess.run(["pdftoppm", "-r", "30", "-gray", str(path)], capture_output=True, timeout=30,
                         check=True).stdout
    shares = []
    while out:
        magic, w, h, _maxval, rest = out.split(maxsplit=4)
        assert magic == b"P5"
        n = int(w) * int(h)
        img = np.frombuffer(rest[:n], np.uint8)
        shares.append(float((img < 200).mean()))
        out = rest[n:]
    return shares


def _run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediaserver.cli", "verify", *args], capture_output=True, text=True,
                          timeout=60)


async def test_minutes_issued_signed_with_the_demo_certificate(api: Api, tmp_path: Path) -> None:
    token = await api.token_for("operator")
    mid = await _held_meeting(api)
    base = f"/api/v1/scheduled-meetings/{mid}/minutes"
    r = await api.client.get(f"{base}.pdf", headers=api.auth(token))
    assert r.status == 404 and (await r.json())["error"]["code"] == "minutes_not_issued"
    r = await api.client.put(base, json={"conclusions": CONCLUSIONS, "include_chat": True}, headers=api.auth(token))
    assert r.status == 200, await r.text()
    got = await r.json()
    assert got["draft"]["conclusions"] == CONCLUSIONS and got["signing"] == {
        "backend": "demo", "enabled": True, "demo": True, "error_code": None,
        "signer": f"{DEMO_SIGNER_CN}, CHỈ DÙNG THỬ - không có giá trị pháp lý"}

    state = await _issue(api, token, mid)
    [v1] = state["versions"]
    assert v1["version"] == 1 and v1["signed"] and v1["signer_kind"] == "demo"
    pdf = await _pdf(api, token, mid)
    assert hashlib.sha256(pdf).hexdigest() == v1["sha256"] and len(pdf) == v1["bytes"]
    path = tmp_path / "bien-ban.pdf"
    path.write_bytes(pdf)

    # The text as poppler reads it: Vietnamese with its diacritics, the attendance rows, votes, conclusions.
    text = _text(path)
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BIÊN BẢN CUỘC HỌP", TITLE,
                     "Chủ trì: UBND huyện (điểm cầu chính)", "Tình hình kinh tế - xã hội tháng 12", CONCLUSIONS,
                     "Báo cáo tình hình tháng 12", CHAT, "Tán thành: 2", "chưa biểu quyết: 1", "UBND HUYỆN",
                     "có mặt 2, đến muộn 1, vắng mặt 1"):
        assert expected in text, (expected, text)
    assert VOTE_TEXT in " ".join(text.split())
    # One row per invited site: number, name, status, time in, minutes present, reason of absence.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert any(re.fullmatch(r"\d UBND xã An Bình Có mặt \d\d:\d\d 58,3", line) for line in lines), lines
    assert any(re.fullmatch(r"\d UBND xã Đông Hưng Đến muộn \d\d:\d\d 43,3", line) for line in lines), lines
    assert any(re.fullmatch(rf"\d UBND thị trấn Phú Thịnh Vắng mặt — 0,0 {ABSENCE}", line) for line in lines), lines
    assert "KÝ BẰNG CHỨNG THƯ SỐ CHỈ DÙNG THỬ" in text
    # The recordings' SHA-256, per file in the appendix (and attached as recordings.sha256).
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    for f in sorted((data_dir / "meetings").rglob("*.webm")):
        assert hashlib.sha256(f.read_bytes()).hexdigest() in text
    # The attached listing (poppler's pdfdetach) checks the recordings in the data dir with sha256sum -c.
    listing = tmp_path / "recordings.sha256"
    await asyncio.to_thread(_run, "pdfdetach", "-savefile", "recordings.sha256", "-o", str(listing), str(path))
    check_files = await asyncio.to_thread(_run, "sha256sum", "-c", str(listing), cwd=data_dir)
    assert check_files.returncode == 0 and check_files.stdout.count(": OK") == 2, check_files.stdout
    # Every page drawn; the signature stamp in the chair's box.
    ink = _ink_pages(path)
    assert len(ink) >= 2 and all(share > 0.01 for share in ink), ink

    # The server's check, in words; then `mediaserver verify` trusting the demo CA.
    r = await api.client.get(f"{base}/verify", headers=api.auth(token))
    check = await r.json()
    assert check["valid"] and check["trust"] == "trusted" and check["demo"], check
    assert check["summary_vi"].startswith("HỢP LỆ") and "CHỈ DÙNG THỬ" in check["summary_vi"]
    ca, _ = demo_paths(data_dir)
    ok = await asyncio.to_thread(_cli, str(path), "--trust", str(ca))
    assert ok.returncode == 0 and "HỢP LỆ" in ok.stdout and DEMO_SIGNER_CN in ok.stdout, ok.stdout + ok.stderr

    # A re-issue is version 2; version 1 stays as it was.
    state = await _issue(api, token, mid)
    assert [v["version"] for v in state["versions"]] == [2, 1]
    assert state["versions"][1]["sha256"] == v1["sha256"]
    assert hashlib.sha256(await _pdf(api, token, mid, 1)).hexdigest() == v1["sha256"]
    assert (data_dir / "minutes" / str(mid) / f"bien-ban-{mid}-v1.pdf").read_bytes() == pdf

    # One flipped byte inside the signed range (the title in the document info): refused, in words.
    flip(path, pdf.index(b"/Title") + 4)
    bad = await asyncio.to_thread(_cli, str(path), "--trust", str(ca))
    assert bad.returncode == 1 and "Nội dung đã bị thay đổi sau khi ký" in bad.stdout, bad.stdout + bad.stderr

    # The console's check of an uploaded file says the same.
    form = aiohttp.FormData()
    form.add_field("files", path.read_bytes(), filename="bien-ban.pdf", content_type="application/pdf")
    r = await api.client.post("/api/v1/verify", data=form, headers=api.auth(token))
    up = await r.json()
    assert r.status == 200 and not up["valid"] and up["problem"] == "content_changed", up
    assert up["summary_vi"].startswith("KHÔNG HỢP LỆ: Nội dung đã bị thay đổi"), up


async def test_minutes_refused_before_the_meeting_is_held_and_unsigned_without_a_signer(
        make_api: ApiFactory, config: Config, tmp_path: Path) -> None:
    config.signing = SigningConfig(backend="none")
    api = await make_api(config)
    token = await api.token_for("operator")
    store = api.app[STORE_KEY]
    now = time.time()
    future = await store.meetings.create(Meeting(
        0, "hop-huyen", "Họp chưa diễn ra", "", now + 86400, now + 90000, "ubnd-huyen", 3600.0, None, "free", False,
        None, "admin:test", INVITED))
    r = await api.client.post(f"/api/v1/scheduled-meetings/{future.id}/minutes/issue", headers=api.auth(token))
    assert r.status == 409 and (await r.json())["error"]["code"] == "minutes_not_held"
    r = await api.client.post("/api/v1/scheduled-meetings/999999/minutes/issue", headers=api.auth(token))
    assert r.status == 404

    mid = await _held_meeting(api)
    state = await _issue(api, token, mid)
    assert state["signing"]["enabled"] is False
    [v1] = state["versions"]
    assert v1["signed"] is False and v1["signer"] is None
    path = tmp_path / "unsigned.pdf"
    path.write_bytes(await _pdf(api, token, mid))
    text = _text(path)
    assert "BẢN CHƯA KÝ SỐ" in text and "CHƯA KÝ SỐ" in text and "Vắng mặt" in text
    r = await api.client.get(f"/api/v1/scheduled-meetings/{mid}/minutes/verify", headers=api.auth(token))
    check = await r.json()
    assert not check["valid"] and check["problem"] == "not_signed" and "không có chữ ký số" in check["summary_vi"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pkcs12", "pkcs11"])
async def test_minutes_signed_with_the_office_certificate(backend: str, make_api: ApiFactory, config: Config,
                                                          pki: Pki, token: Path, nssdb: str, tmp_path: Path) -> None:
    if backend == "pkcs12":
        config.signing = SigningConfig(backend="pkcs12", pkcs12_file=pki.p12, pkcs12_password=P12_PASSWORD,
                                       trust_roots=[pki.root_pem], organisation="UBND huyện Thử nghiệm",
                                       location="Thử nghiệm")  # type: ignore[arg-type]
    else:
        config.signing = SigningConfig(backend="pkcs11", pkcs11_module=SOFTHSM_MODULE, token_label=TOKEN_LABEL,
                                       key_label=KEY_LABEL, pin=TOKEN_PIN, trust_roots=[pki.root_pem],
                                       organisation="UBND huyện Thử nghiệm", location="Thử nghiệm")  # type: ignore[arg-type]
    api = await make_api(config)
    tok = await api.token_for("admin")
    mid = await _held_meeting(api)
    state = await _issue(api, tok, mid)
    [v1] = state["versions"]
    assert v1["signed"] and v1["signer_kind"] == backend and SIGNER_CN in v1["signer"]
    pdf = await _pdf(api, tok, mid)
    path = tmp_path / f"bien-ban-{backend}.pdf"
    path.write_bytes(pdf)

    sig = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    roots = [load_cert_from_pemder(str(pki.root_pem))]
    status = await async_validate_pdf_signature(sig, ValidationContext(trust_roots=roots))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    out = pdfsig(path, nssdb)
    assert "Signature Validation: Signature is Valid" in out and f"Signer Certificate Common Name: {SIGNER_CN}" in out
    assert "Total document signed" in out and "Certificate is Trusted" in out, out
    text = _text(path)
    assert "UBND HUYỆN THỬ NGHIỆM" in text and "Thử nghiệm, ngày" in text and "CHỈ DÙNG THỬ" not in text
    r = await api.client.get(f"/api/v1/scheduled-meetings/{mid}/minutes/verify", headers=api.auth(tok))
    check = await r.json()
    assert check["valid"] and check["trust"] == "trusted" and not check["demo"] and SIGNER_CN in check["signer"]


async def test_a_signer_that_cannot_be_used_refuses_to_issue(make_api: ApiFactory, config: Config,
                                                             pki: Pki) -> None:
    config.signing = SigningConfig(backend="pkcs12", pkcs12_file=pki.p12,
                                   pkcs12_password="sai mật khẩu")  # type: ignore[arg-type]
    api = await make_api(config)
    tok = await api.token_for("operator")
    mid = await _held_meeting(api)
    r = await api.client.post(f"/api/v1/scheduled-meetings/{mid}/minutes/issue", headers=api.auth(tok))
    assert r.status == 503 and (await r.json())["error"]["code"] == "signing_key_unreadable"
    r = await api.client.get(f"/api/v1/scheduled-meetings/{mid}/minutes", headers=api.auth(tok))
    assert (await r.json())["signing"]["error_code"] == "signing_key_unreadable"


CAMERA = "cong-chinh"


async def test_export_gets_a_signed_manifest_that_openssl_and_the_server_verify(api: Api, tmp_path: Path) -> None:
    store = api.app[STORE_KEY]
    data_dir = api.app[CONFIG_KEY].storage.data_dir
    await store.cameras.upsert(CAMERA, "Cổng chính", "config")
    t0 = float(int(time.time()) - 600)
    fx = SegmentFixture(store, data_dir, CAMERA, start_at=t0)
    try:
        await fx.write(3)
    finally:
        fx.close()
    tok = await api.token_for("security")
    r = await api.client.post("/api/v1/exports", json={"camera_id": CAMERA, "start": t0, "end": t0 + 6,
                                                       "reason": "Công an huyện đề nghị cung cấp"},
                              headers=api.auth(tok))
    assert r.status == 202, await r.text()
    export_id = (await r.json())["id"]
    export = await api.app[EXPORTER_KEY].wait(export_id)
    assert export.status == "done", export.error

    r = await api.client.get(f"/api/v1/exports/{export_id}/signature", headers=api.auth(tok))
    sig = await r.json()
    assert sig["signed"] and sig["error_code"] is None, sig
    manifest = await (await api.client.get(sig["manifest_url"], headers=api.auth(tok))).read()
    p7s = await (await api.client.get(sig["signature_url"], headers=api.auth(tok))).read()
    video = await (await api.client.get(f"/api/v1/exports/{export_id}/file", headers=api.auth(tok))).read()
    folder = tmp_path / "usb"
    folder.mkdir()
    (folder / sig["manifest_name"]).write_bytes(manifest)
    (folder / sig["signature_name"]).write_bytes(p7s)
    mp4 = folder / sig["manifest_name"].removesuffix(".manifest.json")
    mp4.write_bytes(video)
    assert "Công an huyện đề nghị cung cấp" in manifest.decode() and "Cổng chính" in manifest.decode()

    ca, _ = demo_paths(data_dir)

    def openssl() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                               str(folder / sig["signature_name"]), "-content", str(folder / sig["manifest_name"]),
                               "-CAfile", str(ca), "-purpose", "any", "-out", os.devnull],
                              capture_output=True, text=True, timeout=30)

    ossl = await asyncio.to_thread(openssl)
    assert ossl.returncode == 0 and "Verification successful" in ossl.stderr, ossl.stderr
    r = await api.client.get(f"/api/v1/exports/{export_id}/verify", headers=api.auth(tok))
    check = await r.json()
    assert check["valid"] and check["kind"] == "export" and check["camera"] == "Cổng chính", check
    assert [f["ok"] for f in check["files"]] == [True]

    # The same three files uploaded to the console's check: valid; with one byte of the video flipped: named.
    async def upload() -> dict[str, Any]:
        form = aiohttp.FormData()
        for p in sorted(folder.iterdir()):
            form.add_field("files", p.read_bytes(), filename=p.name)
        r = await api.client.post("/api/v1/verify", data=form, headers=api.auth(tok))
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body

    first = await upload()
    assert first["valid"], first["summary_en"]
    flip(mp4, len(video) // 2)
    up = await upload()
    assert not up["valid"] and up["problem"] == "file_changed" and mp4.name in up["reason_vi"], up
    cli = await asyncio.to_thread(_cli, str(folder), "--trust", str(ca))
    assert cli.returncode == 1 and f"Tệp {mp4.name} đã bị thay đổi" in cli.stdout, cli.stdout + cli.stderr
    # The manifest is signed data: openssl still accepts it, and it is the video that no longer matches.
    assert (await asyncio.to_thread(openssl)).returncode == 0
    assert hashlib.sha256(mp4.read_bytes()).hexdigest() != export.sha256

    r = await api.client.post("/api/v1/verify", data=b"not multipart", headers=api.auth(tok))
    assert r.status == 415

    # Deleting the export (its hold released first) removes the manifest and its signature with the video.
    exports_dir = data_dir / "exports"
    assert sorted(p.name for p in exports_dir.iterdir()) == sorted([mp4.name, sig["manifest_name"],
                                                                    sig["signature_name"]])
    assert (await api.client.delete(f"/api/v1/holds/{export.hold_id}", headers=api.auth(tok))).status == 200
    assert (await api.client.delete(f"/api/v1/exports/{export_id}", headers=api.auth(tok))).status == 204
    assert list(exports_dir.iterdir()) == []
