"""Ingest throughput: agent batches → HTTP → durable (DB) → live index, end to end.

Beside it, in the same run and on the same database, the raw batched insert rate of the
same rows (the driver's executemany, no API, no dedupe, no state) — the ceiling.

    python bench/ingest.py [--things 2000] [--snapshots 100000] [--batch 1000] [--senders 4]
                           [--backends sqlite,postgresql,nats+postgresql] [--nats URL]

``nats+<db>`` runs the server with ``--bus nats://…`` (a stream of its own, deleted after):
"end-to-end" is then until every batch is acked (durable in JetStream), "stored" until
the server's ingest worker has written every row to the database.
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


async def raw_insert(db_url: str, rows: list[dict[str, Any]], batch: int) -> float:
    """The database driver's own batched insert of the same rows: returns rows/s."""
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
            "CREATE TABLE raw (spool_id TEXT, seq INT, thing_id TEXT, rack_id TEXT, "
            "ts INT, err TEXT, snap TEXT)"
        )
        t0 = time.perf_counter()
        for start in range(0, len(tuples), batch):
            with conn:
                conn.executemany(
                    "INSERT INTO raw VALUES (?,?,?,?,?,?,?)", tuples[start : start + batch]
                )
        elapsed = time.perf_counter() - t0
        conn.close()
        return len(rows) / elapsed
    import asyncpg

    conn = await asyncpg.connect(db_url)
    await conn.execute(
        "CREATE TABLE raw (spool_id TEXT, seq BIGINT, thing_id TEXT, "
        "rack_id TEXT, ts BIGINT, err TEXT, snap JSONB)"
    )
    t0 = time.perf_counter()
    for start in range(0, len(tuples), batch):
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO raw VALUES ($1,$2,$3,$4,$5,$6,$7)", tuples[start : start + batch]
            )
    elapsed = time.perf_counter() - t0
    await conn.close()
    return len(rows) / elapsed


def run_backend(name: str, db_url: str, args: argparse.Namespace) -> dict[str, float]:
    """One backend: end-to-end rate, then raw insert rate, on the same database."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"hf-bench-{name}-"))
    bus_env: dict[str, str] = {}
    if name.startswith("nats+"):
        tag = uuid.uuid4().hex[:8]
        bus_env = {
            "HASHFLEET_BUS": args.nats,
            "HASHFLEET_NATS_STREAM": f"HF_BENCH_{tag}",
            "HASHFLEET_NATS_SUBJECT": f"hfbench.{tag}.ingest",
            "HASHFLEET_NATS_CONSUMER": f"hf-bench-{tag}",
        }
    stored_s = 0.0
    try:
        token = asyncio.run(prepare(db_url, data_dir, args.things))
        bodies = batches(args.snapshots, args.batch, args.things, "bench-spool")
        port = free_port()
        env = {
            **os.environ,
            "HASHFLEET_DATABASE_URL": db_url,
            "HASHFLEET_DATA_DIR": str(data_dir),
            **bus_env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "hashfleet", "server", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_up(url, proc)
            t0 = time.perf_counter()
            elapsed = asyncio.run(send_all(url, token, bodies, args.senders))
            if bus_env:
                asyncio.run(_wait_stored(db_url, data_dir, args.snapshots))
                stored_s = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(30)
        stored = asyncio.run(_count(db_url, data_dir))
        if stored != args.snapshots:
            raise RuntimeError(f"{name}: stored {stored} of {args.snapshots} snapshots")
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
        raw = asyncio.run(raw_insert(db_url, rows, args.batch))
        e2e = args.snapshots / elapsed
        result = {"e2e": e2e, "raw": raw, "ratio": e2e / raw}
        if stored_s:
            result["stored"] = args.snapshots / stored_s
        return result
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if bus_env:
            asyncio.run(_delete_stream(args.nats, bus_env["HASHFLEET_NATS_STREAM"]))


async def _wait_stored(db_url: str, data_dir: Path, total: int, timeout: float = 600) -> None:
    """Wait until the ingest workers have written ``total`` rows."""
    state = ServerState(Settings.from_env(data_dir=data_dir, database_url=db_url))
    try:
        deadline = time.monotonic() + timeout
        while await count_snapshots(state.engine) < total:
            if time.monotonic() > deadline:
                raise RuntimeError("the ingest workers did not write every row in time")
            await asyncio.sleep(0.05)
    finally:
        await state.engine.dispose()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--things", type=int, default=2000)
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="for nats+<db>")
    args = parser.parse_args()
    print(
        f"ingest: {args.snapshots} snapshots of ~1 KB for {args.things} things, "
        f"batches of {args.batch}, {args.senders} concurrent agents"
    )
    for name in args.backends.split(","):
        db = name.removeprefix("nats+")
        if db == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                result = run_backend(name, f"sqlite:///{tmp}/bench.db", args)
        elif db == "postgresql":
            if PG_SKIP_REASON:
                print(f"postgresql: skipped ({PG_SKIP_REASON})")
                continue
            with postgres_database() as url:
                result = run_backend(name, url, args)
        else:
            raise SystemExit(f"unknown backend {name}")
        stored = f" | stored {result['stored']:>9,.0f} snapshots/s" if "stored" in result else ""
        print(
            f"{name:>15}: end-to-end {result['e2e']:>9,.0f} snapshots/s | raw batched insert "
            f"{result['raw']:>9,.0f} rows/s | ratio {result['ratio']:.2f}{stored}"
        )


if __name__ == "__main__":
    main()
