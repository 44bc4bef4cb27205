"""CertificateSigningRequests: kube-apiserver's validation, the requester
recorded, approval through its own subresource (as kubectl sends it)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]


def csr_pem(cn: str = "jane", org: str = "devs") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])  # fmt: skip
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hashes.SHA256())  # fmt: skip
    return request.public_bytes(serialization.Encoding.PEM)


def csr(name: str, **spec: Any) -> Obj:
    body = {"request": base64.b64encode(csr_pem()).decode(), "usages": ["client auth"],
            "signerName": "kubernetes.io/kube-apiserver-client", **spec}  # fmt: skip
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": body}  # fmt: skip


async def test_csr_validation(cluster: Cluster) -> None:
    async def refused(body: Obj) -> str:
        return await cluster.kubectl("create", "-f", "-", stdin=json.dumps(body), check=False)

    no_signer = csr("a")
    del no_signer["spec"]["signerName"]
    assert "spec.signerName: Required value" in await refused(no_signer)
    not_pem = csr("b", request=base64.b64encode(b"hello").decode())
    assert "PEM block type must be CERTIFICATE REQUEST" in await refused(not_pem)
    short = await refused(csr("c", expirationSeconds=599))
    assert ("spec.expirationSeconds: Invalid value: 599: may not specify a duration less than "
            "600 seconds (10 minutes)") in short  # fmt: skip
    assert 'spec.usages[0]: Unsupported value: "flying"' in await refused(
        csr("d", usages=["flying"])
    )


async def test_requester_and_approval(cluster: Cluster) -> None:
    # The requester is whoever sent it, not what the body claims.
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(csr("jane", username="root")))
    made = json.loads(await cluster.kubectl("get", "csr", "jane", "-o", "json"))
    assert made["spec"]["username"] == "kubernetes-admin"
    assert "system:masters" in made["spec"]["groups"]
    head, row = (await cluster.kubectl("get", "csr")).splitlines()
    assert head.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION",
                            "CONDITION"]  # fmt: skip
    assert row.split()[2:] == ["kubernetes.io/kube-apiserver-client", "kubernetes-admin",
                               "<none>", "Pending"]  # fmt: skip

    # kubectl sends the approval as protobuf, to the approval subresource.
    await cluster.kubectl("certificate", "approve", "jane")
    approved = json.loads(await cluster.kubectl("get", "csr", "jane", "-o", "json"))
    (condition,) = approved["status"]["conditions"]
    assert (condition["type"], condition["reason"]) == ("Approved", "KubectlApprove")
    assert approved["spec"] == made["spec"]
    # Approved and Denied exclude each other; an approval cannot be taken back.
    approved["status"]["conditions"].append({"type": "Denied", "status": "True"})
    both = await cluster.kubectl("replace", "--subresource=approval", "-f", "-",
                                 stdin=json.dumps(approved), check=False)  # fmt: skip
    assert "Approved and Denied conditions are mutually exclusive" in both
    approved["status"]["conditions"] = []
    removed = await cluster.kubectl("replace", "--subresource=approval", "-f", "-",
                                    stdin=json.dumps(approved), check=False)  # fmt: skip
    assert 'updates may not remove a condition of type "Approved"' in removed
    # The main resource changes the metadata only.
    approved = json.loads(await cluster.kubectl("get", "csr", "jane", "-o", "json"))
    approved["spec"]["usages"] = ["server auth"]
    approved["metadata"]["labels"] = {"team": "a"}
    await cluster.kubectl("replace", "-f", "-", stdin=json.dumps(approved))
    after = json.loads(await cluster.kubectl("get", "csr", "jane", "-o", "json"))
    assert after["spec"]["usages"] == ["client auth"] and after["metadata"]["labels"] == {
        "team": "a"
    }
