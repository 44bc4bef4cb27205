"""Real traffic through the nftables rules, inside an isolated node (tests/proxy/netns.py).

The API server is real; Services and EndpointSlices are written directly
(as the EndpointSlice controller would), so each step controls exactly
which endpoints exist. The proxy runs against the test's host namespace,
never the machine's own.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.proxy.host import remove_rules
from kybernetes.proxy.proxier import run_proxy
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.proxy.netns import (
    NODE_IP,
    OUTSIDE_IP,
    Node,
    destroy_node,
    make_node,
    nsenter,
    sh,
)

pytestmark = pytest.mark.root

NODE = "node-1"
SERVICES = resource_path("", "v1", "services", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")
DEADLINE = 20.0
EXTERNAL_IP = "192.168.242.5"  # routed to the node by the outside client's default route


@pytest.fixture
async def node(host_netns: str, tmp_path: Path) -> AsyncIterator[Node]:
    made = await make_node(host_netns, tmp_path)
    try:
        yield made
    finally:
        await destroy_node(made)


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def proxy(client: ApiClient, node: Node) -> AsyncIterator[None]:
    task = asyncio.create_task(run_proxy(client, node_name=NODE, node_ips=[NODE_IP],
                                         host_netns=node.host,
                                         cluster_cidr="10.244.0.0/16"))  # fmt: skip
    try:
        yield
    finally:
        await cancel_and_wait(task)
        if task.done() and not task.cancelled() and task.exception():
            raise AssertionError("the proxy failed") from task.exception()
        await remove_rules(node.host)


async def service(client: ApiClient, name: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                               {"name": "dns", "port": 53, "protocol": "UDP",
                                "targetPort": 5353}], **spec}}  # fmt: skip
    return await client.create(SERVICES, body)


async def endpoints(client: ApiClient, node: Node, service: str,
                    pods: dict[str, str]) -> None:  # fmt: skip
    """Create or replace the slice of `service`: pod name -> the node it is on."""
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{service}-x", "labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "dns", "port": 5353, "protocol": "UDP"}],
        "endpoints": [{"addresses": [node.pods[p].ip], "conditions": {"ready": True},
                       "nodeName": on} for p, on in pods.items()],
    }  # fmt: skip
    try:
        current = await client.get(f"{SLICES}/{service}-x")
    except Exception:  # noqa: BLE001 - not there yet
        await client.create(SLICES, body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await client.update(f"{SLICES}/{service}-x", body)


async def until(probe: Callable[[], Awaitable[Counter[str]]],
                good: Callable[[Counter[str]], bool]) -> Counter[str]:  # fmt: skip
    """Probe until the result is good or the deadline passes; the last result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        result = await probe()
        if good(result) or loop.time() > deadline:
            return result
        await asyncio.sleep(0.2)


def answered(hits: Counter[str]) -> bool:
    return not any(k.startswith("ERR") for k in hits)


def only(*names: str) -> Callable[[Counter[str]], bool]:
    return lambda hits: set(hits) == set(names)


