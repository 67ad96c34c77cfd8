"""``hashfleet sim``: run simulated devices on loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib

import typer


def parse_mix(devices: list[str]) -> dict[str, int]:
    """``["whatsminer=10", "avalon=2"]`` → ``{"whatsminer": 10, "avalon": 2}``."""
    from hashfleet.sim.registry import FARM_BUILT_IN, sim_families

    known = [*FARM_BUILT_IN, *sim_families()]
    mix: dict[str, int] = {}
    for item in devices:
        family, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise typer.BadParameter(f"{item!r}: expected FAMILY=COUNT, e.g. whatsminer=10")
        family = family.strip()
        if family not in known:
            raise typer.BadParameter(f"{family!r}: no simulator (known: {', '.join(known)})")
        mix[family] = mix.get(family, 0) + int(count)
    return mix


def sim(
    antminer: int = typer.Option(0, help="How many simulated Antminers (cgminer API :4028)."),
    xmrig: int = typer.Option(0, help="How many simulated XMRig rigs (HTTP API)."),
    device: list[str] = typer.Option(
        [],
        "--device",
        "-d",
        help="FAMILY=COUNT of any simulated family (repeatable), e.g. -d whatsminer=10.",
    ),
    ip_base: str = typer.Option("127.10.0.1", help="First loopback address; then consecutive."),
    control: str = typer.Option(
        None,
        help="HOST:PORT of the fault-control HTTP endpoint (GET /devices, POST "
        "/devices/{address}/fault).",
    ),
    seed: int = typer.Option(1, help="Seed of the simulated values."),
) -> None:
    """Start the simulators and print one line per device: family and address:port."""
    mix = parse_mix(device)
    antminer += mix.pop("antminer", 0)
    xmrig += mix.pop("xmrig", 0)
    if antminer + xmrig + sum(mix.values()) <= 0:
        raise typer.BadParameter(
            "ask for at least one device (--antminer N, --xmrig M or --device FAMILY=N)"
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(antminer, xmrig, mix, ip_base, control, seed))


async def _run(
    antminer: int, xmrig: int, mix: dict[str, int], ip_base: str, control: str | None, seed: int
) -> None:
    # Imported here so that `hashfleet server` does not load the simulators.
    from hashfleet.sim.farm import Farm

    control_addr = None
    if control:
        host, _, port = control.rpartition(":")
        control_addr = (host, int(port))
    farm = Farm(antminers=antminer, xmrigs=xmrig, mix=mix, ip_base=ip_base, seed=seed,
                control=control_addr)  # fmt: skip
    await farm.start()
    try:
        for dev in farm.devices:
            typer.echo(f"{dev.family} {dev.address}:{dev.port}")
        if control_addr:
            typer.echo(f"control http://{control_addr[0]}:{control_addr[1]}/devices")
        typer.echo("ready", err=True)
        await asyncio.Event().wait()
    finally:
        await farm.stop()
