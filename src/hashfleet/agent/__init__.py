"""The agent (sentry / rack worker): polls devices, spools snapshots, ships them."""
