"""The relational schema (SQLAlchemy Core). Alembic migrations mirror it.

Events and state, as in the chia-tea design: every snapshot is an event row in
``snapshots``; the latest per thing lives in ``thing_state``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSON on SQLite is TEXT; on PostgreSQL JSONB, so it can be indexed later.
JsonType = JSON().with_variant(JSONB(), "postgresql")
# Rollup entries are only ever read whole or by a few top-level keys: plain JSON text
# costs PostgreSQL no jsonb → text conversion when 8,640 entries are read at once.
RollupJson = JSON()

racks = Table(
    "racks",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("info", JsonType, nullable=False),
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

things = Table(
    "things",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("code", String(128), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("rack_id", String(128), ForeignKey("racks.id", ondelete="SET NULL"), nullable=True),
    Column("tags", JsonType, nullable=False),
    Column("info", JsonType, nullable=False),
    Column("opts", JsonType, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_things_rack", "rack_id"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("spool_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("thing_id", String(128), nullable=False),
    Column("rack_id", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("err", String(64), nullable=True),
    Column("snap", JsonType, nullable=True),
    # The idempotency key: an agent's spool id and the snapshot's sequence number in it.
    # On PostgreSQL the table is partitioned by day on ts (migration 0004, partitions.py),
    # and a partitioned table's unique keys must hold ts: the key is (spool_id, seq, ts),
    # store_snapshots dedupes by (spool_id, seq) itself, and id is no primary key there
    # (still drawn from its sequence). ``info["dialect"]`` tells the migration test which
    # database each constraint belongs to.
    UniqueConstraint(
        "spool_id", "seq", name="uq_snapshots_spool_seq", info={"dialect": "sqlite"}
    ).ddl_if(dialect="sqlite"),
    UniqueConstraint(
        "spool_id", "seq", "ts", name="uq_snapshots_spool_seq_ts", info={"dialect": "postgresql"}
    ).ddl_if(dialect="postgresql"),
    Index("ix_snapshots_thing_ts", "thing_id", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

thing_state = Table(
    "thing_state",
    metadata,
    Column("thing_id", String(128), primary_key=True),
    Column("rack_id", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("err", String(64), nullable=True),
    Column("snap", JsonType, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Integer, nullable=False, server_default="0"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", BigInteger, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("write", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("scopes", JsonType, nullable=True),  # permission strings; None: the user's own
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", JsonType, nullable=False),
)

# -- history (issue 4) --------------------------------------------------------------------

# Per-thing 5-minute rollups (the ``thing-5m-<id>`` log): per source field its mean over the
# bucket, plus how many snapshots went in.
thing_stats = Table(
    "thing_stats",
    metadata,
    Column("thing_id", String(128), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("cnt", Integer, nullable=False),
    Column("data", RollupJson, nullable=False),
    # A late snapshot makes its bucket's tag entries be recomputed from every thing's row.
    Index("ix_thing_stats_ts", "ts"),
)

# Per type and tag rollups at each timeframe (``stat-5m``, ``stat-30m``, ``stat-3h``,
# ``stat-1D``); daily rows exist once per configured timezone offset (``tz``, ms).
stats = Table(
    "stats",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("type", String(64), primary_key=True),
    Column("tag", String(192), primary_key=True),
    Column("tz", BigInteger, primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("cnt", Integer, nullable=False),
    Column("intervals", Integer, nullable=False),
    Column("data", RollupJson, nullable=False),
)

# Alerts: open while ``closed_at`` is null, then history. One open alert per (thing, code).
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("thing_id", String(128), nullable=False),
    Column("code", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("data", JsonType, nullable=False),
    Index("ix_alerts_open", "closed_at", "thing_id"),
    Index("ix_alerts_created", "created_at"),
)

# Every change of a thing's info, opts or tags: who, when, what changed.
thing_changes = Table(
    "thing_changes",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("thing_id", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("user", String(128), nullable=True),
    Column("action", String(32), nullable=False),
    Column("diff", JsonType, nullable=False),
    Column("comment", Text, nullable=True),
    Index("ix_thing_changes_thing_ts", "thing_id", "ts"),
    Index("ix_thing_changes_ts", "ts"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("thing_id", String(128), nullable=False),
    Column("user", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_comments_thing", "thing_id", "created_at"),
)

# -- control (issue 5) --------------------------------------------------------------------

# Custom roles; admin, operator and viewer are built in (auth/permissions.py).
roles = Table(
    "roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("permissions", JsonType, nullable=False),  # ["miner:rw", "container:r"]
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
)

# Approval-voted actions; ``doc`` is the seed's action object (targets, votes, results).
actions = Table(
    "actions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("batch_uid", String(192), nullable=True),
    Column("action", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("creator", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("doc", JsonType, nullable=False),
    Index("ix_actions_state_created", "state", "created_at"),
    Index("ix_actions_batch", "batch_uid"),
)

# The durable per-agent queue of approved calls: one row per (action, thing), so a retry or
# a reconnect can never run an action twice on a device.
agent_jobs = Table(
    "agent_jobs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("rack_id", String(128), nullable=False),
    Column("action_id", BigInteger, nullable=False),
    Column("thing_id", String(128), nullable=False),
    Column("method", String(64), nullable=False),
    Column("params", JsonType, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("result", JsonType, nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("action_id", "thing_id", name="uq_agent_jobs_action_thing"),
    Index("ix_agent_jobs_rack_state", "rack_id", "state", "id"),
)

# Every write: who, what, when, from where.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("ts", BigInteger, nullable=False),
    Column("actor", String(128), nullable=True),
    Column("actor_kind", String(16), nullable=True),
    Column("method", String(16), nullable=False),
    Column("path", String(256), nullable=False),
    Column("status", Integer, nullable=False),
    Column("remote", String(64), nullable=True),
    Column("detail", JsonType, nullable=True),
    Index("ix_audit_log_ts", "ts"),
    Index("ix_audit_log_actor_ts", "actor", "ts"),
)
