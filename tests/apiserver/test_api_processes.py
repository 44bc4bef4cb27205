"""`kyb server --api-processes 2`: two processes serve one port and one store.

Each request here goes on a connection of its own (the kernel picks the
process per connection), so a client's write and its next read land on
either process: nothing may tell that there are two. The server runs as it
runs for users, in its own process; only loopback is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.apiserver.test_crash import client_context, start_server, wait_ready
from tests.support.etcd import EtcdServer, free_port, running_etcd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with running_etcd() as server:
        yield server


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    context: ssl.SSLContext
    session: aiohttp.ClientSession  # a new connection for every request

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body,
                                        ssl=self.context) as resp:  # fmt: skip
            text = await resp.text()
            is_json = resp.content_type == "application/json"
            return resp.status, json.loads(text) if is_json else text


def api_process_pids(server_pid: int) -> list[int]:
    """The server's API processes (children running kybernetes.cli.apiprocess)."""
    found = []
    for task in os.listdir(f"/proc/{server_pid}/task"):
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{server_pid}/task/{task}/children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"kybernetes.cli.apiprocess" in cmdline:
                    found.append(int(child))
    return found


def _listeners(port: int) -> set[str]:
    """The inodes of the sockets listening on 127.0.0.1:`port` (state 0A)."""
    wanted = f"0100007F:{port:04X}"
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return {row[9] for row in rows if row[1] == wanted and row[3] == "0A"}


def listening_sockets(port: int) -> int:
    return len(_listeners(port))


def _holders(port: int) -> list[str]:
    """Which processes hold the port's listening sockets (for a failure's message)."""
    inodes = {f"socket:[{inode}]" for inode in _listeners(port)}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        found.append(Path(f"/proc/{pid}/cmdline").read_bytes()
                                     .replace(b"\0", b" ").decode()[:160])  # fmt: skip
    return found


@contextlib.contextmanager
def running(
    tmp_path: Path, flags: tuple[str, ...]
) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    data_dir = tmp_path / "cluster"
    port = free_port()
    process = start_server(data_dir, port, api_processes=2, flags=flags)
    try:
        yield process, data_dir, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    flags: tuple[str, ...] = ()
    if request.param == "etcd":
        etcd: EtcdServer = request.getfixturevalue("etcd_server")
        endpoint = f"etcd://127.0.0.1:{etcd.client_port}/{tmp_path.name}"
        flags = ("--datastore-endpoint", endpoint)
    with running(tmp_path, flags) as (process, data_dir, port):
        deadline = time.monotonic() + 30
        while not (data_dir / "pki" / "admin.crt").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        context = await asyncio.to_thread(client_context, data_dir)
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"https://127.0.0.1:{port}"
            await wait_ready(session, url, context)
            yield Server(process, url, port, context, session)


async def test_both_processes_listen_and_the_server_is_ready_only_with_both(
    server: Server,
) -> None:
    assert len(api_process_pids(server.process.pid)) == 1
    assert listening_sockets(server.port) == 2
    status, _ = await server.call("GET", "/readyz/api-processes")
    assert status == 200


async def test_a_write_is_read_back_at_once_whichever_process_answers(server: Server) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    for i in range(60):
        status, created = await server.call("POST", path, {"metadata": {"name": f"c{i}"}})
        assert status == 201, created
        status, read = await server.call("GET", f"{path}/c{i}")
        assert status == 200, f"c{i} written, then not found: {read}"
        assert read["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    status, listed = await server.call("GET", path)
    assert {f"c{i}" for i in range(60)} <= {item["metadata"]["name"] for item in listed["items"]}
    # Optimistic concurrency holds across processes: a stale update is refused.
    stale = {**created, "data": {"k": "v"}}
    status, _ = await server.call("PUT", f"{path}/c59", stale)
    assert status == 200
    status, refused = await server.call("PUT", f"{path}/c59", stale)
    assert (status, refused["reason"]) == (409, "Conflict")


async def test_a_watch_on_one_process_sees_the_writes_made_through_the_other(
    server: Server,
) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    _, listed = await server.call("GET", path)
    since = listed["metadata"]["resourceVersion"]
    names = [f"w{i}" for i in range(20)]
    seen: list[str] = []
    async with server.session.get(f"{server.url}{path}?watch=1&resourceVersion={since}",
                                  ssl=server.context) as stream:  # fmt: skip
        for name in names:
            status, _ = await server.call("POST", path, {"metadata": {"name": name}})
            assert status == 201
        async with asyncio.timeout(10):
            async for line in stream.content:
                seen.append(json.loads(line)["object"]["metadata"]["name"])
                if len(seen) == len(names):
                    break
    assert seen == names


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "scope": "Namespaced",
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
    },
}  # fmt: skip


