"""The Job controller against a real API server, driven by the real kubectl.

Nothing runs the pods here: the tests finish them by writing their status
(`pods/NAME/status`, phase and a terminated container), as a kubelet would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.client.workqueue import FakeClock
from kybernetes.controllers.cronjob import CronJobController
from kybernetes.controllers.job import JobController
from kybernetes.controllers.job_decisions import COMPLETION_INDEX
from kybernetes.controllers.manager import CONTROLLERS
from kybernetes.controllers.ttlafterfinished import TTLAfterFinishedController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
JOBS = resource_path("batch", "v1", "jobs", "default")
PODS = resource_path("", "v1", "pods", "default")
EVENTS = resource_path("", "v1", "events", "default")


class Clock:
    """The controller's wall clock, which a test can move forward."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def controller(client: ApiClient, clock: Clock) -> AsyncIterator[JobController]:
    informers = InformerFactory(client)
    controller = JobController(informers, now=clock.now)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


@contextlib.asynccontextmanager
async def fake_time_controller(
    client: ApiClient,
) -> AsyncIterator[tuple[FakeClock, Callable[[], datetime.datetime], JobController]]:
    """A Job controller whose wall clock and work-queue clock are one FakeClock."""
    queue_clock = FakeClock()
    start = datetime.datetime.now(datetime.UTC)

    def now() -> datetime.datetime:
        return start + datetime.timedelta(seconds=queue_clock.now())

    informers = InformerFactory(client)
    controller = JobController(informers, now=now, clock=queue_clock)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield queue_clock, now, controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15) -> Any:
    """Poll `check` until it returns something truthy; return that."""
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.05)
        return result


async def job_pods(client: ApiClient, job: str, *, live: bool = True) -> list[Obj]:
    pods = (await client.get(PODS, labelSelector=f"batch.kubernetes.io/job-name={job}"))["items"]
    return [p for p in pods if not live or _live(p)]


def _live(pod: Obj) -> bool:
    return pod["status"].get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


async def finish(client: ApiClient, pod: Obj, phase: str, code: int | None = None) -> None:
    """What a kubelet reports when the pod's only container exits."""
    ended = "2026-01-01T00:00:00Z"  # long ago: no pod-failure back-off is left to wait
    code = (0 if phase == "Succeeded" else 1) if code is None else code
    container = pod["spec"]["containers"][0]["name"]
    await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": container, "image": "perl", "imageID": "", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else
                                     "Error", "startedAt": ended, "finishedAt": ended}},
        }],
    }})  # fmt: skip


