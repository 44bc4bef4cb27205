"""The kubelet's own HTTPS API, which the API server calls for logs, exec, attach, port-forward.

As the kubelet's port 10250: `/containerLogs/{namespace}/{pod}/{container}`
with the kubelet's query options, `/exec/...` and `/attach/...` (WebSocket,
`v5.channel.k8s.io`; `command=` once per argument, `stdin`, `stdout`,
`stderr`, `tty`), `/portForward/{namespace}/{pod}` (WebSocket carrying
SPDY/3.1) — the protocols are in `streams.py` —, `/metrics/resource`
(resourcemetrics.py) and `/healthz`. Clients must present a
certificate signed by the cluster CA in the `system:masters` group (the
API server does); anything else gets 401/403. The serving certificate is
self-signed and made on first start, as a kubelet without serving-cert
bootstrap does (the API server does not verify kubelet certificates unless
told to, as in Kubernetes).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.api.resourcemetrics import CONTENT_TYPE
from kybernetes.api.times import parse_time
from kybernetes.node.kubelet import channels
from kybernetes.node.kubelet.logs import LogOptions, follow
from kybernetes.node.kubelet.portforward import (
    PORT_FORWARD_PROTOCOL,
    serve_port_forward,
    serve_port_forward_channels,
)
from kybernetes.node.kubelet.resourcemetrics import ResourceMetrics
from kybernetes.node.kubelet.streams import (
    ContainerTarget,
    PodTarget,
    attach_refusal,
    send_status,
    serve_attach,
    serve_exec,
)
from kybernetes.util.tls import server_context_verifying_clients

__all__ = ["KubeletServer", "LogSource", "StreamLocator", "serving_certificate"]

MASTERS = "system:masters"


@dataclass(frozen=True)
class LogSource:
    path: Path
    ended: Callable[[], bool]


Locator = Callable[[str, str, str, bool], LogSource | None]


@dataclass(frozen=True)
class StreamLocator:
    """What exec, attach and port-forward need to know from the kubelet."""

    pod: Callable[[str, str], PodTarget | None]  # (namespace, name)
    # (namespace, pod, container) -> the container if it is running
    container: Callable[[str, str, str], Awaitable[ContainerTarget | None]]


def serving_certificate(directory: Path, node_name: str, addresses: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for the node (made once, kept in `directory`)."""
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(node_name)]
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@kubelet")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _caller_groups(request: web.Request) -> list[str] | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _options(query: dict[str, str]) -> LogOptions:
    def number(name: str) -> int | None:
        value = query.get(name)
        return int(value) if value not in (None, "") else None

    since = parse_time(query.get("sinceTime"))
    seconds = number("sinceSeconds")
    if seconds is not None:
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    return LogOptions(tail_lines=number("tailLines"), since=since,
                      timestamps=query.get("timestamps") == "true",
                      limit_bytes=number("limitBytes"))  # fmt: skip


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("1", "true")


