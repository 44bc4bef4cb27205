"""The train users learn Services with, on a real node: kubectl, real pods, real traffic.

`kyb server` runs its own node (API server, controllers, scheduler, the
kubelet with runc) behind an isolated namespace, exactly as in
tests/node/test_local_cluster.py; the proxy runs beside it against that
namespace, as `kyb server` will run it as a component.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.cli.components import Settings
from kybernetes.cli.server import run_server
from kybernetes.client.rest import ApiClient
from kybernetes.node.network.commands import run
from kybernetes.proxy.host import remove_rules
from kybernetes.proxy.proxier import run_proxy
from kybernetes.util.tasks import cancel_and_wait
from tests.node.support.scrub import scrub_node
from tests.node.test_local_cluster import Server, registry, until_true  # noqa: F401 - fixture
from tests.support.etcd import free_port
from tests.support.registry import Registry

pytestmark = pytest.mark.root

NODE_IP = "192.168.243.1"  # on the test host's lo: the node's address for node ports
# Each connection: which pod answered (its page is its hostname, the pod's name).
FETCH = """
import socket, sys
for _ in range(int(sys.argv[3])):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
        c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        reply = b""
        while chunk := c.recv(4096):
            reply += chunk
        print(reply.decode().partition("\\r\\n\\r\\n")[2].strip())
    except OSError as e:
        print("ERR", e)
"""


@pytest.fixture
async def server(tmp_path: Path, host_netns: str, registry: Registry) -> AsyncIterator[Server]:  # noqa: F811
    data_dir = tmp_path / "cluster"
    settings = Settings(data_dir=data_dir, node_name="local", node_ip="127.0.0.1",
                        node_netns=host_netns, kubelet_listen=("127.0.0.1", 0),
                        insecure_registries=(registry.domain,))  # fmt: skip
    task = asyncio.create_task(run_server(
        data_dir=data_dir, store_url=f"sqlite:///{data_dir}/state.db", bind="127.0.0.1",
        port=free_port(), settings=settings))  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    proxy: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(30):
            while not (data_dir / "kubeconfig").exists():
                await asyncio.sleep(0.1)
        await run("ip", "-n", host_netns, "addr", "add", f"{NODE_IP}/32", "dev", "lo")
        async with ApiClient.from_kubeconfig(data_dir / "kubeconfig") as client:
            proxy = asyncio.create_task(run_proxy(client, node_name="local",
                                                  node_ips=["127.0.0.1", NODE_IP],
                                                  host_netns=host_netns,
                                                  cluster_cidr="10.244.0.0/16"))  # fmt: skip
            yield Server(data_dir, home)
    finally:
        await cancel_and_wait(proxy)
        await remove_rules(host_netns)
        await cancel_and_wait(task)
        await asyncio.to_thread(scrub_node, data_dir / "node")


async def answers(host_netns: str, ip: str, port: int, count: int = 40) -> Counter[str]:
    out = await run("nsenter", f"--net=/run/netns/{host_netns}", sys.executable, "-c", FETCH,
                    ip, str(port), str(count))  # fmt: skip
    return Counter(out.splitlines())


async def test_cluster_ip_and_node_port_reach_every_pod_and_follow_scaling(
    server: Server,
    registry: Registry,  # noqa: F811
    host_netns: str,
) -> None:
    image = f"{registry.domain}/test/busybox:oci"
    await server.kubectl("create", "deployment", "web", f"--image={image}", "--replicas=3",
                         "--", "sh", "-c", "mkdir -p /tmp/w && hostname > /tmp/w/index.html && "
                         "exec httpd -f -p 8080 -h /tmp/w")  # fmt: skip
    await server.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    pods = sorted((await server.kubectl("get", "pods", "-l", "app=web", "-o",
                                        "jsonpath={.items[*].metadata.name}")).split())  # fmt: skip
    assert len(pods) == 3
    await server.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080",
                         "--type=NodePort")  # fmt: skip
    vip = await server.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
    node_port = int(await server.kubectl("get", "svc", "web", "-o",
                                         "jsonpath={.spec.ports[0].nodePort}"))  # fmt: skip

    async def all_pods_answer() -> bool:
        return set(await answers(host_netns, vip, 80)) == set(pods)

    await until_true(all_pods_answer)
    hits = await answers(host_netns, NODE_IP, node_port)
    assert set(hits) == set(pods), hits

    # Scaling down changes the endpoints, and the traffic follows.
    await server.kubectl("scale", "deployment", "web", "--replicas=1")
    kept: list[str] = []

    async def one_pod_answers() -> bool:
        hits = await answers(host_netns, vip, 80, count=20)
        kept[:] = list(hits)
        return len(hits) == 1 and kept[0] in pods

    await until_true(one_pod_answers)
    assert await answers(host_netns, vip, 80, count=20) == Counter({kept[0]: 20})
