"""Invitation and reminder e-mails for scheduled meetings, and the QR code of a join link (composition only, no I/O).

The letters follow the register of an official invitation (giấy mời) in Vietnamese, then repeat the essentials in
English. Each message has a plain-text body and an HTML alternative whose QR code is an inline PNG (by Content-ID:
mail clients block SVG and data URIs); the link itself stays the prominent way in.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import segno

TIMEZONE = "Asia/Ho_Chi_Minh"
VI_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
# Error correction M survives a smudged or creased printout; at 4 px a module a join link (~40-70 modules with
# its token) prints at 4-7 cm, which phones read from arm's length.
QR_ERROR = "m"
QR_SCALE = 4
_QR_CID = "join-qr@mediaserver"


@dataclass(frozen=True)
class MeetingInfo:
    """What a letter says about a scheduled meeting (times are Unix seconds)."""

    title: str
    agenda: str
    room_name: str
    starts_at: float
    ends_at: float
    test_before_min: int
    chair_name: str


def _local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(tz))


def vi_time(ts: float, tz: str = TIMEZONE) -> str:
    """Return the local time of day as Vietnamese letters write it ("07:00")."""
    return _local(ts, tz).strftime("%H:%M")


def vi_date(ts: float, tz: str = TIMEZONE) -> str:
    """Return the local date with its weekday ("Thứ Hai, ngày 07/12/2026")."""
    d = _local(ts, tz)
    return f"{VI_WEEKDAYS[d.weekday()]}, ngày {d:%d/%m/%Y}"


def vi_datetime(ts: float, tz: str = TIMEZONE) -> str:
    """Return the local time and date as Vietnamese letters write them ("08:00, Thứ Hai, ngày 07/12/2026")."""
    return f"{vi_time(ts, tz)}, {vi_date(ts, tz)}"


def en_datetime(ts: float, tz: str = TIMEZONE) -> str:
    """Return the local time and date in English ("08:00, Monday 7 December 2026 (UTC+07:00)")."""
    d = _local(ts, tz)
    offset = d.strftime("%z")
    return (f"{d:%H:%M}, {EN_WEEKDAYS[d.weekday()]} {d.day} {EN_MONTHS[d.month - 1]} {d.year} "
            f"(UTC{offset[:3]}:{offset[3:]})")


def _same_day(a: float, b: float, tz: str) -> bool:
    return _local(a, tz).date() == _local(b, tz).date()


def qr_code(url: str) -> segno.QRCode:
    """Return the QR code of a URL (never a Micro QR, which phone cameras often miss)."""
    return segno.make_qr(url, error=QR_ERROR)


def qr_svg(url: str) -> str:
    """Return the QR code of a URL as an inline ``<svg>`` element (no XML declaration; also valid as a file)."""
    qr = qr_code(url)
    buf = io.BytesIO()
    # A white background: the quiet zone must stay light on a dark page. omitsize gives a viewBox, so CSS can
    # resize the picture; the width and height added back are its print size.
    qr.save(buf, kind="svg", scale=QR_SCALE, border=4, xmldecl=False, svgns=True, nl=False, omitsize=True,
                      title="Mã QR / QR code", svgclass="qr", lineclass=None, dark="#000", light="#fff")
    svg = buf.getvalue().decode("utf-8")
    side = int(qr.symbol_size(scale=QR_SCALE, border=4)[0])
    return svg.replace(" viewBox=", f' width="{side}" height="{side}" viewBox=', 1)


def qr_png(url: str) -> tuple[bytes, int]:
    """Return the QR code of a URL as PNG bytes (mail clients do not show SVG) and its side in pixels."""
    qr = qr_code(url)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=QR_SCALE, border=4)
    return buf.getvalue(), int(qr.symbol_size(scale=QR_SCALE, border=4)[0])


# ------------------------------------------------------------------------------------------- letters


@dataclass(frozen=True)
class _Letter:
    """The parts of a letter both bodies are built from (already localised, not yet escaped)."""

    greeting_vi: str
    lead_vi: list[str]
    facts_vi: list[tuple[str, str]]
    notes_vi: list[str]
    lead_en: list[str]
    facts_en: list[tuple[str, str]]
    notes_en: list[str]


def _when(info: MeetingInfo, tz: str) -> tuple[str, str]:
    if _same_day(info.starts_at, info.ends_at, tz):
        return (f"{vi_datetime(info.starts_at, tz)}, dự kiến kết thúc lúc {vi_time(info.ends_at, tz)}",
                f"{en_datetime(info.starts_at, tz)}, until about {vi_time(info.ends_at, tz)}")
    return (f"từ {vi_datetime(info.starts_at, tz)} đến {vi_datetime(info.ends_at, tz)}",
            f"from {en_datetime(info.starts_at, tz)} to {en_datetime(info.ends_at, tz)}")


def _test_window(info: MeetingInfo, tz: str) -> tuple[list[str], list[str]]:
    if info.test_before_min <= 0:
        return [], []
    opens_at = info.starts_at - info.test_before_min * 60
    # A long test window before an early start begins the day before: then say which day.
    opens = vi_time(opens_at, tz) if _same_day(opens_at, info.starts_at, tz) else vi_datetime(opens_at, tz)
    return ([f"Phòng họp mở từ {opens} để kiểm tra âm thanh, hình ảnh; đề nghị quý đơn vị vào sớm để kiểm tra "
             "thiết bị trước giờ họp."],
            [f"The room opens at {opens} to check sound and picture; please join early to test your equipment."])


def _facts(info: MeetingInfo, tz: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    when_vi, when_en = _when(info, tz)
    vi = [("Thời gian", when_vi), ("Chủ trì", info.chair_name), ("Phòng họp", info.room_name)]
    en = [("Time", when_en), ("Chair", info.chair_name), ("Room", info.room_name)]
    return vi, en


_LINK_NOTE_VI = ("Mở đường dẫn bằng trình duyệt Chrome, Edge hoặc Firefox trên máy có camera và micrô, hoặc quét mã QR "
                 "bằng điện thoại. Đường dẫn này dành riêng cho quý đơn vị, đề nghị không chuyển cho đơn vị khác.")
_LINK_NOTE_EN = ("Open the link in Chrome, Edge or Firefox on a computer with a camera and microphone, or scan the QR "
                 "code with a phone. The link is personal to your site: please do not forward it.")


def _text_body(letter: _Letter, info: MeetingInfo, join_url: str, sender_name: str) -> str:
    lines = [letter.greeting_vi, "", *letter.lead_vi, "", f"    {info.title}", ""]
    lines += [f"{k}: {v}." for k, v in letter.facts_vi]
    lines += ["", *letter.notes_vi]
    if info.agenda.strip():
        lines += ["", "Nội dung, chương trình:", info.agenda.strip()]
    lines += ["", "Đường dẫn tham dự:", join_url, "", _LINK_NOTE_VI, "", "Trân trọng./.", sender_name]
    lines += ["", "-" * 72, "English", "", *letter.lead_en, "", f"    {info.title}", ""]
    lines += [f"{k}: {v}." for k, v in letter.facts_en]
    lines += ["", *letter.notes_en]
    if info.agenda.strip():
        lines += ["", "Agenda: see above."]
    lines += ["", "Join link:", join_url, "", _LINK_NOTE_EN, ""]
    return "\n".join(lines)


def _html_body(letter: _Letter, info: MeetingInfo, join_url: str, sender_name: str, qr_side: int) -> str:
    e = html.escape
    url = e(join_url)

    def facts(rows: list[tuple[str, str]]) -> str:
        cells = "".join(f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{e(k)}</th><td>{e(v)}</td></tr>'
                        for k, v in rows)
        return f'<table style="border-collapse:collapse">{cells}</table>'

    def paras(texts: list[str]) -> str:
        return "".join(f"<p>{e(t)}</p>" for t in texts)

    link = (f'<p style="margin:20px 0"><a href="{url}" style="display:inline-block;padding:12px 20px;'
            'background:#0b5cad;color:#ffffff;text-decoration:none;font-weight:bold;border-radius:4px">'
            f'Vào phòng họp / Join the meeting</a></p><p style="word-break:break-all;font-size:90%">{url}</p>'
            f'<p><img src="cid:{_QR_CID}" alt="Mã QR của đường dẫn / QR code of the link" '
            f'width="{qr_side}" height="{qr_side}"></p>')
    agenda_vi = agenda_en = ""
    if info.agenda.strip():
        agenda_vi = (f'<h3>Nội dung, chương trình</h3><p style="white-space:pre-line">{e(info.agenda.strip())}</p>')
        agenda_en = "<p>Agenda: see above.</p>"
    return (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"></head>'
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#111">'
        f"<p><strong>{e(letter.greeting_vi)}</strong></p>{paras(letter.lead_vi)}"
        f'<h2 style="font-size:19px">{e(info.title)}</h2>{facts(letter.facts_vi)}{paras(letter.notes_vi)}'
        f"{agenda_vi}{link}<p>{e(_LINK_NOTE_VI)}</p><p>Trân trọng./.<br>{e(sender_name)}</p>"
        '<hr><div lang="en"><p><strong>English</strong></p>'
        f'{paras(letter.lead_en)}<h2 style="font-size:19px">{e(info.title)}</h2>{facts(letter.facts_en)}'
        f"{paras(letter.notes_en)}{agenda_en}<p><a href=\"{url}\">Join the meeting</a></p><p>{e(_LINK_NOTE_EN)}</p>"
        "</div></body></html>"
    )


def _message(subject: str, letter: _Letter, info: MeetingInfo, site_name: str, site_email: str, join_url: str,
             sender: str, sender_name: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = Address(sender_name, addr_spec=sender)
    msg["To"] = Address(site_name, addr_spec=site_email)
    msg["Content-Language"] = "vi, en"
    # Tells mail servers and out-of-office responders this was sent by a program (RFC 3834): no auto-replies.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text_body(letter, info, join_url, sender_name), cte="quoted-printable")
    png, side = qr_png(join_url)
    msg.add_alternative(_html_body(letter, info, join_url, sender_name, side), subtype="html", cte="quoted-printable")
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html_part.add_related(png, maintype="image", subtype="png", cid=f"<{_QR_CID}>",
                          disposition="inline", filename="qr.png")
    return msg


def invitation(info: MeetingInfo, site_name: str, site_email: str, join_url: str, sender: str, sender_name: str,
               tz: str = TIMEZONE) -> EmailMessage:
    """Return the invitation (giấy mời) to one site, with its personal join link."""
    facts_vi, facts_en = _facts(info, tz)
    notes_vi, notes_en = _test_window(info, tz)
    letter = _Letter(
        greeting_vi=f"Kính gửi: {site_name}",
        lead_vi=[f"Trân trọng kính mời đại diện lãnh đạo {site_name} tham dự cuộc họp trực tuyến do "
                 f"{info.chair_name} chủ trì:"],
        facts_vi=facts_vi,
        notes_vi=notes_vi,
        lead_en=[f"To {site_name}: you are invited to the online meeting chaired by {info.chair_name}:"],
        facts_en=facts_en,
        notes_en=notes_en,
    )
    subject = f"Giấy mời họp trực tuyến: {info.title} ({vi_datetime(info.starts_at, tz)})"
    return _message(subject, letter, info, site_name, site_email, join_url, sender, sender_name)


def reminder(info: MeetingInfo, site_name: str, site_email: str, join_url: str, sender: str, sender_name: str,
             tz: str = TIMEZONE) -> EmailMessage:
    """Return the reminder (nhắc lịch họp) to one site, with its personal join link."""
    facts_vi, facts_en = _facts(info, tz)
    notes_vi, notes_en = _test_window(info, tz)
    letter = _Letter(
        greeting_vi=f"Kính gửi: {site_name}",
        lead_vi=[f"Xin trân trọng nhắc quý đơn vị lịch cuộc họp trực tuyến do {info.chair_name} chủ trì:"],
        facts_vi=facts_vi,
        notes_vi=notes_vi,
        lead_en=[f"Reminder for {site_name}: the online meeting chaired by {info.chair_name} is coming up:"],
        facts_en=facts_en,
        notes_en=notes_en,
    )
    subject = f"Nhắc lịch họp: {info.title} ({vi_datetime(info.starts_at, tz)})"
    return _message(subject, letter, info, site_name, site_email, join_url, sender, sender_name)
