"""The CronJob controller against a real API server, driven by the real kubectl.

Time is the controller's injected wall clock plus a FakeClock under its work
queue, moved together: the requeue for the next schedule time is what
starts each Job, so the tests also prove there is no polling.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.client.workqueue import FakeClock
from kybernetes.controllers.cronjob import CronJobController
from kybernetes.controllers.cronjob_decisions import SCHEDULED_TIMESTAMP
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
CRONJOBS = resource_path("batch", "v1", "cronjobs", "default")
JOBS = resource_path("batch", "v1", "jobs", "default")
EVENTS = resource_path("", "v1", "events", "default")


class Time:
    """The controller's wall clock and its queue's clock, advanced together."""

    def __init__(self) -> None:
        self.start = datetime.datetime.now(datetime.UTC)
        self.queue = FakeClock()

    def now(self) -> datetime.datetime:
        return self.start + datetime.timedelta(seconds=self.queue.now())

    async def advance(self, seconds: float) -> None:
        await self.queue.advance(seconds)

    async def to_minute(
        self, client: ApiClient, cronjob: str, minutes: int = 1, past: float = 5
    ) -> None:
        """On to `past` seconds after the `minutes`-th minute boundary after the
        CronJob's creation (which the real server stamped on the real clock)."""
        created = (await client.get(f"{CRONJOBS}/{cronjob}"))["metadata"]["creationTimestamp"]
        moment = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
        target = moment.replace(second=0) + datetime.timedelta(minutes=minutes, seconds=past)
        await self.advance((target - self.now()).total_seconds())


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def time() -> Time:
    return Time()


@pytest.fixture
async def controller(client: ApiClient, time: Time) -> AsyncIterator[CronJobController]:
    informers = InformerFactory(client)
    controller = CronJobController(informers, now=time.now, clock=time.queue)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.05)
        return result


async def jobs_of(client: ApiClient, cronjob: str) -> list[Obj]:
    items = (await client.get(JOBS))["items"]
    return sorted(
        (j for j in items if any(r.get("name") == cronjob and r.get("kind") == "CronJob"
                                 for r in j["metadata"].get("ownerReferences") or [])),
        key=lambda j: j["metadata"]["name"],
    )  # fmt: skip


def count_is(client: ApiClient, cronjob: str, n: int) -> Callable[[], Awaitable[list[Obj]]]:
    async def check() -> list[Obj]:
        jobs = await jobs_of(client, cronjob)
        return jobs if len(jobs) == n else []

    return check


async def finish(client: ApiClient, job: Obj, kind: str = "Complete") -> None:
    """What the Job controller writes when the Job ends."""
    fresh = await client.get(f"{JOBS}/{job['metadata']['name']}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fresh["status"] = {"startTime": stamp,
                       "conditions": [{"type": kind, "status": "True",
                                       "lastTransitionTime": stamp}]}  # fmt: skip
    if kind == "Complete":
        fresh["status"]["completionTime"] = stamp
    await client.update(f"{JOBS}/{job['metadata']['name']}/status", fresh)


async def reasons(
    client: ApiClient, controller: CronJobController, name: str, *expected: str
) -> list[str]:
    """The Event reasons about a CronJob, once the `expected` ones are there (the
    controller records an Event just after the write a test may already have seen)."""
    cj = await client.get(f"{CRONJOBS}/{name}")

    async def check() -> list[str]:
        await controller.events.flush()
        selector = f"involvedObject.uid={cj['metadata']['uid']}"
        items = (await client.get(EVENTS, fieldSelector=selector))["items"]
        told = [e["reason"] for e in items]
        return told if set(expected) <= set(told) else []

    return await until(check)  # type: ignore[no-any-return]


async def cron_status(client: ApiClient, name: str) -> Obj:
    return (await client.get(f"{CRONJOBS}/{name}")).get("status") or {}  # type: ignore[no-any-return]


