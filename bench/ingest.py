"""Ingest throughput: agent batches → HTTP → durable (DB) → live index, end to end.

Beside it, in the same run and on the same database, the raw batched insert rate of the
same rows (the driver's executemany, no API, no dedupe, no state) — the ceiling.

    python bench/ingest.py [--things 2000] [--snapshots 100000] [--batch 1000] [--senders 4]
                           [--backends sqlite,postgresql,nats+postgresql] [--nats URL]
                           [--workers 1,2,4 --modes in-server,standalone,backlog]
                           [--worker-loops 1]
    python bench/ingest.py --profile            # one standalone worker, in-process
    python bench/ingest.py --profile-server [--server-workers 1] [--no-cprofile]

``nats+<db>`` runs the server with ``--bus nats://…`` (a stream of its own, deleted after):
"end-to-end" is then until every batch is acked (durable in JetStream), "stored" until
the server's ingest worker has written every row to the database.

Ingest workers on NATS (``--workers 1,2,4``, ``--modes in-server,standalone,backlog``):
each nats+<db> case then runs once per mode and count, on a fresh database and stream:

* ``in-server``: ``hashfleet server --ingest-workers N``;
* ``standalone``: the server with ``--ingest-workers 0`` and N ``hashfleet ingest-worker
  --workers K`` processes (K = ``--worker-loops``, default 1), started before the load;
* ``backlog``: as standalone, but the workers start once every batch is in the stream:
  their drain rate alone, without the server's HTTP ingest on the same cores.

"stored/s" is rows committed per second from the first publish to the last row stored
(``backlog``: from the first rows the workers stored to the last). Beside it: the CPU
seconds of the server and of the worker processes, and warnings from their logs.

``--profile`` runs one ingest worker (``IngestWorker`` + ``StoreSink``, as
``hashfleet ingest-worker``) in this process against the real NATS and PostgreSQL: a pass
with wall-clock timers around decode, commit, notify and ack, a pass under cProfile, the
CPU cost of the pure steps, and PostgreSQL's own cost of the same COPY into tables that
differ in one thing (jsonb / json / text, indexes or not).

``--profile-server`` runs the server in this process (under cProfile unless
``--no-cprofile``) with the NATS bus and ``--server-workers`` in-server workers (0: one
``hashfleet ingest-worker`` drains the stream after the load) and reports its CPU per row
and how far its live index lags the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from hashfleet.core.settings import Settings
from hashfleet.server.state import ServerState
from hashfleet.server.store.engine import migrate
from hashfleet.server.store.snapshots import count_snapshots
from hashfleet.wire.codec import json_dumps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.databases import PG_SKIP_REASON, postgres_database
from tests.support.live_server import free_port

# nats+<db> without --workers: the server as it starts by default.
DEFAULT_IN_SERVER_WORKERS = Settings.ingest_workers


def snapshot(i: int) -> dict[str, Any]:
    """A realistic ASIC snapshot (~1 KB of JSON)."""
    return {
        "stats": {
            "status": "online",
            "hashrate": 104e12 + i,
            "hashrate_nominal": 104e12,
            "algorithm": "sha256d",
            "coin": "BTC",
            "power_w": 3068.0,
            "temp_max": 71.0,
            "uptime_s": 3600 + i,
            "hashboards": [
                {
                    "index": b,
                    "hashrate": 34.6e12,
                    "temp_board": 55.0 + b,
                    "temp_chip": 70.0 + b,
                    "chips": 126,
                    "chips_expected": 126,
                }
                for b in range(3)
            ],
            "fans": [{"index": f, "rpm": 5880} for f in range(4)],
            "pools": [
                {
                    "url": "stratum+tcp://pool.example:3333",
                    "user": "farm.w1",
                    "alive": True,
                    "active": True,
                    "accepted": 15000 + i,
                    "rejected": 12,
                }
            ],
        },
        "config": {"make": "Antminer", "model": "Antminer S19j Pro", "firmware": "bmminer 1.0.0"},
    }


async def prepare(db_url: str, data_dir: Path, things: int) -> str:
    """Migrate, register a rack with ``things`` things; returns the rack token."""
    state = ServerState(Settings.from_env(data_dir=data_dir, database_url=db_url))
    try:
        await migrate(state.engine)
        await state.registry.load()
        await state.registry.register_rack("bench", "miner", {})
        await state.registry.register_things(
            [
                {
                    "rack": "bench",
                    "id": f"m{i}",
                    "opts": {"family": "antminer", "address": f"127.0.{i // 250}.{i % 250 + 1}"},
                }
                for i in range(things)
            ]
        )
        return await state.auth.create_rack_token("bench")
    finally:
        await state.engine.dispose()


def batches(total: int, batch: int, things: int, spool_id: str) -> list[bytes]:
    """Pre-encoded wire batches, so the load generator costs little CPU during the run."""
    out = []
    base_ts = int(time.time() * 1000)
    for start in range(0, total, batch):
        items = [
            {"seq": s + 1, "thing_id": f"m{s % things}", "ts": base_ts + s, "snap": snapshot(s)}
            for s in range(start, min(total, start + batch))
        ]
        out.append(json_dumps({"v": 1, "spool_id": spool_id, "items": items}))
    return out


async def send_all(url: str, token: str, bodies: list[bytes], senders: int) -> float:
    """POST every body with ``senders`` concurrent agents; returns elapsed seconds."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(f"{url}/api/agent/ingest", data=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
                await resp.read()

    async with aiohttp.ClientSession(headers=headers) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        return time.perf_counter() - t0


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until the server answers HTTP."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            httpx.get(f"{url}/login", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


