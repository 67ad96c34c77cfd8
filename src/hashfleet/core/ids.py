"""Identifiers and secrets."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def new_id() -> str:
    """A new random identifier (UUID4, hex with dashes)."""
    return str(uuid.uuid4())


def new_token(prefix: str) -> str:
    """A new bearer secret such as ``hfa_…``; only its hash is ever stored."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token: tokens are long random strings, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def valid_code(code: str) -> bool:
    """Whether ``code`` is a well-formed thing or rack identifier."""
    return bool(_CODE_RE.match(code))
