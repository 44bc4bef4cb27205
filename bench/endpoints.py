"""Endpoints and EndpointSlice controllers under a 1,000-pod service.

    bench/run endpoints [--pods N]

An in-process API server (SQLite in a temp dir), one Service selecting N pods
(1,000 by default) on one node. Figures, each beside its baseline measured in
the same run:

1. cold start: the N pods already Ready; time from starting both controllers
   to the Endpoints listing N addresses and the slices N endpoints (baseline:
   writing the N pod statuses through the API);
2. churn: all N pods flip to not ready in one burst of status writes; time
   from the first write to both objects showing it, and how many Endpoints
   and EndpointSlice writes that took (the work queue folds a burst of pod
   events into few syncs).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.server import start_apiserver
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.endpoints import EndpointsController
from kybernetes.controllers.endpointslice import EndpointSliceController
from kybernetes.store import open_store
from kybernetes.util.tasks import cancel_and_wait

Obj = dict[str, Any]
PODS = resource_path("", "v1", "pods", "default")
ENDPOINTS = resource_path("", "v1", "endpoints", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")


class CountingClient(ApiClient):
    """Counts the writes the controllers make."""

    writes = 0

    async def request(self, method: str, path: str, **kw: Any) -> Obj:
        if method in ("POST", "PUT", "DELETE") and ("/endpoints" in path):
            CountingClient.writes += 1
        return await super().request(method, path, **kw)


async def _statuses(client: ApiClient, pods: list[Obj], *, ready: bool) -> None:
    async def one(pod: Obj) -> None:
        name = pod["metadata"]["name"]
        index = int(name.rsplit("-", 1)[1])
        pod["status"].update(
            phase="Running",
            podIP=f"10.244.{index // 250}.{index % 250 + 1}",
            conditions=[{"type": "Ready", "status": "True" if ready else "False",
                         "lastTransitionTime": "2026-11-30T10:00:00Z"}],
        )  # fmt: skip
        pod["metadata"].pop("resourceVersion", None)
        await client.update(f"{PODS}/{name}/status", pod)

    sem = asyncio.Semaphore(50)

    async def bounded(pod: Obj) -> None:
        async with sem:
            await one(pod)

    await asyncio.gather(*(bounded(p) for p in pods))


async def _converged(client: ApiClient, count: int, *, ready: bool) -> None:
    field = "addresses" if ready else "notReadyAddresses"
    while True:
        try:
            ep = await client.get(f"{ENDPOINTS}/web")
        except ApiStatusError:
            ep = {}
        listed = sum(len(s.get(field) or []) for s in ep.get("subsets") or [])
        slices = (await client.get(SLICES, labelSelector="kubernetes.io/service-name=web"))["items"]
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        if (
            listed == count
            and len(endpoints) == count
            and all(e["conditions"]["ready"] is ready for e in endpoints)
        ):
            return
        await asyncio.sleep(0.02)


async def run(pods_count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kyb-bench-ep-") as tmp:
        pki = await asyncio.to_thread(ClusterPKI.load_or_create, Path(tmp) / "pki",
                                      hostnames=["localhost"], ips=["127.0.0.1"])  # fmt: skip
        store = await open_store(f"sqlite://{tmp}/state.db?compact_interval=0")
        api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
        kubeconfig = Path(tmp) / "kubeconfig"
        write_admin_kubeconfig(kubeconfig, server=api.url, ca_pem=pki.ca_pem,
                               client_cert_pem=pki.admin_cert_pem,
                               client_key_pem=pki.admin_key_pem)  # fmt: skip
        base = ApiClient.from_kubeconfig(kubeconfig)
        client = CountingClient(base.server, ssl_context=base._ssl)  # type: ignore[arg-type]
        await base.close()
        try:
            await client.create(resource_path("", "v1", "nodes"), {"metadata": {"name": "n1"}})
            await client.create(resource_path("", "v1", "services", "default"), {
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            })  # fmt: skip
            template = {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
            }
            sem = asyncio.Semaphore(50)

            async def create(i: int) -> Obj:
                async with sem:
                    body = {**template, "metadata": {**template["metadata"], "name": f"web-{i}"}}
                    return await client.create(PODS, body)

            pods = await asyncio.gather(*(create(i) for i in range(pods_count)))
            started = time.perf_counter()
            await _statuses(client, pods, ready=True)
            baseline = time.perf_counter() - started
            print(f"baseline: {pods_count} pod status writes: {baseline:.2f} s")

            informers = InformerFactory(client)
            controllers = [EndpointsController(informers), EndpointSliceController(informers)]
            CountingClient.writes = 0
            started = time.perf_counter()
            informers.start()
            tasks = [asyncio.create_task(c.run()) for c in controllers]
            try:
                await _converged(client, pods_count, ready=True)
                print(f"cold start: converged in {time.perf_counter() - started:.2f} s, "
                      f"{CountingClient.writes} endpoint writes")  # fmt: skip
                pods = (await client.get(PODS))["items"]
                CountingClient.writes = 0
                started = time.perf_counter()
                await _statuses(client, pods, ready=False)
                burst = time.perf_counter() - started
                await _converged(client, pods_count, ready=False)
                print(f"churn: {pods_count} readiness flips written in {burst:.2f} s, converged "
                      f"{time.perf_counter() - started:.2f} s after the first, "
                      f"{CountingClient.writes} endpoint writes")  # fmt: skip
            finally:
                for task in tasks:
                    await cancel_and_wait(task)
                await informers.stop()
        finally:
            await client.close()
            await api.stop()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    asyncio.run(run(parser.parse_args().pods))


if __name__ == "__main__":
    main()
