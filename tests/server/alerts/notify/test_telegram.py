"""Telegram deliveries to a fake Bot API on 127.0.0.1: the request, escaping, 429, 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hashfleet.server.alerts.notify.base import Message
from hashfleet.server.alerts.notify.router import Backoff, NotifyRouter
from hashfleet.server.alerts.notify.telegram import TEXT_MAX, render
from hashfleet.server.live.index import LiveIndex
from tests.server.alerts.notify.fakes import FakeHttp, Reply, make_alert, until

TOKEN = "123456:ABC-test_token"
FAST = Backoff(base_s=0.01, cap_s=0.05)
OK = Reply(200, {"ok": True, "result": {"message_id": 1}})


def bot(api_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "telegram",
        "name": "ops",
        "token": TOKEN,
        "chat_id": -100123,
        "api_url": api_url,
        **extra,
    }


async def run(fake: FakeHttp, entry: dict[str, Any], *alerts: tuple[str, Any]) -> NotifyRouter:
    router = NotifyRouter([entry], LiveIndex(), backoff=FAST)
    router.start()
    for event, alert in alerts:
        router.submit(event, alert)
    stats = router.stats
    await until(lambda: stats()["ops"]["sent"] + stats()["ops"]["failed"] == len(alerts))
    await router.stop()
    return router


async def test_send_message_request_with_escaped_html() -> None:
    hostile = make_alert(description="<script>alert('x')</script> & <b>bold</b>")
    async with FakeHttp(OK) as fake:
        router = await run(fake, bot(fake.url), ("opened", hostile))
    assert router.stats()["ops"]["sent"] == 1
    [req] = fake.received
    assert req.path == f"/bot{TOKEN}/sendMessage"
    body = json.loads(req.body)
    assert body["chat_id"] == -100123
    assert body["parse_mode"] == "HTML"
    text = body["text"]
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in text
    assert "<script>" not in text and "<b>bold" not in text
    assert "<b>[HIGH] opened: Chip temperature high on m1</b>" in text


async def test_429_waits_retry_after_then_succeeds() -> None:
    async with FakeHttp(OK) as fake:
        fake.replies = [
            Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            )
        ]
        router = await run(fake, bot(fake.url), ("opened", make_alert()))
    first, second = fake.received
    assert second.at - first.at >= 0.95  # the backoff alone would have waited ≤ 0.05 s
    stats = router.stats()["ops"]
    assert stats["sent"] == 1 and stats["retried"] == 1


async def test_500_retried() -> None:
    async with FakeHttp(OK) as fake:
        fake.replies = [Reply(500, {"ok": False, "error_code": 500, "description": "oops"})]
        router = await run(fake, bot(fake.url), ("opened", make_alert()))
    assert len(fake.received) == 2
    assert router.stats()["ops"]["sent"] == 1


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (400, "Bad Request: chat not found"),
        (401, "Unauthorized"),
        (403, "Forbidden: bot was blocked"),
    ],
)
async def test_refusals_not_retried(status: int, description: str) -> None:
    reply = Reply(status, {"ok": False, "error_code": status, "description": description})
    async with FakeHttp(reply) as fake:
        router = await run(fake, bot(fake.url), ("opened", make_alert()))
    assert len(fake.received) == 1
    stats = router.stats()["ops"]
    assert stats["failed"] == 1 and stats["last_error"] == "ERR_NOTIFY_REJECTED"


async def test_200_without_ok_is_refused() -> None:
    async with FakeHttp(Reply(200)) as fake:  # no JSON: not the Bot API
        router = await run(fake, bot(fake.url), ("opened", make_alert()))
    assert router.stats()["ops"]["failed"] == 1 and len(fake.received) == 1


async def test_gives_up_after_retries() -> None:
    async with FakeHttp(Reply(502)) as fake:
        router = await run(fake, bot(fake.url, retries=1), ("opened", make_alert()))
    assert len(fake.received) == 2 and router.stats()["ops"]["failed"] == 1


def test_render_stays_within_the_limit() -> None:
    alert = make_alert(description="<&>" * 5000)
    text = render(Message(event="opened", alert=alert.to_dict(), thing={"id": "m1"}))
    assert len(text) <= TEXT_MAX
    assert "<script" not in text and text.count("<code>") == text.count("</code>")
