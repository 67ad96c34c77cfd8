"""Read the host a rig runs on: CPU temperature from the kernel, GPUs from their tools.

Run by an agent on the rig itself (one agent per rig, as rig operating systems do). Each
tool is asked only when it is installed; a tool that fails or hangs costs its own section,
never the rig's snapshot. The command runner and the ``/sys`` root are injectable, so tests
feed canned outputs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from hashfleet.core.errors import DeviceError
from hashfleet.drivers.host.parse import (
    NVIDIA_ARGS,
    ROCM_ARGS,
    parse_millidegrees,
    parse_nvidia_smi,
    parse_rocm_smi,
)
from hashfleet.model.devices import GpuSensor, HostReadings

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str], float], Awaitable[str | None]]
# hwmon drivers of CPU packages, best first: AMD k10temp (Tctl), Intel coretemp (Package).
CPU_HWMON = ("k10temp", "coretemp", "zenpower", "cpu_thermal")
MAX_OUTPUT = 1 << 20


async def run_command(argv: Sequence[str], timeout: float) -> str | None:
    """Output of ``argv``, or ``None`` when it is not installed, fails or takes too long."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    if proc.returncode != 0:
        return None
    return out[:MAX_OUTPUT].decode("utf-8", "replace")


class HostReader:
    """Reads one host; ``runner`` and ``sys_root`` are there for tests."""

    def __init__(
        self, runner: Runner = run_command, sys_root: Path = Path("/sys"), timeout: float = 5.0
    ) -> None:
        """Run tools with ``runner``; look for sensors under ``sys_root``."""
        self.runner = runner
        self.sys_root = sys_root
        self.timeout = timeout
        self._warned: set[str] = set()

    async def read(self) -> HostReadings:
        """CPU temperature, load and every GPU the vendors' tools list."""
        nvidia, amd = await asyncio.gather(
            self._gpus("nvidia-smi", NVIDIA_ARGS, parse_nvidia_smi),
            self._gpus("rocm-smi", ROCM_ARGS, parse_rocm_smi),
        )
        return HostReadings(cpu_temp_c=self.cpu_temp(), load_1m=_load(), gpus=nvidia + amd)

    async def _gpus(
        self, tool: str, args: Sequence[str], parse: Callable[[str], list[GpuSensor]]
    ) -> list[GpuSensor]:
        out = await self.runner([tool, *args], self.timeout)
        if out is None:
            return []
        try:
            return parse(out)
        except DeviceError as exc:
            if tool not in self._warned:  # once, not every poll
                self._warned.add(tool)
                log.warning("%s output not understood: %s", tool, exc)
            return []

    def cpu_temp(self) -> float | None:
        """The CPU package temperature (hwmon), else the hottest thermal zone."""
        hwmon = self.sys_root / "class" / "hwmon"
        found: dict[str, float] = {}
        for sensor in sorted(hwmon.glob("hwmon*")):
            name = _read(sensor / "name")
            if name is None or name.strip() not in CPU_HWMON or name.strip() in found:
                continue
            value = _read(sensor / "temp1_input")
            temp = parse_millidegrees(value) if value is not None else None
            if temp is not None:
                found[name.strip()] = temp
        for name in CPU_HWMON:
            if name in found:
                return found[name]
        zones = []
        for zone in sorted((self.sys_root / "class" / "thermal").glob("thermal_zone*")):
            value = _read(zone / "temp")
            temp = parse_millidegrees(value) if value is not None else None
            if temp is not None:
                zones.append(temp)
        return max(zones) if zones else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")[:64]
    except OSError:
        return None


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
