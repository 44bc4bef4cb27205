"""The official Python client on quotas, ReplicationController scale and
evictions (checklist A32, A41, R08, L04, L05, L08), as the conformance tests drive them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient
from kybernetes.controllers.disruption import DisruptionController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


async def test_quota_status_and_lifecycle(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        body = client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="q", labels={"e2e": "quota"}),
            spec=client.V1ResourceQuotaSpec(hard={"cpu": "1", "memory": "500Mi"}),
        )
        core.create_namespaced_resource_quota("default", body)
        quota = core.read_namespaced_resource_quota_status("q", "default")
        quota.status = client.V1ResourceQuotaStatus(hard={"cpu": "1", "memory": "500Mi"},
                                                    used={"cpu": "0", "memory": "0"})  # fmt: skip
        core.replace_namespaced_resource_quota_status("q", "default", quota)
        read = core.read_namespaced_resource_quota_status("q", "default")
        assert read.status.used == {"cpu": "0", "memory": "0"}
        core.patch_namespaced_resource_quota_status(
            "q", "default", {"status": {"hard": {"cpu": "2", "memory": "500Mi"}}}
        )
        read = core.read_namespaced_resource_quota("q", "default")
        assert read.status.hard["cpu"] == "2" and read.spec.hard["cpu"] == "1"
        core.patch_namespaced_resource_quota("q", "default", {"spec": {"hard": {"cpu": "3"}}})
        assert core.read_namespaced_resource_quota("q", "default").spec.hard["cpu"] == "3"
        listed = core.list_resource_quota_for_all_namespaces(label_selector="e2e=quota")
        assert [q.metadata.name for q in listed.items] == ["q"]
        core.delete_collection_namespaced_resource_quota("default", label_selector="e2e=quota")
        assert core.list_namespaced_resource_quota("default").items == []
        api.close()

    await asyncio.to_thread(scenario)


async def test_replication_controller_scale(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        template = client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "rc"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="pause")]),
        )
        rc = client.V1ReplicationController(
            metadata=client.V1ObjectMeta(name="rc"),
            spec=client.V1ReplicationControllerSpec(replicas=1, template=template),
        )
        core.create_namespaced_replication_controller("default", rc)
        scale = core.read_namespaced_replication_controller_scale("rc", "default")
        assert scale.spec.replicas == 1
        scale.spec.replicas = 2
        core.replace_namespaced_replication_controller_scale("rc", "default", scale)
        assert core.read_namespaced_replication_controller("rc", "default").spec.replicas == 2
        api.close()

    await asyncio.to_thread(scenario)


@pytest.fixture
async def disruption(cluster: Cluster) -> AsyncIterator[None]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        informers = InformerFactory(api)
        controller = DisruptionController(informers)
        informers.start()
        task = asyncio.create_task(controller.run())
        try:
            yield
        finally:
            await cancel_and_wait(task)
            await informers.stop()


async def test_eviction_blocked_until_the_budget_is_relaxed(
    cluster: Cluster, disruption: None
) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="p", labels={"app": "p"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="pause")]),
        )
        core.create_namespaced_pod("default", pod)
        core.patch_namespaced_pod_status("p", "default", {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
        pdb = client.V1PodDisruptionBudget(
            metadata=client.V1ObjectMeta(name="b", labels={"e2e": "pdb"}),
            spec=client.V1PodDisruptionBudgetSpec(
                min_available=1, selector=client.V1LabelSelector(match_labels={"app": "p"})
            ),
        )
        policy.create_namespaced_pod_disruption_budget("default", pdb)

        def status() -> client.V1PodDisruptionBudgetStatus:
            return policy.read_namespaced_pod_disruption_budget_status("b", "default").status

        wait_for(lambda: status().current_healthy == 1 and status().observed_generation == 1)
        assert (status().desired_healthy, status().disruptions_allowed) == (1, 0)
        eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="p", namespace="default"))
        try:
            core.create_namespaced_pod_eviction("p", "default", eviction)
        except client.ApiException as err:
            assert err.status == 429
        else:
            raise AssertionError("evicted despite the budget")
        policy.patch_namespaced_pod_disruption_budget("b", "default", {"spec": {"minAvailable": 0}})
        wait_for(lambda: status().disruptions_allowed == 1 and status().observed_generation == 2)
        core.create_namespaced_pod_eviction("p", "default", eviction)
        assert core.list_namespaced_pod("default").items == []
        # L04, L08: list across namespaces, status patch, deletecollection.
        listed = policy.list_pod_disruption_budget_for_all_namespaces(label_selector="e2e=pdb")
        assert [b.metadata.name for b in listed.items] == ["b"]
        policy.delete_collection_namespaced_pod_disruption_budget(
            "default", label_selector="e2e=pdb"
        )
        assert policy.list_namespaced_pod_disruption_budget("default").items == []
        api.close()

    await asyncio.to_thread(scenario)
