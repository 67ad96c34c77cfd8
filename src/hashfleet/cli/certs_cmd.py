"""``hashfleet certs create``: a self-signed server certificate for HTTPS, no CA needed."""

from __future__ import annotations

from pathlib import Path

import typer

from hashfleet.core.errors import HashfleetError
from hashfleet.core.tls import DEFAULT_DAYS, KeyType, create_pair

app = typer.Typer(
    help="TLS certificates for the server.", no_args_is_help=True, add_completion=False
)


@app.command("create")
def create(
    out: Path = typer.Option(..., "--out", help="Directory for server.crt and server.key."),
    host: list[str] = typer.Option(
        [],
        "--host",
        help="A name or IP address agents and browsers use for the server (repeatable); "
        "localhost and 127.0.0.1 are always included.",
    ),
    days: int = typer.Option(DEFAULT_DAYS, help="Validity in days."),
    key_type: str = typer.Option("ec", help="ec (P-256) or rsa (2048 bits)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing pair in --out."),
) -> None:
    """Write server.crt and server.key (0600) and print the certificate's SHA-256 fingerprint."""
    if key_type not in ("ec", "rsa"):
        raise typer.BadParameter("--key-type must be ec or rsa")
    kind: KeyType = "ec" if key_type == "ec" else "rsa"
    try:
        pair = create_pair(out, host, days=days, key_type=kind, overwrite=force)
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"certificate: {pair.cert_path}")
    typer.echo(f"key:         {pair.key_path} (mode 0600)")
    typer.echo(f"names:       {', '.join(pair.hosts)}")
    typer.echo(f"valid until: {pair.not_after:%Y-%m-%d}")
    typer.echo(f"SHA-256 fingerprint: {pair.fingerprint}")
    typer.echo("")
    typer.echo(f"  hashfleet server --tls-cert {pair.cert_path} --tls-key {pair.key_path} …")
    first = f"[{pair.hosts[0]}]" if ":" in pair.hosts[0] else pair.hosts[0]
    typer.echo(f"  hashfleet agent --server https://{first}:8000 --pin-sha256 {pair.fingerprint} …")
    typer.echo(f"  (or copy {pair.cert_path} to the agent and give --ca-file)")
