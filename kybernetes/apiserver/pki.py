"""The cluster's PKI: one CA made on first start and never replaced, and the leaves it signs.

Every client (the admin kubeconfig, nodes that joined, pods through their
service-account CA bundle) trusts the CA, so the CA is the one thing here that
must survive: it is loaded when present and only ever created when absent. The
leaves are cheap and are re-issued whenever they stop fitting — the serving
certificate when a node address was added or it nears expiry, the admin
certificate when it nears expiry — so a restart always serves a certificate
that covers what was asked.

Identity comes from the TLS layer: the server context asks for an *optional*
client certificate verified against the CA, so a certificate that reaches
`identity_from_peer_cert` has already been verified by OpenSSL, while clients
with a bearer token or none at all still complete the handshake.

Layout of the directory (keys 0600, directory 0700)::

    ca.crt  ca.key  server.crt  server.key  admin.crt  admin.key
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import os
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.util.files import write_atomic

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "CA_COMMON_NAME",
    "ClusterPKI",
    "PKIError",
    "UserInfo",
    "identity_from_peer_cert",
    "serving_names",
]

CA_COMMON_NAME = "kybernetes-ca"
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
SERVER_COMMON_NAME = "kube-apiserver"

# The first address of the default service range 10.96.0.0/12: the ClusterIP of
# the `kubernetes` service, which pods use to reach the API server.
FIRST_SERVICE_IP = "10.96.0.1"
SERVICE_DNS_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
LOOPBACK_IPS = ("127.0.0.1", "::1")

CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
# Leaves start an hour in the past so a node whose clock is a little behind
# ours does not reject a certificate we have just issued.
BACKDATE = datetime.timedelta(hours=1)

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
ADMIN_CERT, ADMIN_KEY = "admin.crt", "admin.key"
LOCK_FILE = ".lock"


class PKIError(Exception):
    """The PKI directory cannot be used as it is (one clear line for the user)."""


@dataclass(frozen=True)
class UserInfo:
    """Who made a request: the user name and the groups it belongs to."""

    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Leaf:
    cert: x509.Certificate
    cert_pem: bytes
    key_pem: bytes


def serving_names(hostnames: Sequence[str], ips: Sequence[str]) -> tuple[set[str], set[str]]:
    """The DNS names and IP addresses (normalised) the serving certificate must cover."""
    dns = {"localhost", *SERVICE_DNS_NAMES}
    dns.update(name.strip().lower().rstrip(".") for name in hostnames if name.strip())
    addresses = {str(ipaddress.ip_address(ip)) for ip in (*LOOPBACK_IPS, FIRST_SERVICE_IP, *ips)}
    return dns, addresses


class ClusterPKI:
    """The CA of one cluster and the certificates it has issued, kept in one directory."""

    def __init__(
        self,
        directory: Path,
        *,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        server: _Leaf,
        admin: _Leaf,
    ) -> None:
        self.directory = directory
        self._ca_cert = ca_cert
        self._ca_key = ca_key
        self._ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        self._server = server
        self._admin = admin

    # -- construction ---------------------------------------------------------

    @classmethod
    def load_or_create(
        cls, directory: Path, *, hostnames: Sequence[str], ips: Sequence[str]
    ) -> ClusterPKI:
        """Load the PKI in `directory`, creating what is missing and renewing stale leaves.

        Blocking (file I/O, key generation): call it from a thread in async code.
        """
        try:
            dns, addresses = serving_names(hostnames, ips)
        except ValueError as exc:
            raise PKIError(f"invalid node address: {exc}") from None
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
            with _exclusive(directory / LOCK_FILE):
                ca_cert, ca_key = _load_or_create_ca(directory)
                server = _load_or_issue_server(
                    directory, ca_cert=ca_cert, ca_key=ca_key, dns=dns, addresses=addresses
                )
                admin = _load_or_issue_admin(directory, ca_cert=ca_cert, ca_key=ca_key)
        except OSError as exc:
            raise PKIError(f"cannot use the PKI directory {directory}: {exc}") from None
        return cls(directory, ca_cert=ca_cert, ca_key=ca_key, server=server, admin=admin)

    # -- accessors ------------------------------------------------------------

    @property
    def ca_pem(self) -> bytes:
        return self._ca_pem

    @property
    def ca_path(self) -> Path:
        return self.directory / CA_CERT

    @property
    def server_cert(self) -> x509.Certificate:
        return self._server.cert

    @property
    def admin_cert_pem(self) -> bytes:
        return self._admin.cert_pem

    @property
    def admin_key_pem(self) -> bytes:
        return self._admin.key_pem

    # -- issuing and serving --------------------------------------------------

    def issue_client_certificate(
        self, cn: str, groups: Sequence[str], days: int
    ) -> tuple[bytes, bytes]:
        """A new client certificate for user `cn` in `groups`: (PEM certificate, PEM key)."""
        if not cn:
            raise ValueError("a client certificate needs a user name (CN)")
        if days <= 0:
            raise ValueError(f"days must be positive, not {days}")
        leaf = _issue_client(
            ca_cert=self._ca_cert, ca_key=self._ca_key, cn=cn, groups=groups, days=days
        )
        return leaf.cert_pem, leaf.key_pem

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS 1.2+ server context: our serving certificate, optional client certs from our CA.

        CERT_OPTIONAL rather than CERT_REQUIRED so bearer-token and anonymous
        clients still connect; a client certificate that does not chain to the
        CA still fails the handshake.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.directory / SERVER_CERT, self.directory / SERVER_KEY)
        context.load_verify_locations(cadata=self._ca_pem.decode("ascii"))
        context.verify_mode = ssl.CERT_OPTIONAL
        # kubectl offers h2 and http/1.1; we serve HTTP/1.1 (enough for kubectl).
        context.set_alpn_protocols(["http/1.1"])
        return context


def identity_from_peer_cert(der: bytes | None) -> UserInfo | None:
    """The user a verified client certificate names: CN is the user, each O a group.

    Only pass a certificate the TLS layer has verified against the cluster CA
    (what `ssl_object.getpeercert(binary_form=True)` returns under the context
    above). A certificate without a CN authenticates nobody, as in Kubernetes.
    """
    if not der:
        return None
    subject = x509.load_der_x509_certificate(der).subject
    names = [_text(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not names or not names[0]:
        return None
    groups = tuple(
        _text(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )
    return UserInfo(names[0], groups)


# -- the CA -------------------------------------------------------------------


def _load_or_create_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    # ca.crt is written after ca.key, so its presence is what marks a CA as made:
    # a lone ca.key is a crash during first start and is simply overwritten.
    if not cert_path.exists():
        return _create_ca(directory)
    if not key_path.exists():
        raise PKIError(
            f"{cert_path} exists but {key_path} is missing; restore the key "
            "(clients trust this CA, so it is never replaced automatically)"
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as exc:
        raise PKIError(f"cannot read the cluster CA in {directory}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_public_key(cert, key):
        raise PKIError(f"{key_path} does not belong to {cert_path}")
    if cert.not_valid_after_utc <= _now():
        raise PKIError(
            f"the cluster CA {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "move the PKI directory away to make a new one (every client must then trust it)"
        )
    return cert, key


def _create_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    now = _now()
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(directory / CA_KEY, _key_pem(key), mode=0o600)
    write_atomic(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


# -- leaves -------------------------------------------------------------------


def _load_or_issue_server(
    directory: Path,
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns: set[str],
    addresses: set[str],
) -> _Leaf:
    leaf = _load_leaf(directory / SERVER_CERT, directory / SERVER_KEY, ca_cert)
    # A certificate covering more than is asked is kept: names only ever make a
    # certificate stale by being missing.
    if leaf is not None and _covers(leaf.cert, dns, addresses):
        return leaf
    leaf = _issue_server(ca_cert=ca_cert, ca_key=ca_key, dns=dns, addresses=addresses)
    _store_leaf(directory / SERVER_CERT, directory / SERVER_KEY, leaf)
    return leaf


def _load_or_issue_admin(
    directory: Path, *, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> _Leaf:
    leaf = _load_leaf(directory / ADMIN_CERT, directory / ADMIN_KEY, ca_cert)
    if leaf is not None and identity_from_peer_cert(
        leaf.cert.public_bytes(serialization.Encoding.DER)
    ) == UserInfo(ADMIN_USER, (ADMIN_GROUP,)):
        return leaf
    leaf = _issue_client(
        ca_cert=ca_cert, ca_key=ca_key, cn=ADMIN_USER, groups=[ADMIN_GROUP], days=LEAF_DAYS
    )
    _store_leaf(directory / ADMIN_CERT, directory / ADMIN_KEY, leaf)
    return leaf


def _load_leaf(cert_path: Path, key_path: Path, ca_cert: x509.Certificate) -> _Leaf | None:
    """The stored leaf if it is intact, signed by this CA and not near expiry; else None."""
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_public_key(cert, key):
        return None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return None
    if cert.not_valid_after_utc - RENEW_BEFORE <= _now():
        return None
    return _Leaf(cert, cert_pem, key_pem)


def _store_leaf(cert_path: Path, key_path: Path, leaf: _Leaf) -> None:
    # Key first: a crash between the two leaves a cert/key mismatch, which
    # `_load_leaf` detects and repairs by issuing again.
    write_atomic(key_path, leaf.key_pem, mode=0o600)
    write_atomic(cert_path, leaf.cert_pem, mode=0o644)


def _issue_server(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns: set[str],
    addresses: set[str],
) -> _Leaf:
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in sorted(dns)]
    sans += [
        x509.IPAddress(ip)
        for ip in sorted((ipaddress.ip_address(a) for a in addresses), key=_ip_sort_key)
    ]
    return _issue(
        ca_cert=ca_cert,
        ca_key=ca_key,
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_COMMON_NAME)]),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        days=LEAF_DAYS,
        sans=sans,
    )


def _issue_client(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cn: str,
    groups: Sequence[str],
    days: int,
) -> _Leaf:
    # Kubernetes reads the groups from the O attributes, one per group.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return _issue(
        ca_cert=ca_cert,
        ca_key=ca_key,
        subject=x509.Name(attributes),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        days=days,
        sans=None,
    )


def _issue(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    days: int,
    sans: list[x509.GeneralName] | None,
) -> _Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    # A leaf never outlives its CA: verifiers would reject the chain anyway.
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public_key(ca_cert)),
            critical=False,
        )
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return _Leaf(cert, cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# -- helpers ------------------------------------------------------------------


def _covers(cert: x509.Certificate, dns: set[str], addresses: set[str]) -> bool:
    have_dns, have_addresses = _sans(cert)
    return dns <= have_dns and addresses <= have_addresses


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    addresses = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns, addresses


def _ip_sort_key(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    return ip.version, int(ip)


def _same_public_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, raw) == key.public_key().public_bytes(der, raw)


def _ec_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PKIError("the cluster CA does not have an ECDSA key")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise PKI set-up between processes (two `kyb server` racing on first start)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