def condition(job: Obj, kind: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return c  # type: ignore[no-any-return]
    return None


async def events_of(
    client: ApiClient, controller: JobController, uid: str, *expected: str
) -> list[Obj]:
    """The Events about an object, once those with the `expected` reasons are there (the
    controller records an Event just after the write a test may already have seen)."""

    async def check() -> list[Obj]:
        await controller.events.flush()
        selector = f"involvedObject.uid={uid}"
        items: list[Obj] = (await client.get(EVENTS, fieldSelector=selector))["items"]
        return items if set(expected) <= {e["reason"] for e in items} else []

    return await until(check)  # type: ignore[no-any-return]


async def test_kubectl_job_runs_to_completion(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    await cluster.kubectl("create", "job", "pi", "--image=perl", "--", "perl", "-e", "1")
    (pod,) = await until(lambda: job_pods(client, "pi"))
    meta = pod["metadata"]
    job = await client.get(f"{JOBS}/pi")
    uid = job["metadata"]["uid"]
    assert meta["generateName"] == "pi-" and len(meta["name"]) == len("pi-") + 5
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi",
                                        "uid": uid, "controller": True,
                                        "blockOwnerDeletion": True}]  # fmt: skip
    for label in ("batch.kubernetes.io/controller-uid", "controller-uid"):
        assert meta["labels"][label] == uid
    for label in ("batch.kubernetes.io/job-name", "job-name"):
        assert meta["labels"][label] == "pi"
        assert job["metadata"]["labels"][label] == "pi"  # the Job takes its template's labels

    async def running() -> bool:
        status = (await client.get(f"{JOBS}/pi")).get("status") or {}
        return status.get("active") == 1 and "startTime" in status

    await until(running)
    table = await cluster.kubectl("get", "jobs")
    assert table.split("\n")[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table.split("\n")[1].split()[:3] == ["pi", "Running", "0/1"]

    await finish(client, pod, "Succeeded")
    job = await until(lambda: _finished(client, "pi"))
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    complete = condition(job, "Complete")
    assert complete is not None and complete["reason"] == "CompletionsReached"
    assert complete["message"] == "Reached expected number of succeeded pods"
    status = job["status"]
    assert status["succeeded"] == 1 and "active" not in status and "failed" not in status
    assert status["uncountedTerminatedPods"] == {} and status["completionTime"]
    table = await cluster.kubectl("get", "jobs")
    assert table.split("\n")[1].split()[:3] == ["pi", "Complete", "1/1"]
    # The story `kubectl describe job` tells.
    events = await events_of(client, controller, uid, "SuccessfulCreate", "Completed")
    told = {(e["reason"], e["message"]) for e in events}
    assert ("SuccessfulCreate", f"Created pod: {meta['name']}") in told
    assert ("Completed", "Job completed") in told
    # Nothing more happens to a finished Job.
    await asyncio.sleep(0.3)
    assert await job_pods(client, "pi", live=False) != [] and not await job_pods(client, "pi")


async def _finished(client: ApiClient, name: str) -> Obj | None:
    job = await client.get(f"{JOBS}/{name}")
    return job if condition(job, "Complete") or condition(job, "Failed") else None


async def test_failing_pods_are_replaced_until_the_backoff_limit(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: flaky}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox, command: ["false"]}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    failed_names = []
    for attempt in range(3):
        (pod,) = await until(lambda: job_pods(client, "flaky"))
        assert pod["metadata"]["name"] not in failed_names, f"attempt {attempt}: no new pod"
        failed_names.append(pod["metadata"]["name"])
        await finish(client, pod, "Failed")
    job = await until(lambda: _finished(client, "flaky"))
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert condition(job, "FailureTarget") is not None
    assert job["status"]["failed"] == 3 and not await job_pods(client, "flaky")
    table = await cluster.kubectl("get", "job", "flaky")
    assert table.split("\n")[1].split()[:3] == ["flaky", "Failed", "0/1"]
    await events_of(client, controller, job["metadata"]["uid"], "BackoffLimitExceeded")


async def test_active_deadline_fails_the_job_and_deletes_its_pods(
    cluster: Cluster, client: ApiClient
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: slow}
spec:
  parallelism: 2
  completions: 4
  activeDeadlineSeconds: 600
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    async with fake_time_controller(client) as (queue_clock, _, controller):
        await cluster.kubectl("apply", "-f", "-", stdin=manifest)
        await until(lambda: _count_is(client, "slow", 2))
        await queue_clock.advance(599)
        await asyncio.sleep(0.3)
        assert condition(await client.get(f"{JOBS}/slow"), "Failed") is None
        await queue_clock.advance(2)  # the deadline's own delayed sync: no polling, no nudge
        job = await until(lambda: _finished(client, "slow"))
        await events_of(client, controller, job["metadata"]["uid"], "DeadlineExceeded")
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "Job was active longer than specified deadline"
    assert not await job_pods(client, "slow", live=False)  # deleted, not left running
    assert job["status"]["failed"] == 2


async def _count_is(client: ApiClient, job: str, n: int) -> bool:
    return len(await job_pods(client, job)) == n


async def test_parallel_job_suspend_and_resume(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: par}
spec:
  parallelism: 2
  completions: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    pods = await until(lambda: _pods_if(client, "par", 2))
    await finish(client, pods[0], "Succeeded")
    # Two completions left: two pods run again, never three (no over-creation while
    # caches lag).
    await until(lambda: _succeeded_is(client, "par", 1))
    await until(lambda: _count_is(client, "par", 2))
    await asyncio.sleep(0.3)  # a grace period to catch over-creation (a negative check)
    assert len(await job_pods(client, "par")) == 2
    await cluster.kubectl("patch", "job", "par", "-p", '{"spec":{"suspend":true}}')
    await until(lambda: _count_is(client, "par", 0))

    async def suspended() -> bool:
        return condition(await client.get(f"{JOBS}/par"), "Suspended") is not None

    await until(suspended)
    table = await cluster.kubectl("get", "job", "par")
    assert table.split("\n")[1].split()[:3] == ["par", "Suspended", "1/3"]
    await cluster.kubectl("patch", "job", "par", "-p", '{"spec":{"suspend":false}}')
    for pod in await until(lambda: _pods_if(client, "par", 2)):
        await finish(client, pod, "Succeeded")
    job = await until(lambda: _finished(client, "par"))
    assert condition(job, "Complete") is not None and job["status"]["succeeded"] == 3
    assert job["status"].get("failed") is None  # suspended pods are not failures
    await events_of(client, controller, job["metadata"]["uid"],
                    "Suspended", "Resumed", "SuccessfulDelete", "Completed")  # fmt: skip


