"""ServerState builds the router from the history config and wires it to the alert engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.core.settings import Settings
from hashfleet.server.state import ServerState
from tests.server.alerts.notify.fakes import FakeHttp, make_alert, until


def settings(tmp_path: Path, notifiers: object) -> Settings:
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"notifiers": notifiers}))
    return Settings.from_env(data_dir=tmp_path / "data", database_url="", history_config=str(path))


async def test_server_state_wiring(tmp_path: Path) -> None:
    async with FakeHttp() as fake:
        state = ServerState(settings(tmp_path, [{"type": "webhook", "url": fake.url}]))
        assert state.alerts.notify == state.notifier.submit
        await state.start()
        try:
            state.alerts.notify("opened", make_alert())
            await until(lambda: state.notifier.stats()["webhook#0"]["sent"] == 1)
        finally:
            await state.stop()
    assert len(fake.received) == 1


def test_bad_notifiers_fail_start_up(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as err:
        ServerState(settings(tmp_path, [{"type": "webhook"}]))
    assert err.value.code == "ERR_CONFIG_INVALID"
