"""Who is asking: client certificates and bearer tokens (authentication only).

A client certificate verified against the cluster CA names the user (CN)
and groups (O); a bearer token (from the Authorization header, or a
WebSocket subprotocol) is looked up in a static table. Everything
else is anonymous, which the HTTP layer refuses outside the public paths.
Authorization is a separate seam (`Authorizer`), allowing everything for
now, until RBAC arrives.
"""

from __future__ import annotations

import base64
import functools
import ssl
from collections.abc import Mapping

from aiohttp import web

from kybernetes.apiserver.pki import UserInfo, identity_from_peer_cert

__all__ = ["AllowAll", "Authenticator", "Authorizer", "UserInfo", "bearer_token"]

AUTHENTICATED = "system:authenticated"


class Authenticator:
    def __init__(self, tokens: Mapping[str, UserInfo] | None = None) -> None:
        # Looked up as kube-apiserver's token file authenticator looks them up
        # (a map), each user already in system:authenticated.
        self._tokens = {token: _authenticated(user) for token, user in (tokens or {}).items()}

    def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        return self._from_certificate(request) or self._from_token(request)

    def _from_certificate(self, request: web.BaseRequest) -> UserInfo | None:
        transport = request.transport
        # "peercert": what the handshake verified, kept by the transport; empty
        # without a client certificate (a token's client: no certificate read).
        if transport is None or not transport.get_extra_info("peercert"):
            return None
        ssl_object = transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return _identity(ssl_object.getpeercert(binary_form=True))

    def _from_token(self, request: web.BaseRequest) -> UserInfo | None:
        token = bearer_token(request.headers)
        return self._tokens.get(token) if token else None


def _authenticated(user: UserInfo) -> UserInfo:
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, (*user.groups, AUTHENTICATED))


WEBSOCKET_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."


def bearer_token(headers: Mapping[str, str]) -> str:
    """The request's bearer token: the Authorization header's, or, on a WebSocket
    upgrade (browsers cannot set headers there), the one kube-apiserver takes
    from a `base64url.bearer.authorization.k8s.io.<token>` subprotocol."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if headers.get("Upgrade", "").lower() != "websocket":
        return ""
    for offered in headers.get("Sec-WebSocket-Protocol", "").split(","):
        encoded = offered.strip().removeprefix(WEBSOCKET_TOKEN_PREFIX)
        if encoded != offered.strip() and encoded:
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                return ""
    return ""


@functools.lru_cache(maxsize=1024)
def _identity(der: bytes | None) -> UserInfo | None:
    """Parsing the certificate was 6% of every request; clients reuse a handful."""
    user = identity_from_peer_cert(der)
    return None if user is None else _authenticated(user)


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
