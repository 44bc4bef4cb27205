"""The CSR signer: approved CertificateSigningRequests get their certificate.

As kube-controller-manager's csrsigning controller, run where the cluster
CA's key is (`kyb server`'s controller manager; kube's needs
--cluster-signing-key-file): a request that is Approved, not Denied, not
Failed and not yet Issued, for one of the built-in signers, is checked
against its signer's rules and signed by the cluster CA with the usages it
asked for, backdated 5 minutes, for `expirationSeconds` at most a year; a
request the signer's rules refuse gets a Failed condition instead. Other
signers' requests are left for their own controllers.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api.times import format_time
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.runner import run_controller

__all__ = ["CSRSigningController", "SigningCA", "check_request", "sign"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration
BACKDATE = datetime.timedelta(minutes=5)
WORKERS = 2

CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
# What each built-in signer allows: the usages, and whether the subject is a node's.
ALLOWED_USAGES = {
    CLIENT: {"digital signature", "key encipherment", "client auth"},
    KUBELET_CLIENT: {"digital signature", "key encipherment", "client auth"},
    KUBELET_SERVING: {"digital signature", "key encipherment", "server auth"},
}
_EXTENDED = {
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
}


@dataclass(frozen=True)
class SigningCA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey  # the cluster CA's (apiserver/pki.py makes EC keys)

    @classmethod
    def load(cls, pki_dir: Path) -> SigningCA:
        cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{pki_dir / 'ca.key'} is not an EC key")
        return cls(cert, key)


def _condition(csr: Obj, kind: str) -> bool:
    conditions = (csr.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status", "True") == "True" for c in conditions)


def wants_signing(csr: Obj) -> bool:
    spec = csr.get("spec") or {}
    return (
        spec.get("signerName") in ALLOWED_USAGES
        and _condition(csr, "Approved")
        and not _condition(csr, "Denied")
        and not _condition(csr, "Failed")
        and not (csr.get("status") or {}).get("certificate")
    )


def _parsed(csr: Obj) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(base64.b64decode((csr.get("spec") or {}).get("request", "")))


def check_request(csr: Obj) -> str:
    """Why the request's signer refuses it ("" when it does not)."""
    spec = csr.get("spec") or {}
    signer = spec.get("signerName", "")
    usages = set(spec.get("usages") or [])
    kind = "serving" if signer == KUBELET_SERVING else "client"
    bad = sorted(usages - ALLOWED_USAGES[signer])
    if bad:
        return f"invalid usage for {kind} certificate: {bad[0]}"
    needed = "server auth" if signer == KUBELET_SERVING else "client auth"
    if needed not in usages:
        return f"missing required usage for {kind} certificate: {needed}"
    if signer in (KUBELET_CLIENT, KUBELET_SERVING):
        subject = _parsed(csr).subject
        names = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if groups != ["system:nodes"]:
            return "subject organization is not system:nodes"
        if not names or not str(names[0]).startswith("system:node:"):
            return 'subject common name does not begin with "system:node:"'
    return ""


def sign(csr: Obj, ca: SigningCA, now: datetime.datetime) -> bytes:
    """The PEM certificate for an approved, valid request."""
    request = _parsed(csr)
    spec = csr.get("spec") or {}
    seconds = spec.get("expirationSeconds")
    lifetime = (
        MAX_DURATION
        if seconds is None
        else min(MAX_DURATION, datetime.timedelta(seconds=int(seconds)))
    )
    usages = set(spec.get("usages") or [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([_EXTENDED[u] for u in sorted(usages) if u in _EXTENDED]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    signing, enciphering = "digital signature" in usages, "key encipherment" in usages
    if signing or enciphering:  # as Go's x509, no KeyUsage at all rather than an empty one
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=signing, content_commitment=False, key_encipherment=enciphering,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        builder = builder.add_extension(sans.value, critical=False)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CSRSigningController:
    def __init__(
        self,
        informers: InformerFactory,
        ca: SigningCA,
        *,
        now: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        self._client = informers.client
        self._ca = ca
        self._now = now
        self.csrs = informers.informer("certificates.k8s.io", "v1", "certificatesigningrequests")
        self.queue: WorkQueue[str] = WorkQueue(name="csrsigning")
        self.csrs.on_add(self._changed)
        self.csrs.on_update(lambda old, new: self._changed(new))

    def _changed(self, csr: Obj) -> None:
        if wants_signing(csr):
            self.queue.add(key_of(csr))

    async def run(self) -> None:
        await run_controller(
            queue=self.queue, sync=self.sync, workers=WORKERS, informers=(self.csrs,)
        )

    async def sync(self, key: str) -> None:
        csr = self.csrs.get(key)
        if csr is None or not wants_signing(csr):
            return
        status = dict(csr.get("status") or {})
        refused = check_request(csr)
        if refused:
            now = format_time(self._now())
            status["conditions"] = [
                *status.get("conditions", []),
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "SignerValidationFailure",
                    "message": refused,
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                },
            ]
        else:
            pem = sign(csr, self._ca, self._now())
            status["certificate"] = base64.b64encode(pem).decode()
        path = resource_path(
            "certificates.k8s.io", "v1", "certificatesigningrequests", "", csr["metadata"]["name"]
        )
        try:
            await self._client.update(f"{path}/status", {**csr, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            return  # gone, or changed meanwhile: the update event brings it back
        log.info("%s certificate signing request %s", "refused" if refused else "signed", key)
