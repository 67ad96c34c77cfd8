"""Pool account driver: reads the pool's stats API for one account.

``opts.params``: ``account`` (OCEAN: the payout address; Braiins: the user name),
``api`` (``"ocean"`` or ``"braiins"``), ``api_key`` (Braiins: the access token, sent as
``Pool-Auth-Token``; OCEAN's API is public). ``opts.address``/``port`` name the API host;
``params["url"]`` (e.g. ``https://api.ocean.xyz``) overrides both. The pool answering 401,
403 or 5xx (maintenance) raises ``DeviceCommandFailed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hashfleet.core.errors import BadRequest, DeviceCommandFailed
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.pool_account.parse import parse_braiins, parse_ocean
from hashfleet.model.snapshot import Snapshot

APIS = ("ocean", "braiins")


def _opts_invalid(message: str) -> BadRequest:
    return BadRequest(message, code="ERR_THING_OPTS_INVALID")


class PoolAccountDriver:
    """Reads one pool account; no controls (a pool's account API is read-only)."""

    family: ClassVar[str] = "pool_account"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Check ``params`` (``ERR_THING_OPTS_INVALID``) and prepare the HTTP client."""
        params = opts.params
        api, account, key = params.get("api", "ocean"), params.get("account"), params.get("api_key")
        if api not in APIS:
            raise _opts_invalid(f"params.api must be one of {', '.join(APIS)}, not {api!r}")
        if not isinstance(account, str) or not account or "/" in account:
            raise _opts_invalid("params.account (the pool account or address) is required")
        if key is not None and not isinstance(key, str):
            raise _opts_invalid("params.api_key must be a string")
        if api == "braiins" and not key:
            raise _opts_invalid("params.api_key is required for the braiins api")
        url = params.get("url")
        if url is not None and not isinstance(url, str):
            raise _opts_invalid("params.url must be a string")
        self.api: str = api
        self.account: str = account
        base = url or f"http://{opts.address}:{opts.port or 80}"
        headers = {"Pool-Auth-Token": key} if api == "braiins" and key else {}
        self.client = HttpJsonClient(base, opts.timeout, headers=headers)

    async def collect(self) -> Snapshot:
        """One poll: the account summary and the workers (OCEAN: also the earnings)."""
        if self.api == "ocean":
            snap = await self._get(f"/v1/statsnap/{self.account}")
            rates = await self._get(f"/v1/user_hashrate/{self.account}")
            earnpay: Any = None
            try:
                earnpay = await self._get(f"/v1/earnpay/{self.account}")
            except DeviceCommandFailed as exc:
                if exc.details.get("http_status") != 404:
                    raise
            return parse_ocean(snap, rates, earnpay, self.account)
        profile = await self._get("/accounts/profile/json/btc/")
        workers = await self._get("/accounts/workers/json/btc/")
        return parse_braiins(profile, workers, self.account)

    async def _get(self, path: str) -> Any:
        return await self.client.request("GET", path)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
