"""The fleet table's row of a thing."""

from __future__ import annotations

from hashfleet.server.live.status import summary_row


def test_summary_row_carries_the_family_for_the_actions_dialog() -> None:
    doc = {
        "id": "m1",
        "code": "M-1",
        "type": "miner",
        "rack": "r1",
        "opts": {"family": "antminer", "address": "127.0.0.1"},
        "last": {
            "ts": 5,
            "err": None,
            "snap": {"stats": {"status": "online", "hashrate": 1e12}, "config": {"model": "S19"}},
        },
    }
    row = summary_row(doc)
    assert row["family"] == "antminer"
    assert row["address"] == "127.0.0.1"
    assert row["status"] == "online" and row["model"] == "S19"
    assert set(row) == {
        "id", "code", "type", "rack", "address", "family", "status", "err", "model",
        "hashrate", "algorithm", "coin", "temp", "power", "pool", "ts",
    }  # fmt: skip
    assert summary_row({"id": "x"})["family"] is None  # no opts: no family
