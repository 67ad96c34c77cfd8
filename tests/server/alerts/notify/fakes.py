"""Real local receivers for notifier tests: an HTTP server (webhooks, Telegram) and SMTP."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hashfleet.model.alert import Alert
from tests.support.live_server import free_port

T0 = 1_700_000_000_000


def make_alert(
    alert_id: str = "a1",
    severity: str = "high",
    thing_id: str = "m1",
    *,
    description: str = "chip temperature 97 °C above 95 °C",
    closed: bool = False,
) -> Alert:
    """An alert as the engine hands it to ``notify``."""
    return Alert(
        id=alert_id,
        thing_id=thing_id,
        code="temp_chip",
        severity=severity,
        name="Chip temperature high",
        description=description,
        created_at=T0,
        updated_at=T0 + (60_000 if closed else 0),
        closed_at=T0 + 60_000 if closed else None,
        data={"value": 97},
    )


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``cond()`` holds (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Received:
    """One request the fake HTTP receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    """What the fake answers: a status, a JSON body, headers; ``delay_s`` before answering."""

    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeHttp:
    """An aiohttp server on 127.0.0.1 recording every request; replies are scripted."""

    def __init__(self, default: Reply | None = None) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []  # consumed one per request, then ``default``
        self.default = default or Reply()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeHttp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(
            Received(request.path, dict(request.headers), await request.read(), time.monotonic())
        )
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.json is None:
            return web.Response(status=reply.status, headers=reply.headers)
        return web.json_response(reply.json, status=reply.status, headers=reply.headers)


class SmtpRecorder:
    """aiosmtpd handler keeping each accepted mail; refuses recipients in ``refuse``."""

    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.mails.append((envelope, message_from_bytes(content)))
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts one login; records who logged in."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.logins: list[str] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


def start_smtp(
    handler: SmtpRecorder,
    *,
    authenticator: Authenticator | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> Controller:
    """A running aiosmtpd server on 127.0.0.1 (its own thread); ``.port`` is where."""
    kwargs: dict[str, Any] = {}
    if authenticator is not None:
        kwargs.update(authenticator=authenticator, auth_require_tls=tls_context is not None)
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file (the certificate) that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hashfleet test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "smtp.crt", tmp / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file
