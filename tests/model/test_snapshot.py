"""The canonical snapshot: what agents ship is the model without its None fields."""

from __future__ import annotations

import msgspec

from hashfleet.model.snapshot import Fan, Hashboard, MinerConfig, MinerStats, Pool, Snapshot
from hashfleet.wire.codec import json_dumps


def test_the_wire_form_drops_none_and_reads_back_whole() -> None:
    snap = Snapshot(
        stats=MinerStats(
            hashrate=100e12,
            hashboards=[Hashboard(index=0, hashrate=50e12, temp_chip=80.0)],
            fans=[Fan(index=0, rpm=None)],
            pools=[Pool(url="stratum+tcp://p:3333")],
            errors=[],
        ),
        config=MinerConfig(model="S21"),
    )
    wire = snap.to_wire()
    assert wire["stats"]["hashboards"] == [  # type: ignore[index]
        {"index": 0, "hashrate": 50e12, "temp_chip": 80.0, "ok": True}
    ]
    assert wire["stats"]["fans"] == [{"index": 0}]  # type: ignore[index]
    assert "power_w" not in wire["stats"]  # type: ignore[operator]
    assert wire["stats"]["errors"] == []  # type: ignore[index]  (empty lists stay)
    # Read back through the model, it is the same snapshot, None fields and all.
    back = msgspec.json.decode(json_dumps(wire), type=Snapshot)
    assert back == snap and back.to_dict() == snap.to_dict()
    assert len(json_dumps(wire)) < len(json_dumps(snap.to_dict())) * 0.6
