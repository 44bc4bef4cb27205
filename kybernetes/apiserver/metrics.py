"""/metrics: the API server's Prometheus metrics, named and labelled as kube-apiserver's.

`apiserver_request_total` and `apiserver_request_duration_seconds` (verb as
kube reports it: GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE,
CONNECT; group, version, resource, subresource, scope, component, code),
`apiserver_current_inflight_requests`, `apiserver_longrunning_requests`,
`apiserver_storage_objects` (counted from the watch cache when scraped),
`kubernetes_build_info` and the process metrics. A request is counted in
plain dicts (`_Requests`), made into metric families only when scraped.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
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
LONG_RUNNING = frozenset({"WATCH", "CONNECT"})
_KIND = {False: "readOnly", True: "mutating"}  # apiserver_current_inflight_requests


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


class _Requests(Collector):
    """apiserver_request_total, apiserver_request_duration_seconds and the two
    in-flight gauges, counted in plain dicts and lists by the event loop and
    made into metric families when scraped.

    prometheus_client's children take a lock and check their state on every
    increment (~3 µs of a GET's ~30 µs in the handler); here a request costs
    a few dict reads. The scrape runs in another thread: it copies each dict
    and list in one C call, which the GIL makes atomic against the loop.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = {}  # (*_LABELS, code) -> requests
        # _LABELS -> [count per bucket (le), count above them all, sum of seconds]
        self.durations: dict[tuple[str, ...], list[float]] = {}
        self.inflight = dict.fromkeys(_KIND.values(), 0)
        self.longrunning: dict[tuple[str, ...], int] = {}  # (verb, *_LABELS[2:]) -> open

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "apiserver_request", "Counter of apiserver requests broken out for each verb, dry "
            "run value, group, version, resource, scope, component, and HTTP response code.",
            labels=[*_LABELS, "code"])  # fmt: skip
        for labels, count in list(self.counts.items()):
            total.add_metric(labels, count)
        yield total
        latency = HistogramMetricFamily(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds for "
            "each verb, dry run value, group, version, resource, subresource, scope and component.",
            labels=_LABELS)  # fmt: skip
        for labels, counts in [(k, list(v)) for k, v in list(self.durations.items())]:
            cumulative = itertools.accumulate(counts[:-1])
            latency.add_metric(labels, list(zip(_LE, cumulative, strict=True)),
                               sum_value=counts[-1])  # fmt: skip
        yield latency
        inflight = GaugeMetricFamily(
            "apiserver_current_inflight_requests", "Maximal number of currently used inflight "
            "request limit of this apiserver per request kind in last second.",
            labels=["request_kind"])  # fmt: skip
        for kind, count in list(self.inflight.items()):
            inflight.add_metric([kind], count)
        yield inflight
        longrunning = GaugeMetricFamily(
            "apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
            "requests broken out by verb, group, version, resource, scope and component.",
            labels=["verb", "group", "version", "resource", "subresource", "scope",
                    "component"])  # fmt: skip
        for labels, count in list(self.longrunning.items()):
            longrunning.add_metric(labels, count)
        yield longrunning


# The `le` label of each bucket as prometheus_client writes these ("0.005", "1.0"), then +Inf.
_LE = [*(str(float(b)) for b in BUCKETS), "+Inf"]


class ApiMetrics:
    def __init__(
        self, stored_objects: Callable[[], Iterable[tuple[str, int]]], version: str
    ) -> None:
        self.registry = CollectorRegistry()
        self._requests = _Requests()
        self.registry.register(self._requests)
        build = Gauge("kubernetes_build_info", "A metric with a constant '1' value labeled by "
                      "major, minor, git version, git commit, git tree state, build date, Go "
                      "version, and compiler from which Kubernetes was built, and platform on "
                      "which it is running.", ["git_version"], registry=self.registry)  # fmt: skip
        build.labels(git_version=version).set(1)
        ProcessCollector(registry=self.registry)
        self.registry.register(_StoredObjects(stored_objects))

    def started(self, labels: tuple[str, ...]) -> None:
        """A request now in flight (long-running ones counted apart, as kube does);
        `finished` with the same labels when it ends."""
        verb = labels[0]
        requests = self._requests
        if verb in LONG_RUNNING:
            key = (verb, *labels[2:])
            requests.longrunning[key] = requests.longrunning.get(key, 0) + 1
        else:
            requests.inflight[_KIND[verb in MUTATING]] += 1

    def finished(self, labels: tuple[str, ...], code: int, seconds: float) -> None:
        """A request `started` with `labels` (in _LABELS' order) ended with `code`."""
        verb = labels[0]
        requests = self._requests
        key = (*labels, str(code))
        requests.counts[key] = requests.counts.get(key, 0) + 1
        if verb in LONG_RUNNING:
            requests.longrunning[(verb, *labels[2:])] -= 1
            return
        requests.inflight[_KIND[verb in MUTATING]] -= 1
        counts = requests.durations.get(labels)
        if counts is None:
            counts = requests.durations[labels] = [0] * (len(BUCKETS) + 1) + [0.0]
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def render(self) -> bytes:
        return generate_latest(self.registry)