async def test_a_crd_created_through_one_process_is_served_by_both_at_once(
    server: Server,
) -> None:
    for n in range(6):
        group = f"g{n}.example.com"
        crd = {**CRD, "metadata": {"name": f"widgets.{group}"},
               "spec": {**CRD["spec"], "group": group,
                        "names": {"plural": "widgets", "kind": "Widget"}}}  # fmt: skip
        status, body = await server.call("POST", "/apis/apiextensions.k8s.io/v1/"
                                         "customresourcedefinitions", crd)  # fmt: skip
        assert status == 201, body
        # Discovery, then the custom resource, each on a fresh connection.
        status, resources = await server.call("GET", f"/apis/{group}/v1")
        assert status == 200, resources
        assert [r["name"] for r in resources["resources"]] == ["widgets"]
        widget = {"apiVersion": f"{group}/v1", "kind": "Widget",
                  "metadata": {"name": "w"}, "spec": {"size": n}}  # fmt: skip
        path = f"/apis/{group}/v1/namespaces/default/widgets"
        status, body = await server.call("POST", path, widget)
        assert status == 201, body
        status, body = await server.call("GET", f"{path}/w")
        assert (status, body["spec"]) == (200, {"size": n})
        status, _ = await server.call("DELETE", "/apis/apiextensions.k8s.io/v1/"
                                      f"customresourcedefinitions/widgets.{group}")  # fmt: skip
        assert status == 200
        status, _ = await server.call("GET", f"{path}/w")
        assert status == 404


async def test_a_second_process_that_dies_is_started_again(server: Server) -> None:
    [first] = api_process_pids(server.process.pid)
    os.kill(first, signal.SIGKILL)
    async with asyncio.timeout(30):
        while True:
            await asyncio.sleep(0.1)
            pids = api_process_pids(server.process.pid)
            if not pids or pids == [first] or listening_sockets(server.port) != 2:
                continue
            status, why = await server.call("GET", "/readyz?verbose")
            if status == 200:
                break
            assert "api-processes failed" in why
    status, _ = await server.call("POST", "/api/v1/namespaces/default/configmaps",
                                  {"metadata": {"name": "after"}})  # fmt: skip
    assert status == 201


async def test_the_second_process_ends_with_a_killed_server(server: Server) -> None:
    [second] = api_process_pids(server.process.pid)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    async with asyncio.timeout(10):
        while os.path.exists(f"/proc/{second}") and b"Z" not in _state(second):
            await asyncio.sleep(0.05)
    assert not _holders(server.port)
    # The kernel may list a closed listener for a moment after its process is gone.
    async with asyncio.timeout(5):
        while listening_sockets(server.port):
            await asyncio.sleep(0.05)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"


async def test_a_stopping_server_stops_the_second_process_without_starting_it_again(
    server: Server, tmp_path: Path
) -> None:
    [second] = api_process_pids(server.process.pid)
    server.process.terminate()
    await asyncio.to_thread(server.process.wait, 30)
    assert server.process.returncode == 0
    assert not os.path.exists(f"/proc/{second}") or _state(second) == b"Z"
    log = (tmp_path / "server.log").read_text()
    assert "API process 2 exited" not in log
    assert log.count("API process 2 serving") == 1