async def _pods_if(client: ApiClient, job: str, n: int) -> list[Obj] | None:
    pods = await job_pods(client, job)
    return pods if len(pods) == n else None


async def _succeeded_is(client: ApiClient, job: str, n: int) -> bool:
    return ((await client.get(f"{JOBS}/{job}")).get("status") or {}).get("succeeded") == n


async def test_indexed_job_gives_each_pod_its_index(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  parallelism: 3
  completions: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    pods = await until(lambda: _pods_if(client, "idx", 3))
    by_index = {p["metadata"]["annotations"][COMPLETION_INDEX]: p for p in pods}
    assert sorted(by_index) == ["0", "1", "2"]
    for index, pod in by_index.items():
        assert pod["metadata"]["labels"][COMPLETION_INDEX] == index
        assert pod["spec"]["hostname"] == f"idx-{index}"
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
    for pod in pods:
        await finish(client, pod, "Succeeded")
    job = await until(lambda: _finished(client, "idx"))
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3


async def test_work_queue_job_completes_when_one_succeeds_and_none_run(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: queue}
spec:
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    job = await client.get(f"{JOBS}/queue")
    assert "completions" not in job["spec"]  # parallelism alone: a work queue
    pods = await until(lambda: _pods_if(client, "queue", 2))
    await finish(client, pods[0], "Succeeded")
    await until(lambda: _succeeded_is(client, "queue", 1))
    assert condition(await client.get(f"{JOBS}/queue"), "Complete") is None  # one still runs
    assert len(await job_pods(client, "queue")) == 1  # and none is added
    await finish(client, pods[1], "Succeeded")
    job = await until(lambda: _finished(client, "queue"))
    assert condition(job, "Complete") is not None and job["status"]["succeeded"] == 2


async def test_a_failed_pod_is_replaced_after_the_backoff(
    cluster: Cluster, client: ApiClient
) -> None:
    async with fake_time_controller(client) as (queue_clock, now, _):
        await cluster.kubectl("create", "job", "retry", "--image=busybox")
        (pod,) = await until(lambda: job_pods(client, "retry"))
        stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")  # it failed now, on the controller's clock
        await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": {
            "phase": "Failed", "containerStatuses": [{
                "name": "retry", "image": "busybox", "imageID": "", "ready": False,
                "restartCount": 0, "state": {"terminated": {
                    "exitCode": 1, "startedAt": stamp, "finishedAt": stamp}}}]}})  # fmt: skip
        await until(lambda: _failed_is(client, "retry", 1))
        await queue_clock.advance(5)  # 10 s back-off: not yet
        await asyncio.sleep(0.3)
        assert await job_pods(client, "retry") == []
        await queue_clock.advance(6)  # the delayed sync comes from the queue, not a poll
        (replacement,) = await until(lambda: job_pods(client, "retry"))
        assert replacement["metadata"]["name"] != pod["metadata"]["name"]


async def _failed_is(client: ApiClient, job: str, n: int) -> bool:
    return ((await client.get(f"{JOBS}/{job}")).get("status") or {}).get("failed") == n


