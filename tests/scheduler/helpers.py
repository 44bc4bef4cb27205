"""Pods and nodes for pure scheduler tests."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.types import NodeInfo, PodInfo

Obj = dict[str, Any]


def make_pod(
    name: str = "p",
    *,
    namespace: str = "default",
    cpu: str = "",
    memory: str = "",
    labels: dict[str, str] | None = None,
    priority: int = 0,
    node: str = "",
    uid: str = "",
    owner: str = "",
    **spec: Any,
) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: Obj = {"name": "c", "image": spec.pop("image", "nginx"),
                      "resources": {"requests": requests}}  # fmt: skip
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels or {},
                 "uid": uid or f"uid-{name}"}  # fmt: skip
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet",
                                    "name": owner}]  # fmt: skip
    body: Obj = {"metadata": meta,
                 "spec": {"containers": [container], "priority": priority, **spec}}  # fmt: skip
    if node:
        body["spec"]["nodeName"] = node
    return PodInfo(body)


def make_node_obj(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    extra: dict[str, str] | None = None,
    images: list[Obj] | None = None,
) -> Obj:
    amounts = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "10Gi",
               **(extra or {})}  # fmt: skip
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": amounts, "capacity": amounts, "images": images or []},
    }


def make_node(name: str = "n1", **kwargs: Any) -> NodeInfo:
    info = NodeInfo(name)
    info.set_node(make_node_obj(name, **kwargs))
    return info


def cluster(*nodes: Obj, pods: tuple[PodInfo, ...] = ()) -> Cache:
    cache = Cache()
    for node in nodes:
        cache.add_node(node)
    for pod in pods:
        cache.add_pod(pod)
    return cache
