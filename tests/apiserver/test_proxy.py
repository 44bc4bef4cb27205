"""`pods/proxy` and `services/proxy` (checklist N34-N36) with the official Python client and
the real kubectl, against backends in this process.

A backend here can only listen on loopback, an address kube-apiserver (and ours) never
proxies to; this server is started with `proxy_loopback`, the one seam. The refusal itself
is tested below, and tests/e2e_node proxies to real pods.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from kybernetes.apiserver import errors
from kybernetes.apiserver.proxy_location import check_proxyable, split_name
from kybernetes.apiserver.proxying import parse_proxy_path
from kybernetes.client.rest import ApiClient
from kybernetes.node.kubelet.server import KubeletServer, LogSource, serving_certificate
from kybernetes.node.runtime.shim import cri_line
from tests.apiserver.conftest import KUBECTL, Cluster, running_cluster
from tests.support.certs import make_pki

Obj = dict[str, Any]
PODS = "/api/v1/namespaces/default/pods"


async def echo(request: web.Request) -> web.StreamResponse:
    """What the request looked like here, as agnhost's `porter --json-response` answers."""
    if request.path == "/ws":
        return await echo_socket(request)
    if request.path == "/gone":
        raise web.HTTPNotFound()
    if request.path == "/page":
        return web.Response(text='<a href="/rewriteme">test</a>', content_type="text/html")
    if request.path == "/moved":
        raise web.HTTPFound(location="/elsewhere")
    body = {"Method": request.method, "Path": request.raw_path, "Body": await request.text(),
            "Authorization": request.headers.get("Authorization", ""),
            "XForwardedUri": request.headers.get("X-Forwarded-Uri", ""),
            "Port": request.transport.get_extra_info("sockname")[1],  # type: ignore[union-attr]
            "TLS": request.secure}  # fmt: skip
    return web.json_response(body)


async def echo_socket(request: web.Request) -> web.WebSocketResponse:
    """A WebSocket that first says how it was asked for, then echoes; "bye" closes it (4001)."""
    socket = web.WebSocketResponse(protocols=("chat",))
    await socket.prepare(request)
    await socket.send_json({"Protocols": request.headers.get("Sec-WebSocket-Protocol", ""),
                            "Authorization": request.headers.get("Authorization", ""),
                            "Path": request.raw_path})  # fmt: skip
    async for message in socket:
        if message.type == aiohttp.WSMsgType.TEXT and message.data == "bye":
            await socket.close(code=4001, message=b"asked to")
        elif message.type == aiohttp.WSMsgType.TEXT:
            await socket.send_str(message.data.upper())
        elif message.type == aiohttp.WSMsgType.BINARY:
            await socket.send_bytes(message.data[::-1])
    return socket


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[tuple[int, int, int]]:
    """Two plain HTTP ports and one TLS port on 127.0.0.1."""
    (tmp_path / "backend-pki").mkdir()
    pki = await asyncio.to_thread(make_pki, tmp_path / "backend-pki")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server_cert, pki.server_key)
    runner = web.AppRunner(_app())
    await runner.setup()
    sites = [web.TCPSite(runner, "127.0.0.1", 0), web.TCPSite(runner, "127.0.0.1", 0),
             web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)]  # fmt: skip
    for site in sites:
        await site.start()
    ports = [s._server.sockets[0].getsockname()[1] for s in sites]  # type: ignore[union-attr]
    try:
        yield ports[0], ports[1], ports[2]
    finally:
        await runner.cleanup()


def _app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, proxy_loopback=True) as running:
        yield running


async def running_pod(client: ApiClient, name: str, ports: list[Obj], ip: str) -> None:
    await client.create(PODS, {"metadata": {"name": name, "labels": {"app": "echo"}},
                               "spec": {"containers": [{"name": "c", "image": "echo",
                                                        "ports": ports}]}})  # fmt: skip
    await client.patch(f"{PODS}/{name}/status", {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})  # fmt: skip


async def echo_service(client: ApiClient, http: int, other: int, tls: int) -> None:
    """`echo`: ports named and unnamed on the backends, Endpoints as the controller writes them."""
    await running_pod(client, "echo", [{"containerPort": http}, {"containerPort": other,
                                                                  "name": "other"}],
                      "127.0.0.1")  # fmt: skip
    await client.create("/api/v1/namespaces/default/services", {
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [
            {"name": "http", "port": 80, "targetPort": http},
            {"name": "other", "port": 81, "targetPort": "other"},
            {"name": "tls", "port": 443, "targetPort": tls}]}})  # fmt: skip
    ref = {"kind": "Pod", "namespace": "default", "name": "echo"}
    await client.create("/api/v1/namespaces/default/endpoints", {
        "metadata": {"name": "echo"},
        "subsets": [{"addresses": [{"ip": "127.0.0.1", "targetRef": ref}],
                     "ports": [{"name": "http", "port": http}, {"name": "other", "port": other},
                               {"name": "tls", "port": tls}]}]})  # fmt: skip


