"""The HTTP face of the API: routing, content negotiation, bodies, watches.

aiohttp's low-level server calls one handler (`make_handler`): the router
(routing.py) gives discovery, health and version their own handlers and
every other path to `parse_resource_request` (so custom resources route as
soon as they are registered). Every failure leaves as a `Status` object,
never as an aiohttp error page or a traceback: `_middleware` turns
aiohttp's own HTTP errors into the Status kube-apiserver sends for that
code, and anything unexpected into a logged 500. Requests
other than watches have a deadline (kube-apiserver's 60 s), and bodies
are read whole, at most 3 MiB, and decoded off the event loop when big.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError

from kybernetes import __version__
from kybernetes.apiserver import discovery, errors, health, openapi
from kybernetes.apiserver import managedfields as mf
from kybernetes.apiserver.auth import (
    AUTHENTICATED,
    Authenticator,
    Authorizer,
    UserInfo,
    bearer_token,
)
from kybernetes.apiserver.binding import create_binding
from kybernetes.apiserver.bodies import (
    APPLY_PATCH_TYPE,
    BODY_TYPES,
    JSON_TYPE,
    PATCH_TYPES,
    check_delete_options,
    check_object_types,
    checked_patch,
    decode_body,
    media_type,
)
from kybernetes.apiserver.componentstatus import DEPRECATION, component_statuses
from kybernetes.apiserver.crdsync import CrdSync
from kybernetes.apiserver.csr_strategy import stamp_requester
from kybernetes.apiserver.deadlines import Deadlines
from kybernetes.apiserver.eviction import evict
from kybernetes.apiserver.metrics import CONTENT_TYPE as METRICS_TYPE
from kybernetes.apiserver.metrics import ApiMetrics, reported_verb, scope_of
from kybernetes.apiserver.metricsapi import metrics_for_nodes, metrics_for_pods, metrics_table
from kybernetes.apiserver.metricsstore import MetricsStore
from kybernetes.apiserver.objects import Obj, now_rfc3339
from kybernetes.apiserver.openapi_source import builtin_schemas
from kybernetes.apiserver.openapi_v2 import PROTOBUF_TYPE as OPENAPI_V2_PROTOBUF
from kybernetes.apiserver.openapi_v2 import document as openapi_v2_document
from kybernetes.apiserver.openapi_validation import (
    WARNINGS,
    add_warnings,
    check_apply_duplicates,
    check_fields,
    field_checked_patch,
    keep_raw_json,
)
from kybernetes.apiserver.patching import patcher
from kybernetes.apiserver.podlogs import KubeletConnector, choose_container
from kybernetes.apiserver.podstreams import STREAM_SUBRESOURCES, serve_pod_stream
from kybernetes.apiserver.proxying import parse_proxy_path, serve_proxy
from kybernetes.apiserver.request import (
    ResourceRequest,
    dry_run,
    format_duration,
    int_param,
    list_options,
    parse_resource_request,
    query_flag,
    request_timeout,
    resource_version_param,
)
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.rest import DeleteOptions, ListOptions, Rest, object_filter
from kybernetes.apiserver.reviews import (
    self_subject_access_review,
    self_subject_review,
    self_subject_rules_review,
)
from kybernetes.apiserver.routing import READS, Handler, Router, route_params
from kybernetes.apiserver.scale import apply_scale, to_scale
from kybernetes.apiserver.storage import (
    ListPage,
    decode,
    gc_paused,
    object_json,
    parse_resource_version,
)
from kybernetes.apiserver.streamsink import open_sink
from kybernetes.apiserver.table_rows import RowCache
from kybernetes.apiserver.tables import (
    INCLUDE_OBJECT,
    columns_for,
    render_row,
    row_parts,
    table,
    table_json,
)
from kybernetes.apiserver.tokenrequest import ServiceAccountTokens
from kybernetes.apiserver.watch import WatchEvent, watch_events
from kybernetes.store.types import KeyValue
from kybernetes.util.memo import VersionMemo

__all__ = ["KUBERNETES_VERSION", "ApiContext", "end_watches", "make_handler", "request_factory"]

log = logging.getLogger(__name__)

# The Kubernetes API version we serve. kubectl's dispatcher picks its own
# binary from `minor`, so this is also which kubectl answers users.
KUBERNETES_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4"}
# kube-apiserver's MaxRequestBodyBytes: about twice etcd's 1.5 MiB value limit.
MAX_BODY_BYTES = 3 * 1024 * 1024
# kube-apiserver's --request-timeout: the most any request but a watch may take.
REQUEST_TIMEOUT = 60.0
# kube-apiserver's long-running requests besides watches: they stream, so the
# request deadline does not apply to them.
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "log", "portforward", "proxy"})
# Where a server-side apply may go: the object and the subresources that write part of it.
APPLIED_SUBRESOURCES = ("", "status", "scale", "ephemeralcontainers")
# Bodies bigger than this are decoded in a worker thread: 3 MiB of YAML takes
# PyYAML seconds, and the event loop must go on answering everyone else.
INLINE_DECODE_BYTES = 64 * 1024
USER = web.RequestKey("user", UserInfo)
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
# What kube-apiserver names in a 406 (the media types any resource answers in).
ANSWER_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
HEALTH_CHECK_PATHS = ("/healthz/", "/livez/", "/readyz/")  # one check: /readyz/ping
HEALTH_ENDPOINTS = ("healthz", "livez", "readyz")
# What `GET /` lists besides discovery's paths, each health check and what is optional.
ROOT_PATHS = ("/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3", "/version")


@dataclass
class ApiContext:
    registry: ResourceRegistry
    rest: Rest
    authenticator: Authenticator
    authorizer: Authorizer
    server_address: str
    ready: Callable[[], bool]
    request_timeout: float = REQUEST_TIMEOUT
    kubelets: KubeletConnector | None = None  # for pods/log (and later exec)
    metrics: ApiMetrics | None = None  # /metrics; None in tests that build a context by hand
    tokens: ServiceAccountTokens | None = None  # ServiceAccount tokens: issue, review, accept
    # metrics.k8s.io's figures (metricsscraper.py); None: no scraper runs, no metrics.
    resource_metrics: MetricsStore | None = None
    # Open watch streams (and exec/attach/port-forward relays), ended at shutdown
    # so it does not wait on them.
    watches: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False
    # pods/proxy and services/proxy refuse loopback addresses as kube does; in-process
    # tests, whose backends can only listen on loopback, allow them.
    proxy_loopback: bool = False
    # With other API processes beside this one: the CRDs they change (crdsync.py).
    crd_sync: CrdSync | None = None
    # More of /readyz's checks (name, why not ready or None), as the server adds them.
    checks: list[tuple[str, Callable[[], str | None]]] = field(default_factory=list)

    async def current_registry(self) -> None:
        """Serve every CRD another API process of this server stored already."""
        if self.crd_sync is not None:
            await self.crd_sync.sync()


def _json(body: Any, status: int = 200, content_type: str = JSON_TYPE) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=content_type)


def _json_list(rt: ResourceType, list_meta: Obj, items: list[bytes]) -> bytes:
    """A list whose items are JSON already: joined as they are, never parsed."""
    head = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta}
    return b"".join((orjson.dumps(head)[:-1], b',"items":[', b",".join(items), b"]}"))


# A big body is written out in pieces, never kept on the response: aiohttp keeps
# a keep-alive connection's last response until its next request (50 idle
# connections that last read a 29 MB LIST held 1.4 GB), and a TLS connection's
# OpenSSL buffer grows to the biggest write it was given and stays that size.
WRITE_PIECE = 256 * 1024


async def _send_json(request: web.BaseRequest, body: bytes) -> web.StreamResponse:
    if len(body) <= WRITE_PIECE:
        return web.Response(body=body, content_type=JSON_TYPE)
    response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
    response.content_length = len(body)
    add_warnings(request, response)
    await response.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), WRITE_PIECE):
        await response.write(view[start : start + WRITE_PIECE])
    await response.write_eof()
    return response


def _status_response(err: errors.ApiError) -> web.Response:
    response = _json(err.status(), err.code)
    if err.retry_after:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _wants_table(request: web.BaseRequest) -> bool:
    accept = request.headers.get("Accept", "").replace(" ", "")
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _include_object(request: web.BaseRequest) -> str:
    """A Table row's object as the `includeObject` parameter asks (Metadata by default)."""
    include = request.query.get("includeObject") or "Metadata"
    if include not in INCLUDE_OBJECT:
        supported = ", ".join(f'"{value}"' for value in INCLUDE_OBJECT)
        raise errors.bad_request(
            f'includeObject: Unsupported value: "{include}": supported values: {supported}'
        )
    return include


