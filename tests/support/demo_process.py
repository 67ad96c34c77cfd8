"""Run ``hashfleet demo`` as a subprocess and wait for its demo.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


class DemoProcess:
    """The demo (server + sim + agent) on a port, stopped with SIGINT like Ctrl-C."""

    def __init__(self, data_dir: Path, port: int, miners: int, interval: float = 1.0) -> None:
        self.data_dir = data_dir
        self._out_path = data_dir.parent / f"{data_dir.name}.demo.out"
        self.args = [
            sys.executable,
            "-m",
            "hashfleet",
            "demo",
            "--miners",
            str(miners),
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--interval",
            str(interval),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 90) -> DemoProcess:
        """Start and wait until demo.json exists and the server answers."""
        # The demo creates its data dir itself (owner-only); our log lives beside it.
        (self.data_dir / "demo.json").unlink(missing_ok=True)
        log = self._out_path.open("wb")
        self.proc = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            return self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> DemoProcess:
        assert self.proc is not None
        demo_file = self.data_dir / "demo.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited: {self.output()}")
            if demo_file.exists():
                self.info = json.loads(demo_file.read_text())
                httpx.get(f"{self.info['url']}/login", timeout=5).raise_for_status()
                return self
            time.sleep(0.2)
        raise RuntimeError(f"demo did not start: {self.output()}")

    def output(self) -> str:
        """What the demo printed so far."""
        path = self._out_path
        return path.read_text(errors="replace") if path.exists() else ""

    def rpc(self, method: str, body: dict[str, Any]) -> Any:
        """Call an RPC method with the demo's admin token."""
        resp = httpx.post(
            f"{self.info['url']}/rpc/{method}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {self.info['token']}"},
        )
        resp.raise_for_status()
        return resp.json()

    def wait_for(self, predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
        """Poll ``predicate()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}")

    def set_fault(self, address: str, fault: str) -> None:
        """Switch a simulated device's fault through the simulator's control endpoint."""
        resp = httpx.post(
            f"{self.info['sim_control']}/devices/{address}/fault", json={"fault": fault}, timeout=5
        )
        resp.raise_for_status()

    def stop(self) -> int:
        """Ctrl-C the demo and wait for it; returns its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)
