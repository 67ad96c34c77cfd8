"""TLS for the server and its agents: create a self-signed pair, check a pair, fingerprints.

A self-signed certificate needs no CA: agents either trust the certificate file itself
(``--ca-file``) or pin its SHA-256 fingerprint (``--pin-sha256``). Also the checks that
refuse plain HTTP beyond loopback unless the operator asked for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hashfleet.core.errors import InsecureBind, InsecureUrl, TlsInvalid
from hashfleet.core.files import make_private_dir, write_private

KeyType = Literal["ec", "rsa"]

CERT_FILE = "server.crt"
KEY_FILE = "server.key"
# Apple's (and so every browser's) ceiling for a TLS server certificate's lifetime.
DEFAULT_DAYS = 825
# Always in the SANs: the server is reachable from its own machine under these names.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")

CERT_HOWTO = (
    "create a certificate with `hashfleet certs create --out /etc/hashfleet/tls --host NAME` "
    "and start with `--tls-cert /etc/hashfleet/tls/server.crt "
    "--tls-key /etc/hashfleet/tls/server.key`"
)


@dataclass(frozen=True)
class CertPair:
    """Where ``certs create`` wrote a pair, and what agents need to know about it."""

    cert_path: Path
    key_path: Path
    fingerprint: str
    hosts: tuple[str, ...]
    not_after: dt.datetime


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii() or not host or any(c in host for c in " /:@"):
        raise TlsInvalid(f"not a host name or IP address: {host!r} (use the IDNA xn-- form)")
    return x509.DNSName(host.lower())


def san_hosts(hosts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The names a certificate for ``hosts`` covers: those first, then the local names."""
    seen: dict[str, None] = {}
    for host in (*hosts, *LOCAL_NAMES):
        host = host.strip()
        if host:
            seen.setdefault(host.lower(), None)
    return tuple(seen)


def create_pair(
    out_dir: Path,
    hosts: list[str] | tuple[str, ...] = (),
    days: int = DEFAULT_DAYS,
    key_type: KeyType = "ec",
    overwrite: bool = False,
) -> CertPair:
    """Write a self-signed server certificate and its key (0600) into ``out_dir``.

    The certificate is an end-entity certificate (not a CA): it can only vouch for itself,
    so trusting it or pinning it never lets it sign anything else.
    """
    if days < 1:
        raise TlsInvalid("--days must be at least 1")
    names = san_hosts(hosts)
    sans = [_san(name) for name in names]
    cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
    if not overwrite and (cert_path.exists() or key_path.exists()):
        raise TlsInvalid(f"{cert_path} or {key_path} exists already (give --force to replace)")
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hashfleet (self-signed)"),
        ]
    )
    # A few minutes back: an agent whose clock runs slightly behind must not see a
    # certificate from the future.
    now = dt.datetime.now(dt.UTC)
    not_before = now - dt.timedelta(minutes=5)
    not_after = now + dt.timedelta(days=days)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                # RSA key exchange encrypts to the key; EC keys only sign.
                key_encipherment=key_type == "rsa",
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    make_private_dir(out_dir)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key first and owner-only from its first byte; the certificate is public.
    write_private(key_path, key_pem.decode())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    return CertPair(cert_path, key_path, fingerprint(cert), names, not_after)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER bytes as ``AB:CD:…`` (what ``--pin-sha256`` takes)."""
    return format_fingerprint(cert.fingerprint(hashes.SHA256()))


def format_fingerprint(digest: bytes) -> str:
    """``digest`` as upper-case hex pairs joined by colons, as ``openssl x509`` prints it."""
    return ":".join(f"{b:02X}" for b in digest)


def parse_pin(text: str) -> bytes:
    """The 32 bytes of a SHA-256 pin given as hex, with or without colons or spaces."""
    cleaned = "".join(c for c in text.strip() if c not in ": ").lower()
    cleaned = cleaned.removeprefix("sha256/").removeprefix("sha256=")
    try:
        digest = bytes.fromhex(cleaned)
    except ValueError:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise TlsInvalid(
            f"--pin-sha256 must be a SHA-256 fingerprint (64 hex digits), got {text!r}"
        )
    return digest


def load_pair(cert_path: str | Path, key_path: str | Path) -> x509.Certificate:
    """Read and check a certificate and its key; returns the certificate.

    Raises ``TlsInvalid`` when either file cannot be read or parsed, when the key is
    encrypted, or when the key does not belong to the certificate — reasons that would
    otherwise surface as a bare OpenSSL error deep inside uvicorn.
    """
    if not cert_path or not key_path:
        raise TlsInvalid("give both --tls-cert and --tls-key (or neither)")
    cert_path, key_path = Path(cert_path), Path(key_path)
    try:
        cert_pem = cert_path.read_bytes()
    except OSError as exc:
        raise TlsInvalid(f"cannot read the certificate {cert_path}: {exc.strerror}") from exc
    try:
        key_pem = key_path.read_bytes()
    except OSError as exc:
        raise TlsInvalid(f"cannot read the key {key_path}: {exc.strerror}") from exc
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TlsInvalid(f"{cert_path} is not a PEM certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as exc:
        raise TlsInvalid(f"{key_path} is encrypted; give the server an unencrypted key") from exc
    except ValueError as exc:
        raise TlsInvalid(f"{key_path} is not a PEM private key: {exc}") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise TlsInvalid(f"the key {key_path} does not belong to the certificate {cert_path}")
    # What uvicorn will do with the files: catches what cryptography accepts and OpenSSL
    # does not (an unsupported key type, say).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise TlsInvalid(f"OpenSSL refuses {cert_path} with {key_path}: {exc}") from exc
    return cert


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable only from this machine (``localhost``, 127/8, ::1)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # Any other name may resolve anywhere; treat it as reachable by others.
        return False


def check_bind(host: str, tls: bool, allow_insecure_http: bool) -> None:
    """Refuse plain HTTP on a non-loopback address unless explicitly allowed."""
    if tls or allow_insecure_http or is_loopback(host):
        return
    raise InsecureBind(
        f"refusing to serve plain HTTP on {host}: passwords, session cookies and tokens "
        f"would cross the network unencrypted. Either {CERT_HOWTO}, or terminate TLS in a "
        "reverse proxy and pass --allow-insecure-http (HASHFLEET_ALLOW_INSECURE_HTTP=1)."
    )


def check_server_url(url: str, allow_insecure_http: bool, tls_options: bool = False) -> None:
    """Refuse an agent's ``http://`` URL to another machine unless explicitly allowed.

    ``tls_options`` says a CA file or pin was given: over plain HTTP they would silently
    protect nothing, so that is an error even on loopback.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureUrl(f"the server URL must be https://host[:port] or http://…, got {url!r}")
    if parts.scheme == "https":
        return
    if tls_options:
        raise InsecureUrl(f"--ca-file/--pin-sha256 need an https:// server URL, got {url!r}")
    if allow_insecure_http or is_loopback(parts.hostname):
        return
    raise InsecureUrl(
        f"refusing to send the rack token and snapshots over plain HTTP to {parts.hostname}: "
        "use an https:// URL (with --ca-file or --pin-sha256 for a self-signed certificate), "
        "or pass --allow-insecure-http (HASHFLEET_ALLOW_INSECURE_HTTP=1)."
    )


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """A verifying client context that trusts the certificates in ``ca_file``.

    The file may hold a CA or the server's own self-signed certificate; partial-chain
    verification lets a non-CA certificate in the file be a trust anchor by itself.
    Host names are still checked against the certificate's SANs.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsInvalid(f"cannot load --ca-file {ca_file}: {exc}") from exc
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
