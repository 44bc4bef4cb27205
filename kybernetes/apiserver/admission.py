"""Admission: the steps of a write that need more than the object itself.

Today that is Service IP and port allocation (what kube-apiserver's service
REST storage does): a new Service gets a ClusterIP (unless headless or
ExternalName) and NodePorts for NodePort and LoadBalancer types; a
requested value is checked and claimed; a deleted Service gives its values
back. Every claim made for a write that then fails is released again.

A new Pod also gets the DefaultTolerationSeconds plugin's tolerations (see
`default_toleration_seconds`), so that a node that goes not-ready or
unreachable evicts its pods after five minutes, not at once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.allocators import NodePorts, RangeFull, ServiceIPs
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.service_types import needs_cluster_ip

__all__ = ["Admission", "Undo", "default_toleration_seconds"]

Undo = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def _is_service(rt: ResourceType) -> bool:
    return rt.group == "" and rt.kind == "Service"


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    kind = spec.get("type", "ClusterIP")
    if kind == "NodePort":
        return True
    return kind == "LoadBalancer" and bool(spec.get("allocateLoadBalancerNodePorts", True))


def _invalid(obj: Obj, field: str, message: str) -> errors.ApiError:
    name = obj.get("metadata", {}).get("name", "")
    return errors.invalid("Service", name, [Cause(field, "FieldValueInvalid", message)])


class Admission:
    def __init__(self, service_ips: ServiceIPs, node_ports: NodePorts) -> None:
        self.service_ips = service_ips
        self.node_ports = node_ports

    def allocates(self, rt: ResourceType) -> bool:
        """Whether creating this kind claims values (so a duplicate must fail first)."""
        return _is_service(rt)

    async def admit_create(self, rt: ResourceType, obj: Obj) -> Undo:
        if rt.group == "" and rt.kind == "Pod":
            default_toleration_seconds(obj)
        if not _is_service(rt):
            return _nothing
        owner = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
        releases: list[Undo] = []

        async def undo() -> None:
            for release in releases:
                await release()

        try:
            await self._assign_cluster_ip(obj, owner, releases)
            await self._assign_node_ports(obj, owner, releases, keep=())
        except BaseException:
            await undo()
            raise
        return undo

    async def _assign_cluster_ip(self, obj: Obj, owner: str, releases: list[Undo]) -> None:
        spec = obj["spec"]
        if spec.get("type") == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return
        wanted = spec.get("clusterIP") or ""
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        if wanted:
            if not self.service_ips.contains(wanted):
                raise _invalid(obj, "spec.clusterIP", f'Invalid value: "{wanted}": provided IP is '
                               f"not in the valid range. The range of valid IPs is "
                               f"{self.service_ips.network}")  # fmt: skip
            if not await self.service_ips.claim(wanted, owner):
                raise _invalid(obj, "spec.clusterIP", f'Invalid value: "{wanted}": provided IP '
                               "is already allocated")  # fmt: skip
        else:
            try:
                wanted = await self.service_ips.allocate(owner)
            except RangeFull as err:
                raise errors.internal(str(err)) from err
        ip = wanted
        releases.append(lambda: self.service_ips.release(ip))
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    async def _assign_node_ports(
        self, obj: Obj, owner: str, releases: list[Undo], *, keep: tuple[int, ...]
    ) -> None:
        spec = obj["spec"]
        if not _needs_node_ports(spec):
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
            return
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if wanted in keep:
                continue
            if wanted:
                if not isinstance(wanted, int) or not self.node_ports.contains(wanted):
                    valid = f"{self.node_ports.low}-{self.node_ports.high}"
                    raise _invalid(obj, f"spec.ports[{i}].nodePort", f"Invalid value: {wanted}: "
                                   "provided port is not in the valid range. The range of valid "
                                   f"ports is {valid}")  # fmt: skip
                if not await self.node_ports.claim(wanted, owner):
                    raise _invalid(obj, f"spec.ports[{i}].nodePort",
                                   f"Invalid value: {wanted}: provided port is already "
                                   "allocated")  # fmt: skip
            else:
                try:
                    wanted = await self.node_ports.allocate(owner)
                except RangeFull as err:
                    raise errors.internal(str(err)) from err
            port["nodePort"] = wanted
            releases.append(functools.partial(self.node_ports.release, wanted))

    async def admit_update(self, rt: ResourceType, new: Obj, old: Obj) -> Undo:
        if not _is_service(rt):
            return _nothing
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        owner = f"{new['metadata'].get('namespace')}/{new['metadata']['name']}"
        kept = tuple(p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort"))
        releases: list[Undo] = []
        try:
            if needs_cluster_ip(spec) and not old_spec.get("clusterIP"):
                # From ExternalName to a type with a ClusterIP: one is allocated (or the
                # requested one claimed) as for a new Service.
                await self._assign_cluster_ip(new, owner, releases)
            elif needs_cluster_ip(spec):
                self._keep_cluster_ip(new, old_spec)
            # A port that keeps its number keeps its claim; only new ones are claimed.
            await self._assign_node_ports(new, owner, releases, keep=kept)
        except BaseException:
            for release in releases:
                await release()
            raise

        async def undo() -> None:
            for release in releases:
                await release()

        return undo

    @staticmethod
    def _keep_cluster_ip(new: Obj, old_spec: dict[str, Any]) -> None:
        """A ClusterIP stays for the Service's life: left out of an update, it is kept."""
        spec = new["spec"]
        old_ip = old_spec.get("clusterIP")
        if spec.get("clusterIP") in (None, ""):
            spec["clusterIP"] = old_ip
            spec["clusterIPs"] = old_spec.get("clusterIPs") or [old_ip]
        if spec.get("clusterIP") != old_ip:
            # kube prints the new clusterIPs, as Go prints a []string: ["None"].
            shown = json.dumps([spec.get("clusterIP")], separators=(",", ":"))
            raise _invalid(new, "spec.clusterIPs[0]", f"Invalid value: {shown}: may not change "
                           "once set")  # fmt: skip

    async def after_update(self, rt: ResourceType, new: Obj, old: Obj) -> None:
        if not _is_service(rt):
            return
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and old_ip != "None" and not (new.get("spec") or {}).get("clusterIP"):
            await self.service_ips.release(old_ip)  # now an ExternalName Service
        now = {p.get("nodePort") for p in (new.get("spec") or {}).get("ports") or []}
        for port in (old.get("spec") or {}).get("ports") or []:
            if port.get("nodePort") and port["nodePort"] not in now:
                await self.node_ports.release(port["nodePort"])

    async def after_delete(self, rt: ResourceType, obj: Obj) -> None:
        if not _is_service(rt):
            return
        spec = obj.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            await self.service_ips.release(ip)
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                await self.node_ports.release(port["nodePort"])


# -- DefaultTolerationSeconds ---------------------------------------------------------

DEFAULT_TOLERATION_SECONDS = 300
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"


def default_toleration_seconds(pod: Obj, seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
    """Kubernetes' DefaultTolerationSeconds admission plugin, on pod creation.

    A pod that does not already tolerate the NoExecute `not-ready` (then
    `unreachable`) taint gets `Exists` for it with `tolerationSeconds`; an
    empty key or an empty effect in a pod's own toleration counts as
    tolerating it, as the plugin reads them.
    """
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations") or []
    if not isinstance(tolerations, list):
        return

    def tolerated(key: str) -> bool:
        return any(
            isinstance(t, dict)
            and t.get("key") in (key, "", None)
            and t.get("effect") in ("NoExecute", "", None)
            for t in tolerations
        )

    added = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
        for key in (_NOT_READY, _UNREACHABLE)
        if not tolerated(key)
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]
