"""Snapshots partitioned by day on PostgreSQL (SQLite: nothing changes).

``snapshots`` becomes ``PARTITION BY RANGE (ts)`` with daily partitions
``snapshots_pYYYYMMDD`` and a DEFAULT partition; the unique key becomes
``(spool_id, seq, ts)`` (it must contain the partition key). See docs/storage.md.

Existing rows are copied (old table renamed, partitioned one created with a partition per
day that has rows in the last ``_BACK_DAYS`` days and the days ahead, ``INSERT … SELECT``,
old table dropped) rather than the old table attached as one partition: attaching would
leave one partition spanning all the old days, which retention could only drop once its
newest row is past the cutoff, and would still need a new unique index built over it.
The copy costs one rewrite of the stored raw snapshots, once, inside the migration's
transaction (a crash rolls it back whole). Older rows land in the default partition,
where retention deletes them or maintenance moves them into their own day.

Also ``thing_state`` gets ``fillfactor = 50`` (HOT updates for the one-update-per-
snapshot state rows).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from hashfleet.core.clock import now_ms
from hashfleet.server.store.partitions import (
    AHEAD_DAYS,
    DAY_MS,
    create_parent_sql,
    create_partition_sql,
    day_of,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BACK_DAYS = 400
_STATE_FILLFACTOR = 50
_COLUMNS = "id, spool_id, seq, thing_id, rack_id, ts, err, snap"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE snapshots RENAME TO snapshots_old")
    op.execute("ALTER INDEX ix_snapshots_thing_ts RENAME TO ix_snapshots_old_thing_ts")
    # The new table draws ids from the same sequence: ids keep rising across the copy.
    op.execute("ALTER SEQUENCE snapshots_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE snapshots_old ALTER COLUMN id DROP DEFAULT")
    for sql in create_parent_sql():
        op.execute(sql)
    today = day_of(now_ms())
    days = set(range(today, today + AHEAD_DAYS + 1))
    rows = bind.execute(
        sa.text(f"SELECT DISTINCT ts / {DAY_MS} FROM snapshots_old WHERE ts >= :lo"),
        {"lo": (today - _BACK_DAYS) * DAY_MS},
    )
    days.update(int(r[0]) for r in rows)
    for day in sorted(days):
        op.execute(create_partition_sql(day))
    op.execute(f"INSERT INTO snapshots ({_COLUMNS}) SELECT {_COLUMNS} FROM snapshots_old")
    op.execute("DROP TABLE snapshots_old")
    op.execute("ALTER SEQUENCE snapshots_id_seq OWNED BY snapshots.id")
    # Every stored snapshot updates its thing's state row: room on each page lets those be
    # HOT updates (no new primary-key entry, dead versions pruned in place), which keeps
    # the table and its index from bloating between autovacuum runs.
    op.execute(f"ALTER TABLE thing_state SET (fillfactor = {_STATE_FILLFACTOR})")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE thing_state RESET (fillfactor)")
    op.execute("ALTER TABLE snapshots RENAME TO snapshots_parted")
    op.execute("ALTER INDEX ix_snapshots_thing_ts RENAME TO ix_snapshots_parted_thing_ts")
    op.execute("ALTER SEQUENCE snapshots_id_seq OWNED BY NONE")
    op.execute(
        "CREATE TABLE snapshots ("
        " id BIGINT NOT NULL DEFAULT nextval('snapshots_id_seq'),"
        " spool_id VARCHAR(64) NOT NULL,"
        " seq BIGINT NOT NULL,"
        " thing_id VARCHAR(128) NOT NULL,"
        " rack_id VARCHAR(128) NOT NULL,"
        " ts BIGINT NOT NULL,"
        " err VARCHAR(64),"
        " snap JSONB,"
        " CONSTRAINT snapshots_pkey PRIMARY KEY (id),"
        " CONSTRAINT uq_snapshots_spool_seq UNIQUE (spool_id, seq))"
    )
    op.execute("CREATE INDEX ix_snapshots_thing_ts ON snapshots (thing_id, ts)")
    # (spool_id, seq) is unique again: a restamped resend stored twice keeps its first row.
    op.execute(
        f"INSERT INTO snapshots ({_COLUMNS}) SELECT {_COLUMNS} FROM snapshots_parted "
        "ORDER BY id ON CONFLICT DO NOTHING"
    )
    op.execute("DROP TABLE snapshots_parted")
    op.execute("ALTER SEQUENCE snapshots_id_seq OWNED BY snapshots.id")
