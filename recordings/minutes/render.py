"""Render a meeting's minutes (biên bản cuộc họp) as a PDF in the official layout (blocking: run it in a thread).

Layout after Nghị định 30/2020/NĐ-CP: the issuing office and the record's number on the left, the national
motto on the right ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM / Độc lập - Tự do - Hạnh phúc"), the place and date,
the title "BIÊN BẢN CUỘC HỌP", numbered sections, and a signature block, where the PAdES signature's visible
stamp is drawn (``RenderedMinutes.signature_box``). Text is ReportLab paragraphs and tables in Noto Serif
(fonts-noto-core, SIL Open Font Licence 1.1), embedded as a subset: every Vietnamese letter is a precomposed
glyph of that font, so the text is NFC-normalised and needs no shaping; ``pdftotext`` reads it back exactly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from recordings.minutes.content import MISSING, MinutesContent

# fonts-noto-core (scripts/install-system-deps.sh): Noto Serif, the serif face closest to the Times New Roman
# of official documents, with every Vietnamese letter.
FONT_DIR = Path("/usr/share/fonts/truetype/noto")
FONTS = {"Serif": "NotoSerif-Regular.ttf", "Serif-Bold": "NotoSerif-Bold.ttf",
         "Serif-Italic": "NotoSerif-Italic.ttf", "Serif-BoldItalic": "NotoSerif-BoldItalic.ttf"}
FONT_PREFIX = "MinutesNoto"
BODY_PT = 11
SMALL_PT = 8.5
MARGIN = 20 * mm
SIGNATURE_HEIGHT_PT = 80
SIGNATURE_WIDTH_PT = 230
# Per-file SHA-256 lines are printed in the appendix up to this many files; beyond it the per-track digest and
# the attached listing (recordings.sha256, embedded in the signed PDF) carry them.
MAX_LISTED_FILES = 400

STATUS_VI = {"present": "Có mặt", "late": "Đến muộn", "absent": "Vắng mặt", "pending": "Chưa vào"}
TRACK_VI = {"video": "Hình ảnh", "audio": "Âm thanh", "screen": "Chia sẻ màn hình"}
CHOICE_VI = {"yes": "Tán thành", "no": "Không tán thành", "abstain": "Không ý kiến"}
OUTCOME_VI = {"spoke": "Đã phát biểu", "withdrawn": "Rút đăng ký", "left": "Rời cuộc họp",
              "removed": "Chủ trì hủy", "meeting ended": "Cuộc họp kết thúc", None: "Chưa kết thúc"}

_fonts_lock = threading.Lock()
_fonts_ready = False


class MinutesRenderError(Exception):
    """The minutes cannot be rendered (a font is missing)."""


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        for face, file in FONTS.items():
            path = FONT_DIR / file
            try:
                data = path.read_bytes()  # bytes, so no file handle stays open (ResourceWarning)
            except OSError as exc:
                raise MinutesRenderError(f"font {path}: {exc.strerror} (install fonts-noto-core)") from exc
            pdfmetrics.registerFont(TTFont(f"{FONT_PREFIX}-{face}", BytesIO(data)))
        pdfmetrics.registerFontFamily(f"{FONT_PREFIX}-Serif", normal=f"{FONT_PREFIX}-Serif",
                                      bold=f"{FONT_PREFIX}-Serif-Bold", italic=f"{FONT_PREFIX}-Serif-Italic",
                                      boldItalic=f"{FONT_PREFIX}-Serif-BoldItalic")
        _fonts_ready = True


def _f(face: str = "Serif") -> str:
    return f"{FONT_PREFIX}-{face}"


def vn_time(ts: float | None, zone: ZoneInfo, with_date: bool = True) -> str:
    """Return "14:00 ngày 07/12/2026" (vi-VN), or "—"."""
    if ts is None:
        return "—"
    d = datetime.fromtimestamp(ts, zone)
    return d.strftime("%H:%M ngày %d/%m/%Y") if with_date else d.strftime("%H:%M")


def vn_number(value: float, digits: int = 1) -> str:
    """Return a number the vi-VN way: "12,5", thousands with dots ("1.234")."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def vn_size(n: int) -> str:
    """Return a byte count as "8,8 MB" / "512 kB"."""
    if n >= 1_000_000:
        return f"{vn_number(n / 1e6)} MB"
    if n >= 1000:
        return f"{vn_number(n / 1e3)} kB"
    return f"{n} B"


@dataclass(frozen=True, slots=True)
class RenderedMinutes:
    """The PDF, and where the signature stamp goes: page index and box (points, origin bottom left)."""

    pdf: bytes
    pages: int
    signature_page: int
    signature_box: tuple[int, int, int, int]


