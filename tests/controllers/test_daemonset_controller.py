"""The DaemonSet controller against a real API server, driven with the real kubectl."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.daemonset_decisions import GENERATION_LABEL
from kybernetes.controllers.history import HASH_LABEL
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.controllers.workload_support import (
    NODES,
    PODS,
    FakeKubelet,
    Obj,
    make_node,
    pods_of,
    until,
)

DS = resource_path("apps", "v1", "daemonsets", "default")
REVISIONS = resource_path("apps", "v1", "controllerrevisions", "default")
EVENTS = resource_path("", "v1", "events", "default")

MANIFEST = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
spec:
  selector:
    matchLabels: {app: fluentd}
  template:
    metadata:
      labels: {app: fluentd}
    spec:
      containers:
      - {name: fluentd, image: "fluentd:1.16"}
"""


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def controller(client: ApiClient) -> AsyncIterator[DaemonSetController]:
    informers = InformerFactory(client)
    controller = DaemonSetController(informers)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


def pinned_node(pod: Obj) -> str:
    """The node of the `matchFields metadata.name In [node]` affinity (one term, one value)."""
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # fmt: skip
    assert len(terms) == 1 and "matchExpressions" not in terms[0]
    [field] = terms[0]["matchFields"]
    assert field["key"] == "metadata.name" and field["operator"] == "In"
    [node] = field["values"]
    return str(node)


@pytest.mark.parametrize("bind", [False, True], ids=["pinned", "bound"])
async def test_one_pod_per_eligible_node_and_rolling_update(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController, bind: bool
) -> None:
    """`bound`: pods get bound and deleted gracefully (Terminating until the kubelet is done)."""
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    for name in ("node-a", "node-b"):
        await make_node(client, name)
    await make_node(client, "node-c", taints=[taint])
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)

    async def on_nodes(*nodes: str) -> bool:
        pods = await pods_of(client, "app=fluentd")
        return sorted(pinned_node(p) for p in pods) == sorted(nodes)

    # The tainted node gets none: its taint is not tolerated.
    await until(lambda: on_nodes("node-a", "node-b"))
    pods = await pods_of(client, "app=fluentd")
    first_hash = pods[0]["metadata"]["labels"][HASH_LABEL]
    for pod in pods:
        assert not pod["spec"].get("nodeName")  # the scheduler binds, not the controller
        assert pod["metadata"]["generateName"] == "fluentd-"
        assert pod["metadata"]["labels"][HASH_LABEL] == first_hash
        assert pod["metadata"]["labels"][GENERATION_LABEL] == "1"
        tolerated = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
        assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in tolerated

    async with FakeKubelet(client, "app=fluentd", bind=bind):
        out = await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
        assert 'daemon set "fluentd" successfully rolled out' in out
        table = await cluster.kubectl("get", "ds", "fluentd")
        header, row = table.splitlines()
        assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                                  "AVAILABLE", "NODE", "SELECTOR", "AGE"]  # fmt: skip
        assert row.split()[:7] == ["fluentd", "2", "2", "2", "2", "2", "<none>"]

        # A new image rolls node by node; the revision label moves on.
        old_names = {p["metadata"]["name"] for p in await pods_of(client, "app=fluentd")}
        await cluster.kubectl("set", "image", "ds/fluentd", "fluentd=fluentd:1.17")
        out = await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=30s")
        assert "successfully rolled out" in out
        pods = await pods_of(client, "app=fluentd")
        assert len(pods) == 2 and not old_names & {p["metadata"]["name"] for p in pods}
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"fluentd:1.17"}
        assert {p["metadata"]["labels"][HASH_LABEL] for p in pods} != {first_hash}
        assert {p["metadata"]["labels"][GENERATION_LABEL] for p in pods} == {"2"}
        if bind:  # the old pods went through Terminating on their nodes
            assert all(p["spec"]["nodeName"] == pinned_node(p) for p in pods)

        # Tolerating the taint brings a pod to node-c too.
        patch = '{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}]}}}}'  # noqa: E501
        await cluster.kubectl("patch", "ds/fluentd", "-p", patch)
        await until(lambda: on_nodes("node-a", "node-b", "node-c"))
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=30s")

    history = await cluster.kubectl("rollout", "history", "ds/fluentd")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == [
        "1", "2", "3"]  # fmt: skip
    revisions = await cluster.kubectl("get", "controllerrevisions")
    header, *rows = revisions.splitlines()
    assert header.split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert sorted(r.split()[1:3] for r in rows) == [
        ["daemonset.apps/fluentd", "1"], ["daemonset.apps/fluentd", "2"],
        ["daemonset.apps/fluentd", "3"]]  # fmt: skip

    # Nodes come and go: a new node gets a pod, a deleted node's pod goes.
    await make_node(client, "node-d")
    await until(lambda: on_nodes("node-a", "node-b", "node-c", "node-d"))
    await client.delete(f"{NODES}/node-a")
    if bind:
        # A pod bound to a vanished node is the pod garbage collector's, as in kube:
        # the DaemonSet stops counting it and leaves it alone.
        async def node_a_forgotten() -> bool:
            status = (await client.get(f"{DS}/fluentd")).get("status") or {}
            return status.get("desiredNumberScheduled") == status.get("currentNumberScheduled") == 3

        await until(node_a_forgotten)
        assert await on_nodes("node-a", "node-b", "node-c", "node-d")
    else:
        await until(lambda: on_nodes("node-b", "node-c", "node-d"))

    # A daemon pod the kubelet failed is deleted and replaced.
    [victim] = [p for p in await pods_of(client, "app=fluentd") if pinned_node(p) == "node-b"]
    await client.update(f"{PODS}/{victim['metadata']['name']}/status",
                        {**victim, "status": {"phase": "Failed"}})  # fmt: skip

    async def replaced() -> bool:
        pods = [p for p in await pods_of(client, "app=fluentd") if pinned_node(p) == "node-b"]
        return len(pods) == 1 and pods[0]["metadata"]["uid"] != victim["metadata"]["uid"]

    await until(replaced)

    await controller.events.flush()
    described = await cluster.kubectl("describe", "ds", "fluentd")
    assert "SuccessfulCreate" in described and "FailedDaemonPod" in described
    shown = await cluster.kubectl("rollout", "history", "ds/fluentd", "--revision=1")
    assert "fluentd:1.16" in shown
    uid = (await client.get(f"{DS}/fluentd"))["metadata"]["uid"]
    events = (await client.get(EVENTS, fieldSelector=f"involvedObject.uid={uid}"))["items"]
    messages = {(e["reason"], e["message"].split(":")[0]) for e in events}
    assert ("SuccessfulCreate", "Created pod") in messages
    assert ("SuccessfulDelete", "Deleted pod") in messages


