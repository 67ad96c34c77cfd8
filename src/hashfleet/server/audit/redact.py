"""What of a request body goes into the audit log: small JSON, secrets replaced by ``***``."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qs

from hashfleet.server.audit.entry import ACTOR_MAX, clean_text

MAX_BODY = 8 * 1024  # bodies of this size or more are not recorded, only their length
MAX_DEPTH = 8  # deeper values are elided: a small body can still nest thousands deep
REDACTED = "***"
ELIDED = "…"

# Key names that hold secrets: passwords of people and devices (a pool's ``pass``), tokens,
# keys. Matching too much costs a value in the log; matching too little leaks a secret.
SECRET_KEY = re.compile(
    r"password|passwd|passphrase|pass$|^pass|pwd|token|secret|api[_-]?key|private|credential"
    r"|authorization|cookie|session|signature|^key$",
    re.IGNORECASE,
)
# ``scheme://user:password@host`` (pool URLs, webhooks): the password part is replaced.
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


def is_secret_key(key: str) -> bool:
    """Whether a JSON key names a secret."""
    return SECRET_KEY.search(key) is not None


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` (decoded JSON) with secret-named keys' values replaced by ``***``.

    Strings are cleaned for the store (no NUL, no lone surrogate); non-finite numbers
    become strings (JSONB refuses them); values nested deeper than ``MAX_DEPTH`` are elided.
    """
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return ELIDED
        return {
            clean_text(str(k)): REDACTED if is_secret_key(str(k)) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return ELIDED
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str):
        return clean_text(_URL_PASSWORD.sub(r"\1***@", value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def json_body(body: bytes) -> tuple[bool, Any]:
    """``(True, redacted value)`` when ``body`` is JSON, ``(False, None)`` otherwise."""
    try:
        # NaN and Infinity are kept as their names: they are not JSON for PostgreSQL.
        return True, redact(json.loads(body, parse_constant=str))
    except (ValueError, RecursionError):
        return False, None


def form_username(body: bytes) -> str | None:
    """The ``username`` field of a URL-encoded login form; the password is never kept."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except ValueError:  # also UnicodeDecodeError and too many fields
        return None
    names = fields.get("username")
    return clean_text(names[0], ACTOR_MAX) if names else None
