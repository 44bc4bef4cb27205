"""The resource metrics the API server keeps: the last two points of each
node and container, and the usage between them, as metrics-server keeps them.

A scrape of a kubelet's `/metrics/resource` becomes a `Batch` (`decode_batch`);
storing a node's batch moves each series' last point to `prev` when the new
one is newer. Usage is the CPU rate between the two points (cumulative
nanoseconds over their time difference, which is the `window`) and the last
memory, so an object appears only from its second scrape on. A pod appears
when every container reported has two points; its timestamp and window are
its earliest container's. A container restarted in between (a later start
time) starts over. As metrics-server does, a container started less than one
resolution ago (but at least 10 s ago) gets a first point at its start with
no CPU used, so a new pod shows up after one scrape instead of two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.api.resourcemetrics import (
    CONTAINER_CPU,
    CONTAINER_MEMORY,
    CONTAINER_START,
    NODE_CPU,
    NODE_MEMORY,
    Sample,
)

__all__ = ["Batch", "MetricsStore", "Point", "Usage", "decode_batch", "usage_between"]

FRESH_CONTAINER_MIN_S = 10.0  # metrics-server's freshContainerMinMetricsResolution


@dataclass(frozen=True)
class Point:
    timestamp: float  # unix seconds (the kubelet's, in ms)
    cpu_ns: int  # cumulative
    memory: int  # working set, bytes
    start_time: float = 0.0  # containers: when it started


@dataclass(frozen=True)
class Usage:
    timestamp: float
    window: float  # seconds
    cpu_nanocores: int
    memory: int


PodKey = tuple[str, str]  # (namespace, name)


@dataclass
class Batch:
    """One node's scrape."""

    node: Point | None = None
    pods: dict[PodKey, dict[str, Point]] = field(default_factory=dict)


def _complete(values: dict[str, float]) -> Point | None:
    """A point from its samples; None unless it has a time, CPU and memory (metrics-server
    drops a zero CPU or memory as a series not yet filled)."""
    cpu, memory = values.get("cpu", 0.0), values.get("memory", 0.0)
    if not values.get("timestamp") or cpu <= 0 or memory <= 0:
        return None
    return Point(values["timestamp"], round(cpu * 1e9), int(memory), values.get("start", 0.0))


def decode_batch(samples: list[Sample], default_time: float) -> Batch:
    """A node's samples as one Batch (a sample without a timestamp: `default_time`)."""
    node: dict[str, float] = {}
    containers: dict[tuple[str, str, str], dict[str, float]] = {}
    for sample in samples:
        when = sample.timestamp_ms / 1000 if sample.timestamp_ms is not None else default_time
        if sample.name in (NODE_CPU, NODE_MEMORY):
            node["cpu" if sample.name == NODE_CPU else "memory"] = sample.value
            node["timestamp"] = when
            continue
        if sample.name not in (CONTAINER_CPU, CONTAINER_MEMORY, CONTAINER_START):
            continue
        labels = sample.labels
        key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
        values = containers.setdefault(key, {})
        if sample.name == CONTAINER_START:
            values["start"] = sample.value
        else:
            values["cpu" if sample.name == CONTAINER_CPU else "memory"] = sample.value
            values["timestamp"] = when
    batch = Batch(node=_complete(node))
    incomplete: set[PodKey] = set()
    for (namespace, pod, container), values in containers.items():
        point = _complete(values)
        if point is None:  # one container without figures: the pod is left out
            incomplete.add((namespace, pod))
        else:
            batch.pods.setdefault((namespace, pod), {})[container] = point
    for pod_key in incomplete:
        batch.pods.pop(pod_key, None)
    return batch


def usage_between(last: Point, prev: Point) -> Usage | None:
    """The usage over two points; None when they do not make a rate (a restart,
    a counter going back, no time between them)."""
    window = last.timestamp - prev.timestamp
    if last.start_time < prev.start_time or last.cpu_ns < prev.cpu_ns or window <= 0:
        return None
    rate = int((last.cpu_ns - prev.cpu_ns) / window)
    return Usage(last.timestamp, window, rate, last.memory)


def _previous(new: Point, last: Point | None, prev: Point | None) -> Point | None:
    """The point to keep before `new`: the stored last one if `new` is newer, else
    the stored previous one if still older than `new`."""
    if last is None:
        return None
    if new.timestamp > last.timestamp:
        return last
    if prev is not None and prev.timestamp < new.timestamp:
        return prev
    return None


def _container_previous(
    new: Point, last: Point | None, prev: Point | None, resolution: float
) -> Point | None:
    age = new.timestamp - new.start_time
    if new.start_time and FRESH_CONTAINER_MIN_S <= age < resolution:
        return Point(new.start_time, 0, new.memory, new.start_time)
    if last is not None and new.start_time < last.timestamp:  # not restarted since
        return _previous(new, last, prev)
    return None


@dataclass
class _Series:
    last: dict[str, Point] = field(default_factory=dict)
    prev: dict[str, Point] = field(default_factory=dict)


class MetricsStore:
    """The points of every node's last scrapes, kept per node."""

    def __init__(self, resolution: float) -> None:
        self.resolution = resolution
        self._nodes: dict[str, tuple[Point, Point | None]] = {}
        self._pods: dict[str, dict[PodKey, _Series]] = {}  # node -> its pods
        self._index: dict[PodKey, _Series] = {}  # every node's pods

    def store(self, node_name: str, batch: Batch) -> None:
        """A node's new scrape replaces its old one (what it no longer reports goes)."""
        if batch.node is None:
            self._nodes.pop(node_name, None)
        else:
            last, prev = self._nodes.get(node_name, (None, None))
            self._nodes[node_name] = (batch.node, _previous(batch.node, last, prev))
        old = self._pods.get(node_name, {})
        pods: dict[PodKey, _Series] = {}
        for key, containers in batch.pods.items():
            before, series = old.get(key, _Series()), _Series()
            for name, point in containers.items():
                series.last[name] = point
                prev = _container_previous(point, before.last.get(name), before.prev.get(name),
                                           self.resolution)  # fmt: skip
                if prev is not None:
                    series.prev[name] = prev
            pods[key] = series
        self._replace_pods(node_name, pods)

    def _replace_pods(self, node_name: str, pods: dict[PodKey, _Series]) -> None:
        for key in self._pods.pop(node_name, {}):
            self._index.pop(key, None)
        if pods:
            self._pods[node_name] = pods
            self._index.update(pods)

    def forget(self, node_name: str) -> None:
        """A node gone (or no longer answering): none of its figures are current."""
        self._nodes.pop(node_name, None)
        self._replace_pods(node_name, {})

    def nodes(self) -> set[str]:
        return set(self._nodes)

    def node(self, name: str) -> Usage | None:
        last, prev = self._nodes.get(name, (None, None))
        return usage_between(last, prev) if last is not None and prev is not None else None

    def pod(self, namespace: str, name: str) -> tuple[Usage, dict[str, Usage]] | None:
        """The pod's (earliest) time and window and each container's usage."""
        series = self._index.get((namespace, name))
        return _pod_usage(series) if series is not None else None


def _pod_usage(series: _Series) -> tuple[Usage, dict[str, Usage]] | None:
    containers: dict[str, Usage] = {}
    for name, last in series.last.items():
        prev = series.prev.get(name)
        if prev is None:
            return None  # a container without two points: the pod waits for it
        usage = usage_between(last, prev)
        if usage is not None:
            containers[name] = usage
    if not containers:
        return None
    earliest = min(containers.values(), key=lambda u: u.timestamp)
    return earliest, containers