async def test_rollout_undo_reuses_the_old_revision(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController
) -> None:
    await make_node(client, "node-a")
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
    async with FakeKubelet(client, "app=fluentd"):
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
        first = (await pods_of(client, "app=fluentd"))[0]["metadata"]["labels"][HASH_LABEL]
        await cluster.kubectl("set", "image", "ds/fluentd", "fluentd=fluentd:1.17")
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
        await cluster.kubectl("rollout", "undo", "ds/fluentd")

        async def back_to_first() -> bool:
            pods = await pods_of(client, "app=fluentd")
            return [p["metadata"]["labels"][HASH_LABEL] for p in pods] == [first]

        await until(back_to_first)
    revisions = (await client.get(REVISIONS))["items"]
    by_hash = {r["metadata"]["labels"][HASH_LABEL]: r["revision"] for r in revisions}
    assert len(by_hash) == 2 and by_hash[first] == 3  # the old template is the newest again


async def test_rolling_back_a_stalled_update_leaves_untouched_pods_alone(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController
) -> None:
    """Conformance DaemonSet-Rollback: a bad image stalls the rollout after one node;
    `rollout undo` replaces only that pod, the others keep their uid."""
    for name in ("node-a", "node-b", "node-c"):
        await make_node(client, name)
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
    async with FakeKubelet(client, "app=fluentd") as kubelet:
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
        before = {p["metadata"]["uid"] for p in await pods_of(client, "app=fluentd")}
        kubelet.broken = lambda pod: pod["spec"]["containers"][0]["image"] == "fluentd:broken"
        await cluster.kubectl("set", "image", "ds/fluentd", "fluentd=fluentd:broken")

        async def stalled() -> bool:
            pods = await pods_of(client, "app=fluentd")
            images = sorted(p["spec"]["containers"][0]["image"] for p in pods)
            return images == ["fluentd:1.16", "fluentd:1.16", "fluentd:broken"]

        await until(stalled)
        await until(lambda: controller_synced(client))
        await asyncio.sleep(0.3)  # more syncs: maxUnavailable 1 is spent on the broken pod
        assert await stalled()
        await cluster.kubectl("rollout", "undo", "ds/fluentd")
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
    after = {p["metadata"]["uid"] for p in await pods_of(client, "app=fluentd")}
    assert len(after) == 3 and len(before & after) == 2  # only the broken one was replaced