async def test_orphans_are_adopted_and_strays_released(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: adopt}
spec:
  parallelism: 2
  completions: 4
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    pods = await until(lambda: _pods_if(client, "adopt", 2))
    uid = (await client.get(f"{JOBS}/adopt"))["metadata"]["uid"]
    name = pods[0]["metadata"]["name"]
    # Strip the controller reference: the Job takes the pod back, and makes no new one.
    strip = '[{"op": "remove", "path": "/metadata/ownerReferences"}]'
    await cluster.kubectl("patch", "pod", name, "--type=json", "-p", strip)

    async def owned_again() -> bool:
        refs = (await client.get(f"{PODS}/{name}"))["metadata"].get("ownerReferences") or []
        return [r["uid"] for r in refs if r.get("controller")] == [uid]

    await until(owned_again)
    await asyncio.sleep(0.3)  # a grace period to catch a replacement (a negative check)
    assert len(await job_pods(client, "adopt")) == 2
    # Relabel a pod out of the selector: it is let go, and replaced.
    await cluster.kubectl("label", "pod", name, "--overwrite",
                          "batch.kubernetes.io/controller-uid=elsewhere")  # fmt: skip

    async def released() -> bool:
        return not (await client.get(f"{PODS}/{name}"))["metadata"].get("ownerReferences")

    await until(released)

    async def replaced() -> bool:
        owned = [
            p
            for p in (await client.get(PODS))["items"]
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
        return len([p for p in owned if _live(p)]) == 2  # fmt: skip

    await until(replaced)


async def test_the_batch_controllers_share_informers_with_the_others(client: ApiClient) -> None:
    """How the controller manager builds them: one factory, no clashing indexes."""
    informers = InformerFactory(client)
    batch = (JobController, CronJobController, TTLAfterFinishedController)
    assert set(batch) <= set(CONTROLLERS)  # the manager runs them
    made = [make(informers) for make in CONTROLLERS]
    jobs = informers.informer("batch", "v1", "jobs")
    batch_made = [c for c in made if isinstance(c, batch)]
    assert len(batch_made) == 3
    assert all(controller.jobs is jobs for controller in batch_made)  # type: ignore[attr-defined]


async def test_pod_failure_policy_ignores_and_fails_on_exit_codes(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: policy}
spec:
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {containerName: main, operator: In, values: [42]}
    - action: Ignore
      onExitCodes: {operator: In, values: [3]}
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    job = await client.get(f"{JOBS}/policy")
    assert job["spec"]["podReplacementPolicy"] == "Failed"  # defaulted with a policy
    (pod,) = await until(lambda: job_pods(client, "policy"))
    await finish(client, pod, "Failed", code=3)  # ignored: replaced, not counted
    (second,) = await until(lambda: _other_pod(client, "policy", pod))
    assert ((await client.get(f"{JOBS}/policy")).get("status") or {}).get("failed") is None
    await finish(client, second, "Failed", code=42)  # fails the Job at once
    job = await until(lambda: _finished(client, "policy"))
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (
        f"Container main for pod default/{second['metadata']['name']} failed with exit code "
        "42 matching FailJob rule at index 0"
    )
    assert job["status"]["failed"] == 1  # the ignored failure never counted


async def _other_pod(client: ApiClient, job: str, first: Obj) -> list[Obj]:
    pods = await job_pods(client, job)
    return [p for p in pods if p["metadata"]["name"] != first["metadata"]["name"]]


async def test_tasks_restarted_in_place_still_complete_the_job(
    cluster: Cluster, client: ApiClient, controller: JobController
) -> None:
    # Checklist J10: with restartPolicy OnFailure a task that fails once is
    # restarted in its pod by the kubelet; the Job neither replaces the pod nor
    # counts a failure, and completes.
    manifest = """
apiVersion: batch/v1
kind: Job
metadata: {name: retry}
spec:
  parallelism: 2
  completions: 2
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: main, image: busybox}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    pods = await until(lambda: _pods_if(client, "retry", 2))
    earlier = "2026-01-01T00:00:00Z"
    for pod in pods:
        await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": "main", "image": "busybox", "imageID": "", "ready": True,
                "restartCount": 1, "state": {"running": {"startedAt": earlier}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                             "startedAt": earlier, "finishedAt": earlier}},
            }],
        }})  # fmt: skip
    await asyncio.sleep(0.3)  # a grace period to catch a replacement (a negative check)
    assert len(await job_pods(client, "retry", live=False)) == 2
    for pod in pods:
        await finish(client, pod, "Succeeded")
    job = await until(lambda: _finished(client, "retry"))
    assert condition(job, "Complete") is not None
    assert job["status"]["succeeded"] == 2 and not job["status"].get("failed")
    assert len(await job_pods(client, "retry", live=False)) == 2
