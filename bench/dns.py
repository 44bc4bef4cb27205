"""Cluster DNS: queries per second and latency, beside a bare asyncio UDP echo.

    bench/run dns [--seconds S] [--services N]

An in-process API server (SQLite in a temp dir) with N ClusterIP Services
(100 by default) and `run_dns` on 127.0.0.1 (a free port). A load generator
in its own process (so it does not share the server's loop or GIL) keeps 64
UDP queries in flight for S seconds and reports queries/s and p50/p99
latency. Three cells:

- `echo`: an asyncio UDP server in the same process that sends each datagram
  back: the ceiling for any asyncio UDP server here (baseline);
- `hit`: A queries cycling over the N service names (answers from the cache);
- `miss`: A queries for names never asked before (each resolved from the
  informer caches and rendered: the uncached path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.message

from bench.common import percentile
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.server import start_apiserver
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.dns import run_dns
from kybernetes.store import open_store
from kybernetes.util.tasks import cancel_and_wait

WINDOW = 64


def load(host: str, port: int, seconds: float, mode: str, services: int) -> dict[str, Any]:
    """The load generator (runs in a child process): `WINDOW` queries in flight."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sock.settimeout(1.0)
    sent: dict[int, float] = {}
    latencies: list[int] = []
    lost = 0
    n = 0

    # Hit and echo queries are built once (only the ID changes), so the generator
    # spends its time sending; a miss needs a name never asked before.
    cycle = [dns.message.make_query(f"svc-{i}.default.svc.cluster.local.", "A").to_wire()[2:]
             for i in range(services)]  # fmt: skip

    def query() -> None:
        nonlocal n
        qid = n % 65536
        if mode == "miss":
            q = dns.message.make_query(f"nope-{n}.default.svc.cluster.local.", "A")
            q.id = qid
            wire = q.to_wire()
        else:
            wire = qid.to_bytes(2, "big") + cycle[n % services]
        n += 1
        sent[qid] = time.perf_counter_ns()
        sock.send(wire)

    wires_ok = time.perf_counter() + seconds
    for _ in range(WINDOW):
        query()
    while sent:
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            lost += len(sent)
            break
        started = sent.pop(int.from_bytes(reply[:2], "big"), None)
        if started is not None:
            latencies.append(time.perf_counter_ns() - started)
        if time.perf_counter() < wires_ok:
            query()
    latencies.sort()
    return {"count": len(latencies), "lost": lost, "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "seconds": seconds}  # fmt: skip


async def _run_load(host: str, port: int, seconds: float, mode: str, services: int) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.dns", "--load", host, str(port), str(seconds), mode,
        str(services), stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    out, _ = await proc.communicate()
    result = json.loads(out)
    rate = result["count"] / result["seconds"]
    return (f"{mode:5s} {rate:9.0f} queries/s   p50 {result['p50']:6.2f} ms   "
            f"p99 {result['p99']:6.2f} ms   "
            f"({result['count']} answered, {result['lost']} lost)")  # fmt: skip


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


async def bench(seconds: float, services: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kyb-bench-dns-") as tmp:
        pki = await asyncio.to_thread(ClusterPKI.load_or_create, Path(tmp) / "pki",
                                      hostnames=["localhost"], ips=["127.0.0.1"])  # fmt: skip
        store = await open_store(f"sqlite://{tmp}/state.db?compact_interval=0")
        api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
        kubeconfig = Path(tmp) / "kubeconfig"
        write_admin_kubeconfig(kubeconfig, server=api.url, ca_pem=pki.ca_pem,
                               client_cert_pem=pki.admin_cert_pem,
                               client_key_pem=pki.admin_key_pem)  # fmt: skip
        client = ApiClient.from_kubeconfig(kubeconfig)
        path = resource_path("", "v1", "services", "default")
        for i in range(services):
            await client.create(path, {"metadata": {"name": f"svc-{i}"},
                                       "spec": {"ports": [{"port": 80}]}})  # fmt: skip
        loop = asyncio.get_running_loop()
        echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        echo_port = echo.get_extra_info("sockname")[1]
        ready: asyncio.Future[tuple[str, int]] = loop.create_future()
        task = asyncio.create_task(run_dns(client, listen=("127.0.0.1", 0), upstream=[],
                                           ready=ready))  # fmt: skip
        try:
            host, port = await ready
            print(f"nproc {os.cpu_count()}, load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {services} services, "
                  f"{WINDOW} queries in flight, {seconds:.0f} s per cell")  # fmt: skip
            print(await _run_load("127.0.0.1", echo_port, seconds, "echo", services))
            print(await _run_load(host, port, seconds, "hit", services))
            print(await _run_load(host, port, seconds, "miss", services))
        finally:
            echo.close()
            await cancel_and_wait(task)
            await client.close()
            await api.stop()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--load", nargs=5, metavar=("HOST", "PORT", "SECONDS", "MODE", "N"))
    args = parser.parse_args()
    if args.load:
        host, port, secs, mode, n = args.load
        print(json.dumps(load(host, int(port), float(secs), mode, int(n))))
        return
    asyncio.run(bench(args.seconds, args.services))


if __name__ == "__main__":
    main()
