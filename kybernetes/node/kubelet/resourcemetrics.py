"""The kubelet's `/metrics/resource`: node, pod and container CPU and memory.

What metrics-server (and our API server's scraper) reads to answer
`kubectl top`. The runc runtime puts a pod at cgroup `kubepods/pod<uid>` and
each container at `kubepods/pod<uid>/<container id>`; every running container
the kubelet knows is read there, and its pod from the pod's cgroup. The node
is the root cgroup (cgroupstats.py). A runtime without cgroups (process)
reports the node only: its containers are host processes with no cgroup of
their own, and a figure made up from /proc would not be the container's.

Each sample carries the time its cgroup was read, so the scraper's rates do
not depend on when it scraped. A container whose cgroup cannot be read (it
has just ended) is left out, and `scrape_error` is 1 only when the node
itself cannot be read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.api.resourcemetrics import (
    CONTAINER_CPU,
    CONTAINER_MEMORY,
    CONTAINER_START,
    NODE_CPU,
    NODE_MEMORY,
    POD_CPU,
    POD_MEMORY,
    SCRAPE_ERROR,
    Sample,
    render_exposition,
)
from kybernetes.api.times import parse_time
from kybernetes.node.kubelet.cgroupstats import CGROUP_ROOT, PROC, CgroupStats, read_cgroup
from kybernetes.node.kubelet.podworker import PodRecord

__all__ = ["ContainerRef", "ResourceMetrics", "collect", "pod_cgroup", "running_containers"]


@dataclass(frozen=True)
class ContainerRef:
    """A running container, as the kubelet knows it."""

    namespace: str
    pod: str
    pod_uid: str
    container: str
    container_id: str
    started_at: float  # unix seconds


def pod_cgroup(pod_uid: str) -> str:
    """The pod's cgroup parent, as the runc runtime makes it (runtime/runc.py)."""
    return f"kubepods/pod{pod_uid}"


Obj = dict[str, Any]


def _load_record(path: Path) -> PodRecord | None:
    try:
        return PodRecord.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running_containers(
    pods: list[Obj], *, pods_dir: Path, exited: Callable[[str], bool]
) -> list[ContainerRef]:
    """The current run of every container of `pods` that has not ended, from the
    records the pod workers keep in `pods_dir/<uid>/state.json` (blocking)."""
    refs = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        record = _load_record(pods_dir / uid / "state.json") if uid else None
        for name, attempts in (record.attempts if record else {}).items():
            last = attempts[-1] if attempts else None
            started = parse_time(last.started_at) if last else None
            if last is None or started is None or exited(last.container_id):
                continue
            namespace, pod_name = str(meta.get("namespace", "")), str(meta.get("name", ""))
            refs.append(ContainerRef(namespace, pod_name, uid, name, last.container_id,
                                     started.timestamp()))  # fmt: skip
    return refs


def _usage(name_cpu: str, name_memory: str, stats: CgroupStats, labels: dict[str, str],
           now_ms: int) -> list[Sample]:  # fmt: skip
    return [Sample(name_cpu, stats.cpu_ns / 1e9, now_ms, labels),
            Sample(name_memory, float(stats.memory_working_set), now_ms, labels)]  # fmt: skip


def _read(relative: str, root: Path, proc: Path) -> CgroupStats | None:
    try:
        return read_cgroup(relative, root=root, proc=proc)
    except (OSError, ValueError):
        return None


def collect(
    containers: list[ContainerRef], *, root: Path, proc: Path, clock: Callable[[], float]
) -> list[Sample]:
    """Every sample of the exposition (blocking: reads files)."""
    samples: list[Sample] = []
    node = _read("", root, proc)
    now_ms = int(clock() * 1000)
    if node is not None:
        samples += _usage(NODE_CPU, NODE_MEMORY, node, {}, now_ms)
    pods: dict[str, dict[str, str]] = {}
    for ref in containers:
        stats = _read(f"{pod_cgroup(ref.pod_uid)}/{ref.container_id}", root, proc)
        if stats is None:
            continue
        labels = {"container": ref.container, "namespace": ref.namespace, "pod": ref.pod}
        now_ms = int(clock() * 1000)
        samples += _usage(CONTAINER_CPU, CONTAINER_MEMORY, stats, labels, now_ms)
        samples.append(Sample(CONTAINER_START, ref.started_at, now_ms, labels))
        pods[ref.pod_uid] = {"namespace": ref.namespace, "pod": ref.pod}
    for uid, labels in pods.items():
        stats = _read(pod_cgroup(uid), root, proc)
        if stats is not None:
            samples += _usage(POD_CPU, POD_MEMORY, stats, labels, int(clock() * 1000))
    samples.append(Sample(SCRAPE_ERROR, 0.0 if node is not None else 1.0))
    return samples


Containers = Callable[[list[Obj]], list[ContainerRef]]


class ResourceMetrics:
    """The exposition of this node, read when asked (one read per scrape).

    `pods` lists the node's pods (called on the event loop: it reads the
    kubelet's informer); `containers` finds their running containers (called
    in a thread: it reads files), None when the runtime gives them no cgroup.
    """

    def __init__(self, pods: Callable[[], list[Obj]], containers: Containers | None, *,
                 root: Path = CGROUP_ROOT, proc: Path = PROC,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._pods = pods
        self._containers = containers
        self._root = root
        self._proc = proc
        self._clock = clock

    def _collect(self, pods: list[Obj]) -> list[Sample]:
        running = self._containers(pods) if self._containers is not None else []
        return collect(running, root=self._root, proc=self._proc, clock=self._clock)

    async def exposition(self) -> str:
        pods = self._pods() if self._containers is not None else []
        return render_exposition(await asyncio.to_thread(self._collect, pods))
