"""E-mail deliveries to a real local SMTP server (aiosmtpd): plain, AUTH, STARTTLS, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.alerts.notify.router import Backoff, NotifyRouter
from hashfleet.server.live.index import LiveIndex
from tests.server.alerts.notify.fakes import (
    Authenticator,
    SmtpRecorder,
    make_alert,
    self_signed,
    start_smtp,
    until,
)
from tests.support.live_server import free_port

FAST = Backoff(base_s=0.01, cap_s=0.05)


def mailer(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "smtp",
        "name": "mail",
        "host": "127.0.0.1",
        "port": port,
        "from": "hashfleet@farm.example",
        "to": ["ops@farm.example", "oncall@farm.example"],
        "timeout_s": 5,
        **extra,
    }


@pytest.fixture
def recorder() -> SmtpRecorder:
    return SmtpRecorder()


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator("alerts", "pa55word")


@pytest.fixture
def smtp_port(recorder: SmtpRecorder, auth: Authenticator) -> Iterator[int]:
    controller = start_smtp(recorder, authenticator=auth)
    try:
        yield int(controller.port)
    finally:
        controller.stop()


async def deliver(entry: dict[str, Any], *events: tuple[str, Any]) -> NotifyRouter:
    router = NotifyRouter([entry], LiveIndex(), backoff=FAST)
    router.start()
    for event, alert in events:
        router.submit(event, alert)
    stats = router.stats
    await until(lambda: stats()["mail"]["sent"] + stats()["mail"]["failed"] == len(events))
    await router.stop()
    return router


async def test_mail_with_login(smtp_port: int, recorder: SmtpRecorder, auth: Authenticator) -> None:
    entry = mailer(smtp_port, username="alerts", password="pa55word")
    router = await deliver(
        entry, ("opened", make_alert()), ("closed", make_alert(severity="low", closed=True))
    )
    assert router.stats()["mail"]["sent"] == 2
    assert auth.logins == ["alerts", "alerts"]
    (env1, opened), (_, closed) = recorder.mails
    assert env1.mail_from == "hashfleet@farm.example"
    assert env1.rcpt_tos == ["ops@farm.example", "oncall@farm.example"]
    assert opened["Subject"] == "[hashfleet] [HIGH] opened: Chip temperature high on m1"
    assert opened["To"] == "ops@farm.example, oncall@farm.example"
    payload = opened.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert "chip temperature 97 °C above 95 °C" in body and "alert id: a1" in body
    # The close answers the open, so mail clients thread them.
    assert closed["In-Reply-To"] == opened["Message-ID"]
    assert closed["Subject"].startswith("[hashfleet] [LOW] closed:")


async def test_bad_login_not_retried(smtp_port: int, recorder: SmtpRecorder) -> None:
    router = await deliver(
        mailer(smtp_port, username="alerts", password="wrong"), ("opened", make_alert())
    )
    stats = router.stats()["mail"]
    assert stats["failed"] == 1 and stats["retried"] == 0
    assert stats["last_error"] == "ERR_NOTIFY_REJECTED"
    assert recorder.mails == []


async def test_refused_recipient(smtp_port: int, recorder: SmtpRecorder) -> None:
    recorder.refuse = {"ops@farm.example", "oncall@farm.example"}
    router = await deliver(mailer(smtp_port), ("opened", make_alert()))
    stats = router.stats()["mail"]
    assert stats["failed"] == 1 and stats["retried"] == 0


async def test_partly_refused_is_not_resent(smtp_port: int, recorder: SmtpRecorder) -> None:
    recorder.refuse = {"oncall@farm.example"}
    router = await deliver(mailer(smtp_port), ("opened", make_alert()))
    assert router.stats()["mail"]["failed"] == 1
    assert len(recorder.mails) == 1  # ops got it once; a retry would mail ops again


async def test_unreachable_retried_then_given_up() -> None:
    router = await deliver(mailer(free_port(), retries=2), ("opened", make_alert()))
    stats = router.stats()["mail"]
    assert stats["failed"] == 1 and stats["retried"] == 2
    assert stats["last_error"] == "ERR_NOTIFY_UNAVAILABLE"


async def test_header_injection_flattened(smtp_port: int, recorder: SmtpRecorder) -> None:
    alert = make_alert()
    alert.name = "Evil\r\nBcc: victim@example.com"
    await deliver(mailer(smtp_port), ("opened", alert))
    [(_, mail)] = recorder.mails
    assert mail["Bcc"] is None
    assert "Evil Bcc: victim@example.com" in mail["Subject"]


async def test_starttls_with_private_ca(tmp_path: Path, recorder: SmtpRecorder) -> None:
    tls, ca_file = self_signed(tmp_path)
    auth = Authenticator("alerts", "pa55word")
    controller = start_smtp(recorder, authenticator=auth, tls_context=tls)
    try:
        entry = mailer(
            controller.port,
            starttls=True,
            ca_file=str(ca_file),
            username="alerts",
            password="pa55word",
        )
        router = await deliver(entry, ("opened", make_alert()))
        assert router.stats()["mail"]["sent"] == 1
        assert auth.logins == ["alerts"]
        # Without the CA the certificate is not trusted: refused, not retried.
        untrusted = {**entry, "ca_file": None}
        router = await deliver(untrusted, ("opened", make_alert("a2")))
        stats = router.stats()["mail"]
        assert stats["failed"] == 1 and stats["last_error"] == "ERR_NOTIFY_REJECTED"
    finally:
        controller.stop()
    assert len(recorder.mails) == 1


def test_password_over_plain_connection_refused() -> None:
    entry = mailer(25, host="smtp.example.com", username="u", password="p")
    with pytest.raises(BadRequest) as err:
        NotifyRouter([entry])
    assert err.value.code == "ERR_CONFIG_INVALID" and "starttls" in err.value.message
