"""``hashfleet scan RANGE… [--register RACK]``: find miners, show them, optionally add them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hashfleet.agent.discovery import MAX_ADDRESSES, expand, scan
from hashfleet.core.units import format_hashrate
from hashfleet.drivers.identify import Identity
from hashfleet.drivers.registry import thing_type

console = Console()


def scan_cmd(
    targets: list[str] = typer.Argument(
        ..., help="CIDR blocks, ranges (10.0.0.5-40, 10.0.0.5-10.0.1.9) or addresses."
    ),
    register: str = typer.Option(
        None, "--register", help="Add what is found to this rack (skips known addresses)."
    ),
    concurrency: int = typer.Option(256, help="Addresses probed at once."),
    timeout: float = typer.Option(2.0, help="Seconds per probe."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    url: str = typer.Option(None, help="Server URL for --register (or HASHFLEET_URL)."),
    token: str = typer.Option(None, help="API token for --register (or HASHFLEET_TOKEN)."),
    data_dir: Path = typer.Option(
        Path("./hashfleet-data"), help="Where to find demo.json for defaults."
    ),
) -> None:
    """Probe every address in parallel and identify make, model and firmware."""
    try:
        addresses = expand(targets, MAX_ADDRESSES)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    found = _run_with_progress(addresses, concurrency, timeout, quiet=as_json)
    if as_json:
        typer.echo(json.dumps([_row(i) for i in found], indent=2))
    else:
        _print_table(found, len(addresses))
    if register:
        server, api_token = _server(url, token, data_dir)
        added, known = _register(found, register, server, api_token)
        console.print(f"registered {added} in rack {register!r}; {known} already known")


def _run_with_progress(
    addresses: list[str], concurrency: int, timeout: float, quiet: bool
) -> list[Identity]:
    if quiet:
        return asyncio.run(scan(addresses, concurrency=concurrency, timeout=timeout))
    columns = (
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("found {task.fields[found]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("scan", total=len(addresses), found=0)
        count = 0

        def tick(_address: str, result: Identity | None) -> None:
            nonlocal count
            count += result is not None
            progress.update(task, advance=1, found=count)

        return asyncio.run(
            scan(addresses, concurrency=concurrency, timeout=timeout, on_result=tick)
        )


def _row(found: Identity) -> dict[str, Any]:
    return {
        "address": found.address,
        "family": found.family,
        "port": found.port,
        "make": found.make,
        "model": found.model,
        "firmware": found.firmware,
        "hashrate": found.hashrate,
        "status": found.status,
    }


def _print_table(found: list[Identity], scanned: int) -> None:
    table = Table(title=f"{len(found)} devices in {scanned} addresses")
    table.add_column("address", no_wrap=True, min_width=15)
    for col in ("family", "make", "model", "firmware", "hashrate", "status"):
        table.add_column(col, overflow="fold")
    for f in found:
        rate = format_hashrate(f.hashrate) if f.hashrate is not None else "—"
        table.add_row(f.address, f.family, f.make or "—", f.model or "—", f.firmware or "—",
                      rate, f.status or "—")  # fmt: skip
    console.print(table)


def _server(url: str | None, token: str | None, data_dir: Path) -> tuple[str, str]:
    demo: dict[str, str] = {}
    demo_file = data_dir / "demo.json"
    if demo_file.exists():
        demo = json.loads(demo_file.read_text())
    server = url or os.environ.get("HASHFLEET_URL") or demo.get("url") or "http://127.0.0.1:8000"
    api_token = token or os.environ.get("HASHFLEET_TOKEN") or demo.get("token", "")
    return server.rstrip("/"), api_token


def _register(found: list[Identity], rack: str, server: str, token: str) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=server, headers=headers, timeout=60) as http:
        # Known anywhere, not only in this rack: two racks must never poll one device.
        query = {"opts.address": {"$in": [f.address for f in found]}}
        resp = http.post("/rpc/listThings", json={"query": query, "fields": {"opts": 1}})
        _check(resp)
        known = {(t.get("opts") or {}).get("address") for t in resp.json()}
        added = 0
        for f in found:
            if f.address in known:
                continue
            info = {k: v for k, v in (("make", f.make), ("model", f.model)) if v}
            body = {"rack": rack, "type": thing_type(f.family), "opts": f.opts(), "info": info,
                    "tags": [f"f-{f.family}"]}  # fmt: skip
            _check(http.post("/rpc/registerThing", json=body))
            added += 1
    return added, len(found) - added


def _check(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        console.print(f"[red]server refused: {resp.status_code} {resp.text}[/red]")
        raise typer.Exit(1)
