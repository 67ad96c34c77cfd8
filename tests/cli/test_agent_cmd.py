"""``hashfleet agent``: after a rackReboot the process re-executes itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashfleet.cli import agent_cmd
from hashfleet.cli.main import app


def test_reexec_runs_the_same_python_with_the_same_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.setattr(
        sys, "orig_argv", ["python3", "-X", "dev", "/venv/bin/hashfleet", "agent", "--server", "u"]
    )
    agent_cmd.reexec()
    assert calls == [
        (sys.executable, [sys.executable, "-X", "dev", "/venv/bin/hashfleet", "agent",
                          "--server", "u"]),
    ]  # fmt: skip


class FakeAgent:
    """Stands in for :class:`Agent`: its run ends as after a rackReboot (or not)."""

    restart = True
    closed = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.restart_requested = False

    async def run(self) -> None:
        self.restart_requested = FakeAgent.restart

    def close(self) -> None:
        FakeAgent.closed += 1


@pytest.mark.parametrize("restart", [True, False])
def test_the_agent_command_reexecs_only_after_a_restart_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restart: bool
) -> None:
    reexecs: list[int] = []
    monkeypatch.setattr(agent_cmd, "Agent", FakeAgent)
    monkeypatch.setattr(agent_cmd, "reexec", lambda: reexecs.append(FakeAgent.closed))
    monkeypatch.setattr(FakeAgent, "restart", restart)
    monkeypatch.setattr(FakeAgent, "closed", 0)
    args = ["agent", "--server", "http://127.0.0.1:1", "--token", "t", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert reexecs == ([1] if restart else [])  # closed before re-executing
