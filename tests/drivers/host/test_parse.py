"""nvidia-smi / rocm-smi / thermal outputs → GPU and CPU readings, on canned tool outputs."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.host.parse import (
    parse_millidegrees,
    parse_nvidia_smi,
    parse_rocm_smi,
)
from tests.support.fuzz import broken_bytes, only_device_errors

FIXTURES = resources.files("hashfleet.drivers.host") / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_nvidia_smi_three_gpus() -> None:
    gpus = parse_nvidia_smi(fixture("nvidia-smi_550_3gpus.csv"))
    assert [g.index for g in gpus] == [0, 1, 2]
    g0 = gpus[0]
    assert g0.name == "NVIDIA GeForce RTX 3080"
    assert (g0.temp_c, g0.temp_mem_c, g0.fan_pct, g0.power_w) == (63.0, 86.0, 72.0, 221.37)
    assert (g0.clock_core_mhz, g0.clock_mem_mhz) == (1710.0, 9251.0)
    assert (g0.mem_used_mb, g0.mem_total_mb, g0.utilization_pct) == (5120.0, 10240.0, 100.0)
    assert gpus[2].temp_mem_c is None  # "N/A": the 3070 has no memory sensor


def test_nvidia_smi_not_supported_fields_are_none() -> None:
    gpus = parse_nvidia_smi(fixture("nvidia-smi_470_quirks.csv"))
    assert len(gpus) == 2  # the trailing blank line is ignored
    cmp = gpus[1]
    assert cmp.name == "NVIDIA CMP 90HX" and cmp.temp_c == 55.0
    assert cmp.fan_pct is None and cmp.power_w is None and cmp.temp_mem_c is None


def test_rocm_smi_two_cards() -> None:
    gpus = parse_rocm_smi(fixture("rocm-smi_5.7_2gpus.csv"))
    assert [g.index for g in gpus] == [0, 1]
    g0 = gpus[0]
    assert g0.name == "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]"
    assert (g0.temp_c, g0.temp_mem_c, g0.fan_pct, g0.power_w) == (54.0, 76.0, 40.0, 142.0)
    assert (g0.clock_core_mhz, g0.clock_mem_mhz, g0.utilization_pct) == (1350.0, 1000.0, 100.0)


def test_rocm_smi_old_version_with_fewer_columns() -> None:
    (g,) = parse_rocm_smi(fixture("rocm-smi_4.5_quirks.csv"))
    assert g.temp_c == 66.0 and g.fan_pct is None and g.temp_mem_c is None
    assert g.clock_core_mhz == 1411.0 and g.power_w == 171.0


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_nvidia_smi, "0, RTX, 60\n"),
        (parse_nvidia_smi, "x, RTX, 1, 2, 3, 4, 5, 6, 7, 8, 9\n"),
        (parse_rocm_smi, "GPU,Temp\ncard0,50\n"),
        (parse_rocm_smi, "device,Temperature (Sensor edge) (C)\nbogus,50\n"),
    ],
)
def test_unreadable_outputs_are_invalid_replies(parse: object, text: str) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(text)  # type: ignore[operator]


def test_millidegrees() -> None:
    assert parse_millidegrees("45250\n") == 45.25
    assert parse_millidegrees("-273000") is None  # a broken sensor
    assert parse_millidegrees("N/A") is None


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["nvidia-smi_550_3gpus.csv", "rocm-smi_5.7_2gpus.csv"]).flatmap(
        lambda name: broken_bytes(fixture(name).encode())
    )
)
def test_fuzz_tool_outputs_never_crash(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace")
    only_device_errors(lambda: parse_nvidia_smi(text))
    only_device_errors(lambda: parse_rocm_smi(text))
