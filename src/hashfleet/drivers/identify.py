"""Which device answers on an address: cheap parallel probes, then one poll by its driver.

Probes are a table of frozen descriptors, one per (port, protocol): the cgminer API on 4028
(one ``version`` command; the reply's strings tell the firmware apart, most specific
first, as real clients do) and the HTTP APIs of mining software and web UIs. Probes of one
address run concurrently and the first one that recognises a family wins. That family's
driver then polls the device once, so make, model and firmware come from the same code
that will watch it; if that poll fails (a password is needed, say) the probe's answer stands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from hashfleet.core.errors import DeviceError
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.cgminer import CgminerClient
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.registry import create_driver, families


class Identity(msgspec.Struct, kw_only=True):
    """What answered on an address, and the ``opts`` a thing needs to poll it."""

    address: str
    family: str
    port: int
    make: str | None = None
    model: str | None = None
    firmware: str | None = None
    hashrate: float | None = None
    status: str | None = None

    def opts(self) -> dict[str, Any]:
        """``registerThing`` opts for this device."""
        return {"family": self.family, "address": self.address, "port": self.port}


Classifier = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Probe:
    """One question asked of an address: a cgminer command or an HTTP GET."""

    port: int
    protocol: str  # "cgminer" | "http" (a JSON document) | "page" (raw bytes of a page)
    target: str  # cgminer command or HTTP path
    classify: Classifier  # reply → family name, or None when it is not ours


# Markers in a cgminer reply, most specific first: several firmwares keep "Antminer" in
# their model name, so the generic ones come last.
CGMINER_MARKERS: tuple[tuple[str, str], ...] = (
    ("BOSMINER", "braiins"),
    ("BOSER", "braiins"),
    ("LUXMINER", "luxos"),
    ("VNISH", "vnish"),
    ("BTMINER", "whatsminer"),
    ("BITMICRO", "whatsminer"),
    ("WHATSMINER", "whatsminer"),
    ("TEAMREDMINER", "teamredminer"),
    ("AVALON", "avalon"),
    ("ANTMINER", "antminer"),
    ("BMMINER", "antminer"),
)


def classify_cgminer(reply: Any) -> str | None:
    """Family of a cgminer ``version`` reply (any JSON), by the markers above."""
    text = msgspec.json.encode(reply).decode("utf-8", "replace").upper()
    for marker, family in CGMINER_MARKERS:
        if marker in text:
            return family
    return None


def classify_xmrig(doc: Any) -> str | None:
    """``xmrig`` for an XMRig ``/2/summary`` document (its user agent names it)."""
    if isinstance(doc, dict) and "XMRIG" in str(doc.get("ua", "")).upper():
        return "xmrig"
    return None


def _field_says(key: str, marker: str, family: str) -> Classifier:
    """A JSON status document whose ``key`` contains ``marker`` (any case) is ``family``."""

    def classify(doc: Any) -> str | None:
        if isinstance(doc, dict) and marker in str(doc.get(key, "")).lower():
            return family
        return None

    return classify


def _has_key(key: str, family: str) -> Classifier:
    """A JSON status document with ``key`` is ``family``."""
    return lambda doc: family if isinstance(doc, dict) and key in doc else None


def classify_srbminer(doc: Any) -> str | None:
    """``srbminer`` for SRBMiner-MULTI's status document."""
    if isinstance(doc, dict) and "miner_version" in doc and isinstance(doc.get("algorithms"), list):
        return "srbminer"
    return None


def classify_iceriver(page: Any) -> str | None:
    """``iceriver`` for the IceRiver panel's index page (its title is 用户界面)."""
    text = page.decode("utf-8", "replace").lower() if isinstance(page, bytes) else ""
    if "<title>用户界面</title>" in text:
        return "iceriver"
    return None


PROBES: list[Probe] = [
    Probe(4028, "cgminer", "version", classify_cgminer),
    Probe(8080, "http", "/2/summary", classify_xmrig),
    Probe(4067, "http", "/summary", _field_says("name", "t-rex", "trex")),
    Probe(8020, "http", "/summary", _field_says("Software", "lolminer", "lolminer")),
    Probe(10555, "http", "/stat", _field_says("miner", "gminer", "gminer")),
    Probe(4014, "http", "/status", _has_key("bzminer_version", "bzminer")),
    Probe(21550, "http", "/", classify_srbminer),
    Probe(80, "page", "/", classify_iceriver),
]


def register_probe(probe: Probe) -> None:
    """Add a probe (a family plugged in from outside the built-ins)."""
    PROBES.append(probe)


async def _ask(address: str, probe: Probe, timeout: float) -> Any:
    if probe.protocol == "cgminer":
        return await CgminerClient(address, probe.port, timeout).request(probe.target)
    client = HttpJsonClient(f"http://{address}:{probe.port}", timeout)
    try:
        return await client.request("GET", probe.target, raw=probe.protocol == "page")
    finally:
        await client.close()


async def _run_probe(address: str, probe: Probe, timeout: float) -> Identity | None:
    try:
        reply = await _ask(address, probe, timeout)
    except DeviceError:
        return None
    family = probe.classify(reply)
    if family is None:
        return None
    return Identity(address=address, family=family, port=probe.port)


async def probe_address(
    address: str, timeout: float = 2.0, probes: Sequence[Probe] | None = None
) -> Identity | None:
    """The first probe to recognise a family on ``address`` wins; ``None`` if none does."""
    known = set(families())
    tasks = [
        asyncio.ensure_future(_run_probe(address, p, timeout))
        for p in (PROBES if probes is None else probes)
    ]
    try:
        for next_done in asyncio.as_completed(tasks):
            found = await next_done
            if found is not None and found.family in known:
                return found
        return None
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def identify(address: str, timeout: float = 2.0) -> Identity | None:
    """Probe ``address``, then poll it once with its family's driver for make and model."""
    found = await probe_address(address, timeout)
    if found is None:
        return None
    driver = create_driver(DriverOptions(**found.opts(), timeout=timeout))
    try:
        snap = await driver.collect()
    except DeviceError:
        return found
    finally:
        await driver.close()
    found.make = snap.config.make
    found.model = snap.config.model
    found.firmware = snap.config.firmware
    found.hashrate = snap.stats.hashrate
    found.status = snap.stats.status
    return found
