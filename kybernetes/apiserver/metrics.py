"""/metrics: the API server's Prometheus metrics, named and labelled as kube-apiserver's.

`apiserver_request_total` and `apiserver_request_duration_seconds` (verb as
kube reports it: GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE,
CONNECT; group, version, resource, subresource, scope, component, code),
`apiserver_current_inflight_requests`, `apiserver_longrunning_requests`,
`apiserver_storage_objects` (counted from the watch cache when scraped),
`kubernetes_build_info` and the process metrics. Each request's label
children are looked up once and kept: a create pays two dictionary reads,
an increment and an observation (about 2 µs), not prometheus_client's
label resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.store.cache import CachingStore

__all__ = ["CONTENT_TYPE", "ApiMetrics", "reported_verb", "scope_of", "stored_objects"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# kube-apiserver's buckets for apiserver_request_duration_seconds.
BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
           6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)  # fmt: skip
_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")
_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT",
          "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}  # fmt: skip
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
MUTATING = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE"})


def reported_verb(verb: str, subresource: str, *, apply: bool) -> str:
    """The verb kube-apiserver's metrics report for a request."""
    if subresource in CONNECT_SUBRESOURCES:
        return "CONNECT"
    if verb == "patch" and apply:
        return "APPLY"
    return _VERBS.get(verb, verb.upper())


def scope_of(rt: ResourceType, namespace: str, name: str) -> str:
    if name:
        return "resource"
    return "namespace" if rt.namespaced and namespace else "cluster"


def stored_objects(registry: ResourceRegistry, cache: CachingStore) -> list[tuple[str, int]]:
    """(resource, count) of each resource the watch cache holds, as kube names them."""
    counted: set[str] = set()
    found = []
    for rt in registry:
        if rt.storage_prefix in counted:
            continue  # a second version, or a group stored as another (events.k8s.io)
        counted.add(rt.storage_prefix)
        kvs = cache.peek(rt.storage_prefix)
        if kvs is not None:
            found.append((f"{rt.plural}.{rt.group}" if rt.group else rt.plural, len(kvs)))
    return found


class _StoredObjects(Collector):
    """apiserver_storage_objects, counted when scraped."""

    def __init__(self, counts: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("apiserver_storage_objects",
                                   "Number of stored objects at the time of last check split by "
                                   "kind.", labels=["resource"])  # fmt: skip
        for resource, count in self._counts():
            family.add_metric([resource], count)
        yield family


class ApiMetrics:
    def __init__(
        self, stored_objects: Callable[[], Iterable[tuple[str, int]]], version: str
    ) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "apiserver_request_total", "Counter of apiserver requests broken out for each verb, "
            "dry run value, group, version, resource, scope, component, and HTTP response code.",
            [*_LABELS, "code"], registry=self.registry)  # fmt: skip
        self._latency = Histogram(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds for "
            "each verb, dry run value, group, version, resource, subresource, scope and component.",
            _LABELS, buckets=BUCKETS, registry=self.registry)  # fmt: skip
        self._inflight = Gauge(
            "apiserver_current_inflight_requests", "Maximal number of currently used inflight "
            "request limit of this apiserver per request kind in last second.", ["request_kind"],
            registry=self.registry)  # fmt: skip
        self._longrunning = Gauge(
            "apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
            "requests broken out by verb, group, version, resource, scope and component.",
            ["verb", "group", "version", "resource", "subresource", "scope", "component"],
            registry=self.registry)  # fmt: skip
        build = Gauge("kubernetes_build_info", "A metric with a constant '1' value labeled by "
                      "major, minor, git version, git commit, git tree state, build date, Go "
                      "version, and compiler from which Kubernetes was built, and platform on "
                      "which it is running.", ["git_version"], registry=self.registry)  # fmt: skip
        build.labels(git_version=version).set(1)
        self._readonly = self._inflight.labels("readOnly")
        self._mutating = self._inflight.labels("mutating")
        ProcessCollector(registry=self.registry)
        self.registry.register(_StoredObjects(stored_objects))
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def observe(self, labels: tuple[str, ...], code: int, seconds: float) -> None:
        """One finished request; `labels` in _LABELS' order."""
        children = self._children.get((*labels, str(code)))
        if children is None:
            children = (self._requests.labels(*labels, str(code)), self._latency.labels(*labels))
            self._children[(*labels, str(code))] = children
        children[0].inc()
        if labels[0] not in ("WATCH", "CONNECT"):
            children[1].observe(seconds)

    def started(self, labels: tuple[str, ...]) -> Any:
        """A request now in flight (long-running ones counted apart, as kube does):
        the gauge to `dec()` when it ends."""
        verb = labels[0]
        if verb in ("WATCH", "CONNECT"):
            gauge = self._longrunning.labels(verb, *labels[2:])
        else:
            gauge = self._mutating if verb in MUTATING else self._readonly
        gauge.inc()
        return gauge

    def render(self) -> bytes:
        return generate_latest(self.registry)
