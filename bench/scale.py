"""Scale: listThings over 100,000 things, live diffs to 1,000 WebSockets, RSS, agent polls.

Everything runs against a real ``hashfleet server`` subprocess on SQLite; this process is
the client (HTTP, WebSockets) and the load generator.

    python bench/scale.py [--things 100000] [--subscribers 1000] [--live-things 1000]
                          [--changes 1,100,1000] [--rounds 10] [--poll-seconds 2]

1. listThings: ``--things`` things registered through the registry (realistic opts, info
   and tags, 20 racks), one ~1 KB snapshot each ingested over HTTP by the racks' agents
   (2 % offline), then typical queries over HTTP, median of repeated calls (≤ 50 ms).
2. Server RSS (VmRSS of the server process) after that ingest and a few seconds' settle
   (≤ 500 MB); VmHWM, the peak, beside it.
3. Live diffs: ``--subscribers`` WebSocket clients (one process) subscribed to ``fleet``
   on a second server of ``--live-things`` things; an agent batch changes N things; the
   time from the ingest's ack to the diff's arrival at the LAST subscriber, per round
   (≤ 1 s). The server's channel throttle (``throttle_s``, default 1 s) is part of it: the
   first subscriber's latency is mostly that wait, last - first is the fan-out.
4. Agent polls: our antminer driver against 20 simulated Antminers (``bench/poll.py``'s
   measurement, our side only), polls per CPU-second of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import snapshot, wait_up

from hashfleet.core.settings import Settings
from hashfleet.server.state import ServerState
from hashfleet.server.store.engine import migrate
from hashfleet.wire.codec import json_dumps
from tests.support.live_server import ADMIN_PASSWORD, free_port

RACKS = 20
MODELS = ["S19j Pro", "S19 XP", "S21", "S19k Pro", "T21"]
SITES = ["tx1", "tx2", "ks1", "no1"]

TARGET_LIST_MS = 50.0
TARGET_DIFF_S = 1.0
TARGET_RSS_MB = 500.0


def rack_of(i: int, things: int) -> str:
    return f"r{i * RACKS // things:02d}"


def thing_req(i: int, things: int) -> dict[str, Any]:
    """What an operator registers: opts to reach it, inventory info, their own tags."""
    site = SITES[i % len(SITES)]
    row = (i // 200) % 40
    model = MODELS[i % len(MODELS)]
    return {
        "rack": rack_of(i, things),
        "id": f"m{i:06d}",
        "code": f"m{i:06d}",
        "opts": {
            "family": "antminer",
            "address": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}",
            "port": 4028,
            "username": "root",
            "password": "root",
        },
        "info": {
            "serial": f"SMTTD{i:010d}",
            "macAddress": f"02:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:"
            f"{(i >> 8) & 255:02x}:{i & 255:02x}",
            "model": f"Antminer {model}",
            "pos": {"site": site, "row": row, "shelf": i % 10, "slot": i % 4},
            "purchasedAt": "2025-03-01",
        },
        "tags": [f"site-{site}", f"row-{site}-{row}", f"model-{model.replace(' ', '-')}",
                 "owner-a" if i % 3 else "owner-b"],
    }  # fmt: skip


def thing_snapshot(i: int, salt: int = 0) -> dict[str, Any]:
    """bench/ingest.py's ~1 KB Antminer snapshot, varied per thing; 2 % offline."""
    snap = snapshot(i + salt)
    stats = snap["stats"]
    stats["hashrate"] = (90 + i % 30) * 1e12 + salt
    stats["temp_max"] = 60.0 + i % 25
    snap["config"]["model"] = f"Antminer {MODELS[i % len(MODELS)]}"
    if i % 50 == 0:
        stats.update(status="offline", hashrate=0.0, power_w=0.0, hashboards=[], pools=[])
    return snap


async def prepare(db_url: str, data_dir: Path, things: int) -> tuple[str, dict[str, str], float]:
    """Migrate, register racks and things; admin API token, rack tokens, seconds taken."""
    state = ServerState(Settings.from_env(data_dir=data_dir, database_url=db_url))
    try:
        await migrate(state.engine)
        await state.registry.load()
        racks = sorted({rack_of(i, things) for i in range(things)})
        for rack in racks:
            await state.registry.register_rack(rack, "miner", {"site": "bench"})
        t0 = time.perf_counter()
        for start in range(0, things, 5000):
            reqs = [thing_req(i, things) for i in range(start, min(things, start + 5000))]
            await state.registry.register_things(reqs, user="bench")
        took = time.perf_counter() - t0
        uid = await state.auth.ensure_admin("admin", ADMIN_PASSWORD)
        admin = await state.auth.create_api_token(uid, "bench", True)
        tokens = {r: await state.auth.create_rack_token(r) for r in racks}
        return admin, tokens, took
    finally:
        await state.engine.dispose()


