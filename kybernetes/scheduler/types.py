"""What the scheduler knows about a pod and a node, computed once per object version.

kube-scheduler's PodInfo and NodeInfo: a pod's requests, host ports,
affinity terms and tolerations are parsed when the informer delivers the
pod, not in every scheduling cycle; a node's requested resources, pod count,
ports and per-controller pod counts are sums kept up to date as pods are
added and removed, so a filter is a few integer comparisons. Plugins read
these; only the cache (cache.py) writes them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from kybernetes.api.resourcefit import Resources, allowed_pods, pod_requests
from kybernetes.api.selectors import SelectorError
from kybernetes.api.selectors.labels import LabelSelector, label_selector_from_object

__all__ = [
    "DEFAULT_MILLI_CPU",
    "DEFAULT_MEMORY",
    "AffinityTerm",
    "NodeInfo",
    "PodInfo",
    "Resources",
    "WeightedTerm",
    "normalize_image",
    "pod_is_terminal",
]

Obj = dict[str, Any]

# What a container without requests counts as when scoring (never when
# fitting), so that many request-less pods do not all land on one node
# (kube-scheduler's DefaultMilliCPURequest and DefaultMemoryRequest).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

# NodeInfo versions, unique across nodes and copies: any change takes the next one.
_GENERATIONS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A pod (anti-)affinity term: pods matching `selector` in `namespaces`
    (None: every namespace), counted by the value of `topology_key`."""

    selector: LabelSelector
    namespaces: frozenset[str] | None
    topology_key: str

    def matches(self, pod: PodInfo) -> bool:
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            return False
        return self.selector.matches(pod.labels)


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    term: AffinityTerm
    weight: int


def _terms(raw: Any, namespace: str) -> list[AffinityTerm]:
    terms: list[AffinityTerm] = []
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        try:
            selector = label_selector_from_object(item.get("labelSelector"))
        except SelectorError:
            continue
        names = item.get("namespaces") or []
        # An empty namespaceSelector ({}) means every namespace; a non-empty one
        # would need namespace labels, which this scheduler does not watch.
        if names:
            namespaces: frozenset[str] | None = frozenset(names)
        elif item.get("namespaceSelector") is not None:
            namespaces = None
        else:
            namespaces = frozenset((namespace,))
        terms.append(AffinityTerm(selector, namespaces, str(item.get("topologyKey") or "")))
    return terms


def _weighted(raw: Any, namespace: str) -> list[WeightedTerm]:
    out: list[WeightedTerm] = []
    for item in raw or []:
        if isinstance(item, dict):
            for term in _terms([item.get("podAffinityTerm") or {}], namespace):
                out.append(WeightedTerm(term, int(item.get("weight") or 0)))
    return out


def normalize_image(name: str) -> str:
    """An image reference as nodes report it: registry, repository and tag spelled out."""
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = ("docker.io/" if "/" in name else "docker.io/library/") + name
    return name


