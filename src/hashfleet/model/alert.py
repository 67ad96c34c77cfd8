"""Alerts: a condition on one thing, open while it persists, then history."""

from __future__ import annotations

from typing import Any

import msgspec

CRITICAL = "critical"
HIGH = "high"
MEDIUM = "medium"
LOW = "low"
# Most severe first; a notifier routed at "high" gets critical and high.
SEVERITIES = (CRITICAL, HIGH, MEDIUM, LOW)


def severity_rank(severity: str) -> int:
    """0 for critical … 3 for low; unknown severities rank below low."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


class Alert(msgspec.Struct, kw_only=True):
    """One alert. ``id`` and ``created_at`` stay the same while the condition persists."""

    id: str
    thing_id: str
    code: str  # the rule's stable code, e.g. "temp_high", or a device error code
    severity: str
    name: str
    description: str
    created_at: int
    updated_at: int
    closed_at: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The alert as the API returns it."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out
