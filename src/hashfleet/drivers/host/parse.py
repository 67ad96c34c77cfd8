"""Outputs of ``nvidia-smi``, ``rocm-smi`` and the kernel's thermal files → our readings.

Vendors' tools print ``[N/A]``, ``[Not Supported]``, ``N/A`` or nothing for what a card does
not report; each becomes ``None``. A line that cannot be read at all is a
``DeviceReplyInvalid`` for the whole output, never a crash.
"""

from __future__ import annotations

import csv
import io
import re

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.model.devices import GpuSensor

# The fields asked of nvidia-smi, in this order (``--query-gpu=…``).
NVIDIA_FIELDS = (
    "index", "name", "temperature.gpu", "temperature.memory", "fan.speed", "power.draw",
    "clocks.sm", "clocks.mem", "memory.used", "memory.total", "utilization.gpu",
)  # fmt: skip
NVIDIA_ARGS = (
    f"--query-gpu={','.join(NVIDIA_FIELDS)}",
    "--format=csv,noheader,nounits",
)
ROCM_ARGS = (
    "--showtemp", "--showfan", "--showpower", "--showclocks", "--showuse",
    "--showmemuse", "--showproductname", "--csv",
)  # fmt: skip
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MISSING = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]"}


def _num(text: str | None) -> float | None:
    """First number in ``text`` (``"(1940Mhz)"`` → 1940.0); ``None`` for missing values."""
    if text is None or text.strip().lower() in _MISSING:
        return None
    found = _NUMBER.search(text)
    return float(found.group()) if found else None


def _rows(text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text), skipinitialspace=True))
    except csv.Error as exc:  # a field past the csv module's limit, a NUL byte…
        raise DeviceReplyInvalid(f"not CSV: {exc}") from exc


def parse_nvidia_smi(text: str) -> list[GpuSensor]:
    """``nvidia-smi --query-gpu=<NVIDIA_FIELDS> --format=csv,noheader,nounits`` output."""
    gpus: list[GpuSensor] = []
    for n, row in enumerate(_rows(text)):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(NVIDIA_FIELDS):
            raise DeviceReplyInvalid(
                f"nvidia-smi line {n + 1}: {len(row)} fields, expected {len(NVIDIA_FIELDS)}"
            )
        v = dict(zip(NVIDIA_FIELDS, (c.strip() for c in row), strict=True))
        index = _num(v["index"])
        if index is None:
            raise DeviceReplyInvalid(f"nvidia-smi line {n + 1}: no GPU index")
        gpus.append(
            GpuSensor(
                index=int(index),
                name=v["name"] or None,
                temp_c=_num(v["temperature.gpu"]),
                temp_mem_c=_num(v["temperature.memory"]),
                fan_pct=_num(v["fan.speed"]),
                power_w=_num(v["power.draw"]),
                clock_core_mhz=_num(v["clocks.sm"]),
                clock_mem_mhz=_num(v["clocks.mem"]),
                mem_used_mb=_num(v["memory.used"]),
                mem_total_mb=_num(v["memory.total"]),
                utilization_pct=_num(v["utilization.gpu"]),
            )
        )
    return gpus


def _column(header: list[str], *needles: str) -> int | None:
    """Index of the first column whose lower-cased name contains every needle."""
    for i, name in enumerate(header):
        low = name.lower()
        if all(n in low for n in needles):
            return i
    return None


def parse_rocm_smi(text: str) -> list[GpuSensor]:
    """``rocm-smi <ROCM_ARGS>`` CSV output: a header row, then one row per ``cardN``."""
    rows = [r for r in _rows(text) if r and "".join(r).strip()]
    if not rows:
        return []
    header = rows[0]
    if not header or header[0].strip().lower() != "device":
        raise DeviceReplyInvalid("rocm-smi output has no 'device' header")
    cols = {
        "temp": _column(header, "temperature", "edge") or _column(header, "temperature"),
        "temp_mem": _column(header, "temperature", "memory"),
        "fan": _column(header, "fan speed (%)"),
        "power": _column(header, "power (w)"),
        "sclk": _column(header, "sclk clock speed"),
        "mclk": _column(header, "mclk clock speed"),
        "use": _column(header, "gpu use (%)"),
        "name": _column(header, "card series") or _column(header, "card model"),
    }
    gpus: list[GpuSensor] = []
    for row in rows[1:]:
        card = row[0].strip()
        if not card.startswith("card") or not card[4:].isdigit():
            raise DeviceReplyInvalid(f"rocm-smi row {card[:20]!r} is not a card")

        def cell(key: str, row: list[str] = row) -> str | None:
            i = cols[key]
            return row[i] if i is not None and i < len(row) else None

        name = cell("name")
        gpus.append(
            GpuSensor(
                index=int(card[4:]),
                name=name.strip() if name and name.strip().lower() not in _MISSING else None,
                temp_c=_num(cell("temp")),
                temp_mem_c=_num(cell("temp_mem")),
                fan_pct=_num(cell("fan")),
                power_w=_num(cell("power")),
                clock_core_mhz=_num(cell("sclk")),
                clock_mem_mhz=_num(cell("mclk")),
                utilization_pct=_num(cell("use")),
            )
        )
    return gpus


def parse_millidegrees(text: str) -> float | None:
    """A kernel thermal file (``/sys/class/…/temp*_input``): millidegrees → °C."""
    value = _num(text)
    if value is None:
        return None
    celsius = value / 1000.0
    return celsius if -40.0 <= celsius <= 150.0 else None  # sensors report junk when broken
