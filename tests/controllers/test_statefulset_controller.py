"""The StatefulSet controller against a real API server, driven with the real kubectl."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.history import HASH_LABEL
from kybernetes.controllers.manager import CONTROLLERS
from kybernetes.controllers.statefulset import StatefulSetController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.controllers.workload_support import (
    FakeKubelet,
    Obj,
    is_ready,
    make_node,
    mark_ready,
    pods_of,
    until,
)

STS = resource_path("apps", "v1", "statefulsets", "default")
PVCS = resource_path("", "v1", "persistentvolumeclaims", "default")
EVENTS = resource_path("", "v1", "events", "default")
PODS = resource_path("", "v1", "pods", "default")

MANIFEST = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  podManagementPolicy: {policy}
  selector:
    matchLabels: {{app: nginx}}
  template:
    metadata:
      labels: {{app: nginx}}
    spec:
      containers:
      - {{name: nginx, image: "nginx:1.27"}}
  volumeClaimTemplates:
  - metadata: {{name: www}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"""


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def controller(client: ApiClient) -> AsyncIterator[StatefulSetController]:
    informers = InformerFactory(client)
    controller = StatefulSetController(informers)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def names(client: ApiClient) -> list[str]:
    return [p["metadata"]["name"] for p in await pods_of(client, "app=nginx")]


async def status(client: ApiClient) -> Obj:
    return (await client.get(f"{STS}/web")).get("status") or {}


async def test_ordered_ready_creation_scale_down_and_history(
    cluster: Cluster, client: ApiClient, controller: StatefulSetController
) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="OrderedReady"))

    async def exactly(*wanted: str) -> bool:
        return await names(client) == list(wanted)

    # web-1 waits for web-0 to be Running and Ready, web-2 for web-1.
    for n in range(3):
        await until(lambda n=n: exactly(*(f"web-{i}" for i in range(n + 1))))  # type: ignore[misc]

        async def observed(n: int = n) -> bool:
            return (await status(client)).get("replicas") == n + 1

        await until(observed)  # the controller has synced since the pod appeared ...
        await asyncio.sleep(0.3)  # ... and, given more time, still creates no further pod
        assert await exactly(*(f"web-{i}" for i in range(n + 1)))
        [newest] = [p for p in await pods_of(client, "app=nginx")
                    if p["metadata"]["name"] == f"web-{n}"]  # fmt: skip
        await mark_ready(client, newest)

    pods = await pods_of(client, "app=nginx")
    for n, pod in enumerate(pods):
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["labels"]["statefulset.kubernetes.io/pod-name"] == f"web-{n}"
        assert meta["labels"]["apps.kubernetes.io/pod-index"] == str(n)
        assert meta["labels"][HASH_LABEL].startswith("web-")
        assert spec["hostname"] == f"web-{n}" and spec["subdomain"] == "nginx"
        [volume] = [v for v in spec["volumes"] if v["name"] == "www"]
        assert volume["persistentVolumeClaim"]["claimName"] == f"www-web-{n}"
    claims = sorted(c["metadata"]["name"] for c in (await client.get(PVCS))["items"])
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]

    out = await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    header, row = (await cluster.kubectl("get", "sts")).splitlines()
    assert header.split() == ["NAME", "READY", "AGE"]
    assert row.split()[:2] == ["web", "3/3"]
    first_revision = (await status(client))["currentRevision"]
    assert (await status(client))["updateRevision"] == first_revision

    # Scale down: highest ordinal first, one at a time (the watch sees every deletion).
    deleted: list[str] = []
    listed = await client.get(PODS)

    async def watch_deletions() -> None:
        rv = listed["metadata"]["resourceVersion"]
        async for event in client.watch(PODS, resourceVersion=rv):
            if event["type"] == "DELETED":
                deleted.append(event["object"]["metadata"]["name"])

    watcher = asyncio.create_task(watch_deletions())
    await cluster.kubectl("scale", "sts/web", "--replicas=1")
    await until(lambda: exactly("web-0"))

    async def both_deleted() -> bool:
        return len(deleted) == 2

    await until(both_deleted)
    await cancel_and_wait(watcher)
    assert deleted == ["web-2", "web-1"]
    # Retain: the claims stay for the next pods of those ordinals.
    assert len((await client.get(PVCS))["items"]) == 3

    # A new template rolls; history lists both revisions, undo brings the first back.
    async with FakeKubelet(client, "app=nginx"):
        await cluster.kubectl("scale", "sts/web", "--replicas=2")
        await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        await cluster.kubectl("set", "image", "sts/web", "nginx=nginx:1.28")
        await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        pods = await pods_of(client, "app=nginx")
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
        second = await status(client)
        assert second["currentRevision"] == second["updateRevision"] != first_revision
        history = await cluster.kubectl("rollout", "history", "sts/web")
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == [
            "1", "2"]  # fmt: skip
        await cluster.kubectl("rollout", "undo", "sts/web")

        async def undone() -> bool:
            now = await status(client)
            return bool(now.get("currentRevision") == now.get("updateRevision") == first_revision)

        await until(undone)
    revisions = (await client.get(resource_path("apps", "v1", "controllerrevisions",
                                                "default")))["items"]  # fmt: skip
    assert {r["metadata"]["name"]: r["revision"] for r in revisions}[first_revision] == 3

    await controller.events.flush()
    uid = (await client.get(f"{STS}/web"))["metadata"]["uid"]
    events = (await client.get(EVENTS, fieldSelector=f"involvedObject.uid={uid}"))["items"]
    messages = {(e["reason"], e["message"]) for e in events}
    described = await cluster.kubectl("describe", "sts", "web")
    assert "create Pod web-0 in StatefulSet web successful" in described
    assert ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in messages
    assert ("SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web "
            "success") in messages  # fmt: skip
    assert ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful") in messages


