"""``Strict-Transport-Security`` on responses served over HTTPS (and only there)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One year: after the first HTTPS visit a browser refuses to fall back to plain HTTP.
# No includeSubDomains: the server does not know what else lives under its name.
HSTS_VALUE = b"max-age=31536000"


class HstsMiddleware:
    """Adds the HSTS header to every HTTP response whose request came over HTTPS.

    Over plain HTTP the header is meaningless (browsers ignore it) and, sent by a
    loopback or dev server, would only confuse; behind a TLS reverse proxy the request's
    scheme is https once uvicorn trusts the proxy's ``X-Forwarded-Proto``.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the header to the response start if HTTPS."""
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"strict-transport-security" for name, _ in headers):
                    headers.append((b"strict-transport-security", HSTS_VALUE))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_hsts)
