"""Simulated nodes at scale: how fast they register, what their heartbeats cost.

    bench/run simnodes [--quick] [--nodes 1000,5000] [--pods 5000] [--seconds 20]

`python -m kybernetes server` runs in its own process on 127.0.0.1 (SQLite,
its controller manager included); the simulated nodes run in this process,
as `kyb sim` runs them. For each node count:

* registration: Nodes and their Leases created `concurrency` at a time
  (64), next to a baseline of the same number of plain ConfigMap creates
  at the same concurrency (what two creates per node must at least cost);
* heartbeats: CPU of this process and of the server over `--seconds` of
  steady Lease renewals (one per node per 10 s), next to the server's idle
  CPU over the same time before the nodes existed;
* controllers (largest node count only): the node IPAM and node lifecycle
  controllers started in this process (as the controller manager runs
  them): the time until every node has a podCIDR, then this process's CPU
  over the same window again, so the difference is what the controllers
  cost while 500 Leases a second change;
* pods (largest node count only): `--pods` pods created with `spec.nodeName`
  spread over the nodes, the time until every one is Running and Ready.

Figures are printed, never asserted. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.apiserver import ServerProcess
from bench.common import machine_facts, tree_cpu_seconds
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.nodeipam import NodeIpamController
from kybernetes.controllers.nodelifecycle import NodeLifecycleController
from kybernetes.simnode.runner import SimulatedNodes
from kybernetes.util.tasks import cancel_and_wait
from tests.support.etcd import free_port

CONCURRENCY = 64


async def _creates(client: ApiClient, count: int, prefix: str) -> float:
    """Seconds to create `count` ConfigMaps, CONCURRENCY at a time (the baseline)."""
    gate = asyncio.Semaphore(CONCURRENCY)
    path = resource_path("", "v1", "configmaps", "default")

    async def one(i: int) -> None:
        async with gate:
            await client.create(path, {"metadata": {"name": f"{prefix}{i}"}, "data": {"k": "v"}})

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - began


async def _cpu_over(seconds: float, server_pid: int) -> tuple[float, float]:
    """(this process, the server) CPU in percent of one core over `seconds`."""
    mine, theirs = time.process_time(), tree_cpu_seconds(server_pid)
    await asyncio.sleep(seconds)
    return (100 * (time.process_time() - mine) / seconds,
            100 * (tree_cpu_seconds(server_pid) - theirs) / seconds)  # fmt: skip


async def _pods_running(client: ApiClient, sim: SimulatedNodes, count: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)
    path = resource_path("", "v1", "pods", "default")

    async def one(i: int) -> None:
        node = sim.names[i % len(sim.names)]
        spec = {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}
        body = {"metadata": {"name": f"p-{i}"}, "spec": spec}
        async with gate:
            await client.create(path, body)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    created = time.perf_counter() - began

    def ready() -> int:
        done = 0
        for pod in sim.pods.items.values():
            for condition in (pod.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Ready" and condition.get("status") == "True":
                    done += 1
        return done

    while ready() < count:  # noqa: ASYNC110 - polling a cache the informer fills
        await asyncio.sleep(0.2)
    total = time.perf_counter() - began
    print(f"  pods: {count} created in {created:5.1f} s ({count / created:5.0f}/s); "
          f"all Running and Ready after {total:5.1f} s ({count / total:5.0f}/s)")  # fmt: skip
    return total


async def _run(args: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    data = tmp / "data"
    server = ServerProcess(
        "kyb server",
        [sys.executable, "-m", "kybernetes", "server", "--disable", "kubelet",
         "--data-dir", str(data), "--port",
         str(port), "--bind-address", "127.0.0.1"],
        port=port, log_path=tmp / "server.log",
    )  # fmt: skip
    server.start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            await server.wait_ready(session)
        client = ApiClient.from_kubeconfig(data / "kubeconfig")
        try:
            await _measure(args, client, server)
        finally:
            await client.close()
    finally:
        server.stop()


async def _measure(args: argparse.Namespace, client: ApiClient, server: ServerProcess) -> None:
    idle_client, idle_server = await _cpu_over(args.seconds / 2, server.pid)
    print(f"baseline: idle server {idle_server:4.0f}% of a core, this process {idle_client:4.0f}%")
    counts = [int(n) for n in args.nodes.split(",")]
    for i, count in enumerate(counts):
        baseline = await _creates(client, 2 * count, f"b{i}-")
        sim = SimulatedNodes(client, count=count, prefix=f"s{i}-", concurrency=CONCURRENCY)
        began = time.perf_counter()
        await sim.register()
        took = time.perf_counter() - began
        print(f"{count} nodes: registered (Node + Lease each) in {took:5.1f} s "
              f"({count / took:5.0f} nodes/s); baseline {2 * count} ConfigMap creates "
              f"{baseline:5.1f} s; ratio {took / baseline:4.2f}")  # fmt: skip
        task = asyncio.create_task(sim.run(register=False), name=f"bench-sim-{count}")
        controllers: Callable[[], Awaitable[None]] | None = None
        try:
            await sim.ready.wait()
            await asyncio.sleep(sim.heartbeat_interval)  # into the steady state
            mine, theirs = await _cpu_over(args.seconds, server.pid)
            rate = count / sim.heartbeat_interval
            print(f"  heartbeats: {rate:5.0f} Lease renewals/s: simulated nodes {mine:4.0f}% "
                  f"of a core, server {theirs:4.0f}% (idle {idle_server:3.0f}%); per renewal "
                  f"{10 * mine / rate:4.2f} ms here + "
                  f"{10 * max(theirs - idle_server, 0) / rate:4.2f} ms server")  # fmt: skip
            last = i == len(counts) - 1
            controllers = await _controllers(client, sim, args, server, mine) if last else None
            if last and args.pods:
                await _pods_running(client, sim, args.pods)
        finally:
            await cancel_and_wait(task)
            if controllers is not None:
                await controllers()
        if i < len(counts) - 1:  # the next count runs alone
            await _delete_nodes(client, sim.names)


async def _delete_nodes(client: ApiClient, names: list[str]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            await client.delete(resource_path("", "v1", "nodes", name=name))

    await asyncio.gather(*(one(name) for name in names))


async def _controllers(
    client: ApiClient,
    sim: SimulatedNodes,
    args: argparse.Namespace,
    server: ServerProcess,
    alone: float,
) -> Callable[[], Awaitable[None]]:
    """Start node IPAM and node lifecycle here; print what they cost. Returns their stop."""
    informers = InformerFactory(client)
    # A /24 per node for thousands of nodes: the default /16 holds only 256.
    ipam = NodeIpamController(informers, cluster_cidr="10.128.0.0/9")
    lifecycle = NodeLifecycleController(informers)
    informers.start()
    tasks = [asyncio.create_task(ipam.run(), name="bench-ipam"),
             asyncio.create_task(lifecycle.run(), name="bench-lifecycle")]  # fmt: skip

    async def stop() -> None:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()

    began = time.perf_counter()
    cpu = time.process_time()
    while any(not (n.get("spec") or {}).get("podCIDR") for n in sim.nodes.items.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    took = time.perf_counter() - began
    print(f"  node IPAM: every node has a podCIDR {took:5.1f} s after the controllers started "
          f"({len(sim.names) / took:5.0f} nodes/s, this process "
          f"{100 * (time.process_time() - cpu) / took:3.0f}% of a core meanwhile)")  # fmt: skip
    await asyncio.sleep(sim.heartbeat_interval)
    mine, theirs = await _cpu_over(args.seconds, server.pid)
    print(f"  with node lifecycle + IPAM running: this process {mine:4.0f}% of a core "
          f"({mine - alone:+4.0f}% for the controllers), server {theirs:4.0f}%")  # fmt: skip
    return stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 500 nodes, 1000 pods")
    parser.add_argument("--nodes", default="1000,5000", help="node counts, comma-separated")
    parser.add_argument("--pods", type=int, default=5000, help="pods on the last node count")
    parser.add_argument("--seconds", type=float, default=20.0, help="heartbeat window")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.pods, args.seconds = "100,500", 1000, 10.0
    tmp = Path(tempfile.mkdtemp(prefix="kyb-bench-simnodes-"))
    print("\n".join(machine_facts(str(tmp))))
    try:
        asyncio.run(_run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
