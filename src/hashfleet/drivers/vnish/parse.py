"""VNish replies → the canonical :class:`Snapshot`.

The cgminer side (``summary+stats+pools+version``) is bmminer's, read by the stock Antminer
parser; the model comes from ``stats`` ("Antminer S19 Pro (Vnish 1.2.6)"). The web
``/api/v1/summary`` adds what only VNish reports: power, the miner state (paused, stopped)
and the network identity.

``autotune/presets`` and ``settings`` (``miner.overclock.preset``) are read by
:func:`parse_presets` and :func:`active_preset` for the power limit.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.cgminer_family.common import guarded, num, section
from hashfleet.model.snapshot import STATUS_SLEEPING, Snapshot

_IDLE_STATES = ("paused", "stopped", "stopping", "shutting-down")
_PRETTY_WATTS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*w", re.IGNORECASE)  # "3250 watt ~ 110 TH"


class VnishPreset(NamedTuple):
    """One autotune preset: the name ``settings`` takes, its wattage, whether it is tuned."""

    name: str
    watts: float
    tuned: bool


def parse_presets(reply: Any) -> list[VnishPreset]:
    """``GET autotune/presets`` → the presets that have a wattage.

    VNish answers ``{"presets": [...]}`` (some builds a bare list); each preset is
    ``{"name": "3250", "pretty": "3250 watt ~ 110 TH", "status": "tuned"|"untuned", …}``.
    The wattage comes from ``pretty``, else from a numeric ``name``; a preset with neither
    (``"disabled"``, the stock clocks) is left out. Another shape raises
    ``DeviceReplyInvalid``.
    """
    rows = reply.get("presets") if isinstance(reply, dict) else reply
    if not isinstance(rows, list):
        raise DeviceReplyInvalid("autotune/presets: no list of presets")
    out: list[VnishPreset] = []
    for row in rows:
        if not isinstance(row, dict):
            raise DeviceReplyInvalid("autotune/presets: a preset is not an object")
        name = row.get("name")
        if isinstance(name, bool) or not isinstance(name, (str, int)) or name == "":
            continue
        pretty = row.get("pretty")
        match = _PRETTY_WATTS.match(pretty) if isinstance(pretty, str) else None
        watts = float(match.group(1)) if match else preset_watts(str(name))
        if watts is None or not 0 < watts < math.inf:
            continue
        out.append(VnishPreset(str(name), watts, row.get("status") == "tuned"))
    return out


def active_preset(settings: Any) -> str | None:
    """``GET settings`` → ``miner.overclock.preset`` (``None`` when absent); a reply of
    another shape raises ``DeviceReplyInvalid``."""
    if not isinstance(settings, dict):
        raise DeviceReplyInvalid("settings: not an object")
    miner = settings.get("miner") or {}
    overclock = miner.get("overclock") if isinstance(miner, dict) else None
    if overclock is None:
        return None
    if not isinstance(overclock, dict):
        raise DeviceReplyInvalid("settings: miner.overclock is not an object")
    name = overclock.get("preset")
    if name is None or isinstance(name, bool) or not isinstance(name, (str, int, float)):
        return None
    return str(name)


def preset_watts(name: str) -> float | None:
    """The wattage a preset's name gives (``"3250"`` → 3250.0); ``None`` for other names."""
    try:
        watts = float(name)
    except ValueError:
        return None
    return watts if 0 < watts < math.inf else None


def parse_vnish(rpc: dict[str, Any], web: dict[str, Any] | None) -> Snapshot:
    """cgminer joined reply and web summary → snapshot; a reply of unexpected shape raises
    ``DeviceReplyInvalid``."""
    return guarded("VNish", lambda: _parse(rpc, web))


def split_miner_type(text: str) -> tuple[str, str | None]:
    """``"Antminer S19 Pro (Vnish 1.2.6)"`` → ``("S19 Pro", "Vnish 1.2.6")``."""
    head, _, tail = text.partition(" (")
    firmware = tail.rstrip(")").strip() or None
    return head.removeprefix("Antminer ").strip(), firmware


def _parse(rpc: dict[str, Any], web: dict[str, Any] | None) -> Snapshot:
    snap = parse_joined(rpc)
    stats, config = snap.stats, snap.config
    # stats: STATS[0].Type "Antminer S19 Pro (Vnish 1.2.6)"
    head = next((r for r in section(rpc, "stats", "STATS") if "Type" in r), {})
    model, firmware = split_miner_type(str(head.get("Type", "")))
    config.model = model or None
    config.firmware = firmware
    if web is None:
        return snap
    if not isinstance(web, dict):
        raise DeviceReplyInvalid("web summary is not an object")
    miner = web.get("miner") or {}
    system = web.get("system") or {}
    network = system.get("network_status") or {}
    # web: miner.power_usage (W), miner.miner_status.miner_state, miner.miner_type
    stats.power_w = num(miner.get("power_usage"))
    state = str((miner.get("miner_status") or {}).get("miner_state", ""))
    if miner.get("miner_type"):
        web_model, web_firmware = split_miner_type(str(miner["miner_type"]))
        config.model = config.model or web_model or None
        config.firmware = web_firmware or config.firmware
    # web: system.network_status.mac / hostname
    config.mac = str(network["mac"]).upper() if network.get("mac") else None
    config.hostname = str(network["hostname"]) if network.get("hostname") else None
    if state in _IDLE_STATES:
        stats.status = STATUS_SLEEPING
        stats.work_mode = "sleep"
        stats.errors = []  # idle boards read no hashrate on purpose
    elif state:
        stats.work_mode = "normal"
    return snap
