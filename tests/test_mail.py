"""E-mail: real aiosmtpd servers on 127.0.0.1 (plain, STARTTLS with AUTH, implicit TLS) and the letters' content."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import segno
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bridges.invitations import (
    MeetingInfo,
    invitation,
    qr_png,
    qr_svg,
    reminder,
    vi_datetime,
    vi_time,
)
from mediaserver.config import MailConfig
from mediaserver.mail import Mailer, MailError

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY_8 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=HCM).timestamp()  # 7 December 2026 is a Monday
SENDER = "hop@ubnd.example.vn"
SENDER_NAME = "Hội nghị truyền hình"
USER, PASSWORD = "hop", "Mat-khau-SMTP-2026"
SITES = [
    ("xa-tan-phu", "UBND xã Tân Phú", "tanphu@example.vn"),
    ("xa-dak-lak", "UBND xã Đắk Lắk", "daklak@example.vn"),
    ("thi-tran", "UBND thị trấn Ea Kar", "eakar@example.vn"),
]
INFO = MeetingInfo(
    title="Họp giao ban tháng 12: triển khai nhiệm vụ năm 2027",
    agenda="1. Báo cáo tình hình kinh tế - xã hội\n2. Thảo luận & <kết luận>",
    room_name="Phòng họp trực tuyến huyện",
    starts_at=MONDAY_8,
    ends_at=MONDAY_8 + 3.5 * 3600,
    test_before_min=60,
    chair_name="UBND huyện Ea Kar",
)


def join_url(site_id: str) -> str:
    # A real join link carries a signed token in the fragment: long, with '=', '.', '-' and '_'.
    return f"https://hop.example.vn:8443/join#token=eyJhbGciOiJIUzI1NiJ9.{site_id}-{'x' * 120}.A_b-C=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Collects what the server accepted; refuses the recipients in ``refuse``."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(session.peer, envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


@dataclass
class Authenticator:
    """Accepts USER/PASSWORD only, and records the mechanisms clients used."""

    mechanisms: list[str] = field(default_factory=list)

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    handler: Handler
    port: int
    auth: Authenticator
    mechanism: str = ""  # the one AUTH mechanism offered


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_files)
    return ctx


def serve(handler: Handler, port: int | None = None, **smtp: Any) -> tuple[Controller, Server]:
    auth = Authenticator()
    port = port or free_port()
    if "authenticator" in smtp:
        smtp["authenticator"] = auth
    ctl = Controller(handler, hostname="127.0.0.1", port=port, **smtp)
    ctl.start()
    return ctl, Server(handler, port, auth)


@pytest.fixture
def plain() -> Iterator[Server]:
    """A plain SMTP relay without AUTH, as on a district LAN."""
    ctl, srv = serve(Handler())
    yield srv
    ctl.stop()


@pytest.fixture(params=["PLAIN", "LOGIN"])
def starttls(request: pytest.FixtureRequest, tls_files: tuple[Path, Path]) -> Iterator[Server]:
    """A submission server: STARTTLS required, AUTH (only the mechanism under test) offered only after it."""
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[request.param]
    ctl, srv = serve(Handler(), tls_context=server_context(tls_files), require_starttls=True,
                     auth_required=True, auth_require_tls=True, authenticator=True,
                     auth_exclude_mechanism=[other])
    srv.mechanism = request.param
    yield srv
    ctl.stop()


def mailer(port: int, **kw: Any) -> Mailer:
    return Mailer(MailConfig(enabled=True, host="127.0.0.1", port=port, sender=SENDER, sender_name=SENDER_NAME,
                             timeout_s=5, **kw))


def invitations() -> list[EmailMessage]:
    return [invitation(INFO, name, addr, join_url(sid), SENDER, SENDER_NAME) for sid, name, addr in SITES]


def check_delivered(received: list[Received]) -> None:
    assert [r.rcpt_tos for r in received] == [[addr] for _, _, addr in SITES]
    for r, (sid, name, addr) in zip(received, SITES, strict=True):
        msg = r.message
        assert r.mail_from == SENDER
        assert msg["Subject"] == f"Giấy mời họp trực tuyến: {INFO.title} (08:00, Thứ Hai, ngày 07/12/2026)"
        assert msg["To"].addresses[0].display_name == name and msg["To"].addresses[0].addr_spec == addr
        assert msg["From"].addresses[0].display_name == SENDER_NAME
        assert msg["Date"] and msg["Message-ID"].endswith("@ubnd.example.vn>")
        text_part = msg.get_body(("plain",))
        html_part = msg.get_body(("html",))
        assert text_part is not None and html_part is not None
        assert text_part.get_content_charset() == "utf-8"
        text = text_part.get_content().replace("\r\n", "\n")  # lines travel as CRLF
        assert text.startswith(f"Kính gửi: {name}\n")
        assert f"Trân trọng kính mời đại diện lãnh đạo {name} tham dự cuộc họp trực tuyến" in text
        assert "Thời gian: 08:00, Thứ Hai, ngày 07/12/2026, dự kiến kết thúc lúc 11:30." in text
        assert "Phòng họp mở từ 07:00 để kiểm tra âm thanh, hình ảnh" in text
        assert INFO.agenda in text and "Trân trọng./." in text
        assert f"\n{join_url(sid)}\n" in text  # the link on a line of its own, intact
        assert text.index("English") > text.index("Trân trọng./.")
        page = html_part.get_content()
        assert f'href="{join_url(sid)}"' in page and "Thảo luận &amp; &lt;kết luận&gt;" in page
        png = next(p for p in msg.walk() if p.get_content_type() == "image/png")
        assert png["Content-ID"] == "<join-qr@mediaserver>" and 'src="cid:join-qr@mediaserver"' in page
        assert png.get_content() == qr_png(join_url(sid))[0]


# ------------------------------------------------------------------------------------------ delivery


async def test_plain_delivery_of_a_batch_over_one_connection(plain: Server) -> None:
    results = await mailer(plain.port).send(invitations())
    assert results == [None, None, None]
    check_delivered(plain.handler.received)
    assert len({r.peer for r in plain.handler.received}) == 1  # one SMTP session for the whole batch


async def test_starttls_with_auth(starttls: Server, tls_files: tuple[Path, Path]) -> None:
    m = mailer(starttls.port, security="starttls", ca_file=tls_files[0], username=USER, password=PASSWORD)
    assert await m.send(invitations()) == [None, None, None]
    check_delivered(starttls.handler.received)
    assert len({r.peer for r in starttls.handler.received}) == 1
    assert starttls.auth.mechanisms == [starttls.mechanism]  # logged in once, with the one mechanism offered


async def test_wrong_password_fails_every_message_and_sends_nothing(
    starttls: Server, tls_files: tuple[Path, Path]
) -> None:
    m = mailer(starttls.port, security="starttls", ca_file=tls_files[0], username=USER, password="wrong")
    results = await m.send(invitations())
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0] is not None
    assert results[0].startswith(f"authentication failed for user 'hop' at 127.0.0.1:{starttls.port}: 535")
    assert starttls.handler.received == []


async def test_auth_without_tls_is_explained(starttls: Server) -> None:
    results = await mailer(starttls.port, username=USER, password=PASSWORD).send(invitations()[:1])
    assert results[0] is not None
    assert f"127.0.0.1:{starttls.port} does not offer SMTP AUTH over an unencrypted connection" in results[0]


async def test_untrusted_certificate_is_a_tls_error(starttls: Server) -> None:
    results = await mailer(starttls.port, security="starttls", username=USER, password=PASSWORD).send(invitations())
    assert results[0] is not None and len(set(results)) == 1
    assert results[0].startswith(f"TLS certificate of 127.0.0.1:{starttls.port} not trusted")
    assert starttls.handler.received == []


async def test_implicit_tls(tls_files: tuple[Path, Path]) -> None:
    ctl, srv = serve(Handler(), server_hostname="127.0.0.1", ssl_context=server_context(tls_files))
    try:
        m = mailer(srv.port, security="tls", ca_file=tls_files[0])
        assert await m.send(invitations()) == [None, None, None]
        check_delivered(srv.handler.received)
        # verify_tls: false trusts any certificate (a lab relay), still encrypted.
        assert await mailer(srv.port, security="tls", verify_tls=False).send(invitations()[:1]) == [None]
    finally:
        ctl.stop()


async def test_connection_refused_is_reported_for_every_message() -> None:
    port = free_port()  # nothing listens there
    results = await mailer(port).send(invitations())
    assert results == [f"connection refused by 127.0.0.1:{port} (is the SMTP server running?)"] * 3


async def test_silent_server_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        m = Mailer(MailConfig(enabled=True, port=port, timeout_s=1))
        assert await m.send(invitations()[:2]) == [f"127.0.0.1:{port} did not answer within 1 s"] * 2


async def test_a_refused_recipient_fails_only_its_message(plain: Server) -> None:
    plain.handler.refuse.add(SITES[1][2])
    results = await mailer(plain.port).send(invitations())
    assert results[0] is None and results[2] is None
    assert results[1] == "recipient refused: daklak@example.vn: 550 5.1.1 Mailbox unavailable"
    assert [r.rcpt_tos for r in plain.handler.received] == [[SITES[0][2]], [SITES[2][2]]]


async def test_missing_headers_are_added(plain: Server) -> None:
    msg = EmailMessage()
    msg["To"] = "vanthu@example.vn"
    msg["Subject"] = "Thử"
    msg.set_content("Nội dung thử")
    assert await mailer(plain.port).send([msg]) == [None]
    got = plain.handler.received[0].message
    assert str(got["From"]) == f"{SENDER_NAME} <{SENDER}>" and got["Date"] and got["Message-ID"]


async def test_disabled_mail_raises_and_an_empty_batch_is_no_work() -> None:
    with pytest.raises(MailError, match="disabled"):
        await Mailer(MailConfig()).send(invitations())
    assert await mailer(free_port()).send([]) == []


async def test_failures_are_logged_on_transitions(caplog: pytest.LogCaptureFixture) -> None:
    handler = Handler()
    ctl, srv = serve(handler)
    m = mailer(srv.port)
    caplog.set_level(logging.INFO, logger="mediaserver.mail")
    assert await m.send(invitations()[:1]) == [None]
    ctl.stop()
    await m.send(invitations()[:1])
    await m.send(invitations()[:1])
    ctl, _ = serve(handler, port=srv.port)
    try:
        assert await m.send(invitations()[:1]) == [None]
    finally:
        ctl.stop()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "mediaserver.mail"]
    assert lines == [("WARNING", f"mail: connection refused by 127.0.0.1:{srv.port} (is the SMTP server running?)"),
                     ("INFO", f"mail: 127.0.0.1:{srv.port} accepts messages again")]


# ------------------------------------------------------------------------------------------- letters


def test_vi_datetime_names_the_weekday() -> None:
    assert vi_datetime(MONDAY_8) == "08:00, Thứ Hai, ngày 07/12/2026"
    week = [vi_datetime(MONDAY_8 + d * 86400).split(", ")[1] for d in range(7)]
    assert week == ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]
    # Local time, not UTC: 17:30 UTC on Sunday is already Monday 00:30 in Việt Nam.
    sunday_utc = dt.datetime(2026, 12, 6, 17, 30, tzinfo=dt.UTC).timestamp()
    assert vi_datetime(sunday_utc) == "00:30, Thứ Hai, ngày 07/12/2026"
    assert vi_time(MONDAY_8 - 3600) == "07:00"


def test_reminder_and_letter_variants() -> None:
    msg = reminder(INFO, "UBND xã Tân Phú", "tanphu@example.vn", join_url("a"), SENDER, SENDER_NAME)
    assert msg["Subject"] == f"Nhắc lịch họp: {INFO.title} (08:00, Thứ Hai, ngày 07/12/2026)"
    text = msg.get_body(("plain",))
    assert text is not None
    body = text.get_content().replace("\r\n", "\n")
    assert "Kính gửi: UBND xã Tân Phú" in body and "nhắc quý đơn vị lịch cuộc họp trực tuyến" in body
    assert join_url("a") in body and "Reminder for UBND xã Tân Phú" in body
    # No test window, and a meeting over two days names both dates.
    two_days = MeetingInfo("Hội nghị", "", "Phòng", MONDAY_8, MONDAY_8 + 86400 + 3600, 0, "UBND huyện")
    plain_part = invitation(two_days, "X", "x@example.vn", join_url("x"), SENDER, SENDER_NAME).get_body(("plain",))
    assert plain_part is not None
    body = plain_part.get_content().replace("\r\n", "\n")
    assert "Phòng họp mở từ" not in body and "Nội dung, chương trình" not in body
    assert "Thời gian: từ 08:00, Thứ Hai, ngày 07/12/2026 đến 09:00, Thứ Ba, ngày 08/12/2026." in body


def svg_modules(svg: str) -> set[tuple[int, int]]:
    """Return the dark modules an SVG from qr_svg draws (segno's path: M, m, h; lines through module centres)."""
    d = re.search(r'<path stroke="#000" d="([^"]+)"', svg)
    assert d is not None
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for cmd, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", d.group(1)):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(x) + i, int(y)) for i in range(int(a)))
            x += float(a)
    return dark


def test_qr_svg_draws_the_exact_url() -> None:
    url = join_url("xa-tan-phu")
    svg = qr_svg(url)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" ') and svg.endswith("</svg>")
    assert "<?xml" not in svg
    qr = segno.make_qr(url, error="m")
    side = (len(qr.matrix) + 8) * 4  # 4-module quiet zone, 4 px a module
    assert f'width="{side}" height="{side}" viewBox="0 0 {side} {side}"' in svg
    expected = {(x + 4, y + 4) for y, row in enumerate(qr.matrix) for x, v in enumerate(row) if v}
    assert len(expected) > 1000  # a long join link: a large symbol, not a Micro QR
    assert svg_modules(svg) == expected
    assert svg_modules(qr_svg(url + "x")) != expected
