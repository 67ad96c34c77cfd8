"""The ``notifiers`` config: defaults, and every mistake refused at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.alerts.notify.router import NotifyRouter
from hashfleet.server.history_config import load_history_config

HOOK = {"type": "webhook", "url": "https://hooks.example.com/x"}
BOT = {"type": "telegram", "token": "1:abc", "chat_id": 42}
MAIL = {"type": "smtp", "host": "smtp.example.com", "from": "a@b.example", "to": ["c@d.example"]}


def test_defaults() -> None:
    router = NotifyRouter([HOOK, BOT, MAIL, {**HOOK, "name": "mine"}])
    assert list(router.channels) == ["webhook#0", "telegram#1", "smtp#2", "mine"]
    ch = router.channels["webhook#0"]
    assert ch.route.min_rank == 1  # high
    assert ch.route.events == {"opened", "closed"}
    assert ch.route.types is None and ch.route.tags is None
    assert ch.retries == 5 and ch.timeout_s == 10.0
    assert router.stats()["smtp#2"] == {
        "type": "smtp",
        "sent": 0,
        "failed": 0,
        "dropped": 0,
        "retried": 0,
        "queued": 0,
        "last_error": None,
    }
    smtp = router.channels["smtp#2"].notifier
    assert getattr(smtp, "port") == 25  # noqa: B009
    assert NotifyRouter(None).channels == {} and NotifyRouter([]).channels == {}


def test_smtp_ports_by_mode() -> None:
    ssl_port = NotifyRouter([{**MAIL, "ssl": True}]).channels["smtp#0"].notifier
    tls_port = NotifyRouter([{**MAIL, "starttls": True}]).channels["smtp#0"].notifier
    assert getattr(ssl_port, "port") == 465  # noqa: B009
    assert getattr(tls_port, "port") == 587  # noqa: B009


BAD: list[tuple[Any, str]] = [
    ("not a list", "must be a list"),
    ([42], "must be an object"),
    ([{"type": "pager"}], "type must be one of"),
    ([{**HOOK, "min_severty": "low"}], "unknown keys"),
    ([{**HOOK, "min_severity": "urgent"}], "min_severity"),
    ([{**HOOK, "events": []}], "events"),
    ([{**HOOK, "events": ["opened", "acked"]}], "unknown ['acked']"),
    ([{**HOOK, "types": "miner"}], "types"),
    ([{**HOOK, "tags": [1]}], "tags"),
    ([{**HOOK, "retries": -1}], "retries"),
    ([{**HOOK, "retries": True}], "retries"),
    ([{**HOOK, "retries": 1.5}], "retries"),
    ([{**HOOK, "timeout_s": 0}], "timeout_s"),
    ([{**HOOK, "timeout_s": "10"}], "timeout_s"),
    ([{**HOOK, "name": ""}], "name"),
    ([HOOK, {**BOT, "name": "webhook#0"}], "used twice"),
    ([{"type": "webhook"}], "url is required"),
    ([{**HOOK, "url": "ftp://x.example"}], "http:// or https://"),
    ([{**HOOK, "url": "https://"}], "http:// or https://"),
    ([{**HOOK, "secret": 123}], "secret"),
    ([{**HOOK, "headers": {"X-A": 1}}], "headers"),
    ([{**HOOK, "headers": {"Content-Type": "text/plain"}}], "may not set"),
    ([{**BOT, "chat_id": None}], "chat_id"),
    ([{**BOT, "chat_id": True}], "chat_id"),
    ([{**BOT, "token": ""}], "token"),
    ([{**BOT, "token": "1:abc/../x"}], "not a bot token"),
    ([{**BOT, "api_url": "telegram"}], "api_url"),
    ([{**BOT, "silent": "yes"}], "silent"),
    ([{**MAIL, "host": None}], "host is required"),
    ([{**MAIL, "port": 0}], "port"),
    ([{**MAIL, "starttls": True, "ssl": True}], "exclude each other"),
    ([{**MAIL, "starttls": "yes"}], "starttls"),
    ([{**MAIL, "username": "u", "starttls": True}], "go together"),
    ([{**MAIL, "to": []}], "to"),
    ([{k: v for k, v in MAIL.items() if k != "to"}], "to is required"),
    ([{**MAIL, "to": ["not an address"]}], "not an e-mail address"),
    ([{**MAIL, "from": "x\r\nBcc: y@z"}], "not an e-mail address"),
]


@pytest.mark.parametrize(("config", "words"), BAD)
def test_invalid(config: Any, words: str) -> None:
    with pytest.raises(BadRequest) as err:
        NotifyRouter(config)
    assert err.value.code == "ERR_CONFIG_INVALID"
    assert words in err.value.message


def test_error_names_the_notifier_and_hides_secrets() -> None:
    with pytest.raises(BadRequest) as err:
        NotifyRouter([{**BOT, "name": "ops", "token": "1:SECRET", "retries": "x"}])
    assert "notifier 'ops'" in err.value.message
    assert "SECRET" not in err.value.message


def test_from_history_config_file(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"notifiers": [{**HOOK, "min_severity": "medium"}]}))
    router = NotifyRouter(load_history_config(path).notifiers)
    assert router.channels["webhook#0"].route.min_rank == 2
    path.write_text(json.dumps({"notifiers": [{**HOOK, "min_severity": "nope"}]}))
    with pytest.raises(BadRequest) as err:
        NotifyRouter(load_history_config(path).notifiers)
    assert err.value.code == "ERR_CONFIG_INVALID"
