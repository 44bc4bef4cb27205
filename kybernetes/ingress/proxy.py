"""The ingress data path: an HTTP and an HTTPS listener that proxy by the routing table.

Each request reads the current `Routing` once (the controller replaces it
whole), picks a backend with `routes.route`, and forwards to the backend's
ready endpoints round-robin, moving on to the next endpoint when one
refuses the connection (nothing has been sent yet, so any method may be
retried). Bodies stream both ways — the request body as it arrives, the
response in whatever pieces the backend sends (chunked stays chunked,
nothing is buffered) — and a WebSocket upgrade is relayed message by
message in both directions. The backend sees the client's Host and the
`X-Forwarded-For` (appended to), `X-Forwarded-Proto`, `X-Forwarded-Host`,
`X-Forwarded-Port` and `X-Real-IP` headers.

Answers of our own: 404 when nothing matches and there is no default
backend, 503 when the matched backend has no ready endpoints (or is not a
Service), 502 when every endpoint refused or failed.
"""

from __future__ import annotations

import itertools
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from kybernetes.ingress.certificates import sni_callback
from kybernetes.ingress.routes import Backend, RouteTable, route, tls_secret_for
from kybernetes.util.websockets import join_websockets

__all__ = ["IngressProxy", "Routing"]

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own, never forwarded.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})  # fmt: skip
WEBSOCKET_HEADERS = frozenset({
    "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
    "sec-websocket-protocol", "sec-websocket-accept",
})  # fmt: skip
# The proxy answers `Expect: 100-continue` itself once a backend connection is open.
OWN_HEADERS = frozenset({"expect"})
FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                       "x-forwarded-port", "x-real-ip"})  # fmt: skip
CONNECT_TIMEOUT = 5.0
# On stop, requests in flight get this long to finish (a stream may never end).
SHUTDOWN_TIMEOUT = 5.0


@dataclass(frozen=True)
class Routing:
    """One consistent snapshot: the table and the certificates it names."""

    table: RouteTable = field(default_factory=RouteTable)
    certificates: dict[str, ssl.SSLContext] = field(default_factory=dict)


