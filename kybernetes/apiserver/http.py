"""The HTTP face of the API: routing, content negotiation, bodies, watches.

One catch-all route hands every resource path to `parse_resource_request`
(so custom resources route as soon as they are registered); discovery,
health and version have their own routes. Every failure leaves as a
`Status` object, never as an aiohttp error page or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from aiohttp import web

from kybernetes import __version__
from kybernetes.apiserver import discovery, errors, openapi, protobuf
from kybernetes.apiserver.auth import Authenticator, Authorizer, UserInfo
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.patching import patcher
from kybernetes.apiserver.request import ResourceRequest, parse_resource_request
from kybernetes.apiserver.resources import ResourceRegistry
from kybernetes.apiserver.rest import DeleteOptions, ListOptions, Rest
from kybernetes.apiserver.reviews import self_subject_access_review
from kybernetes.apiserver.scale import apply_scale, to_scale
from kybernetes.apiserver.tables import table
from kybernetes.apiserver.watch import WatchEvent, watch_events

__all__ = ["KUBERNETES_VERSION", "ApiContext", "make_app"]

log = logging.getLogger(__name__)

# The Kubernetes API version we serve. kubectl's dispatcher picks its own
# binary from `minor`, so this is also which kubectl answers users.
KUBERNETES_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4"}
MAX_BODY_BYTES = 3 * 1024 * 1024
JSON_TYPE = "application/json"
USER = web.RequestKey("user", UserInfo)
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


@dataclass
class ApiContext:
    registry: ResourceRegistry
    rest: Rest
    authenticator: Authenticator
    authorizer: Authorizer
    server_address: str
    ready: Callable[[], bool]
    # Open watch streams, ended at shutdown so it does not wait on them.
    watches: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False


def _json(body: Any, status: int = 200, content_type: str = JSON_TYPE) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=content_type)


def _status_response(err: errors.ApiError) -> web.Response:
    response = _json(err.status(), err.code)
    if err.retry_after:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "").replace(" ", "")
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _wants_yaml(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return accept.startswith("application/yaml")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    assert raw is not None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid value {raw!r}: must be an integer") from None


def _list_options(request: web.Request) -> ListOptions:
    limit = _int_param(request, "limit") or 0
    if limit < 0:
        raise errors.bad_request("limit: Invalid value: must be >= 0")
    return ListOptions(
        label_selector=request.query.get("labelSelector", ""),
        field_selector=request.query.get("fieldSelector", ""),
        limit=limit,
        continue_token=request.query.get("continue", ""),
        resource_version=request.query.get("resourceVersion", ""),
        resource_version_match=request.query.get("resourceVersionMatch", ""),
    )


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


async def _read_body(request: web.Request) -> Any:
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise errors.too_large("the request body is larger than 3 MiB")
    # No Content-Type at all (the Python client's DELETE) means JSON, as in
    # kube-apiserver; aiohttp reports that case as application/octet-stream.
    content_type = request.content_type if "Content-Type" in request.headers else JSON_TYPE
    return decode_body(raw, content_type)


def decode_body(raw: bytes, content_type: str) -> Any:
    """A JSON or YAML body; anything malformed is a 400, never a 500."""
    if content_type == protobuf.CONTENT_TYPE:
        try:
            return protobuf.decode_kubernetes_protobuf(raw)[2]
        except protobuf.ProtobufError as err:
            raise errors.bad_request(f"the request body is not valid protobuf: {err}") from None
    if not raw.strip():
        return None
    if content_type in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        try:
            return yaml.load(raw, Loader=_NoAliasLoader)
        except yaml.YAMLError as err:
            raise errors.bad_request(f"the request body is not valid YAML: {err}") from None
    if content_type.startswith("application/") and content_type.endswith("json"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise errors.bad_request(f"the request body is not valid JSON: {err}") from None
    raise errors.unsupported_media_type(content_type)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases: no billion-laughs bombs."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not allowed")
        return super().compose_node(parent, index)


def _list_body(req: ResourceRequest, items: list[Obj], rv: int, token: str | None) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
    return {"kind": req.resource.list_kind, "apiVersion": req.resource.api_version,
            "metadata": meta, "items": items}  # fmt: skip


class ResourceHandler:
    """Every verb on every resource path."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def handle(self, request: web.Request) -> web.StreamResponse:
        req = parse_resource_request(
            request.method, request.path, self.ctx.registry, watch=_flag(request, "watch")
        )
        if req is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        handler = getattr(self, f"_{req.verb}")
        response: web.StreamResponse = await handler(request, req)
        return response

    def _respond(
        self, request: web.Request, req: ResourceRequest, obj: Obj, status: int = 200
    ) -> web.Response:
        if _wants_table(request) and req.verb == "get":
            return _json(table(req.resource.group, req.resource.kind, [obj]), status)
        if _wants_yaml(request):
            return web.Response(
                text=yaml.safe_dump(obj), status=status, content_type="application/yaml"
            )
        return _json(obj, status)

    async def _get(self, request: web.Request, req: ResourceRequest) -> web.Response:
        obj = await self.ctx.rest.get(
            req.resource, req.namespace, req.name, request.query.get("resourceVersion", "")
        )
        if req.subresource == "scale":
            return _json(to_scale(obj))
        return self._respond(request, req, obj)

    async def _write_scale(
        self, request: web.Request, req: ResourceRequest, to_new_scale: Callable[[Obj], Obj]
    ) -> web.Response:
        """PUT or PATCH of `scale`: the new Scale's replicas land on the workload."""

        def change(obj: Obj) -> Obj:
            return apply_scale(obj, to_new_scale(to_scale(obj)))

        obj = await self.ctx.rest.patch(
            req.resource, req.namespace, req.name, change, subresource="",
            dry_run=_dry_run(request),
        )  # fmt: skip
        return _json(to_scale(obj))

    async def _list(self, request: web.Request, req: ResourceRequest) -> web.Response:
        options = _list_options(request)
        page = await self.ctx.rest.list(req.resource, req.namespace, options)
        if _wants_table(request):
            meta: Obj = {"resourceVersion": str(page.resource_version)}
            if page.continue_token:
                meta["continue"] = page.continue_token
            return _json(table(req.resource.group, req.resource.kind, page.items, list_meta=meta))
        body = _list_body(req, page.items, page.resource_version, page.continue_token)
        if (
            page.continue_token
            and page.remaining
            and not (options.label_selector or options.field_selector)
        ):
            body["metadata"]["remainingItemCount"] = page.remaining
        return self._respond(request, req, body)

    async def _create(self, request: web.Request, req: ResourceRequest) -> web.Response:
        if req.subresource:
            raise errors.method_not_allowed(
                f"{req.resource.plural}/{req.subresource}: not supported yet"
            )
        body = await _read_body(request)
        if req.resource.kind == "SelfSubjectAccessReview":
            review = self_subject_access_review(body, request[USER], self.ctx.authorizer)
            return _json(review, 201)
        obj = await self.ctx.rest.create(
            req.resource, req.namespace, body, dry_run=_dry_run(request)
        )
        return self._respond(request, req, obj, 201)

    async def _update(self, request: web.Request, req: ResourceRequest) -> web.Response:
        body = await _read_body(request)
        if req.subresource == "scale":
            return await self._write_scale(request, req, lambda _: body)
        obj = await self.ctx.rest.update(
            req.resource, req.namespace, req.name, body,
            subresource=req.subresource, dry_run=_dry_run(request),
        )  # fmt: skip
        return self._respond(request, req, obj)

    async def _patch(self, request: web.Request, req: ResourceRequest) -> web.Response:
        content_type = request.content_type
        patch = await _read_body(request)
        rt = req.resource
        if req.subresource == "scale":
            apply = patcher(content_type, patch, "autoscaling", "v1", "Scale")
            return await self._write_scale(request, req, apply)
        apply = patcher(content_type, patch, rt.group, rt.version, rt.kind)
        obj = await self.ctx.rest.patch(
            rt, req.namespace, req.name, apply, subresource=req.subresource,
            dry_run=_dry_run(request),
        )  # fmt: skip
        return self._respond(request, req, obj)

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        body = await _read_body(request) or {}
        if not isinstance(body, dict):
            raise errors.bad_request("the body of a delete must be DeleteOptions")
        grace = _int_param(request, "gracePeriodSeconds")
        if grace is None and body.get("gracePeriodSeconds") is not None:
            grace = int(body["gracePeriodSeconds"])
        preconditions = body.get("preconditions") or {}
        return DeleteOptions(
            grace_period_seconds=grace,
            propagation_policy=request.query.get("propagationPolicy")
            or body.get("propagationPolicy")
            or "",
            precondition_uid=preconditions.get("uid") or "",
            precondition_resource_version=preconditions.get("resourceVersion") or "",
            dry_run=_dry_run(request) or body.get("dryRun") == ["All"],
        )

    async def _delete(self, request: web.Request, req: ResourceRequest) -> web.Response:
        options = await self._delete_options(request)
        obj, _gone = await self.ctx.rest.delete(req.resource, req.namespace, req.name, options)
        return self._respond(request, req, obj)

    async def _deletecollection(self, request: web.Request, req: ResourceRequest) -> web.Response:
        options = await self._delete_options(request)
        deleted = await self.ctx.rest.delete_collection(
            req.resource, req.namespace, _list_options(request), options
        )
        revision = await self.ctx.rest.storage.store.current_revision()
        return _json(_list_body(req, deleted, revision, None))

    async def _watch(self, request: web.Request, req: ResourceRequest) -> web.StreamResponse:
        options = _list_options(request)
        if req.name:
            selector = f"metadata.name={req.name}"
            field = f"{options.field_selector},{selector}" if options.field_selector else selector
            options = ListOptions(**{**options.__dict__, "field_selector": field})
        timeout = _int_param(request, "timeoutSeconds")
        as_table = _wants_table(request)
        events = watch_events(
            self.ctx.rest, req.resource, req.namespace, options,
            bookmarks=_flag(request, "allowWatchBookmarks"),
        )  # fmt: skip
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
        response.enable_chunked_encoding()

        async def pump() -> None:
            async for event in events:
                await response.write(self._encode_event(req, event, as_table) + b"\n")

        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self.ctx.watches.add(task)
        try:
            await asyncio.wait_for(pump(), timeout or None)
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
        await response.write_eof()
        return response

    def _encode_event(self, req: ResourceRequest, event: WatchEvent, as_table: bool) -> bytes:
        obj = event.object
        if as_table and event.type in ("ADDED", "MODIFIED", "DELETED"):
            obj = table(req.resource.group, req.resource.kind, [obj], include_columns=False)
        return orjson.dumps({"type": event.type, "object": obj})