async def test_kubectl_cronjob_starts_jobs_on_schedule(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await cluster.kubectl("create", "cronjob", "hello", "--image=busybox",
                          "--schedule=*/1 * * * *", "--", "date")  # fmt: skip
    await asyncio.sleep(0.3)
    assert await jobs_of(client, "hello") == []  # nothing before the first minute turns
    await time.to_minute(client, "hello")
    (job,) = await until(count_is(client, "hello", 1))
    meta = job["metadata"]
    cj = await client.get(f"{CRONJOBS}/hello")
    scheduled = datetime.datetime.fromisoformat(meta["annotations"][SCHEDULED_TIMESTAMP])
    assert scheduled.second == 0 and scheduled <= time.now()
    assert meta["name"] == f"hello-{int(scheduled.timestamp()) // 60}"
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
             "uid": cj["metadata"]["uid"], "controller": True,
             "blockOwnerDeletion": True}  # fmt: skip
    assert meta["ownerReferences"] == [owner]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]

    async def active() -> Obj:
        status = await cron_status(client, "hello")
        return status if status.get("active") else {}

    status = await until(active)
    assert [r["name"] for r in status["active"]] == [meta["name"]]
    assert status["active"][0]["uid"] == meta["uid"]
    assert status["lastScheduleTime"] == scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    table = await cluster.kubectl("get", "cronjob", "hello")
    header, row = table.split("\n")[:2]
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                              "LAST", "SCHEDULE", "AGE"]  # fmt: skip
    assert row.split()[:7] == ["hello", "*/1", "*", "*", "*", "*", "<none>"]
    assert row.split()[7:9] == ["False", "1"]
    # The Job ends: it leaves the active list and sets lastSuccessfulTime.
    await finish(client, job)

    async def settled() -> Obj:
        status = await cron_status(client, "hello")
        return status if not status.get("active") and status.get("lastSuccessfulTime") else {}

    await until(settled)
    # The next minute brings the next Job, from the queue's own requeue.
    await time.advance(60)
    await until(count_is(client, "hello", 2))

    async def created_twice() -> bool:
        return (await reasons(client, controller, "hello")).count("SuccessfulCreate") == 2

    await until(created_twice)
    told = await reasons(client, controller, "hello")
    assert "SawCompletedJob" in told
    assert "UnexpectedJob" not in told  # its own new Job, seen before its status write
    # A Job started by hand from the CronJob is an API call only.
    await cluster.kubectl("create", "job", "--from=cronjob/hello", "manual")
    manual = await client.get(f"{JOBS}/manual")
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert manual["metadata"]["ownerReferences"][0]["uid"] == cj["metadata"]["uid"]
    assert manual["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]
    await reasons(client, controller, "hello", "UnexpectedJob")  # as Kubernetes tells it


async def make_cronjob(cluster: Cluster, name: str, extra: str) -> None:
    manifest = f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: "*/1 * * * *"
{extra}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: busybox}}]
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)


