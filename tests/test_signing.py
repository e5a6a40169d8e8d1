"""Signed records with real parts: a test CA, a PKCS#12 file, a SoftHSM2 token, pyHanko's validator, pdfsig."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from aiohttp import web
from asn1crypto import tsp  # type: ignore[import-untyped]
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from mediaserver.cli import main
from mediaserver.config import ConfigError, SigningConfig, load_config
from mediaserver.storage.repos import Export
from recordings.export import file_sha256
from recordings.signing import (
    OfficeSigner,
    SigningError,
    StampPlacement,
    export_manifest,
    load_certificates,
    sign_pdf,
    sign_pdf_async,
    verify,
    write_signed_manifest_async,
)
from tests.signing_fixtures import (
    KEY_LABEL,
    ORG,
    P12_PASSWORD,
    PDF_TITLE,
    SIGNER_CN,
    SOFTHSM_MODULE,
    TOKEN_LABEL,
    TOKEN_PIN,
    Pki,
    flip,
    nssdb_fixture,  # noqa: F401 — the nssdb fixture
    p11_signer,
    p12_signer,
    pdfsig,
    pki_fixture,  # noqa: F401 — the pki fixture
    token_fixture,  # noqa: F401 — the token fixture
)

NOTO = "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"  # fonts-noto-core (install-system-deps.sh)
PAGE_TEXT = "BIÊN BẢN CUỘC HỌP\nUBND huyện Thử nghiệm — Kết luận: tán thành 12/14"


@dataclass
class _Engine(FontEngineFactory):
    engine: GlyphAccumulator

    def create_font_engine(self, writer: object, obj_stream: object = None) -> GlyphAccumulator:
        return self.engine


def _pdf() -> bytes:
    """Return a one-page PDF with Vietnamese text in an embedded Noto Sans subset (pyHanko's text layout)."""
    w = PdfFileWriter()
    # GlyphAccumulatorFactory would open the font file and never close it: hand the engine the bytes instead.
    engine = GlyphAccumulator(writer=w, font_handle=BytesIO(Path(NOTO).read_bytes()), font_size=14)
    box = TextBox(TextBoxStyle(font=_Engine(engine), font_size=14), writer=w,
                  box=layout.BoxConstraints(width=520, height=200))
    box.content = PAGE_TEXT
    stream = w.add_object(generic.StreamObject(stream_data=b"q 1 0 0 1 40 600 cm " + box.render() + b" Q"))
    w.insert_page(PageObject(stream, (0, 0, 595, 842), resources=box.resources.as_pdf_object()))
    w.set_info(generic.DictionaryObject({
        generic.pdf_name("/Title"): generic.TextStringObject(PDF_TITLE),
        generic.pdf_name("/Author"): generic.TextStringObject(ORG),
    }))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def _ink(path: Path, box: tuple[int, int, int, int]) -> float:
    """Return the share of non-white pixels in ``box`` (PDF points, origin bottom left) of the last page."""
    import numpy as np

    out = subprocess.run(["pdftoppm", "-r", "72", "-gray", "-l", "1", str(path)], capture_output=True, timeout=30,
                         check=True).stdout
    # PGM (P5): magic, width height, maxval, then one byte per pixel.
    magic, w, h, _maxval, pixels = out.split(maxsplit=4)
    assert magic == b"P5"
    img = np.frombuffer(pixels[: int(w) * int(h)], np.uint8).reshape(int(h), int(w))
    x1, y1, x2, y2 = box
    region = img[int(h) - y2: int(h) - y1, x1:x2]
    return float((region < 200).mean())


def _cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["verify", *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.mark.parametrize("kind", ["pkcs12", "pkcs11"])
def test_pdf_signed_verifies_with_pyhanko_pdfsig_and_cli(kind: str, pki: Pki, token: Path, nssdb: str,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signer = p12_signer(pki) if kind == "pkcs12" else p11_signer()
    assert signer is not None and signer.kind == kind
    assert signer.certificate().common_name == SIGNER_CN
    original = _pdf()
    # The token's signature has a visible block (Vietnamese text in the embedded font); the file's is invisible.
    stamp = StampPlacement(page=-1, box=(330, 36, 560, 96)) if kind == "pkcs11" else None
    signed = sign_pdf(original, signer, reason="Xác nhận biên bản", location="Thử nghiệm", field_name="ChuKySo",
                      stamp=stamp)
    assert signed.startswith(original)  # an incremental update: the document itself is untouched
    path = tmp_path / f"bien-ban-{kind}.pdf"
    path.write_bytes(signed)

    # pyHanko's validator, against the test root.
    root = load_cert_from_pemder(str(pki.root_pem))
    sig = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert status.signer_reported_dt is not None
    assert abs((status.signer_reported_dt - dt.datetime.now(dt.UTC)).total_seconds()) < 120

    # poppler, an independent implementation (its own CMS code via NSS).
    out = pdfsig(path, nssdb)
    assert "Signature Validation: Signature is Valid" in out, out
    assert "Certificate Validation: Certificate is Trusted" in out, out
    assert f"Signer Certificate Common Name: {SIGNER_CN}" in out, out
    assert "Signature Type: ETSI.CAdES.detached" in out and "Total document signed" in out, out
    assert "Signing Time:" in out, out

    rc, text = _cli(str(path), "--trust", str(pki.root_pem), capsys=capsys)
    assert rc == 0, text
    assert SIGNER_CN in text and ORG in text and "HỢP LỆ" in text

    # pdftoppm draws the stamp's box: ink there only when there is a stamp (72 dpi: 1 px = 1 pt).
    ink = _ink(path, (330, 36, 560, 96))
    assert (ink > 0.02) if stamp is not None else (ink == 0.0), ink

    # The page still reads in Vietnamese (pdftotext), and pdfinfo shows the Vietnamese title.
    text_out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=30).stdout
    assert "BIÊN BẢN CUỘC HỌP" in text_out and "UBND huyện Thử nghiệm" in text_out, text_out

    # One byte of the document (the Info dictionary's title), inside the signed range.
    flip(path, signed.index(b"/Title") + 3)
    rc, text = _cli(str(path), "--trust", str(pki.root_pem), capsys=capsys)
    assert rc == 1, text
    assert "Nội dung đã bị thay đổi sau khi ký" in text and "changed after it was signed" in text
    assert "Signature is Valid" not in pdfsig(path, nssdb)


def test_pdf_changes_appended_after_signing_and_broken_signature(pki: Pki, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    signer = p12_signer(pki)
    assert signer is not None
    signed = sign_pdf(_pdf(), signer, reason="r", location="", field_name="ChuKySo")
    appended = tmp_path / "appended.pdf"
    # An incremental update after the signature (what a forger's editor would add): the signed range no
    # longer covers the whole file.
    appended.write_bytes(signed + b"\n% sua doi sau khi ky\n")
    rc, text = _cli(str(appended), capsys=capsys)
    assert rc == 1 and "sửa thêm sau khi ký" in text, text

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(signed)
    contents_at = signed.index(b"/Contents <") + len(b"/Contents <") + 120  # in the DER, not the padding
    flip(broken, contents_at)
    r = verify(broken)
    assert not r.valid and r.problem in ("signature_broken", "content_changed"), r
    rc, text = _cli(str(broken), capsys=capsys)
    assert rc == 1

    nosig = tmp_path / "unsigned.pdf"
    nosig.write_bytes(_pdf())
    rc, text = _cli(str(nosig), capsys=capsys)
    assert rc == 1 and "không có chữ ký số" in text


def test_trust_results(pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signer = p12_signer(pki)
    assert signer is not None
    path = tmp_path / "signed.pdf"
    path.write_bytes(sign_pdf(_pdf(), signer, reason="r", location="", field_name="ChuKySo"))
    # No trust roots: intact, chain not judged (said so), exit 0.
    r = verify(path)
    assert r.intact and r.trust == "unchecked" and r.valid
    rc, text = _cli(str(path), capsys=capsys)
    assert rc == 0 and "chưa kiểm tra" in text, text
    # Another CA's root: refused, with the reason.
    r = verify(path, load_certificates([pki.other_root_pem]))
    assert r.intact and r.trust == "untrusted" and not r.valid and r.problem == "untrusted"
    rc, text = _cli(str(path), "--trust", str(pki.other_root_pem), capsys=capsys)
    assert rc == 1 and "không do CA tin cậy cấp" in text, text

    self_signer = OfficeSigner.from_pkcs12(pki.self_signed_p12, P12_PASSWORD)
    own = tmp_path / "self.pdf"
    own.write_bytes(sign_pdf(_pdf(), self_signer, reason="r", location="", field_name="ChuKySo"))
    r = verify(own, load_certificates([pki.root_pem]))
    assert r.intact and r.problem == "self_signed" and not r.valid, r
    assert r.signer is not None and r.signer.self_signed


def test_signer_errors_are_clear(pki: Pki, token: Path, tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="pkcs12_password"):
        OfficeSigner.from_pkcs12(pki.p12, "sai mật khẩu")
    with pytest.raises(SigningError) as e:
        p11_signer(pin="000000").certificate()
    assert e.value.code == "signing_pin_incorrect"
    missing = OfficeSigner.from_pkcs11(SOFTHSM_MODULE, TOKEN_LABEL, key_label="khong-co", pin=TOKEN_PIN)
    with pytest.raises(SigningError) as e:
        missing.certificate()
    assert e.value.code == "signing_key_not_found" and "khong-co" in e.value.message
    signer = p12_signer(pki)
    assert signer is not None
    with pytest.raises(SigningError) as e:
        sign_pdf(b"MZ\x90\x00 not a pdf", signer, reason="r", location="", field_name="F")
    assert e.value.code == "signing_not_pdf"
    # Through the config loader, as `mediaserver check-config` reports them: by path, with the reason.
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"signing:\n  backend: pkcs11\n  pkcs11_module: {tmp_path / 'nope.so'}\n  token_label: t\n"
                   "  key_label: k\n  pin: ${SIGNING_TEST_PIN:-1234}\n  trust_roots: [/khong/co/ca.pem]\n")
    with pytest.raises(ConfigError) as ce:
        load_config(cfg)
    problems = {p.path: p.message for p in ce.value.problems}
    assert f"no such file: {tmp_path / 'nope.so'}" in problems["signing.pkcs11_module"], problems
    assert "no such file: /khong/co/ca.pem" in problems["signing.trust_roots"], problems
    with pytest.raises(ValueError, match=r"signing\.pkcs12_file is required"):
        SigningConfig(backend="pkcs12")


def _export(tmp: Path, name: str, data: bytes) -> Export:
    (tmp / name).write_bytes(data)
    return Export("e1a2b3", "cong-chinh", 1_796_614_200.0, 1_796_616_000.0, "done", 1.0, f"exports/{name}",
                  len(data), file_sha256(tmp / name), 7, None, "can-bo-a", 1_796_616_100.0, 1_796_616_160.0,
                  1790.0, 10.0, ((1_796_614_500.0, 1_796_614_510.0),))


async def _tsa_server(pki: Pki) -> tuple[web.AppRunner, str]:
    """Serve RFC 3161 on 127.0.0.1 (pyHanko's in-process TSA behind a real HTTP endpoint)."""
    stamper = DummyTimeStamper(tsa_cert=load_cert_from_pemder(str(pki.tsa_cert_pem)),
                               tsa_key=load_private_key_from_pemder(str(pki.tsa_key_pem), passphrase=None))

    async def handle(request: web.Request) -> web.Response:
        req = tsp.TimeStampReq.load(await request.read())
        resp = await stamper.async_request_tsa_response(req)
        return web.Response(body=resp.dump(), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/tsa"


async def test_export_manifest_signed_on_token_with_timestamp(pki: Pki, token: Path, tmp_path: Path) -> None:
    runner, url = await _tsa_server(pki)
    try:
        signer = OfficeSigner.from_pkcs11(SOFTHSM_MODULE, TOKEN_LABEL, key_label=KEY_LABEL, pin=TOKEN_PIN,
                                          tsa_url=url)
        name = "cong-chinh_20261207T143000+0700_20261207T150000+0700_e1a2b3.mp4"
        export = _export(tmp_path, name, os.urandom(300_000))
        manifest = export_manifest(export, camera_name="Cổng chính", reason="Công an huyện đề nghị cung cấp",
                                   timezone="Asia/Ho_Chi_Minh")
        assert manifest["range"]["start_local"].endswith("+07:00")
        out = await write_signed_manifest_async(tmp_path, manifest, signer)
        assert out.manifest_path.name == name + ".manifest.json"
        assert out.signature_path.name == name + ".manifest.json.p7s"
        stored = json.loads(out.manifest_path.read_text("utf-8"))
        assert stored["files"][0] == {"name": name, "bytes": 300_000, "sha256": export.sha256}
        assert stored["reason"] == "Công an huyện đề nghị cung cấp" and stored["exported_by"] == "can-bo-a"
        # Also in the event loop: the async path hands the work to threads.
        pdf_signed = await sign_pdf_async(_pdf(), signer, reason="r", location="", field_name="ChuKySo")
    finally:
        await runner.cleanup()
    pdf = tmp_path / "with-ts.pdf"
    pdf.write_bytes(pdf_signed)
    roots = load_certificates([pki.root_pem])
    r = await asyncio.to_thread(verify, pdf, roots)
    assert r.valid and r.timestamp is not None, r

    # Independently of this code: OpenSSL checks the detached CMS against the test root.
    ossl = await asyncio.to_thread(
        subprocess.run, ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(out.signature_path),
                         "-content", str(out.manifest_path), "-CAfile", str(pki.root_pem), "-out", os.devnull,
                         "-purpose", "any"], capture_output=True, text=True, timeout=30)
    assert ossl.returncode == 0 and "Verification successful" in ossl.stderr, ossl.stderr

    r = await asyncio.to_thread(verify, tmp_path / (name + ".manifest.json"), roots)
    assert r.kind == "export" and r.valid and r.trust == "trusted", r
    assert r.signer is not None and r.signer.common_name == SIGNER_CN and r.signer.organization == ORG
    assert r.signing_time is not None and r.timestamp is not None
    assert [f.ok for f in r.files] == [True]

    # The CLI in its own process, on the directory: exit 0; then flip one byte of the video: exit 1, named.
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mediaserver.cli", "verify", *args], capture_output=True,
                              text=True, timeout=60)

    ok = await asyncio.to_thread(cli, str(tmp_path), "--trust", str(pki.root_pem))  # the folder holding it
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Cổng chính" in ok.stdout and SIGNER_CN in ok.stdout
    flip(tmp_path / name, 150_000)
    bad = await asyncio.to_thread(cli, str(out.signature_path), "--trust", str(pki.root_pem))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"Tệp {name} đã bị thay đổi" in bad.stdout and "SHA-256" in bad.stdout

    # The manifest itself edited (a different reason): the signature no longer matches it.
    flip(tmp_path / name, 150_000)
    text = out.manifest_path.read_text("utf-8").replace("Công an huyện", "Công an tỉnh")
    out.manifest_path.write_text(text, "utf-8")
    r = await asyncio.to_thread(verify, out.manifest_path, roots)
    assert not r.intact and r.problem == "manifest_changed", r


def test_manifest_refused_when_files_do_not_match(pki: Pki, tmp_path: Path) -> None:
    signer = p12_signer(pki)
    assert signer is not None
    export = _export(tmp_path, "a.mp4", b"x" * 1000)
    manifest = export_manifest(export)
    (tmp_path / "a.mp4").write_bytes(b"y" * 1000)
    with pytest.raises(SigningError, match="SHA-256 differs"):
        asyncio.run(write_signed_manifest_async(tmp_path, manifest, signer))
    assert not list(tmp_path.glob("*.p7s"))
    with pytest.raises(SigningError, match="not done"):
        export_manifest(Export("x", "c", 0, 1, "running", 0.5, None, None, None, None, None, "u", 0, None))


def test_cli_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, text = _cli(str(tmp_path / "khong-co.pdf"), capsys=capsys)
    assert rc == 2 and "khong-co.pdf" in text and "Không tìm thấy" in text
    rc, text = _cli(str(tmp_path), capsys=capsys)
    assert rc == 2 and "không có bản kê" in text
    for n in ("a.mp4.manifest.json", "b.mp4.manifest.json"):
        (tmp_path / n).write_text("{}")
    rc, text = _cli(str(tmp_path), capsys=capsys)
    assert rc == 2 and "a.mp4.manifest.json, b.mp4.manifest.json" in text
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate")
    f = tmp_path / "x.pdf"
    f.write_bytes(_pdf())
    rc, text = _cli(str(f), "--trust", str(bad_ca), capsys=capsys)
    assert rc == 2 and "ca.pem" in text


def test_damaged_files_never_crash_and_never_pass(pki: Pki, tmp_path: Path) -> None:
    """Flip one byte at 50 random places of a signed PDF and 25 of a manifest signature: always a plain result."""
    import random

    signer = p12_signer(pki)
    assert signer is not None
    roots = load_certificates([pki.root_pem])
    signed = sign_pdf(_pdf(), signer, reason="r", location="", field_name="ChuKySo")
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    end = signed.index(b">", start)  # the hex signature value: its zero padding is not signed data
    rng = random.Random(15)
    path = tmp_path / "f.pdf"
    outcomes: set[str | None] = set()
    for off in rng.sample(range(len(signed)), 50):
        data = bytearray(signed)
        data[off] ^= 0x01
        path.write_bytes(bytes(data))
        r = verify(path, roots)
        outcomes.add(r.problem)
        assert start <= off < end or not r.valid, (off, signed[off - 20: off + 20])
    assert {"content_changed", "signature_broken"} <= outcomes

    export = _export(tmp_path, "a.mp4", b"v" * 5000)
    out = asyncio.run(write_signed_manifest_async(tmp_path, export_manifest(export), signer))
    der = out.signature_path.read_bytes()
    for off in rng.sample(range(len(der)), 25):
        data = bytearray(der)
        data[off] ^= 0x01
        out.signature_path.write_bytes(bytes(data))
        r = verify(out.manifest_path, roots)
        # A flip in an unsigned part of the certificate set can leave the signature valid; it never crashes.
        assert r.problem in (None, "signature_broken", "manifest_changed", "untrusted", "self_signed"), r