def pod_is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class PodInfo:
    """One pod version, with everything the plugins need already parsed."""

    __slots__ = (
        "affinity_terms",
        "anti_affinity_terms",
        "controller_uid",
        "deleting",
        "host_ports",
        "images",
        "key",
        "labels",
        "name",
        "namespace",
        "node_name",
        "non_zero_cpu",
        "non_zero_memory",
        "obj",
        "preferred_affinity",
        "preferred_anti_affinity",
        "priority",
        "requests",
        "start_time",
        "tolerations",
        "uid",
    )

    @staticmethod
    def key_of(obj: Obj) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"

    def __init__(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        self.obj = obj
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid") or ""
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.priority = int(spec.get("priority") or 0)
        self.start_time: str = (
            (obj.get("status") or {}).get("startTime") or meta.get("creationTimestamp") or ""
        )
        owners = meta.get("ownerReferences") or []
        self.controller_uid = next((str(r.get("uid")) for r in owners if r.get("controller")), "")
        self.tolerations: list[Obj] = [
            t for t in spec.get("tolerations") or [] if isinstance(t, dict)
        ]
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        self.images = [normalize_image(str(c["image"])) for c in containers if c.get("image")]
        self.requests, self.non_zero_cpu, self.non_zero_memory = pod_requests(
            spec, cpu_floor=DEFAULT_MILLI_CPU, memory_floor=DEFAULT_MEMORY
        )
        self.host_ports: list[tuple[str, str, int]] = []
        for container in containers:
            for port in container.get("ports") or []:
                if isinstance(port, dict) and port.get("hostPort"):
                    self.host_ports.append(
                        (
                            str(port.get("hostIP") or "0.0.0.0"),
                            str(port.get("protocol") or "TCP"),
                            int(port["hostPort"]),
                        )
                    )
        affinity = spec.get("affinity") or {}
        pa = affinity.get("podAffinity") or {}
        paa = affinity.get("podAntiAffinity") or {}
        required = "requiredDuringSchedulingIgnoredDuringExecution"
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        self.affinity_terms = _terms(pa.get(required), self.namespace)
        self.anti_affinity_terms = _terms(paa.get(required), self.namespace)
        self.preferred_affinity = _weighted(pa.get(preferred), self.namespace)
        self.preferred_anti_affinity = _weighted(paa.get(preferred), self.namespace)


class NodeInfo:
    """A node and the sums over the pods placed on it (assumed ones included)."""

    __slots__ = (
        "allocatable",
        "allowed_pods",
        "controller_counts",
        "generation",
        "images",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_memory",
        "pods",
        "requested",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.generation = next(_GENERATIONS)
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.allocatable = Resources()
        self.allowed_pods = 0
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.images: dict[str, int] = {}
        self.requested = Resources()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.used_ports: dict[tuple[str, int], set[str]] = {}
        self.controller_counts: dict[str, int] = {}

    def set_node(self, node: Obj) -> None:
        self.generation = next(_GENERATIONS)
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.node = node
        self.labels = (node.get("metadata") or {}).get("labels") or {}
        allocatable = status.get("allocatable") or status.get("capacity") or {}
        self.allocatable = Resources.from_list(allocatable)
        self.allowed_pods = allowed_pods(allocatable)
        self.taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
        self.unschedulable = bool(spec.get("unschedulable"))
        self.images = {}
        for image in status.get("images") or []:
            size = int(image.get("sizeBytes") or 0)
            for name in image.get("names") or []:
                self.images[str(name)] = size

    def add_pod(self, pod: PodInfo, sign: int = 1) -> None:
        """Count `pod` in (sign 1) or out (sign -1) of the sums."""
        self.generation = next(_GENERATIONS)
        self.requested.add(pod.requests, sign)
        self.non_zero_cpu += sign * pod.non_zero_cpu
        self.non_zero_memory += sign * pod.non_zero_memory
        if sign > 0:
            self.pods[pod.key] = pod
        else:
            self.pods.pop(pod.key, None)
        for ip, protocol, port in pod.host_ports:
            ips = self.used_ports.setdefault((protocol, port), set())
            if sign > 0:
                ips.add(ip)
            else:
                ips.discard(ip)
                if not ips:
                    del self.used_ports[(protocol, port)]
        if pod.controller_uid:
            count = self.controller_counts.get(pod.controller_uid, 0) + sign
            if count > 0:
                self.controller_counts[pod.controller_uid] = count
            else:
                self.controller_counts.pop(pod.controller_uid, None)

    def without(self, pods: list[PodInfo]) -> NodeInfo:
        """A copy of this node with `pods` taken off (preemption's what-if)."""
        clone = NodeInfo(self.name)
        clone.node, clone.labels, clone.allocatable = self.node, self.labels, self.allocatable
        clone.allowed_pods, clone.taints = self.allowed_pods, self.taints
        clone.unschedulable, clone.images = self.unschedulable, self.images
        clone.requested = self.requested.copy()
        clone.non_zero_cpu, clone.non_zero_memory = self.non_zero_cpu, self.non_zero_memory
        clone.pods = dict(self.pods)
        clone.used_ports = {k: set(v) for k, v in self.used_ports.items()}
        clone.controller_counts = dict(self.controller_counts)
        for pod in pods:
            clone.add_pod(pod, -1)
        return clone

    def with_pods(self, pods: list[PodInfo]) -> NodeInfo:
        """A copy of this node with `pods` added (pods nominated to it, say)."""
        clone = self.without([])
        for pod in pods:
            clone.add_pod(pod)
        return clone
