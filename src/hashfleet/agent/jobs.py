"""The agent's side of approved actions: fetch jobs, run each at most once, report results.

Every job id is written to a journal (SQLite, ``synchronous=FULL``) before its driver call
starts. A job offered again — because an answer was lost, or after a restart — is never
run again: a finished one has its result re-sent, one that was running when the agent
stopped is reported as ``ERR_JOB_INTERRUPTED`` (it may or may not have reached the
device; an operator decides, the agent does not guess). Results stay in the journal until
the server acknowledges them, so none is lost to a network failure.

A ``restart_agent`` job (the ``rackReboot`` rack action) is for the agent itself. It is
journaled like any job and finished ``ok`` at once; only when the server has acknowledged
that result does the runner call ``on_restart`` (the agent then stops gracefully and starts
again). So it never runs twice: offered again after the restart, the journal re-sends the
result instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import DeviceError, HashfleetError
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.registry import create_driver
from hashfleet.wire.codec import json_dumps
from hashfleet.wire.messages import (
    RESTART_AGENT,
    AgentJob,
    AgentJobs,
    AgentThing,
    JobResult,
    JobResultsAck,
)

log = logging.getLogger(__name__)

ERR_JOB_INTERRUPTED = "ERR_JOB_INTERRUPTED"
ERR_JOB_TIMEOUT = "ERR_JOB_TIMEOUT"
ERR_THING_NOTFOUND = "ERR_THING_NOTFOUND"
ERR_CAPABILITY_UNSUPPORTED = "ERR_CAPABILITY_UNSUPPORTED"
ERR_PARAMS_INVALID = "ERR_PARAMS_INVALID"
ERR_DRIVER = "ERR_DRIVER"
KEEP_REPORTED_MS = 7 * 86_400_000  # far beyond the server's re-offers (1 h job lifetime)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,          -- started | finished
    result BLOB,                  -- the JobResult, once finished
    reported INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
"""

_jobs_decoder = msgspec.json.Decoder(AgentJobs)
_ack_decoder = msgspec.json.Decoder(JobResultsAck)
_result_decoder = msgspec.json.Decoder(JobResult)