@pytest.mark.usefixtures("proxy")
async def test_cluster_ip_node_port_hairpin_and_endpoint_changes(
    client: ApiClient, node: Node
) -> None:
    web = await service(client, "web", type="NodePort")
    vip, node_port = web["spec"]["clusterIP"], web["spec"]["ports"][0]["nodePort"]
    await endpoints(client, node, "web", {"a": NODE, "b": NODE})

    # From the node itself and from a pod: both endpoints, no failure.
    hits = await until(lambda: node.servers_hit("host", vip, 80), only("a", "b"))
    assert set(hits) == {"a", "b"} and sum(hits.values()) == 40, hits
    hits = await node.servers_hit("c", vip, 80)
    assert set(hits) == {"a", "b"}, hits
    # A pod's own address reaches the endpoint (no masquerade inside the pod network).
    seen = {line.split()[1] for line in await node.connect("c", vip, 80, count=5)}
    assert seen == {node.pods["c"].ip}

    # Hairpin: a pod reaches itself through its own service.
    hits = await node.servers_hit("a", vip, 80, count=20)
    assert set(hits) == {"a", "b"}, hits

    # NodePort on the node's address, from the node, a pod, and another machine.
    for source in ("host", "c", "outside"):
        hits = await node.servers_hit(source, NODE_IP, node_port)
        assert set(hits) == {"a", "b"}, (source, hits)
    # policy Cluster: the outside client's address is masqueraded on the way in.
    seen = {line.split()[1] for line in await node.connect("outside", NODE_IP, node_port, count=5)}
    assert OUTSIDE_IP not in seen and len(seen) == 1, seen

    # UDP through the cluster IP.
    hits = await node.servers_hit("c", vip, 53, proto="udp", count=20)
    assert set(hits) == {"a", "b"}, hits

    # A UDP flow (one source port) sticks to its endpoint while conntrack remembers it.
    flow = 40000
    while await node.servers_hit("c", vip, 53, proto="udp", count=1,
                                 source_port=flow) != Counter({"a": 1}):  # fmt: skip
        flow += 1
        assert flow < 40100, "no UDP flow reached pod a"
    assert await node.servers_hit("c", vip, 53, proto="udp", count=5,
                                  source_port=flow) == Counter({"a": 5})  # fmt: skip

    # An endpoint goes away: no more traffic to it.
    await endpoints(client, node, "web", {"b": NODE})
    hits = await until(lambda: node.servers_hit("host", vip, 80, count=20), only("b"))
    assert hits == Counter({"b": 20})
    hits = await node.servers_hit("c", vip, 53, proto="udp", count=10)
    assert hits == Counter({"b": 10})
    # ...not even the UDP flow that went to it: its conntrack entry was flushed
    # (pod a still serves, so a stale entry would still answer from a).
    hits = await node.servers_hit("c", vip, 53, proto="udp", count=5, source_port=flow)
    assert hits == Counter({"b": 5})

    # No endpoints at all: refused at once, from the node, a pod and outside.
    await endpoints(client, node, "web", {})
    hits = await until(lambda: node.servers_hit("host", vip, 80, count=5),
                       only("ERR ECONNREFUSED"))  # fmt: skip
    assert hits == Counter({"ERR ECONNREFUSED": 5})
    assert await node.servers_hit("c", vip, 80, count=5) == Counter({"ERR ECONNREFUSED": 5})
    hits = await node.servers_hit("outside", NODE_IP, node_port, count=5)
    assert hits == Counter({"ERR ECONNREFUSED": 5})


@pytest.mark.usefixtures("proxy")
async def test_the_service_range_beyond_the_services(client: ApiClient, node: Node) -> None:
    """A cluster IP's other ports are refused at once, as Kubernetes does; an address of
    the range that no service has is dropped, never sent on un-NATed: conntrack would keep
    such a flow for two minutes, and a later connection that reused its ports would follow
    it past the rules (a rolling update's "No route to host")."""
    web = await service(client, "web")
    vip = web["spec"]["clusterIP"]
    await endpoints(client, node, "web", {"a": NODE})
    await until(lambda: node.servers_hit("host", vip, 80, count=1), only("a"))
    for source in ("host", "c"):
        hits = await node.servers_hit(source, vip, 81, count=2)
        assert hits == Counter({"ERR ECONNREFUSED": 2}), (source, hits)
    unused = "10.96.0.3" if vip != "10.96.0.3" else "10.96.0.4"
    for source in ("host", "c"):
        hits = await node.servers_hit(source, unused, 80, count=1)
        assert hits == Counter({"ERR timeout": 1}), (source, hits)
    flows = await asyncio.to_thread(subprocess.run, nsenter(node.host, "conntrack", "-L", "-d",
                                    unused), capture_output=True, text=True)  # fmt: skip
    assert unused not in flows.stdout, flows.stdout


