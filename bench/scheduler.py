"""Scheduler throughput: pods bound per second onto many API-only nodes.

    bench/run scheduler            # 10,000 pods onto 1,000 and onto 5,000 nodes
    bench/run scheduler --quick    # 1,000 pods onto 100 and 500 nodes

One `kyb server` (SQLite) per node count, in its own process. Nodes are
created through the API with capacity in their status (no kubelet: pods
only need to be bound). For each variant the pods are created first, then
a fresh scheduler starts in this process; the clock runs from its caches
being synced to the last successful binding, so the figure is scheduling
plus binding, not pod creation. Variants: plain pods, and pods with a
required pod anti-affinity on `kubernetes.io/hostname` against their own
group (groups of 100 pods, so every group fits).

Baseline, in the same run on the same server: the raw rate at which the
server accepts binding requests, posted straight from this process with
as many in flight as the scheduler allows itself (no decisions at all).
`sched/raw` is the share of that ceiling the scheduler reaches.

The pods use `schedulerName: kyb-bench` and the scheduler answers to that
name, so a scheduler inside `kyb server` leaves them alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.apiserver import CpuClock, ServerProcess, client_ssl_context, cpu_note
from bench.common import machine_facts
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.scheduler.scheduler import Scheduler
from kybernetes.util.tasks import cancel_and_wait
from tests.support.etcd import free_port

SCHEDULER_NAME = "kyb-bench"
PARALLEL = 64
GROUP = 100
Obj = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    pods: int
    node_counts: tuple[int, ...]


FULL = Limits(10_000, (1_000, 5_000))
QUICK = Limits(1_000, (100, 500))


def _print(line: str = "") -> None:
    print(line, flush=True)


def node_body(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}  # fmt: skip


def node_status(node: Obj) -> Obj:
    amounts = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    node["status"] = {"capacity": amounts, "allocatable": amounts,
                      "conditions": [{"type": "Ready", "status": "True"}]}  # fmt: skip
    return node


def pod_body(name: str, *, anti_affinity: bool, group: int) -> Obj:
    spec: Obj = {
        "schedulerName": SCHEDULER_NAME,
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
    }  # fmt: skip
    labels = {"app": "bench", "group": f"g{group}"}
    if anti_affinity:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": f"g{group}"}},
             "topologyKey": "kubernetes.io/hostname"}]}}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": spec}  # fmt: skip


async def in_parallel(
    count: int, work: Callable[[int], Awaitable[object]], width: int = 50
) -> None:
    """work(0 … count-1), `width` at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await work(n)

    await asyncio.gather(*(worker() for _ in range(width)))


async def create_nodes(client: ApiClient, count: int) -> None:
    nodes = resource_path("", "v1", "nodes")

    async def one(n: int) -> None:
        name = f"node-{n:05d}"
        created = await client.create(nodes, node_body(name))
        await client.update(f"{nodes}/{name}/status", node_status(created))

    await in_parallel(count, one)


async def create_pods(client: ApiClient, namespace: str, count: int, *, anti: bool) -> None:
    try:
        await client.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    except ApiStatusError as err:
        if err.code != 409:
            raise
    path = resource_path("", "v1", "pods", namespace)

    async def one(n: int) -> None:
        await client.create(path, pod_body(f"p-{n:05d}", anti_affinity=anti, group=n // GROUP))

    await in_parallel(count, one)


@dataclass
class Result:
    rate: float
    seconds: float
    note: str
    per_cpu: float = 0.0  # pods per CPU-second of this process (the scheduler)


async def raw_bindings(client: ApiClient, namespace: str, count: int, nodes: int,
                       clock: CpuClock) -> Result:  # fmt: skip
    """The baseline: POST a Binding for each pod, round-robin over nodes, no decisions."""
    await create_pods(client, namespace, count, anti=False)
    path = resource_path("", "v1", "pods", namespace)
    start_cpu, start = clock.read(), time.perf_counter()

    async def one(n: int) -> None:
        name = f"p-{n:05d}"
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"kind": "Node", "name": f"node-{n % nodes:05d}"}}  # fmt: skip
        await client.create(f"{path}/{name}/binding", body)

    await in_parallel(count, one, width=PARALLEL)
    wall = time.perf_counter() - start
    note = cpu_note(clock.used(start_cpu), wall, {"server": "server"})
    return Result(count / wall, wall, note)


