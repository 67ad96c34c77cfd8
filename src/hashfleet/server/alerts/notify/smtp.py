"""E-mail notifier: one plain-text message per alert event through an SMTP server.

The stdlib ``smtplib`` runs in a worker thread (its socket calls block); every socket
operation is bounded by ``timeout_s``. ``ssl: true`` is implicit TLS (port 465),
``starttls: true`` upgrades a plain connection (port 587); certificates are verified
(``ca_file`` adds a private CA). A closed alert's mail answers its opened one
(``In-Reply-To``), so mail clients thread them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from hashfleet.server.alerts.notify.base import (
    CLOSED,
    ERR_NOTIFY_REJECTED,
    ERR_NOTIFY_TIMEOUT,
    OPENED,
    DeliveryError,
    Fields,
    Message,
)

KEYS = frozenset(
    {"host", "port", "starttls", "ssl", "username", "password", "from", "to", "ca_file"}
)
SUBJECT_MAX = 200
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
_ADDRESS = re.compile(r"^[^\s<>@,;]+@[^\s<>@,;]+$")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def message_id(alert_id: object, event: str, domain: str) -> str:
    """A stable Message-ID per alert event, so the closed mail can refer to the opened one."""
    return f"<hashfleet.{_UNSAFE_ID.sub('_', str(alert_id))}.{event}@{domain}>"


class SmtpNotifier:
    """Mails each message to ``to``."""

    def __init__(
        self,
        name: str,
        host: str,
        *,
        from_addr: str,
        to: list[str],
        port: int | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port or (465 if use_ssl else 587 if starttls else 25)
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.from_addr = from_addr
        self.to = list(to)
        self.timeout_s = timeout_s
        self.domain = from_addr.rsplit("@", 1)[-1]

    @classmethod
    def from_config(cls, name: str, f: Fields, timeout_s: float) -> SmtpNotifier:
        """Build from a checked ``notifiers`` entry."""
        host = f.str_("host", required=True)
        starttls, use_ssl = f.bool_("starttls", False), f.bool_("ssl", False)
        if starttls and use_ssl:
            f.bad("starttls and ssl exclude each other (ssl: TLS from the start, port 465)")
        port = f.int_("port", 465 if use_ssl else 587 if starttls else 25, 1, 65535)
        username, password = f.opt_str("username"), f.opt_str("password")
        if (username is None) != (password is None):
            f.bad("username and password go together")
        if username is not None and not (starttls or use_ssl) and not _loopback(host):
            # A password in clear text over the network: refuse rather than leak it.
            f.bad("username/password need starttls or ssl (except to a loopback relay)")
        from_addr = f.str_("from", required=True)
        to = f.str_list("to")
        if to is None:
            f.bad("to is required (a list of addresses)")
        for addr in [from_addr, *to]:
            if not _ADDRESS.match(addr):
                f.bad(f"{addr!r} is not an e-mail address")
        return cls(
            name,
            host,
            from_addr=from_addr,
            to=to,
            port=port,
            starttls=starttls,
            use_ssl=use_ssl,
            username=username,
            password=password,
            ca_file=f.opt_str("ca_file"),
            timeout_s=timeout_s,
        )

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for ``message``."""
        mail = EmailMessage()
        # Header values may not hold line breaks (header injection); titles come from devices.
        subject = " ".join(f"[hashfleet] {message.title()}".split())
        mail["Subject"] = subject[:SUBJECT_MAX]
        mail["From"] = self.from_addr
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False)
        alert_id = message.alert.get("id")
        mail["Message-ID"] = message_id(alert_id, message.event, self.domain)
        if message.event == CLOSED:
            opened = message_id(alert_id, OPENED, self.domain)
            mail["In-Reply-To"] = opened
            mail["References"] = opened
        mail["X-Hashfleet-Delivery"] = message.key
        mail.set_content(message.text())
        return mail

    async def send(self, message: Message) -> None:
        """Send the mail (in a worker thread)."""
        await asyncio.to_thread(self._send, self.build(message))

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _send(self, mail: EmailMessage) -> None:
        what = f"smtp {self.name}"
        try:
            smtp: smtplib.SMTP
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_s, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=self._context())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(mail, self.from_addr, self.to)
            if refused:
                # Delivered to the others; a retry would mail them twice.
                raise DeliveryError(
                    f"{what}: recipients refused: {sorted(refused)}",
                    code=ERR_NOTIFY_REJECTED,
                    retryable=False,
                )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retryable = any(400 <= c < 500 for c in codes)
            raise DeliveryError(
                f"{what}: every recipient refused ({sorted(set(codes))})",
                code="ERR_NOTIFY_UNAVAILABLE" if retryable else ERR_NOTIFY_REJECTED,
                retryable=retryable,
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx is the server's "try again later"; 5xx (bad login, refused sender) is final.
            retryable = 400 <= exc.smtp_code < 500
            raise DeliveryError(
                f"{what}: server answered {exc.smtp_code}",
                code="ERR_NOTIFY_UNAVAILABLE" if retryable else ERR_NOTIFY_REJECTED,
                retryable=retryable,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                f"{what}: the server does not offer STARTTLS or AUTH",
                code=ERR_NOTIFY_REJECTED,
                retryable=False,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"{what}: certificate not trusted ({exc.verify_message})",
                code=ERR_NOTIFY_REJECTED,
                retryable=False,
            ) from None
        except TimeoutError:
            raise DeliveryError(f"{what} did not answer in time", code=ERR_NOTIFY_TIMEOUT) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Refused connections, resets, DNS failures, a dropped session: worth another try.
            raise DeliveryError(f"{what} unreachable ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        """Nothing to release: one connection per mail."""
