"""The ServiceAccount admission plugin: a pod gets its account's API credentials.

As kube-apiserver's: unless the pod (or, when the pod does not say, its
ServiceAccount) sets `automountServiceAccountToken: false`, the pod gets a
projected volume `kube-api-access-xxxxx` (a token for its account, bound to
the pod, the cluster CA from the `kube-root-ca.crt` ConfigMap, and its
namespace), mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount
in every container that has nothing mounted there. The kubelet asks for the
token (TokenRequest) and renews it; that is how in-cluster clients
(`rest.InClusterConfig`, the Python client's `load_incluster_config`) log in.
"""

from __future__ import annotations

import random

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceRegistry
from kybernetes.apiserver.storage import ObjectStorage

__all__ = ["MOUNT_PATH", "admit_service_account", "inject_api_access"]

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SECONDS = 3607  # kube-apiserver's kube-api-access token
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet


def api_access_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}  # fmt: skip


def _mounts_the_path(container: Obj) -> bool:
    return any(m.get("mountPath") == MOUNT_PATH for m in container.get("volumeMounts") or [])


def inject_api_access(pod: Obj, account: Obj | None, suffix: str | None = None) -> None:
    """Add the API access volume and its mounts to `pod` (whose account is
    `account`, None when it does not exist (yet)), unless it opts out. The
    volume is `kube-api-access-<suffix>`, random unless given."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    automount = spec.get("automountServiceAccountToken")
    if automount is None and account is not None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or []
                  if isinstance(c, dict)]  # fmt: skip
    wanting = [c for c in containers if not _mounts_the_path(c)]
    if not wanting:
        return
    # Unique within the pod is all it needs; not a secret. Made only here: a pod
    # that mounts the path already (one sent back as it was read) needs none.
    name = f"kube-api-access-{suffix or ''.join(random.choices(_ALPHABET, k=5))}"
    spec.setdefault("volumes", []).append(api_access_volume(name))
    for container in wanting:
        mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
        container.setdefault("volumeMounts", []).append(mount)


async def admit_service_account(
    storage: ObjectStorage, registry: ResourceRegistry, pod: Obj
) -> None:
    """The plugin on a pod being created. The account is read as kube's plugin reads
    it, from a lister: an account created a moment ago may not be seen yet."""
    spec = pod.get("spec") or {}
    account = None
    accounts = registry.lookup("", "v1", "serviceaccounts")
    if spec.get("automountServiceAccountToken") is None and accounts is not None:
        name = str(spec.get("serviceAccountName") or "default")
        namespace = pod["metadata"].get("namespace", "")
        account = await storage.lister_get(accounts, namespace, name)
    inject_api_access(pod, account)
