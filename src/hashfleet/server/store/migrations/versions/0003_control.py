"""Control: custom roles, token scopes and revocation, login lockout, actions, the agents'
job queue, the audit log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

J = sa.JSON().with_variant(JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("permissions", J, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.BigInteger, nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scopes", J, nullable=True))
        batch.add_column(sa.Column("expires_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.BigInteger, nullable=True))
    op.create_table(
        "actions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("batch_uid", sa.String(192), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("creator", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("doc", J, nullable=False),
    )
    op.create_index("ix_actions_state_created", "actions", ["state", "created_at"])
    op.create_index("ix_actions_batch", "actions", ["batch_uid"])
    op.create_table(
        "agent_jobs",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("rack_id", sa.String(128), nullable=False),
        sa.Column("action_id", sa.BigInteger, nullable=False),
        sa.Column("thing_id", sa.String(128), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("params", J, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("result", J, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("action_id", "thing_id", name="uq_agent_jobs_action_thing"),
    )
    op.create_index("ix_agent_jobs_rack_state", "agent_jobs", ["rack_id", "state", "id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("actor_kind", sa.String(16), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("remote", sa.String(64), nullable=True),
        sa.Column("detail", J, nullable=True),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_actor_ts", "audit_log", ["actor", "ts"])


def downgrade() -> None:
    for table in ("audit_log", "agent_jobs", "actions", "roles"):
        op.drop_table(table)
    with op.batch_alter_table("api_tokens") as batch:
        for column in ("revoked_at", "expires_at", "scopes"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        for column in ("locked_until", "failed_logins", "disabled"):
            batch.drop_column(column)
