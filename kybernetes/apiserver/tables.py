"""Server-side printing: the `meta.k8s.io/v1 Table` kubectl shows for `get`.

kubectl prints the cells as they come, so ages ("5m", "3h") and every
derived column are computed here, per kind, with the columns a real
cluster shows (priority 1 = only with `-o wide`). Each row carries the
object's metadata, which `-A` and `--show-labels` read.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver.objects import Obj

__all__ = ["Column", "human_duration", "table", "table_row_object"]

Now = datetime.datetime


@dataclass(frozen=True)
class Column:
    name: str
    cell: Callable[[Obj, Now], Any]
    priority: int = 0
    type: str = "string"
    format: str = ""
    description: str = ""


def human_duration(seconds: float) -> str:
    """Kubernetes' short age format: 45s, 5m10s, 3h, 2d4h, 1y30d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(text: str | None) -> Now | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(obj: Obj, now: Now) -> str:
    created = _parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def since(text: str | None, now: Now) -> str:
    moment = _parse_time(text)
    return human_duration((now - moment).total_seconds()) if moment else "<unknown>"


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
    return default if obj is None else obj


NAME = Column("Name", lambda o, _: _get(o, "metadata", "name", default=""), format="name",
              description="Name must be unique within a namespace.")  # fmt: skip
AGE = Column("Age", age, description="CreationTimestamp is a timestamp representing the "
             "server time when this object was created.")  # fmt: skip


# -- per-kind cells -------------------------------------------------------------