async def raw_insert(
    db_url: str, rows: list[dict[str, Any]], batch: int, table: str = "raw"
) -> float:
    """The database driver's own batched insert of the same rows into a bare ``table``
    (created, then dropped): returns rows/s."""
    import json

    tuples = [
        (
            r["spool_id"],
            r["seq"],
            r["thing_id"],
            r["rack_id"],
            r["ts"],
            r["err"],
            json.dumps(r["snap"]),
        )
        for r in rows
    ]
    if db_url.startswith("sqlite"):
        import sqlite3

        path = db_url.split("///", 1)[1]
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            f"CREATE TABLE {table} (spool_id TEXT, seq INT, thing_id TEXT, rack_id TEXT, "
            "ts INT, err TEXT, snap TEXT)"
        )
        t0 = time.perf_counter()
        for start in range(0, len(tuples), batch):
            with conn:
                conn.executemany(
                    f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?)", tuples[start : start + batch]
                )
        elapsed = time.perf_counter() - t0
        conn.execute(f"DROP TABLE {table}")
        conn.close()
        return len(rows) / elapsed
    import asyncpg

    conn = await asyncpg.connect(db_url)
    await conn.execute(
        f"CREATE TABLE {table} (spool_id TEXT, seq BIGINT, thing_id TEXT, "
        "rack_id TEXT, ts BIGINT, err TEXT, snap JSONB)"
    )
    t0 = time.perf_counter()
    for start in range(0, len(tuples), batch):
        async with conn.transaction():
            await conn.executemany(
                f"INSERT INTO {table} VALUES ($1,$2,$3,$4,$5,$6,$7)", tuples[start : start + batch]
            )
    elapsed = time.perf_counter() - t0
    await conn.execute(f"DROP TABLE {table}")
    await conn.close()
    return len(rows) / elapsed


def nats_env(url: str) -> dict[str, str]:
    """Environment of a server or worker on a stream, subject and consumer of its own."""
    tag = uuid.uuid4().hex[:8]
    return {
        "HASHFLEET_BUS": url,
        "HASHFLEET_NATS_STREAM": f"HF_BENCH_{tag}",
        "HASHFLEET_NATS_SUBJECT": f"hfbench.{tag}.ingest",
        "HASHFLEET_NATS_CONSUMER": f"hf-bench-{tag}",
    }


