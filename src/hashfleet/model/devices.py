"""Readings of farm devices that are not miners, and of the host a rig runs on.

Each is an optional section of :class:`hashfleet.model.snapshot.MinerStats`; a driver fills
only the section of its kind. Units are in the field names (``_c`` °C, ``_v`` volts,
``_a`` amperes, ``_w`` watts, ``_kwh``, ``_pct``, ``_lpm`` litres per minute, ``_bar``).
``None`` means "the device does not report this".
"""

from __future__ import annotations

import msgspec


class Phase(msgspec.Struct, kw_only=True):
    """One phase (L1, L2, L3) of a power meter."""

    index: int
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    power_factor: float | None = None
    energy_kwh: float | None = None


class MeterReadings(msgspec.Struct, kw_only=True):
    """A power meter: per-phase values and the totals."""

    phases: list[Phase] = msgspec.field(default_factory=list)
    power_w: float | None = None
    energy_kwh: float | None = None
    frequency_hz: float | None = None


class EnvironmentReadings(msgspec.Struct, kw_only=True):
    """A temperature/humidity sensor."""

    temperature_c: float | None = None
    humidity_pct: float | None = None
    dew_point_c: float | None = None


class Pump(msgspec.Struct, kw_only=True):
    """A coolant pump or a dry-cooler fan of a container."""

    index: int
    running: bool = False
    speed_pct: float | None = None
    fault: bool = False


class CoolingReadings(msgspec.Struct, kw_only=True):
    """An immersion or hydro container: coolant loop, pumps, fans, alarms, set points."""

    supply_temp_c: float | None = None
    return_temp_c: float | None = None
    flow_lpm: float | None = None
    pressure_bar: float | None = None
    cooling_on: bool | None = None
    setpoint_c: float | None = None
    pumps: list[Pump] = msgspec.field(default_factory=list)
    fans: list[Pump] = msgspec.field(default_factory=list)
    alarms: list[str] = msgspec.field(default_factory=list)


class PoolAccountStats(msgspec.Struct, kw_only=True):
    """A mining pool account as the pool sees it (hashrate in H/s)."""

    pool: str | None = None
    account: str | None = None
    hashrate: float | None = None
    hashrate_24h: float | None = None
    workers_online: int | None = None
    workers_offline: int | None = None
    balance: float | None = None
    earnings_24h: float | None = None
    earnings_total: float | None = None
    currency: str | None = None


class ChiaStats(msgspec.Struct, kw_only=True):
    """A Chia farmer and/or harvester (the chia-tea seed's readings)."""

    synced: bool | None = None
    syncing: bool | None = None
    height: int | None = None
    netspace_bytes: int | None = None
    plots: int | None = None
    total_space_bytes: int | None = None
    proofs_found: int | None = None
    signage_points: int | None = None
    missed_challenges: int | None = None
    harvesters: int | None = None
    farming_status: str | None = None
    plots_missing: int | None = None  # plots a harvester lists but cannot find or open


class GpuSensor(msgspec.Struct, kw_only=True):
    """One GPU as the host's tools (``nvidia-smi``, ``rocm-smi``) report it."""

    index: int
    name: str | None = None
    temp_c: float | None = None
    temp_mem_c: float | None = None
    fan_pct: float | None = None
    power_w: float | None = None
    clock_core_mhz: float | None = None
    clock_mem_mhz: float | None = None
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    utilization_pct: float | None = None


class HostReadings(msgspec.Struct, kw_only=True):
    """The machine a rig's mining software runs on."""

    cpu_temp_c: float | None = None
    load_1m: float | None = None
    gpus: list[GpuSensor] = msgspec.field(default_factory=list)
