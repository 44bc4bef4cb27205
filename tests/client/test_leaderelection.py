"""Leader election over a real Lease: one leader, CAS-safe take-over, release."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from kybernetes.client.leaderelection import LeaderElector, LeaseConfig, lease_is_free
from kybernetes.client.rest import ApiClient
from tests.apiserver.conftest import Cluster

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.UTC)


def test_a_lease_is_free_when_unheld_ours_or_expired() -> None:
    assert lease_is_free({}, "a", NOW)
    assert lease_is_free({"holderIdentity": "a"}, "a", NOW)
    held = {"holderIdentity": "b", "leaseDurationSeconds": 15,
            "renewTime": "2026-11-30T11:59:50.000000Z"}  # fmt: skip
    assert not lease_is_free(held, "a", NOW)
    assert lease_is_free(held, "a", NOW + datetime.timedelta(seconds=6))


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


def config(identity: str) -> LeaseConfig:
    return LeaseConfig("kube-system", "kyb-controllers", identity,
                       lease_duration=2, renew_deadline=1.5, retry_period=0.1)  # fmt: skip


async def test_racing_candidates_get_exactly_one_leader(client: ApiClient) -> None:
    electors = [LeaderElector(client, config(f"c{i}")) for i in range(5)]
    won = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
    assert sum(won) == 1
    lease = await client.get(
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kyb-controllers"
    )
    assert lease["spec"]["holderIdentity"] == f"c{won.index(True)}"


async def test_a_successor_takes_over_after_release(client: ApiClient) -> None:
    first, second = LeaderElector(client, config("first")), LeaderElector(client, config("second"))
    leading: list[str] = []

    def lead_as(name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def lead() -> None:
            leading.append(name)
            await asyncio.Event().wait()  # work until cancelled

        return lead

    one = asyncio.create_task(first.run(lead_as("first")))
    async with asyncio.timeout(10):
        while leading != ["first"]:
            await asyncio.sleep(0.01)
    two = asyncio.create_task(second.run(lead_as("second")))
    await asyncio.sleep(0.3)
    assert leading == ["first"]  # the lease is held and renewed
    one.cancel()
    await asyncio.wait([one])
    await first.release()
    async with asyncio.timeout(10):
        while leading != ["first", "second"]:
            await asyncio.sleep(0.01)
    assert second.is_leader
    assert not await first.try_acquire_or_renew()  # the old leader cannot write over it
    two.cancel()
    await asyncio.wait([two])
