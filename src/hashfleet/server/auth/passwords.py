"""Password hashing with argon2id."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password people can type: 4 groups of 5 URL-safe characters."""
    raw = secrets.token_urlsafe(15).replace("-", "x").replace("_", "y")
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))
