"""`pods/proxy`, `services/proxy`, `nodes/proxy`: the API server relays HTTP to a
pod, or to a node's kubelet.

`kubectl get --raw /api/v1/namespaces/NS/services/web:http/proxy/healthz`,
`kubectl proxy` users opening `.../services/NAME/proxy/` in a browser, the
Python client's `connect_*_namespaced_pod_proxy_with_path`: each request is
sent, with its method, the path after `/proxy`, its query and its body, to
the address proxy_location.py picks, and the answer comes back as it is, as
kube-apiserver's upgrade-aware proxy handler does. What kube adds, we add: a
request for the bare `/proxy` with GET or HEAD is redirected (301) to
`/proxy/`; the client's credentials are not passed on; X-Forwarded-* name
the original request; a redirect's Location and the links of an HTML page
are rewritten under the proxy path (proxy_html.py). A backend that cannot be
reached is a 503 that says why. WebSocket upgrades are relayed
(proxy_websocket.py); other upgrades (SPDY) are not.
"""

from __future__ import annotations

import re
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from yarl import URL

from kybernetes.apiserver import errors
from kybernetes.apiserver.proxy_html import rewrite_html, rewrite_url
from kybernetes.apiserver.proxy_location import (
    Location,
    node_location,
    pod_location,
    service_location,
    split_name,
)
from kybernetes.apiserver.proxy_websocket import relay_websocket, wants_websocket

__all__ = ["ProxyTarget", "parse_proxy_path", "serve_proxy"]

Obj = dict[str, Any]
Getter = Callable[[str, str, str], Awaitable[Obj | None]]  # (plural, namespace, name)

_PROXY_PATH = re.compile(
    r"^/api/v1/(?:namespaces/([^/]+)/(pods|services)|(nodes))/([^/]+)/proxy(/.*)?$"
)
# Hop-by-hop headers (RFC 9110 7.6.1) and the client's credentials stay here.
_NOT_FORWARDED = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
})  # fmt: skip
_NOT_RETURNED = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
})  # fmt: skip
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30)


@dataclass(frozen=True)
class ProxyTarget:
    plural: str  # pods | services | nodes
    namespace: str  # "" for nodes
    name: str  # as in the URL: name, name:port or scheme:name:port
    path: str  # after /proxy ("" for the bare subresource)
    prefix: str  # the request path up to and including /proxy


def parse_proxy_path(raw_path: str) -> ProxyTarget | None:
    """The proxy request a raw (still percent-encoded) path names, if it names one."""
    match = _PROXY_PATH.match(raw_path)
    if match is None:
        return None
    namespace, plural, nodes, name, path = match.groups()
    prefix = raw_path[: len(raw_path) - len(path or "")]
    return ProxyTarget(plural or nodes, unquote(namespace or ""), unquote(name), path or "", prefix)


async def _location(target: ProxyTarget, get: Getter, allow_loopback: bool) -> Location:
    kind = target.plural[:-1]
    scheme, name, port = split_name(target.name, kind)
    obj = await get(target.plural, target.namespace, name)
    if obj is None:
        raise errors.not_found(target.plural, name)
    if target.plural == "pods":
        return pod_location(obj, scheme, port, allow_loopback=allow_loopback)
    if target.plural == "nodes":
        return node_location(obj, scheme, port, allow_loopback=allow_loopback)
    endpoints = await get("endpoints", target.namespace, name)
    pods: dict[str, list[str]] = {}

    async def collect() -> None:
        for subset in (endpoints or {}).get("subsets") or []:
            for address in subset.get("addresses") or []:
                ref = (address.get("targetRef") or {}).get("name")
                if ref and ref not in pods:
                    pod = await get("pods", target.namespace, ref) or {}
                    status = pod.get("status") or {}
                    ips = [p.get("ip") for p in status.get("podIPs") or []]
                    pods[ref] = [str(ip) for ip in ips or [status.get("podIP")] if ip]

    await collect()
    return service_location(obj, endpoints, scheme, port, allow_loopback=allow_loopback,
                            pod_ips=lambda pod: pods.get(pod, []))  # fmt: skip