class _SignatureSpot(Flowable):
    """Empty room for the signature stamp that remembers where it landed."""

    def __init__(self, width: float, height: float, unsigned_text: str | None, style: ParagraphStyle) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.unsigned_text = unsigned_text
        self.style = style
        self.where: tuple[int, tuple[float, float]] | None = None

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canv = self.canv
        self.where = (canv.getPageNumber() - 1, canv.absolutePosition(0, 0))
        if self.unsigned_text is not None:
            p = Paragraph(self.unsigned_text, self.style)
            _, h = p.wrap(self.width, self.height)
            canv.setStrokeColor(colors.HexColor("#b00020"))
            canv.rect(0, 0, self.width, self.height)
            p.drawOn(canv, 0, (self.height - h) / 2)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=_f(), fontSize=BODY_PT, leading=BODY_PT * 1.35, alignment=TA_JUSTIFY)
    return {
        "body": base,
        "center": ParagraphStyle("center", parent=base, alignment=TA_CENTER),
        "head_left": ParagraphStyle("hl", parent=base, fontName=_f("Serif-Bold"), fontSize=11.5,
                                    alignment=TA_CENTER, leading=15),
        "head_right": ParagraphStyle("hr", parent=base, fontName=_f("Serif-Bold"), fontSize=11.5,
                                     alignment=TA_CENTER, leading=15),
        "place": ParagraphStyle("place", parent=base, fontName=_f("Serif-Italic"), alignment=TA_CENTER),
        "title": ParagraphStyle("title", parent=base, fontName=_f("Serif-Bold"), fontSize=15, alignment=TA_CENTER,
                                leading=20, spaceBefore=10),
        "subtitle": ParagraphStyle("sub", parent=base, fontName=_f("Serif-Bold"), alignment=TA_CENTER,
                                   spaceAfter=8),
        "h": ParagraphStyle("h", parent=base, fontName=_f("Serif-Bold"), spaceBefore=9, spaceAfter=3),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9.5, leading=12, alignment=0),
        "cell_b": ParagraphStyle("cellb", parent=base, fontName=_f("Serif-Bold"), fontSize=9.5, leading=12,
                                 alignment=TA_CENTER),
        "small": ParagraphStyle("small", parent=base, fontSize=SMALL_PT, leading=SMALL_PT * 1.3, alignment=0),
        "mono": ParagraphStyle("mono", parent=base, fontSize=7, leading=8.6, alignment=0),
        "sign_h": ParagraphStyle("sh", parent=base, fontName=_f("Serif-Bold"), alignment=TA_CENTER),
        "sign_i": ParagraphStyle("si", parent=base, fontName=_f("Serif-Italic"), alignment=TA_CENTER, fontSize=10),
        "warn": ParagraphStyle("warn", parent=base, fontName=_f("Serif-Bold"), alignment=TA_CENTER, fontSize=10,
                               textColor=colors.HexColor("#b00020"), leading=13),
    }


def _t(text: str) -> str:
    """Escape text for a paragraph, keeping its line breaks."""
    return escape(text).replace("\n", "<br/>")


