"""VNish replies → the canonical :class:`Snapshot`.

The cgminer side (``summary+stats+pools+version``) is bmminer's, read by the stock Antminer
parser; the model comes from ``stats`` ("Antminer S19 Pro (Vnish 1.2.6)"). The web
``/api/v1/summary`` adds what only VNish reports: power, the miner state (paused, stopped)
and the network identity.
"""

from __future__ import annotations

from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.cgminer_family.common import guarded, num, section
from hashfleet.model.snapshot import STATUS_SLEEPING, Snapshot

_IDLE_STATES = ("paused", "stopped", "stopping", "shutting-down")


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
