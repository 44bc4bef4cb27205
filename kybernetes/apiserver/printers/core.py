"""Columns of the core/v1 kinds other than pods and events.

The cells follow kube-apiserver's printers, including their spellings of
"nothing": a Service without ports shows `<none>`, a LoadBalancer still
waiting for an address `<pending>`, a PV without a volume mode `<unset>`,
and an Endpoints whose subsets hold no ready address an empty cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import AGE, NAME, Cell, Column, format_labels, get
from kybernetes.apiserver.printers.quantity import canonical_quantity

__all__ = ["COLUMNS", "access_modes", "join_host_port"]


def _text(*path: str, default: str = "") -> Any:
    return lambda obj: str(get(obj, *path, default=default))


# -- Node ---------------------------------------------------------------------------------


def _node_status(node: Obj) -> str:
    # Only the Ready condition counts; the other conditions never show here.
    states = []
    for condition in get(node, "status", "conditions", default=[]):
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: Obj) -> str:
    """Roles from `node-role.kubernetes.io/<role>` keys and the legacy `kubernetes.io/role`."""
    roles = set()
    for key, value in get(node, "metadata", "labels", default={}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Any:
    def cell(node: Obj) -> str:
        for address in get(node, "status", "addresses", default=[]):
            if address.get("type") == kind:
                return str(address.get("address") or "")
        return "<none>"

    return cell


# -- Service and Endpoints ----------------------------------------------------------------


def _service_type(svc: Obj) -> str:
    return str(get(svc, "spec", "type", default="ClusterIP"))


def _cluster_ip(svc: Obj) -> str:
    ip = get(svc, "spec", "clusterIPs", 0) or get(svc, "spec", "clusterIP")
    return str(ip) if ip else "<none>"


def _load_balancer_addresses(status: Any) -> list[str]:
    """Ingress points of a load balancer: IP, else hostname; sorted and without repeats."""
    found = set()
    for ingress in get(status, "ingress", default=[]):
        address = ingress.get("ip") or ingress.get("hostname")
        if address:
            found.add(str(address))
    return sorted(found)


def _external_ip(svc: Obj) -> str:
    kind = _service_type(svc)
    external = [str(ip) for ip in get(svc, "spec", "externalIPs", default=[])]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        # The server always prints wide, so long lists are not cut to 16 characters.
        addresses = _load_balancer_addresses(get(svc, "status", "loadBalancer")) + external
        return ",".join(addresses) or "<pending>"
    if kind == "ExternalName":
        return str(get(svc, "spec", "externalName", default=""))
    return "<unknown>"


def _service_ports(svc: Obj) -> str:
    pieces = []
    for port in get(svc, "spec", "ports", default=[]):
        protocol = port.get("protocol") or "TCP"
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node_port}/{protocol}")
    return ",".join(pieces) or "<none>"


def join_host_port(host: str, port: Any) -> str:
    """net.JoinHostPort: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _endpoints(ep: Obj) -> str:
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [str(a.get("ip") or "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        # A headless service may have addresses and no ports.
        for port in ports or [None]:
            total += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    shown.append(ip if port is None else join_host_port(ip, port.get("port")))
    text = ",".join(shown)
    return f"{text} + {total - 3} more..." if total > 3 else text


# -- Data kinds ---------------------------------------------------------------------------


def _configmap_data(cm: Obj) -> int:
    return len(cm.get("data") or {}) + len(cm.get("binaryData") or {})


def _secret_data(secret: Obj) -> int:
    # The real server folds stringData into data on write; count a stored one the same way.
    return len(set(secret.get("data") or {}) | set(secret.get("stringData") or {}))


def _sa_secrets(sa: Obj) -> int:
    return len(sa.get("secrets") or [])


# -- Persistent volumes -------------------------------------------------------------------

_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)
_LEGACY_CLASS = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: Any) -> str:
    """Short access modes in Kubernetes' fixed order (RWO, ROX, RWX, RWOP), not the object's."""
    present = set(modes or [])
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _storage_class(obj: Obj) -> str:
    # The beta annotation, where present, wins over spec.storageClassName.
    annotations = get(obj, "metadata", "annotations", default={})
    if _LEGACY_CLASS in annotations:
        return str(annotations[_LEGACY_CLASS])
    return str(get(obj, "spec", "storageClassName", default=""))