async def test_rolling_update_goes_from_the_highest_ordinal_and_honours_the_partition(
    cluster: Cluster, client: ApiClient, controller: StatefulSetController
) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="OrderedReady"))
    async with FakeKubelet(client, "app=nginx"):
        await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        before = (await status(client))["currentRevision"]
        patch = '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}'
        await cluster.kubectl("patch", "sts/web", "-p", patch)
        await cluster.kubectl("set", "image", "sts/web", "nginx=nginx:1.28")

        async def revisions() -> list[str]:
            pods = await pods_of(client, "app=nginx")
            return [p["metadata"]["labels"][HASH_LABEL] for p in pods]

        async def canary() -> bool:
            now = await status(client)
            got = await revisions()
            return len(got) == 3 and got[:2] == [before] * 2 and got[2] != before and (
                now.get("updatedReplicas") == 1)  # fmt: skip

        await until(canary)
        after = (await status(client))["updateRevision"]
        assert (await status(client))["currentRevision"] == before
        out = await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        assert "partitioned roll out complete: 1 new pods have been updated" in out

        # A pod deleted below the partition comes back at the current revision.
        web0 = f"{resource_path('', 'v1', 'pods', 'default')}/web-0"
        old_uid = (await client.get(web0))["metadata"]["uid"]
        await client.delete(web0)

        async def web0_back() -> bool:
            # The new web-0 (not the old one still terminating), and ready: until then
            # the controller would make the next web-0 at whatever revision is current.
            pods = {p["metadata"]["name"]: p for p in await pods_of(client, "app=nginx")}
            if "web-0" not in pods or pods["web-0"]["metadata"]["uid"] == old_uid:
                return False
            return await revisions() == [before, before, after] and (
                (await status(client)).get("readyReplicas") == 3)  # fmt: skip

        await until(web0_back)

        # Partition 0: the rest rolls, web-1 before web-0 (a watch sees every step, where
        # polling could see both new pods in one list).
        order: list[str] = ["web-2"]
        listed = await client.get(PODS, labelSelector="app=nginx")

        async def watch_order() -> None:
            rv = listed["metadata"]["resourceVersion"]
            async for event in client.watch(PODS, resourceVersion=rv, labelSelector="app=nginx"):
                meta = event["object"]["metadata"]
                if meta["labels"][HASH_LABEL] == after and meta["name"] not in order:
                    order.append(meta["name"])

        watcher = asyncio.create_task(watch_order())
        await cluster.kubectl("patch", "sts/web", "-p", patch.replace("2", "0"))

        async def all_updated() -> bool:
            now = await status(client)
            return now.get("currentRevision") == after and now.get("updatedReplicas") == 3

        await until(all_updated)
        await cancel_and_wait(watcher)
        assert order == ["web-2", "web-1", "web-0"]


async def test_ordered_scale_down_waits_for_termination(
    cluster: Cluster, client: ApiClient, controller: StatefulSetController
) -> None:
    """Bound pods terminate gracefully: web-1 goes only once web-2 is really gone."""
    await make_node(client, "node-a")
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="OrderedReady"))
    async with FakeKubelet(client, "app=nginx", node="node-a") as kubelet:
        await cluster.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        kubelet.finish_deletions = False  # containers that take their time to stop
        await cluster.kubectl("scale", "sts/web", "--replicas=1")

        async def terminating() -> list[str]:
            items = (await client.get(PODS, labelSelector="app=nginx"))["items"]
            return [p["metadata"]["name"] for p in items if p["metadata"].get("deletionTimestamp")]

        async def web2_terminating() -> bool:
            return await terminating() == ["web-2"]

        await until(web2_terminating)
        await until(lambda: status_is(client, replicas=3, observed=True))
        await asyncio.sleep(0.3)  # more syncs: still only web-2 on its way out
        assert await terminating() == ["web-2"]
        kubelet.finish_deletions = True
        await until(lambda: exactly(client, "web-0"))


async def status_is(client: ApiClient, *, replicas: int, observed: bool) -> bool:
    sts = await client.get(f"{STS}/web")
    seen = (sts.get("status") or {}).get("observedGeneration") == sts["metadata"]["generation"]
    return bool((sts.get("status") or {}).get("replicas") == replicas and seen == observed)