def _only_table(request: web.BaseRequest) -> bool:
    """Every media type the request accepts is a Table (no fallback given)."""
    clauses = request.headers.get("Accept", "").replace(" ", "").split(",")
    return all("as=Table" in clause for clause in clauses)


def _wants_yaml(request: web.BaseRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return accept.startswith("application/yaml")


def _body_too_large() -> errors.ApiError:
    return errors.too_large(f"limit is {MAX_BODY_BYTES}")


async def _read_raw(request: web.BaseRequest) -> bytes:
    """The whole body (aiohttp's `read` stops at client_max_size, 3 MiB)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise _body_too_large()  # refused before reading; aiohttp drains the rest
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _body_too_large() from None
    except (web.RequestPayloadError, HttpProcessingError) as err:
        # e.g. a Content-Encoding that does not decode, or a broken chunked encoding
        why = " ".join(str(err).split())
        raise errors.bad_request(f"the request body could not be read: {why}") from None


def _content_type(request: web.BaseRequest) -> str:
    # No Content-Type at all (the Python client's DELETE) means JSON, as in
    # kube-apiserver; aiohttp reports that case as application/octet-stream.
    header = request.headers.get("Content-Type")
    if header is None:
        return JSON_TYPE
    return media_type(header) or request.content_type


async def _read_body(
    request: web.BaseRequest, accepted: tuple[str, ...] = BODY_TYPES, *, optional: bool = False
) -> Any:
    """The decoded body; 415 for a media type not in `accepted`, checked first
    (as kube-apiserver does) unless the body is `optional` and empty."""
    content_type = _content_type(request)
    if not optional and content_type not in accepted:
        raise errors.unsupported_media_type(content_type, accepted)
    raw = await _read_raw(request)
    if optional and not raw.strip():
        return None
    if content_type not in accepted:
        raise errors.unsupported_media_type(content_type, accepted)
    if len(raw) <= INLINE_DECODE_BYTES:
        body = decode_body(raw, content_type)
    else:
        body = await asyncio.to_thread(decode_body, raw, content_type)
    keep_raw_json(request, content_type, raw)
    return body


def _check_object(body: Any, kind: str, version: str) -> Any:
    check_object_types(body, kind=kind, version=version)
    return body


# kube-apiserver's limit on a fieldManager's length.
MAX_MANAGER_LENGTH = 128


def _field_manager(request: web.BaseRequest, subresource: str) -> mf.Manager:
    """Who this write is for: `fieldManager`, else the User-Agent's product
    (what comes before its first "/"), as kube-apiserver defaults it."""
    name = request.query.get("fieldManager", "")
    if len(name) > MAX_MANAGER_LENGTH:
        raise errors.bad_request(
            f"fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes"
        )
    if not name:
        name = mf.default_manager(request.headers.get("User-Agent", ""))
    return mf.Manager(name, "Update", subresource)


def _list_body(req: ResourceRequest, items: list[Obj], rv: int, token: str | None) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
    return {"kind": req.resource.list_kind, "apiVersion": req.resource.api_version,
            "metadata": meta, "items": items}  # fmt: skip


PARSED_MEMO = 4096  # request paths kept parsed (then all dropped at once)


class ResourceHandler:
    """Every verb on every resource path."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.rows = RowCache()
        self.deadlines = Deadlines()
        self._parsed: VersionMemo[tuple[str, str, bool], ResourceRequest] = VersionMemo(PARSED_MEMO)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        proxied = parse_proxy_path(request.rel_url.raw_path)
        if proxied is not None:  # any method, any path below /proxy: proxying.py
            kubelet_ssl = self.ctx.kubelets.ssl_context if self.ctx.kubelets else None
            return await serve_proxy(request, proxied, self._get_or_none,
                                     allow_loopback=self.ctx.proxy_loopback,
                                     kubelet_ssl=kubelet_ssl)  # fmt: skip
        try:
            req = self._parse(request)
        except errors.ApiError as err:
            if err.code != 404 or self.ctx.crd_sync is None:
                raise
            await self.ctx.current_registry()  # a CRD another process just created?
            req = self._parse(request)
        if req is None:
            raise errors.from_http_status(404)
        if not req.resource.tables and _wants_table(request) and _only_table(request):
            # kube-apiserver negotiates the answer's media type before reading the body.
            raise errors.not_acceptable(f"only the following media types are accepted: "
                                        f"{', '.join(ANSWER_TYPES)}")  # fmt: skip
        metrics = self.ctx.metrics
        if metrics is None:
            return await self._dispatch(request, req)
        verb = reported_verb(req.verb, req.subresource,
                             apply=_content_type(request) == APPLY_PATCH_TYPE)  # fmt: skip
        rt = req.resource
        labels = (verb, "All" if request.query.get("dryRun") == "All" else "", rt.group,
                  rt.version, rt.plural, req.subresource, scope_of(rt, req.namespace, req.name),
                  "apiserver")  # fmt: skip
        start = time.perf_counter()
        code = 500
        metrics.started(labels)
        try:
            response = await self._dispatch(request, req)
            code = response.status
            return response
        except errors.ApiError as err:
            code = err.code
            raise
        finally:
            metrics.finished(labels, code, time.perf_counter() - start)

    def _parse(self, request: web.BaseRequest) -> ResourceRequest | None:
        """`parse_resource_request`, remembered per path while the registry stays
        the same (clients ask for the same few paths again and again)."""
        registry = self.ctx.registry
        memo_key = (request.method, request.path, query_flag(request.query, "watch"))
        req = self._parsed.get(memo_key, registry.generation)
        if req is None:
            req = parse_resource_request(*memo_key[:2], registry, watch=memo_key[2])
            if req is not None:
                self._parsed.put(memo_key, registry.generation, req)
        return req

    async def _dispatch(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        if req.verb == "get":
            answered = self._get_now(request, req)
            if answered is not None:
                return answered  # from memory, with nothing to wait for: no deadline
        handler: Callable[[web.BaseRequest, ResourceRequest], Awaitable[web.StreamResponse]]
        handler = getattr(self, f"_{req.verb}")
        if req.verb == "watch" or req.subresource in LONG_RUNNING_SUBRESOURCES:
            return await handler(request, req)  # long-running: no request deadline
        seconds = request_timeout(request.query, self.ctx.request_timeout)
        try:
            return await self.deadlines.run(seconds, handler(request, req))
        except TimeoutError:
            # As kube-apiserver's timeout filter: the write may still complete.
            raise errors.timeout(
                f"request did not complete within {format_duration(seconds)}"
            ) from None

    async def _get_or_none(self, plural: str, namespace: str, name: str) -> Obj | None:
        rt = self.ctx.registry.lookup("", "v1", plural)
        assert rt is not None
        return await errors.or_none_if_missing(self.ctx.rest.get(rt, namespace, name, ""))

    def _respond(
        self,
        request: web.BaseRequest,
        req: ResourceRequest,
        obj: Obj,
        status: int = 200,
        *,
        encoded: bytes | None = None,
    ) -> web.Response:
        """`obj` as the request asks for it; `encoded` is its JSON, when known."""
        if _wants_table(request) and req.verb == "get":
            return _json(table(req.resource.group, req.resource.kind, [obj],
                               version=req.resource.version,
                               include_object=_include_object(request)), status)  # fmt: skip
        if _wants_yaml(request):
            return web.Response(
                text=yaml.safe_dump(obj), status=status, content_type="application/yaml"
            )
        if encoded is not None:
            return web.Response(body=encoded, status=status, content_type=JSON_TYPE)
        return _json(obj, status)

    def _get_now(self, request: web.BaseRequest, req: ResourceRequest) -> web.Response | None:
        """The most common request, `GET` of one object as JSON with no options,
        answered from the watch cache when it is caught up; None: `_get`."""
        if request.query_string or not _plain(request, req):
            return None
        body = self.ctx.rest.storage.get_encoded_now(req.resource, req.namespace, req.name)
        return None if body is None else web.Response(body=body, content_type=JSON_TYPE)

    async def _get(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        if req.subresource == "log" and req.resource.kind == "Pod" and not req.resource.group:
            return await self._pod_log(request, req)
        if req.subresource in STREAM_SUBRESOURCES and req.resource.kind == "Pod":
            return await self._pod_stream(request, req)
        if _computed(req.resource):
            return await self._component_statuses(request, req, list_options(request.query))
        if req.resource.computed:
            return await self._resource_metrics(request, req, list_options(request.query))
        rv = resource_version_param(request.query)
        if _plain(request, req):
            body = await self.ctx.rest.get_encoded(req.resource, req.namespace, req.name, rv)
            return web.Response(body=body, content_type=JSON_TYPE)
        obj = await self.ctx.rest.get(req.resource, req.namespace, req.name, rv)
        if req.subresource == "scale":
            return _json(to_scale(obj))
        return self._respond(request, req, obj)

    async def _pod_log(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        pod = await self.ctx.rest.get(req.resource, req.namespace, req.name, "")
        container = choose_container(pod, request.query.get("container", ""))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or self.ctx.kubelets is None:
            sink = await open_sink(request)  # no node yet: no logs
            await sink.finish()
            return sink.response
        nodes = self.ctx.registry.lookup("", "v1", "nodes")
        assert nodes is not None
        node = await self.ctx.rest.get(nodes, "", str(node_name), "")
        return await self.ctx.kubelets.stream_logs(
            request, node=node, namespace=req.namespace, pod=req.name, container=container,
            query=request.query,
        )  # fmt: skip

    async def _pod_stream(
        self, request: web.BaseRequest, req: ResourceRequest
    ) -> web.StreamResponse:
        """exec, attach, port-forward (GET or POST): relayed to the kubelet (podstreams.py)."""
        pod = await self.ctx.rest.get(req.resource, req.namespace, req.name, "")
        nodes = self.ctx.registry.lookup("", "v1", "nodes")
        assert nodes is not None

        async def node(name: str) -> Obj:
            return await self.ctx.rest.get(nodes, "", name, "")

        return await serve_pod_stream(request, subresource=req.subresource, pod=pod, node=node,
                                      kubelets=self.ctx.kubelets, open_streams=self.ctx.watches,
                                      stopping=lambda: self.ctx.stopping)  # fmt: skip

    async def _write_scale(
        self, request: web.BaseRequest, req: ResourceRequest, to_new_scale: Callable[[Obj], Obj]
    ) -> web.Response:
        """PUT or PATCH of `scale`: the new Scale's replicas land on the workload."""

        def change(obj: Obj) -> Obj:
            return apply_scale(obj, to_new_scale(to_scale(obj)))

        obj = await self.ctx.rest.patch(
            req.resource, req.namespace, req.name, change, subresource="",
            dry_run=dry_run(request.query), manager=_field_manager(request, "scale"),
        )  # fmt: skip
        return _json(to_scale(obj))

    async def _read_list(
        self, req: ResourceRequest, options: ListOptions, *, encoded: bool,
        encode: Callable[[KeyValue], bytes] = object_json,
    ) -> ListPage:  # fmt: skip
        try:
            return await self.ctx.rest.list(
                req.resource, req.namespace, options, encoded=encoded, encode=encode
            )
        except errors.ApiError as err:
            if err.reason == "Expired" and options.continue_token:
                raise errors.continue_expired() from err  # tell the client to list again
            raise

    async def _list(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        options = list_options(request.query)
        rt = req.resource
        if _computed(rt):
            return await self._component_statuses(request, req, options)
        if rt.computed:
            return await self._resource_metrics(request, req, options)
        # The decoded items live only until they are encoded: with the collector
        # paused until they are gone, no collection ever walks them (gc_paused).
        as_table = _wants_table(request)
        include = _include_object(request) if as_table else "Metadata"
        with gc_paused():
            page = await self._read_list(
                req, options, encoded=not _wants_yaml(request),
                encode=self._table_row(rt, include) if as_table else object_json,
            )  # fmt: skip
            list_meta: Obj = {"resourceVersion": str(page.resource_version)}
            if page.continue_token:
                list_meta["continue"] = page.continue_token
            if as_table and page.encoded is not None:
                body = table_json(rt.group, rt.kind, page.encoded, list_meta=list_meta,
                                  version=rt.version)  # fmt: skip
            elif as_table:  # selected: the objects were decoded to be matched
                body = orjson.dumps(table(rt.group, rt.kind, page.items, list_meta=list_meta,
                                          version=rt.version, include_object=include))  # fmt: skip
            else:
                if (
                    page.continue_token
                    and page.remaining
                    and not (options.label_selector or options.field_selector)
                ):
                    list_meta["remainingItemCount"] = page.remaining
                if page.encoded is not None:
                    body = _json_list(rt, list_meta, page.encoded)
                else:
                    return self._respond(request, req, {
                        "kind": rt.list_kind, "apiVersion": rt.api_version,
                        "metadata": list_meta, "items": page.items})  # fmt: skip
            del page  # before the collector is back on
        return await _send_json(request, body)

    async def _component_statuses(
        self, request: web.BaseRequest, req: ResourceRequest, options: ListOptions
    ) -> web.Response:
        """GET or LIST of ComponentStatuses, made from what they report (componentstatus.py)."""
        request.setdefault(WARNINGS, []).append(DEPRECATION)
        rt = req.resource
        storage = self.ctx.rest.storage
        leases = self.ctx.registry.lookup("coordination.k8s.io", "v1", "leases")
        assert leases is not None

        async def lease(namespace: str, name: str) -> Obj | None:
            return await errors.or_none_if_missing(storage.cached_get(leases, namespace, name))

        now = datetime.datetime.now(datetime.UTC)
        items = await component_statuses(lease, storage.store.current_revision, now)
        if req.name:
            found = [o for o in items if o["metadata"]["name"] == req.name]
            if not found:
                raise errors.not_found(rt.plural, req.name)
            return self._respond(request, req, found[0])
        accept = object_filter(rt, options)
        items = [o for o in items if accept(o)]
        if _wants_table(request):
            return _json(table(rt.group, rt.kind, items, list_meta={}, version=rt.version,
                               include_object=_include_object(request)))  # fmt: skip
        listed = {"kind": rt.list_kind, "apiVersion": "v1", "metadata": {}, "items": items}
        return self._respond(request, req, listed)

    async def _resource_metrics(
        self, request: web.BaseRequest, req: ResourceRequest, options: ListOptions
    ) -> web.Response:
        """GET or LIST of NodeMetrics and PodMetrics: the nodes or pods that match,
        with the scraper's figures (metricsapi.py)."""
        rt = req.resource
        source = self.ctx.registry.lookup("", "v1", rt.plural)
        assert source is not None
        storage = self.ctx.rest.storage
        now = datetime.datetime.now(datetime.UTC)
        store = self.ctx.resource_metrics or MetricsStore(0)
        made = metrics_for_nodes if rt.kind == "NodeMetrics" else metrics_for_pods
        if req.name:
            source_obj = await storage.cached_get(source, req.namespace, req.name)
            found = made([source_obj], store, now)
            if not found:
                name = f"{req.namespace}/{req.name}" if rt.namespaced else req.name
                raise errors.not_found(rt.kind.lower(), name, rt.group)
            return self._respond(request, req, found[0])
        accept = object_filter(source, options)
        objects = [o for o in await storage.cached_list(source, req.namespace) if accept(o)]
        items = made(objects, store, now)
        if _wants_table(request):
            return _json(metrics_table(items, include_object=_include_object(request)))
        listed = {"kind": rt.list_kind, "apiVersion": rt.api_version,
                  "metadata": {}, "items": items}  # fmt: skip
        return self._respond(request, req, listed)

    def _table_row(self, rt: ResourceType, include: str) -> Callable[[KeyValue], bytes]:
        """A stored object's Table row, kept between LISTs (table_rows.py) when it
        carries the object's metadata, as kubectl asks but for --sort-by."""
        now = datetime.datetime.now(datetime.UTC)
        key, columns = (rt.group, rt.kind), columns_for(rt.group, rt.kind, rt.version)
        if include == "Metadata":
            return lambda kv: render_row(self.rows.row(kv, key=key, columns=columns), now)
        return lambda kv: render_row(
            row_parts(decode(kv), key=key, columns=columns, include=include), now
        )

    async def _create(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        if req.subresource == "binding" and req.resource.kind == "Pod":
            body = _check_object(await _read_body(request), "Binding", "v1")
            status = await create_binding(
                self.ctx.rest.storage, req.resource, namespace=req.namespace, name=req.name,
                body=body, now=now_rfc3339(),
            )  # fmt: skip
            return _json(status, 201)
        if req.subresource == "eviction" and req.resource.kind == "Pod":  # eviction.py: PDBs
            body = _check_object(await _read_body(request), "Eviction", "v1")
            evicted = await evict(self.ctx.rest, req.resource, namespace=req.namespace,
                                  name=req.name, body=body)  # fmt: skip
            return _json(evicted, 201)
        if req.subresource in STREAM_SUBRESOURCES and req.resource.kind == "Pod":
            return await self._pod_stream(request, req)
        if req.subresource == "token" and req.resource.kind == "ServiceAccount" and self.ctx.tokens:
            body = _check_object(await _read_body(request), "TokenRequest", "v1")
            answer = await self.ctx.tokens.request(req.namespace, req.name, body)
            return _json(answer, 201)
        if req.subresource:
            raise errors.method_not_allowed(
                f"{req.resource.plural}/{req.subresource}: not supported yet"
            )
        rt = req.resource
        body = _check_object(await _read_body(request), rt.kind, rt.version)
        await check_fields(request, rt.group, rt.version, rt.kind, body)
        if rt.kind == "SelfSubjectAccessReview":
            review = self_subject_access_review(body, request[USER], self.ctx.authorizer)
            return _json(review, 201)
        if rt.kind == "SelfSubjectRulesReview":
            review = self_subject_rules_review(body, request[USER], self.ctx.authorizer)
            return _json(review, 201)
        if rt.kind == "SelfSubjectReview":
            return _json(self_subject_review(body, request[USER], now_rfc3339()), 201)
        if rt.kind == "CertificateSigningRequest":
            stamp_requester(body, request[USER])
        if rt.kind == "TokenReview" and self.ctx.tokens:
            return _json(await self.ctx.tokens.review(body), 201)
        created = await self.ctx.rest.create(
            rt, req.namespace, body, dry_run=dry_run(request.query),
            manager=_field_manager(request, ""), owned=True,
        )  # fmt: skip
        return self._respond(request, req, created.obj, 201, encoded=created.json)

    async def _update(self, request: web.BaseRequest, req: ResourceRequest) -> web.Response:
        body = await _read_body(request)
        if req.subresource == "scale":
            body = _check_object(body, "Scale", "v1")
            return await self._write_scale(request, req, lambda _: body)
        body = _check_object(body, req.resource.kind, req.resource.version)
        rt = req.resource
        await check_fields(request, rt.group, rt.version, rt.kind, body)
        obj = await self.ctx.rest.update(
            req.resource, req.namespace, req.name, body,
            subresource=req.subresource, dry_run=dry_run(request.query),
            manager=_field_manager(request, req.subresource), owned=True,
        )  # fmt: skip
        return self._respond(request, req, obj)

    async def _patch(self, request: web.BaseRequest, req: ResourceRequest) -> web.Response:
        content_type = _content_type(request)
        patch = await _read_body(request, PATCH_TYPES)
        rt = req.resource
        if content_type == APPLY_PATCH_TYPE and req.subresource in APPLIED_SUBRESOURCES:
            return await self._apply(request, req, patch)
        if req.subresource == "scale":
            apply = patcher(content_type, patch, "autoscaling", "v1", "Scale")
            return await self._write_scale(request, req, apply)
        apply = checked_patch(
            patcher(content_type, patch, rt.group, rt.version, rt.kind),
            kind=rt.kind, version=rt.version, name=req.name, group=rt.group,
        )  # fmt: skip
        apply = await field_checked_patch(request, rt, apply, patch, content_type)
        obj = await self.ctx.rest.patch(
            rt, req.namespace, req.name, apply, subresource=req.subresource,
            dry_run=dry_run(request.query), manager=_field_manager(request, req.subresource),
        )  # fmt: skip
        return self._respond(request, req, obj)

    async def _apply(
        self, request: web.BaseRequest, req: ResourceRequest, config: Any
    ) -> web.Response:
        """Server-side apply: 201 when the config created the object, else 200."""
        manager = request.query.get("fieldManager", "")
        if not manager:
            # Unlike other writes, an apply's manager is never guessed: it is
            # what later applies by the same client are matched against.
            raise errors.bad_request("PATCH: fieldManager is required for apply requests")
        rt = req.resource
        scale = req.subresource == "scale"
        kind, version = ("Scale", "v1") if scale else (rt.kind, rt.version)
        config = _check_object(config, kind, version)
        if not isinstance(config, dict):
            raise errors.bad_request(f"the body must be a {kind} object")
        if not scale:  # (a Scale has no schema of its own here, as for its PUT)
            await check_fields(request, rt.group, rt.version, rt.kind, config)
        await check_apply_duplicates(request)
        meta = config.get("metadata") or {}
        if meta.get("name") and meta["name"] != req.name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({req.name})")  # fmt: skip
        config = {**config, "metadata": {**meta, "name": req.name}}
        manager = _field_manager(request, "").name
        force, dry = query_flag(request.query, "force"), dry_run(request.query)
        if scale:
            scaled = await self.ctx.rest.apply_scale(
                rt, req.namespace, req.name, config, manager=manager, force=force, dry_run=dry
            )
            return _json(to_scale(scaled))
        obj, created = await self.ctx.rest.apply(
            rt, req.namespace, req.name, config, manager=manager, force=force, dry_run=dry,
            subresource=req.subresource,
        )  # fmt: skip
        return self._respond(request, req, obj, 201 if created else 200)

    async def _delete_options(self, request: web.BaseRequest) -> DeleteOptions:
        body = await _read_body(request, optional=True) or {}
        if not isinstance(body, dict):
            raise errors.bad_request("the body of a delete must be DeleteOptions")
        check_delete_options(body)
        grace = int_param(request.query, "gracePeriodSeconds")
        if grace is None and body.get("gracePeriodSeconds") is not None:
            grace = body["gracePeriodSeconds"]
        preconditions = body.get("preconditions") or {}
        orphan = body.get("orphanDependents")
        if "orphanDependents" in request.query:
            orphan = query_flag(request.query, "orphanDependents")
        return DeleteOptions(
            grace_period_seconds=grace,
            propagation_policy=request.query.get("propagationPolicy")
            or body.get("propagationPolicy")
            or "",
            precondition_uid=preconditions.get("uid") or "",
            precondition_resource_version=preconditions.get("resourceVersion") or "",
            dry_run=dry_run(request.query) or body.get("dryRun") == ["All"],
            orphan_dependents=orphan,
        )

    async def _delete(self, request: web.BaseRequest, req: ResourceRequest) -> web.Response:
        options = await self._delete_options(request)
        obj, gone = await self.ctx.rest.delete(req.resource, req.namespace, req.name, options)
        # As kube-apiserver: 202 only for a cascading delete asked with the
        # deprecated orphanDependents=false that did not finish at once.
        accepted = not gone and options.orphan_dependents is False
        return self._respond(request, req, obj, 202 if accepted else 200)

    async def _deletecollection(
        self, request: web.BaseRequest, req: ResourceRequest
    ) -> web.Response:
        options = await self._delete_options(request)
        deleted = await self.ctx.rest.delete_collection(
            req.resource, req.namespace, list_options(request.query), options
        )
        revision = await self.ctx.rest.storage.store.current_revision()
        return _json(_list_body(req, deleted, revision, None))

    async def _watch(self, request: web.BaseRequest, req: ResourceRequest) -> web.StreamResponse:
        options = list_options(request.query)
        if req.name:
            selector = f"metadata.name={req.name}"
            field = f"{options.field_selector},{selector}" if options.field_selector else selector
            options = ListOptions(**{**options.__dict__, "field_selector": field})
        timeout = int_param(request.query, "timeoutSeconds")
        as_table = _wants_table(request)
        include = _include_object(request) if as_table else "Metadata"
        # What can fail before the first event fails as an HTTP status, as in
        # kube-apiserver; once the stream is open only an ERROR event can.
        object_filter(req.resource, options)  # bad selectors: 400
        await self.ctx.rest.storage.wait_for_revision(
            parse_resource_version(options.resource_version)
        )  # a revision far ahead: 504 after a wait
        events = watch_events(
            self.ctx.rest, req.resource, req.namespace, options,
            bookmarks=query_flag(request.query, "allowWatchBookmarks"),
        )  # fmt: skip
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
        response.enable_chunked_encoding()

        async def pump() -> None:
            async for event in events:
                await response.write(self._encode_event(req, event, as_table, include) + b"\n")

        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self.ctx.watches.add(task)
        try:
            await asyncio.wait_for(pump(), timeout if timeout and timeout > 0 else None)
        except TimeoutError:
            pass  # timeoutSeconds reached: a normal end
        except errors.ApiError as err:
            await response.write(orjson.dumps({"type": "ERROR", "object": err.status()}) + b"\n")
        except ConnectionResetError:
            return response
        except asyncio.CancelledError:
            if not self.ctx.stopping:
                raise
            return response  # the server is shutting down: end the stream
        finally:
            self.ctx.watches.discard(task)
        with contextlib.suppress(ConnectionResetError):
            # A client that went away first: the stream is over either way.
            await response.write_eof()
        return response

    def _encode_event(
        self, req: ResourceRequest, event: WatchEvent, as_table: bool, include: str
    ) -> bytes:
        obj = event.object
        if as_table and event.type in ("ADDED", "MODIFIED", "DELETED"):
            obj = table(req.resource.group, req.resource.kind, [obj], include_columns=False,
                        version=req.resource.version, include_object=include)  # fmt: skip
        return orjson.dumps({"type": event.type, "object": obj})


def _plain(request: web.BaseRequest, req: ResourceRequest) -> bool:
    """A GET of a stored object itself, as JSON (no subresource, Table or YAML)."""
    rt = req.resource
    return not (req.subresource or _computed(rt) or rt.computed or _wants_table(request)
                or _wants_yaml(request))  # fmt: skip


def _computed(rt: ResourceType) -> bool:
    """ComponentStatuses are made when asked, never stored."""
    return rt.kind == "ComponentStatus" and not rt.group


def _no_such_resource() -> errors.ApiError:
    return errors.from_http_status(404)


async def _version(_: web.BaseRequest) -> web.Response:
    body = {
        **KUBERNETES_VERSION,
        "gitCommit": "kybernetes",
        "gitTreeState": "clean",
        "buildDate": "2026-11-30T00:00:00Z",
        "goVersion": f"kybernetes/{__version__}",
        "compiler": "python",
        "platform": "linux/amd64",
    }
    return _json(body)


def make_handler(ctx: ApiContext) -> Handler:
    """What answers every request the API server gets (aiohttp's low-level
    server calls it): its route's handler, after `_middleware`."""
    resources = ResourceHandler(ctx)
    router = Router(resources.handle)
    # Resource paths first (one pattern tried for most requests); the exact
    # discovery paths are found before any pattern anyway.
    router.add("/api/v1/{tail:.+}", resources.handle)
    router.add("/apis/{tail:[^/]+/[^/]+/.+}", resources.handle)

    def add_get(path: str, handler: Handler) -> None:
        router.add(path, handler, READS)

    def _checks(endpoint: str) -> list[health.Check]:
        checks: list[health.Check] = [
            ("ping", lambda: None),
            ("informer-sync", lambda: None if ctx.ready() else "the watch caches are filling"),
        ]
        if endpoint == "readyz":
            checks += ctx.checks
            checks.append(("shutdown", lambda: "the server is stopping" if ctx.stopping else None))
        return checks

    async def health_report(request: web.BaseRequest) -> web.Response:
        endpoint = request.path.strip("/")
        exclude = request.query.getall("exclude", [])
        verbose = "verbose" in request.query
        status, text = health.report(endpoint, _checks(endpoint), verbose=verbose, exclude=exclude)
        return web.Response(text=text, status=status)

    async def health_check(request: web.BaseRequest) -> web.Response:
        endpoint = request.path.strip("/").split("/")[0]
        answer = health.one_check(_checks(endpoint), route_params(request)["check"])
        if answer is None:
            raise errors.from_http_status(404)
        return web.Response(text=answer[1], status=answer[0])

    async def api(request: web.BaseRequest) -> web.Response:
        content_type = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if content_type:
            return _json(discovery.aggregated(ctx.registry, core=True, content_type=content_type),
                         content_type=content_type)  # fmt: skip
        return _json(discovery.api_versions(ctx.server_address))

    async def apis(request: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        content_type = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if content_type:
            return _json(discovery.aggregated(ctx.registry, core=False, content_type=content_type),
                         content_type=content_type)  # fmt: skip
        return _json(discovery.api_group_list(ctx.registry))

    async def core_v1(_: web.BaseRequest) -> web.Response:
        body = discovery.api_resource_list(ctx.registry, "", "v1")
        return _json(body)

    async def group(request: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        body = discovery.api_group(ctx.registry, route_params(request)["group"])
        if body is None:
            raise _no_such_resource()
        return _json(body)

    async def group_version(request: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        params = route_params(request)
        body = discovery.api_resource_list(ctx.registry, params["group"], params["version"])
        if body is None:
            raise _no_such_resource()
        return _json(body)

    async def openapi_index(_: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        return _json(openapi.index(ctx.registry, await builtin_schemas.get()))

    async def openapi_document(request: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        params = route_params(request)
        group, version = params.get("group", ""), params["version"]
        if not ctx.registry.in_group_version(group, version):
            raise _no_such_resource()
        schemas = await builtin_schemas.get()
        body, _ = openapi.document_bytes(ctx.registry, group, version, schemas)
        return web.Response(body=body, content_type=JSON_TYPE)

    async def openapi_v2(request: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        schemas = await builtin_schemas.get()
        # The whole API in one document: ~30 ms to build (once), not on the loop.
        pb, js = await asyncio.to_thread(openapi_v2_document, ctx.registry, schemas)
        if "protobuf" in request.headers.get("Accept", ""):
            return web.Response(body=pb, content_type=OPENAPI_V2_PROTOBUF)
        return web.Response(body=js, content_type=JSON_TYPE)

    add_get("/openapi/v2", openapi_v2)
    add_get("/openapi/v3", openapi_index)
    add_get("/openapi/v3/api/{version}", openapi_document)
    add_get("/openapi/v3/apis/{group}/{version}", openapi_document)
    for endpoint in HEALTH_ENDPOINTS:
        add_get(f"/{endpoint}", health_report)
        add_get(f"/{endpoint}/{{check}}", health_check)

    async def metrics(_: web.BaseRequest) -> web.Response:
        if ctx.metrics is None:
            raise errors.from_http_status(404)
        body = await asyncio.to_thread(ctx.metrics.render)
        return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})

    add_get("/metrics", metrics)

    async def openid_configuration(_: web.BaseRequest) -> web.Response:
        if ctx.tokens is None:
            raise _no_such_resource()
        return _json(ctx.tokens.signer.openid_configuration())

    async def jwks(_: web.BaseRequest) -> web.Response:
        if ctx.tokens is None:
            raise _no_such_resource()
        return _json(ctx.tokens.signer.jwks(), content_type="application/jwk-set+json")

    add_get("/.well-known/openid-configuration", openid_configuration)
    add_get("/openid/v1/jwks", jwks)
    add_get("/version", _version)
    add_get("/version/", _version)  # the official Python client's VersionApi path
    add_get("/api", api)
    add_get("/api/", api)
    add_get("/apis", apis)
    add_get("/apis/", apis)

    async def root(_: web.BaseRequest) -> web.Response:
        await ctx.current_registry()
        served = [*ROOT_PATHS, *(f"/{endpoint}/{name}" for endpoint in HEALTH_ENDPOINTS
                                 for name, _ in _checks(endpoint))]  # fmt: skip
        if ctx.metrics is not None:
            served.append("/metrics")
        if ctx.tokens is not None:
            served += ["/.well-known/openid-configuration", "/openid/v1/jwks"]
        return _json(discovery.root_paths(ctx.registry, served))

    add_get("/", root)
    add_get("/index.html", root)
    # With a trailing slash too, as kube-apiserver answers them: the official Python
    # client's <Group>Api.get_api_resources() asks for /apis/<group>/<version>/.
    add_get("/api/v1", core_v1)
    add_get("/api/v1/", core_v1)
    add_get("/apis/{group}", group)
    add_get("/apis/{group}/", group)
    add_get("/apis/{group}/{version}", group_version)
    add_get("/apis/{group}/{version}/", group_version)

    serve = _middleware(ctx)

    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        return await serve(request, router.handle)

    return answer


def end_watches(ctx: ApiContext) -> None:
    """The server is stopping: /readyz says so, and every watch ends."""
    ctx.stopping = True
    for task in list(ctx.watches):
        task.cancel()


def request_factory(loop: asyncio.AbstractEventLoop) -> Callable[..., web.BaseRequest]:
    """The requests aiohttp's low-level server makes, with the API server's body limit."""

    def make(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, loop,
                               client_max_size=MAX_BODY_BYTES)  # fmt: skip

    return make


def _middleware(
    ctx: ApiContext,
) -> Callable[[web.BaseRequest, Handler], Awaitable[web.StreamResponse]]:
    """Who is asking, then the handler; every error as a `Status`."""

    async def serve(request: web.BaseRequest, handler: Handler) -> web.StreamResponse:
        try:
            if request.headers.get("Expect"):
                await _expect(request)
            request[USER] = await _authenticate(ctx, request)
            response = await handler(request)
        except errors.ApiError as err:
            response = _status_response(err)
        except web.HTTPRequestEntityTooLarge:
            response = _status_response(_body_too_large())
        except web.HTTPException as err:
            # aiohttp's own refusals (from reading the request and the like), in the
            # words kube-apiserver uses for that code.
            if err.status < 400:
                raise  # a redirect is a response, not an error
            response = _status_response(errors.from_http_status(err.status))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as err:
            log.exception("%s %s failed", request.method, request.path)
            response = _status_response(errors.internal(repr(err)))
        if not response.prepared:  # a streamed answer added its own (_send_json)
            add_warnings(request, response)
        return response

    return serve


async def _expect(request: web.BaseRequest) -> None:
    """`Expect: 100-continue` (curl sends it before a big body, then waits for
    the go-ahead): the interim answer, before the body is read. Another
    expectation is refused (417), as HTTP/1.1 says; HTTP/1.0 has none."""
    if request.version != HttpVersion11:
        return
    if request.headers["Expect"].lower() != "100-continue":
        raise errors.from_http_status(417)
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


async def _authenticate(ctx: ApiContext, request: web.BaseRequest) -> UserInfo:
    """The request's user; anonymous only on the public paths, else 401."""
    user = ctx.authenticator.authenticate(request)
    if user is None and ctx.tokens is not None:
        user = await _service_account(ctx.tokens, request)
    if user is not None:
        return user
    if request.path in PUBLIC_PATHS or request.path.startswith(HEALTH_CHECK_PATHS):
        return ANONYMOUS
    raise errors.unauthorized()


async def _service_account(
    tokens: ServiceAccountTokens, request: web.BaseRequest
) -> UserInfo | None:
    token = bearer_token(request.headers)
    if not token:
        return None
    user = await tokens.user(token)
    return None if user is None else UserInfo(user.name, (*user.groups, AUTHENTICATED))
