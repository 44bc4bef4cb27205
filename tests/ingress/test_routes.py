"""Routing decisions of the ingress proxy, pure: hosts, paths, defaults, backends, TLS."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.ingress.routes import (
    RouteTable,
    build_routes,
    host_matches,
    normalize_host,
    path_matches,
    route,
    tls_secret_for,
)

Obj = dict[str, Any]


def svc(name: str, *ports: tuple[str, int], ns: str = "default", kind: str = "ClusterIP") -> Obj:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"type": kind, "ports": [{"name": n, "port": p, "targetPort": p + 8000}
                                             for n, p in ports]}}  # fmt: skip


def eps(service: str, *endpoints: tuple[str, bool | None], port: int = 8080, port_name: str = "",
        ns: str = "default", name: str = "") -> Obj:  # fmt: skip
    return {
        "metadata": {"namespace": ns, "name": name or f"{service}-x",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
                      for ip, ready in endpoints],
    }  # fmt: skip


def backend(service: str, port: int | str = 80) -> Obj:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def ing(name: str, *rules: Obj, created: str = "2026-01-01T00:00:00Z", ns: str = "default",
        default: Obj | None = None, tls: list[Obj] | None = None) -> Obj:  # fmt: skip
    spec: Obj = {"rules": list(rules)}
    if default is not None:
        spec["defaultBackend"] = default
    if tls is not None:
        spec["tls"] = tls
    return {"metadata": {"namespace": ns, "name": name, "creationTimestamp": created},
            "spec": spec}  # fmt: skip


def rule(host: str, *paths: tuple[str, str, str]) -> Obj:
    out: Obj = {"http": {"paths": [{"path": p, "pathType": t, "backend": backend(s)}
                                   for p, t, s in paths]}}  # fmt: skip
    if host:
        out["host"] = host
    return out


SERVICES = [svc(n, ("http", 80)) for n in ("a", "b", "c", "d", "e")]
SLICES = [eps(n, (f"10.0.0.{i}", True)) for i, n in enumerate("abcde", start=1)]


def table(*ingresses: Obj) -> RouteTable:
    return build_routes(ingresses, services=SERVICES, endpoint_slices=SLICES)


def where(t: RouteTable, host: str, path: str) -> str | None:
    found = route(t, host, path)
    return None if found is None else found.key.split("/")[1].split(":")[0]


@pytest.mark.parametrize(
    ("rule_path", "exact", "request_path", "matches"),
    [
        ("/foo", True, "/foo", True),
        ("/foo", True, "/foo/", False),
        ("/foo", True, "/foobar", False),
        ("/foo/", True, "/foo", False),
        ("/foo", False, "/foo", True),
        ("/foo", False, "/foo/", True),
        ("/foo", False, "/foo/bar", True),
        ("/foo", False, "/foobar", False),
        ("/foo/", False, "/foo", True),  # a trailing slash of the rule is ignored
        ("/foo/", False, "/foo/bar", True),
        ("/foo/bar", False, "/foo/baz", False),
        ("/foo/bar", False, "/foo", False),
        ("/", False, "/anything/at/all", True),
        ("/", False, "/", True),
        ("/aaa/bb", False, "/aaa/bbb", False),
        ("/aaa/bbb", False, "/aaa/bbb/ccc", True),
    ],
)
def test_path_matching(rule_path: str, exact: bool, request_path: str, matches: bool) -> None:
    assert path_matches(rule_path, exact=exact, request_path=request_path) is matches


@pytest.mark.parametrize(
    ("rule_host", "host", "matches"),
    [
        ("foo.example", "foo.example", True),
        ("foo.example", "bar.example", False),
        ("*.example.com", "bar.example.com", True),
        ("*.example.com", "example.com", False),  # the wildcard is exactly one label
        ("*.example.com", "a.bar.example.com", False),
        ("*.example.com", ".example.com", False),
        ("", "whatever", True),
    ],
)
def test_host_matching(rule_host: str, host: str, matches: bool) -> None:
    assert host_matches(rule_host, host) is matches


@pytest.mark.parametrize(
    ("header", "host"),
    [("Foo.Example:8080", "foo.example"), ("foo.example", "foo.example"),
     ("[::1]:443", "::1"), ("foo.example.", "foo.example")],
)  # fmt: skip
def test_host_header_normalized(header: str, host: str) -> None:
    assert normalize_host(header) == host


def test_longest_path_wins_and_exact_before_prefix() -> None:
    paths = [("/", "Prefix", "a"), ("/foo", "Prefix", "b"), ("/foo", "Exact", "c"),
             ("/foo/bar", "ImplementationSpecific", "d")]  # fmt: skip
    t = table(ing("one", rule("foo.example", *paths)))
    assert where(t, "foo.example", "/foo") == "c"  # Exact beats Prefix at equal length
    assert where(t, "foo.example", "/foo/") == "b"
    assert where(t, "foo.example", "/foobar") == "a"  # not an element-wise prefix of /foo
    assert where(t, "foo.example", "/foo/bar/baz") == "d"
    assert where(t, "foo.example", "/other") == "a"
    assert where(t, "FOO.example:80", "/foo/x") == "b"


def test_hosts_exact_then_wildcard_then_any() -> None:
    t = table(
        ing("any", rule("", ("/", "Prefix", "a"))),
        ing("wild", rule("*.example.com", ("/", "Prefix", "b"), ("/w", "Exact", "e"))),
        ing("exact", rule("www.example.com", ("/api", "Prefix", "c"))),
    )
    assert where(t, "www.example.com", "/api/v1") == "c"
    # The exact host has no "/" rule: the wildcard's rules come next, then the host-less ones.
    assert where(t, "www.example.com", "/") == "b"
    assert where(t, "shop.example.com", "/w") == "e"
    assert where(t, "example.com", "/") == "a"
    assert where(t, "a.b.example.com", "/") == "a"


def test_default_backend_and_404() -> None:
    t = table(ing("only", rule("foo.example", ("/app", "Prefix", "a"))))
    assert route(t, "foo.example", "/other") is None
    assert route(t, "bar.example", "/app") is None
    t = table(
        ing("with-default", rule("foo.example", ("/app", "Prefix", "a")), default=backend("b"))
    )
    assert where(t, "foo.example", "/other") == "b"
    assert where(t, "bar.example", "/") == "b"
    assert where(t, "foo.example", "/app") == "a"
    # A default backend alone serves everything.
    assert where(table(ing("bare", default=backend("c"))), "x", "/y") == "c"


def test_host_group_uses_its_own_ingress_default_first() -> None:
    t = table(
        ing("old", default=backend("a"), created="2026-01-01T00:00:00Z"),
        ing("new", rule("foo.example", ("/app", "Exact", "b")), default=backend("c"),
            created="2026-01-02T00:00:00Z"),
    )  # fmt: skip
    assert where(t, "foo.example", "/nope") == "c"
    assert where(t, "other.example", "/nope") == "a"


def test_oldest_ingress_wins_a_duplicate_path() -> None:
    newer = ing("newer", rule("foo.example", ("/", "Prefix", "b")), created="2026-02-01T00:00:00Z")
    older = ing("older", rule("foo.example", ("/", "Prefix", "a")), created="2026-01-01T00:00:00Z")
    assert where(table(newer, older), "foo.example", "/") == "a"
    assert where(table(older, newer), "foo.example", "/") == "a"


def test_backend_resolves_ready_endpoints_by_port_number_or_name() -> None:
    services = [svc("web", ("http", 80), ("admin", 81))]
    slices = [
        eps("web", ("10.0.0.1", True), ("10.0.0.2", None), ("10.0.0.3", False),
            port=8080, port_name="http", name="web-1"),
        eps("web", ("10.0.0.4", True), port=8080, port_name="http", name="web-2"),
        eps("web", ("10.0.0.1", True), port=9090, port_name="admin", name="web-3"),
        eps("other", ("10.9.9.9", True), port=8080, port_name="http", name="other-1"),
    ]  # fmt: skip
    t = build_routes([ing("i", rule("", ("/", "Prefix", "web"), ("/admin", "Prefix", "x")))],
                     services=services, endpoint_slices=slices)  # fmt: skip
    found = route(t, "h", "/")
    assert found is not None
    assert found.key == "default/web:80"
    # Not-ready endpoints are left out; unset readiness counts as ready.
    assert found.endpoints == (("10.0.0.1", 8080), ("10.0.0.2", 8080), ("10.0.0.4", 8080))
    admin = {"service": {"name": "web", "port": {"name": "admin"}}}
    by_name = build_routes([ing("i", default=admin)], services=services, endpoint_slices=slices)
    found = route(by_name, "h", "/")
    assert found is not None and found.endpoints == (("10.0.0.1", 9090),)


@pytest.mark.parametrize(
    ("backend_spec", "problem"),
    [
        (backend("missing"), 'service "default/missing" not found'),
        (backend("a", 9999), 'service "default/a" has no port 9999'),
        (backend("ext"), 'service "default/ext" is of type ExternalName'),
        (backend("empty"), "no ready endpoints"),
        ({"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b"}},
         "StorageBucket backends are not supported"),
    ],
)  # fmt: skip
def test_backends_without_endpoints_say_why(backend_spec: Obj, problem: str) -> None:
    services = [
        *SERVICES,
        svc("ext", ("http", 80), kind="ExternalName"),
        svc("empty", ("http", 80)),
    ]
    slices = [*SLICES, eps("empty", ("10.0.0.9", False))]
    t = build_routes([ing("i", default=backend_spec)], services=services, endpoint_slices=slices)
    found = route(t, "h", "/")
    assert found is not None and found.endpoints == () and found.problem == problem


def test_backend_in_another_namespace_is_not_used() -> None:
    t = build_routes([ing("i", default=backend("a"), ns="other")], services=SERVICES,
                     endpoint_slices=SLICES)  # fmt: skip
    found = route(t, "h", "/")
    assert found is not None and found.problem == 'service "other/a" not found'


def test_tls_host_selection() -> None:
    t = table(
        ing("one", tls=[{"hosts": ["foo.example", "*.wild.example"], "secretName": "foo-tls"}]),
        ing("two", ns="other", created="2026-03-01T00:00:00Z",
            tls=[{"hosts": ["foo.example", "bar.example"], "secretName": "late"},
                 {"secretName": "catch-all"}]),
    )  # fmt: skip
    assert tls_secret_for(t, "foo.example") == "default/foo-tls"  # the oldest Ingress wins
    assert tls_secret_for(t, "BAR.example") == "other/late"
    assert tls_secret_for(t, "x.wild.example") == "default/foo-tls"
    assert tls_secret_for(t, "wild.example") == "other/catch-all"
    assert tls_secret_for(t, "a.b.wild.example") == "other/catch-all"
    assert tls_secret_for(table(), "foo.example") == ""
