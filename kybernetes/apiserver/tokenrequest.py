"""TokenRequest (`serviceaccounts/<name>/token`), TokenReview, and token authentication.

`kubectl create token SA` posts a TokenRequest to the account's `token`
subresource; the answer carries a signed JWT good for
`spec.expirationSeconds` (an hour unless asked; never less than ten
minutes, as kube-apiserver refuses). A token bound to a Pod (or Secret)
names it and dies with it. A TokenReview asks whether a token is good and
for whom; the authentication middleware asks the same question of every
bearer token the static table does not know. The account (and the bound
object) must still exist with the same uid, as kube's validator checks.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.pki import UserInfo
from kybernetes.apiserver.rest import Rest
from kybernetes.apiserver.satokens import TokenSigner, service_account_user

__all__ = ["ServiceAccountTokens"]

DEFAULT_SECONDS = 3600
MIN_SECONDS = 600
MAX_SECONDS = 1 << 32
BINDABLE = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _invalid(field: str, value: Any, message: str) -> errors.ApiError:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return errors.invalid("TokenRequest", "", [errors.Cause(
        field, "FieldValueInvalid", f"Invalid value: {shown}: {message}")],
        "authentication.k8s.io")  # fmt: skip


def expiration_seconds(spec: Obj) -> int:
    seconds = spec.get("expirationSeconds")
    if seconds is None or seconds == 0:
        return DEFAULT_SECONDS
    if not isinstance(seconds, int) or seconds < MIN_SECONDS:
        raise _invalid("spec.expirationSeconds", seconds,
                       "may not specify a duration less than 10 minutes")  # fmt: skip
    if seconds > MAX_SECONDS:
        raise _invalid("spec.expirationSeconds", seconds,
                       "may not specify a duration larger than 2^32 seconds")  # fmt: skip
    return seconds


class ServiceAccountTokens:
    def __init__(self, rest: Rest, signer: Callable[[], TokenSigner]) -> None:
        self.rest = rest
        self._load = signer

    @functools.cached_property
    def signer(self) -> TokenSigner:
        """Loaded (or made: an RSA key takes ~0.1 s) when a token is first asked
        about, not at every start: most clusters of the test suite never are."""
        return self._load()

    async def _get(self, plural: str, namespace: str, name: str) -> Obj:
        rt = self.rest.registry.lookup("", "v1", plural)
        assert rt is not None
        return await self.rest.storage.get(rt, namespace, name)

    async def _bound(self, namespace: str, spec: Obj) -> dict[str, str] | None:
        ref = spec.get("boundObjectRef")
        if not ref:
            return None
        kind = str(ref.get("kind") or "")
        if kind not in BINDABLE:
            raise _invalid("spec.boundObjectRef.kind", kind,
                           'supported values: "Node", "Pod", "Secret"')  # fmt: skip
        target = await self._get(BINDABLE[kind], "" if kind == "Node" else namespace,
                                 str(ref.get("name") or ""))  # fmt: skip
        uid = str(target["metadata"]["uid"])
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.conflict(BINDABLE[kind], str(ref.get("name")),
                                  f"the UID in the bound object reference ({ref['uid']}) does "
                                  f"not match the UID in record. The object might have been "
                                  "deleted and then recreated")  # fmt: skip
        return {"kind": kind, "name": str(ref["name"]), "uid": uid}

    async def request(self, namespace: str, name: str, body: Any) -> Obj:
        """Answer a TokenRequest for ServiceAccount `namespace/name`."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a TokenRequest")
        account = await self._get("serviceaccounts", namespace, name)
        spec = dict(body.get("spec") or {})
        seconds = expiration_seconds(spec)
        audiences = list(spec.get("audiences") or self.signer.audiences)
        bound = await self._bound(namespace, spec)
        now = int(time.time())
        claims = self.signer.claims(
            namespace=namespace, account=(name, str(account["metadata"]["uid"])),
            audiences=audiences, now=now, seconds=seconds, bound=bound,
        )  # fmt: skip
        answer = copy.deepcopy(body)
        answer.update(apiVersion="authentication.k8s.io/v1", kind="TokenRequest")
        meta = answer.setdefault("metadata", {})
        meta.update(name=name, namespace=namespace, creationTimestamp=_stamp(now))
        answer["spec"] = {**spec, "audiences": audiences, "expirationSeconds": seconds,
                          "boundObjectRef": spec.get("boundObjectRef")}  # fmt: skip
        answer["status"] = {"token": self.signer.sign(claims),
                            "expirationTimestamp": _stamp(now + seconds)}  # fmt: skip
        return answer

    async def authenticate(self, token: str, audiences: list[str] | None = None) -> Obj | None:
        """The token's claims when it is ours, current, for these audiences, and its
        account (and bound object) still exist with the uids it names."""
        claims = self.signer.verify(token, now=time.time(), audiences=audiences or ())
        if claims is None:
            return None
        private = claims.get("kubernetes.io") or {}
        namespace = str(private.get("namespace") or "")
        account = private.get("serviceaccount") or {}
        checks = [("serviceaccounts", namespace, account)]
        checks += [(BINDABLE[kind], "" if kind == "Node" else namespace, private[kind.lower()])
                   for kind in BINDABLE if kind.lower() in private]  # fmt: skip
        for plural, ns, ref in checks:
            try:
                found = await self._get(plural, ns, str(ref.get("name") or ""))
            except errors.ApiError:
                return None
            if found["metadata"]["uid"] != ref.get("uid") or (
                plural != "pods" and found["metadata"].get("deletionTimestamp")
            ):
                return None
        return claims

    async def user(self, token: str) -> UserInfo | None:
        claims = await self.authenticate(token)
        if claims is None:
            return None
        private = claims["kubernetes.io"]
        return service_account_user(private["namespace"], private["serviceaccount"]["name"])

    async def review(self, body: Any) -> Obj:
        """Answer a TokenReview: authenticated, and as whom, or the error."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a TokenReview")
        spec = body.get("spec") or {}
        review = copy.deepcopy(body)
        review.update(apiVersion="authentication.k8s.io/v1", kind="TokenReview")
        review.setdefault("metadata", {}).pop("creationTimestamp", None)
        wanted = list(spec.get("audiences") or [])
        claims = await self.authenticate(str(spec.get("token") or ""), wanted or None)
        if claims is None:
            review["status"] = {"authenticated": False, "user": {},
                                "error": "[invalid bearer token]"}  # fmt: skip
            return review
        granted = _granted(claims, wanted or self.signer.audiences)
        review["status"] = {"authenticated": True, "user": _user_info(claims),
                            "audiences": granted}  # fmt: skip
        return review


def _granted(claims: Obj, wanted: list[str]) -> list[str]:
    aud = claims.get("aud")
    given = [aud] if isinstance(aud, str) else list(aud or [])
    return [a for a in wanted if a in given]


def _user_info(claims: Obj) -> Obj:
    private = claims["kubernetes.io"]
    account = private["serviceaccount"]
    user = service_account_user(private["namespace"], account["name"])
    extra: dict[str, list[str]] = {
        "authentication.kubernetes.io/credential-id": [f"JTI={claims.get('jti', '')}"]
    }
    if "pod" in private:
        extra["authentication.kubernetes.io/pod-name"] = [private["pod"]["name"]]
        extra["authentication.kubernetes.io/pod-uid"] = [private["pod"]["uid"]]
    return {"username": user.name, "uid": account["uid"], "groups": [*user.groups,
            "system:authenticated"], "extra": extra}  # fmt: skip
