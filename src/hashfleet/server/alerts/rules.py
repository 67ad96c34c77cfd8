"""Alert rules: a table of frozen descriptors, their built-in thresholds and the config.

A rule has a stable ``code``, a name, a default severity, the thing types it applies to and
a check of one thing's latest snapshot. A check returns ``None`` (condition clear), a
description, or :class:`Finding` objects when it must set the severity or fans out into
several alerts (``device:<error>``, one per device error code).

The ``alerts`` section of the history config overrides thresholds and severities per thing
type (``"*"`` for every type), disables rules and lists the expected pools::

    {"missing_after": 3,
     "pools": [{"tag": "site-a", "urls": ["stratum+tcp://pool.example:3333"]}],
     "rules": {"*": {"poll_error": {"severity": "medium"}},
               "miner": {"temp_chip": {"high": 80, "critical": 90},
                         "fan_stopped": {"enabled": false}}}}

``missing_after``: snapshot_missing opens after that many stale windows without one. A pools
entry applies to things carrying ``tag`` (``"*"``: every thing); a pool URL outside the
union of the matching entries' ``urls`` opens ``pool_mismatch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hashfleet.core.errors import BadRequest
from hashfleet.model.alert import CRITICAL, HIGH, MEDIUM, SEVERITIES
from hashfleet.model.snapshot import STATUS_ONLINE

ANY_TYPE = "*"
MINERS = frozenset({"miner", "rig"})
# Thing types a rule override may name (drivers/registry.py THING_TYPES plus miners).
THING_TYPES = frozenset({"miner", "rig", "powermeter", "sensor", "container", "pool", "chia"})
CODE_MAX = 64  # the width of alerts.code
DEVICE_PREFIX = "device:"


@dataclass(frozen=True)
class Finding:
    """One condition a check found; ``code``/``severity`` default to the rule's."""

    description: str
    severity: str | None = None
    code: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolExpectation:
    """Things tagged ``tag`` must mine only on ``urls``."""

    tag: str
    urls: frozenset[str]


@dataclass(slots=True)
class Ctx:
    """What a check sees: the thing's registry doc, its snapshot and the parameters.

    Mutable so the engine builds one per snapshot and only swaps ``params`` per rule
    (this runs for every stored snapshot).
    """

    doc: Mapping[str, Any]
    snap: Mapping[str, Any]
    stats: Mapping[str, Any]
    err: str | None
    now: int
    params: Mapping[str, Any]
    pools: Sequence[PoolExpectation] = ()


CheckResult = str | Finding | Sequence[Finding] | None
Check = Callable[[Ctx], CheckResult]


@dataclass(frozen=True)
class Rule:
    """One alert rule: stable code, name, default severity, thing types and a check."""

    code: str
    name: str
    severity: str
    types: frozenset[str]  # empty: every type
    check: Check
    params: Mapping[str, Any] = field(default_factory=dict)
    needs_snap: bool = True  # without a snapshot (poll failed) the condition is unknown
    fans_out: bool = False  # codes are ``<code>:<suffix>``, one alert each
    periodic: bool = False  # checked by the engine's timer, not per snapshot

    def applies_to(self, thing_type: str) -> bool:
        """Whether this rule watches things of ``thing_type``."""
        return not self.types or thing_type in self.types

    def owns(self, code: str) -> bool:
        """Whether an alert ``code`` was raised by this rule."""
        return code == self.code or (self.fans_out and code.startswith(self.code + ":"))

    def evaluate(self, ctx: Ctx, severity: str) -> dict[str, Finding]:
        """The findings of this rule by alert code, with severity and code filled in."""
        result = self.check(ctx)
        if result is None:
            return {}
        items: Iterable[Finding | str]
        items = [result] if isinstance(result, (str, Finding)) else result
        out: dict[str, Finding] = {}
        for item in items:
            f = Finding(item) if isinstance(item, str) else item
            code = (f.code or self.code)[:CODE_MAX]
            out[code] = Finding(f.description, f.severity or severity, code, f.data)
        return out


# -- checks -------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    # type() rather than isinstance: bool is an int, and this runs for every reading.
    return float(value) if type(value) in (int, float) else None


def _boards(ctx: Ctx) -> list[Mapping[str, Any]]:
    return [b for b in ctx.stats.get("hashboards") or [] if isinstance(b, dict)]


