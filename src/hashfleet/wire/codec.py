"""Fast JSON encoding shared by the wire, the store and the API (msgspec)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


def _enc_hook(obj: Any) -> Any:
    # A JSON object the live index keeps encoded (``PackedObject``) is written as it is.
    packed = getattr(obj, "packed_json", None)
    if packed is not None:
        return msgspec.Raw(packed)
    # Other read-only mappings (the live index's latest snapshot) encode as their dict.
    if isinstance(obj, Mapping):
        return dict(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.json.Decoder()


def json_dumps(obj: Any) -> bytes:
    """Encode ``obj`` (builtins or msgspec structs) to JSON bytes."""
    return _encoder.encode(obj)


def json_dumps_str(obj: Any) -> str:
    """Encode ``obj`` to a JSON string (for database drivers that want text).

    Already-encoded JSON (``msgspec.Raw``) passes through as it is.
    """
    if isinstance(obj, msgspec.Raw):
        return bytes(obj).decode()
    return _encoder.encode(obj).decode()


def json_loads(data: bytes | str) -> Any:
    """Decode JSON bytes or text to builtins."""
    return _decoder.decode(data)
