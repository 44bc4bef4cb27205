"""TTL after finished: when a finished Job expires, and the real deletion through the API."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.client.workqueue import FakeClock
from kybernetes.controllers.ttlafterfinished import (
    TTLAfterFinishedController,
    expires_at,
    time_left,
)
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
JOBS = resource_path("batch", "v1", "jobs", "default")
T0 = datetime.datetime(2026, 11, 30, 6, 0, tzinfo=datetime.UTC)


def finished_job(kind: str = "Complete", ttl: int | None = 100, **meta: Any) -> Obj:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    condition = {"type": kind, "status": "True", "lastTransitionTime": "2026-11-30T06:00:00Z"}
    return {"metadata": {"name": "j", "namespace": "default", **meta}, "spec": spec,
            "status": {"conditions": [condition]}}  # fmt: skip


def test_expiry_counts_from_the_finishing_condition() -> None:
    assert expires_at(finished_job()) == T0 + datetime.timedelta(seconds=100)
    assert expires_at(finished_job("Failed", 0)) == T0
    assert time_left(finished_job(), T0 + datetime.timedelta(seconds=40)) == 60


def test_what_never_expires() -> None:
    assert expires_at(finished_job(ttl=None)) is None  # no TTL
    running = finished_job()
    running["status"]["conditions"][0]["type"] = "SuccessCriteriaMet"
    assert expires_at(running) is None  # not finished yet
    false = finished_job()
    false["status"]["conditions"][0]["status"] = "False"
    assert expires_at(false) is None
    assert expires_at(finished_job(deletionTimestamp="2026-11-30T06:00:01Z")) is None


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def complete(client: ApiClient, name: str, when: datetime.datetime) -> None:
    """Mark a Job Complete through its status, as the Job controller would."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    job = await client.get(f"{JOBS}/{name}")
    job["status"] = {"startTime": stamp, "completionTime": stamp, "succeeded": 1,
                     "conditions": [{"type": "Complete", "status": "True",
                                     "lastTransitionTime": stamp}]}  # fmt: skip
    await client.update(f"{JOBS}/{name}/status", job)


async def exists(client: ApiClient, name: str) -> bool:
    try:
        await client.get(f"{JOBS}/{name}")
    except ApiStatusError as err:
        assert err.code == 404
        return False
    return True


async def test_finished_jobs_are_deleted_when_their_ttl_passes(
    cluster: Cluster, client: ApiClient
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    queue_clock = FakeClock()
    informers = InformerFactory(client)
    controller = TTLAfterFinishedController(informers, now=lambda: now, clock=queue_clock)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        template = ("apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n"
                    "  ttlSecondsAfterFinished: {ttl}\n  template:\n    spec:\n"
                    "      restartPolicy: Never\n"
                    "      containers: [{{name: c, image: busybox}}]\n")  # fmt: skip
        for name, ttl in (("now", 0), ("later", 30), ("never", 0)):
            await cluster.kubectl("apply", "-f", "-", stdin=template.format(name=name, ttl=ttl))
        await complete(client, "now", now)
        await complete(client, "later", now)
        async with asyncio.timeout(15):
            while await exists(client, "now"):
                await asyncio.sleep(0.05)
        assert await exists(client, "later") and await exists(client, "never")
        # "later" waits in the queue for its 30 s; time passes on the queue's clock.
        now += datetime.timedelta(seconds=30)
        async with asyncio.timeout(15):
            while await exists(client, "later"):
                await queue_clock.advance(5)
                await asyncio.sleep(0.05)
        assert await exists(client, "never")  # never finished: never deleted
    finally:
        await cancel_and_wait(task)
        await informers.stop()
