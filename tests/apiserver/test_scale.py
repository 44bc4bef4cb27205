"""The scale subresource: server-side apply of a Scale, as kube-apiserver's ScaleHandler
does it (k8s.io/apimachinery managedfields/scalehandler.go): the apply runs on the
Scale view, whose field owners are the workload's owners of spec.replicas, and its
owners of the Scale's spec.replicas go back to the workload, at its apiVersion."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
import yaml

from kybernetes.apiserver import errors
from kybernetes.apiserver import managedfields as mf
from kybernetes.apiserver.scale import apply_scale_config
from tests.apiserver.conftest import Cluster
from tests.apiserver.test_watch_and_patch import Client

APPLY = "application/apply-patch+yaml"


def _scale(replicas: Any, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "web", **meta}, "spec": {"replicas": replicas}}  # fmt: skip


def _applied_deployment(replicas: int = 2) -> dict[str, Any]:
    """A deployment kubectl's server-side apply owns (spec.replicas included)."""
    entry = {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
             "time": "t0", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}, "f:paused": {}}}}  # fmt: skip
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7",
                         "managedFields": [entry]},
            "spec": {"replicas": replicas, "paused": False,
                     "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": replicas}}  # fmt: skip


def _apply_scale(obj: dict[str, Any], config: dict[str, Any], *, force: bool = False) -> Any:
    return apply_scale_config(copy.deepcopy(obj), config, force=force, api_version="apps/v1",
                              manager=mf.Manager("hpa", "Apply", "scale"), now="t1")  # fmt: skip


def _entries(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"], e.get("subresource", "")): e
            for e in obj["metadata"]["managedFields"]}  # fmt: skip


def test_the_scale_shows_the_owners_of_the_workloads_replicas() -> None:
    assert mf.scale_entries(_applied_deployment()) == [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
         "time": "t0", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]  # fmt: skip


def test_applying_replicas_another_manager_owns_conflicts_unless_forced() -> None:
    with pytest.raises(mf.ApplyConflict) as caught:
        _apply_scale(_applied_deployment(), _scale(5))
    assert (
        str(caught.value) == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    )
    # The same value is no conflict: both own it, and the workload is unchanged but
    # for the new owner.
    shared = _apply_scale(_applied_deployment(), _scale(2))
    entries = _entries(shared)
    assert entries[("kubectl", "Apply", "")]["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert entries[("hpa", "Apply", "scale")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    forced = _apply_scale(_applied_deployment(), _scale(5), force=True)
    assert forced["spec"]["replicas"] == 5
    entries = _entries(forced)
    assert entries[("kubectl", "Apply", "")]["fieldsV1"] == {"f:spec": {"f:paused": {}}}
    # The new owner's entry is the workload's kind (apps/v1) and, as ToParent writes
    # it, carries no time (the times are the workload's entries').
    assert entries[("hpa", "Apply", "scale")] == {
        "manager": "hpa", "operation": "Apply", "subresource": "scale", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}  # fmt: skip


def test_what_a_scale_apply_leaves_out_is_zero() -> None:
    # A Scale's replicas is a plain int32: once the applier's config drops it (or
    # sends null), the Scale's replicas are 0, and so are the workload's.
    mine = _apply_scale(_applied_deployment(), _scale(5), force=True)
    dropped = _apply_scale(mine, {**_scale(5), "spec": {}})
    assert dropped["spec"]["replicas"] == 0
    assert _apply_scale(mine, _scale(None))["spec"]["replicas"] == 0


def test_a_scale_apply_checks_its_version_and_the_resource_version() -> None:
    with pytest.raises(errors.ApiError) as caught:
        _apply_scale(_applied_deployment(), {**_scale(3), "apiVersion": "apps/v1"})
    assert (caught.value.code, caught.value.message) == (400, "Incorrect version specified in "
            "apply patch. Specified patch version: apps/v1, expected: autoscaling/v1")  # fmt: skip
    with pytest.raises(errors.ApiError) as caught:
        _apply_scale(_applied_deployment(), _scale(3, resourceVersion="6"), force=True)
    assert caught.value.code == 409


# -- through the API --------------------------------------------------------------------


def _deployment(replicas: int = 2) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    })  # fmt: skip


async def _apply_to_scale(client: Client, path: str, body: Any, query: str) -> tuple[int, Any]:
    return await client.request("PATCH", f"{path}/scale{query}", body, content_type=APPLY)


