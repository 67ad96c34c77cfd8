"""Container points → :class:`Snapshot` (``stats.cooling``, ``stats.errors``, power).

The controller's points are read in four requests (see :mod:`hashfleet.sim.container` for
the map); this module decodes what they returned. Firmware 1.x reports flow in m³/h x10,
2.x in L/min x10; the firmware word sits in the same block, so the unit is known here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.modbus_common import Block, Reg, decode_regs
from hashfleet.model.devices import CoolingReadings, Pump
from hashfleet.model.snapshot import MinerConfig, MinerStats, Snapshot

PUMPS, FANS = 2, 4
INPUTS = (
    Reg("supply", 0, "i16", 0.1),
    Reg("return", 1, "i16", 0.1),
    Reg("flow", 2, "u16", 0.1),
    Reg("pressure", 3, "u16", 0.01),
    Reg("power", 4, "f32"),
    Reg("alarms", 6, "u16"),
    *(Reg(f"pump_pct_{i}", 7 + i, "u16", 0.1) for i in range(PUMPS)),
    *(Reg(f"fan_pct_{i}", 9 + i, "u16", 0.1) for i in range(FANS)),
    Reg("firmware", 13, "u16"),
)
HOLDINGS = (Reg("setpoint", 0, "u16", 0.1), Reg("high_temp", 1, "u16", 0.1))
INPUT_BLOCK = Block(0, 14)
HOLDING_BLOCK = Block(0, 2)
COIL_COOLING = 0
DISCRETE_COUNT = 12  # pumps running, pumps fault, fans running, fans fault

ALARM_BITS = ("ALARM_HIGH_TEMP", "ALARM_LOW_FLOW", "ALARM_PUMP_FAULT", "ALARM_LEAK")
ERR_OVERHEAT = "ERR_OVERHEAT"


def alarm_names(bits: int) -> list[str]:
    """Alarm bitfield → names, lowest bit first; unknown bits as ``ALARM_BIT_<n>``."""
    return [
        ALARM_BITS[n] if n < len(ALARM_BITS) else f"ALARM_BIT_{n}"
        for n in range(16)
        if bits >> n & 1
    ]


def parse_container(
    inputs: Sequence[int], holdings: Sequence[int], coils: Sequence[bool], discretes: Sequence[bool]
) -> Snapshot:
    """Decode the four reads: input registers 0-13, holding 0-1, coil 0, discrete 0-11."""
    if len(coils) < 1 or len(discretes) < DISCRETE_COUNT:
        raise DeviceReplyInvalid(f"{len(coils)} coils, {len(discretes)} discrete inputs")
    values = decode_regs(INPUTS, {0: inputs})
    settings = decode_regs(HOLDINGS, {0: holdings})
    firmware = int(values["firmware"] or 0)
    major, minor = firmware >> 8, firmware & 0xFF
    flow = values["flow"] or 0.0
    flow_lpm = flow * 1000.0 / 60.0 if major < 2 else flow  # 1.x: m³/h
    supply, ret = values["supply"], values["return"]
    for name, temp in (("supply", supply), ("return", ret)):
        if temp is None or not -40.0 <= temp <= 150.0:
            raise DeviceReplyInvalid(f"{name} temperature {temp} out of range")
    assert supply is not None and ret is not None
    power = values["power"]
    if power is not None and not 0.0 <= power <= 1e8:
        raise DeviceReplyInvalid(f"power {power} W out of range")
    pumps = [Pump(index=i, running=bool(discretes[i]), fault=bool(discretes[2 + i]),
                  speed_pct=_r(values[f"pump_pct_{i}"])) for i in range(PUMPS)]  # fmt: skip
    fans = [Pump(index=i, running=bool(discretes[4 + i]), fault=bool(discretes[8 + i]),
                 speed_pct=_r(values[f"fan_pct_{i}"])) for i in range(FANS)]  # fmt: skip
    alarms = alarm_names(int(values["alarms"] or 0))
    cooling = CoolingReadings(
        supply_temp_c=_r(supply),
        return_temp_c=_r(ret),
        flow_lpm=_r(flow_lpm),
        pressure_bar=_r(values["pressure"], 2),
        cooling_on=bool(coils[COIL_COOLING]),
        setpoint_c=_r(settings["setpoint"]),
        pumps=pumps,
        fans=fans,
        alarms=alarms,
    )
    errors = list(alarms) + ([ERR_OVERHEAT] if "ALARM_HIGH_TEMP" in alarms else [])
    stats = MinerStats(cooling=cooling, errors=errors, temp_max=_r(max(supply, ret)),
                       power_w=None if power is None else round(power, 1))  # fmt: skip
    config = MinerConfig(make="Generic", model="Modbus cooling container",
                         firmware=f"{major}.{minor}")  # fmt: skip
    return Snapshot(stats=stats, config=config)


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def parse_dump(doc: Mapping[str, object]) -> Snapshot:
    """A canned dump ``{"input": [...], "holding": [...], "coil": [...], "discrete": [...]}``."""
    if not isinstance(doc, Mapping):
        raise DeviceReplyInvalid("container dump is not an object")
    parts = [doc.get(k) for k in ("input", "holding", "coil", "discrete")]
    if not all(isinstance(p, list) for p in parts):
        raise DeviceReplyInvalid("container dump lacks a table")
    inputs, holdings, coils, discretes = parts
    assert isinstance(inputs, list) and isinstance(holdings, list)
    assert isinstance(coils, list) and isinstance(discretes, list)
    if not all(isinstance(b, bool) for b in [*coils, *discretes]):
        raise DeviceReplyInvalid("bits are not booleans")
    return parse_container(inputs, holdings, coils, discretes)
