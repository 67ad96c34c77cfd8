"""core/tls.py: self-signed pairs, pair checks, fingerprints, pins, the plain-HTTP guards."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hashfleet.core.errors import InsecureBind, InsecureUrl, TlsInvalid
from hashfleet.core.tls import (
    check_bind,
    check_server_url,
    create_pair,
    fingerprint,
    format_fingerprint,
    is_loopback,
    load_pair,
    parse_pin,
)


def sans(cert_path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(ext.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return dns, ips


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_create_pair_writes_a_usable_self_signed_server_certificate(
    tmp_path: Path, key_type: str
) -> None:
    out = tmp_path / "tls"
    pair = create_pair(out, ["Fleet.Example", "10.0.0.7"], days=30, key_type=key_type)  # type: ignore[arg-type]
    assert pair.key_path.stat().st_mode & 0o777 == 0o600
    assert pair.cert_path.stat().st_mode & 0o777 == 0o644
    assert out.stat().st_mode & 0o777 == 0o700
    dns, ips = sans(pair.cert_path)
    assert dns == {"fleet.example", "localhost"}
    assert ips == {"10.0.0.7", "127.0.0.1", "::1"}
    cert = load_pair(pair.cert_path, pair.key_path)
    # The fingerprint is the SHA-256 of the DER certificate, as a TLS client sees it.
    der = ssl.PEM_cert_to_DER_cert(pair.cert_path.read_text())
    assert pair.fingerprint == format_fingerprint(hashlib.sha256(der).digest())
    assert fingerprint(cert) == pair.fingerprint
    assert parse_pin(pair.fingerprint) == hashlib.sha256(der).digest()
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    assert cert.not_valid_after_utc > cert.not_valid_before_utc
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    key = serialization.load_pem_private_key(pair.key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey if key_type == "ec" else rsa.RSAPrivateKey)


def test_create_pair_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    create_pair(tmp_path)
    with pytest.raises(TlsInvalid, match="--force"):
        create_pair(tmp_path)
    before = (tmp_path / "server.crt").read_bytes()
    create_pair(tmp_path, overwrite=True)
    assert (tmp_path / "server.crt").read_bytes() != before
    with pytest.raises(TlsInvalid):
        create_pair(tmp_path / "x", ["bad host/name"])
    with pytest.raises(TlsInvalid):
        create_pair(tmp_path / "y", days=0)


def test_load_pair_refuses_unreadable_mismatched_and_encrypted(tmp_path: Path) -> None:
    a = create_pair(tmp_path / "a")
    b = create_pair(tmp_path / "b")
    with pytest.raises(TlsInvalid, match="does not belong") as mismatch:
        load_pair(a.cert_path, b.key_path)
    assert mismatch.value.code == "ERR_TLS_INVALID"
    with pytest.raises(TlsInvalid, match="cannot read"):
        load_pair(tmp_path / "missing.crt", a.key_path)
    with pytest.raises(TlsInvalid, match="cannot read"):
        load_pair(a.cert_path, tmp_path / "missing.key")
    with pytest.raises(TlsInvalid, match="not a PEM certificate"):
        load_pair(a.key_path, a.key_path)
    with pytest.raises(TlsInvalid, match="both"):
        load_pair(a.cert_path, "")
    key = serialization.load_pem_private_key(a.key_path.read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TlsInvalid, match="encrypted"):
        load_pair(a.cert_path, encrypted)


def test_parse_pin_accepts_hex_forms_and_refuses_others() -> None:
    digest = bytes(range(32))
    assert parse_pin(format_fingerprint(digest)) == digest
    assert parse_pin(digest.hex()) == digest
    assert parse_pin(digest.hex().upper()) == digest
    for bad in ("", "abcd", digest.hex() + "00", "zz" * 32):
        with pytest.raises(TlsInvalid):
            parse_pin(bad)


def test_loopback_and_the_plain_http_guards() -> None:
    for host in ("127.0.0.1", "127.10.0.1", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "fleet.example", "127.0.0.1.nip.io"):
        assert not is_loopback(host), host
    check_bind("127.0.0.1", tls=False, allow_insecure_http=False)
    check_bind("0.0.0.0", tls=True, allow_insecure_http=False)
    check_bind("0.0.0.0", tls=False, allow_insecure_http=True)
    with pytest.raises(InsecureBind, match="certs create") as bind:
        check_bind("0.0.0.0", tls=False, allow_insecure_http=False)
    assert bind.value.code == "ERR_INSECURE_BIND"

    check_server_url("http://127.0.0.1:8000", allow_insecure_http=False)
    check_server_url("https://fleet.example", allow_insecure_http=False)
    check_server_url("http://10.0.0.5:8000", allow_insecure_http=True)
    with pytest.raises(InsecureUrl) as url:
        check_server_url("http://10.0.0.5:8000", allow_insecure_http=False)
    assert url.value.code == "ERR_INSECURE_URL"
    with pytest.raises(InsecureUrl, match="need an https"):
        check_server_url("http://127.0.0.1:8000", allow_insecure_http=True, tls_options=True)
    with pytest.raises(InsecureUrl):
        check_server_url("ftp://10.0.0.5", allow_insecure_http=True)
