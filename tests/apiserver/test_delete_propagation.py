"""The API server's side of cascading deletion and namespace termination, with
no controller running: what a DELETE leaves behind for the garbage collector
and the namespace controller to finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.apiserver.conftest import Cluster

RS = resource_path("apps", "v1", "replicasets", "default")
PODS = resource_path("", "v1", "pods", "default")
NAMESPACES = resource_path("", "v1", "namespaces")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


def replicaset(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }  # fmt: skip


async def test_kubectl_cascade_sets_and_swaps_the_gc_finalizers(
    cluster: Cluster, client: ApiClient
) -> None:
    await client.create(RS, replicaset("web"))
    await cluster.kubectl("delete", "rs", "web", "--cascade=orphan", "--wait=false")
    rs = await client.get(f"{RS}/web")
    assert rs["metadata"]["finalizers"] == ["orphan"]
    assert rs["metadata"]["deletionTimestamp"]
    assert rs["metadata"]["deletionGracePeriodSeconds"] == 0
    assert rs["metadata"]["generation"] == 2  # marking for deletion bumps it, as in kube
    # A second delete with another policy replaces the finalizer.
    await cluster.kubectl("delete", "rs", "web", "--cascade=foreground", "--wait=false")
    rs = await client.get(f"{RS}/web")
    assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
    # Background takes the GC finalizer away: nothing holds it, so it goes.
    await cluster.kubectl("delete", "rs", "web", "--cascade=background", "--wait=false")
    with pytest.raises(ApiStatusError) as gone:
        await client.get(f"{RS}/web")
    assert gone.value.code == 404


async def test_other_finalizers_stay_and_hold_the_object(client: ApiClient) -> None:
    body = replicaset("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create(RS, body)
    await client.delete(f"{RS}/held", {"propagationPolicy": "Foreground"})
    rs = await client.get(f"{RS}/held")
    assert rs["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
    await client.delete(f"{RS}/held", {"propagationPolicy": "Background"})
    rs = await client.get(f"{RS}/held")
    assert rs["metadata"]["finalizers"] == ["example.com/hold"]
    # Removing the last finalizer completes the delete.
    await client.patch(f"{RS}/held", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiStatusError):
        await client.get(f"{RS}/held")


async def test_deprecated_orphan_dependents_and_bad_options(client: ApiClient) -> None:
    await client.create(RS, replicaset("old"))
    with pytest.raises(ApiStatusError) as both:
        await client.delete(f"{RS}/old", {"orphanDependents": True,
                                          "propagationPolicy": "Orphan"})  # fmt: skip
    assert both.value.code == 422
    assert "orphanDependents and deletionPropagation cannot be both set" in str(both.value)
    with pytest.raises(ApiStatusError) as unknown:
        await client.delete(f"{RS}/old", {"propagationPolicy": "Sideways"})
    assert unknown.value.code == 422
    await client.delete(f"{RS}/old", {"orphanDependents": True})
    assert (await client.get(f"{RS}/old"))["metadata"]["finalizers"] == ["orphan"]
    # orphanDependents=false takes the orphan finalizer away (as background does) ...
    await client.delete(f"{RS}/old", {"orphanDependents": False})
    with pytest.raises(ApiStatusError):
        await client.get(f"{RS}/old")
    # ... and answers 202 when something else still holds the object.
    held = replicaset("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create(RS, held)
    async with client._session.delete(
        client.server + f"{RS}/held", json={"orphanDependents": False}, ssl=client._ssl
    ) as resp:
        assert resp.status == 202
    # As a query parameter too.
    await client.create(RS, replicaset("query"))
    await client.request("DELETE", f"{RS}/query", params={"propagationPolicy": "Foreground"})
    assert (await client.get(f"{RS}/query"))["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_a_job_orphans_by_default_but_not_when_kubectl_deletes_it(
    cluster: Cluster, client: ApiClient
) -> None:
    jobs = resource_path("batch", "v1", "jobs", "default")
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}  # fmt: skip
    await client.create(jobs, job)
    await client.delete(f"{jobs}/j")  # no options: batch/v1 Job's default is orphan
    assert (await client.get(f"{jobs}/j"))["metadata"]["finalizers"] == ["orphan"]
    await cluster.kubectl("delete", "job", "j", "--wait=false")  # kubectl sends Background
    with pytest.raises(ApiStatusError):
        await client.get(f"{jobs}/j")


async def test_a_pod_on_a_node_terminates_gracefully_and_only_shorter(client: ApiClient) -> None:
    pod = {"metadata": {"name": "p"},
           "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "c", "image": "nginx"}]}}  # fmt: skip
    await client.create(PODS, pod)
    await client.delete(f"{PODS}/p", {"propagationPolicy": "Foreground"})
    first = (await client.get(f"{PODS}/p"))["metadata"]
    assert first["deletionGracePeriodSeconds"] == 30
    assert first["finalizers"] == ["foregroundDeletion"]
    # While the grace period runs, a longer one or another policy changes nothing.
    await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 60, "propagationPolicy": "Orphan"})
    again = (await client.get(f"{PODS}/p"))["metadata"]
    assert again["resourceVersion"] == first["resourceVersion"]
    # A shorter one moves the deadline; 0 (the kubelet's last word) with the
    # GC finalizer left marks it, and Background then removes it.
    await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 0})
    last = (await client.get(f"{PODS}/p"))["metadata"]
    assert last["deletionGracePeriodSeconds"] == 0
    assert last["deletionTimestamp"] < first["deletionTimestamp"]
    await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 0, "propagationPolicy": "Background"})
    with pytest.raises(ApiStatusError):
        await client.get(f"{PODS}/p")


async def test_namespace_termination_and_finalize(cluster: Cluster, client: ApiClient) -> None:
    ns = await client.create(NAMESPACES, {"metadata": {"name": "doomed"}})
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    # An ordinary update cannot drop the finalizer; only namespaces/finalize can.
    ns["spec"]["finalizers"] = []
    ns["metadata"]["labels"]["team"] = "a"
    updated = await client.update(f"{NAMESPACES}/doomed", ns)
    assert updated["spec"]["finalizers"] == ["kubernetes"]
    assert updated["metadata"]["labels"]["team"] == "a"

    await cluster.kubectl("delete", "namespace", "doomed", "--wait=false")
    ns = await client.get(f"{NAMESPACES}/doomed")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"]
    out = await cluster.kubectl("get", "ns", "doomed")
    assert "Terminating" in out
    with pytest.raises(ApiStatusError) as refused:
        await client.create(resource_path("", "v1", "configmaps", "doomed"),
                            {"metadata": {"generateName": "cm-"}})  # fmt: skip
    assert refused.value.code == 403
    assert refused.value.status["message"] == (
        'configmaps "cm-" is forbidden: unable to create new content in namespace doomed '
        "because it is being terminated"
    )
    assert refused.value.status["details"]["causes"] == [{
        "reason": "NamespaceTerminating", "message": "namespace doomed is being terminated",
        "field": "metadata.namespace"}]  # fmt: skip
    # Deleting again changes nothing while the finalizer is there.
    await client.delete(f"{NAMESPACES}/doomed")
    assert (await client.get(f"{NAMESPACES}/doomed"))["status"]["phase"] == "Terminating"
    # The namespace controller's last step: finalize empties spec.finalizers, and it is gone.
    ns["spec"]["finalizers"] = []
    await client.update(f"{NAMESPACES}/doomed/finalize", ns)
    with pytest.raises(ApiStatusError) as gone:
        await client.get(f"{NAMESPACES}/doomed")
    assert gone.value.code == 404


async def test_finalize_keeps_a_namespace_that_is_not_being_deleted(client: ApiClient) -> None:
    ns = await client.create(NAMESPACES, {"metadata": {"name": "kept"}})
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/fake"]
    ns["status"] = {"phase": "Terminating"}  # status is not the finalize subresource's
    out = await client.update(f"{NAMESPACES}/kept/finalize", ns)
    assert out["spec"]["finalizers"] == ["kubernetes", "example.com/fake"]
    assert out["status"]["phase"] == "Active"
    out["spec"]["finalizers"] = ["not-qualified"]
    with pytest.raises(ApiStatusError) as invalid:
        await client.update(f"{NAMESPACES}/kept/finalize", out)
    assert invalid.value.code == 422
    assert (
        'spec.finalizers[0]: Invalid value: "not-qualified": name is neither a standard '
        "finalizer name nor is it fully qualified" in str(invalid.value)
    )
    out["spec"]["finalizers"] = []
    emptied = await client.update(f"{NAMESPACES}/kept/finalize", out)
    assert emptied["spec"] == {}  # an emptied list is omitted, as in Kubernetes
    assert (await client.get(f"{NAMESPACES}/kept"))["status"]["phase"] == "Active"


async def test_system_namespaces_may_not_be_deleted(cluster: Cluster) -> None:
    out = await cluster.kubectl("delete", "ns", "kube-system", check=False)
    assert 'namespaces "kube-system" is forbidden: this namespace may not be deleted' in out
    for name in ("default", "kube-public"):
        out = await cluster.kubectl("delete", "ns", name, check=False)
        assert "this namespace may not be deleted" in out
    out = await cluster.kubectl("get", "ns", "kube-system", "-o", "jsonpath={.status.phase}")
    assert out == "Active"


async def test_discovery_lists_the_finalize_subresource(cluster: Cluster) -> None:
    out = await cluster.kubectl("get", "--raw", "/api/v1")
    assert '"name":"namespaces/finalize"' in out.replace(" ", "")


async def test_official_python_client_propagation_and_finalize(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> tuple[list[str], list[str], str]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        apps.create_namespaced_replica_set("default", replicaset("py"))
        apps.delete_namespaced_replica_set("py", "default", propagation_policy="Orphan")
        orphaning = apps.read_namespaced_replica_set("py", "default").metadata.finalizers
        # Conformance NS1: a fake finalizer through namespaces/finalize.
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ns1")))
        ns = core.read_namespace("ns1")
        ns.spec.finalizers = ["kubernetes", "e2e.example.com/fakeFinalizer"]
        finalizers = core.replace_namespace_finalize("ns1", ns).spec.finalizers
        return orphaning, finalizers, core.read_namespace("ns1").status.phase

    orphaning, finalizers, phase = await asyncio.to_thread(scenario)
    assert orphaning == ["orphan"]
    assert finalizers == ["kubernetes", "e2e.example.com/fakeFinalizer"]
    assert phase == "Active"
