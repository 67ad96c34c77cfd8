"""History: per-thing and per-tag rollups, alerts, the info-change log, comments.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

J = sa.JSON().with_variant(JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "thing_stats",
        sa.Column("thing_id", sa.String(128), primary_key=True),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("cnt", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_thing_stats_ts", "thing_stats", ["ts"])
    op.create_table(
        "stats",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("tag", sa.String(192), primary_key=True),
        sa.Column("tz", sa.BigInteger, primary_key=True),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("cnt", sa.Integer, nullable=False),
        sa.Column("intervals", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("thing_id", sa.String(128), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("closed_at", sa.BigInteger, nullable=True),
        sa.Column("data", J, nullable=False),
    )
    op.create_index("ix_alerts_open", "alerts", ["closed_at", "thing_id"])
    op.create_index("ix_alerts_created", "alerts", ["created_at"])
    op.create_table(
        "thing_changes",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("thing_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("user", sa.String(128), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("diff", J, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_index("ix_thing_changes_thing_ts", "thing_changes", ["thing_id", "ts"])
    op.create_index("ix_thing_changes_ts", "thing_changes", ["ts"])
    op.create_table(
        "comments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("thing_id", sa.String(128), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_comments_thing", "comments", ["thing_id", "created_at"])


def downgrade() -> None:
    for table in ("comments", "thing_changes", "alerts", "stats", "thing_stats"):
        op.drop_table(table)
