"""Real processes for fault tests: ``hashfleet server`` / ``hashfleet agent`` subprocesses
that can be SIGKILLed or SIGTERMed and started again on the same data, a private throwaway
PostgreSQL cluster (never the system one) and a private ``nats-server``.

Every process here is started by the helper and stopped by its own PID only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from hashfleet.core.files import make_private_dir
from hashfleet.server.auth.service import AuthService
from hashfleet.server.store.engine import create_engine, is_sqlite, migrate
from tests.support.live_server import ADMIN_PASSWORD, free_port

HASHFLEET = [sys.executable, "-m", "hashfleet"]
PG_BIN = Path(os.environ.get("HASHFLEET_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


async def provision_admin(data_dir: Path, database_url: str = "") -> str:
    """Migrate the server's database and create an admin; returns an admin API token.

    Done in the test process before the server starts, so no password has to be scraped
    from the server's output.
    """
    url = database_url or f"sqlite:///{data_dir / 'hashfleet.db'}"
    make_private_dir(data_dir)
    engine = create_engine(url)
    try:
        await migrate(engine)
        auth = AuthService(engine, 3600)
        uid = await auth.ensure_admin("admin", ADMIN_PASSWORD)
        return await auth.create_api_token(uid, "faults", True)
    finally:
        await engine.dispose()


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


class ServerProcess:
    """``hashfleet server`` on a fixed loopback port; restartable on the same database."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        port: int | None = None,
        name: str = "server",
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start (again) and wait until it answers HTTP."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [*HASHFLEET, "server", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.output()}")

    @property
    def pid(self) -> int:
        """The running server's PID."""
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL (no shutdown code runs); returns the exit status (-9)."""
        return 0 if self.proc is None else _stop(self.proc, signal.SIGKILL, 10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM: uvicorn finishes requests in flight and the bus drains; exit status."""
        return 0 if self.proc is None else _stop(self.proc, signal.SIGTERM, timeout)

    def output(self) -> str:
        """Everything the server printed, all starts."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def register_rack(url: str, admin_token: str, devices: list[tuple[str, str, int]]) -> str:
    """Register rack r1 and ``(family, address, port)`` devices in it; the rack token."""
    h = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, headers=h, timeout=10) as client:
        client.post("/rpc/registerRack", json={"id": "r1", "type": "miner"}).raise_for_status()
        for family, address, port in devices:
            opts = {"family": family, "address": address, "port": port, "timeout": 2}
            client.post("/rpc/registerThing", json={"rack": "r1", "opts": opts}).raise_for_status()
        resp = client.post("/api/racks/r1/token")
        resp.raise_for_status()
        return str(resp.json()["token"])


class AgentProcess:
    """``hashfleet agent`` as its own process (so that it can be SIGKILLed)."""

    def __init__(self, server_url: str, token: str, data_dir: Path, interval: float) -> None:
        self.args = [
            *HASHFLEET,
            "agent",
            "--server",
            server_url,
            "--data-dir",
            str(data_dir),
            "--interval",
            str(interval),
        ]
        self.token = token
        self.log_path = data_dir.parent / f"{data_dir.name}.agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        """Start; the token goes through the environment, as in production."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HASHFLEET_AGENT_TOKEN": self.token, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL; returns the exit status (-9)."""
        return 0 if self.proc is None else _stop(self.proc, signal.SIGKILL, 10)

    def output(self) -> str:
        """What the agent printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def pg_skip_reason() -> str | None:
    """Why a private PostgreSQL cluster cannot be run here, or None."""
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).is_file():
            return f"{PG_BIN / tool} not found (set HASHFLEET_TEST_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
    return None


class PgCluster:
    """A throwaway PostgreSQL cluster on a free port: initdb, pg_ctl start/restart/stop.

    initdb refuses to run as root; then the cluster is made and run as the ``postgres``
    user in a directory of its own under the system temp dir (pytest's tmp_path is
    private to root), removed by :meth:`destroy`.
    """

    def __init__(self, base: Path) -> None:
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            self.root = Path(tempfile.mkdtemp(prefix="hf-faults-pg-"))
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        else:
            self.root = base / "pg"
            self.root.mkdir(parents=True)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            list(args), user=self.user, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    def init(self) -> PgCluster:
        """initdb (trust auth for local connections, no fsync at init) and start."""
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()
        return self

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", *extra,
        )  # fmt: skip

    def start(self) -> None:
        """pg_ctl start, waiting until it accepts connections."""
        self._ctl("start")

    def restart(self, mode: str = "fast") -> None:
        """pg_ctl restart -m ``mode`` (fast: clean shutdown; immediate: crash, WAL replay)."""
        self._ctl("restart", "-m", mode)

    def stop(self) -> None:
        """pg_ctl stop -m immediate (the data is thrown away next)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def destroy(self) -> None:
        """Stop and remove the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def output(self) -> str:
        """The cluster's log."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


NATS_SERVER = shutil.which("nats-server")


class NatsProcess:
    """A private ``nats-server -js`` on a free port with its store in ``store_dir``."""

    def __init__(self, store_dir: Path) -> None:
        assert NATS_SERVER is not None
        self.store_dir = store_dir
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> NatsProcess:
        """Start and wait until the port accepts connections."""
        assert NATS_SERVER is not None
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        self.proc = subprocess.Popen(
            [*args, "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited {self.proc.returncode}")
            with contextlib.suppress(OSError), _connect(self.port):
                return self
            time.sleep(0.05)
        raise RuntimeError("nats-server did not listen")

    def stop(self) -> int:
        """SIGTERM (graceful: the JetStream store is flushed) and wait."""
        return 0 if self.proc is None else _stop(self.proc, signal.SIGTERM, 10)

    def kill(self) -> int:
        """SIGKILL and wait."""
        return 0 if self.proc is None else _stop(self.proc, signal.SIGKILL, 10)

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None


def _connect(port: int) -> contextlib.closing[socket.socket]:
    return contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=1))


def uses_sqlite(url: str) -> bool:
    """Whether a database URL is SQLite (empty means the server's default SQLite)."""
    return not url or is_sqlite(url)
