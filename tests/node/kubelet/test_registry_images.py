"""The kubelet with real images: pulled from the test registry, unpacked, run by runc.

The image is the hand-built busybox of tests/support/registry.py, pushed
as an OCI index whose first entry is arm64; its second layer whites out a
file and makes /www opaque, so what the pod serves proves the whole path:
platform choice, verified pull, unpack, overlay whiteouts in a real
container.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.images import ImageStore
from kybernetes.node.kubelet.images import RegistryImages
from kybernetes.node.kubelet.kubelet import Kubelet
from kybernetes.node.kubelet.restarts import CrashLoopBackoff
from kybernetes.node.network.commands import run
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.node.support.accounts import publish_account_basics
from tests.support.registry import Registry, needs_root, serving_test_images

pytestmark = needs_root()

NODE = "node-img"
PODS = resource_path("", "v1", "pods", "default")
FETCH = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5)
c.sendall(b"GET " + sys.argv[2].encode() + b" HTTP/1.0\\r\\n\\r\\n")
reply = b""
while chunk := c.recv(4096):
    reply += chunk
head, _, body = reply.decode().partition("\\r\\n\\r\\n")
print(head.split()[1], body.strip())
"""


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with serving_test_images() as server:
        yield server


@pytest.fixture
async def node(
    cluster: Cluster, host_netns: str, tmp_path: Path
) -> AsyncIterator[tuple[Kubelet, ApiClient, ImageStore]]:
    store = ImageStore(tmp_path / "node" / "images")
    async with (
        ApiClient.from_kubeconfig(cluster.kubeconfig) as client,
        aiohttp.ClientSession() as session,
    ):
        kubelet = Kubelet(
            client,
            node_name=NODE,
            data_dir=tmp_path / "node",
            host_ip="198.18.0.10",
            images=RegistryImages(store, session),
            host_netns=host_netns,
            backoff=CrashLoopBackoff(initial=0.5, maximum=1),
        )
        task = asyncio.create_task(kubelet.run())

        async def registered() -> bool:
            nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
            return any(n["metadata"]["name"] == NODE for n in nodes)

        await until(registered)
        await publish_account_basics(client)
        cidr = "10.244.7.0/24"
        await client.patch(
            resource_path("", "v1", "nodes", name=NODE),
            {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}},
        )
        try:
            yield kubelet, client, store
        finally:
            await cancel_and_wait(task)
            await kubelet.remove_all_pods()
            assert await kubelet.runtime.containers() == []


def pod(name: str, image: str, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": name, "image": image, **container}],
        },
    }


async def test_a_pod_runs_an_image_pulled_from_the_registry(
    cluster: Cluster,
    node: tuple[Kubelet, ApiClient, ImageStore],
    registry: Registry,
    host_netns: str,
) -> None:
    _, client, store = node
    image = f"{registry.domain}/test/busybox:oci-index"
    # No absolute path: httpd is found through the image config's PATH.
    await client.create(
        PODS, pod("web", image, command=["httpd", "-f", "-p", "8080", "-h", "/www"])
    )

    async def running() -> bool:
        status = (await client.get(f"{PODS}/web")).get("status") or {}
        return status.get("phase") == "Running" and bool(status.get("podIP"))

    await until(running)
    status = (await client.get(f"{PODS}/web"))["status"]
    [record] = store.records()
    assert status["containerStatuses"][0]["imageID"] == (
        f"{registry.domain}/test/busybox@{record.target}"
    )

    async def fetch(path: str) -> str:
        result = await run(
            "nsenter", f"--net=/run/netns/{host_netns}", sys.executable, "-c", FETCH,
            status["podIP"], path,
        )  # fmt: skip
        return result.strip()

    assert await fetch("/index.html") == "200 <h1>kybernetes</h1>"
    # Layer 1's /www/old.txt is hidden by layer 2's opaque /www.
    assert (await fetch("/old.txt")).startswith("404")
    described = await cluster.kubectl("describe", "pod", "web")
    assert f'Pulling image "{image}"' in described
    assert f'Successfully pulled image "{image}"' in described


async def test_a_missing_image_is_err_image_pull_then_back_off(
    cluster: Cluster, node: tuple[Kubelet, ApiClient, ImageStore], registry: Registry
) -> None:
    _, client, _ = node
    image = f"{registry.domain}/test/busybox:nope"
    created = await client.create(PODS, pod("missing", image))
    seen: dict[str, str] = {}

    async def watch_waiting_reasons() -> None:
        # Watched, not polled: ErrImagePull shows only until the next look (0.5 s).
        events = client.watch(PODS, fieldSelector="metadata.name=missing",
                              resourceVersion=created["metadata"]["resourceVersion"])  # fmt: skip
        async for event in events:
            status = event["object"].get("status") or {}
            for container in status.get("containerStatuses") or []:
                waiting = (container.get("state") or {}).get("waiting") or {}
                if waiting.get("reason"):
                    seen[waiting["reason"]] = waiting.get("message", "")
            if "ErrImagePull" in seen and "ImagePullBackOff" in seen:
                return

    try:
        await asyncio.wait_for(watch_waiting_reasons(), 90)
    except TimeoutError:
        pytest.fail(f"waiting reasons seen in 90 s: {seen}")
    assert seen["ErrImagePull"] == (
        f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
        f"{image}: not found"
    )
    assert seen["ImagePullBackOff"] == f'Back-off pulling image "{image}"'
    described = await cluster.kubectl("describe", "pod", "missing")
    assert f'Failed to pull image "{image}": failed to pull and unpack image' in described
