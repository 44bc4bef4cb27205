"""The API server's relay and the kubelet server's attach, without root or runc.

A real KubeletServer whose container is only a CRI log file this test
writes, a Node pointing the API server at it, and the real `kubectl attach`
reading through both: what the container "writes" reaches kubectl on the
right stream, and the attach ends with the container.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.kubelet.server import KubeletServer, StreamLocator, serving_certificate
from kybernetes.node.kubelet.streams import ContainerTarget, PodTarget
from kybernetes.node.runtime.shim import cri_line
from tests.apiserver.conftest import KUBECTL, Cluster

NODE = "node-s"


@pytest.fixture
async def kubelet_server(
    cluster: Cluster, tmp_path: Path
) -> AsyncIterator[tuple[Path, list[bool]]]:
    log = tmp_path / "container.log"
    log.write_bytes(b"")
    ended = [False]

    def pod(namespace: str, name: str) -> PodTarget | None:
        return PodTarget(name, "uid-1", "/nonexistent") if name == "fake" else None

    async def container(namespace: str, name: str, container: str) -> ContainerTarget | None:
        if (name, container) != ("fake", "main"):
            return None
        return ContainerTarget("c1", tmp_path, log, {"name": "main"}, lambda: ended[0])

    cert, key = serving_certificate(tmp_path / "pki", NODE, ["127.0.0.1"])
    server = KubeletServer(locate=lambda *_: None, client_ca_pem=cluster.pki.ca_pem, cert=cert,
                           key=key, streams=StreamLocator(pod, container))  # fmt: skip
    port = await server.start("127.0.0.1", 0)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        node = await client.create(resource_path("", "v1", "nodes"), {"metadata": {"name": NODE}})
        node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}  # fmt: skip
        await client.update(resource_path("", "v1", "nodes", name=NODE, sub="status"), node)
        pods = resource_path("", "v1", "pods", "default")
        created = await client.create(pods, {"metadata": {"name": "fake"}, "spec": {
            "nodeName": NODE, "containers": [{"name": "main", "image": "none"}]}})  # fmt: skip
        created["status"] = {"phase": "Running"}
        await client.update(f"{pods}/fake/status", created)
    try:
        yield log, ended
    finally:
        await server.stop()


def _append(log: Path, stream: str, text: bytes) -> None:
    now = datetime.datetime.now(datetime.UTC)
    with open(log, "ab") as file:
        file.write(cri_line(stream, text, partial=False, now=now))


async def test_attach_relays_both_streams_until_the_container_ends(
    cluster: Cluster, kubelet_server: tuple[Path, list[bool]]
) -> None:
    log, ended = kubelet_server
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    _append(log, "stdout", b"history, not shown")
    env = {**os.environ, "HOME": str(cluster.home), "KUBECONFIG": str(cluster.kubeconfig)}
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "attach", "fake", stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        # Write until kubectl shows it: attach starts from "now", whenever that is.
        async with asyncio.timeout(30):
            while True:
                _append(log, "stdout", b"to stdout")
                _append(log, "stderr", b"to stderr")
                try:
                    line = await asyncio.wait_for(process.stdout.readline(), 0.5)
                except TimeoutError:
                    continue
                assert line == b"to stdout\n"
                break
        ended[0] = True
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0
        assert b"history" not in out and b"to stderr" in err
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_kubelet_errors_reach_kubectl(
    cluster: Cluster, kubelet_server: tuple[Path, list[bool]]
) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    env = {**os.environ, "HOME": str(cluster.home), "KUBECONFIG": str(cluster.kubeconfig)}
    result = await asyncio.create_subprocess_exec(
        KUBECTL, "attach", "fake", "-i", stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    _, err = await asyncio.wait_for(result.communicate(), 30)
    assert result.returncode == 1
    assert b"stdin is not enabled for it (its spec needs stdin: true)" in err


async def test_a_pod_the_kubelet_does_not_know_is_said_in_the_stream(
    cluster: Cluster, kubelet_server: tuple[Path, list[bool]]
) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        pods = resource_path("", "v1", "pods", "default")
        await client.create(pods, {"metadata": {"name": "unknown"}, "spec": {
            "nodeName": NODE, "containers": [{"name": "main", "image": "none"}]}})  # fmt: skip
    env = {**os.environ, "HOME": str(cluster.home), "KUBECONFIG": str(cluster.kubeconfig)}
    result = await asyncio.create_subprocess_exec(
        KUBECTL, "exec", "unknown", "--", "true", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    _, err = await asyncio.wait_for(result.communicate(), 30)
    assert result.returncode == 1
    assert b"error: Internal error occurred: pod does not exist" in err, err