def _pod_ready(pod: Obj, _: Now) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[])
    total = len(_get(pod, "spec", "containers", default=[]))
    ready = sum(1 for c in statuses if c.get("ready"))
    return f"{ready}/{total}"


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column, following kubectl's rules for pods."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    init_statuses = status.get("initContainerStatuses") or []
    init_total = len(_get(pod, "spec", "initContainers", default=[]))
    initializing = False
    for i, cs in enumerate(init_statuses):
        terminated = _get(cs, "state", "terminated")
        waiting = _get(cs, "state", "waiting")
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        initializing = True
        if terminated:
            reason = f"Init:{terminated.get('reason') or 'Error'}"
            if not terminated.get("reason"):
                sig = terminated.get("signal")
                reason = (
                    f"Init:Signal:{sig}" if sig else f"Init:ExitCode:{terminated.get('exitCode')}"
                )
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{init_total}"
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            waiting = _get(cs, "state", "waiting")
            terminated = _get(cs, "state", "terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                sig = terminated.get("signal")
                reason = f"Signal:{sig}" if sig else f"ExitCode:{terminated.get('exitCode')}"
            elif _get(cs, "state", "running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            conditions = status.get("conditions") or []
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if ready else "NotReady"
    deletion = _get(pod, "metadata", "deletionTimestamp")
    if deletion and status.get("reason") == "NodeLost":
        return "Unknown"
    if deletion:
        return "Terminating"
    return str(reason)


def _pod_restarts(pod: Obj, now: Now) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[])
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = None
    for c in statuses:
        finished = _parse_time(_get(c, "lastState", "terminated", "finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
    if restarts and last is not None:
        return f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    return str(restarts)


def _pod_ip(pod: Obj, _: Now) -> str:
    return str(_get(pod, "status", "podIP", default="<none>"))


def _readiness_gates(pod: Obj, _: Now) -> str:
    gates = _get(pod, "spec", "readinessGates", default=[])
    if not gates:
        return "<none>"
    conditions = {
        c.get("type"): c.get("status") for c in _get(pod, "status", "conditions", default=[])
    }
    ready = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{ready}/{len(gates)}"


def _join(values: Iterable[str]) -> str:
    text = ",".join(v for v in values if v)
    return text or "<none>"


def _service_ports(svc: Obj, _: Now) -> str:
    ports = []
    for p in _get(svc, "spec", "ports", default=[]):
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    return _join(ports)


def _external_ip(svc: Obj, _: Now) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = _get(svc, "status", "loadBalancer", "ingress", default=[])
        external += [i.get("ip") or i.get("hostname") or "" for i in ingress]
        return _join(external) if external else "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    return _join(external)


def _selector(obj: Obj, _: Now) -> str:
    selector = _get(obj, "spec", "selector", default={})
    if "matchLabels" in selector or "matchExpressions" in selector:
        labels = selector.get("matchLabels") or {}
        parts = [f"{k}={v}" for k, v in sorted(labels.items())]
        for expr in selector.get("matchExpressions") or []:
            op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
            if op == "Exists":
                parts.append(str(key))
            elif op == "DoesNotExist":
                parts.append(f"!{key}")
            else:
                parts.append(f"{key} {op.lower()} ({','.join(values)})")
        return _join(parts)
    return _join(f"{k}={v}" for k, v in sorted(selector.items()))


def _endpoints(ep: Obj, _: Now) -> str:
    addresses = []
    for subset in ep.get("subsets") or []:
        for addr in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                suffix = f":{port['port']}" if port.get("port") else ""
                addresses.append(f"{addr.get('ip')}{suffix}")
    if len(addresses) > 3:
        return ",".join(addresses[:3]) + f" + {len(addresses) - 3} more..."
    return _join(addresses)


def _containers(obj: Obj, key: str) -> str:
    spec = _get(obj, "spec", "template", "spec", default={})
    return _join(c.get(key, "") for c in spec.get("containers") or [])


def _node_status(node: Obj, _: Now) -> str:
    conditions = _get(node, "status", "conditions", default=[])
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    status = "Unknown"
    if ready is not None:
        status = "Ready" if ready.get("status") == "True" else "NotReady"
    if _get(node, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(node: Obj, _: Now) -> str:
    labels = _get(node, "metadata", "labels", default={})
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k
    )
    return _join(roles)


def _node_address(kind: str) -> Callable[[Obj, Now], str]:
    def cell(node: Obj, _: Now) -> str:
        for addr in _get(node, "status", "addresses", default=[]):
            if addr.get("type") == kind:
                return str(addr.get("address"))
        return "<none>"

    return cell


def _count(*path: str) -> Callable[[Obj, Now], Any]:
    return lambda obj, _: _get(obj, *path, default=0)


def _text(*path: str, default: str = "<none>") -> Callable[[Obj, Now], Any]:
    return lambda obj, _: _get(obj, *path, default=default)


def _data_count(obj: Obj, _: Now) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def _ready_of(ready_path: tuple[str, ...], want_path: tuple[str, ...]) -> Callable[[Obj, Now], str]:
    return lambda o, _: f"{_get(o, *ready_path, default=0)}/{_get(o, *want_path, default=0)}"


C = Column
COLUMNS: dict[tuple[str, str], Sequence[Column]] = {
    ("", "Namespace"): [NAME, C("Status", _text("status", "phase", default="")), AGE],
    ("", "ConfigMap"): [NAME, C("Data", _data_count, type="integer"), AGE],
    ("", "Secret"): [NAME, C("Type", _text("type", default="")),
                     C("Data", _data_count, type="integer"), AGE],
    ("", "ServiceAccount"): [NAME, AGE],
    ("", "Pod"): [NAME, C("Ready", _pod_ready), C("Status", lambda o, _: pod_status_reason(o)),
                  C("Restarts", _pod_restarts), AGE, C("IP", _pod_ip, priority=1),
                  C("Node", _text("spec", "nodeName"), priority=1),
                  C("Nominated Node", _text("status", "nominatedNodeName"), priority=1),
                  C("Readiness Gates", _readiness_gates, priority=1)],
    ("", "Service"): [NAME, C("Type", _text("spec", "type", default="ClusterIP")),
                      C("Cluster-IP", _text("spec", "clusterIP")),
                      C("External-IP", _external_ip), C("Port(s)", _service_ports), AGE,
                      C("Selector", _selector, priority=1)],
    ("", "Endpoints"): [NAME, C("Endpoints", _endpoints), AGE],
    ("", "Node"): [NAME, C("Status", _node_status), C("Roles", _node_roles), AGE,
                   C("Version", _text("status", "nodeInfo", "kubeletVersion", default="")),
                   C("Internal-IP", _node_address("InternalIP"), priority=1),
                   C("External-IP", _node_address("ExternalIP"), priority=1),
                   C("OS-Image", _text("status", "nodeInfo", "osImage"), priority=1),
                   C("Kernel-Version", _text("status", "nodeInfo", "kernelVersion"), priority=1),
                   C("Container-Runtime", _text("status", "nodeInfo", "containerRuntimeVersion"),
                     priority=1)],
    ("apps", "Deployment"): [NAME,
                             C("Ready", _ready_of(("status", "readyReplicas"),
                                                  ("spec", "replicas"))),
                             C("Up-to-date", _count("status", "updatedReplicas"), type="integer"),
                             C("Available", _count("status", "availableReplicas"), type="integer"),
                             AGE,
                             C("Containers", lambda o, _: _containers(o, "name"), priority=1),
                             C("Images", lambda o, _: _containers(o, "image"), priority=1),
                             C("Selector", _selector, priority=1)],
    ("apps", "ReplicaSet"): [NAME, C("Desired", _count("spec", "replicas"), type="integer"),
                             C("Current", _count("status", "replicas"), type="integer"),
                             C("Ready", _count("status", "readyReplicas"), type="integer"), AGE,
                             C("Containers", lambda o, _: _containers(o, "name"), priority=1),
                             C("Images", lambda o, _: _containers(o, "image"), priority=1),
                             C("Selector", _selector, priority=1)],
}  # fmt: skip


def columns_for(group: str, kind: str) -> Sequence[Column]:
    return COLUMNS.get((group, kind), (NAME, AGE))


def table_row_object(obj: Obj) -> Obj:
    """The PartialObjectMetadata a row carries (what -A and --show-labels read)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(
    group: str,
    kind: str,
    objects: Sequence[Obj],
    *,
    now: Now | None = None,
    list_meta: Obj | None = None,
    include_columns: bool = True,
) -> Obj:
    moment = now or datetime.datetime.now(datetime.UTC)
    columns = columns_for(group, kind)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [
            {"name": c.name, "type": c.type, "format": c.format,
             "description": c.description, "priority": c.priority}
            for c in columns
        ] if include_columns else [],
        "rows": [
            {"cells": [c.cell(obj, moment) for c in columns], "object": table_row_object(obj)}
            for obj in objects
        ],
    }  # fmt: skip
