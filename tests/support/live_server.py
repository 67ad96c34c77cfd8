"""A real hashfleet server (uvicorn) on a loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from hashfleet.core.settings import Settings
from hashfleet.server.app import create_app
from hashfleet.server.state import ServerState

T = TypeVar("T")

ADMIN_PASSWORD = "correct-horse-battery"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LiveServer:
    """Start/stop a server; run coroutines on its loop; admin token ready."""

    def __init__(
        self, data_dir: Path, database_url: str = "", port: int | None = None, **settings: Any
    ) -> None:
        self.port = port or free_port()
        self.settings = Settings.from_env(
            data_dir=data_dir,
            database_url=database_url,
            host="127.0.0.1",
            port=self.port,
            **settings,
        )
        # HTTPS when the settings name a certificate (tls_cert/tls_key), as the server does.
        self.url = f"{'https' if self.settings.tls else 'http'}://127.0.0.1:{self.port}"
        self.state: ServerState | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.admin_token = ""

    def start(self) -> LiveServer:
        """Start and wait until the server answers."""
        self.state = ServerState(self.settings)
        app = create_app(state=self.state)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=self.settings.tls_cert or None,
            ssl_keyfile=self.settings.tls_key or None,
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            ready.set()
            assert self._server is not None
            self.loop.run_until_complete(self._server.serve())
            self.loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        if not self.admin_token:
            uid = self.call(self.state.auth.ensure_admin("admin", ADMIN_PASSWORD))
            self.admin_token = self.call(self.state.auth.create_api_token(uid, "tests", True))
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop gracefully (lifespan shutdown runs)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self._server = None
        self._thread = None

    @property
    def headers(self) -> dict[str, str]:
        """Admin bearer headers."""
        return {"Authorization": f"Bearer {self.admin_token}"}
