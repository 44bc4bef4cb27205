"""The CSR signer: each built-in signer's rules, the certificate it issues, and
a real sync through the API with the cluster CA."""

from __future__ import annotations

import base64
import datetime
import json

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.csrsigning import (
    CSRSigningController,
    SigningCA,
    check_request,
    sign,
    wants_signing,
)
from tests.apiserver.conftest import Cluster
from tests.apiserver.test_csr import csr, csr_pem

NOW = datetime.datetime(2026, 11, 30, 6, tzinfo=datetime.UTC)
APPROVED = {"conditions": [{"type": "Approved", "status": "True"}]}


def test_each_signer_has_its_rules() -> None:
    assert check_request(csr("a")) == ""
    assert check_request(csr("a", usages=["client auth", "server auth"])) == (
        "invalid usage for client certificate: server auth")  # fmt: skip
    assert check_request(csr("a", usages=["digital signature"])) == (
        "missing required usage for client certificate: client auth")  # fmt: skip
    kubelet = csr("k", signerName="kubernetes.io/kube-apiserver-client-kubelet")
    assert check_request(kubelet) == "subject organization is not system:nodes"
    kubelet["spec"]["request"] = base64.b64encode(
        csr_pem("system:node:n1", "system:nodes")
    ).decode()
    assert check_request(kubelet) == ""


def test_only_approved_unissued_requests_for_built_in_signers_are_signed() -> None:
    assert not wants_signing(csr("a"))
    assert wants_signing({**csr("a"), "status": APPROVED})
    other = csr("a", signerName="example.com/custom")
    assert not wants_signing({**other, "status": APPROVED})
    issued = {"conditions": APPROVED["conditions"], "certificate": "eA=="}
    assert not wants_signing({**csr("a"), "status": issued})


def test_the_certificate(cluster: Cluster) -> None:
    ca = SigningCA.load(cluster.pki.directory)
    request = csr("a", expirationSeconds=3600)
    cert = x509.load_pem_x509_certificate(sign(request, ca, NOW))
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.rfc4514_string() == "O=devs,CN=jane"
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(hours=1)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # Never longer than a year, and no empty KeyUsage (OpenSSL refuses one).
    long = x509.load_pem_x509_certificate(sign(csr("b", expirationSeconds=10**9), ca, NOW))
    assert long.not_valid_after_utc == NOW + datetime.timedelta(days=365)
    assert not any(isinstance(e.value, x509.KeyUsage) for e in long.extensions)


async def test_an_approved_request_is_issued_through_the_api(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(csr("jane")))
    await cluster.kubectl("create", "-f", "-",
                          stdin=json.dumps(csr("bad", usages=["server auth"])))  # fmt: skip
    await cluster.kubectl("certificate", "approve", "jane", "bad")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        informers = InformerFactory(client)
        controller = CSRSigningController(informers, SigningCA.load(cluster.pki.directory))
        informers.start()
        try:
            await InformerFactory.wait_synced(controller.csrs)
            await controller.sync("jane")
            await controller.sync("bad")
        finally:
            await informers.stop()
        path = resource_path("certificates.k8s.io", "v1", "certificatesigningrequests", "", "jane")
        issued = await client.get(path)
        failed = await client.get(path.replace("/jane", "/bad"))
    cert = x509.load_pem_x509_certificate(base64.b64decode(issued["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "O=devs,CN=jane"
    assert [c["type"] for c in failed["status"]["conditions"]] == ["Approved", "Failed"]
    assert failed["status"]["conditions"][1]["reason"] == "SignerValidationFailure"
    out = await cluster.kubectl("get", "csr")
    assert "Approved,Issued" in out and "Approved,Failed" in out
