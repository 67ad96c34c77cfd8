"""``GET /api/capabilities``: the actions each driver family can run, for any logged-in person."""

from __future__ import annotations

import httpx

from hashfleet.drivers.base import CAPABILITIES
from hashfleet.drivers.registry import BUILTIN
from hashfleet.server.actions.model import RACK_ACTIONS
from tests.server.api.test_actions_api import bearer, ok
from tests.support.live_server import LiveServer


def test_capabilities_per_family_for_any_person(live_server: LiveServer) -> None:
    viewer = bearer(live_server, "vic", "viewer")
    body = ok(httpx.get(f"{live_server.url}/api/capabilities", headers=viewer))
    families = body["families"]
    assert set(BUILTIN) <= set(families)
    assert families["antminer"] == ["reboot", "set_led", "set_pools", "set_power_mode"]
    assert families["xmrig"] == ["pause", "resume", "set_config"]
    assert families["modbus_meter"] == []
    assert all(set(caps) <= CAPABILITIES for caps in families.values())
    assert body["capabilities"] == sorted(CAPABILITIES)
    assert body["rackActions"] == list(RACK_ACTIONS)
    assert httpx.get(f"{live_server.url}/api/capabilities").status_code == 401
