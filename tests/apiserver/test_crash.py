"""SIGKILL the API server during a burst of creates: every acknowledged object survives.

The server runs as its own process (`kyb server`) on a SQLite store; 20
clients create ConfigMaps as fast as they can while the test kills the
server at a random moment, restarts it on the same data dir and port, and
then reads back every object whose create was answered 201.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from kybernetes.apiserver.pki import ClusterPKI
from tests.support.etcd import free_port

CLIENTS = 20


def start_server(
    data_dir: Path, port: int, api_processes: int = 1, flags: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    log = open(data_dir.parent / "server.log", "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "server", "--disable", "kubelet",
         "--data-dir", str(data_dir), "--api-processes", str(api_processes),
         "--port", str(port), "--bind-address", "127.0.0.1", *flags],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def wait_ready(session: aiohttp.ClientSession, url: str, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(url + "/readyz", ssl=context) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the API server did not become ready")


def client_context(data_dir: Path) -> ssl.SSLContext:
    pki = ClusterPKI.load_or_create(data_dir / "pki", hostnames=[], ips=[])
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    cert, key = data_dir / "admin.crt", data_dir / "admin.key"
    cert.write_bytes(pki.admin_cert_pem)
    key.write_bytes(pki.admin_key_pem)
    context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "api_processes"), [(1, 1), (2, 1), (3, 2)])
async def test_acknowledged_creates_survive_sigkill(
    tmp_path: Path, seed: int, api_processes: int
) -> None:
    """With two API processes, creates are acknowledged by both, and the
    second dies with the first."""
    rng = random.Random(seed)
    data_dir = tmp_path / "cluster"
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = start_server(data_dir, port, api_processes)
    acknowledged: list[str] = []
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        while not (data_dir / "pki" / "admin.crt").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        context = await asyncio.to_thread(client_context, data_dir)
        await wait_ready(session, url, context)
        stop = asyncio.Event()

        async def creator(client: int) -> None:
            n = 0
            while not stop.is_set():
                name = f"c{client}-{n}"
                n += 1
                body = {"metadata": {"name": name}, "data": {"n": str(n)}}
                try:
                    async with session.post(
                        f"{url}/api/v1/namespaces/default/configmaps", json=body, ssl=context
                    ) as resp:
                        if resp.status == 201:
                            acknowledged.append(name)
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(0.01)  # the server is down: its outcome is unknown

        tasks = [asyncio.create_task(creator(i)) for i in range(CLIENTS)]
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.to_thread(server.wait)
        killed_with = len(acknowledged)
        stop.set()
        await asyncio.gather(*tasks)

        server = start_server(data_dir, port, api_processes)
        try:
            await wait_ready(session, url, context)
            async with session.get(
                f"{url}/api/v1/namespaces/default/configmaps", ssl=context
            ) as resp:
                stored = {item["metadata"]["name"] for item in (await resp.json())["items"]}
        finally:
            server.terminate()
            await asyncio.to_thread(server.wait)
    assert killed_with > 50, f"only {killed_with} creates before the kill; the test proved nothing"
    lost = [name for name in acknowledged if name not in stored]
    assert not lost, f"{len(lost)} acknowledged creates lost: {lost[:10]}"
    print(f"seed {seed}: {len(acknowledged)} acknowledged, {len(stored)} stored after restart")