def _over(value: float | None, label: str, unit: str, ctx: Ctx) -> Finding | None:
    """A finding when ``value`` passes the ``high`` (or ``critical``) threshold."""
    if value is None:
        return None
    critical, high = _num(ctx.params.get("critical")), _num(ctx.params.get("high"))
    if critical is not None and value > critical:
        limit, severity = critical, CRITICAL
    elif high is not None and value > high:
        limit, severity = high, None
    else:
        return None
    return Finding(
        f"{label} {value:.0f} {unit} above {limit:g} {unit}",
        severity,
        data={"value": value, "limit": limit},
    )


def _max(values: Iterable[Any]) -> float | None:
    nums = [v for v in (_num(x) for x in values) if v is not None]
    return max(nums) if nums else None


def check_temp_chip(ctx: Ctx) -> CheckResult:
    """Hottest chip (the snapshot's ``temp_max`` when boards report no chip sensor)."""
    value = _max(b.get("temp_chip") for b in _boards(ctx))
    if value is None:
        value = _num(ctx.stats.get("temp_max"))
    return _over(value, "chip temperature", "°C", ctx)


def check_temp_board(ctx: Ctx) -> CheckResult:
    """Hottest board sensor."""
    return _over(_max(b.get("temp_board") for b in _boards(ctx)), "board temperature", "°C", ctx)


def check_hashrate_low(ctx: Ctx) -> CheckResult:
    """An online miner hashing below ``pct`` % of its nominal hashrate."""
    if ctx.stats.get("status") != STATUS_ONLINE:
        return None
    rate, nominal = _num(ctx.stats.get("hashrate")), _num(ctx.stats.get("hashrate_nominal"))
    pct = _num(ctx.params.get("pct"))
    if rate is None or not nominal or pct is None:
        return None
    got = 100.0 * rate / nominal
    if got >= pct:
        return None
    return Finding(f"hashrate {got:.0f}% of nominal, below {pct:g}%", data={"pct": round(got, 1)})


def check_fan_stopped(ctx: Ctx) -> CheckResult:
    """A fan at 0 rpm on an online miner (sleeping miners stop their fans)."""
    if ctx.stats.get("status") != STATUS_ONLINE:
        return None
    stopped = [
        f.get("index")
        for f in ctx.stats.get("fans") or []
        if isinstance(f, dict) and f.get("rpm") == 0
    ]
    if not stopped:
        return None
    return Finding(f"fan {', '.join(map(str, stopped))} at 0 rpm", data={"fans": stopped})


def check_power_high(ctx: Ctx) -> CheckResult:
    """Power above the device's power limit (plus ``tolerance_pct``) or above ``max_w``."""
    meter = ctx.stats.get("meter") or {}
    power = _num(ctx.stats.get("power_w"))
    if power is None and isinstance(meter, dict):
        power = _num(meter.get("power_w"))
    if power is None:
        return None
    ceiling = _num(ctx.params.get("max_w"))
    if ceiling is not None and power > ceiling:
        return Finding(
            f"power {power:.0f} W above the ceiling of {ceiling:g} W",
            data={"value": power, "limit": ceiling},
        )
    limit = _num(ctx.stats.get("power_limit_w"))
    tolerance = _num(ctx.params.get("tolerance_pct")) or 0.0
    if limit and power > limit * (1 + tolerance / 100):
        return Finding(
            f"power {power:.0f} W above the power limit of {limit:g} W",
            data={"value": power, "limit": limit},
        )
    return None


def check_hashboard_dead(ctx: Ctx) -> CheckResult:
    """A hashboard (or GPU) the device reports as not working."""
    dead = [b.get("index") for b in _boards(ctx) if b.get("ok") is False]
    if not dead:
        return None
    return Finding(f"hashboard {', '.join(map(str, dead))} not working", data={"boards": dead})


def check_device_errors(ctx: Ctx) -> CheckResult:
    """One alert per error code the device reports (and per container alarm)."""
    cooling = ctx.stats.get("cooling") or {}
    alarms = cooling.get("alarms") if isinstance(cooling, dict) else None
    ignore = set(ctx.params.get("ignore") or ())
    out: list[Finding] = []
    for err in [*(ctx.stats.get("errors") or []), *(alarms or [])]:
        if isinstance(err, str) and err and err not in ignore:
            out.append(Finding(f"device reports {err}", code=DEVICE_PREFIX + err))
    return out


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def check_pools(ctx: Ctx) -> CheckResult:
    """Pools other than the ones configured for the thing's tags."""
    tags = set(ctx.doc.get("tags") or [])
    expected = {u for p in ctx.pools if p.tag == ANY_TYPE or p.tag in tags for u in p.urls}
    if not expected:
        return None
    urls = [p.get("url") for p in ctx.stats.get("pools") or [] if isinstance(p, dict)]
    got = {_norm_url(u) for u in urls if isinstance(u, str) and u.strip()}
    if not got:
        return None
    unexpected = sorted(got - expected)
    if not unexpected:
        return None
    return Finding(
        f"unexpected pool {', '.join(unexpected)}",
        data={"unexpected": unexpected, "expected": sorted(expected)},
    )


