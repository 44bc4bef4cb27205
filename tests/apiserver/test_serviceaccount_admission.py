"""The ServiceAccount admission plugin: the kube-api-access volume and its mounts."""

from __future__ import annotations

import json
from typing import Any

from kybernetes.apiserver.serviceaccount_admission import MOUNT_PATH, inject_api_access
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]


def pod(**spec: Any) -> Obj:
    containers = [{"name": "app"}, {"name": "own", "volumeMounts": [
        {"name": "mine", "mountPath": MOUNT_PATH}]}]  # fmt: skip
    return {"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "init"}],
                                                "containers": containers, **spec}}  # fmt: skip


def test_every_container_without_the_path_mounts_the_volume() -> None:
    admitted = pod()
    inject_api_access(admitted, None, "abcde")
    (volume,) = admitted["spec"]["volumes"]
    assert volume["name"] == "kube-api-access-abcde"
    sources = [next(iter(s)) for s in volume["projected"]["sources"]]
    assert sources == ["serviceAccountToken", "configMap", "downwardAPI"]
    mount = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}
    assert admitted["spec"]["initContainers"][0]["volumeMounts"] == [mount]
    assert admitted["spec"]["containers"][0]["volumeMounts"] == [mount]
    assert len(admitted["spec"]["containers"][1]["volumeMounts"]) == 1  # its own stays alone


def test_the_pod_or_else_its_account_may_opt_out() -> None:
    for spec, account in (({"automountServiceAccountToken": False}, None),
                          ({}, {"automountServiceAccountToken": False})):  # fmt: skip
        opted = pod(**spec)
        inject_api_access(opted, account, "abcde")
        assert "volumes" not in opted["spec"]
    overruled = pod(automountServiceAccountToken=True)
    inject_api_access(overruled, {"automountServiceAccountToken": False}, "abcde")
    assert len(overruled["spec"]["volumes"]) == 1


async def test_created_pods_get_the_volume(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=busybox")
    spec = json.loads(await cluster.kubectl("get", "pod", "web", "-o", "json"))["spec"]
    assert [v["name"][:16] for v in spec["volumes"]] == ["kube-api-access-"]
    assert spec["containers"][0]["volumeMounts"][0]["mountPath"] == MOUNT_PATH
    # The deprecated field mirrors the account, as kubectl get -o yaml shows on any cluster.
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")


async def test_an_account_that_opts_out_is_honoured_and_a_missing_one_is_no_error(
    cluster: Cluster,
) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"},
               "automountServiceAccountToken": False}  # fmt: skip
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(account))
    await cluster.kubectl("get", "sa", "quiet")  # read back: the watch cache has it now
    await cluster.kubectl("run", "quiet", "--image=busybox", "--overrides",
                          json.dumps({"spec": {"serviceAccountName": "quiet"}}))  # fmt: skip
    await cluster.kubectl("run", "ghost", "--image=busybox", "--overrides",
                          json.dumps({"spec": {"serviceAccountName": "ghost"}}))  # fmt: skip
    volumes = {}
    for name in ("quiet", "ghost"):
        spec = json.loads(await cluster.kubectl("get", "pod", name, "-o", "json"))["spec"]
        volumes[name] = [v["name"][:16] for v in spec.get("volumes") or []]
    assert volumes == {"quiet": [], "ghost": ["kube-api-access-"]}