async def test_forbid_skips_while_a_job_runs(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await make_cronjob(cluster, "forbid", "  concurrencyPolicy: Forbid")
    await time.to_minute(client, "forbid")
    (first,) = await until(count_is(client, "forbid", 1))
    await until(lambda: _active_names(client, "forbid"))
    await time.advance(60)

    await reasons(client, controller, "forbid", "JobAlreadyActive")
    assert len(await jobs_of(client, "forbid")) == 1
    await finish(client, first, "Failed")
    # The skipped time is still the most recent one due (no startingDeadlineSeconds):
    # it starts as soon as the running Job is done, as in Kubernetes.
    (_, second) = await until(count_is(client, "forbid", 2))
    await until(_active_is(client, "forbid", [second["metadata"]["name"]]))


async def _active_names(client: ApiClient, name: str) -> list[str]:
    return [r["name"] for r in (await cron_status(client, name)).get("active") or []]


def _active_is(client: ApiClient, name: str, names: list[str]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _active_names(client, name) == names

    return check


async def _no_active(client: ApiClient, name: str) -> bool:
    return not (await cron_status(client, name)).get("active")


async def test_replace_deletes_the_running_job(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await make_cronjob(cluster, "replace", "  concurrencyPolicy: Replace")
    await time.to_minute(client, "replace")
    (first,) = await until(count_is(client, "replace", 1))
    await until(lambda: _active_names(client, "replace"))
    await time.advance(60)
    (second,) = await until(_only_other_than(client, "replace", first["metadata"]["name"]))
    await until(_active_is(client, "replace", [second["metadata"]["name"]]))
    await reasons(client, controller, "replace", "SuccessfulDelete")


def _only_other_than(client: ApiClient, name: str, gone: str) -> Callable[[], Awaitable[Any]]:
    async def check() -> list[Obj]:
        jobs = await jobs_of(client, name)
        names = [j["metadata"]["name"] for j in jobs]
        return jobs if len(jobs) == 1 and names != [gone] else []

    return check


async def test_allow_runs_jobs_side_by_side(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await make_cronjob(cluster, "allow", "")
    await time.to_minute(client, "allow")
    await until(count_is(client, "allow", 1))
    await until(lambda: _active_names(client, "allow"))
    await time.advance(60)
    await until(count_is(client, "allow", 2))

    async def two_active() -> bool:
        return len(await _active_names(client, "allow")) == 2

    await until(two_active)


async def test_suspended_cronjob_starts_nothing(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await make_cronjob(cluster, "paused", "  suspend: true")
    await time.to_minute(client, "paused")
    await time.advance(60)
    await asyncio.sleep(0.3)
    assert await jobs_of(client, "paused") == []
    await cluster.kubectl("patch", "cronjob", "paused", "-p", '{"spec":{"suspend":false}}')
    await until(count_is(client, "paused", 1))  # the most recent missed time runs on resume


async def test_history_limits_remove_old_jobs(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    await make_cronjob(cluster, "tidy", "  successfulJobsHistoryLimit: 1\n"
                                        "  failedJobsHistoryLimit: 0")  # fmt: skip
    names = []
    for n in range(1, 3):
        await (time.to_minute(client, "tidy") if n == 1 else time.advance(60))
        jobs = await until(count_is(client, "tidy", 1 if n == 1 else 2))
        names = [j["metadata"]["name"] for j in jobs]
        await finish(client, jobs[-1])
        await until(lambda: _no_active(client, "tidy"))
    # Two successful Jobs, a limit of one: the older is deleted.
    (kept,) = await until(count_is(client, "tidy", 1))
    assert kept["metadata"]["name"] == names[-1]
    await time.advance(60)
    (_, failing) = await until(count_is(client, "tidy", 2))
    await finish(client, failing, "Failed")
    await until(_gone(client, failing["metadata"]["name"]))  # failed limit 0: removed at once
    await reasons(client, controller, "tidy", "SuccessfulDelete")


def _gone(client: ApiClient, name: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            await client.get(f"{JOBS}/{name}")
        except ApiStatusError as err:
            return err.code == 404
        return False

    return check


async def test_too_late_to_start(
    cluster: Cluster, client: ApiClient, controller: CronJobController, time: Time
) -> None:
    # Created long ago as far as the controller can tell, with a 10 s window.
    await make_cronjob(cluster, "late", "  startingDeadlineSeconds: 10\n  suspend: true")
    await time.to_minute(client, "late", 5, past=30)
    await cluster.kubectl("patch", "cronjob", "late", "-p", '{"spec":{"suspend":false}}')
    await asyncio.sleep(0.3)
    assert await jobs_of(client, "late") == []  # 30 s past the minute: beyond the 10 s window
    await time.advance(31)  # the next minute is on time
    await until(count_is(client, "late", 1))


async def test_the_api_refuses_schedules_the_controller_cannot_run(cluster: Cluster) -> None:
    out = await cluster.kubectl("create", "cronjob", "bad", "--image=busybox",
                                "--schedule=61 * * * *", check=False)  # fmt: skip
    assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59)' in out
    tz = await cluster.kubectl("create", "cronjob", "bad", "--image=busybox",
                               "--schedule=CRON_TZ=UTC 0 * * * *", check=False)  # fmt: skip
    assert "cannot use TZ or CRON_TZ in schedule, use timeZone field instead" in tz
    assert "end of range" not in tz  # the rest of the schedule is fine
    manifest = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: zoned}
spec:
  schedule: "0 9 * * *"
  timeZone: Mars/Olympus
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
"""
    zone = await cluster.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in zone
    good = manifest.replace("Mars/Olympus", "Europe/Berlin")
    await cluster.kubectl("apply", "-f", "-", stdin=good)
    table = await cluster.kubectl("get", "cronjob", "zoned")
    assert table.split("\n")[1].split()[6] == "Europe/Berlin"