def _volume_phase(obj: Obj) -> str:
    if get(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return str(get(obj, "status", "phase", default=""))


def _pv_capacity(pv: Obj) -> str:
    return canonical_quantity(get(pv, "spec", "capacity", "storage", default="0"))


def _pv_claim(pv: Obj) -> str:
    ref = get(pv, "spec", "claimRef")
    if not isinstance(ref, Mapping):
        return ""
    return f"{ref.get('namespace') or ''}/{ref.get('name') or ''}"


def _pvc_bound(cell: Any) -> Any:
    """Capacity and access modes show only once the claim names its volume."""
    return lambda pvc: cell(pvc) if get(pvc, "spec", "volumeName") else ""


_UNSET_CLASS = _text("spec", "volumeAttributesClassName", default="<unset>")
_VOLUME_MODE = _text("spec", "volumeMode", default="<unset>")


def _component_health(part: int) -> Cell:
    """Status, message or error of a ComponentStatus' Healthy condition, as
    kube-apiserver prints them ("Unknown" and empty without one)."""

    def cell(obj: Obj) -> str:
        for condition in obj.get("conditions") or []:
            if condition.get("type") == "Healthy":
                status = "Healthy" if condition.get("status") == "True" else "Unhealthy"
                return (status, condition.get("message", ""), condition.get("error", ""))[part]
        return ("Unknown", "", "")[part]

    return cell


COLUMNS = {
    ("", "Namespace"): [
        NAME, Column("Status", _text("status", "phase"), description="The namespace's phase."),
        AGE,
    ],
    ("", "Node"): [
        NAME,
        Column("Status", _node_status, description="Ready, NotReady or Unknown; "
               "SchedulingDisabled when cordoned."),
        Column("Roles", _node_roles, description="Roles from the node-role labels."),
        AGE,
        Column("Version", _text("status", "nodeInfo", "kubeletVersion"),
               description="The kubelet's version."),
        Column("Internal-IP", _node_address("InternalIP"), priority=1,
               description="The node's first internal address."),
        Column("External-IP", _node_address("ExternalIP"), priority=1,
               description="The node's first external address."),
        Column("OS-Image", _text("status", "nodeInfo", "osImage", default="<unknown>"),
               priority=1, description="The operating system image."),
        Column("Kernel-Version", _text("status", "nodeInfo", "kernelVersion",
                                       default="<unknown>"),
               priority=1, description="The kernel version."),
        Column("Container-Runtime", _text("status", "nodeInfo", "containerRuntimeVersion",
                                          default="<unknown>"),
               priority=1, description="The container runtime and its version."),
    ],
    ("", "Service"): [
        NAME,
        Column("Type", _service_type, description="How the service is exposed."),
        Column("Cluster-IP", _cluster_ip, description="The service's first cluster IP."),
        Column("External-IP", _external_ip,
               description="External IPs and load-balancer addresses."),
        Column("Port(s)", _service_ports, description="port[:nodePort]/protocol per port."),
        AGE,
        Column("Selector", lambda o: format_labels(get(o, "spec", "selector")), priority=1,
               description="The labels of the pods behind the service."),
    ],
    ("", "ComponentStatus"): [
        NAME,
        Column("Status", _component_health(0), description="Status of the component conditions"),
        Column("Message", _component_health(1), description="Message of the component conditions"),
        Column("Error", _component_health(2), description="Error of the component conditions"),
    ],
    ("", "Endpoints"): [
        NAME, Column("Endpoints", _endpoints, description="The first ready addresses."), AGE,
    ],
    ("", "ConfigMap"): [
        NAME, Column("Data", _configmap_data, description="Number of keys."), AGE,
    ],
    ("", "Secret"): [
        NAME,
        Column("Type", _text("type"), description="The secret's type."),
        Column("Data", _secret_data, description="Number of keys."),
        AGE,
    ],
    ("", "ServiceAccount"): [
        NAME, Column("Secrets", _sa_secrets, description="Number of listed secrets."), AGE,
    ],
    ("", "PersistentVolume"): [
        NAME,
        Column("Capacity", _pv_capacity, description="The volume's storage size."),
        Column("Access Modes", lambda o: access_modes(get(o, "spec", "accessModes")),
               description="How the volume can be mounted."),
        Column("Reclaim Policy", _text("spec", "persistentVolumeReclaimPolicy"),
               description="What happens to the volume when its claim goes."),
        Column("Status", _volume_phase, description="The volume's phase."),
        Column("Claim", _pv_claim, description="The claim bound to the volume."),
        Column("StorageClass", _storage_class, description="The volume's storage class."),
        Column("VolumeAttributesClass", _UNSET_CLASS,
               description="The volume's attributes class."),
        Column("Reason", _text("status", "reason"), description="Why the volume is in its phase."),
        AGE,
        Column("VolumeMode", _VOLUME_MODE, priority=1,
               description="Filesystem or Block."),
    ],
    ("", "PersistentVolumeClaim"): [
        NAME,
        Column("Status", _volume_phase, description="The claim's phase."),
        Column("Volume", _text("spec", "volumeName"), description="The bound volume."),
        Column("Capacity", _pvc_bound(lambda o: canonical_quantity(
            get(o, "status", "capacity", "storage", default="0"))),
               description="The bound volume's size."),
        Column("Access Modes", _pvc_bound(lambda o: access_modes(
            get(o, "status", "accessModes"))), description="How the volume can be mounted."),
        Column("StorageClass", _storage_class, description="The claim's storage class."),
        Column("VolumeAttributesClass", _UNSET_CLASS,
               description="The claim's attributes class."),
        AGE,
        Column("VolumeMode", _VOLUME_MODE, priority=1, description="Filesystem or Block."),
    ],
}  # fmt: skip