def admin_ssl(cluster: Cluster, scratch: Path) -> ssl.SSLContext:
    (scratch / "admin.crt").write_bytes(cluster.pki.admin_cert_pem)
    (scratch / "admin.key").write_bytes(cluster.pki.admin_key_pem)
    context = ssl.create_default_context(cadata=cluster.pki.ca_pem.decode())
    context.load_cert_chain(scratch / "admin.crt", scratch / "admin.key")
    return context


async def raw(
    cluster: Cluster, tmp_path: Path, method: str, tail: str, **extra: Any
) -> tuple[int, bytes, dict[str, str]]:
    """One request as any HTTP client sends it, redirects not followed."""
    url = f"{cluster.api.url}/api/v1/namespaces/default/{tail}"
    context = admin_ssl(cluster, tmp_path)
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, URL(url, encoded=True), ssl=context, allow_redirects=False, **extra
        ) as resp,
    ):
        return resp.status, await resp.read(), dict(resp.headers)


async def test_every_method_and_path_reaches_the_pod_and_the_service(
    cluster: Cluster, backends: tuple[int, int, int], tmp_path: Path
) -> None:
    http, other, tls = backends
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await echo_service(client, http, other, tls)

    def scenario() -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        # N35: ProxyWithPath, every method, through the pod and through the service.
        for verb in ("delete", "get", "head", "options", "patch", "post", "put"):
            for kind, name in (("pod", "echo"), ("service", "echo:http")):
                call = getattr(core, f"connect_{verb}_namespaced_{kind}_proxy_with_path")
                response = call(name, "default", f"some/path/with/{verb.upper()}",
                                _preload_content=False)  # fmt: skip
                assert response.status == 200, (verb, kind)
                if verb == "head":
                    continue
                answer = json.loads(response.data)
                assert answer["Method"] == verb.upper() and answer["Port"] == http
                assert answer["Path"] == f"/some/path/with/{verb.upper()}"
                assert answer["Authorization"] == ""  # the client's credentials stay here
                assert answer["XForwardedUri"].endswith(f"/proxy/some/path/with/{verb.upper()}")

    await asyncio.to_thread(scenario)
    # N34: the bare subresource; GET and HEAD are sent on to `proxy/`, the others go through.
    for method in ("DELETE", "OPTIONS", "PATCH", "POST", "PUT"):
        for kind in ("pods/echo", "services/echo:http"):
            status, body, _ = await raw(cluster, tmp_path, method, f"{kind}/proxy?method={method}")
            assert status == 200, (method, kind, body)
            answer = json.loads(body)
            assert (answer["Method"], answer["Path"]) == (method, f"/?method={method}")
    for method in ("GET", "HEAD"):
        for kind in ("pods/echo", "services/echo:http"):
            status, _, headers = await raw(cluster, tmp_path, method, f"{kind}/proxy?method=x")
            assert status == 301
            assert headers["Location"] == f"/api/v1/namespaces/default/{kind}/proxy/?method=x"
    status, body, _ = await raw(cluster, tmp_path, "POST", "pods/echo/proxy/p%20q?a=b%2Fc",
                                data=b"payload")  # fmt: skip
    answer = json.loads(body)
    assert (answer["Path"], answer["Body"]) == ("/p%20q?a=b%2Fc", "payload")


async def test_the_url_forms_of_services_and_pods(
    cluster: Cluster, backends: tuple[int, int, int]
) -> None:
    """N36: a Service port by name or number, with or without a scheme; a pod's port."""
    http, other, tls = backends
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await echo_service(client, http, other, tls)

    async def port_of(tail: str) -> tuple[int, bool]:
        out = await cluster.kubectl("get", "--raw", f"/api/v1/namespaces/default/{tail}")
        answer = json.loads(out)
        return answer["Port"], answer["TLS"]

    for name in ("echo:http", "http:echo:http", "echo:80", "http:echo:80"):
        assert await port_of(f"services/{name}/proxy/") == (http, False), name
    for name in ("echo:other", "echo:81"):
        assert await port_of(f"services/{name}/proxy/x") == (other, False), name
    for name in ("https:echo:tls", "https:echo:443"):
        assert await port_of(f"services/{name}/proxy/") == (tls, True), name
    assert await port_of("pods/echo/proxy/") == (http, False)  # its first container port
    assert await port_of(f"pods/echo:{other}/proxy/") == (other, False)
    assert await port_of(f"pods/http:echo:{other}/proxy/") == (other, False)
    assert await port_of(f"pods/https:echo:{tls}/proxy/") == (tls, True)
    # HTML links and redirects are rewritten under the proxy path.
    prefix = f"/api/v1/namespaces/default/pods/echo:{http}/proxy"
    out = await cluster.kubectl("get", "--raw", f"{prefix}/page")
    assert out == f'<a href="{prefix}/rewriteme">test</a>'


