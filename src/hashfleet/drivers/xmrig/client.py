"""Client of the XMRig HTTP API (``/2/summary``, ``/2/backends``, ``/json_rpc``)."""

from __future__ import annotations

from hashfleet.drivers.common.http import HttpJsonClient

API_PORT = 8080


class XmrigClient(HttpJsonClient):
    """One XMRig's HTTP API; the access token goes as ``Authorization: Bearer``."""

    def __init__(
        self, host: str, port: int = API_PORT, timeout: float = 5.0, token: str | None = None
    ) -> None:
        """Talk to ``http://host:port``; ``token`` is sent as ``Authorization: Bearer``."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        super().__init__(f"http://{host}:{port}", timeout, headers=headers)
        self.token = token
