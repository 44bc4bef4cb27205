"""The Prometheus text the kubelet writes and the API server reads."""

from __future__ import annotations

import pytest

from kybernetes.api.resourcemetrics import Sample, parse_exposition, render_exposition


def test_round_trip_with_labels_that_need_escaping() -> None:
    samples = [Sample("node_cpu_usage_seconds_total", 12.5, 1000),
               Sample("container_memory_working_set_bytes", 4096.0, 2000,
                      {"container": 'a"b', "namespace": "n\\s", "pod": "p\nq"}),
               Sample("scrape_error", 0.0)]  # fmt: skip
    text = render_exposition(samples)
    assert "# HELP node_cpu_usage_seconds_total" in text
    assert "node_cpu_usage_seconds_total 12.5 1000\n" in text
    assert "scrape_error 0\n" in text
    assert sorted(parse_exposition(text), key=lambda s: s.name) == sorted(
        samples, key=lambda s: s.name)  # fmt: skip


def test_the_kubelets_own_text_parses() -> None:
    text = (
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n"
        "# TYPE container_cpu_usage_seconds_total counter\n"
        'container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",'
        'pod="coredns-1"} 7.96 1700000000123\n'
        "node_memory_working_set_bytes 1.234e+09 1700000000000\n"
    )
    first, second = parse_exposition(text)
    assert first.labels == {"container": "coredns", "namespace": "kube-system", "pod": "coredns-1"}
    assert (first.value, first.timestamp_ms) == (7.96, 1700000000123)
    assert second.value == 1.234e9


def test_a_broken_line_is_named() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_exposition('ok 1\nbroken{x="1" \n')
