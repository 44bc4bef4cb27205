"""Deployments on simulated nodes: create, roll out and delete 1,000 replicas end to end.

    bench/run deployments            # 1,000 replicas on 100 simulated nodes
    bench/run deployments --quick    # 100 replicas on 10 simulated nodes

The cluster is what a user starts: `python -m kybernetes server --disable
kubelet --simulated-nodes N` in its own process (SQLite), so the API
server, the controller manager, the scheduler and the simulated nodes share
that one process, as they do in `kyb server`. This process is only the
client: it creates the Deployment through the API and watches the pods
with one informer.

Figures (the clock runs from the request to the condition being seen):

* **create**: a Deployment of R replicas until every pod is Running and
  Ready, and until the Deployment reports R available (what `kubectl
  rollout status` waits for);
* **rolling update**: a new image (default strategy, 25% surge and 25%
  unavailable) until the rollout is complete: R new pods available and
  every old pod gone;
* **delete**: the Deployment, background propagation, until every pod is gone.

Baseline, measured first on the same server: R pods created straight
through the API with `spec.nodeName` already set (64 creates in flight),
until the simulated nodes report them all Running and Ready; then the
same R pods deleted straight through the API until gone. That is the work
the API server and the nodes must do anyway; what the controllers and the
scheduler add is the ratio. The rolling update's baseline is the sum of
the two (R pods started, R pods stopped).

Figures are printed, never asserted. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.apiserver import CpuClock, ServerProcess, client_ssl_context, cpu_note
from bench.common import machine_facts
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, resource_path
from tests.support.etcd import free_port

Obj = dict[str, Any]
CONCURRENCY = 64
POLL = 0.1  # seconds between looks at the caches / the Deployment
DEPLOYMENTS = resource_path("apps", "v1", "deployments", "default")


@dataclass(frozen=True)
class Limits:
    replicas: int
    nodes: int


FULL = Limits(1_000, 100)
QUICK = Limits(100, 10)


@dataclass
class Result:
    seconds: float
    note: str
    server_cpu: float = 0.0  # CPU seconds the server process used meanwhile


def _print(line: str = "") -> None:
    print(line, flush=True)


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


def _live(pods: Informer, namespace: str, label: str = "") -> list[Obj]:
    out = []
    for pod in pods.items.values():
        meta = pod["metadata"]
        if meta.get("namespace") != namespace or meta.get("deletionTimestamp"):
            continue
        if label and (meta.get("labels") or {}).get("app") != label:
            continue
        out.append(pod)
    return out


def _count(pods: Informer, namespace: str) -> int:
    """Pods of the namespace in the cache, terminating ones included."""
    return sum(1 for p in pods.items.values() if p["metadata"].get("namespace") == namespace)


async def _until(check: Callable[[], Any], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling caches and the API
            await asyncio.sleep(POLL)


def _deployment(replicas: int) -> Obj:
    """What `kubectl create deployment web --image=nginx:1.27 --replicas=R` sends."""
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "nginx",
                                                       "image": "nginx:1.27"}]}}},
    }  # fmt: skip


async def _in_parallel(count: int, one: Callable[[int], Any]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(run(i) for i in range(count)))


class Bench:
    def __init__(self, client: ApiClient, pods: Informer, clock: CpuClock, limits: Limits) -> None:
        self.client = client
        self.pods = pods
        self.clock = clock
        self.limits = limits
        self.timeout = 60 + limits.replicas / 5

    async def timed(self, action: Callable[[], Any], done: Callable[[], Any]) -> Result:
        cpu = self.clock.read()
        began = time.perf_counter()
        await action()
        await _until(done, self.timeout)
        wall = time.perf_counter() - began
        used = self.clock.used(cpu)
        return Result(wall, cpu_note(used, wall, {"server": "server"}), used.get("server", 0.0))

    # -- baseline ----------------------------------------------------------------------

    async def direct_create(self) -> Result:
        replicas, nodes = self.limits.replicas, self.limits.nodes
        path = resource_path("", "v1", "pods", "direct")

        async def one(i: int) -> None:
            spec = {"nodeName": f"sim-{i % nodes}",
                    "containers": [{"name": "nginx", "image": "nginx:1.27"}]}  # fmt: skip
            await self.client.create(path, {"metadata": {"name": f"p-{i}"}, "spec": spec})

        async def create() -> None:
            await _in_parallel(replicas, one)

        async def all_ready() -> bool:
            pods = _live(self.pods, "direct")
            return len(pods) == replicas and all(map(_ready, pods))

        return await self.timed(create, all_ready)

    async def direct_delete(self) -> Result:
        replicas = self.limits.replicas
        path = resource_path("", "v1", "pods", "direct")

        async def delete() -> None:
            await _in_parallel(replicas, lambda i: self.client.delete(f"{path}/p-{i}"))

        async def gone() -> bool:
            return _count(self.pods, "direct") == 0

        return await self.timed(delete, gone)

    # -- the Deployment ------------------------------------------------------------------

    async def _status(self) -> tuple[Obj, Obj]:
        deployment = await self.client.get(f"{DEPLOYMENTS}/web")
        return deployment, deployment.get("status") or {}

    async def create(self) -> tuple[Result, Result]:
        replicas = self.limits.replicas
        pods_at: list[float] = []
        stages: dict[str, float] = {}  # when all R pods were first seen created / bound
        began = time.perf_counter()

        async def create() -> None:
            await self.client.create(DEPLOYMENTS, _deployment(replicas))

        async def available() -> bool:
            pods = _live(self.pods, "default", "web")
            if len(pods) == replicas:
                stages.setdefault("created", time.perf_counter() - began)
                if all(p["spec"].get("nodeName") for p in pods):
                    stages.setdefault("bound", time.perf_counter() - began)
            if not pods_at and len(pods) == replicas and all(map(_ready, pods)):
                pods_at.append(time.perf_counter() - began)
            deployment, status = await self._status()
            return bool(status.get("availableReplicas") == replicas
                        and status.get("observedGeneration")
                        == deployment["metadata"]["generation"] and pods_at)  # fmt: skip

        result = await self.timed(create, available)
        seen = ", ".join(f"all {k} at {v:.1f}s" for k, v in stages.items())
        return Result(pods_at[0], f"{seen}; {result.note}", result.server_cpu), result

    async def roll(self) -> Result:
        replicas = self.limits.replicas
        container = {"name": "nginx", "image": "nginx:1.28"}
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}

        async def set_image() -> None:
            await self.client.patch(f"{DEPLOYMENTS}/web", patch,
                                    "application/strategic-merge-patch+json")  # fmt: skip

        async def complete() -> bool:
            deployment, status = await self._status()
            fresh = status.get("observedGeneration") == deployment["metadata"]["generation"]
            counts = (status.get("replicas"), status.get("updatedReplicas"),
                      status.get("availableReplicas"))  # fmt: skip
            # Every pod left is a new one: the old ReplicaSet's pods are gone, not just counted.
            pods = [p for p in self.pods.items.values()
                    if p["metadata"].get("namespace") == "default"]  # fmt: skip
            new = all(p["spec"]["containers"][0]["image"] == "nginx:1.28" for p in pods)
            return fresh and counts == (replicas,) * 3 and len(pods) == replicas and new

        return await self.timed(set_image, complete)

    async def delete(self) -> Result:
        async def delete() -> None:
            await self.client.delete(f"{DEPLOYMENTS}/web")

        async def gone() -> bool:
            return _count(self.pods, "default") == 0

        return await self.timed(delete, gone)


async def _nodes_ready(client: ApiClient, count: int) -> None:
    async def ready() -> bool:
        nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
        good = [n for n in nodes if (n.get("spec") or {}).get("podCIDR") and _ready_node(n)]
        return len(good) >= count

    await _until(ready, 120)


def _ready_node(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])  # fmt: skip


async def run(tmp: Path, limits: Limits) -> list[tuple[str, Result, Result]]:
    data = tmp / "server"
    ClusterPKI.load_or_create(data / "pki", hostnames=["localhost"], ips=["127.0.0.1"])
    port = free_port()
    server = ServerProcess(
        f"kyb server ({limits.nodes} simulated nodes)",
        [sys.executable, "-m", "kybernetes", "server", "--disable", "kubelet",
         "--simulated-nodes", str(limits.nodes), "--data-dir", str(data),
         "--port", str(port), "--bind-address", "127.0.0.1"],
        port=port, log_path=tmp / "server.log",
    )  # fmt: skip
    server.start()
    clock = CpuClock()
    clock.pids["server"] = server.pid
    ssl_context = client_ssl_context(data / "pki")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, ssl=ssl_context))
    pods: Informer | None = None
    try:
        await server.wait_ready(session)
        client = ApiClient(server.url, ssl_context=ssl_context, session=session)
        began = time.perf_counter()
        await _nodes_ready(client, limits.nodes)
        _print(f"  {limits.nodes} simulated nodes Ready with a podCIDR "
               f"{time.perf_counter() - began:.1f}s after the server answered")  # fmt: skip
        await client.create(resource_path("", "v1", "namespaces"),
                            {"metadata": {"name": "direct"}})  # fmt: skip
        pods = Informer(client, resource_path("", "v1", "pods"))
        pods.start()
        await pods.synced.wait()
        bench = Bench(client, pods, clock, limits)
        r = limits.replicas

        def show(label: str, result: Result, baseline: float = 0.0) -> None:
            ratio = f"  {result.seconds / baseline:5.2f}x baseline" if baseline else ""
            _print(f"  {label:<44} {result.seconds:6.1f}s {r / result.seconds:6.0f} pods/s"
                   f"{ratio}  ({result.note})")  # fmt: skip

        up = await bench.direct_create()
        show(f"baseline: {r} pods with nodeName, to Ready", up)
        down = await bench.direct_delete()
        show(f"baseline: {r} pods deleted, to gone", down)
        pods_ready, available = await bench.create()
        show(f"deployment {r}: every pod Running and Ready", pods_ready, up.seconds)
        show(f"deployment {r}: {r} available", available, up.seconds)
        rolled = await bench.roll()
        show("rolling update: set image, to complete", rolled, up.seconds + down.seconds)
        deleted = await bench.delete()
        show("delete deployment: every pod gone", deleted, down.seconds)
        both = Result(up.seconds + down.seconds, "", up.server_cpu + down.server_cpu)
        return [
            ("create: all pods Ready", pods_ready, up),
            ("create: Deployment available", available, up),
            ("rolling update complete", rolled, both),
            ("cascading delete", deleted, down),
        ]
    finally:
        if pods is not None:
            await pods.stop()
        await session.close()
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run deployments",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="100 replicas on 10 nodes")
    parser.add_argument("--replicas", type=int, help="replicas (default 1,000)")
    parser.add_argument("--nodes", type=int, help="simulated nodes (default 100)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    limits = QUICK if args.quick else FULL
    limits = Limits(args.replicas or limits.replicas, args.nodes or limits.nodes)
    with tempfile.TemporaryDirectory(prefix="kyb-bench-deploy-") as tmp_name:
        _print("== machine")
        for line in machine_facts(tmp_name):
            _print(f"  {line}")
        _print()
        _print(f"== a Deployment of {limits.replicas} replicas on {limits.nodes} simulated "
               "nodes (kyb server on SQLite: API, controllers, scheduler and nodes in one "
               "process)")  # fmt: skip
        rows = asyncio.run(run(Path(tmp_name), limits))
    _print()
    _print(f"== summary ({limits.replicas} replicas, {limits.nodes} nodes; load average "
           f"{os.getloadavg()[0]:.2f})")  # fmt: skip
    _print(f"  {'':<30} {'wall':>7} {'baseline':>9} {'ratio':>6}   "
           f"{'server cpu-s':>12} {'baseline':>9} {'ratio':>6}")  # fmt: skip
    for label, result, baseline in rows:
        cpu_ratio = result.server_cpu / max(baseline.server_cpu, 1e-9)
        _print(f"  {label:<30} {result.seconds:6.1f}s {baseline.seconds:8.1f}s "
               f"{result.seconds / baseline.seconds:6.2f}   {result.server_cpu:11.1f}s "
               f"{baseline.server_cpu:8.1f}s {cpu_ratio:6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
