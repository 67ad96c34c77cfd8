"""Find miners on IP ranges: every address probed in parallel under a concurrency cap."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable, Sequence

from hashfleet.drivers.identify import Identity, identify

MAX_ADDRESSES = 65_536  # a /16; a typo such as /8 must not start a 16-million-host scan


def expand(targets: Iterable[str], limit: int = MAX_ADDRESSES) -> list[str]:
    """Addresses of ``targets``: CIDR blocks (hosts only), ``a.b.c.d-e.f.g.h`` ranges and
    single addresses, in order and without repeats. ``ValueError`` on bad input or when
    there are more than ``limit``."""
    out: dict[str, None] = {}
    for target in targets:
        target = target.strip()
        if "-" in target:
            first_s, _, last_s = target.partition("-")
            first = ipaddress.IPv4Address(first_s.strip())
            last_part = last_s.strip()
            if "." not in last_part:  # 10.0.0.5-40: the last octet only
                last_part = first_s.rsplit(".", 1)[0] + "." + last_part
            last = ipaddress.IPv4Address(last_part)
            if last < first:
                raise ValueError(f"range {target!r} ends before it starts")
            if int(last) - int(first) + 1 > limit:
                raise ValueError(f"{target!r} has more than {limit} addresses")
            hosts: Iterable[ipaddress.IPv4Address] = (
                ipaddress.IPv4Address(n) for n in range(int(first), int(last) + 1)
            )
        else:
            net = ipaddress.ip_network(target, strict=False)
            if not isinstance(net, ipaddress.IPv4Network):
                raise ValueError(f"{target!r}: only IPv4 is scanned")
            if net.num_addresses > limit + 2:
                raise ValueError(f"{target!r} has more than {limit} addresses")
            hosts = net.hosts() if net.prefixlen < 31 else iter(net)
        for host in hosts:
            out[str(host)] = None
            if len(out) > limit:
                raise ValueError(f"more than {limit} addresses to scan")
    return list(out)


async def scan(
    addresses: Sequence[str],
    *,
    concurrency: int = 256,
    timeout: float = 2.0,
    on_result: Callable[[str, Identity | None], None] | None = None,
) -> list[Identity]:
    """Identify every address, at most ``concurrency`` at once; found devices in address
    order. ``on_result`` hears about each address as it finishes (progress bars)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)
    found: dict[str, Identity] = {}

    async def one(address: str) -> None:
        async with gate:
            result = await identify(address, timeout)
        if result is not None:
            found[address] = result
        if on_result is not None:
            on_result(address, result)

    await asyncio.gather(*(one(a) for a in addresses))
    return [found[a] for a in addresses if a in found]
