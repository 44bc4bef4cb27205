"""Objects and a cache-filled ClusterView for the DNS tests (no I/O)."""

from __future__ import annotations

from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.dns.view import ClusterView

Obj = dict[str, Any]
_rv = iter(range(1, 1_000_000))


def meta(name: str, namespace: str = "default", **labels: str) -> Obj:
    return {"name": name, "namespace": namespace, "resourceVersion": str(next(_rv)),
            "labels": labels}  # fmt: skip


def service(name: str, ip: str | None = "10.96.0.50", namespace: str = "default",
            ports: list[Obj] | None = None, **spec: Any) -> Obj:  # fmt: skip
    body: Obj = {"ports": ports if ports is not None else
                 [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}  # fmt: skip
    if ip is not None:
        body["clusterIP"] = ip
        body["clusterIPs"] = [ip]
    return {"metadata": meta(name, namespace), "spec": body}


def endpoint_slice(service_name: str, endpoints: list[Obj], *, name: str = "",
                   namespace: str = "default", ports: list[Obj] | None = None,
                   family: str = "IPv4") -> Obj:  # fmt: skip
    return {
        "metadata": meta(name or f"{service_name}-abc", namespace,
                         **{"kubernetes.io/service-name": service_name}),
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports if ports is not None else [{"name": "http", "port": 8080,
                                                   "protocol": "TCP"}],
    }  # fmt: skip


def endpoint(ip: str, *, ready: bool | None = True, hostname: str = "") -> Obj:
    ep: Obj = {"addresses": [ip]}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    if hostname:
        ep["hostname"] = hostname
    return ep


def pod(name: str, ip: str, namespace: str = "default") -> Obj:
    return {"metadata": meta(name, namespace), "status": {"podIP": ip, "podIPs": [{"ip": ip}]}}


class Caches:
    """A ClusterView over informers that are filled by hand, as watch events would."""

    def __init__(self, *, pods: bool = True) -> None:
        factory = InformerFactory(None)  # type: ignore[arg-type] - never started
        self.view = ClusterView.from_factory(factory, pods=pods)

    def add(self, *objs: Obj) -> Caches:
        for obj in objs:
            self._informer(obj)._upsert(obj)
        return self

    def remove(self, obj: Obj) -> None:
        self._informer(obj)._delete(obj)

    def _informer(self, obj: Obj) -> Informer:
        if "addressType" in obj:
            return self.view.slices
        if "status" in obj:
            assert self.view.pods is not None
            return self.view.pods
        return self.view.services
