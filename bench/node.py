"""The node's own figures: pod start latency on each runtime, and the idle footprint.

    bench/run node [--pods N] [--idle-seconds S] [--runtimes runc,process] [--quick]

Root only. Each cell runs the whole cluster as a user starts it, in its own
process: `python -m kybernetes server` with its node's pod network behind a
network namespace this benchmark creates (`--node-netns`, lo up, no route
off the machine) and deletes, as tests/node/test_local_cluster.py does
in-process. The image (the hand-built busybox test image) comes from
Debian's docker-registry on 127.0.0.1 and is pulled once by a warm-up pod
before any figure, so every figure is "image already present".

Figures, from just before the create request to the moment this process's
watch (one informer on pods) sees the pod's phase Running:

1. **idle** (runc server, first): the server's RSS and CPU % of one core
   over S seconds (60), once its node is Ready and 10 s have passed — one
   node, no pods. RSS sums the server and its children (shims: none with
   no pods); CPU is user + system of the same processes.
2. **one at a time**: N pods (100), each created after the previous one
   is Running.
3. **N at once**: N pods created concurrently (all requests in flight
   together); latency per pod from the burst's start, and when the last
   one was Running.

Between cells the pods are deleted (grace period 0) and the benchmark waits
until they are gone. Runtimes: `runc` (real containers) and `process` (the
command as a host process, kybernetes/node/runtime/process.py).

Baseline, same run, same harness: `sim`, a server with `--disable kubelet
--simulated-nodes 1`, the same cells: the control plane's share (API
server, scheduler, a node that reports Running as soon as it sees the pod).
The pull and unpack throughput is `bench/run images`. Targets shown (issue
5, never enforced): p99 <= 0.5 s one at a time, <= 2 s for N at once; idle
RSS <= 150 MB, CPU < 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.apiserver import CpuClock, ServerProcess, client_ssl_context, cpu_note
from bench.common import machine_facts, percentile, scratch_netns
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.support.etcd import free_port
from tests.support.registry import Registry, serving_test_images

Obj = dict[str, Any]
PODS = resource_path("", "v1", "pods", "default")
SETTLE = 10.0  # seconds after the node is Ready before the idle window opens


def _print(line: str = "") -> None:
    print(line, flush=True)


@dataclass
class Cell:
    label: str
    latencies_ns: list[int]
    wall: float
    note: str

    def line(self, target_ms: float) -> str:
        s = sorted(self.latencies_ns)
        p50, p99 = percentile(s, 0.50), percentile(s, 0.99)
        met = "met" if p99 <= target_ms else "MISSED"
        return (f"  {self.label:<22} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  "
                f"n={len(s):<4} all {self.wall:6.2f}s  (p99 target {target_ms:.0f} ms: "
                f"{met})  {self.note}")  # fmt: skip


def _pod(name: str, image: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"bench": "node"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": image,
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}  # fmt: skip


class Watcher:
    """When each pod was first seen Running, through one informer."""

    def __init__(self, client: ApiClient) -> None:
        self.informer = Informer(client, PODS)
        self.running: dict[str, int] = {}
        self.waiters: dict[str, asyncio.Future[None]] = {}
        self.informer.on_add(self._seen)
        self.informer.on_update(lambda _old, new: self._seen(new))

    def _seen(self, pod: Obj) -> None:
        name = str(pod["metadata"]["name"])
        status = pod.get("status") or {}
        if status.get("phase") == "Failed":  # it will never run: say why, do not wait
            waiter = self.waiters.pop(name, None)
            if waiter is not None and not waiter.done():
                why = f"{status.get('reason')}: {status.get('message')}"
                waiter.set_exception(RuntimeError(f"pod {name} failed ({why})"))
            return
        if status.get("phase") != "Running":
            return
        if name in self.running:
            return
        self.running[name] = time.perf_counter_ns()
        waiter = self.waiters.pop(name, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expect(self, name: str) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self.waiters[name] = future
        return future


async def _until(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Poll the API: nothing here has an event to wait on."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def _node_ready(client: ApiClient) -> None:
    async def ready() -> bool:
        nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
        conditions = [c for n in nodes for c in (n.get("status") or {}).get("conditions") or []]
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    await _until(ready, 120)


async def _delete_all(client: ApiClient, watcher: Watcher, node_data: Path | None = None) -> None:
    """Delete every pod; with `node_data`, also wait until the node has taken them down.

    A delete with grace 0 is a force delete: the API forgets the pod at once and
    the kubelet stops its containers afterwards. The next cell must not share
    the cores with that teardown (runc kill/delete, unmounts, network namespaces
    the kernel frees slowly), or it measures both.
    """
    names = list(watcher.informer.items)
    for key in names:
        name = key.rsplit("/", 1)[-1]
        try:
            await client.delete(f"{PODS}/{name}", body={"gracePeriodSeconds": 0})
        except ApiStatusError as e:
            if e.code != 404:
                raise

    async def gone() -> bool:
        return not watcher.informer.items

    await _until(gone, 300)
    watcher.running.clear()
    if node_data is not None:
        runtime = node_data / "node" / "runtime"

        async def taken_down() -> bool:
            return not any(any((runtime / part).iterdir()) for part in ("containers", "pods")
                           if (runtime / part).is_dir())  # fmt: skip

        try:
            await _until(taken_down, 120)
        except TimeoutError:
            left = [str(p) for part in ("containers", "pods") for p in (runtime / part).iterdir()]
            raise RuntimeError(
                f"the node still has, 120 s after the pods were deleted: {left}"
            ) from None


async def _one_at_a_time(client: ApiClient, watcher: Watcher, image: str, n: int,
                         prefix: str) -> Cell:  # fmt: skip
    latencies = []
    began = time.perf_counter()
    for i in range(n):
        name = f"{prefix}-seq-{i}"
        waiter = watcher.expect(name)
        t0 = time.perf_counter_ns()
        await client.create(PODS, _pod(name, image))
        await asyncio.wait_for(waiter, 120)
        latencies.append(watcher.running[name] - t0)
    return Cell("one at a time", latencies, time.perf_counter() - began, "")


async def _at_once(client: ApiClient, watcher: Watcher, image: str, n: int, prefix: str) -> Cell:
    names = [f"{prefix}-burst-{i}" for i in range(n)]
    waiters = [watcher.expect(name) for name in names]
    t0 = time.perf_counter_ns()
    began = time.perf_counter()
    await asyncio.gather(*(client.create(PODS, _pod(name, image)) for name in names))
    created = time.perf_counter() - began
    await asyncio.wait_for(asyncio.gather(*waiters), 600)
    latencies = [watcher.running[name] - t0 for name in names]
    return Cell(f"{n} at once", latencies, time.perf_counter() - began,
                f"creates answered in {created:.2f}s")  # fmt: skip


def _bare_bundle(tmp: Path) -> Path:
    """An OCI bundle for `runc run`: busybox's layer as a read-only rootfs, `sleep 3600`."""
    from tests.node.support.images import busybox_layers

    bundle = tmp / "bare"
    bundle.mkdir()
    layers = busybox_layers(tmp / "bare-layers")
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": layers[0], "readonly": True}
    config["process"]["args"] = ["sleep", "3600"]
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


