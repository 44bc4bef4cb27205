"""The DNS server on port 53 as pods' resolvers meet it: busybox `nslookup` (musl-style).

busybox cannot be given a port, so the server listens on 127.0.0.153:53,
a loopback address of the test machine's own namespace (port 53 needs root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.rest import ApiClient
from kybernetes.dns import run_dns
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster, cluster  # noqa: F401 - the fixture
from tests.dns.fake_upstream import FakeUpstream

pytestmark = pytest.mark.root
ADDRESS = "127.0.0.153"
BUSYBOX = shutil.which("busybox")


async def nslookup(*args: str) -> str:
    assert BUSYBOX is not None
    result = await asyncio.to_thread(subprocess.run, [BUSYBOX, "nslookup", *args, ADDRESS],
                                     capture_output=True, text=True, timeout=30)  # fmt: skip
    return result.stdout + result.stderr


async def until(args: tuple[str, ...], expected: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        out = await nslookup(*args)
        if expected in out:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"nslookup {' '.join(args)}: no {expected!r} in\n{out}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:  # noqa: F811
    if os.geteuid() != 0:
        raise RuntimeError("this test needs root (port 53); deselect root tests with -m 'not root'")
    if BUSYBOX is None:
        pytest.skip("busybox is not installed")
    upstream = FakeUpstream()
    where = await upstream.start()
    api = ApiClient.from_kubeconfig(cluster.kubeconfig)
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_dns(api, listen=(ADDRESS, 53), upstream=[where], ready=ready))
    try:
        await asyncio.wait_for(asyncio.shield(ready), 20)
        yield api
    finally:
        await cancel_and_wait(task)
        await upstream.stop()
        await api.close()


async def test_busybox_resolves_services_srv_ptr_and_outside_names(client: ApiClient) -> None:
    services = "/api/v1/namespaces/default/services"
    await client.create(services, {"metadata": {"name": "web"}, "spec": {
        "clusterIP": "10.96.100.9", "ports": [{"name": "http", "port": 80}]}})  # fmt: skip
    out = await until(("web.default.svc.cluster.local",), "10.96.100.9")
    assert "NXDOMAIN" not in out
    await until(("-type=srv", "_http._tcp.web.default.svc.cluster.local"),
                "service = 0 100 80 web.default.svc.cluster.local")  # fmt: skip
    await until(("10.96.100.9",), "name = web.default.svc.cluster.local")
    out = await nslookup("kubernetes.default.svc.cluster.local")
    assert "10.96.0.1" in out
    out = await nslookup("example.org")  # forwarded to the fake upstream
    assert "192.0.2.1" in out
    out = await nslookup("nothere.default.svc.cluster.local")
    assert "NXDOMAIN" in out
