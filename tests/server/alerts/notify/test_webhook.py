"""Webhook deliveries to a real local HTTP receiver: body, HMAC signature, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.alerts.notify.router import Backoff, NotifyRouter
from hashfleet.server.live.index import LiveIndex
from tests.server.alerts.notify.fakes import FakeHttp, Reply, make_alert, until

SECRET = "s3cret-for-tests"
FAST = Backoff(base_s=0.01, cap_s=0.05)


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's check, as docs/NOTIFICATIONS.md shows it."""
    timestamp = headers.get("X-Hashfleet-Timestamp", "")
    signature = headers.get("X-Hashfleet-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(signature, "sha256=" + expected.hexdigest())


def live_with_thing() -> LiveIndex:
    live = LiveIndex()
    live.put_thing(
        {
            "id": "m1",
            "code": "s19-a1",
            "type": "miner",
            "rack": "r1",
            "tags": ["t-miner", "site-a"],
            "opts": {"password": "not-for-notifiers"},
            "info": {},
        }
    )
    return live


def hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url + "/hook", "secret": SECRET, **extra}


async def test_posts_signed_json_with_thing_info() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter(
            [hook(fake.url, headers={"Authorization": "Bearer abc"})], live_with_thing()
        )
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["sent"] == 1)
        await router.stop()
    [req] = fake.received
    assert req.path == "/hook"
    assert verify(SECRET, req.headers, req.body)
    assert not verify("wrong", req.headers, req.body)
    assert not verify(SECRET, req.headers, req.body + b" ")
    assert req.headers["Authorization"] == "Bearer abc"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["X-Hashfleet-Event"] == "opened"
    assert req.headers["X-Hashfleet-Delivery"] == "a1.opened"
    doc = json.loads(req.body)
    assert doc["event"] == "opened"
    assert doc["alert"]["id"] == "a1" and doc["alert"]["severity"] == "high"
    # The thing's identity and routing fields, never its opts (which may hold passwords).
    assert doc["thing"] == {
        "id": "m1",
        "code": "s19-a1",
        "type": "miner",
        "rack": "r1",
        "tags": ["t-miner", "site-a"],
    }
    assert abs(doc["sent_at"] - time.time() * 1000) < 60_000


async def test_no_secret_no_signature() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter([{"type": "webhook", "url": fake.url}], LiveIndex())
        router.start()
        router.submit("opened", make_alert(thing_id="gone"))
        await until(lambda: len(fake.received) == 1)
        await router.stop()
    req = fake.received[0]
    assert "X-Hashfleet-Signature" not in req.headers
    assert req.headers["X-Hashfleet-Timestamp"].isdigit()
    assert json.loads(req.body)["thing"] == {"id": "gone"}  # not in the live index


async def test_5xx_retried_then_sent_each_attempt_signed() -> None:
    async with FakeHttp() as fake:
        fake.replies = [Reply(500), Reply(503)]
        router = NotifyRouter([hook(fake.url)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["sent"] == 1)
        await router.stop()
    assert len(fake.received) == 3
    assert all(verify(SECRET, r.headers, r.body) for r in fake.received)
    assert {r.headers["X-Hashfleet-Delivery"] for r in fake.received} == {"a1.opened"}
    stats = router.stats()["webhook#0"]
    assert stats["retried"] == 2 and stats["failed"] == 0
    assert stats["last_error"] == "ERR_NOTIFY_UNAVAILABLE"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
async def test_refusals_not_retried(status: int) -> None:
    async with FakeHttp(Reply(status)) as fake:
        router = NotifyRouter([hook(fake.url)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["failed"] == 1)
        await router.stop()
    assert len(fake.received) == 1
    stats = router.stats()["webhook#0"]
    assert stats["retried"] == 0 and stats["last_error"] == "ERR_NOTIFY_REJECTED"


@pytest.mark.parametrize("status", [408, 429, 502])
async def test_retryable_statuses(status: int) -> None:
    async with FakeHttp() as fake:
        fake.replies = [Reply(status)]
        router = NotifyRouter([hook(fake.url)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["sent"] == 1)
        await router.stop()
    assert len(fake.received) == 2


async def test_gives_up_after_retries() -> None:
    async with FakeHttp(Reply(500)) as fake:
        router = NotifyRouter([hook(fake.url, retries=2)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["failed"] == 1)
        await router.stop()
    assert len(fake.received) == 3  # the first attempt and two retries
    assert router.stats()["webhook#0"]["sent"] == 0


async def test_retry_after_header_honoured() -> None:
    async with FakeHttp() as fake:
        fake.replies = [Reply(429, headers={"Retry-After": "1"})]
        router = NotifyRouter([hook(fake.url)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["sent"] == 1)
        await router.stop()
    first, second = fake.received
    assert second.at - first.at >= 0.95


async def test_backoff_grows() -> None:
    async with FakeHttp(Reply(500)) as fake:
        router = NotifyRouter(
            [hook(fake.url, retries=3)], LiveIndex(), backoff=Backoff(base_s=0.1, cap_s=0.25)
        )
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["failed"] == 1)
        await router.stop()
    gaps = [b.at - a.at for a, b in zip(fake.received, fake.received[1:], strict=False)]
    # 50-100 % of 0.1, 0.2, then the cap 0.25.
    assert 0.045 <= gaps[0] <= 0.2
    assert 0.095 <= gaps[1] <= 0.35
    assert 0.12 <= gaps[2] <= 0.4


async def test_timeout_retried() -> None:
    async with FakeHttp() as fake:
        fake.replies = [Reply(200, delay_s=1.0)]
        router = NotifyRouter([hook(fake.url, timeout_s=0.2)], LiveIndex(), backoff=FAST)
        router.start()
        router.submit("opened", make_alert())
        await until(lambda: router.stats()["webhook#0"]["sent"] == 1)
        await router.stop()
    assert router.stats()["webhook#0"]["last_error"] == "ERR_NOTIFY_TIMEOUT"
    assert len(fake.received) == 2


def test_headers_may_not_override_signature() -> None:
    with pytest.raises(BadRequest) as err:
        NotifyRouter(
            [hook("http://127.0.0.1:9", headers={"x-hashfleet-signature": "sha256=forged"})]
        )
    assert err.value.code == "ERR_CONFIG_INVALID"
