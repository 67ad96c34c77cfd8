"""The server over HTTPS (real TLS on 127.0.0.1): session cookie `Secure`, HSTS only there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hashfleet.core.tls import client_context, create_pair
from tests.support.live_server import ADMIN_PASSWORD, LiveServer


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    pair = create_pair(tmp_path / "tls")
    server = LiveServer(
        tmp_path / "server", tls_cert=str(pair.cert_path), tls_key=str(pair.key_path)
    ).start()
    try:
        yield server, pair.cert_path
    finally:
        server.stop()


def login(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(
        f"{url}/login",
        data={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"Origin": url},
    )


def test_https_login_sets_a_secure_cookie_and_hsts(tls_server: tuple[LiveServer, Path]) -> None:
    server, cert = tls_server
    assert server.url.startswith("https://")
    with httpx.Client(verify=client_context(cert)) as client:
        resp = login(client, server.url)
        assert resp.status_code == 303, resp.text
        cookie = resp.headers["set-cookie"].lower()
        assert "secure" in cookie.split("; ")
        assert "httponly" in cookie.split("; ")
        assert resp.headers["strict-transport-security"] == "max-age=31536000"
        page = client.get(f"{server.url}/")
        assert page.status_code == 200
        assert "strict-transport-security" in page.headers
        api = client.post(f"{server.url}/rpc/ping", json={}, headers=server.headers)
        assert api.status_code == 200
        assert "strict-transport-security" in api.headers


def test_plain_http_login_has_no_secure_flag_and_no_hsts(live_server: LiveServer) -> None:
    with httpx.Client() as client:
        resp = login(client, live_server.url)
        assert resp.status_code == 303, resp.text
        assert "secure" not in resp.headers["set-cookie"].lower().split("; ")
        assert "strict-transport-security" not in resp.headers


def test_plain_http_to_the_https_port_gets_nothing(tls_server: tuple[LiveServer, Path]) -> None:
    server, _cert = tls_server
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url.replace("https://", "http://") + "/login", timeout=5)
