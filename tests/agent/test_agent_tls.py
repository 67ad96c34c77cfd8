"""The agent against a real HTTPS server on 127.0.0.1: --ca-file and --pin-sha256 ship
batches; a wrong pin ships nothing, says why, and loses nothing from the spool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hashfleet.agent.runner import Agent
from hashfleet.agent.spool import Spool, encode_item
from hashfleet.core.errors import InsecureUrl, TlsInvalid
from hashfleet.core.tls import CertPair, client_context, create_pair
from hashfleet.sim.farm import Farm
from tests.agent.test_agent_end_to_end import stored, wait_until
from tests.support.live_server import LiveServer


@contextlib.asynccontextmanager
async def tls_fleet(
    tmp_path: Path, ip_base: str
) -> AsyncIterator[tuple[LiveServer, str, CertPair]]:
    """An HTTPS server with one rack of two simulated miners; yields server, token, pair."""
    pair = create_pair(tmp_path / "tls", key_type="ec")
    farm = Farm(antminers=2, xmrigs=0, ip_base=ip_base)
    await farm.start()
    server = LiveServer(
        tmp_path / "server", tls_cert=str(pair.cert_path), tls_key=str(pair.key_path)
    )
    await asyncio.to_thread(server.start)
    try:
        token = await asyncio.to_thread(register_tls, server, farm, pair)
        yield server, token, pair
    finally:
        await asyncio.to_thread(server.stop)
        await farm.stop()


def register_tls(server: LiveServer, farm: Farm, pair: CertPair) -> str:
    """Register a rack with the farm's devices over HTTPS; the rack's agent token."""
    with httpx.Client(
        base_url=server.url, headers=server.headers, verify=client_context(pair.cert_path)
    ) as client:
        client.post("/rpc/registerRack", json={"id": "r1", "type": "miner"}).raise_for_status()
        for dev in farm.devices:
            opts = {"family": dev.family, "address": dev.address, "port": dev.port, "timeout": 2}
            client.post("/rpc/registerThing", json={"rack": "r1", "opts": opts}).raise_for_status()
        resp = client.post("/api/racks/r1/token")
        resp.raise_for_status()
        return str(resp.json()["token"])


async def run_agent(agent: Agent) -> asyncio.Task[None]:
    return asyncio.create_task(agent.run())


async def stop(agent: Agent, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    agent.close()


async def test_agent_with_ca_file_ships_over_https(tmp_path: Path) -> None:
    async with tls_fleet(tmp_path, "127.67.0.1") as (server, token, pair):
        agent = Agent(
            server.url,
            token,
            tmp_path / "agent",
            interval=0.2,
            refresh_s=0.5,
            flush_s=0.02,
            ca_file=pair.cert_path,
        )
        task = await run_agent(agent)
        try:
            await wait_until(lambda: stored(server) >= 10)
            assert agent.sender is not None and agent.sender.last_error is None
        finally:
            await stop(agent, task)


async def test_right_pin_ships_and_wrong_pin_keeps_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with tls_fleet(tmp_path, "127.67.1.1") as (server, token, pair):
        assert server.state is not None
        thing_id = next(iter(server.state.live.things))
        # Snapshots an earlier run left behind, waiting for the server.
        spool = Spool(tmp_path / "agent" / "spool.db")
        now = int(time.time() * 1000)
        spool.append([encode_item(thing_id, now + i, None, "ERR_DEVICE_OFFLINE") for i in range(7)])
        spool.close()

        wrong = create_pair(tmp_path / "other").fingerprint
        caplog.set_level(logging.WARNING)
        agent = Agent(
            server.url, token, tmp_path / "agent", interval=0.2, refresh_s=0.5, flush_s=0.02,
            pin_sha256=wrong,
        )  # fmt: skip
        task = await run_agent(agent)
        try:
            await wait_until(
                lambda: (
                    agent.sender is not None
                    and (agent.sender.last_error or "").startswith("ERR_TLS_PIN_MISMATCH")
                )
            )
            # Nothing reached the server, nothing left the spool.
            await asyncio.sleep(0.3)
            assert stored(server) == 0
            assert agent.spool.pending() == 7
        finally:
            await stop(agent, task)
        message = next(
            r.getMessage()
            for r in caplog.records
            if r.name == "hashfleet.agent.sender" and r.levelno == logging.ERROR
        )
        assert message.startswith("ERR_TLS_PIN_MISMATCH")
        assert pair.fingerprint in message  # what the server presented
        assert wrong in message  # what was pinned
        assert "7+ snapshots stay in the spool" in message

        agent = Agent(
            server.url, token, tmp_path / "agent", interval=0.2, refresh_s=0.5, flush_s=0.02,
            pin_sha256=pair.fingerprint.replace(":", "").lower(),
        )  # fmt: skip
        task = await run_agent(agent)
        try:
            await wait_until(lambda: agent.poller is not None and agent.poller.things > 0)
            await wait_until(lambda: agent.produced >= 4)
            assert await agent.drain()
            # The seven from the failed run arrived, plus everything this run polled.
            assert stored(server) == 7 + agent.produced
        finally:
            await stop(agent, task)


async def test_without_trust_the_agent_says_the_certificate_is_untrusted(tmp_path: Path) -> None:
    async with tls_fleet(tmp_path, "127.67.2.1") as (server, token, _pair):
        spool = Spool(tmp_path / "agent" / "spool.db")
        spool.append([encode_item("t1", int(time.time() * 1000), None, "ERR_DEVICE_OFFLINE")])
        spool.close()
        agent = Agent(server.url, token, tmp_path / "agent", refresh_s=0.5, flush_s=0.02)
        task = await run_agent(agent)
        try:
            await wait_until(
                lambda: (
                    agent.sender is not None
                    and (agent.sender.last_error or "").startswith("ERR_TLS_UNTRUSTED")
                )
            )
            assert agent.spool.pending() == 1
        finally:
            await stop(agent, task)


def test_agent_refuses_insecure_urls_and_bad_tls_options(tmp_path: Path) -> None:
    with pytest.raises(InsecureUrl):
        Agent("http://192.0.2.10:8000", "hfr_x", tmp_path / "a")
    Agent("http://192.0.2.10:8000", "hfr_x", tmp_path / "b", allow_insecure_http=True).close()
    Agent("http://127.0.0.1:8000", "hfr_x", tmp_path / "c").close()
    pair = create_pair(tmp_path / "tls")
    with pytest.raises(InsecureUrl):
        Agent("http://127.0.0.1:8000", "hfr_x", tmp_path / "d", pin_sha256=pair.fingerprint)
    with pytest.raises(TlsInvalid):
        Agent(
            "https://192.0.2.10",
            "hfr_x",
            tmp_path / "e",
            ca_file=pair.cert_path,
            pin_sha256=pair.fingerprint,
        )
    with pytest.raises(TlsInvalid):
        Agent("https://192.0.2.10", "hfr_x", tmp_path / "f", ca_file=tmp_path / "missing.pem")
    # Refused before the spool was opened.
    assert not (tmp_path / "a").exists()