def start_workers(count: int, loops: int, env: dict[str, str], log_dir: Path) -> list[Any]:
    """``count`` ``hashfleet ingest-worker --workers loops`` processes; returns once each
    has said it runs."""
    procs = []
    for i in range(count):
        log = log_dir / f"worker-{i}.log"
        with log.open("wb") as out:
            procs.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-m", "hashfleet", "ingest-worker", "--workers",
                         str(loops)],
                        env={**env, "PYTHONUNBUFFERED": "1"},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )  # fmt: skip
    deadline = time.monotonic() + 60
    for proc, log in procs:
        while b"hashfleet ingest-worker:" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_workers([p for p, _ in procs])
                raise RuntimeError(f"ingest-worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
    return [p for p, _ in procs]


def stop_workers(procs: list[Any]) -> None:
    """SIGTERM (the worker stops cleanly) and wait, by PID."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_backend(
    name: str, db_url: str, args: argparse.Namespace, mode: str = "in-server", workers: int = 1
) -> dict[str, float]:
    """One backend: raw insert rate, end-to-end rate, raw insert rate again, on the same
    database. The ratio is taken to the better raw rate: one raw run varies by a quarter on
    a busy machine, and a ceiling measured low would flatter the ratio.

    With NATS, ``mode`` and ``workers`` say who writes (see the module docstring).
    """
    data_dir = Path(tempfile.mkdtemp(prefix=f"hf-bench-{name}-"))
    bus_env: dict[str, str] = {}
    if name.startswith("nats+"):
        bus_env = nats_env(args.nats)
        bus_env["HASHFLEET_INGEST_WORKERS"] = str(workers if mode == "in-server" else 0)
    stored_s = 0.0
    cpu: dict[str, float] = {}
    worker_procs: list[Any] = []
    rows = [
        {
            "spool_id": "raw",
            "seq": i,
            "thing_id": f"m{i % args.things}",
            "rack_id": "bench",
            "ts": i,
            "err": None,
            "snap": snapshot(i),
        }
        for i in range(args.snapshots)
    ]
    try:
        token = asyncio.run(prepare(db_url, data_dir, args.things))
        raw_before = asyncio.run(raw_insert(db_url, rows, args.batch, "raw_before"))
        bodies = batches(args.snapshots, args.batch, args.things, "bench-spool")
        port = free_port()
        env = {
            **os.environ,
            "HASHFLEET_DATABASE_URL": db_url,
            "HASHFLEET_DATA_DIR": str(data_dir),
            **bus_env,
        }
        server_log = data_dir / "server.log"
        with server_log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hashfleet", "server", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_up(url, proc)
            if bus_env and mode == "standalone":
                worker_procs = start_workers(workers, args.worker_loops, env, data_dir)
            cpu0 = {p.pid: cpu_s(p.pid) for p in [proc, *worker_procs]}
            watcher = StoredWatcher(db_url, args.snapshots).start() if bus_env else None
            t0 = time.perf_counter()
            elapsed = asyncio.run(send_all(url, token, bodies, args.senders))
            cpu["e2e"] = cpu_s(proc.pid) - cpu0[proc.pid]
            if bus_env and mode == "backlog":
                cpu["send"] = cpu_s(proc.pid) - cpu0[proc.pid]
                cpu0[proc.pid] = cpu_s(proc.pid)
                worker_procs = start_workers(workers, args.worker_loops, env, data_dir)
                cpu0.update({p.pid: cpu_s(p.pid) for p in worker_procs})
            if watcher is not None:
                t_end, (t_first, n_first) = watcher.wait()
                stored_s = t_end - t0
                cpu["count_ms"] = 1000 * sum(watcher.queries) / len(watcher.queries)
                if mode == "backlog":
                    # the workers' own rate: from the first rows seen to the last
                    if n_first >= args.snapshots:
                        raise RuntimeError("all rows appeared at once: use more --snapshots")
                    stored_s = (t_end - t_first) * args.snapshots / (args.snapshots - n_first)
                cpu["server"] = cpu_s(proc.pid) - cpu0[proc.pid]
                cpu["workers"] = sum(cpu_s(p.pid) - cpu0[p.pid] for p in worker_procs)
        finally:
            stop_workers(worker_procs)
            proc.terminate()
            proc.wait(30)
        # What the server and the workers complained about (NATS slow consumer: the
        # server dropped "rows written" notifications, its live index misses those rows).
        logs = [server_log, *sorted(data_dir.glob("worker-*.log"))]
        text = "\n".join(f.read_text(errors="replace") for f in logs if f.exists())
        warnings = [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]
        if warnings:
            lower = [line.lower() for line in warnings]
            slow = sum("slow" in line and "consumer" in line for line in lower)
            gone = sum("disconnected" in line for line in lower)
            print(f"  {name} {mode} {workers}: {len(warnings)} warnings in the logs ({slow} slow "
                  f"consumer, {gone} NATS disconnected); the first:")  # fmt: skip
            for line in warnings[:6]:
                print(f"    {line[:220]}")
        stored = asyncio.run(_count(db_url, data_dir))
        if stored != args.snapshots:
            raise RuntimeError(f"{name}: stored {stored} of {args.snapshots} snapshots")
        raw_after = asyncio.run(raw_insert(db_url, rows, args.batch, "raw_after"))
        raw = max(raw_before, raw_after)
        e2e = args.snapshots / elapsed
        result = {
            "e2e": e2e,
            "raw": raw,
            "raw_before": raw_before,
            "raw_after": raw_after,
            "ratio": e2e / raw,
            # The server process's CPU per snapshot until the last batch was answered.
            "server_us": 1e6 * cpu["e2e"] / args.snapshots,
        }
        if stored_s:
            result["stored"] = args.snapshots / stored_s
            result["stored_ratio"] = result["stored"] / raw
            result.update({f"cpu_{k}": v for k, v in cpu.items()})
        return result
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if bus_env:
            asyncio.run(_delete_stream(args.nats, bus_env["HASHFLEET_NATS_STREAM"]))


class StoredWatcher:
    """Counts the stored rows every 0.1 s in a thread of its own (started before the load):
    when rows first appeared, how many then, and when all ``total`` were there. (A count
    scans the table: more often would take a good part of a core from PostgreSQL.)"""

    every_s = 0.1

    def __init__(self, db_url: str, total: int, timeout: float = 600) -> None:
        import threading

        self.db_url = db_url
        self.total = total
        self.timeout = timeout
        self.first: tuple[float, int] | None = None
        self.end: float | None = None
        self.error: BaseException | None = None
        self.queries: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def start(self) -> StoredWatcher:
        self._thread.start()
        self._ready.wait(30)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._watch())
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc

    async def _watch(self) -> None:
        from hashfleet.server.store.engine import create_engine

        engine = create_engine(self.db_url)
        try:
            await count_snapshots(engine)  # connected before the clock starts
            self._ready.set()
            deadline = time.monotonic() + self.timeout
            while True:
                t = time.perf_counter()
                n = await count_snapshots(engine)
                self.queries.append(time.perf_counter() - t)
                if n >= self.total:
                    break
                if self.first is None and n > 0:
                    self.first = (time.perf_counter(), n)
                if time.monotonic() > deadline:
                    raise RuntimeError("the ingest workers did not write every row in time")
                await asyncio.sleep(self.every_s)
            self.end = time.perf_counter()
            if self.first is None:
                self.first = (self.end, n)
        finally:
            self._ready.set()
            await engine.dispose()

    def wait(self) -> tuple[float, tuple[float, int]]:
        """Block until every row is stored: (end time, (first time, rows then))."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.end is not None and self.first is not None
        return self.end, self.first


async def _delete_stream(url: str, stream: str) -> None:
    import nats
    import nats.js.errors

    nc = await nats.connect(url)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def _count(db_url: str, data_dir: Path) -> int:
    state = ServerState(Settings.from_env(data_dir=data_dir, database_url=db_url))
    try:
        return await count_snapshots(state.engine)
    finally:
        await state.engine.dispose()


def process_cpu(names: tuple[str, ...]) -> dict[int, tuple[str, float]]:
    """pid → (name, CPU seconds) of every process with one of these names (all of
    PostgreSQL's backends and background processes, whoever they serve: the figure
    includes others' load)."""
    found: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name in names:
            fields = text.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            found[int(stat.parent.name)] = (name, ticks / os.sysconf("SC_CLK_TCK"))
    return found


def cpu_delta(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds used in between, per name, by processes alive at the end."""
    total: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        total[name] = total.get(name, 0.0) + seconds - before.get(pid, (name, 0.0))[1]
    return total


class Timers:
    """Wall-clock seconds and calls per phase of an ingest worker."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        self.calls[phase] = self.calls.get(phase, 0) + 1

    def wrap_sync(self, phase: str, fn: Any) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.add(phase, time.perf_counter() - t)

        return timed

    def wrap_async(self, phase: str, fn: Any) -> Any:
        async def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                self.add(phase, time.perf_counter() - t)

        return timed


def bus_rows(total: int, things: int, spool_id: str) -> list[dict[str, Any]]:
    """Rows as the server publishes them: the agent's snapshot JSON kept raw."""
    import msgspec

    base_ts = int(time.time() * 1000)
    return [
        {
            "spool_id": spool_id,
            "seq": s + 1,
            "thing_id": f"m{s % things}",
            "rack_id": "bench",
            "ts": base_ts + s,
            "err": None,
            "snap": msgspec.Raw(json_dumps(snapshot(s))),
        }
        for s in range(total)
    ]


async def _one_worker_pass(
    db_url: str, args: argparse.Namespace, timers: Timers | None, profiler: Any
) -> tuple[float, float, int, int]:
    """Fill a stream of its own with ``--snapshots`` rows, then drain it with one in-process
    ``IngestWorker`` on a ``StoreSink`` (what ``hashfleet ingest-worker`` runs). Returns
    wall seconds, CPU seconds of this process, messages and rows."""
    import nats.aio.msg

    import hashfleet.server.bus.nats as nats_module
    import hashfleet.server.ingest.worker as worker_module
    from hashfleet.server.bus.nats import NatsBus
    from hashfleet.server.ingest.worker import StoreSink
    from hashfleet.server.store.engine import create_engine

    env = nats_env(args.nats)
    bus = NatsBus(
        args.nats,
        stream=env["HASHFLEET_NATS_STREAM"],
        subject=env["HASHFLEET_NATS_SUBJECT"],
        consumer=env["HASHFLEET_NATS_CONSUMER"],
        workers=1,
        name="hf-bench-profile",
    )
    engine = create_engine(db_url)
    spool_id = uuid.uuid4().hex
    patched: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, attr: str, value: Any) -> None:
        patched.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    try:
        await bus.connect()
        rows = bus_rows(args.snapshots, args.things, spool_id)
        for start in range(0, len(rows), args.batch):
            await bus.publish(rows[start : start + args.batch])
        messages = await bus.consumer_pending()
        before = await count_snapshots(engine)
        sink = StoreSink(engine)
        if timers is not None:
            patch(
                worker_module, "decode_rows", timers.wrap_sync("decode", worker_module.decode_rows)
            )
            patch(sink, "commit", timers.wrap_async("commit (DB)", sink.commit))
            patch(bus, "_notify", timers.wrap_async("notify", bus._notify))
            patch(nats.aio.msg.Msg, "ack", timers.wrap_async("ack", nats.aio.msg.Msg.ack))
            original_fetcher = nats_module._fetcher

            def fetcher(psub: Any, batch: int) -> Any:
                fetch = original_fetcher(psub, batch)

                async def timed() -> Any:
                    # only fetches that brought messages: the last one waits out its timeout
                    t = time.perf_counter()
                    msgs = await fetch()
                    if msgs:
                        timers.add("fetch", time.perf_counter() - t)
                    return msgs

                return timed

            patch(nats_module, "_fetcher", fetcher)
        others0 = process_cpu(("postgres", "nats-server"))
        cpu0, t0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await bus.start_workers(sink, 1)
        while await count_snapshots(engine) - before < args.snapshots:
            await asyncio.sleep(0.02)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        others = cpu_delta(others0, process_cpu(("postgres", "nats-server")))
        if timers is not None:
            for name, seconds in others.items():
                timers.seconds[f"CPU of {name}"] = seconds
        return wall, cpu, messages, args.snapshots
    finally:
        for obj, attr, value in reversed(patched):
            setattr(obj, attr, value)
        await bus.stop()
        await engine.dispose()
        await _delete_stream(args.nats, env["HASHFLEET_NATS_STREAM"])


def _cpu_micro(args: argparse.Namespace) -> dict[str, float]:
    """µs per row of the CPU-only steps, without any I/O (best of 5)."""
    from hashfleet.model.checked import decode_checked
    from hashfleet.model.snapshot import Snapshot, decode_view
    from hashfleet.server.ingest.receive import validated_snapshot
    from hashfleet.server.ingest.worker import decode_rows, encode_rows
    from hashfleet.server.store.snapshots import _json_text

    rows = bus_rows(500, args.things, "micro")
    payload = encode_rows(rows)
    decoded = decode_rows(payload)
    raws = [bytes(r["snap"]) for r in rows]

    import msgspec

    from hashfleet.server.bus.nats import split_rows

    model_decoder = msgspec.json.Decoder(Snapshot)
    big = bus_rows(5000, args.things, "micro")
    big_decoded = decode_rows(encode_rows(big))
    limit = 1024 * 1024 - 16 * 1024  # nats-server's default max_payload, less the margin

    # CPU time of this process, not wall time: the box is shared.
    def best(fn: Any, n: int = len(rows), runs: int = 5) -> float:
        times = []
        for _ in range(runs):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return min(times) / n * 1e6

    return {
        "decode_rows (a standalone worker)": best(lambda: decode_rows(payload)),
        "decode_rows(with_views=True) (a server's worker)": best(
            lambda: decode_rows(payload, with_views=True)
        ),
        "receive's check (validated_snapshot)": best(lambda: [validated_snapshot(r) for r in raws]),
        "  its decode alone (model.checked)": best(lambda: [decode_checked(r) for r in raws]),
        "  the model's own decode": best(lambda: [model_decoder.decode(r) for r in raws]),
        "  decode_view (trusted, NATS workers)": best(lambda: [decode_view(r) for r in raws]),
        "  plain msgspec.json.decode": best(lambda: [msgspec.json.decode(r) for r in raws]),
        "encode_rows (notify re-encode)": best(lambda: encode_rows(decoded)),
        "split_rows, a 5000-row commit": best(
            lambda: split_rows(big_decoded, limit), n=len(big), runs=3
        ),
        "_json_text (Raw → str)": best(lambda: [_json_text(r["snap"]) for r in decoded]),
    }


async def _pg_variants(db_url: str, args: argparse.Namespace, n: int = 20_000) -> dict[str, float]:
    """PostgreSQL's side alone: wall µs/row of a binary COPY of the same rows (1000 a
    transaction, as a worker commits them) into tables that differ in one thing each."""
    import asyncpg

    rows = [
        (r["spool_id"], r["seq"], r["thing_id"], r["rack_id"], r["ts"], r["err"],
         bytes(r["snap"]).decode())
        for r in bus_rows(n, args.things, "pgvariant")
    ]  # fmt: skip
    base = "spool_id text, seq bigint, thing_id text, rack_id text, ts bigint, err text"
    keys = "CREATE UNIQUE INDEX ON {t} (spool_id, seq); CREATE INDEX ON {t} (thing_id, ts);"
    variants = {
        "jsonb + both indexes (as snapshots)": (f"{base}, snap jsonb", keys),
        "jsonb, no index": (f"{base}, snap jsonb", ""),
        "json + both indexes": (f"{base}, snap json", keys),
        "text + both indexes": (f"{base}, snap text", keys),
    }
    conn = await asyncpg.connect(db_url)
    out = {}
    try:
        for i, (label, (columns, index)) in enumerate(variants.items()):
            table = f"bench_variant_{i}"
            await conn.execute(f"CREATE TABLE {table} ({columns}); {index.format(t=table)}")
            t = time.perf_counter()
            for start in range(0, n, 1000):
                async with conn.transaction():
                    await conn.copy_records_to_table(table, records=rows[start : start + 1000])
            out[label] = (time.perf_counter() - t) / n * 1e6
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return out


async def profile_worker(db_url: str, args: argparse.Namespace) -> None:
    """Where one standalone ingest worker's time goes, per row (see the module docstring)."""
    import cProfile
    import io
    import logging
    import pstats

    from hashfleet.server.store import snapshots as snapshots_module

    logging.getLogger("hashfleet.server.bus.nats").setLevel(logging.ERROR)
    data_dir = Path(tempfile.mkdtemp(prefix="hf-bench-profile-"))
    try:
        await prepare(db_url, data_dir, args.things)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    copy = "_store_copy" in vars(snapshots_module)
    print(
        f"profile: one IngestWorker + StoreSink in-process (as `hashfleet ingest-worker "
        f"--workers 1`), {args.snapshots:,} rows in batches of {args.batch} on NATS, "
        f"PostgreSQL; store_snapshots {'with COPY' if copy else 'with executemany'}",
        flush=True,
    )
    timers = Timers()
    wall, cpu, messages, n = await _one_worker_pass(db_url, args, timers, None)
    print(
        f"pass 1 (timers only): {n / wall:,.0f} rows/s; {wall * 1e6 / n:.1f} µs/row wall, "
        f"{cpu * 1e6 / n:.1f} µs/row CPU of this process ({100 * cpu / wall:.0f} % busy); "
        f"{messages} messages, {n / messages:,.0f} rows each"
    )
    for name in ("postgres", "nats-server"):
        seconds = timers.seconds.pop(f"CPU of {name}", 0.0)
        print(f"  CPU of all {name} processes meanwhile: {seconds * 1e6 / n:.1f} µs/row")
    for phase, seconds in sorted(timers.seconds.items(), key=lambda kv: -kv[1]):
        print(
            f"  {phase:<14} {seconds * 1e6 / n:7.1f} µs/row wall ({100 * seconds / wall:4.1f} %)"
            f", {timers.calls[phase]:,} calls"
        )
    accounted = sum(v for k, v in timers.seconds.items() if k != "fetch")
    print(f"  (decode + commit + notify + ack = {accounted * 1e6 / n:.1f} µs/row)")

    profiler = cProfile.Profile()
    wall, cpu, _, n = await _one_worker_pass(db_url, args, None, profiler)
    print(f"pass 2 (cProfile, slower): {n / wall:,.0f} rows/s, {cpu * 1e6 / n:.1f} µs/row CPU")
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    wanted = [
        ("decode_rows", "worker.py"),
        ("decode_view", "snapshot.py"),
        ("store_snapshots", "snapshots.py"),
        ("_json_text", "snapshots.py"),
        ("_existing_keys", "snapshots.py"),
        ("_store_copy", "snapshots.py"),
        ("_store_insert", "snapshots.py"),
        ("copy_records_to_table", "connection.py"),
        ("executemany", "connection.py"),
        ("_notify", "nats.py"),
        ("encode_rows", "worker.py"),
        ("split_rows", "nats.py"),
        ("ack", "msg.py"),
        ("fetch", "nats.py"),
        ("_write", "worker.py"),
        ("process", "worker.py"),
    ]
    print(
        f"  CPU by function (cProfile cumulative, µs/row; all profiled CPU {total * 1e6 / n:.1f})"
    )
    for (filename, _, func), (_, _, _, cum, _) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][3],
    ):
        if any(func == f and filename.endswith(fn) for f, fn in wanted):
            print(f"    {func:<24} {cum * 1e6 / n:7.1f}  {filename.split('site-packages/')[-1]}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print("  top 15 by own time:")
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "         ")):
            print("   ", line)
    print("  CPU-only steps, no I/O (CPU µs/row, best of 5 runs of 500 rows):")
    for label, us in _cpu_micro(args).items():
        print(f"    {label:<32} {us:6.2f}")
    print("  PostgreSQL alone: binary COPY of 20,000 rows, 1000 a transaction (wall µs/row):")
    for label, us in (await _pg_variants(db_url, args)).items():
        print(f"    {label:<36} {us:6.1f}")