def _table(rows: list[list[Any]], widths: list[float], st: dict[str, ParagraphStyle]) -> Table:
    head, *body = rows
    data: list[list[Flowable]] = [[Paragraph(_t(str(c)), st["cell_b"]) for c in head]]
    data += [[c if isinstance(c, Flowable) else Paragraph(_t(str(c)), st["cell"]) for c in r] for r in body]
    t = Table(data, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return t


def _page_footer(c: MinutesContent) -> Any:
    def draw(canv: Canvas, doc: Any) -> None:
        canv.saveState()
        canv.setFont(_f(), SMALL_PT)
        canv.drawCentredString(A4[0] / 2, 10 * mm,
                               f"Biên bản cuộc họp số {c.meeting_id}, phiên bản {c.version} — trang {doc.page}")
        canv.restoreState()
    return draw


def render_minutes(c: MinutesContent) -> RenderedMinutes:
    """Lay out the minutes as an A4 PDF (blocking)."""
    _register_fonts()
    zone = ZoneInfo(c.timezone)
    st = _styles()
    width = A4[0] - 2 * MARGIN
    issued = datetime.fromtimestamp(c.issued_at, zone)
    story: list[Flowable] = []

    # Header: the office and the number on the left, the national motto on the right; the place and date.
    left = [Paragraph(_t(c.organisation.upper()), st["head_left"]),
            Paragraph(f"Số: {c.meeting_id}/BB-HOP (phiên bản {c.version})", st["center"])]
    right = [Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st["head_right"]),
             Paragraph("<u>Độc lập - Tự do - Hạnh phúc</u>", st["head_right"])]
    head = Table([[left, right]], colWidths=[width * 0.42, width * 0.58])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(head)
    place = f"{_t(c.location)}, ngày" if c.location else "Ngày"
    story.append(Paragraph(f"{place} {issued:%d} tháng {issued:%m} năm {issued:%Y}", st["place"]))
    story.append(Paragraph("BIÊN BẢN CUỘC HỌP", st["title"]))
    story.append(Paragraph(_t(c.title), st["subtitle"]))
    if not c.signed:
        story.append(Paragraph("BẢN CHƯA KÝ SỐ — in ra để ký tay và đóng dấu, hoặc phát hành lại khi đã cấu hình "
                               "chữ ký số", st["warn"]))
    elif c.demo_signature:
        story.append(Paragraph("KÝ BẰNG CHỨNG THƯ SỐ CHỈ DÙNG THỬ — không có giá trị pháp lý", st["warn"]))

    n = 0

    def section(title: str) -> None:
        nonlocal n
        n += 1
        story.append(Paragraph(f"{_roman(n)}. {_t(title)}", st["h"]))

    def para(text: str) -> None:
        story.append(Paragraph(text, st["body"]))

    section("Thời gian, địa điểm, chủ trì")
    para(f"Thời gian: từ {vn_time(c.starts_at, zone)} đến {vn_time(c.ends_at, zone)} (theo lịch)")
    if c.held_from is not None:
        para(f"Thực tế: bắt đầu {vn_time(c.held_from, zone)}, kết thúc "
             f"{vn_time(c.held_until, zone) if c.held_until is not None else '(đang diễn ra)'}")
    para(f"Hình thức: họp trực tuyến, phòng họp “{_t(c.room_name)}”")
    para(f"Chủ trì: {_t(c.chair_name)}")

    section("Nội dung, chương trình")
    para(_t(c.agenda) if c.agenda.strip() else "(không ghi)")

    section("Thành phần tham dự")
    counts = c.counts
    total = len(c.attendance)
    para(f"Số điểm cầu được mời: {total}; có mặt {counts.get('present', 0)}, đến muộn {counts.get('late', 0)}, "
         f"vắng mặt {counts.get('absent', 0)}" + (f", chưa vào {counts['pending']}" if counts.get("pending") else ""))
    rows: list[list[Any]] = [["STT", "Điểm cầu", "Tình trạng", "Vào lúc", "Số phút có mặt", "Lý do vắng"]]
    for i, a in enumerate(c.attendance, start=1):
        rows.append([i, a.name, STATUS_VI.get(a.status, a.status), vn_time(a.first_join_at, zone, with_date=False),
                     vn_number(a.minutes_present), a.absence_reason or ""])
    story.append(_table(rows, [24, width * 0.33, 62, 46, 52, width - 24 - width * 0.33 - 160], st))

    section("Phát biểu")
    if c.turns:
        rows = [["STT", "Điểm cầu", "Đăng ký", "Được phát biểu", "Kết thúc", "Kết quả"]]
        for i, t in enumerate(c.turns, start=1):
            rows.append([i, t.site_name, vn_time(t.requested_at, zone, False), vn_time(t.granted_at, zone, False),
                         vn_time(t.ended_at, zone, False), OUTCOME_VI.get(t.outcome, t.outcome or "")])
        story.append(_table(rows, [24, width * 0.36, 50, 70, 50, width - 24 - width * 0.36 - 170], st))
    else:
        para("Không có điểm cầu đăng ký phát biểu.")

    section("Biểu quyết")
    if c.votes:
        for i, v in enumerate(c.votes, start=1):
            voted = v.yes + v.no + v.abstain
            share = f" ({vn_number(100 * v.yes / voted)} % số phiếu)" if voted else ""
            lines = [f"<b>{i}. {_t(v.text)}</b>" + (" (biểu quyết kín)" if v.secret else ""),
                     f"Mở lúc {vn_time(v.opened_at, zone, False)}, đóng lúc {vn_time(v.closed_at, zone, False)}. "
                     f"Tán thành: {v.yes}{share}; không tán thành: {v.no}; không ý kiến: {v.abstain}; "
                     f"chưa biểu quyết: {len(v.not_voted)}."]
            if v.ballots:
                lines.append("Phiếu: " + "; ".join(f"{_t(name)}: {CHOICE_VI.get(ch, ch).lower()}"
                                                   for name, ch in v.ballots) + ".")
            if v.not_voted:
                lines.append("Chưa biểu quyết: " + ", ".join(_t(s) for s in v.not_voted) + ".")
            story.append(Paragraph("<br/>".join(lines), st["body"]))
    else:
        para("Không có nội dung biểu quyết.")

    section("Tài liệu họp")
    if c.documents:
        rows = [["STT", "Tài liệu", "Tệp", "Dung lượng", "SHA-256"]]
        for i, d in enumerate(c.documents, start=1):
            rows.append([i, d.title, d.filename, vn_size(d.size), Paragraph(_wrap_hex(d.sha256), st["mono"])])
        story.append(_table(rows, [24, width * 0.3, width * 0.25, 52, width - 76 - width * 0.55], st))
    else:
        para("Không có tài liệu họp.")

    if c.chat is not None:
        section("Trích nội dung trao đổi (trò chuyện)")
        if c.chat:
            rows = [["Lúc", "Từ", "Đến", "Nội dung"]]
            for m in c.chat:
                rows.append([vn_time(m.at, zone, False), m.from_name, m.to_name or "Tất cả", m.text])
            story.append(_table(rows, [40, width * 0.25, width * 0.18, width - 40 - width * 0.43], st))
        else:
            para("Không có tin nhắn.")

    section("Ghi hình cuộc họp")
    if c.recordings:
        nfiles = sum(len(r.files) for r in c.recordings)
        para(f"{len(c.recordings)} bản ghi, {nfiles} tệp, tổng {vn_size(sum(r.bytes for r in c.recordings))}. "
             "Mã SHA-256 của mỗi bản ghi là mã của danh sách tệp (định dạng sha256sum) kèm trong tệp PDF này "
             "(recordings.sha256).")
        rows = [["STT", "Điểm cầu", "Loại", "Thời gian", "Số tệp", "SHA-256"]]
        for i, r in enumerate(c.recordings, start=1):
            rows.append([i, r.site_name, TRACK_VI.get(r.track, r.track),
                         f"{vn_time(r.start_at, zone, False)}–{vn_time(r.end_at, zone, False)}",
                         f"{len(r.files)} ({vn_size(r.bytes)})", Paragraph(_wrap_hex(r.digest), st["mono"])])
        story.append(_table(rows, [24, width * 0.26, 56, 62, 62, width - 204 - width * 0.26], st))
    else:
        para("Cuộc họp không được ghi hình.")

    section("Kết luận")
    para(_t(c.conclusions) if c.conclusions.strip() else "(không có kết luận)")

    end = c.held_until if c.held_until is not None else c.ends_at
    para(f"Cuộc họp kết thúc lúc {vn_time(end, zone)}. Biên bản lập lúc {vn_time(c.issued_at, zone)} "
         f"bởi {_t(c.issued_by)}, phiên bản {c.version}.")

    # Signature block: the chair's side holds the digital signature's stamp (or the "not signed" notice).
    unsigned = None if c.signed else "CHƯA KÝ SỐ"
    spot = _SignatureSpot(SIGNATURE_WIDTH_PT, SIGNATURE_HEIGHT_PT, unsigned, st["warn"])
    sign = Table([[
        [Paragraph("THƯ KÝ", st["sign_h"]), Paragraph("(Ký, ghi rõ họ tên)", st["sign_i"])],
        [Paragraph("CHỦ TRÌ CUỘC HỌP", st["sign_h"]), Paragraph(_t(c.chair_name), st["sign_i"]), spot],
    ]], colWidths=[width * 0.4, width * 0.6])
    sign.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "CENTER")]))
    story.append(Spacer(1, 12))
    story.append(KeepTogether([sign]))

    listing = c.recording_listing
    nfiles = listing.count("\n")
    if 0 < nfiles <= MAX_LISTED_FILES:
        story.append(Paragraph("Phụ lục: SHA-256 từng tệp ghi hình (đường dẫn trong thư mục dữ liệu)", st["h"]))
        for line in listing.splitlines():
            story.append(Paragraph(_t(line), st["mono"]))

    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"Biên bản cuộc họp: {c.title}",
                            author=c.organisation, subject=f"Biên bản cuộc họp số {c.meeting_id}",
                            creator="mediaserver", lang="vi")
    footer = _page_footer(c)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    assert spot.where is not None
    page, (x, y) = spot.where
    box = (int(x), int(y), int(x + SIGNATURE_WIDTH_PT), int(y + SIGNATURE_HEIGHT_PT))
    pdf = out.getvalue()
    return RenderedMinutes(pdf, doc.page, page, box)


def _wrap_hex(digest: str) -> str:
    # Break a 64-digit digest in two lines so it fits a narrow column (copying it keeps the digits).
    return digest if digest == MISSING else f"{digest[:32]}<br/>{digest[32:]}"


def _roman(n: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, letters in numerals:
        while n >= value:
            out += letters
            n -= value
    return out
