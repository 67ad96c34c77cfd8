"""The checked mirror of the model: it accepts and rejects what the model does, holds what
the model would, reads as a ``SnapshotView`` and gives the garbage collector nothing."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.model.checked import CheckedSnapshot, decode_checked, mirror
from hashfleet.model.snapshot import Snapshot, SnapshotView, decode_view
from hashfleet.wire.codec import json_dumps
from tests.server.ingest.strategies import SNAPSHOTS
from tests.support.fuzz import mutated_json_bytes

_model = msgspec.json.Decoder(Snapshot | None)


def _outcome(decode: Any, raw: bytes) -> Any:
    try:
        # As JSON again: a tuple and a list of the same items read the same.
        return ("ok", msgspec.json.decode(msgspec.json.encode(decode(raw))))
    except msgspec.ValidationError:
        return ("invalid", None)
    except msgspec.DecodeError:
        return ("not json", None)


@settings(max_examples=400, deadline=None)
@given(snap=SNAPSHOTS, data=st.data())
def test_it_accepts_and_rejects_what_the_model_does(snap: dict[str, Any], data: Any) -> None:
    # The snapshot as agents send it, with values swapped for any JSON or keys dropped, or
    # its bytes broken.
    raw = data.draw(st.one_of(st.just(json_dumps(snap)), mutated_json_bytes(snap)))
    assert _outcome(decode_checked, raw) == _outcome(_model.decode, raw)


@pytest.mark.parametrize(
    "raw",
    [b"null", b"", b"[", b"{}", b'{"stats": null}', b'{"stats": {"hashrate": "1"}}', b"1"],
)
def test_edge_cases_go_the_model_s_way(raw: bytes) -> None:
    assert _outcome(decode_checked, raw) == _outcome(_model.decode, raw)


def _same_view(view: Any, checked: Any, where: str = "view") -> None:
    """Every field of the view reads the same in the checked struct."""
    if isinstance(view, msgspec.Struct):
        for field in msgspec.structs.fields(type(view)):
            name = field.name
            _same_view(getattr(view, name), getattr(checked, name), f"{where}.{name}")
    elif isinstance(view, (tuple, list)):
        # The view keeps the model's own structs for a device section (``meter``, …), and
        # with them their lists; the mirror has tuples everywhere.
        assert isinstance(checked, tuple) and len(checked) == len(view), where
        for i, (a, b) in enumerate(zip(view, checked, strict=True)):
            _same_view(a, b, f"{where}[{i}]")
    else:
        assert type(checked) is type(view) and checked == view, where


@settings(max_examples=300, deadline=None)
@given(snap=SNAPSHOTS)
def test_it_reads_as_the_view(snap: dict[str, Any]) -> None:
    raw = json_dumps(snap)
    _same_view(decode_view(raw), decode_checked(raw))


def test_the_collector_tracks_none_of_it() -> None:
    raw = json_dumps(
        {
            "stats": {
                "hashrate": 1.0,
                "hashboards": [{"index": 0, "temp_chip": 70.0}],
                "fans": [{"index": 0, "rpm": 5000}],
                "pools": [{"url": "stratum+tcp://a:3333"}],
                "cooling": {"alarms": ["A1"], "pumps": [{"index": 0}]},
            },
            "config": {"model": "S21"},
        }
    )
    checked = decode_checked(raw)
    assert checked is not None
    gc.collect()  # tuples of untracked objects are untracked by a collection
    stack: list[Any] = [checked]
    seen = 0
    while stack:
        obj = stack.pop()
        seen += 1
        assert not gc.is_tracked(obj), obj
        if isinstance(obj, msgspec.Struct):
            stack += [getattr(obj, f.name) for f in msgspec.structs.fields(type(obj))]
        elif isinstance(obj, tuple):
            stack += list(obj)
    assert seen > 20


def test_every_struct_of_the_model_is_mirrored_field_for_field() -> None:
    todo: list[type[msgspec.Struct]] = [Snapshot]
    done: set[type[msgspec.Struct]] = set()
    while todo:
        cls = todo.pop()
        if cls in done:
            continue
        done.add(cls)
        ours = {f.name: f for f in msgspec.structs.fields(mirror(cls))}
        theirs = msgspec.structs.fields(cls)
        assert list(ours) == [f.name for f in theirs], cls
        for field in theirs:
            assert ours[field.name].required == field.required, (cls, field.name)
            todo += [
                t
                for t in _struct_types(field.type)
                if issubclass(t, msgspec.Struct) and t not in done
            ]
    assert len(done) >= 10
    assert mirror(Snapshot) is CheckedSnapshot
    # The view's own structs are not part of the model: only their fields are checked.
    assert not issubclass(CheckedSnapshot, SnapshotView)


def _struct_types(tp: Any) -> list[type[msgspec.Struct]]:
    import typing

    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [tp]
    return [t for arg in typing.get_args(tp) for t in _struct_types(arg)]


class _PostInit(msgspec.Struct):
    x: int

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("negative")


class _DictOfStructs(msgspec.Struct):
    by_name: dict[str, _PostInit]


class _Renamed(msgspec.Struct, rename="camel"):
    some_field: int


@pytest.mark.parametrize("cls", [_PostInit, _DictOfStructs, _Renamed])
def test_a_model_it_cannot_mirror_faithfully_fails_at_import(cls: type[msgspec.Struct]) -> None:
    # Its checks would not run, or it would read other JSON than the model: refused.
    with pytest.raises(TypeError, match="cannot mirror"):
        mirror(cls)
