"""The shared simulated GPUs: presets, drift, dual mining, share counters and faults."""

from __future__ import annotations

import pytest

from hashfleet.sim.faults import Fault
from hashfleet.sim.gpu import (
    AUTOLYKOS2,
    DUAL_PRIMARY,
    ETCHASH,
    KHEAVYHASH,
    PRESETS,
    WARMUP_S,
    GpuRig,
    rig_for,
)

T0 = 1_732_300_000.0


def warm_rig(*algos: str, cards: tuple[str, ...] = ("RTX 3080", "RX 6600")) -> GpuRig:
    rig = GpuRig(cards, algos or (ETCHASH,), seed=3, now=T0 - 3600)
    rig.prefill(3600, T0)
    return rig


def test_presets_cover_the_usual_cards_and_algorithms() -> None:
    assert {"RTX 3080", "RTX 3070", "RX 6800 XT", "RX 6600"} <= set(PRESETS)
    for preset in PRESETS.values():
        assert preset.vendor in ("nvidia", "amd")
        assert {ETCHASH, AUTOLYKOS2, KHEAVYHASH} <= set(preset.hashrates)
    assert all(PRESETS[k].vendor == "nvidia" for k in rig_for(1, "nvidia"))


def test_readings_drift_but_stay_near_the_preset() -> None:
    rig = warm_rig()
    seen = set()
    for step in range(0, 3600, 60):
        gpu = rig.sample(T0 + step, Fault.NONE, True)[0]
        rate = gpu.hashrates[0]
        assert rate is not None and abs(rate / 97.5e6 - 1) < 0.02
        assert 50 < gpu.temp_c < 75 and 60 < gpu.fan_pct <= 100 and gpu.power_w > 150
        seen.add(rate)
    assert len(seen) > 10  # it moves
    assert rig.sample(T0, Fault.NONE, True)[0] == rig.sample(T0, Fault.NONE, True)[0]


def test_dual_mining_splits_the_card() -> None:
    rig = warm_rig(ETCHASH, KHEAVYHASH)
    gpu = rig.sample(T0, Fault.NONE, True)[0]
    assert rig.dual and len(gpu.hashrates) == 2 and len(gpu.accepted) == 2
    assert gpu.hashrates[0] == pytest.approx(97.5e6 * DUAL_PRIMARY, rel=0.02)
    assert gpu.hashrates[1] is not None and gpu.hashrates[1] < 1.25e9


def test_shares_grow_and_freeze() -> None:
    rig = warm_rig()
    first = rig.sample(T0, Fault.NONE, True)[0].accepted[0]
    assert first > 0
    assert rig.sample(T0 + 600, Fault.NONE, True)[0].accepted[0] > first
    rig.sync(T0 + 600, Fault.POOL_DOWN, True)
    frozen = rig.sample(T0 + 600, Fault.POOL_DOWN, True)[0]
    assert frozen.hashrates == [0.0]
    assert rig.sample(T0 + 1800, Fault.POOL_DOWN, True)[0].accepted == frozen.accepted


def test_faults_as_the_cards_show_them() -> None:
    rig = warm_rig()
    hot = rig.sample(T0, Fault.OVERHEAT, True)
    assert all(g.temp_c > 90 and g.mem_temp_c > 100 and g.fan_pct == 100 for g in hot)
    assert all(g.throttled for g in hot)
    dead = rig.sample(T0, Fault.DEAD_BOARD, True)
    assert dead[-1].dead and dead[-1].hashrates == [0.0] and not dead[0].dead
    assert dead[0].hashrates[0]
    paused = rig.sample(T0, Fault.NONE, False)
    assert all(g.hashrates == [0.0] and g.power_w < 50 for g in paused)


def test_restart_warms_up_again() -> None:
    rig = warm_rig()
    rig.reset(T0)
    assert rig.sample(T0 + 1, Fault.NONE, True)[0].hashrates == [None]
    assert rig.sample(T0 + 1, Fault.NONE, True)[0].accepted == [0]
    assert rig.sample(T0 + WARMUP_S + 1, Fault.NONE, True)[0].hashrates[0]


def test_bad_rigs_are_refused() -> None:
    with pytest.raises(ValueError):
        GpuRig(("GTX 480",), (ETCHASH,), 0, T0)
    with pytest.raises(ValueError):
        GpuRig(("RTX 3080",), ("sha256",), 0, T0)
    with pytest.raises(ValueError):
        GpuRig(("RTX 3080",), (ETCHASH, KHEAVYHASH, AUTOLYKOS2), 0, T0)
