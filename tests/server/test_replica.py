"""Read-only replica: a server on a PostgreSQL streaming standby serves reads and refuses
writes with ERR_SLAVE_BLOCK.

The end-to-end test builds its own primary and standby clusters (initdb, pg_basebackup -R)
on free ports and never touches the system's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hashfleet.core.clock import now_ms
from hashfleet.server.audit.middleware import AuditMiddleware
from hashfleet.server.auth.principal import SESSION_COOKIE
from hashfleet.server.reads import READ_ONLY_RPCS
from hashfleet.server.replica import (
    SLAVE_BLOCK,
    ReplicaSchemaMismatch,
    check_schema,
    is_read,
    schema_revisions,
)
from hashfleet.server.store.engine import create_engine, migrate
from tests.server.api.test_permission_matrix import ADMIN, OWN, READS, WRITES
from tests.support.live_server import LiveServer, free_port

PG_BIN = Path(os.environ.get("HASHFLEET_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _pg_skip_reason() -> str | None:
    missing = [
        b for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres") if not (PG_BIN / b).exists()
    ]
    if missing:
        return f"PostgreSQL binaries {missing} not found in {PG_BIN} (set HASHFLEET_TEST_PG_BIN)"
    if _AS_ROOT and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    if _AS_ROOT:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the clusters as"
    return None


# -- the shared list of reads -------------------------------------------------------------


def test_the_audit_and_the_replica_share_one_list_of_reads() -> None:
    audit = AuditMiddleware(app=None, sink=lambda _e: None)  # type: ignore[arg-type]
    assert audit.read_only_rpcs == READ_ONLY_RPCS
    rpc_reads = {r.split("/rpc/", 1)[1] for r in READS if r.startswith("POST /rpc/")}
    rpc_writes = {r.split("/rpc/", 1)[1] for r in WRITES | ADMIN if r.startswith("POST /rpc/")}
    assert rpc_reads == READ_ONLY_RPCS
    assert not rpc_writes & READ_ONLY_RPCS


def test_which_requests_a_replica_serves() -> None:
    for route in READS:
        method, path = route.split(" ", 1)
        assert is_read(method, path), route
    for route in WRITES | OWN | {"POST /login", "POST /logout", "DELETE /api/users/x"}:
        method, path = route.split(" ", 1)
        assert not is_read(method, path), route
    # Agents must point at the primary: even their GETs are refused.
    assert not is_read("GET", "/api/agent/config")
    assert not is_read("GET", "/api/agent/jobs")
    assert not is_read("POST", "/api/agent/ingest")


# -- the schema check ---------------------------------------------------------------------


def test_a_replica_refuses_a_store_without_or_behind_the_schema(tmp_path: Path) -> None:
    async def run() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
        try:
            with pytest.raises(ReplicaSchemaMismatch, match="no hashfleet schema"):
                await check_schema(engine)
            await migrate(engine)
            await check_schema(engine)  # current: fine
            current, head = await schema_revisions(engine)
            assert current == head is not None
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            with pytest.raises(ReplicaSchemaMismatch, match="behind") as exc:
                await check_schema(engine)
            assert exc.value.code == "ERR_REPLICA_SCHEMA"
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = 'zz99'"))
            with pytest.raises(ReplicaSchemaMismatch, match="newer"):
                await check_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


# -- primary and standby ------------------------------------------------------------------


class Clusters:
    """A primary and its streaming standby, in a private temporary directory."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hf-replica-"))
        self.primary = self.base / "primary"
        self.standby = self.base / "standby"
        self.primary_port = free_port()
        self.standby_port = free_port()
        self.started: list[Path] = []
        if _AS_ROOT:
            os.chmod(self.base, 0o755)
            shutil.chown(self.base, "postgres", "postgres")

    def run(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if _AS_ROOT:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self.run("initdb", "-D", str(self.primary), "-U", "postgres", "--auth=trust", "-N")
        conf = (
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.primary_port}\n"
            f"unix_socket_directories = '{self.base}'\n"
            "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "shared_buffers = 16MB\n"
        )
        self._append(self.primary / "postgresql.conf", conf)
        self._append(self.primary / "pg_hba.conf", "host replication all 127.0.0.1/32 trust\n")
        self._pg_start(self.primary)
        self.run(
            "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", str(self.standby), "-R", "-X", "stream", "-N", "-c", "fast",
        )  # fmt: skip
        self._append(self.standby / "postgresql.conf", f"port = {self.standby_port}\n")
        self._pg_start(self.standby)

    def _append(self, path: Path, lines: str) -> None:
        # Written by root when run as root: the file keeps its owner (postgres).
        with path.open("a") as f:
            f.write(lines)

    def _pg_start(self, data: Path) -> None:
        self.run("pg_ctl", "-D", str(data), "-l", str(self.base / f"{data.name}.log"), "-w",
                 "-t", "30", "start")  # fmt: skip
        self.started.append(data)

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def wait_replayed(self, timeout: float = 15) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        import asyncpg

        async def lsns() -> bool:
            p = await asyncpg.connect(self.url(self.primary_port))
            s = await asyncpg.connect(self.url(self.standby_port))
            try:
                want = await p.fetchval("SELECT pg_current_wal_lsn()")
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if await s.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", want):
                        return True
                    await asyncio.sleep(0.05)
                return False
            finally:
                await p.close()
                await s.close()

        assert asyncio.run(lsns()), "the standby did not catch up"

    def stop(self) -> None:
        for data in reversed(self.started):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def clusters() -> Iterator[Clusters]:
    reason = _pg_skip_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("asyncpg")
    c = Clusters()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def rpc(url: str, method: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/rpc/{method}", json=body, headers=headers, timeout=10)


def ingest(url: str, token: str, seq: int, hashrate: float) -> None:
    snap = {"stats": {"status": "online", "hashrate": hashrate, "power_w": 3000.0}}
    items = [
        {"seq": seq * 10 + i, "thing_id": f"m{i}", "ts": now_ms(), "snap": snap} for i in (1, 2)
    ]
    resp = httpx.post(
        f"{url}/api/agent/ingest",
        json={"spool_id": "s1", "items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["stored"] == 2, resp.text


def hashrates(url: str, headers: dict[str, str]) -> dict[str, Any]:
    resp = rpc(url, "listThings", {"status": True}, headers)
    assert resp.status_code == 200, resp.text
    return {
        t["id"]: ((t.get("last") or {}).get("snap") or {}).get("stats", {}).get("hashrate")
        for t in resp.json()
    }


def wait_for(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.postgres
def test_a_replica_on_a_standby_serves_reads_and_refuses_writes(
    clusters: Clusters, tmp_path: Path
) -> None:
    primary = LiveServer(
        tmp_path / "primary", clusters.url(clusters.primary_port), throttle_s=0.2
    ).start()
    replica: LiveServer | None = None
    try:
        h = primary.headers
        assert rpc(primary.url, "registerRack", {"id": "r1", "type": "miner"}, h).json() == 1
        for i in (1, 2):
            body = {"id": f"m{i}", "rack": "r1", "opts": {"family": "antminer", "address": "x"}}
            assert rpc(primary.url, "registerThing", body, h).status_code == 200
        rack_token = httpx.post(f"{primary.url}/api/racks/r1/token", headers=h).json()["token"]
        ingest(primary.url, rack_token, 1, 100e12)
        login = httpx.post(
            f"{primary.url}/login", data={"username": "admin", "password": "correct-horse-battery"}
        )
        session = login.cookies[SESSION_COOKIE]
        clusters.wait_replayed()

        replica = LiveServer(
            tmp_path / "replica", clusters.url(clusters.standby_port), replica=True,
            throttle_s=0.2,
        )  # fmt: skip
        # The admin's token was made on the primary and replicated: nothing is written here.
        replica.admin_token = primary.admin_token
        replica.start()
        rh = replica.headers

        # Reads: the primary's things and their latest snapshot.
        assert hashrates(replica.url, rh) == {"m1": 100e12, "m2": 100e12}
        assert rpc(replica.url, "listRacks", {}, rh).status_code == 200
        fleet = httpx.get(f"{replica.url}/api/fleet", headers=rh)
        assert fleet.status_code == 200, fleet.text
        tail = rpc(replica.url, "tailLog", {"type": "miner", "key": "stat-5m"}, rh)
        assert tail.status_code == 200, tail.text
        assert (
            rpc(replica.url, "getInstanceId", {}, rh).json()
            == rpc(primary.url, "getInstanceId", {}, h).json()
        )

        # A later write on the primary appears on the replica (periodic refresh).
        ingest(primary.url, rack_token, 2, 150e12)
        wait_for(lambda: hashrates(replica.url, rh) == {"m1": 150e12, "m2": 150e12})
        body = {"id": "m3", "rack": "r1", "opts": {"family": "antminer", "address": "y"}}
        assert rpc(primary.url, "registerThing", body, h).status_code == 200
        wait_for(lambda: "m3" in hashrates(replica.url, rh))

        # Writes: refused with ERR_SLAVE_BLOCK, agents included.
        writes = [
            ("registerThing", {"id": "m9", "rack": "r1", "opts": {"family": "antminer"}}),
            ("pushAction", {"query": {"id": "m1"}, "action": "reboot"}),
            ("saveThingComment", {"thingId": "m1", "comment": "hot"}),
            ("setGlobalConfig", {}),
        ]
        for method, wbody in writes:
            resp = rpc(replica.url, method, wbody, rh)
            assert resp.status_code == 403, (method, resp.text)
            assert resp.json()["error"] == SLAVE_BLOCK, method
        refused = httpx.post(
            f"{replica.url}/api/agent/ingest",
            json={"spool_id": "s1", "items": []},
            headers={"Authorization": f"Bearer {rack_token}"},
        )
        assert (refused.status_code, refused.json()["error"]) == (403, SLAVE_BLOCK)
        assert httpx.post(f"{replica.url}/api/racks/r1/token", headers=rh).status_code == 403

        # Logins are the primary's; a session opened there works here, and the page says so.
        no_login = httpx.post(
            f"{replica.url}/login", data={"username": "admin", "password": "correct-horse-battery"}
        )
        assert no_login.json()["error"] == SLAVE_BLOCK
        assert "read-only replica" in httpx.get(f"{replica.url}/login").text
        me = httpx.get(f"{replica.url}/api/me", cookies={SESSION_COOKIE: session})
        assert me.status_code == 200 and me.json()["username"] == "admin", me.text

        # Nothing was refused by the standby itself: the replica wrote nothing.
        assert replica.state is not None and replica.state.audit.pending == 0
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()
