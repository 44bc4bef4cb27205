"""TLS for the ingress: one server SSLContext per Secret, chosen by SNI.

The listening context carries a default self-signed certificate (what a
client sees for a name no Ingress claims, as ingress-nginx's "fake
certificate"); its `sni_callback` swaps in the context of the Secret that
the routing table names for the server name. Contexts are built off the
event loop (the ssl module reads keys only from files) and cached by the
Secret's resourceVersion, so a change of routes does not reload every key.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "DEFAULT_CERT_NAME",
    "CertificateCache",
    "self_signed",
    "server_context",
    "sni_callback",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_CERT_NAME = "Kybernetes Ingress Controller Fake Certificate"
TLS_SECRET_TYPE = "kubernetes.io/tls"


def self_signed(common_name: str = DEFAULT_CERT_NAME, *, days: int = 365) -> tuple[bytes, bytes]:
    """A certificate and its key, PEM-encoded, signed by themselves."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for one certificate (blocking: file I/O; run in a thread)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Both HTTP/1.1 only: the proxy speaks HTTP/1.1 (aiohttp has no HTTP/2 server).
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="kyb-ingress-") as scratch:
        cert, key = Path(scratch) / "tls.crt", Path(scratch) / "tls.key"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(str(cert), str(key))
    return context


def _pems(secret: Obj) -> tuple[bytes, bytes] | None:
    data = secret.get("data") or {}
    try:
        cert = base64.b64decode(data.get("tls.crt") or "", validate=True)
        key = base64.b64decode(data.get("tls.key") or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    return (cert, key) if cert and key else None


class CertificateCache:
    """SSLContexts of the Secrets the routing table names, kept by resourceVersion."""

    def __init__(self) -> None:
        self._contexts: dict[str, tuple[str, ssl.SSLContext]] = {}

    def contexts(self) -> dict[str, ssl.SSLContext]:
        return {key: ctx for key, (_, ctx) in self._contexts.items()}

    def refresh(self, wanted: Iterable[str], secrets: Mapping[str, Obj]) -> None:
        """Load what changed (blocking: call through asyncio.to_thread)."""
        fresh: dict[str, tuple[str, ssl.SSLContext]] = {}
        for key in set(wanted):
            secret = secrets.get(key)
            if secret is None:
                continue
            version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
            cached = self._contexts.get(key)
            if cached is not None and cached[0] == version:
                fresh[key] = cached
                continue
            pems = _pems(secret)
            if pems is None:
                log.warning("secret %s holds no tls.crt and tls.key; serving the default "
                            "certificate", key)  # fmt: skip
                continue
            try:
                fresh[key] = (version, server_context(*pems))
            except (ssl.SSLError, ValueError) as err:
                log.warning("secret %s: unusable certificate (%s); serving the default", key, err)
        self._contexts = fresh


def sni_callback(
    choose: Callable[[str], ssl.SSLContext | None],
) -> Callable[[ssl.SSLObject, str | None, ssl.SSLContext], None]:
    """An `sni_callback` that moves a handshake to the context `choose` picks."""

    def callback(sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name:
            chosen = choose(server_name)
            if chosen is not None:
                sslobj.context = chosen

    return callback
