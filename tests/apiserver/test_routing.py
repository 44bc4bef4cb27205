"""The API server's router (kybernetes/apiserver/routing.py)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from kybernetes.apiserver.routing import READS, Handler, Router, route_params


def named(name: str) -> Handler:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text=f"{name} {dict(route_params(request))}")

    handler.__name__ = name
    return handler


def router() -> Router:
    routes = Router(named("default"))
    routes.add("/api/v1/{tail:.+}", named("resources"))
    routes.add("/apis/{tail:[^/]+/[^/]+/.+}", named("resources"))
    routes.add("/api/v1", named("core"), READS)
    routes.add("/apis/{group}", named("group"), READS)
    routes.add("/apis/{group}/{version}", named("group_version"), READS)
    routes.add("/healthz/{check}", named("check"), READS)
    return routes


def resolved(method: str, path: str) -> tuple[str, dict[str, str]]:
    handler, params = router().resolve(method, path)
    return handler.__name__, dict(params)


def test_an_exact_path_answers_its_methods_and_passes_the_rest_on() -> None:
    assert resolved("GET", "/api/v1") == ("core", {})
    assert resolved("HEAD", "/api/v1") == ("core", {})
    assert resolved("POST", "/api/v1") == ("default", {})


def test_a_placeholder_matches_one_segment_unless_it_says_otherwise() -> None:
    assert resolved("GET", "/apis/apps") == ("group", {"group": "apps"})
    assert resolved("GET", "/apis/apps/v1") == ("group_version", {"group": "apps", "version": "v1"})
    assert resolved("GET", "/healthz/etcd") == ("check", {"check": "etcd"})
    assert resolved("GET", "/healthz/a/b") == ("default", {})
    assert resolved("GET", "/apis/apps/v1/deployments") == (
        "resources", {"tail": "apps/v1/deployments"})  # fmt: skip
    assert resolved("DELETE", "/api/v1/namespaces/x") == ("resources", {"tail": "namespaces/x"})


def test_patterns_are_tried_in_the_order_added_and_the_default_takes_the_rest() -> None:
    routes = Router(named("default"))
    routes.add("/x/{a}", named("first"))
    routes.add("/x/{b}", named("second"))
    assert routes.resolve("GET", "/x/1")[0].__name__ == "first"
    assert routes.resolve("GET", "/y")[0].__name__ == "default"
    assert routes.resolve("GET", "/x/")[0].__name__ == "default"  # a segment is not empty


def test_literal_text_of_a_pattern_is_not_a_regex() -> None:
    routes = Router(named("default"))
    routes.add("/a.b/{name}", named("dotted"))
    assert routes.resolve("GET", "/a.b/c")[0].__name__ == "dotted"
    assert routes.resolve("GET", "/aXb/c")[0].__name__ == "default"


async def test_a_handler_reads_its_route_params() -> None:
    response = await router().handle(make_mocked_request("GET", "/apis/apps/v1"))
    assert isinstance(response, web.Response)
    assert response.text == "group_version {'group': 'apps', 'version': 'v1'}"
    response = await router().handle(make_mocked_request("GET", "/nowhere"))
    assert isinstance(response, web.Response) and response.text == "default {}"