async def test_what_cannot_be_proxied(cluster: Cluster, backends: tuple[int, int, int]) -> None:
    http, other, tls = backends
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await echo_service(client, http, other, tls)
        await client.create("/api/v1/namespaces/default/services", {
            "metadata": {"name": "empty"}, "spec": {"ports": [{"port": 80}]}})  # fmt: skip
        await client.create(PODS, {"metadata": {"name": "pending"}, "spec": {
            "containers": [{"name": "c", "image": "x"}]}})  # fmt: skip
        # An Endpoints naming an address no pod has: never dialled.
        await client.create("/api/v1/namespaces/default/services", {
            "metadata": {"name": "stray"}, "spec": {"ports": [{"port": 80}]}})  # fmt: skip
        await client.create(
            "/api/v1/namespaces/default/endpoints",
            {
                "metadata": {"name": "stray"},
                "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": http}]}],
            },
        )
        # A backend that is gone.
        await running_pod(client, "gone", [{"containerPort": 1}], "127.0.0.1")

    async def error(tail: str) -> str:
        return await cluster.kubectl("get", "--raw", f"/api/v1/namespaces/default/{tail}",
                                     check=False)  # fmt: skip

    assert 'no endpoints available for service "empty"' in await error("services/empty/proxy/")
    assert 'no endpoints available for service "stray"' in await error("services/stray/proxy/")
    assert 'no service port 99 found for service "echo"' in await error("services/echo:99/proxy/")
    assert 'no endpoints available for service "echo:nope"' in await error(
        "services/echo:nope/proxy/")  # fmt: skip
    assert "(ServiceUnavailable)" in await error("services/echo:nope/proxy/")
    assert 'services "nothere" not found' in await error("services/nothere/proxy/")
    assert 'pods "nothere" not found' in await error("pods/nothere/proxy/")
    assert "address not allowed" in await error("pods/pending/proxy/")
    assert 'invalid pod request "a:b:c:d"' in await error("pods/a:b:c:d/proxy/")
    assert 'invalid service request "ftp:echo:80"' in await error("services/ftp:echo:80/proxy/")
    out = await error("pods/gone/proxy/")
    assert "error trying to reach service" in out and "(ServiceUnavailable)" in out
    discovery = await cluster.kubectl("get", "--raw", "/api/v1")
    names = {r["name"]: r for r in json.loads(discovery)["resources"]}
    assert names["pods/proxy"]["kind"] == "PodProxyOptions"
    assert names["services/proxy"]["kind"] == "ServiceProxyOptions"
    assert sorted(names["services/proxy"]["verbs"]) == ["create", "delete", "get", "patch",
                                                        "update"]  # fmt: skip


def test_addresses_and_names() -> None:
    for ip in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", ""):
        with pytest.raises(errors.ApiError, match="address not allowed"):
            check_proxyable(ip)
    check_proxyable("10.244.0.5")
    check_proxyable("127.0.0.1", allow_loopback=True)
    assert split_name("web", "pod") == ("http", "web", "")
    assert split_name("web:8080", "pod") == ("http", "web", "8080")
    assert split_name("https:web:443", "service") == ("https", "web", "443")
    target = parse_proxy_path("/api/v1/namespaces/ns/services/https:web:443/proxy/a/b/")
    assert target is not None and (target.path, target.prefix) == (
        "/a/b/", "/api/v1/namespaces/ns/services/https:web:443/proxy")  # fmt: skip
    assert parse_proxy_path("/api/v1/namespaces/ns/services/web/proxyx") is None
    assert parse_proxy_path("/api/v1/namespaces/ns/configmaps/web/proxy") is None


