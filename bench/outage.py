"""A long server outage, for real: 0 lost, 0 duplicated, and what it costs the agent.

The long version of ``tests/faults/test_server_outage.py`` (which runs 20 s in CI), with
every part a process of its own: ``hashfleet sim`` (``--miners`` simulated devices on
127.123.x addresses, 4 Antminers for 1 XMRig), ``hashfleet server`` (SQLite in its data
dir, or a PostgreSQL database of its own on the local server) and the real
``hashfleet agent`` polling every ``--interval`` seconds.

    python bench/outage.py [--outage-s 600] [--miners 100] [--interval 1.0]
                           [--db sqlite|postgresql] [--warmup-s 15]

1. Warm-up: the agent ships to the server for ``--warmup-s``; then the server is stopped
   with SIGTERM (graceful). The rows it stored must be exactly seqs 1..n of the spool.
2. Outage: ``--outage-s`` seconds with the server down; the agent keeps polling into its
   spool. Sampled every 2 s: the agent's RSS (VmRSS), items and bytes in the spool.
3. At the end of the outage the spool is read (seq → thing, ts of every item waiting):
   those are the expected rows. The server starts again on the same database and port;
   "drain" is the time from that start until every item spooled up to then is stored
   (it includes the sender's retry backoff, up to 30 s ±20 % after a long outage).
4. The agent runs 5 s more, is stopped (SIGINT) and the server is stopped (SIGTERM). The
   check is exact, per (thing, seq): every item spooled during the outage is stored with
   its seq, thing and timestamp; the rows stored before the outage are unchanged; stored
   seqs and the seqs still in the spool partition 1..last seq (none missing = 0 lost, none
   in both and no (spool_id, seq) twice = 0 duplicated); no foreign rows in the table.

Exit status 1 if anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hashfleet.server.store.engine import create_engine
from hashfleet.server.store.tables import snapshots
from tests.faults.harness import Stored, last_seq, stored
from tests.support.databases import PG_SKIP_REASON, postgres_database
from tests.support.processes import AgentProcess, ServerProcess, provision_admin, register_rack
from tests.support.sim_process import sim_process
from tests.support.spools import read_spool, spooled

IP_BASE = "127.123.0.1"  # the fault tests use 127.121.x, the other benches 127.10.x-127.20.x
SAMPLE_S = 2.0


def status_kb(pid: int, name: str) -> int:
    """A ``/proc/PID/status`` field in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/{pid}/status")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spool_files(spool_path: Path) -> tuple[int, int]:
    """Bytes on disk of the spool database file and of its WAL (+ shared-memory index)."""
    sizes = []
    for suffixes in ([""], ["-wal", "-shm"]):
        total = 0
        for suffix in suffixes:
            with contextlib.suppress(FileNotFoundError):
                total += Path(f"{spool_path}{suffix}").stat().st_blocks * 512
        sizes.append(total)
    return sizes[0], sizes[1]


def spool_bytes(spool_path: Path) -> int:
    """The spool's size on disk: the database file plus its WAL and shared-memory index."""
    return sum(spool_files(spool_path))


def payload_bytes(spool_path: Path) -> int:
    """The bytes of the items waiting in a spool (their JSON payloads)."""
    db = sqlite3.connect(spool_path, timeout=5)
    try:
        return int(db.execute("SELECT coalesce(sum(length(payload)), 0) FROM outbox").fetchone()[0])
    finally:
        db.close()


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.1f} MB"


@contextlib.contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    """The server's database URL: SQLite in its data dir or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'hashfleet.db'}"
    else:
        if PG_SKIP_REASON:
            raise SystemExit(f"postgresql: {PG_SKIP_REASON}")
        with postgres_database() as url:
            yield url


async def stored_upto(engine: AsyncEngine, spool_id: str, upto: int) -> int:
    """Rows of ``spool_id`` with seq ≤ ``upto``."""
    query = (
        select(func.count())
        .select_from(snapshots)
        .where(snapshots.c.spool_id == spool_id, snapshots.c.seq <= upto)
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


@dataclass
class Samples:
    """The agent and its spool, sampled during the outage."""

    rss_kb: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    disk: list[int] = field(default_factory=list)


@dataclass
class Verdict:
    lost: list[int]
    duplicated: int
    both: list[int]
    wrong: list[int]
    foreign: int

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, altered or foreign. ``both`` (committed, the ack not
        yet received) is not a fault: the agent would resend those and the server dedupe."""
        return not (self.lost or self.duplicated or self.wrong or self.foreign)


def check(
    before: Stored, outage: dict[int, tuple[str, int]], final: Stored, left: set[int], last: int
) -> Verdict:
    """Exact accounting of one spool (see the module docstring, step 4)."""
    expected = {**before.by_seq, **outage}
    return Verdict(
        lost=sorted(set(range(1, last + 1)) - final.seqs - left),
        duplicated=final.rows - final.distinct,
        both=sorted(final.seqs & left),
        wrong=sorted(seq for seq, item in expected.items() if final.by_seq.get(seq) != item),
        foreign=final.total - final.rows + len(final.seqs - set(range(1, last + 1))),
    )


