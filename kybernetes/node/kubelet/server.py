"""The kubelet's own HTTPS API, which the API server calls for `kubectl logs`.

As the kubelet's port 10250: `/containerLogs/{namespace}/{pod}/{container}`
with the kubelet's query options, and `/healthz`. Clients must present a
certificate signed by the cluster CA in the `system:masters` group (the
API server does); anything else gets 401/403. The serving certificate is
self-signed and made on first start, as a kubelet without serving-cert
bootstrap does (the API server does not verify kubelet certificates unless
told to, as in Kubernetes).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.api.times import parse_time
from kybernetes.node.kubelet.logs import LogOptions, follow

__all__ = ["KubeletServer", "LogSource", "serving_certificate"]

MASTERS = "system:masters"


@dataclass(frozen=True)
class LogSource:
    path: Path
    ended: Callable[[], bool]


Locator = Callable[[str, str, str, bool], LogSource | None]


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


class KubeletServer:
    def __init__(self, *, locate: Locator, client_ca_pem: bytes, cert: Path, key: Path) -> None:
        self._locate = locate
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(cert, key)
        self._ssl.verify_mode = ssl.CERT_REQUIRED
        self._ssl.load_verify_locations(cadata=client_ca_pem.decode())
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
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
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        groups = _caller_groups(request)
        if groups is None:
            raise web.HTTPUnauthorized(text="Unauthorized")
        if MASTERS not in groups:
            raise web.HTTPForbidden(text="Forbidden (the caller may not read container logs)")
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
