"""The declarative rollup spec: which fields each thing type's history keeps, and how.

Per thing type, two tables:

- ``thing``: per-thing fields read from each snapshot and reduced over a 5-minute bucket
  (``avg``, ``max``, ``min`` or ``last``) — the ``thing-5m-<id>`` log;
- ``stat``: per type-and-tag fields built from those thing values with an operation over
  the tag's things (``sum``, ``avg``, ``max``, ``min``, ``cnt``, ``group``, ``group_sum``,
  ``group_avg``, ``group_cnt``, ``group_max``, ``obj_concat``, ``arr_concat``,
  ``alerts_aggr``, ``ratio``) — the ``stat-<timeframe>`` logs.

A thing field's ``path`` is a dotted path into the snapshot, or one of the computed
sources ``$online`` (1 when online, else 0), ``$offline_id`` (the thing's id when its last
snapshot of the bucket is not online), ``$error`` (the poll's error code). The whole spec
can be replaced from the history config (``stats``), in the same JSON shape.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hashfleet.core.errors import BadRequest

THING_OPS = frozenset({"avg", "max", "min", "last"})
STAT_OPS = frozenset(
    {
        "sum",
        "avg",
        "max",
        "min",
        "cnt",
        "group",
        "group_sum",
        "group_avg",
        "group_cnt",
        "group_max",
        "obj_concat",
        "arr_concat",
        "alerts_aggr",
        "ratio",
    }
)
COMPUTED_SOURCES = frozenset({"$online", "$offline_id", "$error"})
# obj_concat and arr_concat keep at most this many entries per row, so one huge tag
# cannot make every rollup row megabytes long.
CONCAT_LIMIT = 1000


class ThingField(msgspec.Struct, frozen=True, kw_only=True):
    """One per-thing field: where it comes from and how a bucket reduces it."""

    path: str
    op: str = "avg"
    scale: float = 1.0


class StatField(msgspec.Struct, frozen=True, kw_only=True):
    """One per-tag field: an operation over the tag's things' values."""

    op: str
    src: str | None = None  # the thing field it reads (not for cnt/alerts_aggr/ratio)
    by: str | None = None  # the thing field grouped by (group_* ops)
    num: str | None = None  # ratio: numerator stat field
    den: str | None = None  # ratio: denominator stat field
    scale: float = 1.0


class TypeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The rollup spec of one thing type."""

    thing: dict[str, ThingField]
    stat: dict[str, StatField]


def _miner_like(extra_thing: dict[str, Any] | None = None) -> dict[str, Any]:
    thing: dict[str, Any] = {
        "hashrate_mhs": {"path": "stats.hashrate", "scale": 1e-6},
        "hashrate_nominal_mhs": {"path": "stats.hashrate_nominal", "scale": 1e-6},
        "power_w": {"path": "stats.power_w"},
        "temp_max": {"path": "stats.temp_max", "op": "max"},
        "online": {"path": "$online"},
        "status": {"path": "stats.status", "op": "last"},
        "model": {"path": "config.model", "op": "last"},
        "offline_id": {"path": "$offline_id", "op": "last"},
        **(extra_thing or {}),
    }
    stat: dict[str, Any] = {
        "hashrate_mhs_5m_sum": {"op": "sum", "src": "hashrate_mhs"},
        "hashrate_mhs_5m_avg": {"op": "avg", "src": "hashrate_mhs"},
        "hashrate_nominal_mhs_sum": {"op": "sum", "src": "hashrate_nominal_mhs"},
        "power_w_sum": {"op": "sum", "src": "power_w"},
        "temp_max_max": {"op": "max", "src": "temp_max"},
        "temp_max_avg": {"op": "avg", "src": "temp_max"},
        "online_cnt": {"op": "sum", "src": "online"},
        "things_cnt": {"op": "cnt"},
        "status_group_cnt": {"op": "group_cnt", "by": "status"},
        "hashrate_mhs_model_group_sum": {"op": "group_sum", "src": "hashrate_mhs", "by": "model"},
        # W per TH/s: power over hashrate in TH/s (MH/s times 1e-6).
        "efficiency_w_ths": {
            "op": "ratio",
            "num": "power_w_sum",
            "den": "hashrate_mhs_5m_sum",
            "scale": 1e6,
        },
        "alerts": {"op": "alerts_aggr"},
    }
    return {"thing": thing, "stat": stat}


def _device(thing: dict[str, Any], stat: dict[str, Any]) -> dict[str, Any]:
    base_thing = {
        "online": {"path": "$online"},
        "offline_id": {"path": "$offline_id", "op": "last"},
    }
    base_stat = {
        "online_cnt": {"op": "sum", "src": "online"},
        "things_cnt": {"op": "cnt"},
        "alerts": {"op": "alerts_aggr"},
    }
    return {"thing": {**base_thing, **thing}, "stat": {**base_stat, **stat}}