async def controller_synced(client: ApiClient) -> bool:
    ds = await client.get(f"{DS}/fluentd")
    return bool((ds.get("status") or {}).get("observedGeneration") == ds["metadata"]["generation"])


async def test_node_selector_and_relabelling(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController
) -> None:
    await make_node(client, "node-a", labels={"disk": "ssd"})
    await make_node(client, "node-b")
    manifest = MANIFEST.replace("      containers:", "      nodeSelector: {disk: ssd}\n"
                                "      containers:")  # fmt: skip
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)

    async def nodes() -> list[str]:
        return sorted(pinned_node(p) for p in await pods_of(client, "app=fluentd"))

    async def nodes_are(*wanted: str) -> bool:
        return await nodes() == list(wanted)

    await until(lambda: nodes_are("node-a"))
    await cluster.kubectl("label", "node", "node-b", "disk=ssd")
    await until(lambda: nodes_are("node-a", "node-b"))
    await cluster.kubectl("label", "node", "node-a", "disk-")
    await until(lambda: nodes_are("node-b"))
    table = await cluster.kubectl("get", "ds", "fluentd")
    assert table.splitlines()[1].split()[6] == "disk=ssd"


async def test_adopts_orphans_and_releases_strays(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController
) -> None:
    await make_node(client, "node-a")
    await make_node(client, "node-b")
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
    uid = (await client.get(f"{DS}/fluentd"))["metadata"]["uid"]

    async def owned_on(*nodes: str) -> bool:
        pods = await pods_of(client, "app=fluentd")
        refs = [[r["uid"] for r in p["metadata"].get("ownerReferences") or []] for p in pods]
        on = sorted(pinned_node(p) for p in pods)
        return on == sorted(nodes) and refs == [[uid]] * len(pods)

    await until(lambda: owned_on("node-a", "node-b"))
    before = {p["metadata"]["name"] for p in await pods_of(client, "app=fluentd")}
    # Orphaned (as the garbage collector leaves pods after --cascade=orphan): adopted back,
    # not duplicated.
    [stray] = [p for p in await pods_of(client, "app=fluentd") if pinned_node(p) == "node-a"]
    name = stray["metadata"]["name"]
    await client.patch(f"{PODS}/{name}", {"metadata": {"ownerReferences": None}})
    await until(lambda: owned_on("node-a", "node-b"))
    assert {p["metadata"]["name"] for p in await pods_of(client, "app=fluentd")} == before
    # A pod relabelled out of the selector is released, and its node gets a new daemon pod.
    await cluster.kubectl("label", "pod", name, "app=debug", "--overwrite")
    await until(lambda: owned_on("node-a", "node-b"))
    released = await client.get(f"{PODS}/{name}")
    assert not released["metadata"].get("ownerReferences")
    assert name not in {p["metadata"]["name"] for p in await pods_of(client, "app=fluentd")}


async def test_a_new_daemonset_adopts_the_orphans_of_the_old_one(
    cluster: Cluster, client: ApiClient, controller: DaemonSetController
) -> None:
    """As after `kubectl delete ds --cascade=orphan`: pods and history are taken over as they
    are, so no pod restarts."""
    await make_node(client, "node-a")
    await make_node(client, "node-b")
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
    async with FakeKubelet(client, "app=fluentd"):
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
    before = {p["metadata"]["uid"] for p in await pods_of(client, "app=fluentd")}
    await client.delete(f"{DS}/fluentd")
    # What the garbage collector does for orphan deletion: drop the owner references.
    for pod in await pods_of(client, "app=fluentd"):
        await client.patch(f"{PODS}/{pod['metadata']['name']}",
                           {"metadata": {"ownerReferences": None}})  # fmt: skip
    [revision] = (await client.get(REVISIONS))["items"]
    await client.patch(f"{REVISIONS}/{revision['metadata']['name']}",
                       {"metadata": {"ownerReferences": None}})  # fmt: skip

    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
    uid = (await client.get(f"{DS}/fluentd"))["metadata"]["uid"]

    async def adopted() -> bool:
        items = [*(await pods_of(client, "app=fluentd")),
                 *(await client.get(REVISIONS))["items"]]  # fmt: skip
        return all([r["uid"] for r in i["metadata"].get("ownerReferences") or []] == [uid]
                   for i in items)  # fmt: skip

    await until(adopted)
    async with FakeKubelet(client, "app=fluentd"):
        await cluster.kubectl("rollout", "status", "ds/fluentd", "--timeout=20s")
    assert {p["metadata"]["uid"] for p in await pods_of(client, "app=fluentd")} == before
    assert [r["metadata"]["name"] for r in (await client.get(REVISIONS))["items"]] == [
        revision["metadata"]["name"]]  # fmt: skip