async def run(args: argparse.Namespace, work: Path, db_url: str) -> bool:
    data_dir = work / "server"
    agent_dir = work / "agent"
    spool_path = agent_dir / "spool.db"
    admin = await provision_admin(data_dir, db_url)
    server = ServerProcess(data_dir, db_url)
    engine = create_engine(db_url or f"sqlite:///{data_dir / 'hashfleet.db'}")
    antminers = args.miners - args.miners // 5
    sim_args = ["--antminer", str(antminers), "--xmrig", str(args.miners // 5)]
    agent: AgentProcess | None = None
    try:
        with sim_process([*sim_args, "--ip-base", IP_BASE], args.miners) as devices:
            await asyncio.to_thread(server.start)
            token = await asyncio.to_thread(register_rack, server.url, admin, devices)
            agent = AgentProcess(server.url, token, agent_dir, args.interval).start()
            print(
                f"outage bench: {args.miners} simulated miners ({antminers} Antminer, "
                f"{args.miners // 5} XMRig), agent polling every {args.interval:g} s "
                f"(~{args.miners / args.interval:,.0f} snapshots/s), {args.db}, "
                f"outage {args.outage_s:g} s",
                flush=True,
            )

            # 1. warm-up
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            while loop.time() - t0 < args.warmup_s or spooled(spool_path) > args.miners:
                assert agent.running(), agent.output()
                assert loop.time() - t0 < args.warmup_s + 60, "the agent does not keep up"
                await asyncio.sleep(0.5)
            _, spool_id, _ = read_spool(spool_path)
            rss_before = status_kb(agent.proc.pid, "VmRSS")  # type: ignore[union-attr]
            disk_before = spool_bytes(spool_path)

            # 2. the outage
            status = await asyncio.to_thread(server.terminate)
            t_down = loop.time()
            last_at_stop = last_seq(spool_path)
            before = await stored(engine, spool_id)
            acked = max(before.seqs, default=0)
            contiguous = before.seqs == set(range(1, acked + 1))
            print(
                f"server stopped (SIGTERM → exit {status}): {before.rows:,} stored before, "
                f"seqs 1..{acked:,} {'contiguous' if contiguous else 'NOT CONTIGUOUS'}; "
                f"agent RSS {rss_before / 1024:,.1f} MB, spool {mb(disk_before)}",
                flush=True,
            )
            pid = agent.proc.pid  # type: ignore[union-attr]
            cpu0 = cpu_s(pid)
            samples = Samples()
            next_report = t_down + 60
            while (now := loop.time()) < t_down + args.outage_s:
                assert agent.running(), agent.output()
                samples.rss_kb.append(status_kb(pid, "VmRSS"))
                samples.items.append(spooled(spool_path))
                samples.disk.append(spool_bytes(spool_path))
                if now >= next_report:
                    next_report += 60
                    print(
                        f"  {now - t_down:5.0f} s down: {samples.items[-1]:,} in the spool, "
                        f"{mb(samples.disk[-1])} on disk, agent RSS "
                        f"{samples.rss_kb[-1] / 1024:,.1f} MB",
                        flush=True,
                    )
                await asyncio.sleep(min(SAMPLE_S, t_down + args.outage_s - now))
            agent_cpu = cpu_s(pid) - cpu0
            check_result, _, outage_items = read_spool(spool_path)
            disk_end = spool_bytes(spool_path)
            db_end, wal_end = spool_files(spool_path)
            payload_end = payload_bytes(spool_path)
            rss_end = status_kb(pid, "VmRSS")
            hwm = status_kb(pid, "VmHWM")
            upto = max(outage_items, default=acked)
            produced_down = upto - last_at_stop
            down_s = loop.time() - t_down

            # 3. back up, drain
            t_up = loop.time()
            await asyncio.to_thread(server.start)
            t_answering = loop.time()
            t_first: float | None = None
            while (n := await stored_upto(engine, spool_id, upto)) < upto:
                if t_first is None and n > before.rows:
                    t_first = loop.time()
                assert agent.running(), agent.output()
                assert loop.time() - t_up < 600, f"not drained in 600 s: {n:,} of {upto:,}"
                await asyncio.sleep(0.1)
            t_drained = loop.time()
            if t_first is None:
                t_first = t_drained
            backlog_after = spooled(spool_path)
            disk_after = spool_bytes(spool_path)

            # 4. stop, count exactly
            # The server first (graceful: a batch in flight is answered), then the agent,
            # once it has read that answer: nothing is left committed but unacked.
            print_outage(locals())
            await asyncio.sleep(5)
            await asyncio.to_thread(server.terminate)
            await asyncio.sleep(1)
            assert agent.proc is not None
            agent.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(agent.proc.wait, 30)
                stop_how = f"SIGINT, exit {agent.proc.returncode}"
            except subprocess.TimeoutExpired:
                # Then kill -9: the spool survives it (tests/faults/test_agent_kill.py).
                tail = "\n    ".join(agent.output().splitlines()[-15:])
                print(f"  the agent did not stop within 30 s of SIGINT; its log ends:\n    {tail}")
                await asyncio.to_thread(agent.kill)
                stop_how = "SIGINT ignored for 30 s, then SIGKILL"
            _, _, left = read_spool(spool_path)
            last = last_seq(spool_path)
            final = await stored(engine, spool_id)
            verdict = check(before, outage_items, final, set(left), last)
    finally:
        if agent is not None:
            await asyncio.to_thread(agent.kill)
        await asyncio.to_thread(server.kill)
        await engine.dispose()

    same = sum(1 for seq, item in outage_items.items() if final.by_seq.get(seq) == item)
    kept = all(final.by_seq.get(seq) == item for seq, item in before.by_seq.items())
    rows = [
        ("agent stopped by", stop_how),
        ("stored vs expected",
         f"{final.rows:,} rows of seqs 1..{last:,} stored + {len(left):,} still in the spool at "
         f"the agent's stop (polled after the drain) = {final.rows + len(left):,}; "
         f"{same:,} of {len(outage_items):,} outage items stored with the same (seq, thing, "
         f"ts); the {before.rows:,} rows stored before the outage "
         f"{'unchanged' if kept else 'CHANGED'}"),
        ("verdict",
         f"lost {len(verdict.lost)}, duplicated {verdict.duplicated}, wrong "
         f"{len(verdict.wrong)}, foreign {verdict.foreign} (stored but still spooled: "
         f"{len(verdict.both)}): {'OK' if verdict.ok else 'FAILED'}"),
    ]  # fmt: skip
    for label, value in rows:
        print(f"  {label:<30} {value}")
    if not verdict.ok:
        print(f"  lost {verdict.lost[:20]}, stored and still spooled {verdict.both[:20]}, "
              f"wrong {verdict.wrong[:20]}")  # fmt: skip
    return verdict.ok


def print_outage(v: dict[str, Any]) -> None:
    """The outage and drain figures (printed before the final accounting)."""
    args, samples, down_s = v["args"], v["samples"], v["down_s"]
    produced_down, outage_items = v["produced_down"], v["outage_items"]
    disk_end, rss_before, rss = v["disk_end"], v["rss_before"], samples.rss_kb
    t_up, t_first, t_drained = v["t_up"], v["t_first"], v["t_drained"]
    shipping = max(t_drained - t_first, 1e-9)
    backlog = v["upto"] - v["before"].rows
    rows = [
        ("polled while down (spooled)",
         f"{produced_down:,} snapshots ({produced_down / down_s:,.1f}/s); {len(outage_items):,} "
         f"waiting at the end ({v['upto'] - v['acked'] - produced_down:,} of them polled before "
         "the stop)"),
        ("spool integrity at the end", v["check_result"]),
        ("spool on disk, end of outage",
         f"{mb(disk_end)} = file {mb(v['db_end'])} + WAL {mb(v['wal_end'])} "
         f"({disk_end / max(len(outage_items), 1):,.0f} B/item on disk, payloads "
         f"{v['payload_end'] / max(len(outage_items), 1):,.0f} B/item); "
         f"{mb(v['disk_before'])} before, {mb(v['disk_after'])} after the drain (file + WAL)"),
        ("agent RSS",
         f"{rss_before / 1024:,.1f} MB before; during: median {statistics.median(rss) / 1024:,.1f}"
         f" MB, max {max(rss) / 1024:,.1f} MB; end {v['rss_end'] / 1024:,.1f} MB (VmHWM "
         f"{v['hwm'] / 1024:,.1f} MB)"),
        ("agent CPU while down",
         f"{v['agent_cpu']:,.1f} s ({100 * v['agent_cpu'] / down_s:.1f} % of a core)"),
        ("server start → answering", f"{v['t_answering'] - t_up:,.1f} s"),
        ("start → first backlog row", f"{t_first - t_up:,.1f} s (mostly the sender's backoff)"),
        ("drain",
         f"{t_drained - t_up:,.1f} s from the server's start to the last backlog row stored "
         f"({shipping:,.1f} s from the first to the last, "
         + (f"{backlog / shipping:,.0f} rows/s" if shipping >= 1 else "one go")
         + f"); {v['backlog_after']:,} in the spool then, acks on their way"),
    ]  # fmt: skip
    print(f"\noutage {down_s:,.0f} s, {args.miners} miners every {args.interval:g} s, {args.db}:")
    for label, value in rows:
        print(f"  {label:<30} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-s", type=float, default=600.0)
    parser.add_argument("--miners", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="agent poll interval, s")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--warmup-s", type=float, default=15.0)
    args = parser.parse_args()
    if args.miners < 1:
        raise SystemExit("--miners must be ≥ 1")
    work = Path(tempfile.mkdtemp(prefix="hf-bench-outage-"))
    try:
        with database(args.db, work / "server") as db_url:
            ok = asyncio.run(run(args, work, "" if args.db == "sqlite" else db_url))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