def check_supply_temp(ctx: Ctx) -> CheckResult:
    """Coolant supply temperature of a container."""
    cooling = ctx.stats.get("cooling")
    if not isinstance(cooling, dict):
        return None
    return _over(_num(cooling.get("supply_temp_c")), "supply temperature", "°C", ctx)


def check_pressure(ctx: Ctx) -> CheckResult:
    """Coolant pressure outside ``[min_bar, max_bar]``."""
    cooling = ctx.stats.get("cooling")
    value = _num(cooling.get("pressure_bar")) if isinstance(cooling, dict) else None
    if value is None:
        return None
    low, high = _num(ctx.params.get("min_bar")), _num(ctx.params.get("max_bar"))
    if low is not None and value < low:
        return Finding(f"pressure {value:.2f} bar below {low:g} bar", data={"value": value})
    if high is not None and value > high:
        return Finding(f"pressure {value:.2f} bar above {high:g} bar", data={"value": value})
    return None


def check_poll_error(ctx: Ctx) -> CheckResult:
    """The agent could not read the device."""
    if not ctx.err:
        return None
    what = "unreachable" if ctx.err == "ERR_DEVICE_OFFLINE" else "could not be read"
    return Finding(f"device {what} ({ctx.err})", data={"err": ctx.err})


def check_missing(ctx: Ctx) -> CheckResult:
    """No snapshot within ``missing_after`` times the stale window (the engine's timer)."""
    last = ctx.doc.get("last") or {}
    ts, window = last.get("ts"), _num(ctx.params.get("window_ms"))
    if not isinstance(ts, int) or window is None or ctx.now - ts <= window:
        return None
    # The window, not the elapsed time: a description that changed every check would
    # rewrite the alert each time.
    return Finding(f"no snapshot for over {window / 1000:g} s", data={"last_ts": ts})


SNAPSHOT_MISSING = "snapshot_missing"
POLL_ERROR = "poll_error"

RULES: tuple[Rule, ...] = (
    Rule("temp_chip", "Chip temperature high", HIGH, MINERS, check_temp_chip,
         {"high": 85, "critical": 95}),
    Rule("temp_board", "Board temperature high", HIGH, MINERS, check_temp_board,
         {"high": 75, "critical": 85}),
    Rule("hashrate_low", "Hashrate below nominal", MEDIUM, MINERS, check_hashrate_low,
         {"pct": 80}),
    Rule("fan_stopped", "Fan stopped", HIGH, MINERS, check_fan_stopped),
    Rule("power_high", "Power too high", MEDIUM, MINERS | {"powermeter"}, check_power_high,
         {"max_w": None, "tolerance_pct": 5}),
    Rule("hashboard_dead", "Hashboard not working", HIGH, MINERS, check_hashboard_dead),
    Rule("device", "Device error", MEDIUM, frozenset(), check_device_errors,
         {"ignore": []}, fans_out=True),
    Rule("pool_mismatch", "Unexpected pool", MEDIUM, MINERS, check_pools),
    Rule("supply_temp", "Supply temperature high", HIGH, frozenset({"container"}),
         check_supply_temp, {"high": 45, "critical": 55}),
    Rule("pressure", "Coolant pressure out of range", HIGH, frozenset({"container"}),
         check_pressure, {"min_bar": 0.3, "max_bar": 4.0}),
    Rule(POLL_ERROR, "Device not readable", HIGH, frozenset(), check_poll_error,
         needs_snap=False),
    Rule(SNAPSHOT_MISSING, "Snapshot missing", HIGH, frozenset(), check_missing,
         {"window_ms": None}, needs_snap=False, periodic=True),
)  # fmt: skip

# Built-in thresholds that differ by type: GPUs run hotter chips and have no board sensor.
TYPE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "rig": {"temp_chip": {"high": 83, "critical": 90}},
}


@dataclass(frozen=True)
class Effective:
    """A rule as configured for one thing type."""

    rule: Rule
    severity: str
    params: Mapping[str, Any]


