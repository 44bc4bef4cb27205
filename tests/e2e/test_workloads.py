"""Jobs, DaemonSets and StatefulSets end to end, applied with the real kubectl.

Simulated pods run until told to end: the Job's pod template carries the
annotation `kybernetes.io/simulated-exit-code` (kybernetes/simnode/objects.py),
which a real node ignores, so its pods succeed after a short run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kybernetes.simnode.objects import EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION
from kybernetes.simnode.runner import SimulatedNodes
from kybernetes.util.tasks import cancel_and_wait
from tests.e2e.conftest import HEARTBEAT, NODE_CONFIG, NODES, Plane, is_ready, live, until


def manifest(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


CONTAINERS = [{"name": "main", "image": "busybox:1.36", "command": ["true"]}]


async def test_a_job_runs_to_completion(plane: Plane) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"completions": 4, "parallelism": 2, "template": {
            "metadata": {"annotations": {EXIT_CODE_ANNOTATION: "0",
                                         RUN_SECONDS_ANNOTATION: "0.2"}},
            "spec": {"restartPolicy": "Never", "containers": CONTAINERS}}},
    }  # fmt: skip
    await plane.kubectl("apply", "-f", "-", stdin=manifest(job))
    out = await plane.kubectl("wait", "--for=condition=Complete", "job/pi", "--timeout=30s")
    assert "job.batch/pi condition met" in out
    status = (await plane.get("batch", "jobs", "pi"))["status"]
    assert status["succeeded"] == 4 and not status.get("failed") and not status.get("active")
    pods = await plane.pods(selector="job-name=pi")
    assert len(pods) == 4 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    table = await plane.kubectl("get", "job", "pi")
    assert "Complete" in table and "4/4" in table


async def test_a_daemonset_lands_one_pod_on_each_node(plane: Plane) -> None:
    daemonset = {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "agent", "image": "busybox:1.36"}]}}},
    }  # fmt: skip
    await plane.kubectl("apply", "-f", "-", stdin=manifest(daemonset))
    out = await plane.kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    assert 'daemon set "agent" successfully rolled out' in out
    pods = live(await plane.pods(selector="app=agent"))
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(plane.sim.names)
    assert all(map(is_ready, pods))
    status = (await plane.get("apps", "daemonsets", "agent"))["status"]
    assert status["desiredNumberScheduled"] == status["numberReady"] == len(plane.sim.names)

    # A node joins: it gets its own pod too.
    late = SimulatedNodes(plane.client, count=1, start=NODES, config=NODE_CONFIG,
                          heartbeat_interval=HEARTBEAT)  # fmt: skip
    joined = asyncio.create_task(late.run())
    try:

        async def on_every_node() -> bool:
            pods = live(await plane.pods(selector="app=agent"))
            nodes = sorted(p["spec"].get("nodeName") or "" for p in pods)
            return nodes == sorted(plane.sim.names + late.names) and all(map(is_ready, pods))

        await until(on_every_node, what=f"a pod of the DaemonSet on {late.names[0]}")
    finally:
        await cancel_and_wait(joined)


async def test_a_statefulset_creates_its_pods_in_order(plane: Plane) -> None:
    # The order is seen through the pods' creation: each waits for its predecessor's readiness.
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 3,
                 "selector": {"matchLabels": {"app": "db"}}, "template": {
                     "metadata": {"labels": {"app": "db"}},
                     "spec": {"containers": [{"name": "db", "image": "busybox:1.36"}]}}},
    }  # fmt: skip
    await plane.kubectl("apply", "-f", "-", stdin=manifest(statefulset))
    seen: list[str] = []  # pod names, in the order they first appeared

    async def all_ready() -> bool:
        pods = live(await plane.pods(selector="app=db"))
        for pod in pods:
            if pod["metadata"]["name"] not in seen:
                seen.append(pod["metadata"]["name"])
            index = int(pod["metadata"]["name"].rsplit("-", 1)[1])
            if index > 0:  # created only once its predecessor was Running and Ready
                before = next((p for p in pods if p["metadata"]["name"] == f"db-{index - 1}"),
                              None)  # fmt: skip
                assert before is not None and is_ready(before), f"db-{index} before db-{index - 1}"
        return len(pods) == 3 and all(map(is_ready, pods))

    await until(all_ready, what="db-0, db-1, db-2 Running and Ready")
    assert seen == ["db-0", "db-1", "db-2"]
    pods = {p["metadata"]["name"]: p for p in live(await plane.pods(selector="app=db"))}
    stamps = [pods[f"db-{i}"]["metadata"]["creationTimestamp"] for i in range(3)]
    assert stamps == sorted(stamps)
    out = await plane.kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
    # The defaulted partition (0) makes kubectl report it as a partitioned roll out, as upstream.
    assert "roll out complete: 3 new pods have been updated" in out

    # Scaling down goes from the highest ordinal, one at a time.
    await plane.kubectl("scale", "statefulset/db", "--replicas=1")
    left: list[list[str]] = []

    async def scaled_down() -> bool:
        names = sorted(p["metadata"]["name"] for p in await plane.pods(selector="app=db"))
        if not left or left[-1] != names:
            left.append(names)
        return names == ["db-0"]

    await until(scaled_down, what="db-2, then db-1, to go")
    assert all(names in (["db-0", "db-1", "db-2"], ["db-0", "db-1"], ["db-0"]) for names in left)
