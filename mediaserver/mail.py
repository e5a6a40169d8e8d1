"""Outgoing e-mail: a batch of messages over one SMTP connection, every failure reported per message.

smtplib blocks, so a batch runs in a worker thread; the event loop (media forwarding) never waits on a mail
server. Nothing here raises for a delivery problem: the caller (invitations, reminders) shows each site's
outcome to the operator, so every error says what failed and where (host:port, recipient, server reply).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from mediaserver.config import MailConfig

logger = logging.getLogger(__name__)


class MailError(Exception):
    """Mail cannot be sent at all (it is disabled in the configuration)."""


class _ConnectionFailed(Exception):
    """The SMTP session failed; the message (str(exc)) applies to every message not yet sent."""


class Mailer:
    """Send messages through the configured SMTP server."""

    def __init__(self, cfg: MailConfig) -> None:
        self._cfg = cfg
        # The last batch's connection outcome, so that a failing server is logged once, not per batch.
        self._failing: str | None = None

    @property
    def enabled(self) -> bool:
        """Return whether mail is enabled in the configuration."""
        return self._cfg.enabled

    @property
    def where(self) -> str:
        """Return the server's host:port, as errors name it."""
        host = f"[{self._cfg.host}]" if ":" in self._cfg.host else self._cfg.host
        return f"{host}:{self._cfg.port}"

    async def send(self, messages: list[EmailMessage]) -> list[str | None]:
        """Send every message over one connection; return per message None (sent) or why it was not sent."""
        if not self._cfg.enabled:
            raise MailError("e-mail is disabled (set mail.enabled: true and the SMTP server in the configuration)")
        if not messages:
            return []
        for msg in messages:
            self._complete(msg)
        results, failure = await asyncio.to_thread(self._send_blocking, messages)
        self._note(failure)
        refused = sum(r is not None for r in results)
        if failure is None and refused:
            logger.info("mail: %d of %d messages not accepted by %s", refused, len(results), self.where)
        else:
            logger.debug("mail: %d of %d messages sent via %s", len(results) - refused, len(results), self.where)
        return results

    def _complete(self, msg: EmailMessage) -> None:
        """Add the From, Date and Message-ID headers a message lacks (spam filters distrust mail without them)."""
        if "From" not in msg:
            msg["From"] = formataddr((self._cfg.sender_name, self._cfg.sender))
        if "Date" not in msg:
            msg["Date"] = formatdate(localtime=False, usegmt=True)
        if "Message-ID" not in msg:
            # The sender's domain, not make_msgid's default, which asks the resolver for this host's name.
            msg["Message-ID"] = make_msgid(domain=self._cfg.sender.rpartition("@")[2])

    def _note(self, failure: str | None) -> None:
        if failure is not None and self._failing is None:
            logger.warning("mail: %s", failure)
        elif failure is None and self._failing is not None:
            logger.info("mail: %s accepts messages again", self.where)
        self._failing = failure

    # ------------------------------------------------------------------------------------ worker thread

    def _send_blocking(self, messages: list[EmailMessage]) -> tuple[list[str | None], str | None]:
        results: list[str | None] = []
        try:
            smtp = self._open()
        except _ConnectionFailed as exc:
            return [str(exc)] * len(messages), str(exc)
        failure: str | None = None
        try:
            for msg in messages:
                try:
                    results.append(self._send_one(smtp, msg))
                except _ConnectionFailed as exc:
                    failure = str(exc)
                    results.extend([failure] * (len(messages) - len(results)))
                    break
                except Exception as exc:
                    # Unforeseen (a bug, a malformed message): the batch's other messages still go out.
                    logger.exception("mail: cannot send a message to %s", msg.get("To"))
                    results.append(f"message not sent: {type(exc).__name__}: {exc}")
        finally:
            self._close(smtp)
        return results, failure

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self._cfg.ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=str(self._cfg.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise _ConnectionFailed(f"cannot load mail.ca_file {self._cfg.ca_file}: {exc}") from exc
        if not self._cfg.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _open(self) -> smtplib.SMTP:
        cfg = self._cfg
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=self._context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            smtp.ehlo_or_helo_if_needed()
            if cfg.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise _ConnectionFailed(f"{self.where} does not offer STARTTLS (mail.security: starttls)")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if cfg.username is not None:
                self._login(smtp)
            return smtp
        except _ConnectionFailed:
            self._close(smtp)
            raise
        except Exception as exc:
            self._close(smtp)
            raise _ConnectionFailed(self._describe(exc)) from exc

    def _login(self, smtp: smtplib.SMTP) -> None:
        cfg = self._cfg
        if not smtp.has_extn("auth"):
            hint = " over an unencrypted connection (set mail.security)" if cfg.security == "none" else ""
            raise _ConnectionFailed(f"{self.where} does not offer SMTP AUTH{hint}; cannot log in as {cfg.username!r}")
        password = cfg.password.get_secret_value() if cfg.password is not None else ""
        who = f"user {cfg.username!r} at {self.where}"
        try:
            smtp.login(cfg.username or "", password)
        except smtplib.SMTPAuthenticationError as exc:
            raise _ConnectionFailed(f"authentication failed for {who}: {_replied(exc)}") from exc
        except smtplib.SMTPException as exc:
            raise _ConnectionFailed(f"cannot log in as {who}: {_text(exc)}") from exc

    def _send_one(self, smtp: smtplib.SMTP, msg: EmailMessage) -> str | None:
        try:
            refused = smtp.send_message(msg, from_addr=self._cfg.sender)
        except smtplib.SMTPRecipientsRefused as exc:
            return "recipient refused: " + _refusals(exc.recipients)
        except smtplib.SMTPSenderRefused as exc:
            return f"sender {self._cfg.sender} refused by {self.where}: {_replied(exc)}"
        except smtplib.SMTPDataError as exc:
            return f"message rejected by {self.where}: {_replied(exc)}"
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. a non-ASCII address on a server without SMTPUTF8: this message only.
            return f"{self.where} cannot take this message: {_text(exc)}"
        except ValueError as exc:  # no recipient in the headers
            return f"message not sent: {exc}"
        except smtplib.SMTPResponseException as exc:
            raise _ConnectionFailed(f"{self.where} replied {_replied(exc)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _ConnectionFailed(self._describe(exc)) from exc
        if refused:
            # Delivered to the others: still an error, so the operator sees who did not get it.
            return "some recipients refused (sent to the others): " + _refusals(refused)
        return None

    def _describe(self, exc: BaseException) -> str:
        where = self.where
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused by {where} (is the SMTP server running?)"
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve mail host {self._cfg.host!r}: {exc.strerror}"
        # smtplib turns a read timeout into SMTPServerDisconnected; the timeout is what the operator needs to know.
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return f"{where} did not answer within {self._cfg.timeout_s:g} s"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate of {where} not trusted: {exc.verify_message} (see mail.ca_file, mail.verify_tls)"
        if isinstance(exc, ssl.SSLError):
            return f"TLS failure with {where}: {exc.reason or exc}"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"{where} closed the connection: {exc or 'unexpectedly'}"
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"{where} replied {_replied(exc)}"
        if isinstance(exc, OSError):
            return f"cannot reach {where}: {exc.strerror or exc}"
        return f"SMTP error with {where}: {_text(exc)}"

    @staticmethod
    def _close(smtp: smtplib.SMTP | None) -> None:
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _reply(code: int, text: bytes | str) -> str:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {msg}".strip()


def _replied(exc: smtplib.SMTPResponseException) -> str:
    return _reply(exc.smtp_code, exc.smtp_error)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {_reply(code, text)}" for addr, (code, text) in refused.items())
