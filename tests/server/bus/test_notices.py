"""Rows-written notices: a worker forwards each bus message's own payload (no encoding
again) with which rows were new; receivers decode the hot values once."""

from __future__ import annotations

from typing import Any

import msgspec

from hashfleet.server.bus.nats import ORIGIN_HEADER, NatsBus, _written_decoder
from hashfleet.server.ingest.worker import decode_rows, encode_rows


class FakeNc:
    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        self.sent.append((subject, body, headers))


def rows_of(seqs: range, size: int = 100) -> list[dict[str, Any]]:
    return [
        {"spool_id": "s", "seq": s, "thing_id": f"m{s % 3}", "rack_id": "r", "ts": s,
         "err": None if s % 4 else "ERR_X",
         "snap": None if not s % 4 else msgspec.Raw(b'{"stats": {"hashrate": %d}, "config":'
                                                     b' {"hostname": "%s"}}' % (s, b"x" * size))}
        for s in seqs
    ]  # fmt: skip


def sent_rows(nc: FakeNc) -> list[tuple[int, str]]:
    out = []
    for _, body, _ in nc.sent:
        note = _written_decoder.decode(body)
        rows = decode_rows(note.batch, with_views=True)
        out += [(r["seq"], flag) for r, flag in zip(rows, note.new, strict=True)]
    return out


async def test_a_notice_forwards_each_message_payload_with_its_new_flags() -> None:
    bus = NatsBus("nats://unused")
    nc = FakeNc(1024 * 1024)
    bus._nc = nc  # type: ignore[assignment]
    first, second = rows_of(range(1, 6)), rows_of(range(6, 9))
    parts = [(encode_rows(first), first), (encode_rows(second), second), (b"", [])]
    await bus._notify(parts, [first[1], second[0], second[2]])
    assert len(nc.sent) == 2
    assert [msgspec.json.decode(b)["batch"] for _, b, _ in nc.sent] == [
        msgspec.json.decode(p) for p, _ in parts[:2]
    ]
    assert all(h == {ORIGIN_HEADER: bus.origin} for _, _, h in nc.sent)
    assert sent_rows(nc) == [
        (1, "0"), (2, "1"), (3, "0"), (4, "0"), (5, "0"), (6, "1"), (7, "0"), (8, "1")
    ]  # fmt: skip


async def test_a_payload_too_large_for_a_notice_is_sliced() -> None:
    bus = NatsBus("nats://unused")
    nc = FakeNc(16 * 1024 + 3_000)  # notices of at most ~3,000 bytes
    bus._nc = nc  # type: ignore[assignment]
    rows = rows_of(range(1, 41), size=300)
    await bus._notify([(encode_rows(rows), rows)], rows[::2])
    assert len(nc.sent) > 1 and all(len(b) <= nc.max_payload for _, b, _ in nc.sent)
    assert sent_rows(nc) == [(r["seq"], "1" if i % 2 == 0 else "0") for i, r in enumerate(rows)]


class FakeSink:
    needs_views = True

    def __init__(self) -> None:
        self.applied_rows: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    def applied(self, rows: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        self.applied_rows.append((rows, new))


class FakeMsg:
    def __init__(self, data: bytes, origin: str) -> None:
        self.data = data
        self.headers = {ORIGIN_HEADER: origin}


async def test_a_notice_from_another_process_reaches_the_sink_with_views() -> None:
    bus = NatsBus("nats://unused")
    nc = FakeNc(1024 * 1024)
    bus._nc = nc  # type: ignore[assignment]
    rows = rows_of(range(1, 5))
    await bus._notify([(encode_rows(rows), rows)], rows[:2])
    sink = FakeSink()
    bus._sink = sink  # type: ignore[assignment]
    await bus._on_written(FakeMsg(nc.sent[0][1], bus.origin))  # type: ignore[arg-type]
    assert sink.applied_rows == []  # its own notice
    await bus._on_written(FakeMsg(nc.sent[0][1], "another"))  # type: ignore[arg-type]
    await bus._on_written(FakeMsg(b'{"new": "1", "batch": {"v": 1, "rows": [1]}}', "x"))  # type: ignore[arg-type]
    ((got, new),) = sink.applied_rows
    assert [r["view"].stats.hashrate if r["view"] else None for r in got] == [1.0, 2.0, 3.0, None]
    assert [r["seq"] for r in new] == [1, 2]
