"""``python -m hashfleet`` runs the CLI."""

from hashfleet.cli.main import app

app()
