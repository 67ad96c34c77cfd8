"""``hashfleet rpc METHOD -d JSON``: call any RPC method of a server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import typer
from rich.console import Console

console = Console()


def rpc(
    method: str = typer.Argument(..., help="RPC method, e.g. listThings"),
    data: str = typer.Option("{}", "--data", "-d", help="JSON body of the call."),
    url: str = typer.Option(None, help="Server URL (or HASHFLEET_URL, or the demo's)."),
    token: str = typer.Option(None, help="API token (or HASHFLEET_TOKEN, or the demo's)."),
    data_dir: Path = typer.Option(
        Path("./hashfleet-data"), help="Where to find demo.json for defaults."
    ),
) -> None:
    """Call ``POST /rpc/METHOD`` and print the JSON result."""
    demo: dict[str, str] = {}
    demo_file = data_dir / "demo.json"
    if demo_file.exists():
        demo = json.loads(demo_file.read_text())
    url = url or os.environ.get("HASHFLEET_URL") or demo.get("url") or "http://127.0.0.1:8000"
    token = token or os.environ.get("HASHFLEET_TOKEN") or demo.get("token", "")
    try:
        body = json.loads(data)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--data is not JSON: {exc}") from exc
    resp = httpx.post(
        f"{url.rstrip('/')}/rpc/{method}",
        json=body,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=60,
    )
    console.print_json(resp.text)
    if resp.status_code >= 400:
        raise typer.Exit(1)
