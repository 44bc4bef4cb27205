"""What the controller manager gives a namespace before its pods can start.

Kubelet tests run an API server and a kubelet, no controllers; a pod's
`kube-api-access-*` volume needs its ServiceAccount (for the token) and the
`kube-root-ca.crt` ConfigMap, which the service account controller and the
root CA publisher would have written.
"""

from __future__ import annotations

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.rootcacert import wanted_config_map

__all__ = ["publish_account_basics"]


async def publish_account_basics(client: ApiClient, namespace: str = "default") -> None:
    """The namespace's `default` ServiceAccount and its root CA ConfigMap."""
    active = {"metadata": {"name": namespace}, "status": {"phase": "Active"}}
    config_map = wanted_config_map(active, None, client.ca_pem.decode())
    writes = [("serviceaccounts", {"metadata": {"name": "default"}}), ("configmaps", config_map)]
    for plural, body in writes:
        try:
            await client.create(resource_path("", "v1", plural, namespace), body)
        except ApiStatusError as err:
            if err.code != 409:
                raise
