"""Audit log retention: entries older than ``audit_days`` are pruned with the history."""

from __future__ import annotations

from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.history_config import DAY_MS, HistoryConfig
from hashfleet.server.history_config import Retention as RetentionConfig
from hashfleet.server.series.retention import Retention
from hashfleet.server.store.audit import AuditQuery, insert_entries, list_entries
from hashfleet.server.store.engine import create_engine, migrate

NOW = 1_800_000_000_000


def at(days_ago: float) -> AuditEntry:
    return AuditEntry(ts=int(NOW - days_ago * DAY_MS), method="POST", path="/x", status=200)


def test_a_year_by_default() -> None:
    assert RetentionConfig().audit_days == 365
    assert HistoryConfig().retention.audit_days == 365


async def test_prune_deletes_entries_past_their_age(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        await insert_entries(engine, [at(400), at(31), at(29), at(0)])
        kept_all = await Retention(engine, RetentionConfig(audit_days=0)).prune(NOW)
        assert "audit" not in kept_all  # 0 keeps for ever
        done = await Retention(engine, RetentionConfig(audit_days=30)).prune(NOW)
        assert done["audit"] == 2
        left = await list_entries(engine, AuditQuery())
        assert [(NOW - e.ts) // DAY_MS for e in left] == [0, 29]
    finally:
        await engine.dispose()
