"""Client of the stock Antminer web UI: ``/cgi-bin/*.cgi`` on port 80, HTTP Digest.

The realm is "antMiner Configuration" and the factory login root/root. Reads are GETs;
writes are POSTs with a JSON body. One kept-alive connection per miner (HttpJsonClient).
"""

from __future__ import annotations

from typing import Any

from hashfleet.drivers.common.http import HttpJsonClient

WEB_PORT = 80
REALM = "antMiner Configuration"
DEFAULT_USER = "root"
DEFAULT_PASSWORD = "root"


class AntminerWebClient:
    """The web UI of one miner at ``address:port``."""

    def __init__(
        self,
        address: str,
        port: int = WEB_PORT,
        timeout: float = 5.0,
        username: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        """Log in as ``username``/``password`` (HTTP Digest) on ``http://address:port``."""
        self.base = f"http://{address}:{port}"
        self.http = HttpJsonClient(self.base, timeout, digest=(username, password))

    async def _get(self, name: str) -> Any:
        return await self.http.request("GET", f"/cgi-bin/{name}.cgi")

    async def system_info(self) -> Any:
        """``get_system_info.cgi``: model, MAC, hostname, serial."""
        return await self._get("get_system_info")

    async def miner_conf(self) -> Any:
        """``get_miner_conf.cgi``: the saved pools, work mode and fan settings."""
        return await self._get("get_miner_conf")

    async def blink_status(self) -> Any:
        """``get_blink_status.cgi``: ``{"blink": bool}``."""
        return await self._get("get_blink_status")

    async def summary(self) -> Any:
        """``summary.cgi``: totals and status lights."""
        return await self._get("summary")

    async def stats(self) -> Any:
        """``stats.cgi``: per-chain rates, chips, temperatures, fans."""
        return await self._get("stats")

    async def pools(self) -> Any:
        """``pools.cgi``: the running pools."""
        return await self._get("pools")

    async def set_miner_conf(self, doc: dict[str, Any]) -> Any:
        """POST ``set_miner_conf.cgi``: save and apply (the mining process restarts)."""
        return await self.http.request("POST", "/cgi-bin/set_miner_conf.cgi", doc)

    async def blink(self, on: bool) -> Any:
        """POST ``blink.cgi``: start or stop the locate light; answers B000 / B100."""
        return await self.http.request("POST", "/cgi-bin/blink.cgi", {"blink": on})

    async def reboot(self) -> None:
        """GET ``reboot.cgi``: the unit reboots; the body (empty or HTML) means nothing."""
        await self.http.request("GET", "/cgi-bin/reboot.cgi", raw=True)

    async def close(self) -> None:
        """Close the kept-alive connection."""
        await self.http.close()
