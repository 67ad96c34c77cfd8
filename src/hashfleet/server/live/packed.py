"""A JSON object the live index keeps encoded: a thing's ``info`` and ``opts``.

At 100,000 things the registry documents' ``info`` and ``opts`` were ~1.9 KB of Python
objects a thing; the same objects as JSON are ~0.3 KB. They are read far less often than
they are held — one thing's page, an agent's config, a query naming them — so the index
keeps the JSON and decodes it when read (``docs/ARCHITECTURE.md``, "Live index").

:class:`PackedObject` is a read-only mapping: ``doc["opts"].get("family")``, ``dict(...)``,
equality with a dict and dotted query paths (``info.pos.site``) work as on the dict it
holds; it encodes to the same JSON (:mod:`hashfleet.wire.codec`).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any

from hashfleet.server.query.paths import Resolvable, getter
from hashfleet.wire.codec import json_dumps, json_loads


class PackedObject(Mapping[str, Any], Resolvable):
    """A JSON object held as its bytes, decoded on every read (a fresh dict each time)."""

    __slots__ = ("packed_json",)

    def __init__(self, raw: bytes) -> None:
        # The name is what the JSON encoder looks for to write these bytes as they are.
        self.packed_json = raw

    @classmethod
    def pack(cls, value: Any) -> Any:
        """``value`` packed when it is a dict (one shared object for ``{}``), else as is."""
        if value.__class__ is not dict:
            return value
        if not value:
            return _EMPTY
        return cls(json_dumps(value))

    def to_dict(self) -> dict[str, Any]:
        """The object, decoded now (callers may change it)."""
        out: dict[str, Any] = json_loads(self.packed_json)
        return out

    def lookup(self, parts: Sequence[str]) -> Any:
        """The value at the dotted ``parts`` below this object, or ``MISSING``."""
        if not parts:
            return self
        return getter(".".join(parts))(self.to_dict())

    # -- the read-only mapping; each call decodes once --------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, else ``default``."""
        return self.to_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def keys(self) -> KeysView[str]:
        """The keys (decoded once)."""
        return self.to_dict().keys()

    def items(self) -> ItemsView[str, Any]:
        """The items (decoded once)."""
        return self.to_dict().items()

    def values(self) -> ValuesView[Any]:
        """The values (decoded once)."""
        return self.to_dict().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedObject):
            return self.packed_json == other.packed_json or self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedObject({self.packed_json.decode(errors='replace')})"


_EMPTY = PackedObject(b"{}")


def unpack(value: Any) -> Any:
    """``value`` as plain JSON types: a :class:`PackedObject` decoded, anything else as is."""
    return value.to_dict() if isinstance(value, PackedObject) else value
