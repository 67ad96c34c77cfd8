"""The btminer API's write-command envelope (API 2.x on TCP 4028) and the v3 token.

API 2.x: ``get_token`` answers ``{time, salt, newsalt}``. The password is md5-crypted with
``salt`` (the hash part of ``$1$salt$hash`` is the *key*); the AES-256 key is the SHA-256 of
that key; the *sign* is md5-crypt(key + time, newsalt). A write command is JSON with
``"token": sign``, NUL-padded to 16 bytes, AES-256-ECB encrypted, base64, and sent as
``{"enc": 1, "data": "..."}``; the answer comes back as ``{"enc": "..."}`` the same way.

API 3 (TCP 4433, newer firmware): a ``set.*`` command carries ``ts``, ``account`` and a
``token`` made of the first 8 characters of base64(sha256(cmd + password + salt + ts)).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import warnings
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


@functools.cache
def _md5_crypt() -> Any:
    # passlib imports the stdlib ``crypt`` module, deprecated since 3.11; we never use it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.hash import md5_crypt
    return md5_crypt


def crypt_part(word: str, salt: str) -> str:
    """The hash part of md5-crypt ``$1$<salt>$<hash>`` of ``word``."""
    return str(_md5_crypt().using(salt=salt).hash(word)).rsplit("$", 1)[1]


def password_key(password: str, salt: str) -> str:
    """The *key* the token and the AES key derive from (md5-crypt of the password)."""
    return crypt_part(password, salt)


def sign(key: str, time: str, newsalt: str) -> str:
    """The token a write command carries."""
    return crypt_part(key + time, newsalt)


def aes_key(key: str) -> bytes:
    """AES-256 key: SHA-256 of the md5-crypt key."""
    return hashlib.sha256(key.encode()).digest()


def encrypt(aes: bytes, plain: bytes) -> str:
    """NUL-pad to 16 bytes, AES-256-ECB, base64 (no newlines)."""
    padded = plain + b"\x00" * (-len(plain) % 16)
    enc = Cipher(algorithms.AES(aes), modes.ECB()).encryptor()
    return base64.b64encode(enc.update(padded) + enc.finalize()).decode()


def decrypt(aes: bytes, data: str) -> bytes:
    """Inverse of :func:`encrypt`; ``ValueError`` for bad base64 or a bad block length."""
    try:
        raw = base64.b64decode(data.encode(), validate=False)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"bad base64: {exc}") from exc
    if not raw or len(raw) % 16:
        raise ValueError("ciphertext is not a whole number of AES blocks")
    dec = Cipher(algorithms.AES(aes), modes.ECB()).decryptor()
    return (dec.update(raw) + dec.finalize()).rstrip(b"\x00")


def v3_token(command: str, password: str, salt: str, ts: int) -> str:
    """The API 3 token of a ``set.*`` command."""
    digest = hashlib.sha256(f"{command}{password}{salt}{ts}".encode()).digest()
    return base64.b64encode(digest).decode()[:8]
