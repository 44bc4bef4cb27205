"""Service traffic on a whole node: through the ClusterIP and the Ingress, beside the pod itself.

    bench/run services [--seconds S] [--rounds R] [--concurrency C]

Runs `kyb server` with its node inside an isolated network namespace
(tests/e2e_node/node.py: a portless uplink bridge, nothing leaves; needs
root and runc), busybox httpd pods, a ClusterIP Service in front of one
and an Ingress routing a host to another's Service (each cell has its own
identical pod: see `_setup`). A load generator in the same namespace, in
its own process, keeps C HTTP/1.0 requests in flight (a new
connection each, as busybox httpd closes it) and reports requests/s and
p50/p99 latency for three cells:

- `pod`: straight to the pod's IP:8080 (the baseline: the pod's own httpd);
- `clusterip`: to the ClusterIP:80 (nftables DNAT in the kernel);
- `ingress`: to the node's :80 with the Host header (the ingress, a
  userspace proxy, then the pod).

The cells alternate over R rounds (reversed every other round) so drift on
this shared machine falls on each alike; the ratios to `pod` are the
figures. DNS queries/s and rule programming time are `bench/run dns` and
`bench/run proxy`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, percentile
from tests.e2e_node.node import IMAGE, NODE_IP, Node, running_node, until

LOAD = """
import asyncio, json, sys, time
host, port, vhost, seconds, concurrency = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                           float(sys.argv[4]), int(sys.argv[5]))
request = f"GET / HTTP/1.0\\r\\nHost: {vhost or host}\\r\\n\\r\\n".encode()
latencies, errors = [], 0

async def worker(deadline):
    global errors
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            reply = await reader.read()
            writer.close()
            if not reply.startswith(b"HTTP/1.") or b" 200 " not in reply.split(b"\\r\\n")[0]:
                raise ValueError(reply[:40])
        except Exception:
            errors += 1
            continue
        latencies.append(time.perf_counter_ns() - start)

async def main():
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
    print(json.dumps({"latencies": latencies, "errors": errors,
                      "elapsed": time.perf_counter() - began}))

asyncio.run(main())
"""

INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  rules:
  - host: bench.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: bench-ing, port: {number: 80}}}}
"""


def _cell(node: Node, target: tuple[str, int, str], seconds: float, concurrency: int) -> Any:
    host, port, vhost = target
    out = node.inside(sys.executable, "-c", LOAD, host, str(port), vhost, str(seconds),
                      str(concurrency), timeout=seconds + 60)  # fmt: skip
    return json.loads(out)


def _setup(node: Node) -> dict[str, tuple[str, int, str]]:
    # One identical pod per cell: a pod's httpd closes each connection, so it
    # keeps it in TIME_WAIT; a SYN to the same server tuple through the other
    # path (its ISN and timestamps derive from another destination) would be
    # refused and retried after a second, so the cells must not share a server.
    for name in ("bench-pod", "bench-svc", "bench-ing"):
        node.kubectl("run", name, f"--image={IMAGE}", "--port=8080")
    for name in ("bench-pod", "bench-svc", "bench-ing"):
        node.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")
    node.kubectl("expose", "pod", "bench-svc", "--name=bench", "--port=80", "--target-port=8080")
    node.kubectl("expose", "pod", "bench-ing", "--port=80", "--target-port=8080")
    node.kubectl("apply", "-f", "-", stdin=INGRESS)
    pod_ip = node.jsonpath("pod", "bench-pod", path="{.status.podIP}")
    cluster_ip = node.jsonpath("service", "bench", path="{.spec.clusterIP}")
    until(lambda: node.fetch(f"http://{cluster_ip}/"), what="the ClusterIP")
    until(lambda: node.fetch(f"http://{NODE_IP}/", "-H", "Host: bench.example.test"),
          what="the ingress")  # fmt: skip
    return {"pod": (pod_ip, 8080, ""), "clusterip": (cluster_ip, 80, ""),
            "ingress": (NODE_IP, 80, "bench.example.test")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=3.0, help="per cell per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_node(Path(tmp)) as node:
        targets = _setup(node)
        names = list(targets)
        samples: dict[str, list[int]] = {name: [] for name in names}
        errors = dict.fromkeys(names, 0)
        elapsed = dict.fromkeys(names, 0.0)
        for target in targets.values():  # warm-up
            _cell(node, target, 0.5, args.concurrency)
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                result = _cell(node, targets[name], args.seconds, args.concurrency)
                samples[name] += result["latencies"]
                errors[name] += result["errors"]
                elapsed[name] += result["elapsed"]
        figures = {}
        for name in names:
            ordered = sorted(samples[name])
            figures[name] = Figure(rate=len(ordered) / elapsed[name], p50=percentile(ordered, 0.5),
                                   p99=percentile(ordered, 0.99), count=len(ordered),
                                   errors=errors[name])  # fmt: skip
    print(
        f"services: {args.rounds} rounds x {args.seconds:g} s per cell, "
        f"{args.concurrency} requests in flight, a new connection each (busybox httpd)"
    )
    print(
        f"{'cell':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'count':>7} {'errors':>6} "
        f"{'rate/pod':>8}"
    )
    base = figures["pod"].rate
    for name, fig in figures.items():
        print(
            f"{name:10} {fig.rate:9.0f} {fig.p50:8.2f} {fig.p99:8.2f} {fig.count:7} "
            f"{fig.errors:6} {fig.rate / base:8.2f}x"
        )
    print(time.strftime("measured %Y-%m-%d %H:%M UTC", time.gmtime()))


if __name__ == "__main__":
    main()
