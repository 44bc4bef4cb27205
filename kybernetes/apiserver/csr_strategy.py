"""CertificateSigningRequests (certificates.k8s.io/v1), as kube-apiserver keeps them.

A CSR records who asked: `spec.username`, `uid`, `groups` and `extra` are
the requester's, whatever the body says. Its spec never changes after
create; the `approval` subresource adds or changes the Approved/Denied
conditions and nothing else, and `status` is the signer's (the
certificate, a Failed condition). The signer is a controller
(controllers/csrsigning.py). Validation in kube-apiserver's words.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, json_copy
from kybernetes.apiserver.pki import UserInfo
from kybernetes.apiserver.strategy import Strategy

__all__ = ["CertificateSigningRequestStrategy", "approval_causes", "approved_update",
           "stamp_requester"]  # fmt: skip

MIN_EXPIRATION = 600
USAGES = frozenset({
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
})  # fmt: skip
APPROVAL_TYPES = ("Approved", "Denied")


def stamp_requester(body: Any, user: UserInfo) -> None:
    """The requester, as kube-apiserver records it on create."""
    if not isinstance(body, dict):
        return
    spec = body.setdefault("spec", {})
    if isinstance(spec, dict):
        spec["username"] = user.name
        spec["groups"] = list(user.groups)
        spec.pop("uid", None)
        spec.pop("extra", None)


def _request_causes(spec: Obj) -> list[Cause]:
    raw = spec.get("request")
    if not raw:
        return [Cause("spec.request", "FieldValueRequired", "Required value")]
    try:
        pem = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        return [Cause("spec.request", "FieldValueInvalid",
                      "Invalid value: []byte{...}: illegal base64 data")]  # fmt: skip
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        detail = "PEM block type must be CERTIFICATE REQUEST"
        return [
            Cause("spec.request", "FieldValueInvalid", f"Invalid value: []byte{{...}}: {detail}")
        ]
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as err:
        return [Cause("spec.request", "FieldValueInvalid", f"Invalid value: []byte{{...}}: {err}")]
    if not csr.is_signature_valid:
        return [Cause("spec.request", "FieldValueInvalid",
                      "Invalid value: []byte{...}: x509: signature is invalid")]  # fmt: skip
    return []


def _spec_causes(spec: Obj) -> list[Cause]:
    causes = _request_causes(spec)
    if not spec.get("signerName"):
        causes.append(Cause("spec.signerName", "FieldValueRequired", "Required value"))
    usages = spec.get("usages")
    if not usages:
        causes.append(Cause("spec.usages", "FieldValueRequired", "Required value"))
    for i, usage in enumerate(usages or []):
        if usage not in USAGES:
            listed = ", ".join(f'"{u}"' for u in sorted(USAGES))
            message = f'Unsupported value: "{usage}": supported values: {listed}'
            causes.append(Cause(f"spec.usages[{i}]", "FieldValueNotSupported", message))
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < MIN_EXPIRATION:
        causes.append(Cause("spec.expirationSeconds", "FieldValueInvalid",
                            f"Invalid value: {seconds}: may not specify a duration less than 600 "
                            "seconds (10 minutes)"))  # fmt: skip
    return causes


def approval_causes(new: Obj, old: Obj) -> list[Cause]:
    """What kube-apiserver refuses in a write to `approval`."""
    conditions = (new.get("status") or {}).get("conditions") or []
    causes = []
    for i, condition in enumerate(conditions):
        if condition.get("type") in APPROVAL_TYPES and condition.get("status") != "True":
            causes.append(Cause(f"status.conditions[{i}].status", "FieldValueNotSupported",
                                f'Unsupported value: "{condition.get("status")}": supported '
                                'values: "True"'))  # fmt: skip
    types = {c.get("type") for c in conditions}
    if {"Approved", "Denied"} <= types:
        causes.append(Cause("status.conditions", "FieldValueInvalid",
                            "Invalid value: ...: Approved and Denied conditions are mutually "
                            "exclusive"))  # fmt: skip
    for kind in APPROVAL_TYPES:
        had = any(c.get("type") == kind for c in (old.get("status") or {}).get("conditions") or [])
        if had and kind not in types:
            message = f'Forbidden: updates may not remove a condition of type "{kind}"'
            causes.append(Cause("status.conditions", "FieldValueForbidden", message))
    return causes


def approved_update(new: Obj, old: Obj) -> Obj:
    """`old` with `new`'s conditions: all an `approval` write may change."""
    result = json_copy(old)
    status = result.setdefault("status", {})
    status["conditions"] = json_copy((new.get("status") or {}).get("conditions") or [])
    return result


class CertificateSigningRequestStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        # Through the main resource only the metadata changes.
        new["spec"] = json_copy(old.get("spec") or {})
        new["status"] = json_copy(old.get("status") or {})

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        return _spec_causes(spec if isinstance(spec, dict) else {})