class RuleSet:
    """The rules in force per thing type, built from the built-ins and the config."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        cfg = dict(config or {})
        unknown = set(cfg) - {"missing_after", "pools", "rules"}
        if unknown:
            _bad(f"unknown keys {sorted(unknown)}")
        after = cfg.get("missing_after", 3)
        if _num(after) is None or float(after) <= 0:
            _bad("missing_after is a positive number (times the stale window)")
        self.missing_after = float(after)
        self.pools = _parse_pools(cfg.get("pools", []))
        overrides = cfg.get("rules", {})
        if not isinstance(overrides, Mapping):
            _bad("rules is an object of thing type → rule code → settings")
        self._overrides = _parse_overrides(overrides)
        self._cache: dict[str, tuple[Effective, ...]] = {}
        self.by_code = {r.code: r for r in RULES}

    def for_type(self, thing_type: str) -> tuple[Effective, ...]:
        """The enabled rules watching ``thing_type``, with their thresholds."""
        cached = self._cache.get(thing_type)
        if cached is None:
            cached = tuple(
                e
                for r in RULES
                if r.applies_to(thing_type)
                if (e := self._effective(r, thing_type))
            )
            self._cache[thing_type] = cached
        return cached

    def rule_of(self, code: str) -> Rule | None:
        """The rule that raises alerts with ``code``."""
        rule = self.by_code.get(code)
        if rule is None and ":" in code:
            rule = self.by_code.get(code.split(":", 1)[0])
            if rule is not None and not rule.fans_out:
                return None
        return rule

    def _effective(self, rule: Rule, thing_type: str) -> Effective | None:
        params = dict(rule.params)
        params.update(TYPE_DEFAULTS.get(thing_type, {}).get(rule.code, {}))
        severity, enabled = rule.severity, True
        for scope in (ANY_TYPE, thing_type):
            o = self._overrides.get(scope, {}).get(rule.code)
            if o is None:
                continue
            enabled = bool(o.get("enabled", enabled))
            severity = str(o.get("severity", severity))
            params.update({k: v for k, v in o.items() if k not in ("enabled", "severity")})
        return Effective(rule, severity, params) if enabled else None


def _bad(message: str) -> None:
    raise BadRequest(f"alerts config: {message}", code="ERR_CONFIG_INVALID")


def _parse_pools(raw: Any) -> tuple[PoolExpectation, ...]:
    if not isinstance(raw, list):
        _bad("pools is a list of {tag, urls}")
    out = []
    for item in raw:
        if (
            not isinstance(item, Mapping)
            or set(item) != {"tag", "urls"}
            or not isinstance(item["tag"], str)
            or not isinstance(item["urls"], list)
            or not all(isinstance(u, str) and u.strip() for u in item["urls"])
        ):
            _bad(f"pools entry {item!r} is not {{tag: str, urls: [str]}}")
        out.append(PoolExpectation(item["tag"], frozenset(_norm_url(u) for u in item["urls"])))
    return tuple(out)


def _parse_overrides(raw: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    by_code = {r.code: r for r in RULES}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for thing_type, rules in raw.items():
        if thing_type != ANY_TYPE and thing_type not in THING_TYPES:
            _bad(f"unknown thing type {thing_type!r}")
        if not isinstance(rules, Mapping):
            _bad(f"rules.{thing_type} is an object of rule code → settings")
        for code, settings in rules.items():
            rule = by_code.get(code)
            if rule is None:
                _bad(f"unknown rule {code!r}; one of {sorted(by_code)}")
            assert rule is not None
            if thing_type != ANY_TYPE and not rule.applies_to(thing_type):
                _bad(f"rule {code!r} does not watch {thing_type!r} things")
            if not isinstance(settings, Mapping):
                _bad(f"rules.{thing_type}.{code} is an object")
            _check_settings(f"rules.{thing_type}.{code}", rule, settings)
            out.setdefault(thing_type, {})[code] = dict(settings)
    return out


def _check_settings(where: str, rule: Rule, settings: Mapping[str, Any]) -> None:
    for key, value in settings.items():
        if key == "enabled":
            ok = isinstance(value, bool)
        elif key == "severity":
            ok = value in SEVERITIES
        elif key == "window_ms" or key not in rule.params:
            _bad(f"{where}: unknown setting {key!r}; one of {sorted(rule.params)}")
            return
        elif isinstance(rule.params[key], list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = value is None or _num(value) is not None
        if not ok:
            _bad(f"{where}.{key}: {value!r} is not valid")


# -- screens: "can this rule find anything in this snapshot?", without building findings ---
#
# The engine runs on every stored snapshot, and nearly every snapshot of a thing without
# open alerts finds nothing. A screen answers from the snapshot's hot values (a
# ``SnapshotView``, or a whole ``Snapshot``: same attributes) with the rule's thresholds
# compiled in; it is True exactly when the rule's check would return a finding on the
# model's dict of the same snapshot, so the engine evaluates the rules (and decodes the
# whole snapshot) only then. A rule without a screen is always evaluated. A view's numbers
# come from JSON through the model: finite floats (ints made floats) or None, which
# ``_num`` leaves as they are, so screens compare them directly.

Screen = Callable[[Any, "str | None", Mapping[str, Any]], bool]
ScreenFactory = Callable[[Mapping[str, Any], Sequence[PoolExpectation]], Screen]


def _over_screen(params: Mapping[str, Any], value_of: Callable[[Any], float | None]) -> Screen:
    critical, high = _num(params.get("critical")), _num(params.get("high"))

    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        value = value_of(view.stats)
        if value is None:
            return False
        return (critical is not None and value > critical) or (high is not None and value > high)

    return screen


def _hottest_chip(stats: Any) -> float | None:
    temps = [t for b in stats.hashboards if (t := b.temp_chip) is not None]
    value: float | None = max(temps) if temps else stats.temp_max
    return value


def _hottest_board(stats: Any) -> float | None:
    temps = [t for b in stats.hashboards if (t := b.temp_board) is not None]
    return max(temps) if temps else None


def _supply_temp(stats: Any) -> float | None:
    value: float | None = None if stats.cooling is None else stats.cooling.supply_temp_c
    return value


def _screen_hashrate_low(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    pct = _num(params.get("pct"))

    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        stats = view.stats
        if pct is None or stats.status != STATUS_ONLINE:
            return False
        rate, nominal = stats.hashrate, stats.hashrate_nominal
        if rate is None or not nominal:
            return False
        return not 100.0 * rate / nominal >= pct  # as the check: NaN is below

    return screen


def _screen_fan_stopped(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        stats = view.stats
        return stats.status == STATUS_ONLINE and any(f.rpm == 0 for f in stats.fans)

    return screen


def _screen_power_high(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    ceiling = _num(params.get("max_w"))
    tolerance = _num(params.get("tolerance_pct")) or 0.0

    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        stats = view.stats
        power = stats.power_w
        if power is None and stats.meter is not None:
            power = stats.meter.power_w
        if power is None:
            return False
        if ceiling is not None and power > ceiling:
            return True
        limit = stats.power_limit_w
        return bool(limit) and power > limit * (1 + tolerance / 100)

    return screen


def _screen_hashboard_dead(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        return any(b.ok is False for b in view.stats.hashboards)

    return screen


def _screen_device(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    ignore = set(params.get("ignore") or ())

    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        stats = view.stats
        alarms = stats.cooling.alarms if stats.cooling is not None else None
        if not stats.errors and not alarms:
            return False
        return any(
            isinstance(e, str) and e and e not in ignore for e in [*stats.errors, *(alarms or [])]
        )

    return screen


def _screen_pools(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        if not pools:
            return False
        tags = set(doc.get("tags") or [])
        expected = {u for p in pools if p.tag == ANY_TYPE or p.tag in tags for u in p.urls}
        if not expected:
            return False
        got = {_norm_url(p.url) for p in view.stats.pools if p.url.strip()}
        return bool(got - expected)

    return screen


def _screen_pressure(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    low, high = _num(params.get("min_bar")), _num(params.get("max_bar"))

    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        cooling = view.stats.cooling
        value = None if cooling is None else cooling.pressure_bar
        if value is None:
            return False
        return (low is not None and value < low) or (high is not None and value > high)

    return screen


def _screen_poll_error(params: Mapping[str, Any], pools: Sequence[PoolExpectation]) -> Screen:
    def screen(view: Any, err: str | None, doc: Mapping[str, Any]) -> bool:
        return bool(err)

    return screen


SCREENS: dict[str, ScreenFactory] = {
    "temp_chip": lambda params, pools: _over_screen(params, _hottest_chip),
    "temp_board": lambda params, pools: _over_screen(params, _hottest_board),
    "hashrate_low": _screen_hashrate_low,
    "fan_stopped": _screen_fan_stopped,
    "power_high": _screen_power_high,
    "hashboard_dead": _screen_hashboard_dead,
    "device": _screen_device,
    "pool_mismatch": _screen_pools,
    "supply_temp": lambda params, pools: _over_screen(params, _supply_temp),
    "pressure": _screen_pressure,
    POLL_ERROR: _screen_poll_error,
}
