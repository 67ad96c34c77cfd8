"""HostReader with canned tool outputs and a fake /sys tree."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from hashfleet.drivers.host.readings import HostReader, run_command

FIXTURES = resources.files("hashfleet.drivers.host") / "fixtures"


def fake_sys(root: Path, hwmon: dict[str, str], zones: list[str]) -> Path:
    for i, (name, temp) in enumerate(hwmon.items()):
        d = root / "class" / "hwmon" / f"hwmon{i}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "temp1_input").write_text(temp + "\n")
    for i, temp in enumerate(zones):
        d = root / "class" / "thermal" / f"thermal_zone{i}"
        d.mkdir(parents=True)
        (d / "temp").write_text(temp + "\n")
    return root


class Tools:
    """Answers like the rig's installed tools would; records what was asked."""

    def __init__(self, outputs: dict[str, str | None]) -> None:
        self.outputs = outputs
        self.calls: list[str] = []

    async def __call__(self, argv: Sequence[str], timeout: float) -> str | None:
        self.calls.append(argv[0])
        return self.outputs.get(argv[0])


async def test_nvidia_and_amd_gpus_and_the_cpu_package_temperature(tmp_path: Path) -> None:
    tools = Tools({
        "nvidia-smi": (FIXTURES / "nvidia-smi_550_3gpus.csv").read_text(),
        "rocm-smi": (FIXTURES / "rocm-smi_5.7_2gpus.csv").read_text(),
    })  # fmt: skip
    root = fake_sys(tmp_path, {"nvme": "38000", "k10temp": "61500"}, ["45000", "70000"])
    readings = await HostReader(runner=tools, sys_root=root).read()
    assert readings.cpu_temp_c == 61.5  # the package sensor, not the hottest zone
    assert [g.name for g in readings.gpus][:1] == ["NVIDIA GeForce RTX 3080"]
    assert len(readings.gpus) == 5
    assert sorted(tools.calls) == ["nvidia-smi", "rocm-smi"]


async def test_no_tools_and_only_thermal_zones(tmp_path: Path) -> None:
    root = fake_sys(tmp_path, {}, ["45000", "52000"])
    readings = await HostReader(runner=Tools({}), sys_root=root).read()
    assert readings.gpus == [] and readings.cpu_temp_c == 52.0


async def test_a_tool_printing_garbage_costs_only_its_gpus(tmp_path: Path) -> None:
    tools = Tools({"nvidia-smi": "NVIDIA-SMI has failed\n", "rocm-smi": None})
    readings = await HostReader(runner=tools, sys_root=fake_sys(tmp_path, {}, [])).read()
    assert readings.gpus == [] and readings.cpu_temp_c is None


async def test_run_command_missing_failing_and_hanging() -> None:
    assert await run_command(["surely-not-installed-tool"], 1.0) is None
    assert await run_command(["false"], 1.0) is None
    assert await run_command(["sleep", "5"], 0.2) is None
    assert await run_command(["echo", "0, GPU"], 1.0) == "0, GPU\n"
