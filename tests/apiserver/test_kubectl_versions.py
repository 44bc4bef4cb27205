"""One smoke run of every kubectl from 1.27 to 1.33 against the API server.

The `kubectl` on these machines is a dispatcher that picks a versioned
binary (`kubectl.1.27` ... `kubectl.1.33`) from the server's minor version,
so with our server it always runs 1.32. Here each versioned binary is run
directly, found on PATH or beside the dispatcher; a version that is not
installed is skipped with the path searched.

kubectl 1.27 and 1.28 decide how to validate `create -f` and `apply -f`
from the OpenAPI v2 document (`/openapi/v2`, protobuf only), where 1.29+
read OpenAPI v3; `test_old_kubectl_validates_against_openapi_v2` checks
that they validate on the server (an unknown field is refused) and that
their `explain` works.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.apiserver.conftest import Cluster

VERSIONS = ("1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33")
# Found by running each binary with -v=6: these GET /openapi/v2 before
# create/apply (and, on a 404, /swagger-2.0.0.pb-v1, then fail).
NEED_OPENAPI_V2 = frozenset({"1.27", "1.28"})
SERVER_MINOR = "32"

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  color: blue
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: IMAGE
        ports:
        - containerPort: 80
"""


def _search_dirs() -> list[Path]:
    """PATH, then the directory of the real file behind the `kubectl` dispatcher."""
    dirs = [Path(d) for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    dispatcher = shutil.which("kubectl")
    if dispatcher is not None:
        dirs.append(Path(dispatcher).resolve().parent)
    return dirs


def kubectl_binary(version: str) -> Path | None:
    for directory in _search_dirs():
        candidate = directory / f"kubectl.{version}"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class Kubectl:
    """One kubectl binary pointed at the test cluster, run in a thread."""

    def __init__(self, binary: Path, cluster: Cluster) -> None:
        self.binary = binary
        self.cluster = cluster

    async def __call__(self, *args: str, stdin: str = "", check: bool = True) -> str:
        """stdout on success; with check=False, stdout and stderr whatever the outcome."""
        result = await asyncio.to_thread(
            subprocess.run,
            [str(self.binary), "--kubeconfig", str(self.cluster.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(self.cluster.home), "KUBECONFIG": ""},
        )
        if not check:
            return result.stdout + result.stderr
        if result.returncode != 0:
            raise AssertionError(
                f"{self.binary.name} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout


def _kubectl(version: str, cluster: Cluster) -> Kubectl:
    binary = kubectl_binary(version)
    if binary is None:
        searched = os.pathsep.join(str(d) for d in _search_dirs())
        pytest.skip(f"kubectl.{version} is not installed (searched {searched})")
    return Kubectl(binary, cluster)


@pytest.mark.parametrize("version", VERSIONS)
async def test_smoke(version: str, cluster: Cluster) -> None:
    kubectl = _kubectl(version, cluster)

    # 1.27-1.30 warn about the version skew on stderr; stdout stays JSON.
    versions = json.loads(await kubectl("version", "-o", "json"))
    assert versions["clientVersion"]["minor"] == version.split(".")[1]
    assert versions["serverVersion"]["minor"] == SERVER_MINOR

    resources = await kubectl("api-resources")
    rows: dict[str, list[str]] = {}
    for line in resources.splitlines()[1:]:  # core pods first, then metrics.k8s.io's
        rows.setdefault(line.split()[0], line.split())
    assert "po" in rows["pods"]
    assert "deploy" in rows["deployments"] and "apps/v1" in rows["deployments"]

    namespaces = await kubectl("get", "ns")
    names = {line.split()[0] for line in namespaces.splitlines()[1:]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names

    assert "pod/web created" in await kubectl("run", "web", "--image=nginx:1.27")
    wide = (await kubectl("get", "pods", "-o", "wide")).splitlines()
    assert wide[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "IP" in wide[0].split() and "NODE" in wide[0].split()
    assert wide[1].split()[:4] == ["web", "0/1", "Pending", "0"]

    created = await kubectl("create", "-f", "-", stdin=CONFIGMAP)
    assert "configmap/settings created" in created
    configmap = json.loads(await kubectl("get", "cm", "settings", "-o", "json"))
    assert configmap["data"] == {"color": "blue"}

    first = DEPLOYMENT.replace("IMAGE", "nginx:1.27")
    assert "created" in await kubectl("apply", "-f", "-", stdin=first)
    assert "unchanged" in await kubectl("apply", "-f", "-", stdin=first)
    changed = DEPLOYMENT.replace("IMAGE", "nginx:1.28")
    assert "configured" in await kubectl("apply", "-f", "-", stdin=changed)

    await kubectl("label", "deploy", "web", "tier=frontend")
    patch = '{"metadata":{"annotations":{"smoke":"' + version + '"}}}'
    await kubectl("patch", "deploy", "web", "--type", "merge", "-p", patch)
    assert "scaled" in await kubectl("scale", "deploy", "web", "--replicas=3")
    deployment = json.loads(await kubectl("get", "deploy", "web", "-o", "json"))
    assert deployment["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert deployment["metadata"]["annotations"]["smoke"] == version
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    applied = json.loads(
        deployment["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert applied["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

    for kind, name in (("deploy", "web"), ("pod", "web"), ("cm", "settings")):
        assert "deleted" in await kubectl("delete", kind, name)
    left = await kubectl("get", "deploy,pod,cm", "-o", "name")
    assert "deployment.apps/web" not in left
    assert "pod/web" not in left
    assert "configmap/settings" not in left


@pytest.mark.parametrize("version", sorted(NEED_OPENAPI_V2))
async def test_old_kubectl_validates_against_openapi_v2(version: str, cluster: Cluster) -> None:
    kubectl = _kubectl(version, cluster)
    assert "configmap/settings created" in await kubectl("create", "-f", "-", stdin=CONFIGMAP)
    unknown = CONFIGMAP.replace("data:", "colour: red\ndata:").replace("settings", "other")
    refused = await kubectl("create", "-f", "-", stdin=unknown, check=False)
    assert 'strict decoding error: unknown field "colour"' in refused
    explained = await kubectl("explain", "deployment.spec.template.spec.containers.image")
    assert "Container image name." in explained
