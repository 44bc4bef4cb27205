"""The ingress controller end to end: real API server, real kubectl, real HTTP on 127.0.0.0/8.

The "pods" are aiohttp servers on 127.0.0.x addresses (tests/ingress/backends.py);
each test writes the Service and the EndpointSlices pointing at them itself,
so no pod network and no controllers are needed.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.ingress.certificates import DEFAULT_CERT_NAME
from kybernetes.ingress.controller import run_ingress
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.ingress.backends import Backend, CertAuthority, refused_port

SERVICES = resource_path("", "v1", "services", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")
CLASSES = resource_path("networking.k8s.io", "v1", "ingressclasses")
ADDRESS = "127.0.0.1"


@dataclass
class Ingress:
    http: int
    https: int
    task: asyncio.Task[None]


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s


@pytest.fixture
async def ingress(client: ApiClient) -> AsyncIterator[Ingress]:
    http, https = refused_port(ADDRESS), refused_port(ADDRESS)
    task = asyncio.create_task(
        run_ingress(client, http=(ADDRESS, http), https=(ADDRESS, https), address=ADDRESS)
    )
    running = Ingress(http, https, task)

    async def up() -> bool:
        if task.done():
            task.result()  # raises what stopped it
        try:
            await client.get(f"{CLASSES}/kybernetes")
            _, writer = await asyncio.open_connection(ADDRESS, https)
        except (ApiStatusError, OSError):
            return False
        writer.close()
        return True

    await until(up)
    try:
        yield running
    finally:
        await cancel_and_wait(task)


@pytest.fixture
async def backends() -> AsyncIterator[Callable[[str, str], Awaitable[Backend]]]:
    started: list[Backend] = []

    async def start(name: str, host: str) -> Backend:
        backend = await Backend(name, host).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.release.set()
        await backend.stop()


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def expose(
    client: ApiClient, name: str, *endpoints: tuple[str, int], ready: bool = True
) -> None:
    """A Service `name` (port 80 "http", no selector) and one EndpointSlice per endpoint."""
    await client.create(SERVICES, {"metadata": {"name": name},
                                   "spec": {"ports": [{"name": "http", "port": 80,
                                                       "targetPort": 8080}]}})  # fmt: skip
    for i, (host, port) in enumerate(endpoints):
        await client.create(SLICES, {
            "metadata": {"name": f"{name}-{i}", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [host], "conditions": {"ready": ready}}],
        })  # fmt: skip


async def fetch(
    session: aiohttp.ClientSession, port: int, host: str, path: str = "/", **kwargs: Any
) -> tuple[int, str]:
    scheme = "https" if "ssl" in kwargs else "http"
    async with session.get(f"{scheme}://{ADDRESS}:{port}{path}", headers={"Host": host},
                           **kwargs) as resp:  # fmt: skip
        return resp.status, await resp.text()


def backend_of(text: str) -> str:
    return str(json.loads(text)["backend"])


async def test_kubectl_ingress_routes_by_host_and_path(
    cluster: Cluster, client: ApiClient, ingress: Ingress, session: aiohttp.ClientSession,
    backends: Callable[[str, str], Awaitable[Backend]],
) -> None:  # fmt: skip
    web = await backends("web", "127.0.0.2")
    api = await backends("api", "127.0.0.3")
    await expose(client, "web", (web.host, web.port))
    await expose(client, "api", (api.host, api.port))
    await expose(client, "empty", ("127.0.0.4", 8080), ready=False)
    rules = ["--rule=foo.example/*=web:80", "--rule=bar.example/api=api:80",
             "--rule=bar.example/down/*=empty:80"]  # fmt: skip
    await cluster.kubectl("create", "ingress", "web", *rules)

    async def routed() -> bool:
        return (await fetch(session, ingress.http, "foo.example"))[0] == 200

    await until(routed)
    status, text = await fetch(session, ingress.http, "foo.example", "/any/path?q=1")
    assert (status, backend_of(text)) == (200, "web")
    assert json.loads(text)["path"] == "/any/path?q=1"
    status, text = await fetch(session, ingress.http, "bar.example:80", "/api")
    assert (status, backend_of(text)) == (200, "api")
    # `bar.example/api` is an Exact path: nothing below it, and no other host.
    assert (await fetch(session, ingress.http, "bar.example", "/api/v1"))[0] == 404
    assert (await fetch(session, ingress.http, "other.example", "/"))[0] == 404
    # An Ingress of another class is not ours: no route, no status.
    await cluster.kubectl("create", "ingress", "theirs", "--class=nginx",
                          "--rule=other.example/*=web:80")  # fmt: skip
    # A matched Service without ready endpoints: 503.
    assert (await fetch(session, ingress.http, "bar.example", "/down/x"))[0] == 503

    # The backend sees who asked, and how.
    status, text = await fetch(session, ingress.http, "foo.example", "/h")
    headers = json.loads(text)["headers"]
    assert headers["Host"] == "foo.example"
    assert headers["X-Forwarded-For"] == ADDRESS
    assert headers["X-Real-IP"] == ADDRESS
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "foo.example"
    assert headers["X-Forwarded-Port"] == str(ingress.http)
    async with session.post(f"http://{ADDRESS}:{ingress.http}/up", data=b"payload",
                            headers={"Host": "foo.example",
                                     "X-Forwarded-For": "192.0.2.1"}) as resp:  # fmt: skip
        echoed = await resp.json()
    assert echoed["body"] == "payload" and echoed["method"] == "POST"
    assert echoed["headers"]["X-Forwarded-For"] == f"192.0.2.1, {ADDRESS}"
    async with session.put(f"http://{ADDRESS}:{ingress.http}/up", data=b"x" * 100_000,
                           expect100=True, headers={"Host": "foo.example"}) as resp:  # fmt: skip
        echoed = await resp.json()
    assert len(echoed["body"]) == 100_000 and "Expect" not in echoed["headers"]

    # DefaultIngressClass admission gave the Ingress our class; the status names the node.
    assert await cluster.kubectl("get", "ing", "web", "-o",
                                 "jsonpath={.spec.ingressClassName}") == "kybernetes"  # fmt: skip

    async def shows_address() -> bool:
        table = await cluster.kubectl("get", "ing", "web")
        return ADDRESS in table.splitlines()[1].split()

    await until(shows_address)
    assert (await fetch(session, ingress.http, "other.example", "/"))[0] == 404
    theirs = await cluster.kubectl("get", "ing", "theirs", "-o", "jsonpath={.status}")
    assert ADDRESS not in theirs
    print(await cluster.kubectl("get", "ing", "web"))
    described = await cluster.kubectl("describe", "ingress", "web")
    assert "foo.example" in described and "kybernetes" in described
    classes = await cluster.kubectl("get", "ingressclass", "kybernetes")
    assert "kybernetes.io/ingress" in classes


async def test_round_robin_failover_and_endpoint_changes(
    client: ApiClient, ingress: Ingress, session: aiohttp.ClientSession,
    backends: Callable[[str, str], Awaitable[Backend]],
) -> None:  # fmt: skip
    one = await backends("one", "127.0.0.2")
    two = await backends("two", "127.0.0.3")
    dead = ("127.0.0.4", refused_port("127.0.0.4"))
    await expose(client, "web", (one.host, one.port), (two.host, two.port), dead)
    await client.create(resource_path("networking.k8s.io", "v1", "ingresses", "default"), {
        "metadata": {"name": "web"},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}},
    })  # fmt: skip

    async def routed() -> bool:
        return (await fetch(session, ingress.http, "any.example"))[0] == 200

    await until(routed)
    seen: list[str] = []
    for _ in range(9):
        status, text = await fetch(session, ingress.http, "any.example")
        assert status == 200  # the refusing endpoint is skipped, never surfaced
        seen.append(backend_of(text))
    assert seen.count("one") >= 3 and seen.count("two") >= 3

    # The live endpoints go not-ready: only the refusing one is left (502), then none (503).
    async def readiness(slice_name: str, host: str, ready: bool) -> None:
        await client.patch(f"{SLICES}/{slice_name}", {
            "endpoints": [{"addresses": [host], "conditions": {"ready": ready}}],
        })  # fmt: skip

    async def answers(status: int) -> bool:
        return (await fetch(session, ingress.http, "any.example"))[0] == status

    await readiness("web-0", one.host, False)
    await readiness("web-1", two.host, False)
    await until(lambda: answers(502))
    await readiness("web-2", dead[0], False)
    await until(lambda: answers(503))
    await readiness("web-1", two.host, True)

    async def only_two() -> bool:
        status, text = await fetch(session, ingress.http, "any.example")
        return status == 200 and backend_of(text) == "two"

    await until(only_two)


async def test_tls_with_sni_from_a_kubectl_secret(
    cluster: Cluster, client: ApiClient, ingress: Ingress, session: aiohttp.ClientSession,
    backends: Callable[[str, str], Awaitable[Backend]], tmp_path: Path,
) -> None:  # fmt: skip
    web = await backends("web", "127.0.0.2")
    await expose(client, "web", (web.host, web.port))
    ca = CertAuthority.create()
    for name, host in (("foo", "foo.example"), ("bar", "bar.example")):
        cert, key = ca.issue(host)
        (tmp_path / f"{name}.crt").write_bytes(cert)
        (tmp_path / f"{name}.key").write_bytes(key)
        await cluster.kubectl("create", "secret", "tls", f"{name}-tls",
                              f"--cert={tmp_path / f'{name}.crt'}",
                              f"--key={tmp_path / f'{name}.key'}")  # fmt: skip
    await cluster.kubectl("create", "ingress", "secure",
                          "--rule=foo.example/*=web:80,tls=foo-tls",
                          "--rule=bar.example/*=web:80,tls=bar-tls")  # fmt: skip
    trusting = ssl.create_default_context(cadata=ca.cert_pem.decode())

    async def served(host: str) -> bool:
        try:
            status, _ = await fetch(session, ingress.https, host, ssl=trusting,
                                    server_hostname=host)  # fmt: skip
        except aiohttp.ClientConnectorCertificateError:
            return False  # not yet: the default certificate
        return status == 200

    # Each name gets its own certificate, verified against the CA, chosen by SNI.
    await until(lambda: served("foo.example"))
    await until(lambda: served("bar.example"))
    _, text = await fetch(session, ingress.https, "foo.example", "/h", ssl=trusting,
                               server_hostname="foo.example")  # fmt: skip
    headers = json.loads(text)["headers"]
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-Port"] == str(ingress.https)

    # A name no Ingress claims gets the default self-signed certificate.
    blind = ssl.create_default_context()
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(ADDRESS, ingress.https, ssl=blind,
                                              server_hostname="nobody.example")  # fmt: skip
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    assert subject == f"CN={DEFAULT_CERT_NAME}"


async def test_websocket_and_streaming_pass_through(
    cluster: Cluster, client: ApiClient, ingress: Ingress, session: aiohttp.ClientSession,
    backends: Callable[[str, str], Awaitable[Backend]],
) -> None:  # fmt: skip
    web = await backends("web", "127.0.0.2")
    await expose(client, "web", (web.host, web.port))
    await cluster.kubectl("create", "ingress", "web", "--rule=foo.example/*=web:80")

    async def routed() -> bool:
        return (await fetch(session, ingress.http, "foo.example"))[0] == 200

    await until(routed)
    async with session.ws_connect(f"http://{ADDRESS}:{ingress.http}/ws",
                                  headers={"Host": "foo.example"},
                                  protocols=("echo",)) as ws:  # fmt: skip
        assert ws.protocol == "echo"
        await ws.send_str("hello")
        assert await ws.receive_str(timeout=10) == "web: hello"
        await ws.send_bytes(b"abc")
        assert await ws.receive_bytes(timeout=10) == b"cba"

    # The first chunk arrives while the backend is still waiting to send the second.
    async with session.get(f"http://{ADDRESS}:{ingress.http}/stream",
                           headers={"Host": "foo.example"}) as resp:  # fmt: skip
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        first = await asyncio.wait_for(resp.content.readline(), 10)
        assert first == b"first\n" and not web.release.is_set()
        web.release.set()
        assert await resp.content.read() == b"second\n"


async def test_an_update_takes_effect_while_a_request_is_in_flight(
    cluster: Cluster, client: ApiClient, ingress: Ingress, session: aiohttp.ClientSession,
    backends: Callable[[str, str], Awaitable[Backend]],
) -> None:  # fmt: skip
    old = await backends("old", "127.0.0.2")
    new = await backends("new", "127.0.0.3")
    await expose(client, "old", (old.host, old.port))
    await expose(client, "new", (new.host, new.port))
    await cluster.kubectl("create", "ingress", "web", "--rule=foo.example/*=old:80")

    async def routed_to(name: str) -> bool:
        status, text = await fetch(session, ingress.http, "foo.example")
        return status == 200 and backend_of(text) == name

    await until(lambda: routed_to("old"))
    slow = asyncio.create_task(fetch(session, ingress.http, "foo.example", "/slow"))
    await cluster.kubectl("patch", "ingress", "web", "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/rules/0/http/paths/0/backend/service/name",
         "value": "new"}]))  # fmt: skip
    await until(lambda: routed_to("new"))
    assert not slow.done()
    old.release.set()
    assert await asyncio.wait_for(slow, 10) == (200, "slow from old")
