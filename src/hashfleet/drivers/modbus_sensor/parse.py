"""Sensor registers → :class:`Snapshot` (``stats.environment``, ``stats.temp_max``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.modbus_common import Reg, decode_regs
from hashfleet.model.devices import EnvironmentReadings
from hashfleet.model.snapshot import MinerConfig, MinerStats, Snapshot

VALUES_AT = 0x0001
REGS = (Reg("temperature", 0x0001, "i16", 0.1), Reg("humidity", 0x0002, "u16", 0.1))
PROBE_FAILED = -3276.8  # 0x8000 x0.1: what the module reports with a broken probe
ERR_SENSOR_FAULT = "ERR_SENSOR_FAULT"

# Magnus formula coefficients (Sonntag 1990), good from -45 to 60 °C over water.
_B, _C = 17.62, 243.12


def dew_point(temp_c: float, humidity_pct: float) -> float | None:
    """Dew point in °C; ``None`` when humidity is 0 (no dew point exists)."""
    if humidity_pct <= 0.0:
        return None
    gamma = math.log(min(humidity_pct, 100.0) / 100.0) + _B * temp_c / (_C + temp_c)
    return round(_C * gamma / (_B - gamma), 1)


def parse_sensor(blocks: Mapping[int, Sequence[int]]) -> Snapshot:
    """Decode the input registers read from 0x0001 (start address → registers)."""
    if not isinstance(blocks, Mapping):
        raise DeviceReplyInvalid("register blocks are not a mapping")
    values = decode_regs(REGS, blocks)
    temp, hum = values["temperature"], values["humidity"]
    assert temp is not None and hum is not None  # required registers
    temp, hum = round(temp, 1), round(hum, 1)
    if temp == PROBE_FAILED:
        env = EnvironmentReadings()
        return Snapshot(stats=MinerStats(environment=env, errors=[ERR_SENSOR_FAULT]),
                        config=MinerConfig(make="Generic", model="Modbus T/H sensor"))  # fmt: skip
    if not -60.0 <= temp <= 150.0:
        raise DeviceReplyInvalid(f"temperature {temp} °C out of the sensor's range")
    if not 0.0 <= hum <= 100.0:
        raise DeviceReplyInvalid(f"humidity {hum} % out of range")
    env = EnvironmentReadings(
        temperature_c=temp, humidity_pct=hum, dew_point_c=dew_point(temp, hum)
    )
    return Snapshot(stats=MinerStats(environment=env, temp_max=temp),
                    config=MinerConfig(make="Generic", model="Modbus T/H sensor"))  # fmt: skip