async def exactly(client: ApiClient, *wanted: str) -> bool:
    return await names(client) == list(wanted)


async def test_parallel_creates_and_deletes_without_waiting(
    cluster: Cluster, client: ApiClient, controller: StatefulSetController
) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="Parallel"))

    async def count_is(n: int) -> bool:
        return len(await names(client)) == n

    await until(lambda: count_is(3))  # none of them ever ready
    # An orphaned member is adopted back, not replaced.
    web1 = await client.get(f"{PODS}/web-1")
    await client.patch(f"{PODS}/web-1", {"metadata": {"ownerReferences": None}})

    async def adopted() -> bool:
        pod = await client.get(f"{PODS}/web-1")
        return bool(pod["metadata"].get("ownerReferences"))

    await until(adopted)
    assert (await client.get(f"{PODS}/web-1"))["metadata"]["uid"] == web1["metadata"]["uid"]
    # whenScaled: Delete hands each claim to its pod before the pod goes.
    patch = '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenScaled":"Delete"}}}'
    await cluster.kubectl("patch", "sts/web", "-p", patch)
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in await pods_of(client, "app=nginx")}
    await cluster.kubectl("scale", "sts/web", "--replicas=1")
    await until(lambda: count_is(1))
    claims = {c["metadata"]["name"]: c for c in (await client.get(PVCS))["items"]}
    assert not claims["www-web-0"]["metadata"].get("ownerReferences")
    for n in (1, 2):
        [ref] = claims[f"www-web-{n}"]["metadata"]["ownerReferences"]
        assert ref["kind"] == "Pod" and ref["uid"] == uids[f"web-{n}"]
    await cluster.kubectl("scale", "sts/web", "--replicas=0")
    await until(lambda: count_is(0))


async def test_runs_beside_the_other_controllers_on_shared_informers(
    cluster: Cluster, client: ApiClient
) -> None:
    """As the controller manager will run them (its CONTROLLERS plus these two): one
    InformerFactory, shared pod cache and indexes."""
    informers = InformerFactory(client)
    kinds = tuple(dict.fromkeys((*CONTROLLERS, DaemonSetController, StatefulSetController)))
    controllers = [make(informers) for make in kinds]
    informers.start()
    tasks = [asyncio.create_task(c.run()) for c in controllers]
    try:
        await make_node(client, "node-a")
        await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="Parallel"))
        await client.create(resource_path("apps", "v1", "daemonsets", "default"), {
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "a", "image": "agent"}]}}},
        })  # fmt: skip
        await cluster.kubectl("create", "deployment", "api", "--image=api", "--replicas=2")

        async def all_there() -> bool:
            return (len(await names(client)) == 3
                    and len(await pods_of(client, "app=agent")) == 1
                    and len(await pods_of(client, "app=api")) == 2)  # fmt: skip

        await until(all_there)
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


async def test_ordered_ready_scaling_halts_while_a_pod_is_unready(
    cluster: Cluster, client: ApiClient, controller: StatefulSetController
) -> None:
    # Checklist T02: with OrderedReady, neither a scale-up nor a scale-down
    # moves while any pod is unready; both go on once it is Ready again.
    await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST.format(policy="OrderedReady"))

    async def ready_all(n: int) -> bool:
        pods = await pods_of(client, "app=nginx")
        for pod in pods:
            if not is_ready(pod):
                await mark_ready(client, pod)
        return len(pods) == n and all(map(is_ready, pods))

    async def settle(n: int) -> None:
        async def observed() -> bool:
            s = await status(client)
            return s.get("replicas") == n and s.get("readyReplicas", 0) == n - 1

        await until(observed)  # the controller has seen web-0 unready ...
        await asyncio.sleep(0.3)  # ... and, given more time, changes nothing

    async def unready_web_0() -> None:
        pod = next(p for p in await pods_of(client, "app=nginx")
                   if p["metadata"]["name"] == "web-0")  # fmt: skip
        conditions = [{**c, "status": "False"} if c["type"] == "Ready" else c
                      for c in pod["status"]["conditions"]]  # fmt: skip
        body = {**pod, "status": {**pod["status"], "conditions": conditions}}
        await client.update(f"{PODS}/web-0/status", body)

    await until(lambda: ready_all(3))
    await unready_web_0()
    await cluster.kubectl("scale", "sts/web", "--replicas=4")
    await settle(3)
    assert await names(client) == ["web-0", "web-1", "web-2"]
    await until(lambda: ready_all(4))  # web-0 Ready again: web-3 comes
    await unready_web_0()
    await cluster.kubectl("scale", "sts/web", "--replicas=1")
    await settle(4)
    assert await names(client) == ["web-0", "web-1", "web-2", "web-3"]
    await until(lambda: ready_all(1))  # web-0 Ready again: web-3, web-2, web-1 go
