"""What the DNS server knows of the cluster: informer caches read through indexes.

The records are never copied out of the caches into a zone of their own:
every answer reads the shared informers (Services, EndpointSlices, Pods)
through the indexes below, so a watch event is visible to the next query
with no rebuild. `generation` counts the changes that can alter an answer,
and `generation_of(namespace)` those of one namespace; the answer cache
(cache.py) tags each answer with the one it depends on, which is what keeps
cached answers from outliving a Service change while a rollout in one
namespace leaves the others' answers cached. Pod events count only when a
pod's IPs change: status updates (conditions, restarts) are frequent and
change no record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer

__all__ = [
    "BY_CLUSTER_IP",
    "BY_ENDPOINT_IP",
    "BY_POD_IP",
    "BY_SERVICE",
    "ClusterView",
    "SERVICE_NAME_LABEL",
    "cluster_ips",
    "endpoint_ips",
    "pod_ips",
    "slice_service",
]

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
BY_CLUSTER_IP = "dns-cluster-ip"
BY_SERVICE = "dns-service"
BY_ENDPOINT_IP = "dns-endpoint-ip"
BY_POD_IP = "dns-pod-ip"
BY_NAMESPACE = "dns-namespace"


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def cluster_ips(service: Obj) -> list[str]:
    """The ClusterIPs of a service ("None" of headless services is no IP)."""
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [str(ip) for ip in ips if ip and ip != "None"]


def slice_service(slice_: Obj) -> list[str]:
    """`namespace/service` of an EndpointSlice, from its service-name label."""
    labels = (slice_.get("metadata") or {}).get("labels") or {}
    name = labels.get(SERVICE_NAME_LABEL)
    return [f"{_namespace(slice_)}/{name}"] if name else []


def endpoint_ips(slice_: Obj) -> list[str]:
    return [str(a) for ep in slice_.get("endpoints") or [] for a in ep.get("addresses") or []]


def pod_ips(pod: Obj) -> list[str]:
    """`namespace/ip` for every IP of a pod (podIPs, or the older podIP)."""
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    return [f"{_namespace(pod)}/{ip}" for ip in ips if ip]


def _namespace_index(obj: Obj) -> list[str]:
    return [_namespace(obj)]


class ClusterView:
    """The informer caches the records are read from, and a change counter."""

    def __init__(self, services: Informer, slices: Informer, pods: Informer | None) -> None:
        self.services = services
        self.slices = slices
        self.pods = pods  # None: pod records are off (the server answers none)
        self.generation = 0  # every change
        self._generations: dict[str, int] = {}  # the changes in each namespace
        services.add_index(BY_CLUSTER_IP, cluster_ips)
        services.add_index(BY_NAMESPACE, _namespace_index)
        slices.add_index(BY_SERVICE, slice_service)
        slices.add_index(BY_ENDPOINT_IP, endpoint_ips)
        self._watch(services, lambda old, new: old.get("spec") != new.get("spec"))
        self._watch(
            slices,
            lambda old, new: (
                (old.get("endpoints"), old.get("ports"), slice_service(old))
                != (new.get("endpoints"), new.get("ports"), slice_service(new))
            ),
        )
        if pods is not None:
            pods.add_index(BY_POD_IP, pod_ips)
            self._watch(pods, lambda old, new: pod_ips(old) != pod_ips(new), only_with=pod_ips)

    @classmethod
    def from_factory(cls, informers: InformerFactory, *, pods: bool = True) -> ClusterView:
        return cls(
            informers.informer("", "v1", "services"),
            informers.informer("discovery.k8s.io", "v1", "endpointslices"),
            informers.informer("", "v1", "pods") if pods else None,
        )

    @property
    def informers(self) -> list[Informer]:
        return [i for i in (self.services, self.slices, self.pods) if i is not None]

    def _watch(
        self,
        informer: Informer,
        changed: Callable[[Obj, Obj], bool],
        only_with: Callable[[Obj], list[str]] | None = None,
    ) -> None:
        def bump(obj: Obj) -> None:
            if only_with is None or only_with(obj):
                self._changed(obj)

        def update(old: Obj, new: Obj) -> None:
            if changed(old, new):
                self._changed(new)

        informer.on_add(bump)
        informer.on_update(update)
        informer.on_delete(bump)

    def _changed(self, obj: Obj) -> None:
        namespace = _namespace(obj)
        self.generation += 1
        self._generations[namespace] = self._generations.get(namespace, 0) + 1

    def generation_of(self, namespace: str | None) -> int:
        """The change count an answer about `namespace` depends on (None: any change)."""
        return self.generation if namespace is None else self._generations.get(namespace, 0)

    # -- reads -------------------------------------------------------------------------

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.services.get(f"{namespace}/{name}")

    def namespace_has_services(self, namespace: str) -> bool:
        return bool(self.services.by_index(BY_NAMESPACE, namespace))

    def services_with_ip(self, ip: str) -> list[Obj]:
        return self.services.by_index(BY_CLUSTER_IP, ip)

    def slices_of(self, namespace: str, name: str) -> list[Obj]:
        return self.slices.by_index(BY_SERVICE, f"{namespace}/{name}")

    def slices_with_ip(self, ip: str) -> list[Obj]:
        return self.slices.by_index(BY_ENDPOINT_IP, ip)

    def pod_has_ip(self, namespace: str, ip: str) -> bool:
        return self.pods is not None and bool(self.pods.by_index(BY_POD_IP, f"{namespace}/{ip}"))
