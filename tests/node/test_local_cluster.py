"""`kyb server` as a whole: its own node runs a Deployment's pods for real.

Everything a user gets from `kyb start`, in this process: the API server,
the controllers (IPAM gives the node its podCIDR), the scheduler (binds
the pods), the kubelet (pulls the image from a registry on loopback, runs
it with runc, reports status) and the Endpoints of a Service. The node's
pod network sits behind an isolated namespace (`--node-netns`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kybernetes.cli.components import Settings
from kybernetes.cli.server import run_server
from kybernetes.node.network.commands import run
from kybernetes.node.teardown import teardown_node
from kybernetes.util.tasks import cancel_and_wait
from tests.node.support.scrub import scrub_node
from tests.support.etcd import free_port
from tests.support.registry import Registry, serving_test_images

pytestmark = pytest.mark.root

FETCH = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5)
c.sendall(b"GET /index.html HTTP/1.0\\r\\n\\r\\n")
reply = b""
while chunk := c.recv(4096):
    reply += chunk
print(reply.decode().partition("\\r\\n\\r\\n")[2].strip())
"""
KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with serving_test_images() as server:
        yield server


class Server:
    def __init__(self, data_dir: Path, home: Path) -> None:
        self.data_dir = data_dir
        self.home = home

    async def kubectl(self, *args: str, check: bool = True) -> str:
        if KUBECTL is None:
            raise RuntimeError("kubectl is not installed: run scripts/setup.sh")
        env = {**os.environ, "KUBECONFIG": str(self.data_dir / "kubeconfig"),
               "HOME": str(self.home)}  # fmt: skip
        done = await asyncio.to_thread(subprocess.run, [KUBECTL, *args], capture_output=True,
                                       text=True, timeout=90, env=env)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout + ("" if check else done.stderr)


@pytest.fixture
async def server(tmp_path: Path, host_netns: str, registry: Registry) -> AsyncIterator[Server]:
    data_dir = tmp_path / "cluster"
    settings = Settings(data_dir=data_dir, node_name="local", node_ip="127.0.0.1",
                        node_netns=host_netns, kubelet_listen=("127.0.0.1", 0),
                        insecure_registries=(registry.domain,),
                        ingress_http=("127.0.0.1", 0), ingress_https=("127.0.0.1", 0),
                        dns_port=0)  # fmt: skip
    task = asyncio.create_task(run_server(
        data_dir=data_dir, store_url=f"sqlite:///{data_dir}/state.db", bind="127.0.0.1",
        port=free_port(), settings=settings))  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    try:
        async with asyncio.timeout(30):
            while not (data_dir / "kubeconfig").exists():
                await asyncio.sleep(0.1)
        yield Server(data_dir, home)
    finally:
        await cancel_and_wait(task)
        await asyncio.to_thread(scrub_node, data_dir / "node", host_netns)


async def until_true(check: object, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.2)


async def test_a_deployment_runs_on_the_local_node(
    server: Server, registry: Registry, host_netns: str
) -> None:
    image = f"{registry.domain}/test/busybox:oci"
    # A shell that ends on TERM in front of httpd (which, as PID 1, would ignore it and
    # hold each deletion for the whole 30 s grace period).
    serve = "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
    await server.kubectl("create", "deployment", "web", f"--image={image}", "--replicas=2",
                         "--", "sh", "-c", serve)  # fmt: skip
    await server.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    nodes = await server.kubectl("get", "nodes", "-o", "wide")
    assert "local" in nodes and "Ready" in nodes and "runc://" in nodes
    ips = (await server.kubectl("get", "pods", "-l", "app=web", "-o",
                                "jsonpath={.items[*].status.podIP}")).split()  # fmt: skip
    assert len(ips) == 2 and all(ip.startswith("10.244.") for ip in ips)
    # Real traffic into a pod of the Deployment, from the node's host namespace.
    page = await run("nsenter", f"--net=/run/netns/{host_netns}", sys.executable, "-c", FETCH,
                     ips[0])  # fmt: skip
    assert page  # the image's /www/index.html (its second layer)

    await server.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")

    async def endpoints_ready() -> bool:
        out = await server.kubectl("get", "endpoints", "web", "-o",
                                   "jsonpath={.subsets[*].addresses[*].ip}")  # fmt: skip
        return sorted(out.split()) == sorted(ips)

    await until_true(endpoints_ready)
    # The Service's virtual IP works: the kernel (nftables) forwards it to a pod.
    cluster_ip = await server.kubectl("get", "service", "web", "-o",
                                      "jsonpath={.spec.clusterIP}")  # fmt: skip

    async def through_the_service() -> bool:
        try:
            return bool(await run("nsenter", f"--net=/run/netns/{host_netns}", sys.executable,
                                  "-c", FETCH.replace("8080", "80"), cluster_ip))  # fmt: skip
        except Exception:  # noqa: BLE001 - rules still loading: try again
            return False

    await until_true(through_the_service)
    described = await server.kubectl("describe", "pod", "-l", "app=web")
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in described

    await server.kubectl("delete", "deployment", "web", "--wait=true", "--timeout=60s")

    async def pods_gone() -> bool:
        out = await server.kubectl("get", "pods", "-l", "app=web", "-o", "name")
        return not out.strip()

    await until_true(pods_gone)
    runtime = server.data_dir / "node" / "runtime" / "containers"

    async def containers_gone() -> bool:
        return not any(runtime.iterdir()) if runtime.exists() else True

    await until_true(containers_gone)


async def test_containers_outlive_the_server_and_delete_takes_them(
    tmp_path: Path, host_netns: str, registry: Registry
) -> None:
    """`kyb stop` leaves pods running (a restart re-adopts them); `kyb delete` removes all."""
    data_dir = tmp_path / "cluster"
    settings = Settings(data_dir=data_dir, node_name="local", node_ip="127.0.0.1",
                        node_netns=host_netns, kubelet_listen=("127.0.0.1", 0),
                        insecure_registries=(registry.domain,),
                        ingress_http=("127.0.0.1", 0), ingress_https=("127.0.0.1", 0),
                        dns_port=0)  # fmt: skip
    task = asyncio.create_task(run_server(
        data_dir=data_dir, store_url=f"sqlite:///{data_dir}/state.db", bind="127.0.0.1",
        port=free_port(), settings=settings))  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    node_dir = data_dir / "node"
    try:
        async with asyncio.timeout(30):
            while not (data_dir / "kubeconfig").exists():
                await asyncio.sleep(0.1)
        server = Server(data_dir, home)
        await server.kubectl("run", "sleeper", f"--image={registry.domain}/test/busybox:oci",
                             "--", "sleep", "3600")  # fmt: skip
        await server.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
    finally:
        await cancel_and_wait(task)
    runc = ["runc", "--root", str(node_dir / "runtime" / "runc")]
    listed = await run(*runc, "list", "-q")
    assert len(listed.split()) == 1  # still running without its server
    uids = os.listdir(node_dir / "kubelet" / "pods")
    assert len(uids) == 1 and os.path.exists(f"/run/netns/kyb-{uids[0]}")
    problems = await asyncio.to_thread(teardown_node, node_dir, netns=host_netns)
    assert problems == []
    assert (await run(*runc, "list", "-q")).split() == []
    assert str(node_dir) not in Path("/proc/self/mounts").read_text()
    assert not os.path.exists(f"/run/netns/kyb-{uids[0]}")
    assert not list(Path("/sys/fs/cgroup").glob(f"*/kubepods/pod{uids[0]}"))