async def profile_server(db_url: str, args: argparse.Namespace) -> None:
    """The server's own CPU per row with the NATS bus and one in-server worker: the server
    runs in this process under cProfile, the agents' load comes from a child process."""
    import cProfile
    import logging
    import pstats

    import uvicorn

    from hashfleet.server.app import create_app

    logging.getLogger("hashfleet.server.bus.nats").setLevel(logging.ERROR)
    data_dir = Path(tempfile.mkdtemp(prefix="hf-bench-profile-server-"))
    env = nats_env(args.nats)
    try:
        token = await prepare(db_url, data_dir, args.things)
        settings = Settings.from_env(
            data_dir=data_dir,
            database_url=db_url,
            bus=args.nats,
            nats_stream=env["HASHFLEET_NATS_STREAM"],
            nats_subject=env["HASHFLEET_NATS_SUBJECT"],
            nats_consumer=env["HASHFLEET_NATS_CONSUMER"],
            ingest_workers=args.server_workers,
        )
        port = free_port()
        server_state = ServerState(settings)
        server = uvicorn.Server(
            uvicorn.Config(create_app(state=server_state), port=port, log_level="error")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        # Rows that reached this server's live index, rollups and alerts (its own workers'
        # and, by notification, other processes' workers).
        applied_rows = [0]
        sink: Any = server_state.bus._sink  # type: ignore[attr-defined]
        original_applied = sink.applied

        def counting_applied(rows: Any, new: Any) -> None:
            applied_rows[0] += len(rows)
            original_applied(rows, new)

        sink.applied = counting_applied
        # Time in the garbage collector (main thread), by generation.
        import gc

        gc_time = [0.0, 0.0, 0.0]
        gc_count = [0, 0, 0]
        gc_start = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_start[0] = time.thread_time()
            else:
                gen = info["generation"]
                gc_time[gen] += time.thread_time() - gc_start[0]
                gc_count[gen] += 1

        gc.callbacks.append(on_gc)
        # Counted from a thread of its own: neither in the profile nor in the CPU figure.
        watcher = StoredWatcher(db_url, args.snapshots).start()
        profiler: Any = cProfile.Profile()
        if args.no_cprofile:
            profiler.enable = profiler.disable = lambda: None
        backlog = args.server_workers == 0
        worker = None
        cpu0, t0 = time.thread_time(), time.perf_counter()
        if not backlog:
            profiler.enable()
        load = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--send-to", f"http://127.0.0.1:{port}", "--token", token,
            "--snapshots", str(args.snapshots), "--things", str(args.things),
            "--batch", str(args.batch), "--senders", str(args.senders),
        )  # fmt: skip
        if backlog:
            # 0 in-server workers: everything into the stream first, then one
            # `hashfleet ingest-worker`; the server only follows its "rows written" notices.
            await asyncio.wait_for(load.wait(), 600)
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hashfleet", "ingest-worker", "--workers", "1",
                env={**os.environ, **env, "HASHFLEET_DATABASE_URL": db_url},
            )  # fmt: skip
            cpu0, t0 = time.thread_time(), time.perf_counter()
            profiler.enable()
        while watcher.end is None and watcher.error is None:
            await asyncio.sleep(0.05)
        at_stored = applied_rows[0]
        # Then until every row has reached the live index (at most 120 s more).
        deadline = time.perf_counter() + 120
        while applied_rows[0] < args.snapshots and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        profiler.disable()
        gc.callbacks.remove(on_gc)
        t_applied = time.perf_counter()
        wall, cpu = t_applied - t0, time.thread_time() - cpu0
        t_end, _ = watcher.wait()
        await asyncio.wait_for(load.wait(), 60)
        if worker is not None:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 30)
        live_rows = sum(1 for doc in server_state.live.things.values() if doc.get("last"))
        server.should_exit = True
        await serving
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        await _delete_stream(args.nats, env["HASHFLEET_NATS_STREAM"])
    n = args.snapshots
    print(
        f"server profile: NATS bus, {args.server_workers} in-server worker(s), PostgreSQL, "
        f"{n:,} rows: {n / wall:,.0f} rows/s through the live index"
        f"{'' if args.no_cprofile else ' under cProfile'}, server thread CPU "
        f"{cpu * 1e6 / n:.1f} µs/row ({100 * cpu / wall:.0f} % of a core)"
        + (" — the drain by 1 standalone worker only" if args.server_workers == 0 else "")
        + f"; things with a snapshot in the live index: {live_rows:,}"
    )
    print(
        f"  rows applied to the live index when the last row was stored: {at_stored:,} of "
        f"{n:,}; all {applied_rows[0]:,} applied {t_applied - t_end:.1f} s later (the live "
        f"index lags the database); stored in {t_end - t0:.1f} s, applied in {wall:.1f} s"
    )
    print(
        "  garbage collector: "
        + ", ".join(
            f"gen {g} {gc_count[g]:,} x {gc_time[g] * 1e6 / n:.1f} µs/row" for g in range(3)
        )
    )
    if args.no_cprofile:
        return
    stats = pstats.Stats(profiler)
    entries = sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][3],
    )
    print("  cumulative CPU by hashfleet function (µs/row, cProfile-inflated; top 40):")
    shown = 0
    for (filename, line, func), (_, calls, _, cum, _) in entries:
        if "/hashfleet/" in filename and shown < 40:
            shown += 1
            where = filename.split("/hashfleet/", 1)[1]
            print(f"    {cum * 1e6 / n:8.1f}  {func:<28} {where}:{line} ({calls:,} calls)")
    print("  own CPU by function, any module (µs/row, cProfile-inflated; top 25):")
    for (filename, line, func), (_, calls, tot, _, _) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][2],
    )[:25]:
        where = "/".join(filename.split("/")[-2:])
        print(f"    {tot * 1e6 / n:8.1f}  {func:<28} {where}:{line} ({calls:,} calls)")