def _forward_headers(
    request: web.BaseRequest, *, drop: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    connection_tokens = {
        t.strip().lower() for t in request.headers.get("Connection", "").split(",") if t.strip()
    }
    # X-Forwarded-* are set below from what we saw, whatever the client claimed.
    skip = HOP_BY_HOP | OWN_HEADERS | FORWARDED | connection_tokens | drop
    for name, value in request.headers.items():
        if name.lower() not in skip:
            headers.add(name, value)
    peer = request.remote or ""
    earlier = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{earlier}, {peer}" if earlier else peer
    headers["X-Real-IP"] = peer
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.headers.get("Host", "")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if sockname:
        headers["X-Forwarded-Port"] = str(sockname[1])
    return headers


def _response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    tokens = {t.strip().lower() for t in upstream.get("Connection", "").split(",") if t.strip()}
    return CIMultiDict((k, v) for k, v in upstream.items() if k.lower() not in HOP_BY_HOP | tokens)


class IngressProxy:
    def __init__(
        self,
        *,
        http: tuple[str, int] | None,
        https: tuple[str, int] | None,
        default_certificate: ssl.SSLContext | None = None,
    ) -> None:
        self.routing = Routing()
        self._http = http
        self._https = https
        self._default_cert = default_certificate
        self._turns: dict[str, itertools.count[int]] = {}
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.http_address: tuple[str, int] | None = None
        self.https_address: tuple[str, int] | None = None

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False,
                                        shutdown_timeout=SHUTDOWN_TIMEOUT)  # fmt: skip
        await self._runner.setup()
        if self._http is not None:
            site = web.TCPSite(self._runner, *self._http, reuse_address=True)
            await site.start()
            self.http_address = _bound(site)
        if self._https is not None:
            if self._default_cert is None:
                raise ValueError("HTTPS needs a default certificate")
            self._default_cert.sni_callback = sni_callback(self._certificate_for)
            site = web.TCPSite(self._runner, *self._https, ssl_context=self._default_cert,
                               reuse_address=True)  # fmt: skip
            await site.start()
            self.https_address = _bound(site)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def swap(self, routing: Routing) -> None:
        """Serve new requests by `routing`; requests in flight keep the one they began with."""
        self.routing = routing

    def _certificate_for(self, server_name: str) -> ssl.SSLContext | None:
        routing = self.routing
        key = tls_secret_for(routing.table, server_name)
        return routing.certificates.get(key) if key else None

    # -- requests --------------------------------------------------------------

    def _rotation(self, backend: Backend) -> list[tuple[str, int]]:
        """The endpoints in the order to try them: round-robin, then the rest for retries."""
        endpoints = backend.endpoints
        turn = next(self._turns.setdefault(backend.key, itertools.count()))
        start = turn % len(endpoints)
        return [*endpoints[start:], *endpoints[:start]]

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        backend = route(self.routing.table, request.headers.get("Host", ""), request.path)
        if backend is None:
            return web.Response(status=404, text="404 page not found\n")
        if not backend.endpoints:
            log.debug("%s %s: %s", request.host, request.path, backend.problem)
            return web.Response(status=503, text="503 Service Unavailable\n")
        endpoints = self._rotation(backend)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, endpoints)
        return await self._http_request(request, endpoints)

    async def _http_request(
        self, request: web.BaseRequest, endpoints: list[tuple[str, int]]
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = _forward_headers(request)
        has_body = request.body_exists
        for host, port in endpoints:
            url = f"http://{_netloc(host, port)}{request.rel_url.raw_path_qs}"

            async def body() -> AsyncIterator[bytes]:
                # Runs once the backend's connection is open: now the client may send.
                if request.headers.get("Expect", "").lower() == "100-continue":
                    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                async for chunk in request.content.iter_any():
                    yield chunk

            try:
                upstream = await self._session.request(
                    request.method, url, headers=headers, data=body() if has_body else None,
                    allow_redirects=False, skip_auto_headers=("Accept-Encoding", "User-Agent",
                                                              "Accept", "Content-Type"),
                )  # fmt: skip
            except aiohttp.ClientConnectorError as err:
                log.info("endpoint %s:%s refused (%s); trying the next", host, port, err)
                continue
            except aiohttp.ClientError as err:
                log.warning("endpoint %s:%s failed: %s", host, port, err)
                return web.Response(status=502, text="502 Bad Gateway\n")
            async with upstream:
                return await self._relay(request, upstream)
        return web.Response(status=502, text="502 Bad Gateway\n")

    async def _relay(
        self, request: web.BaseRequest, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                      headers=_response_headers(upstream.headers))  # fmt: skip
        await response.prepare(request)
        # iter_any hands over whatever has arrived: a streamed response stays streamed.
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _websocket(
        self, request: web.BaseRequest, endpoints: list[tuple[str, int]]
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = _forward_headers(request, drop=WEBSOCKET_HEADERS)
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "")
                     .split(",") if p.strip()]  # fmt: skip
        for host, port in endpoints:
            url = f"http://{_netloc(host, port)}{request.rel_url.raw_path_qs}"
            try:
                upstream = await self._session.ws_connect(
                    url, headers=headers, protocols=protocols, autoclose=False, autoping=False,
                    max_msg_size=0,
                )  # fmt: skip
            except aiohttp.ClientConnectorError as err:
                log.info("endpoint %s:%s refused (%s); trying the next", host, port, err)
                continue
            except aiohttp.WSServerHandshakeError as err:
                return web.Response(status=err.status or 502, text=f"{err.message}\n")
            except aiohttp.ClientError as err:
                log.warning("endpoint %s:%s failed: %s", host, port, err)
                return web.Response(status=502, text="502 Bad Gateway\n")
            async with upstream:
                client = web.WebSocketResponse(
                    protocols=(upstream.protocol,) if upstream.protocol else (),
                    autoclose=False, autoping=False, max_msg_size=0,
                )  # fmt: skip
                await client.prepare(request)
                await join_websockets(client, upstream, name="ingress")
                return client
        return web.Response(status=502, text="502 Bad Gateway\n")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bound(site: web.TCPSite) -> tuple[str, int]:
    # aiohttp keeps the loop's server here (asyncio's or uvloop's); port 0 needs the real one.
    sockets = getattr(site._server, "sockets", None)
    assert sockets, "the site is not serving"
    sockname = sockets[0].getsockname()
    return str(sockname[0]), int(sockname[1])