class Server:
    """A ``hashfleet server`` subprocess on a fresh SQLite database."""

    def __init__(self, things: int, **env: str) -> None:
        self.things = things
        self.env = env
        self.dir = Path(tempfile.mkdtemp(prefix="hf-bench-scale-"))
        self.db_url = f"sqlite:///{self.dir}/bench.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin = ""
        self.rack_tokens: dict[str, str] = {}
        self.register_s = 0.0

    def __enter__(self) -> Server:
        self.admin, self.rack_tokens, self.register_s = asyncio.run(
            prepare(self.db_url, self.dir, self.things)
        )
        env = {
            **os.environ,
            "HASHFLEET_DATABASE_URL": self.db_url,
            "HASHFLEET_DATA_DIR": str(self.dir),
            # The run is longer than the default 60 s window: no sweep turning the whole
            # fleet offline (a diff of every row) in the middle of a measurement.
            "HASHFLEET_STALE_S": "3600",
            **self.env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hashfleet", "server", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_up(self.url, self.proc, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def status_kb(self, field: str) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"{field} not in /proc/{self.proc.pid}/status")

    def cpu_s(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest_bodies(
    server: Server, ids: list[int], batch: int, salt: int, spool: str, seq0: int = 0
) -> list[tuple[str, bytes]]:
    """(rack token, pre-encoded batch) per rack's share of ``ids``, ``batch`` items each."""
    by_rack: dict[str, list[int]] = {}
    for i in ids:
        by_rack.setdefault(rack_of(i, server.things), []).append(i)
    now = int(time.time() * 1000)
    out = []
    seq = seq0
    for rack, members in by_rack.items():
        for s in range(0, len(members), batch):
            items = []
            for i in members[s : s + batch]:
                seq += 1
                items.append({"seq": seq, "thing_id": f"m{i:06d}", "ts": now,
                              "snap": thing_snapshot(i, salt)})  # fmt: skip
            body = json_dumps({"v": 1, "spool_id": f"{spool}-{rack}", "items": items})
            out.append((server.rack_tokens[rack], body))
    return out


async def post_ingest(session: aiohttp.ClientSession, url: str, token: str, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with session.post(f"{url}/api/agent/ingest", data=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"ingest: HTTP {resp.status}: {await resp.text()}")
        await resp.read()


async def ingest_all(server: Server, bodies: list[tuple[str, bytes]], senders: int = 4) -> float:
    queue = list(bodies)
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            while queue:
                token, body = queue.pop()
                await post_ingest(session, server.url, token, body)

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - t0


# -- 1. listThings --------------------------------------------------------------------------

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("{} limit 100", {"query": {}, "limit": 100}),
    ("{} limit 100, status", {"query": {}, "limit": 100, "status": True}),
    ("tag model-S21 (1 in 5), limit 100", {"query": {"tags": "model-S21"}, "limit": 100}),
    ("tags $in [one row] (1 in 160)", {"query": {"tags": {"$in": ["row-tx1-3"]}}, "limit": 1000}),
    ("last.snap.stats.status: offline (2 %)",
     {"query": {"last.snap.stats.status": "offline"}, "limit": 10_000}),
    ("sort hashrate desc, limit 100",
     {"query": {}, "sort": {"last.snap.stats.hashrate": -1}, "limit": 100, "status": True}),
    ("fields id,code,hashrate,status, limit 100",
     {"query": {}, "limit": 100,
      "fields": {"id": 1, "code": 1, "last.snap.stats.hashrate": 1,
                 "last.snap.stats.status": 1}}),
    ("offline + fields, all matches",
     {"query": {"last.snap.stats.status": "offline"}, "limit": 100_000,
      "fields": {"id": 1, "info.pos": 1}}),
]  # fmt: skip


async def time_queries(server: Server, runs: int) -> list[tuple[str, float, int, int]]:
    """(name, median ms, rows, response bytes) per query, over HTTP."""
    headers = {"Authorization": f"Bearer {server.admin}"}
    out = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for name, body in QUERIES:
            times = []
            rows = size = 0
            for k in range(runs + 1):
                t0 = time.perf_counter()
                async with session.post(f"{server.url}/rpc/listThings", json=body) as resp:
                    raw = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"listThings {name}: HTTP {resp.status}: {raw[:300]!r}")
                elapsed = (time.perf_counter() - t0) * 1000
                if k:  # the first call warms up
                    times.append(elapsed)
                size = len(raw)
            import json

            rows = len(json.loads(raw))
            out.append((name, statistics.median(times), rows, size))
    return out


async def fleet_subscribe_cost(server: Server) -> tuple[float, int]:
    """One ``fleet`` subscription on the big server: seconds to its snapshot, its bytes."""
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        async with session.ws_connect(
            f"{server.url}/ws?token={server.admin}", max_msg_size=0
        ) as ws:
            await ws.send_str('{"id":1,"type":"subscribe","channel":"fleet"}')
            msg = await ws.receive(timeout=60)
            return time.perf_counter() - t0, len(msg.data)


# -- 3. live diffs --------------------------------------------------------------------------


class Client:
    """One subscriber: when it received the current round's diff."""

    def __init__(self) -> None:
        self.got: asyncio.Event = asyncio.Event()
        self.at = 0.0
        self.diffs = 0


async def client_loop(ws: aiohttp.ClientWebSocketResponse, c: Client) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        # Encoded with "type" first: no need to decode 1,000 copies of the same diff.
        if msg.data.startswith('{"type":"diff"'):
            if not c.got.is_set():
                c.at = time.perf_counter()
                c.got.set()
            c.diffs += 1


async def live_diffs(
    server: Server, subscribers: int, changes: list[int], rounds: int
) -> tuple[dict[int, dict[str, list[float]]], float]:
    """Per N: latencies (s) from ack to first/last subscriber; seconds to subscribe all."""
    conn = aiohttp.TCPConnector(limit=0)
    results: dict[int, dict[str, list[float]]] = {}
    async with aiohttp.ClientSession(connector=conn) as session:
        clients = [Client() for _ in range(subscribers)]
        sockets = []
        tasks = []
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(50)

        async def connect(c: Client) -> None:
            async with sem:
                ws = await session.ws_connect(
                    f"{server.url}/ws?token={server.admin}", max_msg_size=0, heartbeat=None
                )
                await ws.send_str('{"id":1,"type":"subscribe","channel":"fleet"}')
                first = await ws.receive(timeout=120)
                if '"snapshot"' not in first.data[:40]:
                    raise RuntimeError(f"expected the fleet snapshot, got {first.data[:200]}")
                sockets.append(ws)
                tasks.append(asyncio.create_task(client_loop(ws, c)))

        await asyncio.gather(*(connect(c) for c in clients))
        subscribe_s = time.perf_counter() - t0
        await asyncio.sleep(1.5)  # nothing pending from the subscriptions
        seq = 10_000_000
        try:
            async with aiohttp.ClientSession() as ingest_session:
                for n in changes:
                    res: dict[str, list[float]] = {"first": [], "last": [], "fanout": []}
                    for r in range(rounds):
                        ids = random.sample(range(server.things), n)
                        bodies = ingest_bodies(server, ids, 20_000, salt=1000 + r, spool="live",
                                               seq0=seq)  # fmt: skip
                        seq += n
                        for c in clients:
                            c.got.clear()
                        # Uniform phase against the hub's throttle tick.
                        await asyncio.sleep(random.uniform(0, 1.0))
                        await asyncio.gather(
                            *(post_ingest(ingest_session, server.url, tok, body)
                              for tok, body in bodies)
                        )  # fmt: skip
                        ack = time.perf_counter()
                        await asyncio.wait_for(asyncio.gather(*(c.got.wait() for c in clients)), 30)
                        first = min(c.at for c in clients)
                        last = max(c.at for c in clients)
                        res["first"].append(first - ack)
                        res["last"].append(last - ack)
                        res["fanout"].append(last - first)
                        await asyncio.sleep(1.2)  # the next diff is a different round's
                    results[n] = res
        finally:
            for ws in sockets:
                await ws.close()
            for t in tasks:
                t.cancel()
    return results, subscribe_s


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# -- 4. agent polls -------------------------------------------------------------------------


async def agent_polls(devices: int, seconds: float) -> float:
    """Our antminer driver against simulated Antminers: polls per CPU-second."""
    import contextlib
    import signal

    from bench.poll import bench_ours, start_sims

    proc, opts = start_sims("antminer", devices, "127.89.0.1")
    try:
        return (await bench_ours(opts, seconds)).per_core
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--things", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--live-things", type=int, default=1000)
    parser.add_argument("--changes", default="1,100,1000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15, help="calls per listThings query")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="0 to skip")
    args = parser.parse_args()
    summary: list[tuple[str, str, str, str]] = []
    t_start = time.perf_counter()
    print(f"scale: {args.things:,} things; {args.subscribers:,} subscribers; {load()}")

    # 1 + 2: the big server.
    with Server(args.things) as big:
        print(f"registered {args.things:,} things through the registry in {big.register_s:.1f} s")
        loaded = big.status_kb("VmRSS") / 1024
        print(f"server RSS with the registry loaded, no snapshot yet: {loaded:,.0f} MB")
        bodies = ingest_bodies(big, list(range(args.things)), 1000, salt=0, spool="bench")
        elapsed = asyncio.run(ingest_all(big, bodies))
        print(f"ingested one snapshot each over HTTP: {args.things / elapsed:,.0f} snapshots/s")
        time.sleep(5)  # settle: the writer, rollups and GC catch up
        rss = big.status_kb("VmRSS") / 1024
        hwm = big.status_kb("VmHWM") / 1024
        print(f"server RSS {rss:,.0f} MB (peak {hwm:,.0f} MB), {load()}")
        summary.append((f"server RSS, {args.things:,} things", f"{rss:,.0f} MB",
                        f"≤ {TARGET_RSS_MB:.0f} MB", _ok(rss <= TARGET_RSS_MB)))  # fmt: skip
        summary.append(("  of which before any snapshot", f"{loaded:,.0f} MB", "", ""))

        cpu0 = big.cpu_s()
        results = asyncio.run(time_queries(big, args.runs))
        print(f"listThings over HTTP, median of {args.runs} ({load()}):")
        for name, ms, rows, size in results:
            print(f"  {name:<42} {ms:8.1f} ms  {rows:>6,} rows  {size / 1024:>8,.0f} KiB")
            summary.append((f"listThings: {name}", f"{ms:.1f} ms", f"≤ {TARGET_LIST_MS:.0f} ms",
                            _ok(ms <= TARGET_LIST_MS)))  # fmt: skip
        print(f"  (server CPU for those calls: {big.cpu_s() - cpu0:.1f} s)")
        sub_s, sub_bytes = asyncio.run(fleet_subscribe_cost(big))
        print(f"one `fleet` subscription at {args.things:,} things: snapshot of "
              f"{sub_bytes / 1e6:.1f} MB in {sub_s * 1000:,.0f} ms")  # fmt: skip
        summary.append((f"one `fleet` subscription, {args.things:,} things",
                        f"{sub_s * 1000:,.0f} ms", "", f"{sub_bytes / 1e6:.0f} MB"))  # fmt: skip

    # 3: live diffs on a fleet the size of one dashboard's view.
    changes = [int(n) for n in args.changes.split(",") if n]
    with Server(args.live_things) as live:
        bodies = ingest_bodies(live, list(range(args.live_things)), 1000, salt=0, spool="bench")
        asyncio.run(ingest_all(live, bodies))
        cpu0 = live.cpu_s()
        results3, subscribe_s = asyncio.run(
            live_diffs(live, args.subscribers, changes, args.rounds)
        )
        cpu = live.cpu_s() - cpu0
        print(f"live diffs: {args.subscribers:,} `fleet` subscribers of {args.live_things:,} "
              f"things (subscribed in {subscribe_s:.1f} s), {args.rounds} rounds per N, "
              f"server CPU {cpu:.1f} s, {load()}")  # fmt: skip
        print(f"  {'N changed':>9}  {'last p50':>9} {'p99':>7} {'max':>7}  "
              f"{'first p50':>9}  {'fan-out p50':>11} {'max':>7}")  # fmt: skip
        for n, res in results3.items():
            last = res["last"]
            print(f"  {n:>9,}  {pct(last, 50):8.3f}s {pct(last, 99):6.3f}s {max(last):6.3f}s  "
                  f"{pct(res['first'], 50):8.3f}s  {pct(res['fanout'], 50):10.3f}s "
                  f"{max(res['fanout']):6.3f}s")  # fmt: skip
            summary.append((f"diff to last of {args.subscribers:,} subs, N={n:,}, p99",
                            f"{pct(last, 99):.3f} s", f"≤ {TARGET_DIFF_S:.0f} s",
                            _ok(pct(last, 99) <= TARGET_DIFF_S)))  # fmt: skip
        fanout = [f for res in results3.values() for f in res["fanout"]]
        summary.append(("  of which fan-out (last - first), max", f"{max(fanout):.3f} s", "", ""))

    # 4: agent polls, briefly.
    if args.poll_seconds > 0:
        per_core = asyncio.run(agent_polls(20, args.poll_seconds))
        print(f"agent: antminer driver, 20 simulated devices, {args.poll_seconds:g} s: "
              f"{per_core:,.0f} polls/s/core ({load()})")  # fmt: skip
        summary.append(("agent polls, antminer", f"{per_core:,.0f}/s/core", "", ""))

    print(f"\nsummary ({load()}, {time.perf_counter() - t_start:.0f} s in all)")
    width = max(len(m) for m, *_ in summary)
    print(f"  {'metric':<{width}}  {'value':>14}  {'target':>9}  ok")
    for metric, value, target, ok in summary:
        print(f"  {metric:<{width}}  {value:>14}  {target:>9}  {ok}")


def _ok(good: bool) -> str:
    return "ok" if good else "NOT"


if __name__ == "__main__":
    main()
