"""The agents' job queue in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from hashfleet.server.store import jobs
from hashfleet.server.store.engine import create_engine, migrate


async def test_queue_offer_reoffer_and_first_result(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        call = {"rack_id": "r1", "action_id": 1, "thing_id": "m1", "method": "reboot",
                "params": []}  # fmt: skip
        other = {**call, "rack_id": "r2", "thing_id": "x1"}
        await jobs.enqueue_jobs(engine, [call, other], now=1000)
        await jobs.enqueue_jobs(engine, [call], now=1500)  # the same action twice: one job
        [offered] = await jobs.offer_jobs(engine, "r1", 2000, reoffer_after_ms=500, limit=10)
        assert offered["thing_id"] == "m1"
        assert await jobs.offer_jobs(engine, "r1", 2100, reoffer_after_ms=500, limit=10) == []
        [again] = await jobs.offer_jobs(engine, "r1", 2600, reoffer_after_ms=500, limit=10)
        assert again["id"] == offered["id"]
        [row] = [r for r in await jobs.jobs_of_action(engine, 1) if r["rack_id"] == "r1"]
        assert row["attempts"] == 2 and row["state"] == jobs.OFFERED
        assert await jobs.finish_job(engine, row["id"], "r2", jobs.DONE, None, None, 3000) is None
        done = await jobs.finish_job(engine, row["id"], "r1", jobs.DONE, {"ok": 1}, None, 3000)
        assert done is not None and done["result"] == {"ok": 1}
        assert await jobs.finish_job(engine, row["id"], "r1", jobs.FAILED, None, "E", 3100) is None
        assert await jobs.open_job_count(engine) == 1  # r2's job
        assert [j["thing_id"] for j in await jobs.stale_jobs(engine, 1001)] == ["x1"]
    finally:
        await engine.dispose()
