"""The ingress data path and its routing table.

    bench/run ingress [--seconds S] [--workers N]

1. HTTP through the ingress proxy versus straight to the backend: requests/s
   and latency of small GETs from N concurrent keep-alive clients (16 by
   default). The backend (an aiohttp server) and the proxy each run in a
   process of their own; the load runs in this one. Rounds alternate
   between the two targets so drift of the shared machine hits both alike.
2. Routing-table rebuild: `build_routes` over 1, 100 and 1,000 Services with
   10 ready endpoints each (one Ingress path per Service) — the work between
   an informer event and the new table being live in the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import percentile
from kybernetes.ingress.proxy import IngressProxy, Routing
from kybernetes.ingress.routes import build_routes

Obj = dict[str, Any]
HOST = "127.0.0.1"
BACKEND_HOST = "127.0.0.2"


def _address(service: int, endpoint: int) -> str:
    # The first endpoint of each Service is the real backend; the rest only fill the table.
    return BACKEND_HOST if endpoint == 0 else f"10.{service // 250}.{service % 250}.{endpoint}"


def _objects(services: int, endpoints: int, backend_port: int) -> tuple[list[Obj], ...]:
    svcs, slices, paths = [], [], []
    for i in range(services):
        name = f"svc-{i}"
        svcs.append({"metadata": {"namespace": "default", "name": name},
                     "spec": {"ports": [{"name": "http", "port": 80}]}})  # fmt: skip
        slices.append({
            "metadata": {"namespace": "default", "name": f"{name}-x",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": backend_port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [_address(i, j)], "conditions": {"ready": True}}
                          for j in range(endpoints)],
        })  # fmt: skip
        paths.append({"path": f"/{name}" if i else "/", "pathType": "Prefix",
                      "backend": {"service": {"name": name, "port": {"number": 80}}}})  # fmt: skip
    rules = [{"host": "bench.example", "http": {"paths": paths}}]
    ingress = {"metadata": {"namespace": "default", "name": "bench",
                            "creationTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"rules": rules}}  # fmt: skip
    return [ingress], svcs, slices


def _serve_backend(pipe: Connection) -> None:
    async def main() -> None:
        async def hello(_: web.BaseRequest) -> web.Response:
            return web.Response(text="hello\n")

        runner = web.ServerRunner(web.Server(hello, access_log=None), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, BACKEND_HOST, 0).start()
        pipe.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_proxy(pipe: Connection, backend_port: int) -> None:
    async def main() -> None:
        proxy = IngressProxy(http=(HOST, 0), https=None)
        await proxy.start()
        ingresses, svcs, slices = _objects(1, 1, backend_port)
        proxy.swap(Routing(build_routes(ingresses, services=svcs, endpoint_slices=slices)))
        assert proxy.http_address is not None
        pipe.send(proxy.http_address[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _start(target: Any, *args: Any) -> tuple[multiprocessing.Process, int]:
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.Process(target=target, args=(theirs, *args), daemon=True)
    process.start()
    return process, int(ours.recv())


async def _load(url: str, *, workers: int, seconds: float) -> tuple[int, list[int], int]:
    latencies: list[int] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter_ns()
                async with session.get(url, headers={"Host": "bench.example"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter_ns() - start)

        await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies), latencies, errors


async def _throughput(direct: str, proxied: str, *, workers: int, seconds: float) -> None:
    empty: tuple[int, list[int], int, float] = (0, [], 0, 0.0)
    results = {"direct": empty, "ingress": empty}
    for round_ in range(4):
        order = [("direct", direct), ("ingress", proxied)]
        for name, url in order if round_ % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            count, lat, errs = await _load(url, workers=workers, seconds=seconds / 4)
            took = time.perf_counter() - began
            total, all_lat, all_errs, elapsed = results[name]
            results[name] = (total + count, all_lat + lat, all_errs + errs, elapsed + took)
    rates = {}
    for name, (total, lat, errs, elapsed) in results.items():
        lat.sort()
        rates[name] = total / elapsed
        print(f"  {name:8} {rates[name]:8.0f} req/s  p50 {percentile(lat, 0.5):6.2f} ms  "
              f"p99 {percentile(lat, 0.99):6.2f} ms  errors {errs}")  # fmt: skip
    print(f"  ingress/direct throughput ratio: {rates['ingress'] / rates['direct']:.2f}")


def _rebuild() -> None:
    for services in (1, 100, 1000):
        ingresses, svcs, slices = _objects(services, 10, 8080)
        times = []
        for _ in range(5 if services == 1000 else 20):
            began = time.perf_counter_ns()
            build_routes(ingresses, services=svcs, endpoint_slices=slices)
            times.append(time.perf_counter_ns() - began)
        times.sort()
        print(f"  {services:5} services x 10 endpoints: p50 {percentile(times, 0.5):7.2f} ms, "
              f"max {times[-1] / 1e6:7.2f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="load time per target")
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients")
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    backend, backend_port = _start(_serve_backend)
    proxy, proxy_port = _start(_serve_proxy, backend_port)
    try:
        print(f"HTTP GET, {args.workers} keep-alive clients, {args.seconds:g} s per target:")
        asyncio.run(_throughput(f"http://{BACKEND_HOST}:{backend_port}/",
                                f"http://{HOST}:{proxy_port}/",
                                workers=args.workers, seconds=args.seconds))  # fmt: skip
    finally:
        backend.terminate()
        proxy.terminate()
    print("routing table rebuild (build_routes):")
    _rebuild()


if __name__ == "__main__":
    main()
