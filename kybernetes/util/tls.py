"""TLS contexts that trust what they are given, and nothing else.

`ssl.create_default_context()` loads the system's CA bundle (~20 ms of CPU)
even when the caller then adds its own CA, and the result trusts every
public CA as well. A cluster client trusts its kubeconfig's CA, as client-go
does; a kubelet accepts clients signed by the cluster's client CA; a probe
or a kubelet connection that does not verify loads nothing at all.
"""

from __future__ import annotations

import ssl

__all__ = ["client_context", "server_context_verifying_clients", "unverified_client_context"]


def client_context(*, cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """Verifies servers against `cafile`/`cadata`; against the system's CAs
    only when neither is given."""
    return ssl.create_default_context(cafile=cafile, cadata=cadata)


def unverified_client_context() -> ssl.SSLContext:
    """Encrypts without verifying the server (kubelet probes, as Kubernetes)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def server_context_verifying_clients(
    certfile: str, keyfile: str, client_ca_pem: str
) -> ssl.SSLContext:
    """Serves `certfile` and requires a client certificate signed by `client_ca_pem`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_ca_pem)
    return context
