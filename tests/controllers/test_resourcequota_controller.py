"""ResourceQuota end to end: the API server's quota admission and the
resource quota controller against a real API server (checklist A32-A43)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.resourcequota import ResourceQuotaController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

NS = "quota"
QUOTAS = resource_path("", "v1", "resourcequotas", NS)
PODS = resource_path("", "v1", "pods", NS)
CMS = resource_path("", "v1", "configmaps", NS)


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        await api.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
        yield api


@pytest.fixture
async def controller(client: ApiClient) -> AsyncIterator[ResourceQuotaController]:
    informers = InformerFactory(client)
    controller = ResourceQuotaController(informers)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def used(client: ApiClient, name: str) -> dict[str, str]:
    status = (await client.get(f"{QUOTAS}/{name}")).get("status") or {}
    return dict(status.get("used") or {})


async def wait_used(client: ApiClient, name: str, **expected: str) -> None:
    wanted = {k.replace("_", "/"): v for k, v in expected.items()}

    async def agrees() -> bool:
        now = await used(client, name)
        return all(now.get(k) == v for k, v in wanted.items())

    await until(agrees)


def pod(name: str, **resources: dict[str, str]) -> dict:
    container: dict = {"name": "app", "image": "pause"}
    if resources:
        container["resources"] = resources
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


async def test_configmap_count_moves_up_and_down(
    client: ApiClient, controller: ResourceQuotaController
) -> None:
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "objects"},
            "spec": {"hard": {"configmaps": "2", "count/configmaps": "2"}},
        },
    )

    async def status_mirrors_spec() -> bool:
        status = (await client.get(f"{QUOTAS}/objects")).get("status") or {}
        return status.get("hard") == {"configmaps": "2", "count/configmaps": "2"}

    await until(status_mirrors_spec)
    await wait_used(client, "objects", configmaps="0")
    await client.create(CMS, {"metadata": {"name": "one"}})
    assert (await used(client, "objects"))["configmaps"] == "1"  # charged by admission at once
    with pytest.raises(ApiStatusError) as again:
        await client.create(CMS, {"metadata": {"name": "one"}})
    assert again.value.code == 409  # AlreadyExists, and nothing charged for it
    assert (await used(client, "objects"))["configmaps"] == "1"
    await client.create(CMS, {"metadata": {"name": "two"}})
    with pytest.raises(ApiStatusError) as refused:
        await client.create(CMS, {"metadata": {"name": "three"}})
    assert refused.value.code == 403
    assert refused.value.status["message"] == (
        'configmaps "three" is forbidden: exceeded quota: objects, requested: '
        "configmaps=1,count/configmaps=1, used: configmaps=2,count/configmaps=2, "
        "limited: configmaps=2,count/configmaps=2"
    )
    with pytest.raises(ApiStatusError) as dry:
        await client.create(f"{CMS}?dryRun=All", {"metadata": {"name": "three"}})
    assert dry.value.code == 403  # a dry run is judged as the create would be
    await client.delete(f"{CMS}/one")
    await wait_used(client, "objects", configmaps="1", count_configmaps="1")
    await client.create(f"{CMS}?dryRun=All", {"metadata": {"name": "dry"}})
    assert (await used(client, "objects"))["configmaps"] == "1"  # charged nothing
    with pytest.raises(ApiStatusError):
        await client.get(f"{CMS}/dry")
    await client.create(CMS, {"metadata": {"name": "three"}})


async def test_concurrent_creates_never_exceed_the_quota(
    client: ApiClient, controller: ResourceQuotaController
) -> None:
    await client.create(QUOTAS, {"metadata": {"name": "few"}, "spec": {"hard": {"secrets": "3"}}})
    await wait_used(client, "few", secrets="0")
    secrets = resource_path("", "v1", "secrets", NS)
    results = await asyncio.gather(
        *(client.create(secrets, {"metadata": {"name": f"s{i}"}}) for i in range(12)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ApiStatusError)]
    assert len(made) == 3
    assert len(refused) == 9 and all(r.code == 403 for r in refused)
    assert (await used(client, "few"))["secrets"] == "3"
    assert len((await client.get(secrets))["items"]) == 3


async def test_pod_compute_quota(client: ApiClient, controller: ResourceQuotaController) -> None:
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "compute"},
            "spec": {
                "hard": {
                    "pods": "5",
                    "requests.cpu": "2",
                    "requests.memory": "1Gi",
                    "limits.cpu": "4",
                    "requests.example.com/dongle": "2",
                }
            },
        },
    )
    await wait_used(client, "compute", pods="0")
    with pytest.raises(ApiStatusError) as missing:
        await client.create(PODS, pod("bare"))
    assert missing.value.code == 403
    assert missing.value.status["message"] == (
        'pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; '
        "requests.cpu for: app; requests.memory for: app"
    )
    await client.create(
        PODS,
        pod(
            "a",
            requests={"cpu": "1", "memory": "512Mi", "example.com/dongle": "1"},
            limits={"cpu": "1", "example.com/dongle": "1"},
        ),
    )
    await wait_used(
        client, "compute", pods="1", **{"requests.cpu": "1", "requests.memory": "512Mi"}
    )
    with pytest.raises(ApiStatusError) as over:
        await client.create(
            PODS, pod("b", requests={"cpu": "2", "memory": "128Mi"}, limits={"cpu": "2"})
        )
    assert over.value.code == 403
    assert over.value.status["message"] == (
        'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=2, '
        "used: requests.cpu=1, limited: requests.cpu=2"
    )
    # A pod that finished gives its share back.
    status = await client.get(f"{PODS}/a")
    status["status"] = {"phase": "Succeeded"}
    await client.update(f"{PODS}/a/status", status)
    await wait_used(client, "compute", pods="0", **{"requests.cpu": "0", "limits.cpu": "0"})
    await client.create(
        PODS, pod("b", requests={"cpu": "2", "memory": "128Mi"}, limits={"cpu": "2"})
    )
    await wait_used(
        client, "compute", pods="1", **{"requests.cpu": "2", "requests.memory": "128Mi"}
    )


async def test_scopes_charge_only_their_pods(
    client: ApiClient, controller: ResourceQuotaController
) -> None:
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "besteffort"},
            "spec": {"hard": {"pods": "5"}, "scopes": ["BestEffort"]},
        },
    )
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "notbesteffort"},
            "spec": {"hard": {"pods": "5"}, "scopes": ["NotBestEffort"]},
        },
    )
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "terminating"},
            "spec": {"hard": {"pods": "5"}, "scopes": ["Terminating"]},
        },
    )
    for name in ("besteffort", "notbesteffort", "terminating"):
        await wait_used(client, name, pods="0")
    await client.create(PODS, pod("be"))
    await wait_used(client, "besteffort", pods="1")
    assert (await used(client, "notbesteffort"))["pods"] == "0"
    await client.create(PODS, pod("burstable", requests={"cpu": "100m"}))
    await wait_used(client, "notbesteffort", pods="1")
    assert (await used(client, "besteffort"))["pods"] == "1"
    deadline = pod("deadline")
    deadline["spec"]["activeDeadlineSeconds"] = 60
    await client.create(PODS, deadline)
    await wait_used(client, "terminating", pods="1")
    await wait_used(client, "besteffort", pods="2")
    await client.delete(f"{PODS}/be")
    await wait_used(client, "besteffort", pods="1")


async def test_kubectl_shows_and_patches_quota_status(
    cluster: Cluster, client: ApiClient, controller: ResourceQuotaController
) -> None:
    await cluster.kubectl(
        "create", "quota", "compute", "-n", NS, "--hard=requests.cpu=2,limits.cpu=4,pods=3"
    )
    await wait_used(client, "compute", pods="0")
    out = await cluster.kubectl("get", "quota", "-n", NS)
    assert out.split("\n")[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert "pods: 0/3, requests.cpu: 0/2" in out and "limits.cpu: 0/4" in out
    described = await cluster.kubectl("describe", "quota", "compute", "-n", NS)
    assert [line.split() for line in described.strip().splitlines()[-3:]] == [
        ["limits.cpu", "0", "4"],
        ["pods", "0", "3"],
        ["requests.cpu", "0", "2"],
    ]
    # A status patch never changes the spec.
    await cluster.kubectl(
        "patch",
        "quota",
        "compute",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"hard":{"pods":"9"}}}',
    )
    quota = await client.get(f"{QUOTAS}/compute")
    assert quota["spec"]["hard"]["pods"] == "3"

    # ... and the controller puts status.hard back to what the spec says.
    async def mirrored() -> bool:
        return (await client.get(f"{QUOTAS}/compute"))["status"]["hard"]["pods"] == "3"

    await until(mirrored)


async def test_count_quota_on_a_kind_no_informer_watches(
    client: ApiClient, controller: ResourceQuotaController
) -> None:
    leases = resource_path("coordination.k8s.io", "v1", "leases", NS)
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "leases"},
            "spec": {"hard": {"count/leases.coordination.k8s.io": "1"}},
        },
    )
    await wait_used(client, "leases", **{"count/leases.coordination.k8s.io": "0"})
    await client.create(leases, {"metadata": {"name": "one"}, "spec": {}})
    with pytest.raises(ApiStatusError) as refused:
        await client.create(leases, {"metadata": {"name": "two"}, "spec": {}})
    assert refused.value.code == 403
    # A recompute (here: the spec changed) counts them by listing, not from a cache.
    await client.patch(
        f"{QUOTAS}/leases", {"spec": {"hard": {"count/leases.coordination.k8s.io": "2"}}}
    )

    async def recomputed() -> bool:
        status = (await client.get(f"{QUOTAS}/leases")).get("status") or {}
        return status.get("hard", {}).get("count/leases.coordination.k8s.io") == "2"

    await until(recomputed)
    assert (await used(client, "leases"))["count/leases.coordination.k8s.io"] == "1"


async def test_a_service_update_that_costs_more_is_judged(
    cluster: Cluster, client: ApiClient, controller: ResourceQuotaController
) -> None:
    await client.create(
        QUOTAS, {"metadata": {"name": "lb"}, "spec": {"hard": {"services.loadbalancers": "0"}}}
    )
    await wait_used(client, "lb", **{"services.loadbalancers": "0"})
    await cluster.kubectl("create", "service", "clusterip", "web", "--tcp=80", "-n", NS)
    out = await cluster.kubectl(
        "patch", "svc", "web", "-n", NS, "-p", '{"spec":{"type":"LoadBalancer"}}', check=False
    )
    assert (
        'services "web" is forbidden: exceeded quota: lb, requested: services.loadbalancers=1, '
        "used: services.loadbalancers=0, limited: services.loadbalancers=0" in out
    )
    await cluster.kubectl("label", "svc", "web", "-n", NS, "tier=front")  # costs nothing more


async def test_object_counts_of_each_kind_are_charged_and_released(
    client: ApiClient, controller: ResourceQuotaController
) -> None:
    # Checklist A36-A40: replicasets, replicationcontrollers, secrets, services
    # and the quotas themselves, each charged by its create and released by its delete.
    template = {"metadata": {"labels": {"app": "q"}},
                "spec": {"containers": [{"name": "c", "image": "pause"}]}}  # fmt: skip
    objects = {
        "count/replicasets.apps": (resource_path("apps", "v1", "replicasets", NS),
                        {"replicas": 0, "selector": {"matchLabels": {"app": "q"}},
                         "template": template}),
        "replicationcontrollers": (resource_path("", "v1", "replicationcontrollers", NS),
                                   {"replicas": 0, "selector": {"app": "q"},
                                    "template": template}),
        "secrets": (resource_path("", "v1", "secrets", NS), None),
        "services": (resource_path("", "v1", "services", NS),
                     {"ports": [{"port": 80}], "selector": {"app": "q"}}),
    }  # fmt: skip
    hard = {name: "5" for name in objects} | {"resourcequotas": "2"}
    await client.create(QUOTAS, {"metadata": {"name": "counts"}, "spec": {"hard": hard}})
    # A40: a new quota's status comes at once, counting itself.
    await wait_used(client, "counts", resourcequotas="1", **{name: "0" for name in objects})
    for name, (path, spec) in objects.items():
        body: dict = {"metadata": {"name": "one"}}
        if spec is not None:
            body["spec"] = spec
        await client.create(path, body)
        await wait_used(client, "counts", **{name: "1"})
        # Background: no garbage collector here to take an RC's orphan finalizer off.
        await client.delete(f"{path}/one?propagationPolicy=Background")
        await wait_used(client, "counts", **{name: "0"})
    await client.create(QUOTAS, {"metadata": {"name": "second"}, "spec": {"hard": {"pods": "1"}}})
    await wait_used(client, "counts", resourcequotas="2")
    with pytest.raises(ApiStatusError) as refused:
        await client.create(QUOTAS, {"metadata": {"name": "third"}, "spec": {"hard": {}}})
    assert refused.value.code == 403
    await client.delete(f"{QUOTAS}/second")
    await wait_used(client, "counts", resourcequotas="1")
