"""Certificates of the ingress: Secrets to SSLContexts, cached by resourceVersion; SNI choice."""

from __future__ import annotations

import base64
import ssl
from typing import Any

from kybernetes.ingress.certificates import CertificateCache, self_signed, sni_callback

Obj = dict[str, Any]


def secret(version: str, cert: bytes, key: bytes) -> Obj:
    return {"metadata": {"resourceVersion": version}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(cert).decode(),
                     "tls.key": base64.b64encode(key).decode()}}  # fmt: skip


def test_contexts_are_cached_by_resource_version() -> None:
    cert, key = self_signed("foo.example")
    cache = CertificateCache()
    cache.refresh(["ns/foo"], {"ns/foo": secret("1", cert, key)})
    first = cache.contexts()["ns/foo"]
    cache.refresh(["ns/foo"], {"ns/foo": secret("1", cert, key)})
    assert cache.contexts()["ns/foo"] is first
    cache.refresh(["ns/foo"], {"ns/foo": secret("2", cert, key)})
    assert cache.contexts()["ns/foo"] is not first
    # No longer named by any Ingress, or gone: dropped.
    cache.refresh([], {"ns/foo": secret("2", cert, key)})
    assert cache.contexts() == {}


def test_unusable_secrets_leave_the_default() -> None:
    cert, key = self_signed("foo.example")
    _, other_key = self_signed("bar.example")
    cache = CertificateCache()
    cache.refresh(
        ["ns/empty", "ns/garbled", "ns/mismatch", "ns/missing"],
        {"ns/empty": {"metadata": {"resourceVersion": "1"}, "data": {}},
         "ns/garbled": secret("1", b"not a certificate", key),
         "ns/mismatch": secret("1", cert, other_key)},
    )  # fmt: skip
    assert cache.contexts() == {}


class FakeSSLObject:
    context: ssl.SSLContext | None = None


def test_sni_callback_switches_only_for_known_names() -> None:
    chosen = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    callback = sni_callback(lambda name: chosen if name == "foo.example" else None)
    listening = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for name, expected in (("foo.example", chosen), ("bar.example", None), (None, None)):
        obj = FakeSSLObject()
        callback(obj, name, listening)  # type: ignore[arg-type]
        assert obj.context is expected
