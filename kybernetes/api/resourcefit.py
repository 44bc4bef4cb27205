"""What a pod asks of a node, and what the node lacks to give it.

A pod's requests are its containers' summed, at least the largest init
container's (init containers run one at a time), plus the pod overhead.
They fit a node when, for cpu, memory, ephemeral-storage and each extended
resource, they are within allocatable minus what the node's pods already
request, and one more pod is within allocatable pods. kube-scheduler's
NodeResourcesFit and the kubelet's admission of a pod bound past the
scheduler make the same check; both use this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.quantity import int_value, milli_value

__all__ = ["PODS", "Resources", "Shortfall", "allowed_pods", "pod_requests", "shortfalls"]

Obj = dict[str, Any]
CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"


@dataclass(slots=True)
class Resources:
    """Amounts in integer units: cpu in millicores, the rest in whole units."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral: int = 0
    scalars: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, amounts: Any) -> Resources:
        """From a ResourceList ({"cpu": "100m", "memory": "1Gi", …}); bad values count 0."""
        out = cls()
        if not isinstance(amounts, dict):
            return out
        for name, raw in amounts.items():
            try:
                if name == CPU:
                    out.milli_cpu = milli_value(raw)
                elif name == MEMORY:
                    out.memory = int_value(raw)
                elif name == EPHEMERAL:
                    out.ephemeral = int_value(raw)
                elif name != PODS:
                    out.scalars[name] = int_value(raw)
            except ValueError:
                continue
        return out

    def add(self, other: Resources, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral += sign * other.ephemeral
        for name, amount in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + sign * amount

    def maximum(self, other: Resources) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral = max(self.ephemeral, other.ephemeral)
        for name, amount in other.scalars.items():
            self.scalars[name] = max(self.scalars.get(name, 0), amount)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral, dict(self.scalars))


def pod_requests(
    spec: Obj, *, cpu_floor: int = 0, memory_floor: int = 0
) -> tuple[Resources, int, int]:
    """The pod's requests, and its cpu and memory summed with each app container
    counted at least `cpu_floor` / `memory_floor` (the scheduler scores request-less
    containers at its defaults; fitting never does)."""
    total = Resources()
    floored_cpu = floored_memory = 0
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        req = Resources.from_list((container.get("resources") or {}).get("requests"))
        total.add(req)
        floored_cpu += req.milli_cpu or cpu_floor
        floored_memory += req.memory or memory_floor
    for init in spec.get("initContainers") or []:
        if isinstance(init, dict):
            req = Resources.from_list((init.get("resources") or {}).get("requests"))
            total.maximum(req)
            floored_cpu = max(floored_cpu, req.milli_cpu)
            floored_memory = max(floored_memory, req.memory)
    overhead = spec.get("overhead")
    if overhead:
        extra = Resources.from_list(overhead)
        total.add(extra)
        floored_cpu += extra.milli_cpu
        floored_memory += extra.memory
    return total, floored_cpu, floored_memory


def allowed_pods(allocatable: Any) -> int:
    """Allocatable pods of a node's ResourceList (0 when missing or bad)."""
    try:
        return int_value((allocatable or {}).get(PODS, 0))
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One resource the node lacks: what the pod asks, what its pods use, what it has."""

    resource: str
    requested: int
    used: int
    capacity: int


def shortfalls(
    request: Resources, *, pods: int, allowed: int, allocatable: Resources, used: Resources
) -> list[Shortfall]:
    """What keeps a pod asking `request` off a node with `pods` pods of `allowed`
    whose pods request `used` of its `allocatable` (empty: it fits), in kube's order."""
    found: list[Shortfall] = []
    if pods + 1 > allowed:
        found.append(Shortfall(PODS, 1, pods, allowed))
    amounts = [(CPU, request.milli_cpu, used.milli_cpu, allocatable.milli_cpu),
               (MEMORY, request.memory, used.memory, allocatable.memory),
               (EPHEMERAL, request.ephemeral, used.ephemeral, allocatable.ephemeral)]  # fmt: skip
    amounts += [(name, amount, used.scalars.get(name, 0), allocatable.scalars.get(name, 0))
                for name, amount in request.scalars.items()]  # fmt: skip
    for name, asked, taken, capacity in amounts:
        if asked and asked > capacity - taken:
            found.append(Shortfall(name, asked, taken, capacity))
    return found
