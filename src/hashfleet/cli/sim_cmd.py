"""``hashfleet sim``: run simulated devices on loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib

import typer


def sim(
    antminer: int = typer.Option(0, help="How many simulated Antminers (cgminer API :4028)."),
    xmrig: int = typer.Option(0, help="How many simulated XMRig rigs (HTTP API)."),
    ip_base: str = typer.Option("127.10.0.1", help="First loopback address; then consecutive."),
    control: str = typer.Option(
        None,
        help="HOST:PORT of the fault-control HTTP endpoint (GET /devices, POST "
        "/devices/{address}/fault).",
    ),
    seed: int = typer.Option(1, help="Seed of the simulated values."),
) -> None:
    """Start the simulators and print one line per device: family and address."""
    if antminer + xmrig <= 0:
        raise typer.BadParameter("ask for at least one device (--antminer N or --xmrig M)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(antminer, xmrig, ip_base, control, seed))


async def _run(antminer: int, xmrig: int, ip_base: str, control: str | None, seed: int) -> None:
    # Imported here so that `hashfleet server` does not load the simulators.
    from hashfleet.sim.farm import Farm

    control_addr = None
    if control:
        host, _, port = control.rpartition(":")
        control_addr = (host, int(port))
    farm = Farm(antminers=antminer, xmrigs=xmrig, ip_base=ip_base, seed=seed, control=control_addr)
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
