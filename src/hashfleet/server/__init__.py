"""The server (commander / orchestrator)."""
