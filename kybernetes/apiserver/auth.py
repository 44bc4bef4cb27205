"""Who is asking: client certificates and bearer tokens (authentication only).

A client certificate verified against the cluster CA names the user (CN)
and groups (O); a bearer token is looked up in a static table. Everything
else is anonymous, which the HTTP layer refuses outside the public paths.
Authorization is a separate seam (`Authorizer`), allowing everything for
now, until RBAC arrives.
"""

from __future__ import annotations

import functools
import hmac
import ssl
from collections.abc import Mapping

from aiohttp import web

from kybernetes.apiserver.pki import UserInfo, identity_from_peer_cert

__all__ = ["AllowAll", "Authenticator", "Authorizer", "UserInfo"]

AUTHENTICATED = "system:authenticated"


class Authenticator:
    def __init__(self, tokens: Mapping[str, UserInfo] | None = None) -> None:
        self._tokens = dict(tokens or {})

    def authenticate(self, request: web.Request) -> UserInfo | None:
        user = self._from_certificate(request) or self._from_token(request)
        if user is None:
            return None
        if AUTHENTICATED not in user.groups:
            user = UserInfo(user.name, (*user.groups, AUTHENTICATED))
        return user

    def _from_certificate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        if transport is None:
            return None
        ssl_object = transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return _identity(ssl_object.getpeercert(binary_form=True))

    def _from_token(self, request: web.Request) -> UserInfo | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return user
        return None


@functools.lru_cache(maxsize=1024)
def _identity(der: bytes | None) -> UserInfo | None:
    """Parsing the certificate was 6% of every request; clients reuse a handful."""
    return identity_from_peer_cert(der)


Rules = tuple[list[dict[str, list[str]]], list[dict[str, list[str]]]]
# Everything: the rules kube lists for cluster-admin (`*.* [] [] [*]`, `[*] [] [*]`).
EVERYTHING: Rules = (
    [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
)


class Authorizer:
    """The authorization seam: may `user` do `verb` on this resource?"""

    def allowed(self, user: UserInfo, verb: str, group: str, resource: str, namespace: str) -> bool:
        raise NotImplementedError

    def rules(self, user: UserInfo, namespace: str) -> Rules:
        """What `user` may do in `namespace` (resource rules, non-resource rules)."""
        raise NotImplementedError


class AllowAll(Authorizer):
    def allowed(self, user: UserInfo, verb: str, group: str, resource: str, namespace: str) -> bool:
        return True

    def rules(self, user: UserInfo, namespace: str) -> Rules:
        return EVERYTHING