async def _bare_runc(tmp: Path, n: int) -> list[Cell]:
    """The floor: `runc run -d` of one container, alone, then n at once; no kubelet, no API."""
    bundle = _bare_bundle(tmp)
    root = tmp / "bare-runc"
    ids: list[str] = []

    async def one(name: str) -> int:
        ids.append(name)
        # Not a pipe: with -d the container keeps runc's stdio, and a pipe would never close.
        with open(tmp / f"{name}.err", "wb") as err:
            t0 = time.perf_counter_ns()
            proc = await asyncio.create_subprocess_exec(
                "runc", "--root", str(root), "run", "-d", "--bundle", str(bundle), name,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=err)  # fmt: skip
            await proc.wait()
        if proc.returncode != 0:
            said = (tmp / f"{name}.err").read_text().strip()
            raise RuntimeError(f"runc run {name}: {said}")
        return time.perf_counter_ns() - t0

    async def cleanup() -> None:
        for name in ids:
            proc = await asyncio.create_subprocess_exec(
                "runc", "--root", str(root), "delete", "--force", name,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
            await proc.wait()
        ids.clear()

    cells = []
    try:
        began = time.perf_counter()
        seq = [await one(f"kybb-seq-{i}-{secrets.token_hex(3)}") for i in range(n)]
        cells.append(Cell("one at a time", seq, time.perf_counter() - began, ""))
        await cleanup()
        began = time.perf_counter()
        burst = await asyncio.gather(*(one(f"kybb-burst-{i}-{secrets.token_hex(3)}")
                                       for i in range(n)))  # fmt: skip
        cells.append(Cell(f"{n} at once", list(burst), time.perf_counter() - began, ""))
    finally:
        await cleanup()
    return cells


def _tree(pid: int) -> list[int]:
    """The process and its descendants (from /proc/*/stat parent pids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


async def _idle(pid: int, seconds: float) -> str:
    load0 = os.getloadavg()[0]
    pids = _tree(pid)
    cpu0, t0 = _cpu_s(pids), time.perf_counter()
    rss: list[int] = []
    while time.perf_counter() - t0 < seconds:
        rss.append(sum(_rss_kb(p) for p in _tree(pid)))
        await asyncio.sleep(1.0)
    pids = _tree(pid)
    cpu = 100 * (_cpu_s(pids) - cpu0) / (time.perf_counter() - t0)
    mb = max(rss) / 1024
    return (f"  idle, one node, no pods: RSS max {mb:.0f} MB (last {rss[-1] / 1024:.0f} MB, "
            f"{len(pids)} processes), CPU {cpu:.2f}% of one core over {seconds:.0f}s "
            f"(targets <= 150 MB: {'met' if mb <= 150 else 'MISSED'}, < 1%: "
            f"{'met' if cpu < 1 else 'MISSED'}); load average {load0:.2f}")  # fmt: skip


async def _server_cells(tmp: Path, runtime: str, registry: Registry, netns: str,
                        args: argparse.Namespace) -> None:  # fmt: skip
    data = tmp / f"server-{runtime}"
    ClusterPKI.load_or_create(data / "pki", hostnames=["localhost"], ips=["127.0.0.1"])
    port = free_port()
    common = [sys.executable, "-m", "kybernetes", "server", "--data-dir", str(data),
              "--port", str(port), "--bind-address", "127.0.0.1"]  # fmt: skip
    if runtime == "sim":
        flags = ["--disable", "kubelet", "--simulated-nodes", "1"]
    else:
        flags = ["--node-name", "local", "--node-ip", "127.0.0.1", "--node-netns", netns,
                 "--runtime", runtime, "--kubelet-port", "0", "--dns-port", "0",
                 "--ingress-http-port", "0", "--ingress-https-port", "0",
                 "--insecure-registry", registry.domain]  # fmt: skip
    server = ServerProcess(f"kyb server ({runtime})", common + flags, port=port,
                           log_path=tmp / f"server-{runtime}.log")  # fmt: skip
    server.start()
    clock = CpuClock()
    clock.pids["server"] = server.pid
    ssl_context = client_ssl_context(data / "pki")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, ssl=ssl_context))
    watcher: Watcher | None = None
    image = f"{registry.domain}/test/busybox:oci"
    try:
        await server.wait_ready(session)
        client = ApiClient(server.url, ssl_context=ssl_context, session=session)
        await _node_ready(client)
        _print(f"{runtime}:")
        if runtime == "runc" and args.idle_seconds > 0:
            await asyncio.sleep(SETTLE)
            _print(await _idle(server.pid, args.idle_seconds))
        watcher = Watcher(client)
        watcher.informer.start()
        await watcher.informer.synced.wait()
        warm = watcher.expect("warm")
        await client.create(PODS, _pod("warm", image))
        await asyncio.wait_for(warm, 120)  # pulls the image: every figure has it present
        node_data = None if runtime == "sim" else data
        await _delete_all(client, watcher, node_data)
        for cell, target in ((_one_at_a_time, 500.0), (_at_once, 2000.0)):
            load0 = os.getloadavg()[0]
            since = clock.read()
            result = await cell(client, watcher, image, args.pods, runtime)
            result.note += (f"  {cpu_note(clock.used(since), result.wall, {'server': 'server'})}"
                            f"  load {load0:.2f}")  # fmt: skip
            _print(result.line(target))
            await _delete_all(client, watcher, node_data)
    finally:
        if watcher is not None:
            await watcher.informer.stop()
        await session.close()
        server.stop()


async def _main(args: argparse.Namespace, netns: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kyb-bench-node-") as tmp_name:
        tmp = Path(tmp_name)
        for line in machine_facts(tmp_name):
            _print(line)
        _print(f"{args.pods} pods per cell; latency = create request -> phase Running "
               "seen by a watch; image already present")  # fmt: skip
        with serving_test_images() as registry:
            _print("bare runc (runc run -d returned: container running; no kubelet, no API):")
            for cell, target in zip(await _bare_runc(tmp, args.pods), (500.0, 2000.0), strict=True):
                cell.note += f"load {os.getloadavg()[0]:.2f}"
                _print(cell.line(target))
            for runtime in ["sim", *args.runtimes.split(",")]:
                try:
                    await _server_cells(tmp, runtime, registry, netns, args)
                finally:
                    if runtime != "sim":
                        _scrub(tmp / f"server-{runtime}", netns)


def _scrub(data: Path, netns: str) -> None:
    from tests.node.support.scrub import scrub_node

    scrub_node(data / "node", netns)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run node")
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--runtimes", default="runc,process")
    parser.add_argument("--quick", action="store_true", help="10 pods, 10 s idle")
    args = parser.parse_args()
    if args.quick:
        args.pods, args.idle_seconds = 10, 10.0
    if os.geteuid() != 0:
        raise SystemExit("bench/run node needs root (network namespaces, runc)")
    with scratch_netns("kybb-node", loopback_up=True) as netns:
        asyncio.run(_main(args, netns))


if __name__ == "__main__":
    main()
