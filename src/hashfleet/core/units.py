"""Units: hashrates are kept in H/s and shown with an SI prefix."""

from __future__ import annotations

_PREFIXES = (
    (1e18, "EH/s"),
    (1e15, "PH/s"),
    (1e12, "TH/s"),
    (1e9, "GH/s"),
    (1e6, "MH/s"),
    (1e3, "kH/s"),
)

TERA = 1e12
GIGA = 1e9
MEGA = 1e6
KILO = 1e3


def format_hashrate(hs: float | None) -> str:
    """``123456789`` → ``"123.46 MH/s"``; ``None`` → ``"—"``."""
    if hs is None:
        return "—"
    for factor, unit in _PREFIXES:
        if abs(hs) >= factor:
            return f"{hs / factor:.2f} {unit}"
    return f"{hs:.2f} H/s"


def split_hashrate(hs: float) -> tuple[float, str]:
    """``1.2e14`` → ``(120.0, "TH/s")``: value and unit, as the aggregates show them."""
    for factor, unit in _PREFIXES:
        if abs(hs) >= factor:
            return round(hs / factor, 3), unit
    return round(hs, 3), "H/s"
