"""StatefulSet pod names through their headless service, with every real controller.

The controller manager, the scheduler and one simulated node (pods get IPs
and turn Ready, nothing runs) produce the EndpointSlices with hostnames
that `web-0.web.default.svc.cluster.local` is answered from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import dns.asyncquery
import dns.message
import dns.rcode

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.dns import run_dns
from kybernetes.scheduler.scheduler import run_scheduler
from kybernetes.simnode.runner import run_simulated_nodes
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster, cluster  # noqa: F401 - the fixture

DEADLINE = 30.0
POD_IPS = "{range .items[*]}{.metadata.name}={.status.podIP} {end}"


async def addresses(address: tuple[str, int], name: str) -> tuple[int, list[str]]:
    q = dns.message.make_query(name, "A")
    response = await dns.asyncquery.udp(q, address[0], port=address[1], timeout=5)
    return response.rcode(), sorted(rd.to_text() for rr in response.answer for rd in rr)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.1)


async def test_statefulset_pods_are_named_through_their_headless_service(
    cluster: Cluster,  # noqa: F811
) -> None:
    client = ApiClient.from_kubeconfig(cluster.kubeconfig)
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    tasks = [
        asyncio.create_task(run_controller_manager(client, "test")),
        asyncio.create_task(run_scheduler(InformerFactory(client))),
        asyncio.create_task(run_simulated_nodes(client, count=1)),
        asyncio.create_task(run_dns(client, listen=("127.0.0.1", 0), upstream=[], ready=ready)),
    ]
    try:
        address = await asyncio.wait_for(asyncio.shield(ready), 20)
        await cluster.kubectl("apply", "-f", "-", stdin=MANIFEST)
        pods: dict[str, str] = {}

        async def named() -> bool:
            for pod in ("web-0", "web-1"):
                rcode, ips = await addresses(address, f"{pod}.web.default.svc.cluster.local.")
                if rcode != dns.rcode.NOERROR or len(ips) != 1:
                    return False
                pods[pod] = ips[0]
            return True

        await eventually(named, "web-0 and web-1 named through the headless service")
        out = await cluster.kubectl("get", "pods", "-o", f"jsonpath={POD_IPS}")
        assert dict(p.split("=") for p in out.split()) == pods
        _, all_ips = await addresses(address, "web.default.svc.cluster.local.")
        assert all_ips == sorted(pods.values())
        await cluster.kubectl("scale", "statefulset", "web", "--replicas=1")

        async def gone() -> bool:
            rcode, _ = await addresses(address, "web-1.web.default.svc.cluster.local.")
            return rcode == dns.rcode.NXDOMAIN

        await eventually(gone, "web-1 gone from DNS after scaling down")
        assert (await addresses(address, "web.default.svc.cluster.local."))[1] == [pods["web-0"]]
    finally:
        for task in reversed(tasks):
            await cancel_and_wait(task)
        await client.close()


MANIFEST = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox, ports: [{name: http, containerPort: 80}]}]
"""
