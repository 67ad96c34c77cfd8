"""Initial schema: racks, things, snapshot events and state, users, tokens, sessions, kv.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

J = sa.JSON().with_variant(JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "racks",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("info", J, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "things",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(128), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column(
            "rack_id", sa.String(128), sa.ForeignKey("racks.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("tags", J, nullable=False),
        sa.Column("info", J, nullable=False),
        sa.Column("opts", J, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_things_rack", "things", ["rack_id"])
    op.create_table(
        "snapshots",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("spool_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("thing_id", sa.String(128), nullable=False),
        sa.Column("rack_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("err", sa.String(64), nullable=True),
        sa.Column("snap", J, nullable=True),
        sa.UniqueConstraint("spool_id", "seq", name="uq_snapshots_spool_seq"),
    )
    op.create_index("ix_snapshots_thing_ts", "snapshots", ["thing_id", "ts"])
    op.create_table(
        "thing_state",
        sa.Column("thing_id", sa.String(128), primary_key=True),
        sa.Column("rack_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("err", sa.String(64), nullable=True),
        sa.Column("snap", J, nullable=True),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("write", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "kv",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", J, nullable=False),
    )


def downgrade() -> None:
    for name in ("kv", "sessions", "api_tokens", "users", "thing_state", "snapshots", "things"):
        op.drop_table(name)
    op.drop_table("racks")
