"""The cluster PKI on disk, and TLS handshakes against its server context on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.apiserver.pki import (
    ClusterPKI,
    PKIError,
    UserInfo,
    identity_from_peer_cert,
)
from tests.support.certs import make_pki

FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key")


def load(directory: Path, *, ips: tuple[str, ...] = ("192.0.2.10",)) -> ClusterPKI:
    return ClusterPKI.load_or_create(directory, hostnames=["node-1"], ips=ips)


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(certificate: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
    )


# -- on disk ------------------------------------------------------------------


def test_first_start_creates_every_file_with_private_modes(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    load(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in FILES:
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        assert mode == (0o600 if name.endswith(".key") else 0o644), name
    assert not list(directory.glob("*.tmp")), "no temp file is left behind"


def test_ca_is_created_once_and_reused(tmp_path: Path) -> None:
    first = load(tmp_path)
    files = {name: (tmp_path / name).read_bytes() for name in FILES}
    second = load(tmp_path)
    assert second.ca_pem == first.ca_pem == files["ca.crt"]
    # Nothing needed renewing, so nothing was rewritten.
    assert {name: (tmp_path / name).read_bytes() for name in FILES} == files
    assert second.admin_cert_pem == first.admin_cert_pem
    assert second.admin_key_pem == first.admin_key_pem


def test_ca_certificate(tmp_path: Path) -> None:
    ca = cert(load(tmp_path).ca_path)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kybernetes-ca"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert lifetime >= datetime.timedelta(days=3650)


def test_serving_certificate_sans(tmp_path: Path) -> None:
    pki = ClusterPKI.load_or_create(
        tmp_path, hostnames=["Node-1.example"], ips=["192.0.2.10", "2001:db8::1"]
    )
    server = cert(tmp_path / "server.crt")
    assert server == pki.server_cert
    dns, ips = sans(server)
    assert dns == {
        "localhost",
        "node-1.example",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert ips == {"127.0.0.1", "::1", "10.96.0.1", "192.0.2.10", "2001:db8::1"}
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    server.verify_directly_issued_by(cert(tmp_path / "ca.crt"))
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert datetime.timedelta(days=365) <= lifetime <= datetime.timedelta(days=366)


def test_new_node_address_reissues_the_serving_certificate_under_the_same_ca(
    tmp_path: Path,
) -> None:
    first = load(tmp_path)
    ca_files = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()
    old_server = (tmp_path / "server.crt").read_bytes()

    second = load(tmp_path, ips=("192.0.2.10", "198.51.100.7"))
    assert ((tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()) == ca_files
    assert second.ca_pem == first.ca_pem
    assert (tmp_path / "server.crt").read_bytes() != old_server
    assert "198.51.100.7" in sans(cert(tmp_path / "server.crt"))[1]
    cert(tmp_path / "server.crt").verify_directly_issued_by(cert(tmp_path / "ca.crt"))

    # Fewer addresses than the certificate covers is no reason to re-issue.
    renewed = (tmp_path / "server.crt").read_bytes()
    load(tmp_path, ips=("198.51.100.7",))
    assert (tmp_path / "server.crt").read_bytes() == renewed


def test_certificates_near_expiry_are_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(tmp_path)
    old_server = (tmp_path / "server.crt").read_bytes()
    # 340 days later the 1-year leaves are within 30 days of expiry.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=340)
    monkeypatch.setattr("kybernetes.apiserver.pki._now", lambda: later)
    second = load(tmp_path)
    assert second.ca_pem == first.ca_pem
    assert (tmp_path / "server.crt").read_bytes() != old_server
    assert second.admin_cert_pem != first.admin_cert_pem
    assert cert(tmp_path / "server.crt").not_valid_after_utc > later + datetime.timedelta(days=300)


def test_damaged_leaf_is_reissued(tmp_path: Path) -> None:
    load(tmp_path)
    (tmp_path / "admin.key").write_bytes(b"not a key")
    pki = load(tmp_path)
    assert (tmp_path / "admin.key").read_bytes() == pki.admin_key_pem
    serialization.load_pem_private_key(pki.admin_key_pem, password=None)


def test_ca_certificate_without_its_key_is_never_replaced(tmp_path: Path) -> None:
    load(tmp_path)
    ca = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "ca.key").unlink()
    with pytest.raises(PKIError, match=r"ca\.key is missing"):
        load(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == ca


def test_invalid_node_address_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="invalid node address"):
        load(tmp_path, ips=("not-an-ip",))


def test_issue_client_certificate(tmp_path: Path) -> None:
    pki = load(tmp_path)
    cert_pem, key_pem = pki.issue_client_certificate(
        "system:node:node-1", ["system:nodes", "extra"], days=30
    )
    node = x509.load_pem_x509_certificate(cert_pem)
    node.verify_directly_issued_by(cert(tmp_path / "ca.crt"))
    assert identity_from_peer_cert(node.public_bytes(serialization.Encoding.DER)) == UserInfo(
        "system:node:node-1", ("system:nodes", "extra")
    )
    usage = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = node.not_valid_after_utc - node.not_valid_before_utc
    assert datetime.timedelta(days=30) <= lifetime <= datetime.timedelta(days=31)
    serialization.load_pem_private_key(key_pem, password=None)


def test_admin_certificate_identity(tmp_path: Path) -> None:
    pki = load(tmp_path)
    admin = x509.load_pem_x509_certificate(pki.admin_cert_pem)
    assert identity_from_peer_cert(admin.public_bytes(serialization.Encoding.DER)) == UserInfo(
        "kubernetes-admin", ("system:masters",)
    )
    assert identity_from_peer_cert(None) is None
    assert identity_from_peer_cert(b"") is None


# -- TLS ----------------------------------------------------------------------


class Server:
    """An asyncio TLS server that answers each connection with the client's identity."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.identities: list[UserInfo | None] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self.context, ssl_handshake_timeout=5
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        identity = identity_from_peer_cert(der)
        self.identities.append(identity)
        writer.write(repr(identity).encode() + b"\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()


def client_context(
    ca_pem: bytes, tmp_path: Path, cert_key: tuple[Path, Path] | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if cert_key is not None:
        context.load_cert_chain(*cert_key)
    return context


async def exchange(port: int, context: ssl.SSLContext, *, hostname: str) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=hostname
    )
    try:
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def admin_files(pki: ClusterPKI, tmp_path: Path) -> tuple[Path, Path]:
    cert_path, key_path = tmp_path / "client-admin.crt", tmp_path / "client-admin.key"
    cert_path.write_bytes(pki.admin_cert_pem)
    key_path.write_bytes(pki.admin_key_pem)
    return cert_path, key_path


async def test_server_context_is_tls12_or_later(tmp_path: Path) -> None:
    context = load(tmp_path / "pki").server_ssl_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL


async def test_handshake_with_the_admin_certificate(tmp_path: Path) -> None:
    pki = load(tmp_path / "pki")
    async with Server(pki.server_ssl_context()) as server:
        context = client_context(pki.ca_pem, tmp_path, admin_files(pki, tmp_path))
        for hostname in ("127.0.0.1", "localhost", "kubernetes.default.svc"):
            line = await exchange(server.port, context, hostname=hostname)
            assert line.startswith(b"UserInfo(name='kubernetes-admin'")
    assert server.identities == [UserInfo("kubernetes-admin", ("system:masters",))] * 3


async def test_handshake_without_a_client_certificate_is_anonymous(tmp_path: Path) -> None:
    pki = load(tmp_path / "pki")
    async with Server(pki.server_ssl_context()) as server:
        line = await exchange(server.port, client_context(pki.ca_pem, tmp_path), hostname="::1")
    assert line == b"None\n"
    assert server.identities == [None]


async def test_client_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    pki = load(tmp_path / "pki")
    foreign = make_pki(tmp_path)  # its own CA, and a client cert signed by it
    context = client_context(pki.ca_pem, tmp_path, (foreign.client_cert, foreign.client_key))
    async with Server(pki.server_ssl_context()) as server:
        # Under TLS 1.3 the client learns of the rejection only when it reads.
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            line = await exchange(server.port, context, hostname="127.0.0.1")
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
    assert server.identities == [], "the handler never ran: the handshake failed"


async def test_server_certificate_does_not_verify_for_other_names(tmp_path: Path) -> None:
    pki = load(tmp_path / "pki")
    async with Server(pki.server_ssl_context()) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await exchange(
                server.port, client_context(pki.ca_pem, tmp_path), hostname="example.com"
            )


def test_ips_are_normalised(tmp_path: Path) -> None:
    load(tmp_path, ips=("2001:0db8:0000::0001",))
    assert str(ipaddress.ip_address("2001:db8::1")) in sans(cert(tmp_path / "server.crt"))[1]
