"""The canonical snapshot a driver makes of a device, whatever its make.

Past the driver only these snake_case fields exist. ``None`` means "the device does not
report this". Hashrates are in hashes per second (H/s), temperatures in °C, power in W.
"""

from __future__ import annotations

import msgspec

from hashfleet.model.devices import (
    ChiaStats,
    CoolingReadings,
    EnvironmentReadings,
    HostReadings,
    MeterReadings,
    PoolAccountStats,
)

# Statuses a thing can be in; the live index adds "offline" when snapshots stop arriving.
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
STATUS_ERROR = "error"
STATUS_SLEEPING = "sleeping"
STATUSES = (STATUS_ONLINE, STATUS_OFFLINE, STATUS_ERROR, STATUS_SLEEPING)


class Hashboard(msgspec.Struct, kw_only=True):
    """One hashboard (chain) of an ASIC, or one GPU/CPU device of a rig.

    ``kind`` is ``"board"`` (ASIC chain), ``"gpu"`` or ``"cpu"``; GPU devices also carry
    their own power, fan, clocks and share counters, and the ``software`` mining on them.
    """

    index: int
    hashrate: float | None = None
    temp_board: float | None = None
    temp_chip: float | None = None
    chips: int | None = None
    chips_expected: int | None = None
    ok: bool = True
    kind: str | None = None
    name: str | None = None
    software: str | None = None
    power_w: float | None = None
    fan_pct: float | None = None
    clock_core_mhz: float | None = None
    clock_mem_mhz: float | None = None
    temp_mem: float | None = None
    accepted: int | None = None
    rejected: int | None = None


class Fan(msgspec.Struct, kw_only=True):
    """One fan."""

    index: int
    rpm: int | None = None


class Pool(msgspec.Struct, kw_only=True):
    """One configured pool and its share counters."""

    url: str
    user: str = ""
    alive: bool = True
    active: bool = False
    accepted: int = 0
    rejected: int = 0


class HashStream(msgspec.Struct, kw_only=True):
    """What one mining program of a rig hashes: a rig running a CPU miner and a GPU miner at
    once has one stream each (they mine different algorithms, so they are never summed)."""

    software: str
    algorithm: str | None = None
    coin: str | None = None
    hashrate: float | None = None
    power_w: float | None = None


class MinerStats(msgspec.Struct, kw_only=True):
    """Operational values of a thing at one instant.

    Miners fill the top-level fields; other farm devices leave them ``None`` and fill their
    own section (``meter``, ``environment``, ``cooling``, ``pool_account``, ``chia``).
    """

    status: str = STATUS_ONLINE
    hashrate: float | None = None
    hashrate_nominal: float | None = None
    algorithm: str | None = None
    coin: str | None = None
    power_w: float | None = None
    temp_max: float | None = None
    uptime_s: int | None = None
    hashboards: list[Hashboard] = msgspec.field(default_factory=list)
    fans: list[Fan] = msgspec.field(default_factory=list)
    pools: list[Pool] = msgspec.field(default_factory=list)
    errors: list[str] = msgspec.field(default_factory=list)
    work_mode: str | None = None  # "normal", "sleep", "low", "high" as the device reports
    power_limit_w: float | None = None
    led: bool | None = None  # fault/locate light on
    streams: list[HashStream] = msgspec.field(default_factory=list)
    host: HostReadings | None = None
    meter: MeterReadings | None = None
    environment: EnvironmentReadings | None = None
    cooling: CoolingReadings | None = None
    pool_account: PoolAccountStats | None = None
    chia: ChiaStats | None = None


class MinerConfig(msgspec.Struct, kw_only=True):
    """Identity and configuration of a miner, which changes rarely."""

    make: str | None = None
    model: str | None = None
    firmware: str | None = None
    mac: str | None = None
    hostname: str | None = None
    serial: str | None = None
    software: str | None = None  # the mining program on a rig ("lolMiner 1.88")


class Snapshot(msgspec.Struct, kw_only=True):
    """What one poll of one device produced: ``stats`` and ``config``."""

    stats: MinerStats
    config: MinerConfig = msgspec.field(default_factory=MinerConfig)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able dict with every field (``None`` where the device says nothing)."""
        out: dict[str, object] = msgspec.to_builtins(self)
        return out

    def to_wire(self) -> dict[str, object]:
        """What an agent ships: :meth:`to_dict` without the ``None`` fields.

        Half the bytes on the wire, in the agent's spool and in the store; whoever reads it
        through the model gets the ``None`` back.
        """
        out = _without_none(msgspec.to_builtins(self))
        assert isinstance(out, dict)
        return out


def _without_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# -- a snapshot's hot values, decoded without the rest ----------------------------------------
#
# What the server reads of every stored snapshot (the live index's hot values, the alert
# rules, the rollups' default fields) and nothing else: decoding a snapshot's JSON into
# these skips the other fields, and builds no dicts. Each field has the type it has in the
# model above, so a value read here is the value the model would give (lists are tuples:
# the garbage collector stops tracking those once it has seen them). Not a validation:
# only snapshots the model already accepted are decoded this way.


class BoardView(msgspec.Struct, kw_only=True, gc=False):
    """The fields of a :class:`Hashboard` that alerts and hot values read."""

    index: int
    temp_board: float | None = None
    temp_chip: float | None = None
    ok: bool = True


class FanView(msgspec.Struct, kw_only=True, gc=False):
    """The fields of a :class:`Fan` that alerts read."""

    index: int
    rpm: int | None = None


class PoolView(msgspec.Struct, kw_only=True, gc=False):
    """The fields of a :class:`Pool` that alerts and hot values read."""

    url: str
    active: bool = False


class StreamView(msgspec.Struct, kw_only=True, gc=False):
    """The fields of a :class:`HashStream` that hot values read."""

    algorithm: str | None = None
    coin: str | None = None
    hashrate: float | None = None


class StatsView(msgspec.Struct, kw_only=True, gc=False):
    """:class:`MinerStats`: every scalar, the lists as views, the device sections whole
    (they are rare and small), no ``host``."""

    status: str = STATUS_ONLINE
    hashrate: float | None = None
    hashrate_nominal: float | None = None
    algorithm: str | None = None
    coin: str | None = None
    power_w: float | None = None
    temp_max: float | None = None
    uptime_s: int | None = None
    hashboards: tuple[BoardView, ...] = ()
    fans: tuple[FanView, ...] = ()
    pools: tuple[PoolView, ...] = ()
    errors: tuple[str, ...] = ()
    work_mode: str | None = None
    power_limit_w: float | None = None
    led: bool | None = None
    streams: tuple[StreamView, ...] = ()
    meter: MeterReadings | None = None
    environment: EnvironmentReadings | None = None
    cooling: CoolingReadings | None = None
    pool_account: PoolAccountStats | None = None
    chia: ChiaStats | None = None


class SnapshotView(msgspec.Struct, kw_only=True, gc=False):
    """The hot values of a :class:`Snapshot` (a :class:`Snapshot` reads the same way)."""

    stats: StatsView
    config: MinerConfig = msgspec.field(default_factory=MinerConfig)


_view_decoder = msgspec.json.Decoder(SnapshotView)


def decode_view(raw: bytes | str) -> SnapshotView:
    """The hot values of a snapshot's JSON the model accepted (raises msgspec's
    ``DecodeError``/``ValidationError`` on what is no snapshot at all)."""
    return _view_decoder.decode(raw)
