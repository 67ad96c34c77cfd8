"""The agent's spool: durable, ordered, sequence numbers never reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashfleet.agent import spool as spool_module
from hashfleet.agent.spool import Spool, build_batch, encode_item
from hashfleet.wire.codec import json_loads
from hashfleet.wire.messages import IngestBatch


def test_append_peek_ack_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.append([encode_item(f"t{i}", i, {"stats": {}}, None) for i in range(5)])
    items = spool.peek(3)
    assert [s for s, _ in items] == [1, 2, 3]
    assert json.loads(items[0][1])["thing_id"] == "t0"
    assert spool.ack(2) == 2
    assert [s for s, _ in spool.peek(10)] == [3, 4, 5]
    assert spool.pending() == 3


def test_survives_reopen_and_never_reuses_sequence_numbers(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool_id = spool.spool_id
    spool.append([encode_item("a", 1, None, "ERR_DEVICE_TIMEOUT")] * 3)
    spool.ack(3)
    spool.close()
    again = Spool(tmp_path / "s.db")
    assert again.spool_id == spool_id
    again.append([encode_item("a", 2, None, None)])
    assert [s for s, _ in again.peek(10)] == [4]


def test_a_new_spool_has_a_new_id(tmp_path: Path) -> None:
    assert Spool(tmp_path / "a.db").spool_id != Spool(tmp_path / "b.db").spool_id


def test_build_batch_is_a_valid_wire_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.append(
        [
            encode_item("a", 10, {"stats": {"hashrate": 1.5}}, None),
            encode_item("b", 11, None, "ERR_DEVICE_OFFLINE"),
        ]
    )
    raw = build_batch(spool.spool_id, spool.peek(10))
    import msgspec

    batch = msgspec.json.decode(raw, type=IngestBatch)
    assert batch.spool_id == spool.spool_id
    assert [(i.seq, i.thing_id, i.ts, i.err) for i in batch.items] == [
        (1, "a", 10, None),
        (2, "b", 11, "ERR_DEVICE_OFFLINE"),
    ]
    assert json_loads(batch.items[0].snap) == {"stats": {"hashrate": 1.5}}
    assert json_loads(batch.items[1].snap) is None
    assert json_loads(raw)["v"] == 1


def test_a_drained_backlog_gives_the_disk_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_FREE_BYTES", 1024 * 1024)
    monkeypatch.setattr(spool_module, "COMPACT_LIVE_BYTES", 256 * 1024)
    path = tmp_path / "s.db"
    spool = Spool(path)
    snap = {"stats": {"status": "online", "note": "x" * 900}}
    for start in range(0, 4000, 500):  # ~4 MB spooled during an "outage"
        spool.append([encode_item(f"t{i}", i, snap, None) for i in range(start, start + 500)])
    full = spool.size_bytes()
    assert full > 4_000_000
    spool.ack(1000)  # a quarter drained: too much left to copy yet
    assert spool.compactions == 0 and spool.size_bytes() == full
    spool.ack(3990)
    assert spool.compactions == 1
    assert spool.size_bytes() < 100_000 and path.stat().st_size < 100_000
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size < 100_000
    # What was left is intact, and sequence numbers go on where they were.
    assert [s for s, _ in spool.peek(20)] == list(range(3991, 4001))
    assert json.loads(spool.peek(1)[0][1])["thing_id"] == "t3990"
    spool.append([encode_item("new", 1, None, None)])
    spool.close()
    again = Spool(path)
    assert again.peek(20)[-1][0] == 4001 and again.pending() == 11
