"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, in metrics-server's shapes.

Served by the API server itself rather than an aggregated APIService: the
figures come from our own scraper (metricsscraper.py, metricsstore.py) and
the objects are made when asked, never stored (as ComponentStatus). As in
metrics-server, a list starts from the nodes or pods that match the
selectors and keeps those with metrics; a GET of a node or pod without
metrics is NotFound (`podmetrics.metrics.k8s.io "ns/name" not found`).
Each object's creationTimestamp is the time of the answer, its labels its
node's or pod's; CPU is in nanocores (`12345n`, canonicalised as a Quantity),
memory in bytes (binary suffixes when whole: `6789Ki`), the window as Go
prints a duration.
"""

from __future__ import annotations

import datetime
from fractions import Fraction
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.api.resourcequota import format_quantity
from kybernetes.api.times import format_time
from kybernetes.apiserver.metricsstore import MetricsStore, Usage

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "cpu_quantity",
    "go_duration",
    "memory_quantity",
    "metrics_for_nodes",
    "metrics_for_pods",
    "metrics_table",
    "node_metrics",
    "pod_metrics",
]

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"

Obj = dict[str, Any]


def cpu_quantity(nanocores: int) -> str:
    """Nanocores as a canonical decimal Quantity: 12345000 -> "12345u", 0 -> "0"."""
    return format_quantity(Fraction(nanocores, 10**9))


def memory_quantity(value: int) -> str:
    """Bytes as a canonical binary Quantity: whole KiB/MiB/... get their suffix, the
    rest stay plain bytes (a BinarySI Quantity never takes a decimal suffix)."""
    if value < 1024 or value % 1024:
        return str(value)
    return format_quantity(Fraction(value), binary=True)


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it: 15.004 -> "15.004s", 0.5 -> "500ms"."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{_decimal(nanos, size)}{unit}"
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{_decimal(rest, 10**9)}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def _usage(usage: Usage) -> dict[str, str]:
    return {"cpu": cpu_quantity(usage.cpu_nanocores), "memory": memory_quantity(usage.memory)}


def _stamp(seconds: float) -> str:
    return format_time(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


def _meta(source: Obj, now: datetime.datetime, *, namespaced: bool) -> Obj:
    meta = source.get("metadata") or {}
    out: Obj = {"name": meta.get("name", "")}
    if namespaced:
        out["namespace"] = meta.get("namespace", "")
    out["creationTimestamp"] = format_time(now)
    if meta.get("labels"):
        out["labels"] = meta["labels"]
    return out


def node_metrics(node: Obj, usage: Usage, now: datetime.datetime) -> Obj:
    """The NodeMetrics of `node` (a Node object)."""
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": _meta(node, now, namespaced=False),
            "timestamp": _stamp(usage.timestamp), "window": go_duration(usage.window),
            "usage": _usage(usage)}  # fmt: skip


def pod_metrics(pod: Obj, pod_usage: Usage, containers: dict[str, Usage],
                now: datetime.datetime) -> Obj:  # fmt: skip
    """The PodMetrics of `pod` (a Pod object): its containers in the pod's order."""
    spec = pod.get("spec") or {}
    order = [c.get("name") for key in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(key) or []]  # fmt: skip
    names = sorted(containers, key=lambda n: (order.index(n) if n in order else len(order), n))
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": _meta(pod, now, namespaced=True),
            "timestamp": _stamp(pod_usage.timestamp), "window": go_duration(pod_usage.window),
            "containers": [{"name": n, "usage": _usage(containers[n])} for n in names]}  # fmt: skip


def _sum_usage(item: Obj) -> dict[str, str]:
    if "usage" in item:
        return dict(item["usage"])
    cpu = sum(_parse_cpu(c["usage"]["cpu"]) for c in item.get("containers") or [])
    memory = sum(_parse_memory(c["usage"]["memory"]) for c in item.get("containers") or [])
    return {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}


def _parse_cpu(text: str) -> int:
    return int(parse_quantity(text) * 10**9)


def _parse_memory(text: str) -> int:
    return int(parse_quantity(text))


def metrics_table(items: list[Obj], *, include_object: str = "Metadata") -> Obj:
    """The Table metrics-server gives: Name, cpu, memory (a pod's: its containers'
    sum) and Window."""
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource",
         "priority": 0},
        {"name": "cpu", "type": "string", "format": "quantity", "description": "", "priority": 0},
        {"name": "memory", "type": "string", "format": "quantity", "description": "",
         "priority": 0},
        {"name": "Window", "type": "string", "format": "duration", "description": "",
         "priority": 0},
    ]  # fmt: skip
    rows = []
    for item in items:
        usage = _sum_usage(item)
        row: Obj = {"cells": [item["metadata"]["name"], usage["cpu"], usage["memory"],
                              item["window"]]}  # fmt: skip
        if include_object == "Object":
            row["object"] = item
        elif include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": item["metadata"]}  # fmt: skip
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": columns, "rows": rows}  # fmt: skip


def metrics_for_nodes(nodes: list[Obj], store: MetricsStore, now: datetime.datetime) -> list[Obj]:
    """NodeMetrics of those of `nodes` that have them, by name."""
    items = []
    for node in nodes:
        usage = store.node(str(node["metadata"]["name"]))
        if usage is not None:
            items.append(node_metrics(node, usage, now))
    return sorted(items, key=lambda o: o["metadata"]["name"])


def metrics_for_pods(pods: list[Obj], store: MetricsStore, now: datetime.datetime) -> list[Obj]:
    """PodMetrics of those of `pods` that have them, by namespace and name."""
    items = []
    for pod in pods:
        meta = pod["metadata"]
        found = store.pod(str(meta.get("namespace", "")), str(meta["name"]))
        if found is not None:
            items.append(pod_metrics(pod, found[0], found[1], now))
    return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