async def test_apply_to_a_deployments_scale_conflicts_then_takes_replicas_by_force(
    cluster: Cluster,
) -> None:
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=_deployment())
    client = Client(cluster)
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    try:
        status, body = await _apply_to_scale(client, path, _scale(5), "?fieldManager=hpa")
        assert (status, body["reason"]) == (409, "Conflict")
        assert body["message"] == (
            'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
        )
        assert body["details"]["causes"] == [{"reason": "FieldManagerConflict",
                                              "message": 'conflict with "kubectl"',
                                              "field": ".spec.replicas"}]  # fmt: skip
        status, body = await _apply_to_scale(client, path, _scale(5),
                                             "?fieldManager=hpa&force=true")  # fmt: skip
        assert status == 200
        assert (body["kind"], body["apiVersion"]) == ("Scale", "autoscaling/v1")
        assert body["spec"]["replicas"] == 5
        status, deployment = await client.request("GET", path)
        assert deployment["spec"]["replicas"] == 5
        assert deployment["metadata"]["generation"] == 2
        entries = _entries(deployment)
        hpa = entries[("hpa", "Apply", "scale")]
        assert (hpa["apiVersion"], hpa["fieldsV1"]) == ("apps/v1", {"f:spec": {"f:replicas": {}}})
        assert "f:replicas" not in entries[("kubectl", "Apply", "")]["fieldsV1"]["f:spec"]
        # Now the manifest's replicas conflict with the scale's applier.
        out = await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=_deployment(),
                                    check=False)  # fmt: skip
        assert (
            'Apply failed with 1 conflict: conflict with "hpa" with subresource "scale": '
            ".spec.replicas" in out
        )
        # Without a manager, or to an object that is not there: refused.
        status, body = await _apply_to_scale(client, path, _scale(5), "")
        assert (status, body["reason"]) == (400, "BadRequest")
        status, body = await _apply_to_scale(
            client, path.replace("/web", "/nope"), {**_scale(1), "metadata": {"name": "nope"}},
            "?fieldManager=hpa",
        )  # fmt: skip
        assert (status, body["reason"]) == (404, "NotFound")
    finally:
        await client.session.close()


async def test_kubectl_cannot_apply_a_deployment_to_its_scale(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=_deployment())
    out = await cluster.kubectl("apply", "--server-side", "--subresource=scale", "-f", "-",
                                stdin=_deployment(3), check=False)  # fmt: skip
    assert "Incorrect version specified in apply patch. Specified patch version: apps/v1, " \
           "expected: autoscaling/v1" in out  # fmt: skip


WORKLOADS = {
    "replicasets": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                                 "containers": [{"name": "web", "image": "nginx"}]}}}},
    "statefulsets": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                     "spec": {"replicas": 1, "serviceName": "web",
                              "selector": {"matchLabels": {"app": "web"}},
                              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                                  "containers": [{"name": "web", "image": "nginx"}]}}}},
}  # fmt: skip


@pytest.mark.parametrize("plural", sorted(WORKLOADS))
async def test_apply_to_the_scale_of_other_workloads(cluster: Cluster, plural: str) -> None:
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(WORKLOADS[plural]))
    client = Client(cluster)
    path = f"/apis/apps/v1/namespaces/default/{plural}/web"
    try:
        # kubectl-create's replicas are an Update manager's: they conflict all the same.
        status, body = await _apply_to_scale(client, path, _scale(3), "?fieldManager=hpa")
        assert status == 409
        assert 'conflict with "kubectl-create" using apps/v1' in body["message"]
        status, body = await _apply_to_scale(client, path, _scale(3),
                                             "?fieldManager=hpa&force=true")  # fmt: skip
        assert (status, body["spec"]["replicas"]) == (200, 3)
        status, obj = await client.request("GET", path)
        assert obj["spec"]["replicas"] == 3
        assert _entries(obj)[("hpa", "Apply", "scale")]["fieldsV1"] == {
            "f:spec": {"f:replicas": {}}
        }
    finally:
        await client.session.close()


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pools.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: pools, singular: pool, kind: Pool}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {replicas: {type: integer}, size: {type: string}}
          status:
            type: object
            properties: {replicas: {type: integer}}
"""


async def test_apply_to_a_custom_resources_scale(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=CRD)
    pool = "apiVersion: example.com/v1\nkind: Pool\nmetadata: {name: web}\n"
    pool += "spec: {replicas: 1, size: small}\n"
    for attempt in range(50):  # the new resource is served a moment after its CRD
        out = await cluster.kubectl("apply", "--server-side", "--field-manager=ops", "-f", "-",
                                    stdin=pool, check=False)  # fmt: skip
        if "serverside-applied" in out:
            break
        assert attempt < 49, out
        await asyncio.sleep(0.1)
    client = Client(cluster)
    path = "/apis/example.com/v1/namespaces/default/pools/web"
    try:
        status, body = await _apply_to_scale(client, path, _scale(4), "?fieldManager=autoscaler")
        assert (status, body["message"]) == (
            409,
            'Apply failed with 1 conflict: conflict with "ops": .spec.replicas',
        )
        status, body = await _apply_to_scale(client, path, _scale(4),
                                             "?fieldManager=autoscaler&force=true")  # fmt: skip
        assert (status, body["spec"]["replicas"]) == (200, 4)
        status, obj = await client.request("GET", path)
        assert obj["spec"] == {"replicas": 4, "size": "small"}
        entries = _entries(obj)
        assert entries[("ops", "Apply", "")]["fieldsV1"] == {"f:spec": {"f:size": {}}}
        autoscaler = entries[("autoscaler", "Apply", "scale")]
        assert (autoscaler["apiVersion"], autoscaler["fieldsV1"]) == (
            "example.com/v1", {"f:spec": {"f:replicas": {}}})  # fmt: skip
    finally:
        await client.session.close()