@pytest.mark.usefixtures("proxy")
async def test_affinity_and_local_traffic_policies(client: ApiClient, node: Node) -> None:
    sticky = await service(client, "sticky", sessionAffinity="ClientIP")
    local = await service(client, "local", type="NodePort", internalTrafficPolicy="Local",
                          externalTrafficPolicy="Local")  # fmt: skip
    # b is on another node: only a is local.
    for name in ("sticky", "local"):
        await endpoints(client, node, name, {"a": NODE, "b": "node-2"})

    sticky_ip = sticky["spec"]["clusterIP"]
    hits = await until(lambda: node.servers_hit("host", sticky_ip, 80, count=20), answered)
    assert len(hits) == 1, hits  # every connection of one client to one endpoint
    hits = await node.servers_hit("c", sticky_ip, 80, count=20)
    assert len(hits) == 1 and answered(hits), hits

    local_ip, node_port = local["spec"]["clusterIP"], local["spec"]["ports"][0]["nodePort"]
    hits = await until(lambda: node.servers_hit("host", local_ip, 80, count=20), only("a"))
    assert hits == Counter({"a": 20})  # internalTrafficPolicy Local: this node's endpoint only
    # externalTrafficPolicy Local: only this node's endpoints, and the client's own address.
    lines = await node.connect("outside", NODE_IP, node_port, count=20)
    assert set(lines) == {f"a {OUTSIDE_IP}"}, lines
    # ...while pods on the node still reach every endpoint through the node port.
    hits = await node.servers_hit("c", NODE_IP, node_port)
    assert set(hits) == {"a", "b"}, hits


async def test_rules_are_removed_and_the_machine_is_untouched(
    client: ApiClient, node: Node
) -> None:
    machine_before = await sh("nft", "list", "tables")
    node_before = await sh("ip", "netns", "exec", node.host, "nft", "list", "ruleset")
    task = asyncio.create_task(run_proxy(client, node_name=NODE, node_ips=[NODE_IP],
                                         host_netns=node.host))  # fmt: skip
    try:
        web = await service(client, "web")
        await endpoints(client, node, "web", {"a": NODE})
        hits = await until(lambda: node.servers_hit("host", web["spec"]["clusterIP"], 80, count=5),
                           only("a"))  # fmt: skip
        assert hits == Counter({"a": 5})
    finally:
        await cancel_and_wait(task)
    # Stopping the proxy leaves the rules (a restart must not break traffic)...
    assert "table ip kybernetes" in await sh("ip", "netns", "exec", node.host, "nft", "list",
                                              "ruleset")  # fmt: skip
    # ...removing the node takes them away, and the route with them; the pod network's own
    # masquerade table is not the proxy's to remove.
    await remove_rules(node.host)
    await remove_rules(node.host)  # idempotent
    assert await sh("ip", "netns", "exec", node.host, "nft", "list", "ruleset") == node_before
    assert "10.96.0.0/12" not in await sh("ip", "-n", node.host, "route")
    assert await sh("nft", "list", "tables") == machine_before


@pytest.mark.usefixtures("proxy")
async def test_load_balancer_and_external_ips_forward_like_node_ports(
    client: ApiClient, node: Node
) -> None:
    lb = await service(client, "lb", type="LoadBalancer", externalIPs=[EXTERNAL_IP])
    # What the ServiceLB controller writes: the node's own address.
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": NODE_IP, "ipMode": "VIP"}]}}
    await client.update(f"{SERVICES}/lb/status", lb)
    await endpoints(client, node, "lb", {"a": NODE, "b": NODE})
    for ip in (NODE_IP, EXTERNAL_IP):
        hits = await until(lambda ip=ip: node.servers_hit("outside", ip, 80), only("a", "b"))
        assert set(hits) == {"a", "b"}, (ip, hits)
    hits = await node.servers_hit("c", EXTERNAL_IP, 80)
    assert set(hits) == {"a", "b"}, hits
