"""The history configuration: timezones, retention, rollup specs, alert rules, notifiers.

Read from a JSON file (``HASHFLEET_HISTORY_CONFIG``); every section is optional and falls
back to built-in defaults. Sections owned by other modules (``stats``, ``alerts``,
``notifiers``) are kept as plain JSON here and checked by their owners at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from hashfleet.core.errors import BadRequest

DAY_MS = 86_400_000
# Every real UTC offset is a multiple of 15 minutes; daily rollups are cut from 5-minute
# ones, so an offset must also fall on a 5-minute boundary.
TZ_STEP_MS = 15 * 60_000


class Timezone(msgspec.Struct, frozen=True):
    """One timezone daily rollups are kept for (``aggrTailLogTimezones``)."""

    code: str
    offset: int  # ms east of UTC, e.g. UTC-3 = -10800000


class Retention(msgspec.Struct, kw_only=True):
    """How long each level is kept, in days; 0 keeps it for ever."""

    snapshots_days: int = 14
    thing_stats_days: int = 90
    stats_5m_days: int = 180
    stats_30m_days: int = 400
    stats_3h_days: int = 800
    stats_1D_days: int = 0  # named after the stat-1D key
    alerts_days: int = 365  # closed alerts, by closing time; open ones are never pruned
    audit_days: int = 365  # audit log entries


class HistoryConfig(msgspec.Struct, kw_only=True, rename={"timezones": "aggrTailLogTimezones"}):
    """Everything history-related an operator can configure."""

    timezones: list[Timezone] = msgspec.field(default_factory=lambda: [Timezone("UTC", 0)])
    retention: Retention = msgspec.field(default_factory=Retention)
    stats: dict[str, Any] | None = None
    alerts: dict[str, Any] = msgspec.field(default_factory=dict)
    notifiers: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for tz in self.timezones:
            if tz.offset % TZ_STEP_MS or abs(tz.offset) > 14 * 3_600_000:
                raise BadRequest(
                    f"timezone {tz.code}: offset {tz.offset} ms is not a UTC offset",
                    code="ERR_CONFIG_INVALID",
                )
        if not any(tz.offset == 0 for tz in self.timezones):
            # UTC days are always kept: the dashboard's default and the fallback.
            self.timezones.insert(0, Timezone("UTC", 0))

    @property
    def offsets(self) -> list[int]:
        """The configured timezone offsets (ms), UTC first."""
        return list(dict.fromkeys(tz.offset for tz in self.timezones))


def load_history_config(path: str | Path | None) -> HistoryConfig:
    """The configuration in ``path`` (JSON), or the defaults when no path is given."""
    if not path:
        return HistoryConfig()
    try:
        raw = json.loads(Path(path).read_text())
        return msgspec.convert(raw, HistoryConfig)
    except (OSError, ValueError, msgspec.ValidationError) as exc:
        raise BadRequest(f"history config {path}: {exc}", code="ERR_CONFIG_INVALID") from exc
