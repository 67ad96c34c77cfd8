"""Server settings: one class, read from ``HASHFLEET_*`` environment variables and flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _env(name: str, default: Any) -> Any:
    raw = os.environ.get(f"HASHFLEET_{name.upper()}")
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw


@dataclass
class Settings:
    """Everything the server can be told; ``HASHFLEET_<NAME>`` overrides each default."""

    data_dir: Path = field(default_factory=lambda: Path("./hashfleet-data"))
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    stale_s: float = 60.0
    throttle_s: float = 1.0
    session_ttl_s: int = 7 * 24 * 3600
    poll_interval_s: float = 5.0
    # Rows written in one transaction at most (batches waiting are merged up to this):
    # larger commits cost the database less a row (5,000 → 20,000: NATS + PostgreSQL stored
    # 30.7k → 38.4k snapshots/s, bench/ingest.py).
    ingest_max_batch: int = 20_000
    demo: bool = False
    # Read-only replica on a PostgreSQL standby: no migrations, no writers, writes refused
    # with ERR_SLAVE_BLOCK (HASHFLEET_REPLICA; docs/deploy.md).
    replica: bool = False
    # JSON file with timezones, retention, rollup specs, alert rules and notifiers.
    history_config: str = ""
    # GET /metrics: per-thing series for at most this many things (lowest ids first; 0 = none).
    metrics_max_things: int = 1000
    # Serve GET /metrics without a bearer token (only where the port is not reachable by others).
    metrics_public: bool = False
    # HTTPS: PEM certificate and unencrypted key (`hashfleet certs create` makes a pair).
    tls_cert: str = ""
    tls_key: str = ""
    # Plain HTTP beyond loopback (server bind, agent URL): only behind a TLS reverse proxy
    # or on a network the operator trusts.
    allow_insecure_http: bool = False
    # Agent: trust this CA or self-signed certificate (PEM), or exactly the certificate with
    # this SHA-256 fingerprint (HASHFLEET_AGENT_CA_FILE, HASHFLEET_AGENT_PIN_SHA256).
    agent_ca_file: str = ""
    agent_pin_sha256: str = ""

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then environment, then explicit ``overrides`` (None means not given)."""
        base = cls()
        values = {f.name: _env(f.name, getattr(base, f.name)) for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.data_dir = Path(settings.data_dir)
        return settings

    @property
    def db_url(self) -> str:
        """The database URL; SQLite in the data directory unless one is given."""
        return self.database_url or f"sqlite:///{self.data_dir / 'hashfleet.db'}"

    @property
    def tls(self) -> bool:
        """True when the server serves HTTPS itself (a certificate is configured)."""
        return bool(self.tls_cert or self.tls_key)

    # Ingest bus: "" (embedded, in-process) or nats://host:4222 for NATS JetStream, with the
    # stream, its subject and the workers' durable consumer (docs/deploy.md, "NATS JetStream
    # bus"). ingest_workers: consumer loops in the server (0 = only `hashfleet ingest-worker`).
    bus: str = ""
    nats_stream: str = "HASHFLEET_INGEST"
    nats_subject: str = "hashfleet.ingest"
    nats_consumer: str = "hashfleet-ingest"
    ingest_workers: int = 2
    # Stream limits: bytes (full = agents are refused with 503 and keep their spool), age of a
    # message (0 = never expires), resend de-duplication window, replicas (3 in a cluster).
    nats_max_bytes: int = 8 << 30
    nats_max_age_s: float = 0.0
    nats_duplicate_window_s: float = 600.0
    nats_ack_wait_s: float = 60.0
    nats_replicas: int = 1