DEFAULT_SPEC: dict[str, Any] = {
    "miner": _miner_like(),
    "rig": _miner_like(),
    "powermeter": _device(
        {
            "power_w": {"path": "stats.meter.power_w"},
            "energy_kwh": {"path": "stats.meter.energy_kwh", "op": "last"},
        },
        {
            "power_w_sum": {"op": "sum", "src": "power_w"},
            "energy_kwh_sum": {"op": "sum", "src": "energy_kwh"},
        },
    ),
    "sensor": _device(
        {
            "temperature_c": {"path": "stats.environment.temperature_c"},
            "humidity_pct": {"path": "stats.environment.humidity_pct"},
        },
        {
            "temperature_c_avg": {"op": "avg", "src": "temperature_c"},
            "temperature_c_max": {"op": "max", "src": "temperature_c"},
            "humidity_pct_avg": {"op": "avg", "src": "humidity_pct"},
        },
    ),
    "container": _device(
        {
            "supply_temp_c": {"path": "stats.cooling.supply_temp_c"},
            "return_temp_c": {"path": "stats.cooling.return_temp_c", "op": "max"},
            "flow_lpm": {"path": "stats.cooling.flow_lpm"},
            "power_w": {"path": "stats.power_w"},
        },
        {
            "supply_temp_c_avg": {"op": "avg", "src": "supply_temp_c"},
            "return_temp_c_max": {"op": "max", "src": "return_temp_c"},
            "flow_lpm_sum": {"op": "sum", "src": "flow_lpm"},
            "power_w_sum": {"op": "sum", "src": "power_w"},
        },
    ),
    "pool": _device(
        {
            "hashrate_mhs": {"path": "stats.pool_account.hashrate", "scale": 1e-6},
            "workers_online": {"path": "stats.pool_account.workers_online", "op": "last"},
            "balance": {"path": "stats.pool_account.balance", "op": "last"},
        },
        {
            "hashrate_mhs_sum": {"op": "sum", "src": "hashrate_mhs"},
            "workers_online_sum": {"op": "sum", "src": "workers_online"},
            "balance_sum": {"op": "sum", "src": "balance"},
        },
    ),
    "chia": _device(
        {
            "plots": {"path": "stats.chia.plots", "op": "last"},
            "total_space_bytes": {"path": "stats.chia.total_space_bytes", "op": "last"},
            "proofs_found": {"path": "stats.chia.proofs_found", "op": "last"},
        },
        {
            "plots_sum": {"op": "sum", "src": "plots"},
            "total_space_bytes_sum": {"op": "sum", "src": "total_space_bytes"},
            "proofs_found_sum": {"op": "sum", "src": "proofs_found"},
        },
    ),
}


class StatSpec:
    """The checked spec of every thing type."""

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        try:
            self.types: dict[str, TypeSpec] = msgspec.convert(
                DEFAULT_SPEC if raw is None else raw, dict[str, TypeSpec]
            )
        except msgspec.ValidationError as exc:
            raise BadRequest(f"stats spec: {exc}", code="ERR_CONFIG_INVALID") from exc
        for name, spec in self.types.items():
            _check(name, spec)

    def get(self, thing_type: str) -> TypeSpec | None:
        """The spec of ``thing_type``, if it has rollups."""
        return self.types.get(thing_type)


def _check(type_name: str, spec: TypeSpec) -> None:
    def bad(msg: str) -> BadRequest:
        return BadRequest(f"stats spec {type_name}: {msg}", code="ERR_CONFIG_INVALID")

    for name, tf in spec.thing.items():
        if tf.op not in THING_OPS:
            raise bad(f"thing field {name}: op {tf.op!r} is not one of {sorted(THING_OPS)}")
        if tf.path.startswith("$") and tf.path not in COMPUTED_SOURCES:
            raise bad(f"thing field {name}: unknown computed source {tf.path!r}")
    for name, sf in spec.stat.items():
        if sf.op not in STAT_OPS:
            raise bad(f"stat field {name}: op {sf.op!r} is not one of {sorted(STAT_OPS)}")
        needs_src = sf.op not in ("cnt", "alerts_aggr", "ratio", "group_cnt", "group")
        if needs_src and sf.src not in spec.thing:
            raise bad(f"stat field {name}: src {sf.src!r} is not a thing field")
        if sf.op.startswith("group") and sf.by not in spec.thing:
            raise bad(f"stat field {name}: by {sf.by!r} is not a thing field")
        if sf.op == "ratio" and (sf.num not in spec.stat or sf.den not in spec.stat):
            raise bad(f"stat field {name}: ratio needs num and den naming stat fields")