class Journal:
    """Which job ids this agent has started and how they ended."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a job recorded as started must survive even an OS crash, or it could run
        # twice. Jobs are rare; the cost of the sync does not matter.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._interrupt_leftovers()

    def _interrupt_leftovers(self) -> None:
        rows = self._db.execute("SELECT id FROM jobs WHERE state = 'started'").fetchall()
        for (job_id,) in rows:
            self.finish(
                JobResult(
                    id=job_id,
                    ok=False,
                    error=ERR_JOB_INTERRUPTED,
                    message="the agent stopped while this job ran; it was not run again",
                )
            )

    def state(self, job_id: int) -> str | None:
        """``started``, ``finished`` or ``None`` (never seen)."""
        row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0]) if row else None

    def start(self, job_id: int) -> bool:
        """Record that ``job_id`` starts; ``False`` if it was seen before (do not run it)."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO jobs (id, state, updated_at) VALUES (?, 'started', ?)",
            (job_id, now_ms()),
        )
        return cur.rowcount == 1

    def finish(self, result: JobResult) -> None:
        """Record how a job ended (to be reported)."""
        self._db.execute(
            "UPDATE jobs SET state = 'finished', result = ?, reported = 0, updated_at = ? "
            "WHERE id = ?",
            (json_dumps(result), now_ms(), result.id),
        )

    def resend(self, job_id: int) -> None:
        """Report a finished job again (the server offered it again: it lost the result)."""
        self._db.execute(
            "UPDATE jobs SET reported = 0 WHERE id = ? AND state = 'finished'", (job_id,)
        )

    def unreported(self, limit: int = 500) -> list[JobResult]:
        """Finished jobs whose results the server has not acknowledged yet."""
        rows = self._db.execute(
            "SELECT result FROM jobs WHERE state = 'finished' AND reported = 0 ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_result_decoder.decode(r[0]) for r in rows]

    def reported(self, ids: list[int]) -> None:
        """The server has these results; forget old ones."""
        now = now_ms()
        self._db.executemany(
            "UPDATE jobs SET reported = 1, updated_at = ? WHERE id = ?", [(now, i) for i in ids]
        )
        self._db.execute(
            "DELETE FROM jobs WHERE reported = 1 AND updated_at < ?", (now - KEEP_REPORTED_MS,)
        )

    def close(self) -> None:
        """Close the journal."""
        self._db.close()


def _convert_params(method: Callable[..., Any], params: list[Any]) -> list[Any]:
    """``params`` converted to the types ``method`` declares (pools → PoolTarget, …)."""
    names = [
        p.name
        for p in inspect.signature(method).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) > len(names):
        raise ValueError(f"takes {len(names)} parameters, got {len(params)}")
    hints = typing.get_type_hints(method)
    return [
        msgspec.convert(value, hints.get(name, Any), strict=False)
        for name, value in zip(names, params, strict=False)
    ]


async def run_job(thing: AgentThing | None, job: AgentJob, timeout_s: float) -> JobResult:
    """Run one job's driver call against its device and say how it ended."""
    if thing is None:
        return JobResult(id=job.id, ok=False, error=ERR_THING_NOTFOUND, message=job.thing_id)
    try:
        driver = create_driver(parse_options(thing.opts))
    except HashfleetError as exc:
        return JobResult(id=job.id, ok=False, error=exc.code, message=exc.message)
    try:
        if job.method not in driver.capabilities:
            return JobResult(
                id=job.id,
                ok=False,
                error=ERR_CAPABILITY_UNSUPPORTED,
                message=f"{driver.family} cannot {job.method}",
            )
        method = getattr(driver, job.method)
        try:
            args = _convert_params(method, job.params)
        except (ValueError, TypeError, msgspec.ValidationError) as exc:
            return JobResult(id=job.id, ok=False, error=ERR_PARAMS_INVALID, message=str(exc))
        try:
            value = await asyncio.wait_for(method(*args), timeout_s)
        except TimeoutError:
            return JobResult(id=job.id, ok=False, error=ERR_JOB_TIMEOUT, message=f"{timeout_s} s")
        except DeviceError as exc:
            return JobResult(id=job.id, ok=False, error=exc.code, message=exc.message)
        except ValueError as exc:  # the driver refused the parameters
            return JobResult(id=job.id, ok=False, error=ERR_PARAMS_INVALID, message=str(exc))
        except Exception as exc:  # a driver bug fails this job, not the agent
            log.exception("job %s: %s on %s failed", job.id, job.method, job.thing_id)
            return JobResult(id=job.id, ok=False, error=ERR_DRIVER, message=repr(exc)[:500])
        return JobResult(id=job.id, ok=True, result=msgspec.to_builtins(value))
    finally:
        await driver.close()


class JobRunner:
    """Long-polls the server for jobs, runs them (at most once each), reports results."""

    def __init__(
        self,
        journal: Journal,
        server_url: str,
        things: Callable[[str], AgentThing | None],
        *,
        concurrency: int = 16,
        timeout_s: float = 120.0,
        wait_s: float = 2.0,
        retry_s: float = 2.0,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        """``on_restart``: called once the result of a ``restart_agent`` job is
        acknowledged (without it, such a job fails ``ERR_CAPABILITY_UNSUPPORTED``)."""
        self.journal = journal
        self.server_url = server_url.rstrip("/")
        self.things = things
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self.retry_s = retry_s
        self.on_restart = on_restart
        self._sem = asyncio.Semaphore(concurrency)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._report = asyncio.Event()
        # The restart_agent job whose acknowledged result triggers on_restart; once it has
        # fired, no new job is taken (this process is about to stop).
        self._restart_job: int | None = None
        self.restarting = False
        self.ran = 0  # driver calls made by this process (tests and logs)

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Fetch and report until cancelled."""
        reporter = asyncio.create_task(self._report_forever(session), name="agent-job-report")
        self._report.set()  # results left from a previous run go first
        try:
            while True:
                try:
                    jobs = await self._fetch(session)
                except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as exc:
                    log.warning("cannot fetch jobs: %s", exc)
                    await asyncio.sleep(self.retry_s)
                    continue
                for job in jobs:
                    self._take(job)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            for task in list(self._running.values()):
                task.cancel()

    async def _fetch(self, session: aiohttp.ClientSession) -> list[AgentJob]:
        async with session.get(
            f"{self.server_url}/api/agent/jobs",
            params={"wait": str(self.wait_s)},
            timeout=aiohttp.ClientTimeout(total=self.wait_s + 30),
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=body[:200].decode()
                )
            return _jobs_decoder.decode(body).jobs

    def _take(self, job: AgentJob) -> None:
        if self.restarting:
            return  # not started: offered again to the restarted agent
        if job.id in self._running:
            return  # offered again while it runs: its result will come
        if not self.journal.start(job.id):
            # Seen before: never run twice. Re-send what is known.
            self.journal.resend(job.id)
            self._report.set()
            return
        if job.method == RESTART_AGENT:
            self._take_restart(job)
            return
        self._running[job.id] = asyncio.create_task(self._run(job), name=f"job-{job.id}")

    def _take_restart(self, job: AgentJob) -> None:
        """Finish a restart job at once; the restart itself waits for the server's ack."""
        if self.on_restart is None:
            result = JobResult(
                id=job.id,
                ok=False,
                error=ERR_CAPABILITY_UNSUPPORTED,
                message="this agent cannot restart itself",
            )
        else:
            result = JobResult(id=job.id, ok=True, result={"restarting": True})
            self._restart_job = job.id
        self.journal.finish(result)
        self._report.set()

    def _acknowledged(self, acked: list[int]) -> None:
        """The server has these results: a restart job's ack starts the restart."""
        if self._restart_job is None or self._restart_job not in acked:
            return
        self._restart_job = None
        self.restarting = True
        log.warning("rackReboot: the server has the result, restarting the agent")
        assert self.on_restart is not None
        try:
            self.on_restart()
        except Exception:  # a broken callback must not stop result reporting
            log.exception("the agent's restart callback failed")

    async def wait_idle(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until no job runs and every result is acknowledged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._running or self.journal.unreported(limit=1):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _run(self, job: AgentJob) -> None:
        try:
            async with self._sem:
                self.ran += 1
                result = await run_job(self.things(job.thing_id), job, self.timeout_s)
            self.journal.finish(result)
            self._report.set()
        finally:
            self._running.pop(job.id, None)

    async def _report_forever(self, session: aiohttp.ClientSession) -> None:
        while True:
            await self._report.wait()
            self._report.clear()
            while results := self.journal.unreported():
                try:
                    acked = await self._post(session, results)
                except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as exc:
                    log.warning("cannot report job results: %s", exc)
                    await asyncio.sleep(self.retry_s)
                    continue
                self.journal.reported(acked)
                self._acknowledged(acked)
                if not acked:
                    break

    async def _post(self, session: aiohttp.ClientSession, results: list[JobResult]) -> list[int]:
        async with session.post(
            f"{self.server_url}/api/agent/jobs/results",
            data=json_dumps({"results": results}),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=body[:200].decode()
                )
            return _ack_decoder.decode(body).acked