def _forwarded_headers(request: web.BaseRequest, uri: str) -> dict[str, str]:
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in _NOT_FORWARDED and not k.lower().startswith("impersonate-")
    }
    peer = request.remote or ""
    earlier = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{earlier}, {peer}" if earlier else peer
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Uri"] = uri  # the proxy path and the backend's, as kube's transport
    return headers


def _decoded(body: bytes, encoding: str) -> bytes | None:
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "deflate"):
        try:
            return zlib.decompress(body, 47)  # 47: a gzip or a zlib header, either
        except zlib.error:
            return None
    return None  # an encoding we cannot read: the page goes back as it came


async def _relay_answer(
    request: web.BaseRequest, upstream: aiohttp.ClientResponse, target: ProxyTarget, host: str
) -> web.StreamResponse:
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_RETURNED}
    if "Location" in headers:
        headers["Location"] = rewrite_url(headers["Location"], prefix=target.prefix,
                                          backend_host=host)  # fmt: skip
    if upstream.content_type == "text/html" and request.method != "HEAD":
        page = _decoded(await upstream.read(), upstream.headers.get("Content-Encoding", ""))
        if page is not None:
            headers.pop("Content-Encoding", None)
            text = rewrite_html(page.decode(upstream.charset or "utf-8", "replace"),
                                prefix=target.prefix, backend_host=host)  # fmt: skip
            return web.Response(status=upstream.status, headers=headers,
                                body=text.encode(upstream.charset or "utf-8"))  # fmt: skip
    answer = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    if upstream.content_length is not None and request.method != "HEAD":
        answer.content_length = upstream.content_length
    await answer.prepare(request)
    async for chunk in upstream.content.iter_any():
        await answer.write(chunk)
    await answer.write_eof()
    return answer


async def serve_proxy(
    request: web.BaseRequest,
    target: ProxyTarget,
    get: Getter,
    *,
    allow_loopback: bool = False,
    kubelet_ssl: ssl.SSLContext | None = None,
) -> web.StreamResponse:
    """Relay `request` to the pod, Service or node `target` names (a node's kubelet
    over `kubelet_ssl`, which carries the API server's client certificate)."""
    if not target.path and request.method in ("GET", "HEAD"):
        query = f"?{request.rel_url.raw_query_string}" if request.rel_url.raw_query_string else ""
        raise web.HTTPMovedPermanently(location=f"{request.rel_url.raw_path}/{query}")
    location = await _location(target, get, allow_loopback)
    # The path as kube-apiserver sends it on: decoded, then escaped as Go escapes a path
    # (the Python client's *_proxy_with_path sends `a%2Fb` for `a/b`).
    path = quote(unquote(target.path) or "/", safe="/$&+,:;=@")
    url = f"{location.url}{path}"
    if request.rel_url.raw_query_string:
        url += f"?{request.rel_url.raw_query_string}"
    body = request.content if request.body_exists else None
    if location.kubelet and kubelet_ssl is None:
        raise errors.service_unavailable("this API server has no credentials for kubelets")
    insecure = ssl.create_default_context()  # kube does not verify a pod's certificate either
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    tls: ssl.SSLContext | bool = insecure if location.scheme == "https" else False
    if location.kubelet and kubelet_ssl is not None:
        tls = kubelet_ssl
    async with aiohttp.ClientSession(timeout=TIMEOUT, auto_decompress=False) as session:
        if wants_websocket(request.headers):
            headers = _forwarded_headers(request, target.prefix + path)
            return await relay_websocket(request, session, URL(url, encoded=True), headers, tls)
        try:
            upstream = await session.request(
                request.method, URL(url, encoded=True), data=body,
                headers=_forwarded_headers(request, target.prefix + path), allow_redirects=False,
                ssl=tls,
            )  # fmt: skip
        except (aiohttp.ClientError, OSError) as err:
            raise errors.service_unavailable(f"error trying to reach service: {err}") from err
        async with upstream:
            host = f"{location.host}:{location.port}" if location.port else location.host
            return await _relay_answer(request, upstream, target, host)
