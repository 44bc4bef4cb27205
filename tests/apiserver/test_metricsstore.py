"""The scraper's storage: two points per series, rates and windows as
metrics-server computes them, and the objects' shapes."""

from __future__ import annotations

import datetime

from kybernetes.api.resourcemetrics import Sample
from kybernetes.apiserver.metricsapi import (
    cpu_quantity,
    go_duration,
    memory_quantity,
    metrics_table,
    node_metrics,
    pod_metrics,
)
from kybernetes.apiserver.metricsstore import (
    Batch,
    MetricsStore,
    Point,
    Usage,
    decode_batch,
    usage_between,
)

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
LABELS = {"container": "c", "namespace": "ns", "pod": "p"}


def _samples(ms: int, cpu: float, memory: float, start: float = 10.0) -> list[Sample]:
    return [Sample("node_cpu_usage_seconds_total", cpu * 10, ms),
            Sample("node_memory_working_set_bytes", memory * 10, ms),
            Sample("container_cpu_usage_seconds_total", cpu, ms, LABELS),
            Sample("container_memory_working_set_bytes", memory, ms, LABELS),
            Sample("container_start_time_seconds", start, ms, LABELS)]  # fmt: skip


def test_decode_reads_node_and_containers() -> None:
    batch = decode_batch(_samples(2_000_000, 1.5, 4096), default_time=0)
    assert batch.node == Point(2000.0, 15 * 10**9, 40960)
    assert batch.pods == {("ns", "p"): {"c": Point(2000.0, 15 * 10**8, 4096, 10.0)}}


def test_a_container_without_figures_leaves_its_pod_out() -> None:
    samples = [*_samples(2_000_000, 1.5, 4096),
               Sample("container_cpu_usage_seconds_total", 0.0, 2_000_000,
                      {**LABELS, "container": "new"})]  # fmt: skip
    assert decode_batch(samples, default_time=0).pods == {}


def test_rate_between_two_points() -> None:
    usage = usage_between(Point(115.0, 4 * 10**9, 10), Point(100.0, 10**9, 5))
    assert usage == Usage(115.0, 15.0, 200_000_000, 10)
    assert usage_between(Point(115.0, 10**8, 10), Point(100.0, 10**9, 5)) is None  # reset
    assert usage_between(Point(100.0, 10**9, 10), Point(100.0, 10**9, 5)) is None  # no time


def test_an_object_appears_from_its_second_scrape() -> None:
    store = MetricsStore(15.0)
    store.store("n1", decode_batch(_samples(100_000, 1.0, 4096), 0))
    assert store.node("n1") is None and store.pod("ns", "p") is None
    store.store("n1", decode_batch(_samples(115_000, 1.3, 8192), 0))
    node = store.node("n1")
    assert node is not None and (node.window, node.cpu_nanocores) == (15.0, 200_000_000)
    pod = store.pod("ns", "p")
    assert pod is not None
    assert pod[1]["c"] == Usage(115.0, 15.0, 20_000_000, 8192)
    # The same scrape again keeps the previous point; a newer one moves it on.
    store.store("n1", decode_batch(_samples(115_000, 1.3, 8192), 0))
    assert store.node("n1") == node
    store.store("n1", decode_batch(_samples(130_000, 1.6, 8192), 0))
    later = store.node("n1")
    assert later is not None and later.timestamp == 130.0


def test_a_restarted_container_starts_over() -> None:
    store = MetricsStore(15.0)
    store.store("n1", decode_batch(_samples(100_000, 5.0, 4096), 0))
    store.store("n1", decode_batch(_samples(200_000, 0.5, 4096, start=150.0), 0))
    assert store.pod("ns", "p") is None


def test_a_fresh_container_counts_from_its_start() -> None:
    store = MetricsStore(15.0)
    store.store("n1", decode_batch(_samples(112_000, 1.2, 4096, start=100.0), 0))
    pod = store.pod("ns", "p")
    assert pod is not None and pod[1]["c"] == Usage(112.0, 12.0, 100_000_000, 4096)


def test_a_node_forgotten_loses_its_pods() -> None:
    store = MetricsStore(15.0)
    for ms in (100_000, 115_000):
        store.store("n1", decode_batch(_samples(ms, ms / 1e5, 4096), 0))
    assert store.pod("ns", "p") is not None
    store.forget("n1")
    assert store.pod("ns", "p") is None and store.node("n1") is None
    store.store("n1", Batch())
    assert store.nodes() == set()


def test_quantities_as_metrics_server_spells_them() -> None:
    assert cpu_quantity(12345) == "12345n"
    assert cpu_quantity(25_000_000) == "25m"
    assert cpu_quantity(12_345_000) == "12345u"
    assert cpu_quantity(2 * 10**9) == "2"
    assert cpu_quantity(0) == "0"
    assert memory_quantity(6789 * 1024) == "6789Ki"
    assert memory_quantity(80 * 1024 * 1024) == "80Mi"
    assert memory_quantity(1_000_000) == "1000000"  # binary: never "1M"
    assert memory_quantity(1000) == "1000"


def test_windows_as_go_prints_durations() -> None:
    assert go_duration(15.0) == "15s"
    assert go_duration(15.004) == "15.004s"
    assert go_duration(0.5) == "500ms"
    assert go_duration(75.25) == "1m15.25s"


def test_object_shapes() -> None:
    usage = Usage(1735689600.0, 15.004, 25_000_000, 80 * 1024 * 1024)
    node = node_metrics({"metadata": {"name": "n1", "labels": {"a": "b"}, "uid": "x"}}, usage, NOW)
    assert node == {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": "n1", "creationTimestamp": "2025-01-01T00:00:00Z",
                                 "labels": {"a": "b"}},
                    "timestamp": "2025-01-01T00:00:00Z", "window": "15.004s",
                    "usage": {"cpu": "25m", "memory": "80Mi"}}  # fmt: skip
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"containers": [{"name": "z"}, {"name": "a"}]}}  # fmt: skip
    made = pod_metrics(pod, usage, {"a": usage, "z": usage}, NOW)
    assert made["metadata"] == {"name": "p", "namespace": "ns",
                                "creationTimestamp": "2025-01-01T00:00:00Z"}  # fmt: skip
    assert [c["name"] for c in made["containers"]] == ["z", "a"]  # the pod's order
    table = metrics_table([made])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    assert table["rows"][0]["cells"] == ["p", "50m", "160Mi", "15.004s"]
