"""Transport security at the command line: `certs create`, the server over HTTPS, and the
refusals (plain HTTP beyond loopback, a broken pair, an http:// agent URL)."""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from typer.testing import CliRunner

from hashfleet.cli.main import app
from hashfleet.core.tls import client_context, create_pair, format_fingerprint
from tests.support.live_server import free_port

runner = CliRunner()


def test_certs_create_writes_the_pair_and_prints_its_fingerprint(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = runner.invoke(
        app, ["certs", "create", "--out", str(out), "--host", "fleet.lan", "--host", "10.1.2.3"]
    )
    assert result.exit_code == 0, result.output
    cert_path, key_path = out / "server.crt", out / "server.key"
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert cert_path.stat().st_mode & 0o777 == 0o644
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"fleet.lan", "localhost"}
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {
        "10.1.2.3",
        "127.0.0.1",
        "::1",
    }
    # The printed fingerprint is what a TLS client computes from the certificate it gets.
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    printed = re.search(r"SHA-256 fingerprint: ([0-9A-F:]{95})", result.output)
    assert printed is not None
    assert printed.group(1) == format_fingerprint(hashlib.sha256(der).digest())
    # A second run keeps the existing pair unless told otherwise.
    before = cert_path.read_bytes()
    again = runner.invoke(app, ["certs", "create", "--out", str(out)])
    assert again.exit_code == 2
    assert "ERR_TLS_INVALID" in again.output
    forced = runner.invoke(app, ["certs", "create", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert cert_path.read_bytes() != before


def test_server_refuses_plain_http_beyond_loopback(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["server", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 2
    assert "ERR_INSECURE_BIND" in result.output
    assert "hashfleet certs create" in result.output
    assert "--allow-insecure-http" in result.output
    # Refused before anything was created.
    assert not (tmp_path / "data").exists()


def test_server_refuses_a_mismatched_or_unreadable_pair(tmp_path: Path) -> None:
    a = create_pair(tmp_path / "a")
    b = create_pair(tmp_path / "b")
    data = ["--data-dir", str(tmp_path / "data")]
    mismatch = runner.invoke(
        app, ["server", "--tls-cert", str(a.cert_path), "--tls-key", str(b.key_path), *data]
    )
    assert mismatch.exit_code == 2
    assert "ERR_TLS_INVALID" in mismatch.output
    assert "does not belong" in mismatch.output
    missing = runner.invoke(
        app, ["server", "--tls-cert", str(tmp_path / "no.crt"), "--tls-key", str(a.key_path)]
    )
    assert missing.exit_code == 2
    assert "ERR_TLS_INVALID" in missing.output
    half = runner.invoke(app, ["server", "--tls-cert", str(a.cert_path), *data])
    assert half.exit_code == 2
    assert "ERR_TLS_INVALID" in half.output
    assert not (tmp_path / "data").exists()


def test_agent_refuses_plain_http_to_another_machine(tmp_path: Path) -> None:
    base = ["agent", "--token", "hfr_x", "--data-dir", str(tmp_path / "agent")]
    refused = runner.invoke(app, [*base, "--server", "http://10.0.0.5:8000"])
    assert refused.exit_code == 2
    assert "ERR_INSECURE_URL" in refused.output
    assert not (tmp_path / "agent").exists()
    pair = create_pair(tmp_path / "tls")
    both = runner.invoke(
        app,
        [
            *base,
            "--server",
            "https://10.0.0.5:8000",
            "--ca-file",
            str(pair.cert_path),
            "--pin-sha256",
            pair.fingerprint,
        ],
    )
    assert both.exit_code == 2
    assert "ERR_TLS_INVALID" in both.output
    bad_pin = runner.invoke(app, [*base, "--server", "https://10.0.0.5", "--pin-sha256", "ab"])
    assert bad_pin.exit_code == 2
    assert "ERR_TLS_INVALID" in bad_pin.output


def test_server_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    pair = create_pair(tmp_path / "tls")
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hashfleet",
                "server",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
                "--tls-cert",
                str(pair.cert_path),
                "--tls-key",
                str(pair.key_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("HASHFLEET_")},
        )
    url = f"https://127.0.0.1:{port}"
    try:
        verify = client_context(pair.cert_path)
        deadline = time.monotonic() + 45
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                resp = httpx.get(f"{url}/login", verify=verify, timeout=2)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        assert resp.status_code == 200
        assert resp.headers["strict-transport-security"] == "max-age=31536000"
        served = ssl.get_server_certificate(("127.0.0.1", port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(
            pair.cert_path.read_text()
        )
        output = log_path.read_text()
        assert f"hashfleet server: {url}" in output
        assert pair.fingerprint in output
        # Plain HTTP on the HTTPS port gets no answer at all.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        # Without the certificate a client refuses the server.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/login", timeout=5)
    finally:
        proc.terminate()
        proc.wait(15)
