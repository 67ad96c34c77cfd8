"""The snapshot model, checked and read in one decode.

Ingest checks every snapshot it receives against the model (:mod:`hashfleet.model.snapshot`)
and keeps its hot values for the live index, the alert rules and the rollups. Decoding into
the model's structs and again into a :class:`~hashfleet.model.snapshot.SnapshotView` took two
decodes, and the model's structs and lists are objects the garbage collector walks again and
again while thousands of rows wait for their commit.

:data:`CheckedSnapshot` mirrors the model: the same fields, types and defaults, built from
the model's own structs when this module is imported (so the two cannot drift), with lists
as tuples and instances the garbage collector does not track. It accepts and rejects exactly
what the model does, and reads as a ``SnapshotView``: every field of the view is there under
its name, with the value the view would hold.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from hashfleet.model.snapshot import Snapshot, SnapshotView

_mirrors: dict[type[msgspec.Struct], type[msgspec.Struct]] = {}


def _has_struct(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return True
    return any(_has_struct(arg) for arg in typing.get_args(tp))


def _mirror_type(tp: Any) -> Any:
    """``tp`` with lists as tuples and structs mirrored."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return tuple[_mirror_type(item), ...]  # type: ignore[misc]
    if origin is typing.Union or origin is types.UnionType:
        # Built at run time from a tuple of types: the ``X | Y`` syntax cannot take one.
        return typing.Union[tuple(_mirror_type(arg) for arg in typing.get_args(tp))]  # noqa: UP007
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return mirror(tp)
    if _has_struct(tp):
        # A container this mirror does not know (dict of structs, Annotated, …): fail at
        # import, not by checking snapshots differently from the model.
        raise TypeError(f"cannot mirror the model type {tp!r}")
    return tp


def _mirror_default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    factory = field.default_factory
    if factory is list:
        return ()
    if isinstance(factory, type) and issubclass(factory, msgspec.Struct):
        return msgspec.field(default_factory=mirror(factory))
    if factory is dict:
        return msgspec.field(default_factory=dict)
    raise TypeError(f"cannot mirror the default of {field.name!r}: {factory!r}")


def mirror(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The checked mirror of the model struct ``cls`` (made once)."""
    if cls in _mirrors:
        return _mirrors[cls]
    if "__post_init__" in vars(cls):
        # Its checks would not run on the mirror: fail at import instead.
        raise TypeError(f"cannot mirror {cls.__name__}: it has a __post_init__")
    config = cls.__struct_config__
    fields: list[Any] = []
    for field in msgspec.structs.fields(cls):
        if field.encode_name != field.name:
            raise TypeError(f"cannot mirror the renamed field {cls.__name__}.{field.name}")
        tp = _mirror_type(field.type)
        if field.required:
            fields.append((field.name, tp))
        else:
            fields.append((field.name, tp, _mirror_default(field)))
    made = msgspec.defstruct(
        f"Checked{cls.__name__}",
        fields,
        module=__name__,
        kw_only=True,
        gc=False,  # a decoded tree: no cycles, and nothing for the collector to walk
        forbid_unknown_fields=config.forbid_unknown_fields,
        array_like=config.array_like,
        tag=config.tag,
        tag_field=config.tag_field,
    )
    _mirrors[cls] = made
    return made


CheckedSnapshot = mirror(Snapshot)
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(CheckedSnapshot | None)


def decode_checked(raw: bytes | str) -> SnapshotView | None:
    """The snapshot JSON ``raw`` checked against the model, read as a ``SnapshotView``
    (``None`` for ``null``).

    Raises msgspec's ``ValidationError`` or ``DecodeError`` where the model's own decode
    would.
    """
    checked: SnapshotView | None = _decoder.decode(raw)
    return checked
