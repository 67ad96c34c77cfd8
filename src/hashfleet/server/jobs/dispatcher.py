"""The job dispatcher: approved calls go to the agents through a durable queue.

``submit`` stores one job per (action, thing) and wakes the rack's agent, which asks
``GET /api/agent/jobs`` every few seconds (a short long-poll: a longer one would hold a
server's shutdown, which waits for open requests). The agent journals each job id before
it runs it and reports the result to ``POST /api/agent/jobs/results``; the first result of
a job wins. A job offered but never answered (the answer to the agent was lost, or the
agent restarted) is offered again after ``reoffer_after_s``: the agent's journal turns a
second offer into a re-sent result, never into a second run. A job without a result after
``ttl_s`` fails with ``ERR_JOB_EXPIRED``. The jobs that end are passed to ``on_results``, in
batches as the agents report them.

Direct calls (queryThing, applyThings) use the same queue under negative ids instead of an
action's: :meth:`call` waits for their results instead of passing them on.

Several servers on one store (``announce`` set): an agent may long-poll one server while
the job was queued on another, and report its result to a third. ``submit`` announces the
racks to wake (``jobs`` notice); a result for a direct call waited for elsewhere, or for an
action while this server is not the leader, is announced (``jobs_ended``) and the server
concerned reads the ended jobs from the store. Action results are recorded by the leader
only, so two servers never rewrite the same action document at once. The busy-rack memory
is re-read from the store every ``recheck_s`` and a waiting direct call looks at the store
itself every few seconds, so a missed notice only costs delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.actions.model import IdClock
from hashfleet.server.bus.base import Announce
from hashfleet.server.store import jobs as job_store
from hashfleet.wire.messages import AgentJob, JobResult

log = logging.getLogger(__name__)

ERR_JOB_EXPIRED = "ERR_JOB_EXPIRED"
JOBS_NOTICE = "jobs"
JOBS_ENDED_NOTICE = "jobs_ended"
OnResults = Callable[[list[dict[str, Any]]], Awaitable[None]]


class JobDispatcher:
    """The server's side of the agents' job queue."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        reoffer_after_s: float = 60.0,
        ttl_s: float = 3600.0,
        batch: int = 100,
        check_every_s: float = 30.0,
        recheck_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.reoffer_after_ms = int(reoffer_after_s * 1000)
        self.ttl_ms = int(ttl_s * 1000)
        self.batch = batch
        self.check_every_s = check_every_s
        self.on_results: OnResults | None = None
        self._wake: dict[str, asyncio.Event] = {}
        # Racks that may have open jobs: agents ask every few seconds, and a rack with
        # nothing to do is answered from memory, without a query.
        self._busy: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        # Direct calls: negative ids, never reused; their results wake these futures.
        self._direct_ids = IdClock()
        self._waiting: dict[tuple[int, str], asyncio.Future[dict[str, Any]]] = {}
        # Several servers (see the module docstring): whom to tell, and who records results.
        self.announce: Announce | None = None
        self.leading = True
        self.recheck_s = recheck_s
        self._busy_read_at = 0.0

    async def load(self) -> None:
        """Learn which racks have open jobs (left from before a restart)."""
        self._busy = await job_store.racks_with_open_jobs(self.engine)
        self._direct_ids.seen(-(await job_store.lowest_action_id(self.engine)))

    async def call(
        self, calls: Sequence[dict[str, Any]], timeout_s: float
    ) -> tuple[int, dict[str, dict[str, Any] | None]]:
        """Run ``calls`` now, without an action: ``(call id, {thing_id: ended job or None})``.

        ``None`` for a call still running after ``timeout_s``: it stays queued and runs
        (at most once) when its agent gets to it; its row keeps the outcome.
        """
        call_id = -self._direct_ids.next(now_ms())
        loop = asyncio.get_running_loop()
        futures = {c["thing_id"]: loop.create_future() for c in calls}
        for thing_id, future in futures.items():
            self._waiting[(call_id, thing_id)] = future
        try:
            await self.submit(call_id, calls)
            deadline = loop.time() + timeout_s
            while futures and not all(f.done() for f in futures.values()):
                left = deadline - loop.time()
                if left <= 0:
                    break
                step = left if self.announce is None else min(left, self.recheck_s)
                await asyncio.wait(futures.values(), timeout=step)
                if self.announce is not None:
                    await self._check_direct(call_id)  # ended on another server, notice missed
        finally:
            for thing_id in futures:
                self._waiting.pop((call_id, thing_id), None)
        return call_id, {t: f.result() if f.done() else None for t, f in futures.items()}

    def _event(self, rack_id: str) -> asyncio.Event:
        return self._wake.setdefault(rack_id, asyncio.Event())

    async def submit(self, action_id: int, calls: Sequence[dict[str, Any]]) -> None:
        """Queue ``{rack_id, thing_id, method, params}`` calls of one action durably."""
        jobs = [{**call, "action_id": action_id} for call in calls]
        await job_store.enqueue_jobs(self.engine, jobs, now_ms())
        racks = sorted({call["rack_id"] for call in calls})
        self.wake(racks)
        if self.announce is not None and racks:
            await self.announce(JOBS_NOTICE, {"racks": racks})

    def wake(self, racks: Sequence[str]) -> None:
        """Racks with new jobs: their long-polling agents are answered now."""
        for rack_id in racks:
            self._busy.add(rack_id)
            self._event(rack_id).set()

    async def on_jobs_notice(self, data: dict[str, Any]) -> None:
        """A ``jobs`` notice: another server queued jobs for these racks."""
        self.wake([r for r in data.get("racks") or [] if isinstance(r, str)])

    async def on_ended_notice(self, data: dict[str, Any]) -> None:
        """A ``jobs_ended`` notice: jobs another server recorded the end of."""
        for call_id in {int(i) for i in data.get("calls") or [] if isinstance(i, int)}:
            if any(key[0] == call_id for key in self._waiting):
                await self._check_direct(call_id)
        if self.leading:
            ids = {int(i) for i in data.get("actions") or [] if isinstance(i, int)}
            await self.collect_ended(sorted(ids))

    async def collect_ended(self, action_ids: Sequence[int]) -> None:
        """Pass the ended jobs of these actions to ``on_results`` (repeats are harmless:
        the first result of a target is final)."""
        rows: list[dict[str, Any]] = []
        for action_id in action_ids:
            jobs = await job_store.jobs_of_action(self.engine, action_id)
            rows += [j for j in jobs if j["state"] not in job_store.OPEN_STATES]
        if rows:
            await self._ended(rows)

    async def _check_direct(self, call_id: int) -> None:
        ended = [
            j
            for j in await job_store.jobs_of_action(self.engine, call_id)
            if j["state"] not in job_store.OPEN_STATES
        ]
        for row in ended:
            future = self._waiting.get((call_id, row["thing_id"]))
            if future is not None and not future.done():
                future.set_result(row)

    async def offer(self, rack_id: str, wait_s: float = 0.0) -> list[AgentJob]:
        """Jobs for ``rack_id``'s agent; with ``wait_s``, wait that long for one to come."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait_s)
        while True:
            event = self._event(rack_id)
            event.clear()  # before the read: a submit after it wakes the wait below
            rows = await self._due(rack_id)
            left = deadline - loop.time()
            if rows or left <= 0:
                return [
                    AgentJob(
                        id=r["id"],
                        action_id=r["action_id"],
                        thing_id=r["thing_id"],
                        method=r["method"],
                        params=list(r["params"] or []),
                    )
                    for r in rows
                ]
            # Also wake for re-offers that come due while waiting.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, self.reoffer_after_ms / 1000))

    async def _due(self, rack_id: str) -> list[dict[str, Any]]:
        if rack_id not in self._busy and self.announce is not None:
            # Another server may have queued jobs and its notice been missed.
            now = asyncio.get_running_loop().time()
            if now - self._busy_read_at >= self.recheck_s:
                self._busy_read_at = now
                self._busy |= await job_store.racks_with_open_jobs(self.engine)
        if rack_id not in self._busy:
            return []
        rows = await job_store.offer_jobs(
            self.engine, rack_id, now_ms(), self.reoffer_after_ms, self.batch
        )
        if not rows and not await job_store.racks_with_open_jobs(self.engine, rack_id):
            self._busy.discard(rack_id)
        return rows

    async def report(self, rack_id: str, results: Sequence[JobResult]) -> list[int]:
        """Record results sent by ``rack_id``'s agent; returns the ids now durable (also
        those already finished, so the agent can forget them)."""
        ends = [
            (
                res.id,
                rack_id,
                job_store.DONE if res.ok else job_store.FAILED,
                res.result if res.ok else None,
                None if res.ok else _error_text(res),
            )
            for res in results
        ]
        await self._ended(await job_store.finish_jobs(self.engine, ends, now_ms()))
        return [res.id for res in results]

    async def expire(self, now: int | None = None) -> int:
        """Fail the jobs that got no result within the time to live."""
        now = now_ms() if now is None else now
        stale = await job_store.stale_jobs(self.engine, now - self.ttl_ms)
        ends = [(job["id"], None, job_store.FAILED, None, ERR_JOB_EXPIRED) for job in stale]
        rows = await job_store.finish_jobs(self.engine, ends, now)
        await self._ended(rows)
        return len(rows)

    async def _ended(self, rows: list[dict[str, Any]]) -> None:
        actions = []
        elsewhere: set[int] = set()
        for row in rows:
            if row["action_id"] < 0:  # a direct call: whoever waits for it gets it
                future = self._waiting.get((row["action_id"], row["thing_id"]))
                if future is not None and not future.done():
                    future.set_result(row)
                elif future is None:
                    elsewhere.add(int(row["action_id"]))
            else:
                actions.append(row)
        if self.announce is not None and (elsewhere or (actions and not self.leading)):
            notice = {
                "calls": sorted(elsewhere),
                "actions": [] if self.leading else sorted({int(r["action_id"]) for r in actions}),
            }
            await self.announce(JOBS_ENDED_NOTICE, notice)
        if not self.leading:
            return  # the leader records action results
        if not actions or self.on_results is None:
            return
        try:
            await self.on_results(actions)
        except Exception:
            # The jobs' ends are stored; the action side can be repaired from agent_jobs.
            log.exception("recording the results of %d jobs failed", len(actions))

    def start(self) -> None:
        """Start the expiry timer."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="job-expiry")

    async def stop(self) -> None:
        """Stop the expiry timer."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        await run_every(self.check_every_s, self.expire, "job expiry")


def _error_text(res: JobResult) -> str:
    code = res.error or "ERR_JOB_FAILED"
    return f"{code}: {res.message}" if res.message else code
