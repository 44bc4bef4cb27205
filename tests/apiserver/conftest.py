"""An API server in this process on a free loopback port, and kubectl to drive it.

kubectl runs with a private HOME (its discovery cache stays out of the real
one) and an admin kubeconfig; `Cluster.kubectl` fails the test with
kubectl's own output when the command fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.server import ApiServer, start_apiserver
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.store import open_store
from kybernetes.store.sqlite.backend import SqliteStore
from tests.store.conftest import following

KUBECTL = shutil.which("kubectl")


@dataclass
class Cluster:
    api: ApiServer
    pki: ClusterPKI
    kubeconfig: Path
    home: Path

    async def kubectl(self, *args: str, stdin: str = "", check: bool = True) -> str:
        """Run the real kubectl in a thread (the server runs on this loop)."""
        if KUBECTL is None:
            pytest.skip("kubectl is not installed")
        result = await asyncio.to_thread(
            subprocess.run,
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(self.home), "KUBECONFIG": ""},
        )
        output = result.stdout + result.stderr
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{output}"
            )
        if not check:
            return output
        return result.stdout


# KYB_TEST_API_PROCESSES=2: every cluster here is two API servers on one port
# and one store, as `kyb server --api-processes 2` runs them (here in this
# process): the kernel gives each connection to either, so the whole suite
# checks that a client cannot tell. CI runs the suite as it is. Tests that
# reach into the first server itself (its storage, scraper, /metrics, request
# timeout) are marked `one_api_process` and keep one server.
API_PROCESSES = int(os.environ.get("KYB_TEST_API_PROCESSES", "1"))


@contextlib.asynccontextmanager
async def running_cluster(
    tmp_path: Path, processes: int = 1, **server: Any
) -> AsyncIterator[Cluster]:
    """The API server (given `server`'s start_apiserver options) with its kubeconfig,
    and `processes` - 1 more serving its port and store."""
    pki = await asyncio.to_thread(
        ClusterPKI.load_or_create, tmp_path / "pki", hostnames=["localhost"], ips=["127.0.0.1"]
    )
    store = await open_store(f"sqlite://{tmp_path}/state.db?compact_interval=0")
    shared = processes > 1 and isinstance(store, SqliteStore)
    api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0,
                                shared=shared, **server)  # fmt: skip
    kubeconfig = tmp_path / "kubeconfig"
    write_admin_kubeconfig(
        kubeconfig,
        server=api.url,
        ca_pem=pki.ca_pem,
        client_cert_pem=pki.admin_cert_pem,
        client_key_pem=pki.admin_key_pem,
    )
    home = tmp_path / "home"
    home.mkdir()
    try:
        async with contextlib.AsyncExitStack() as others:
            if shared:
                assert isinstance(store, SqliteStore)
                port = int(api.url.rsplit(":", 1)[1])
                for _ in range(processes - 1):
                    follower = await others.enter_async_context(following(store))
                    other = await start_apiserver(store=follower, pki=pki, host="127.0.0.1",
                                                  port=port, shared=True, primary=False,
                                                  **server)  # fmt: skip
                    others.push_async_callback(other.stop)
            yield Cluster(api, pki, kubeconfig, home)
    finally:
        await api.stop()
        await store.close()


@pytest.fixture
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    one = request.node.get_closest_marker("one_api_process") is not None
    async with running_cluster(tmp_path, 1 if one else API_PROCESSES) as running:
        yield running
