"""Service proxy: time from an endpoint change to the nftables rule being live.

    bench/run proxy [--services 1,100,1000] [--endpoints 10] [--changes 30]

Root only. Everything happens in a network namespace made for the run and
deleted after (the machine's own ruleset is never touched). For each
number of Services (10 endpoints each), the whole ruleset is loaded once
(the baseline: `nft -f` of the full table, as on start), then one endpoint
of one Service is replaced `--changes` times; each change is timed from the
new EndpointSlice in hand to `nft -f` returning, the way the proxier does
it: the changed service's ports and rules, the diff against what was loaded
for it, and the load.
The informer's watch latency is not included (it is the API server's).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import percentile, scratch_netns
from kybernetes.proxy.host import Host
from kybernetes.proxy.model import ports_of
from kybernetes.proxy.ruleset import build_ruleset, diff_script, full_script, merge

Obj = dict[str, Any]


def objects(services: int, endpoints: int) -> tuple[list[Obj], list[Obj]]:
    svcs, slices = [], []
    for i in range(services):
        name = f"svc-{i}"
        svcs.append({"metadata": {"namespace": "default", "name": name},
                     "spec": {"clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
                              "ports": [{"name": "http", "port": 80}]}})  # fmt: skip
        slices.append(endpoint_slice(name, [f"10.244.{(i * endpoints + j) // 250}."
                                            f"{(i * endpoints + j) % 250 + 1}"
                                            for j in range(endpoints)]))  # fmt: skip
    return svcs, slices


def endpoint_slice(service: str, ips: list[str]) -> Obj:
    return {"metadata": {"namespace": "default", "name": f"{service}-x",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "n"}
                          for ip in ips]}  # fmt: skip


async def measure(host: Host, services: int, endpoints: int, changes: int) -> None:
    svcs, slices = objects(services, endpoints)
    started = time.perf_counter_ns()
    parts = [build_ruleset(ports_of(svc, {("default", f"svc-{i}"): [slices[i]]}, node_name="n"),
                           node_ips=["192.0.2.1"]) for i, svc in enumerate(svcs)]  # fmt: skip
    await host.nft(full_script(merge(parts, node_ips=["192.0.2.1"])))
    full_ms = (time.perf_counter_ns() - started) / 1e6
    samples = []
    for n in range(changes):
        target = n % services
        ips = [e["addresses"][0] for e in slices[target]["endpoints"]]
        ips[0] = f"10.250.{n // 250}.{n % 250 + 1}"  # one endpoint replaced by a new pod
        slices[target] = endpoint_slice(f"svc-{target}", ips)
        started = time.perf_counter_ns()
        # What the proxier does: recompute the changed service only, diff, load.
        ports = ports_of(svcs[target], {("default", f"svc-{target}"): [slices[target]]},
                         node_name="n")  # fmt: skip
        wanted = build_ruleset(ports, node_ips=["192.0.2.1"])
        await host.nft(diff_script(parts[target], wanted))
        samples.append(time.perf_counter_ns() - started)
        parts[target] = wanted
    samples.sort()
    print(f"{services:>6} services x {endpoints} endpoints: full load {full_ms:8.1f} ms | "
          f"one endpoint change p50 {percentile(samples, 0.5):6.1f} ms "
          f"p99 {percentile(samples, 0.99):6.1f} ms ({changes} changes)")  # fmt: skip


async def _main(args: argparse.Namespace, netns: str) -> None:
    host = Host(netns)
    for count in (int(n) for n in args.services.split(",")):
        await measure(host, count, args.endpoints, args.changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", default="1,100,1000")
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    with scratch_netns("kybbench") as netns:
        asyncio.run(_main(args, netns))


if __name__ == "__main__":
    main()
