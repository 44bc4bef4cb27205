"""`kubectl logs` flags as the conformance test checks them (checklist K17),
through the API server's pods/log relay to a real KubeletServer whose
container is only a CRI log file this test writes: no root, no runtime.

Upstream reads a logs-generator pod; here the log holds lines written two
hours ago and lines written now, so `--since` has something to leave out.
"""

from __future__ import annotations

import base64
import datetime
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.kubelet.server import KubeletServer, LogSource, serving_certificate
from kybernetes.node.runtime.shim import cri_line
from tests.apiserver.conftest import Cluster

NODE = "node-logs"
OLD, RECENT = 20, 5  # lines from two hours ago, lines from now


@pytest.fixture
async def logs_generator(cluster: Cluster, tmp_path: Path) -> AsyncIterator[None]:
    log = tmp_path / "container.log"
    now = datetime.datetime.now(datetime.UTC)
    with open(log, "wb") as file:
        for i in range(OLD + RECENT):
            when = now - datetime.timedelta(hours=2) if i < OLD else now
            line = f"I0101 00:00:00.000000 1 logs_generator.go:67] {i} GET /api/v1/pods 200\n"
            file.write(cri_line("stdout", line.encode(), partial=False, now=when))

    def locate(namespace: str, pod: str, container: str, previous: bool) -> LogSource | None:
        if (pod, container, previous) != ("logs-generator", "logs-generator", False):
            return None
        return LogSource(log, lambda: True)

    cert, key = serving_certificate(tmp_path / "pki", NODE, ["127.0.0.1"])
    server = KubeletServer(locate=locate, client_ca_pem=cluster.pki.ca_pem, cert=cert, key=key)
    port = await server.start("127.0.0.1", 0)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        node = await client.create(resource_path("", "v1", "nodes"), {"metadata": {"name": NODE}})
        node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}  # fmt: skip
        await client.update(resource_path("", "v1", "nodes", name=NODE, sub="status"), node)
        pods = resource_path("", "v1", "pods", "default")
        await client.create(pods, {"metadata": {"name": "logs-generator"}, "spec": {
            "nodeName": NODE,
            "containers": [{"name": "logs-generator", "image": "agnhost"}]}})  # fmt: skip
    try:
        yield
    finally:
        await server.stop()


@pytest.mark.usefixtures("logs_generator")
async def test_logs_tail_limit_bytes_timestamps_and_since(cluster: Cluster) -> None:
    pod = ("logs-generator", "logs-generator")
    everything = (await cluster.kubectl("logs", *pod)).splitlines()
    assert len(everything) == OLD + RECENT
    assert everything[0].endswith("] 0 GET /api/v1/pods 200")
    # --tail=1: the last line only.
    assert (await cluster.kubectl("logs", *pod, "--tail=1")).splitlines() == everything[-1:]
    # --limit-bytes=1: one byte.
    assert await cluster.kubectl("logs", *pod, "--limit-bytes=1") == everything[0][0]
    # --tail=1 --timestamps: one line with an RFC 3339 time before it.
    out = (await cluster.kubectl("logs", *pod, "--tail=1", "--timestamps")).splitlines()
    assert len(out) == 1
    stamp, _, text = out[0].partition(" ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp), stamp
    assert text == everything[-1]
    # --since: the recent lines only, all of them over a day.
    recent = (await cluster.kubectl("logs", *pod, "--since=30s")).splitlines()
    assert recent == everything[OLD:]
    day = (await cluster.kubectl("logs", *pod, "--since=24h")).splitlines()
    assert day == everything
    # --since-time, as an RFC 3339 time.
    hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    since = hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await cluster.kubectl("logs", *pod, f"--since-time={since}")).splitlines() == recent


@pytest.mark.usefixtures("logs_generator")
async def test_logs_over_a_websocket_with_the_token_in_a_subprotocol(cluster: Cluster) -> None:
    """Checklist P09: the log endpoint upgraded to a WebSocket, each chunk a
    binary frame (binary.k8s.io) or base64 text (base64.binary.k8s.io),
    the bearer token carried as a subprotocol as browsers must."""
    expected = await cluster.kubectl("logs", "logs-generator")
    await cluster.kubectl("create", "serviceaccount", "reader")
    token = (await cluster.kubectl("create", "token", "reader")).strip()
    carried = "base64url.bearer.authorization.k8s.io." + base64.urlsafe_b64encode(
        token.encode()).decode().rstrip("=")  # fmt: skip
    url = f"{cluster.api.url}/api/v1/namespaces/default/pods/logs-generator/log"
    context = ssl.create_default_context(cadata=cluster.pki.ca_pem.decode())
    async with aiohttp.ClientSession() as session:
        for protocol, decode in (
            ("binary.k8s.io", bytes),
            ("base64.binary.k8s.io", base64.b64decode),
        ):
            params = {"container": "logs-generator"}
            protocols = (protocol, carried)
            async with session.ws_connect(
                url, ssl=context, protocols=protocols, params=params
            ) as socket:
                assert socket.protocol == protocol
                received = b"".join([decode(m.data) async for m in socket])  # type: ignore[operator]
                assert socket.close_code == aiohttp.WSCloseCode.OK
            assert received.decode() == expected
        # Without a token the upgrade is refused as any request is.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, ssl=context, protocols=("binary.k8s.io",))
        assert refused.value.status == 401
