"""What of a body the audit log keeps: secrets replaced, hostile JSON made storable."""

from __future__ import annotations

import json

import pytest

from hashfleet.server.audit.entry import AuditEntry, clean_text
from hashfleet.server.audit.redact import (
    ELIDED,
    MAX_DEPTH,
    REDACTED,
    form_username,
    is_secret_key,
    json_body,
    redact,
)


@pytest.mark.parametrize(
    "key",
    ["password", "Password", "newPassword", "pass", "poolPass", "token", "rackToken", "secret",
     "client_secret", "apiKey", "api_key", "API-KEY", "privateKey", "private", "credentials",
     "Authorization", "cookie", "session", "key", "pwd"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["username", "id", "rack", "address", "opts", "rpcPublicKey"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redaction_is_recursive_and_keeps_the_rest() -> None:
    body = {
        "id": "m1",
        "opts": {"family": "antminer", "password": "hunter2", "params": {"apiKey": [1, 2]}},
        "pools": [{"url": "stratum+tcp://worker:s3cret@pool.example:3333", "pass": "x"}],
        "token": {"nested": "whole value goes"},
    }
    assert redact(body) == {
        "id": "m1",
        "opts": {"family": "antminer", "password": REDACTED, "params": {"apiKey": REDACTED}},
        "pools": [{"url": "stratum+tcp://worker:***@pool.example:3333", "pass": REDACTED}],
        "token": REDACTED,
    }
    assert "hunter2" not in json.dumps(redact(body)) and "s3cret" not in json.dumps(redact(body))


def test_hostile_json_becomes_storable() -> None:
    ok, value = json_body(b"[" * 500 + b"0" + b"]" * 500)
    assert ok
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == ELIDED
    assert json_body(b"[" * 100_000 + b"]" * 100_000) == (False, None)  # past the decoder
    ok, value = json_body(b'{"a": NaN, "b": -Infinity, "c": "nul\\u0000 and \\ud800"}')
    assert ok and value == {"a": "NaN", "b": "-Infinity", "c": "nul\ufffd and ?"}
    assert json_body(b"not json") == (False, None)
    assert json_body(b"\xff\xfe") == (False, None)


def test_login_form_keeps_only_the_username() -> None:
    assert form_username(b"username=alice&password=hunter2") == "alice"
    assert form_username(b"username=" + b"x" * 500) == "x" * 128
    assert form_username(b"password=only") is None
    assert form_username(b"\xff") is None


def test_rows_fit_their_columns() -> None:
    entry = AuditEntry(ts=1, method="POST", path="/" + "p" * 400, status=200, actor="a\x00b")
    row = entry.row()
    assert len(row["path"]) == 256 and row["actor"] == "a\ufffdb"
    assert clean_text("x" * 10, 4) == "xxxx"
