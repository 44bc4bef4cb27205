"""Columns of CertificateSigningRequests (as kube-apiserver 1.32 prints them)."""

from __future__ import annotations

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import AGE, NAME, Column, get, human_duration

__all__ = ["COLUMNS", "csr_condition"]


def csr_condition(obj: Obj) -> str:
    """Denied, Approved or Pending, then ",Failed" and ",Issued" when they apply."""
    types = {c.get("type") for c in get(obj, "status", "conditions", default=None) or []}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if get(obj, "status", "certificate", default=None):
        text += ",Issued"
    return text


def _requested_duration(obj: Obj) -> str:
    seconds = get(obj, "spec", "expirationSeconds", default=None)
    return "<none>" if seconds is None else human_duration(float(seconds))


COLUMNS = {
    ("certificates.k8s.io", "CertificateSigningRequest"): [
        NAME,
        AGE,
        Column(
            "SignerName",
            lambda obj: get(obj, "spec", "signerName", default="") or "<none>",
            description="The signer the request is for.",
        ),
        Column(
            "Requestor",
            lambda obj: get(obj, "spec", "username", default=""),
            description="Who asked.",
        ),
        Column(
            "RequestedDuration",
            _requested_duration,
            description="The validity the requester asked for.",
        ),
        Column("Condition", csr_condition, description="Approval and issuance."),
    ],
}