class KubeletServer:
    def __init__(self, *, locate: Locator, client_ca_pem: bytes, cert: Path, key: Path,
                 streams: StreamLocator | None = None,
                 metrics: ResourceMetrics | None = None) -> None:  # fmt: skip
        self._locate = locate
        self._metrics = metrics
        self._streams = streams
        self._open: set[asyncio.Task[Any]] = set()  # exec/attach/port-forward being served
        # Clients signed by the cluster's CA, not by any CA the system trusts.
        self._ssl = server_context_verifying_clients(str(cert), str(key), client_ca_pem.decode())
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics/resource", self._resource_metrics)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        for verb in ("exec", "attach"):
            for method in ("GET", "POST"):
                app.router.add_route(method, f"/{verb}/{{namespace}}/{{pod}}/{{container}}",
                                     self._exec if verb == "exec" else self._attach)  # fmt: skip
        app.router.add_route("GET", "/portForward/{namespace}/{pod}", self._port_forward)
        app.router.add_route("POST", "/portForward/{namespace}/{pod}", self._port_forward)
        return app

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._ssl)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def stop(self) -> None:
        # Open streams would hold the server's shutdown until kubectl lets go.
        for task in list(self._open):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _resource_metrics(self, request: web.Request) -> web.Response:
        self._authorize(request, "read metrics")
        if self._metrics is None:
            raise web.HTTPNotFound(text="404 page not found")
        text = await self._metrics.exposition()
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    def _authorize(self, request: web.Request, what: str) -> None:
        groups = _caller_groups(request)
        if groups is None:
            raise web.HTTPUnauthorized(text="Unauthorized")
        if MASTERS not in groups:
            raise web.HTTPForbidden(text=f"Forbidden (the caller may not {what})")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request, "read container logs")
        info = request.match_info
        previous = request.query.get("previous") == "true"
        source = self._locate(info["namespace"], info["pod"], info["container"], previous)
        if source is None:  # the kubelet's own words (validateContainerLogStatus)
            container, pod = info["container"], info["pod"]
            if previous:
                message = f'previous terminated container "{container}" in pod "{pod}" not found'
            else:
                message = (f'container "{container}" in pod "{pod}" is waiting to start: '
                           "ContainerCreating")  # fmt: skip
            raise web.HTTPBadRequest(text=message)
        try:
            options = _options(dict(request.query))
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        following = request.query.get("follow") == "true"
        ended = source.ended if following else (lambda: True)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        async for chunk in follow(source.path, options, ended=ended):
            await response.write(chunk)
        await response.write_eof()
        return response

    # -- streams ----------------------------------------------------------------------

    async def _upgrade(
        self, request: web.Request, protocols: tuple[str, ...]
    ) -> web.WebSocketResponse:
        """The WebSocket, or 400 when the client speaks none of our subprotocols."""
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if request.headers.get("Upgrade", "").lower() != "websocket" or not set(offered) & set(
                protocols):  # fmt: skip
            raise web.HTTPBadRequest(
                text=(
                    "unsupported streaming protocol: this kubelet speaks WebSocket with "
                    f"{', '.join(protocols)} (kubectl 1.30 or newer); "
                    "SPDY upgrades are not supported"
                )
            )
        ws = web.WebSocketResponse(protocols=protocols, heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._open.add(task)
            task.add_done_callback(self._open.discard)
        return ws

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request, "exec into containers")
        query = {k: v for k, v in request.query.items() if k != "command"}
        command = request.query.getall("command", [])
        target = await self._target(request)
        ws = await self._upgrade(request, channels.EXEC_PROTOCOLS)
        if isinstance(target, str):
            await send_status(ws, channels.internal_error(target))
            await ws.close()
            return ws
        if not command:
            await send_status(ws, channels.internal_error("you must specify at least 1 command"))
            await ws.close()
            return ws
        await serve_exec(ws, target, command, stdin=_flag(query, "stdin"),
                         stdout=_flag(query, "stdout"), stderr=_flag(query, "stderr"),
                         terminal=_flag(query, "tty"))  # fmt: skip
        return ws

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request, "attach to containers")
        query = dict(request.query)
        target = await self._target(request)
        ws = await self._upgrade(request, channels.EXEC_PROTOCOLS)
        refusal = target if isinstance(target, str) else attach_refusal(
            target.spec, stdin=_flag(query, "stdin"))  # fmt: skip
        if refusal is not None or isinstance(target, str):
            await send_status(ws, channels.internal_error(str(refusal)))
            await ws.close()
            return ws
        await serve_attach(ws, target, stdin=_flag(query, "stdin"))
        return ws

    async def _target(self, request: web.Request) -> ContainerTarget | str:
        """The running container asked for, or the kubelet's words for why not."""
        info = request.match_info
        if self._streams is None or self._streams.pod(info["namespace"], info["pod"]) is None:
            return "pod does not exist"  # the kubelet has not seen it (yet): said in-stream
        target = await self._streams.container(info["namespace"], info["pod"], info["container"])
        if target is None:
            return f'container not found ("{info["container"]}")'
        return target

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request, "forward ports")
        info = request.match_info
        pod = self._streams.pod(info["namespace"], info["pod"]) if self._streams else None
        if pod is None:
            raise web.HTTPNotFound(text="pod does not exist")
        ws = await self._upgrade(request, (PORT_FORWARD_PROTOCOL, *channels.PROTOCOLS))
        if ws.ws_protocol == PORT_FORWARD_PROTOCOL:
            await serve_port_forward(ws, pod)
            return ws
        try:
            ports = [int(p) for value in request.query.getall("port", [])
                     for p in value.split(",")]  # fmt: skip
        except ValueError:
            ports = []
        if not ports or not all(0 < p < 65536 for p in ports):
            await ws.close(message=b"at least one valid port must be specified")
            return ws
        await serve_port_forward_channels(ws, pod, ports)
        return ws
