"""LUXminer replies → the canonical :class:`Snapshot`.

Input is the reply to ``summary+stats+pools+version+power+config``. ``stats`` is shaped as
bmminer's (chain rates, chips, temperatures, fans), so the stock Antminer parser reads the
first four (and the per-chain ``freqN`` gives each board's chip frequency); ``power`` adds
the measured watts and ``config`` the MAC, hostname, profile, locate light and curtailment.
"""

from __future__ import annotations

from typing import Any

from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.cgminer_family.common import guarded, num, section
from hashfleet.model.snapshot import STATUS_SLEEPING, Snapshot

# LuxOS profiles below the stock one are "low", above it "high".
_DEFAULT_PROFILE = "default"


def parse_luxminer(reply: dict[str, Any]) -> Snapshot:
    """Joined LUXminer reply → snapshot; a reply of unexpected shape raises
    ``DeviceReplyInvalid``."""
    return guarded("LUXminer", lambda: _parse(reply))


def work_mode_of(profile: str) -> str:
    """The canonical power mode of a LuxOS profile name."""
    if profile == _DEFAULT_PROFILE:
        return "normal"
    return "low" if profile.startswith("-") else "high" if profile.startswith("+") else profile


def _parse(reply: dict[str, Any]) -> Snapshot:
    snap = parse_joined(reply)
    stats, config = snap.stats, snap.config
    version = (section(reply, "version", "VERSION") or [{}])[0]
    power = (section(reply, "power", "POWER") or [{}])[0]
    conf = (section(reply, "config", "CONFIG") or [{}])[0]
    # version: LUXminer "2024.5.1.155413-f0a3a8c4"
    firmware = version.get("LUXminer")
    config.firmware = f"LuxOS {firmware}" if firmware else config.firmware
    # power: POWER[0].Watts
    stats.power_w = num(power.get("Watts"))
    # config: MACAddr, Hostname, SerialNumber, Profile, RedLed, CurtailMode
    mac = conf.get("MACAddr")
    config.mac = str(mac).upper() if mac else None
    config.hostname = str(conf["Hostname"]) if conf.get("Hostname") else None
    config.serial = str(conf["SerialNumber"]) if conf.get("SerialNumber") else None
    if "RedLed" in conf:
        stats.led = str(conf["RedLed"]).lower() != "off"
    # stats: freqN per chain (MHz), in the order the boards were read
    data = next((r for r in section(reply, "stats", "STATS") if "chain_acn1" in r), {})
    chains = [i for i in range(1, 17) if f"chain_acn{i}" in data]
    for board, chain in zip(stats.hashboards, chains, strict=False):
        board.clock_core_mhz = num(data.get(f"freq{chain}")) or None
    profile = conf.get("Profile")
    if profile is not None:
        stats.work_mode = work_mode_of(str(profile))
    if str(conf.get("CurtailMode", "None")).lower() == "sleep":
        stats.status = STATUS_SLEEPING
        stats.work_mode = "sleep"
        stats.errors = []  # idle boards read no hashrate on purpose
    return snap