def send_only(args: argparse.Namespace) -> None:
    """The load of ``profile_server``: POST the batches, print the acked rate."""
    bodies = batches(args.snapshots, args.batch, args.things, "bench-spool")
    elapsed = asyncio.run(send_all(args.send_to, args.token, bodies, args.senders))
    print(f"  load: {args.snapshots / elapsed:,.0f} snapshots/s acked", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--things", type=int, default=2000)
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="for nats+<db>")
    parser.add_argument(
        "--workers",
        default="",
        help="nats+<db>: worker counts to run, e.g. 1,2,4 (default: the server's, "
        f"{DEFAULT_IN_SERVER_WORKERS} in-server)",
    )
    parser.add_argument(
        "--modes",
        default="in-server",
        help="nats+<db> with --workers: in-server, standalone, backlog (comma-separated)",
    )
    parser.add_argument(
        "--worker-loops", type=int, default=1, help="consumer loops per ingest-worker process"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one ingest worker in this process (NATS + PostgreSQL), then exit",
    )
    parser.add_argument(
        "--profile-server",
        action="store_true",
        help="profile the server in this process (NATS bus, --server-workers in-server workers)",
    )
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument(
        "--no-cprofile", action="store_true", help="--profile-server: timings and CPU only"
    )
    parser.add_argument("--send-to", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send_to:
        send_only(args)
        return
    if args.profile_server:
        if PG_SKIP_REASON:
            raise SystemExit(f"--profile-server needs PostgreSQL: {PG_SKIP_REASON}")
        with postgres_database() as url:
            asyncio.run(profile_server(url, args))
        return
    if args.profile:
        if PG_SKIP_REASON:
            raise SystemExit(f"--profile needs PostgreSQL: {PG_SKIP_REASON}")
        with postgres_database() as url:
            asyncio.run(profile_worker(url, args))
        return
    print(
        f"ingest: {args.snapshots} snapshots of ~1 KB for {args.things} things, "
        f"batches of {args.batch}, {args.senders} concurrent agents"
    )
    for name in args.backends.split(","):
        db = name.removeprefix("nats+")
        if db not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown backend {name}")
        if db == "postgresql" and PG_SKIP_REASON:
            print(f"postgresql: skipped ({PG_SKIP_REASON})")
            continue
        cases = [("in-server", DEFAULT_IN_SERVER_WORKERS)]
        if name.startswith("nats+") and args.workers:
            counts = [int(n) for n in args.workers.split(",")]
            cases = [(m, n) for m in args.modes.split(",") for n in counts]
        for mode, workers in cases:
            if db == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    result = run_backend(name, f"sqlite:///{tmp}/bench.db", args, mode, workers)
            else:
                with postgres_database() as url:
                    result = run_backend(name, url, args, mode, workers)
            label = name
            if name.startswith("nats+") and args.workers:
                label = f"{name} {mode} {workers}"
                if mode != "in-server" and args.worker_loops > 1:
                    label += f"x{args.worker_loops}"
            stored = ""
            if "stored" in result:
                stored = (
                    f" | stored {result['stored']:>9,.0f} snapshots/s = "
                    f"{result['stored_ratio']:.2f} of raw | CPU s server "
                    f"{result['cpu_server']:.1f} workers {result['cpu_workers']:.1f} "
                    f"| count(*) {result['cpu_count_ms']:.0f} ms | load {os.getloadavg()[0]:.1f}"
                )
                if "cpu_send" in result:
                    stored += f" | server CPU while sending {result['cpu_send']:.1f} s"
            print(
                f"{label:>15}: end-to-end {result['e2e']:>9,.0f} snapshots/s | raw batched "
                f"insert {result['raw']:>9,.0f} rows/s (before {result['raw_before']:,.0f}, "
                f"after {result['raw_after']:,.0f}) | ratio {result['ratio']:.2f} | server "
                f"CPU {result['server_us']:.0f} µs/snapshot{stored}",
                flush=True,
            )


if __name__ == "__main__":
    main()