async def scheduled(client: ApiClient, count: int, clock: CpuClock) -> Result:
    """Start a scheduler on a synced cache; time until `count` pods are bound."""
    informers = InformerFactory(client)
    scheduler = Scheduler(informers, scheduler_name=SCHEDULER_NAME, parallel_bindings=PARALLEL)
    informers.start()
    await InformerFactory.wait_synced(scheduler.nodes, scheduler.pods)
    gc.collect()
    gc.freeze()  # the listed pods are long-lived: keep full collections off the clock
    start_cpu, start = clock.read(), time.perf_counter()
    task = asyncio.create_task(scheduler.run(), name="bench-scheduler")
    try:
        while scheduler.scheduled < count:
            if task.done():
                task.result()
                raise RuntimeError("the scheduler stopped")
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - start
        used = clock.used(start_cpu)
    finally:
        await cancel_and_wait(task)
        await informers.stop()
        gc.unfreeze()
    note = (f"{cpu_note(used, wall, {'server': 'server'})}; {scheduler.failed} failed attempts, "
            f"{scheduler.events.dropped} events dropped")  # fmt: skip
    return Result(count / wall, wall, note, count / max(used.get("client", 0.0), 1e-9))


async def run_size(tmp: Path, limits: Limits, nodes: int) -> list[tuple[str, Result, Result]]:
    data = tmp / f"server-{nodes}"
    ClusterPKI.load_or_create(data / "pki", hostnames=["localhost"], ips=["127.0.0.1"])
    port = free_port()
    server = ServerProcess(
        f"kyb server ({nodes} nodes)",
        [sys.executable, "-m", "kybernetes", "server", "--disable", "kubelet",
         "--data-dir", str(data), "--port",
         str(port), "--bind-address", "127.0.0.1"],
        port=port, log_path=tmp / f"server-{nodes}.log",
    )  # fmt: skip
    server.start()
    clock = CpuClock()
    clock.pids["server"] = server.pid
    ssl_context = client_ssl_context(data / "pki")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, ssl=ssl_context))
    try:
        await server.wait_ready(session)
        client = ApiClient(server.url, ssl_context=ssl_context, session=session)
        t0 = time.perf_counter()
        await create_nodes(client, nodes)
        _print(f"  {nodes} nodes created in {time.perf_counter() - t0:.1f}s")
        baseline = await raw_bindings(client, "raw", limits.pods, nodes, clock)
        _print(f"  raw bindings      {baseline.rate:8.0f} pods/s  ({baseline.seconds:.1f}s; "
               f"{baseline.note})")  # fmt: skip
        rows = []
        for label, anti in (("plain", False), ("anti-affinity", True)):
            await create_pods(client, label, limits.pods, anti=anti)
            result = await scheduled(client, limits.pods, clock)
            _print(f"  scheduler {label:<13} {result.rate:6.0f} pods/s  ({result.seconds:.1f}s; "
                   f"{result.per_cpu:.0f} pods per CPU-second of the scheduler; "
                   f"{result.note})")  # fmt: skip
            rows.append((label, result, baseline))
        return rows
    finally:
        await session.close()
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 pods onto 100 and 500 nodes")
    parser.add_argument("--pods", type=int, help="pods per variant (default 10,000)")
    parser.add_argument("--nodes", type=int, nargs="+", help="node counts (default 1000 5000)")
    args = parser.parse_args(argv)
    # Dropped Events are counted on each line; one warning per hundred would drown the figures.
    logging.getLogger("kybernetes.client.events").setLevel(logging.ERROR)
    limits = QUICK if args.quick else FULL
    limits = Limits(args.pods or limits.pods, tuple(args.nodes or limits.node_counts))
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kyb-bench-sched-") as tmp_name:
        _print("== machine")
        for line in machine_facts(tmp_name):
            _print(f"  {line}")
        for nodes in limits.node_counts:
            _print()
            _print(f"== {limits.pods} pods onto {nodes} nodes (kyb server on SQLite, "
                   f"{PARALLEL} bindings in flight)")  # fmt: skip
            for label, result, baseline in asyncio.run(run_size(Path(tmp_name), limits, nodes)):
                target = 1000 if nodes <= 1000 else 500
                met = "met" if result.rate >= target else "MISSED"
                summary.append(
                    f"  {nodes:>5} nodes {label:<13} {result.rate:7.0f} pods/s   raw "
                    f"{baseline.rate:7.0f}   sched/raw {result.rate / baseline.rate:4.2f}   "
                    f"{result.per_cpu:6.0f} pods/cpu-s   target >= {target} ({met})"
                )
    _print()
    _print(f"== summary: {limits.pods} pods per cell (baseline raw = binding requests alone; "
           f"load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    for line in summary:
        _print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
