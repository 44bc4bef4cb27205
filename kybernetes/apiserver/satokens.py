"""ServiceAccount tokens: JWTs the API server signs and later accepts.

kube-apiserver signs bound service account tokens with one RSA key
(`--service-account-signing-key-file`; kubeadm's `sa.key`) as RS256 JWTs
whose `kid` is the base64url SHA-256 of the public key's DER, so a verifier
holding the JWKS (`/openid/v1/jwks`) can check them. We keep the key in the
PKI directory next to the CA (`sa.key`), made on first start, so tokens
outlive a restart. The claims are kube's: `iss`, `sub`
(`system:serviceaccount:<ns>:<name>`), `aud`, `exp`/`iat`/`nbf`, `jti`
and the private `kubernetes.io` claim naming the namespace, the account
and the object the token is bound to.

Signing and verifying are pure (a key, claims, a clock); whether the
account (and bound pod) still exist is the caller's question.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kybernetes.apiserver.pki import UserInfo
from kybernetes.util.files import create_exclusive

__all__ = [
    "ISSUER",
    "SA_KEY",
    "TokenSigner",
    "service_account_user",
]

ISSUER = "https://kubernetes.default.svc.cluster.local"  # kubeadm's default issuer
SA_KEY = "sa.key"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"
Claims = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account_user(namespace: str, name: str) -> UserInfo:
    """The user a ServiceAccount's token authenticates as, with kube's groups."""
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}",
                    (SA_GROUP, f"{SA_GROUP}:{namespace}"))  # fmt: skip


@dataclass(frozen=True)
class TokenSigner:
    key: rsa.RSAPrivateKey
    issuer: str = ISSUER

    @classmethod
    def load_or_create(cls, directory: Path, issuer: str = ISSUER) -> TokenSigner:
        """The signing key kept in `directory/sa.key`, made (mode 0600) if missing."""
        path = directory / SA_KEY
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())  # fmt: skip
            if not create_exclusive(path, pem, mode=0o600):
                # Another API process of this server made it first: sign with theirs.
                return cls.load_or_create(directory, issuer)
            return cls(key, issuer)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: the service account signing key must be RSA")
        return cls(loaded, issuer)

    @property
    def audiences(self) -> list[str]:
        """What the API server accepts (kube's --api-audiences default to the issuer)."""
        return [self.issuer]

    @property
    def kid(self) -> str:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = self.key.public_key().public_bytes(serialization.Encoding.DER, spki)
        return _b64(hashlib.sha256(der).digest())

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def octets(n: int) -> str:
            return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256",
                          "n": octets(numbers.n), "e": octets(numbers.e)}]}  # fmt: skip

    def openid_configuration(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}  # fmt: skip

    def claims(
        self,
        *,
        namespace: str,
        account: tuple[str, str],
        audiences: Sequence[str],
        now: int,
        seconds: int,
        bound: dict[str, str] | None = None,
    ) -> Claims:
        """A bound token's claims: `account` is (name, uid); `bound` the object
        the token is bound to ({"kind", "name", "uid"}), if any."""
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": account[0], "uid": account[1]},
        }
        if bound:
            private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
        return {"aud": list(audiences), "exp": now + seconds, "iat": now, "iss": self.issuer,
                "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": now,
                "sub": f"{SA_PREFIX}{namespace}:{account[0]}"}  # fmt: skip

    def sign(self, claims: Claims) -> str:
        header = _b64(orjson.dumps({"alg": "RS256", "kid": self.kid}))
        payload = _b64(orjson.dumps(claims))
        signed = f"{header}.{payload}".encode()
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"

    def verify(self, token: str, *, now: float, audiences: Sequence[str] = ()) -> Claims | None:
        """The claims of a token this key signed, still valid at `now` and meant for
        one of `audiences` (default: the API server's); None for any other token."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = orjson.loads(_unb64(parts[0]))
            claims = orjson.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            return None
        if not isinstance(claims, dict) or claims.get("iss") != self.issuer:
            return None
        try:
            self.key.public_key().verify(signature, f"{parts[0]}.{parts[1]}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())  # fmt: skip
        except InvalidSignature:
            return None
        if not _current(claims, now):
            return None
        wanted = set(audiences or self.audiences)
        aud = claims.get("aud")
        given = {aud} if isinstance(aud, str) else set(aud if isinstance(aud, list) else [])
        return claims if wanted & given else None


def _current(claims: Claims, now: float) -> bool:
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or not isinstance(nbf, int):
        return False
    # kube allows a minute of clock skew on either side.
    return nbf - 60 <= now < exp + 60