async def test_nodes_proxy_reaches_the_kubelet_with_the_api_servers_certificate(
    cluster: Cluster, backends: tuple[int, int, int], tmp_path: Path
) -> None:
    """`kubectl get --raw /api/v1/nodes/N/proxy/...`: the kubelet's port over HTTPS with
    the API server's client certificate (the kubelet refuses anyone else its logs);
    another port asked for is dialled as asked."""
    log = tmp_path / "c.log"
    now = datetime.datetime.now(datetime.UTC)
    log.write_bytes(cri_line("stdout", b"hello from the node\n", partial=False, now=now))

    def locate(namespace: str, pod: str, container: str, previous: bool) -> LogSource | None:
        return LogSource(log, lambda: True) if (pod, container) == ("p", "c") else None

    cert, key = serving_certificate(tmp_path / "kubelet-pki", "n1", ["127.0.0.1"])
    kubelet = KubeletServer(locate=locate, client_ca_pem=cluster.pki.ca_pem, cert=cert, key=key)
    port = await kubelet.start("127.0.0.1", 0)
    try:
        async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
            node = await client.create("/api/v1/nodes", {"metadata": {"name": "n1"}})
            node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                              "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}  # fmt: skip
            await client.update("/api/v1/nodes/n1/status", node)
        assert await cluster.kubectl("get", "--raw", "/api/v1/nodes/n1/proxy/healthz") == "ok"
        logs_path = "/api/v1/nodes/n1/proxy/containerLogs/default/p/c"
        assert await cluster.kubectl("get", "--raw", logs_path) == "hello from the node\n"
        by_port = f"/api/v1/nodes/n1:{port}/proxy/healthz"
        assert await cluster.kubectl("get", "--raw", by_port) == "ok"
        http, _, _ = backends
        other = f"/api/v1/nodes/n1:{http}/proxy/x?y=1"
        echoed = json.loads(await cluster.kubectl("get", "--raw", other))
        assert (echoed["Path"], echoed["Port"], echoed["TLS"]) == ("/x?y=1", http, False)
        missing = await cluster.kubectl("get", "--raw", "/api/v1/nodes/n2/proxy/", check=False)
        assert 'nodes "n2" not found' in missing
        resources = json.loads(await cluster.kubectl("get", "--raw", "/api/v1"))["resources"]
        (proxy,) = [r for r in resources if r["name"] == "nodes/proxy"]
        assert proxy["kind"] == "NodeProxyOptions"
    finally:
        await kubelet.stop()


async def test_a_websocket_goes_through_to_the_pod_and_the_service(
    cluster: Cluster, backends: tuple[int, int, int], tmp_path: Path
) -> None:
    """An upgrade is relayed (kube's upgrade-aware proxy): the subprotocol the backend
    chose, messages both ways, the backend's close code; the client's token stays here."""
    http, other, tls = backends
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await echo_service(client, http, other, tls)
    context = admin_ssl(cluster, tmp_path)
    token = "base64url.bearer.authorization.k8s.io.c2VjcmV0"
    async with aiohttp.ClientSession() as session:
        for kind in ("pods/echo", "services/echo:http", "services/https:echo:tls"):
            url = f"{cluster.api.url}/api/v1/namespaces/default/{kind}/proxy/ws?x=1"
            async with session.ws_connect(url, ssl=context, protocols=("chat", token)) as ws:
                assert ws.protocol == "chat"
                said = await ws.receive_json()
                assert said == {"Protocols": "chat", "Authorization": "", "Path": "/ws?x=1"}
                await ws.send_str("hello")
                assert (await ws.receive()).data == "HELLO"
                await ws.send_bytes(b"\x00\x01\x02")
                assert (await ws.receive()).data == b"\x02\x01\x00"
                await ws.send_str("bye")
                assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
                assert ws.close_code == 4001, kind
        # A backend that does not upgrade answers with its own status.
        url = f"{cluster.api.url}/api/v1/namespaces/default/pods/echo/proxy/gone"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, ssl=context)
        assert refused.value.status == 404


async def test_a_websocket_goes_through_kubectl_proxy(
    cluster: Cluster, backends: tuple[int, int, int]
) -> None:
    """The way a browser reaches a pod's WebSocket: kubectl proxy, then the API server."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    http, other, tls = backends
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await echo_service(client, http, other, tls)
    proxy = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "proxy", "--port=0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)  # fmt: skip
    try:
        assert proxy.stdout is not None
        line = (await asyncio.wait_for(proxy.stdout.readline(), 30)).decode()
        address = line.strip().rsplit(" ", 1)[-1]  # "Starting to serve on 127.0.0.1:PORT"
        url = f"http://{address}/api/v1/namespaces/default/services/echo:http/proxy/ws"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            assert (await ws.receive_json())["Path"] == "/ws"
            await ws.send_str("through")
            assert (await ws.receive()).data == "THROUGH"
    finally:
        proxy.terminate()
        await proxy.wait()
