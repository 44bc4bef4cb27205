"""core/v1 ComponentStatus (`kubectl get cs`): computed when asked, never stored.

kube-apiserver answers with one item per control-plane piece it can check
(`scheduler`, `controller-manager`, `etcd-0`) and a deprecation warning.
It probes the scheduler's and the controller manager's health ports on its
own machine; ours may run in the server or alone (`kyb scheduler`,
`kyb controller-manager`) anywhere, and always hold a leader Lease while
they work, so a component is Healthy when its Lease has a holder that
renewed it within the lease's duration. `etcd-0` is the store (SQLite or
etcd), Healthy when it answers.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable

from kybernetes.api.times import parse_time
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import human_duration

__all__ = ["DEPRECATION", "LEASES", "component_statuses", "lease_health", "status_object"]

DEPRECATION = "v1 ComponentStatus is deprecated in v1.19+"
# Each component's leader Lease (namespace, name), as its leader election names it.
LEASES = {
    "scheduler": ("kube-system", "kube-scheduler"),
    "controller-manager": ("kube-system", "kyb-controller-manager"),
}
STORE_NAME = "etcd-0"
STORE_TIMEOUT = 2.0

Now = datetime.datetime


def status_object(name: str, healthy: bool, message: str) -> Obj:
    """A ComponentStatus with its one Healthy condition."""
    condition = {"type": "Healthy", "status": "True" if healthy else "False", "message": message}
    return {"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name},
            "conditions": [condition]}  # fmt: skip


def lease_health(component: str, lease: Obj | None, now: Now) -> tuple[bool, str]:
    """Whether `component` runs, by its leader Lease, and what to say of it."""
    namespace, name = LEASES[component]
    where = f"the lease {namespace}/{name}"
    if lease is None:
        return False, f"no {component} has run: {where} does not exist (start `kyb {component}`)"
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return False, f"no {component} leads: {where} has no holder"
    age = (now - renewed).total_seconds()
    if age > float(spec.get("leaseDurationSeconds") or 15):
        return False, f"no {component} leads: {where} was last renewed {human_duration(age)} ago"
    return True, "ok"


async def component_statuses(
    lease: Callable[[str, str], Awaitable[Obj | None]],
    store_revision: Callable[[], Awaitable[int]],
    now: Now,
) -> list[Obj]:
    """Every component's status: `lease(namespace, name)` reads a Lease (None if
    there is none), `store_revision` asks the store for its revision."""
    items = []
    for component, (namespace, name) in LEASES.items():
        healthy, message = lease_health(component, await lease(namespace, name), now)
        items.append(status_object(component, healthy, message))
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            await store_revision()
    except TimeoutError:
        items.append(
            status_object(STORE_NAME, False, f"the store did not answer in {STORE_TIMEOUT:g}s")
        )
    except Exception as err:  # noqa: BLE001 - any failure of the store is its status
        items.append(status_object(STORE_NAME, False, f"the store failed: {err}"))
    else:
        items.append(status_object(STORE_NAME, True, "ok"))
    return items
