"""TLS contexts trust the CA they are given, and not the system's CAs besides."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.client.rest import _ssl_from_kubeconfig
from kybernetes.util.tls import (
    client_context,
    server_context_verifying_clients,
    unverified_client_context,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    return ClusterPKI.load_or_create(
        tmp_path_factory.mktemp("pki"), hostnames=["localhost"], ips=["127.0.0.1"]
    )


def _subjects(context: ssl.SSLContext) -> list[object]:
    return [cert["subject"] for cert in context.get_ca_certs()]


def test_a_client_with_a_ca_trusts_that_ca_alone(pki: ClusterPKI) -> None:
    context = client_context(cadata=pki.ca_pem.decode())
    assert len(_subjects(context)) == 1
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_kubeconfig_client_trusts_the_kubeconfig_ca_alone(
    pki: ClusterPKI, tmp_path: Path
) -> None:
    """As client-go: a kubeconfig's certificate-authority replaces the system's CAs."""
    cluster = {"certificate-authority-data": base64.b64encode(pki.ca_pem).decode()}
    user = {
        "client-certificate-data": base64.b64encode(pki.admin_cert_pem).decode(),
        "client-key-data": base64.b64encode(pki.admin_key_pem).decode(),
    }
    context = _ssl_from_kubeconfig(cluster, user, tmp_path)
    assert _subjects(context) == _subjects(client_context(cadata=pki.ca_pem.decode()))
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(pki.ca_pem)
    by_file = _ssl_from_kubeconfig({"certificate-authority": str(ca_file)}, {}, tmp_path)
    assert len(_subjects(by_file)) == 1
    insecure = _ssl_from_kubeconfig({"insecure-skip-tls-verify": True}, {}, tmp_path)
    assert insecure.verify_mode == ssl.CERT_NONE


def test_an_unverified_client_loads_no_ca(pki: ClusterPKI) -> None:
    context = unverified_client_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_a_server_verifying_clients_trusts_the_client_ca_alone(
    pki: ClusterPKI, tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki.admin_cert_pem)
    key.write_bytes(pki.admin_key_pem)
    context = server_context_verifying_clients(str(cert), str(key), pki.ca_pem.decode())
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(_subjects(context)) == 1