def _no_such_resource() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource")


async def _version(_: web.Request) -> web.Response:
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


def make_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[_error_middleware, _auth_middleware(ctx)],
        client_max_size=MAX_BODY_BYTES + 1,
    )
    resources = ResourceHandler(ctx)

    async def health(_: web.Request) -> web.Response:
        if not ctx.ready():
            return web.Response(text="not ready", status=500)
        return web.Response(text="ok")

    async def api(request: web.Request) -> web.Response:
        content_type = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if content_type:
            return _json(discovery.aggregated(ctx.registry, core=True, content_type=content_type),
                         content_type=content_type)  # fmt: skip
        return _json(discovery.api_versions(ctx.server_address))

    async def apis(request: web.Request) -> web.Response:
        content_type = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if content_type:
            return _json(discovery.aggregated(ctx.registry, core=False, content_type=content_type),
                         content_type=content_type)  # fmt: skip
        return _json(discovery.api_group_list(ctx.registry))

    async def core_v1(_: web.Request) -> web.Response:
        body = discovery.api_resource_list(ctx.registry, "", "v1")
        return _json(body)

    async def group(request: web.Request) -> web.Response:
        body = discovery.api_group(ctx.registry, request.match_info["group"])
        if body is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return _json(body)

    async def group_version(request: web.Request) -> web.Response:
        body = discovery.api_resource_list(
            ctx.registry, request.match_info["group"], request.match_info["version"]
        )
        if body is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return _json(body)

    async def openapi_index(_: web.Request) -> web.Response:
        return _json(openapi.index(ctx.registry))

    async def openapi_document(request: web.Request) -> web.Response:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        if not ctx.registry.in_group_version(group, version):
            raise _no_such_resource()
        return _json(openapi.group_version_document(ctx.registry, group, version))

    app.router.add_get("/openapi/v3", openapi_index)
    app.router.add_get("/openapi/v3/api/{version}", openapi_document)
    app.router.add_get("/openapi/v3/apis/{group}/{version}", openapi_document)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, health)
    app.router.add_get("/version", _version)
    app.router.add_get("/api", api)
    app.router.add_get("/api/", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/apis/", apis)
    app.router.add_get("/api/v1", core_v1)
    app.router.add_get("/apis/{group}", group)
    app.router.add_get("/apis/{group}/{version}", group_version)
    app.router.add_route("*", "/{tail:.*}", resources.handle)

    async def end_watches(_: web.Application) -> None:
        ctx.stopping = True
        for task in list(ctx.watches):
            task.cancel()

    app.on_shutdown.append(end_watches)
    return app


@web.middleware
async def _error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ApiError as err:
        return _status_response(err)
    except web.HTTPRequestEntityTooLarge:
        return _status_response(errors.too_large("the request body is larger than 3 MiB"))
    except web.HTTPException as err:
        return _status_response(
            errors.ApiError(err.status, err.reason.replace(" ", ""), err.text or err.reason)
        )
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as err:
        log.exception("%s %s failed", request.method, request.path)
        return _status_response(errors.internal(repr(err)))


def _auth_middleware(ctx: ApiContext) -> Any:
    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        user = ctx.authenticator.authenticate(request)
        if user is None:
            if request.path not in PUBLIC_PATHS:
                raise errors.unauthorized()
            user = ANONYMOUS
        request[USER] = user
        return await handler(request)

    return authenticate
