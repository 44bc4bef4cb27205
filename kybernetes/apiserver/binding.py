"""`pods/NAME/binding`: how a scheduler assigns a pod to a node.

kube-apiserver's BindingREST: a POST of a `Binding` sets `spec.nodeName`
(and the Binding's annotations) of a pod that has none yet, and marks the
pod `PodScheduled=True` in the same write, so a watcher never sees a bound
pod without its condition. A pod already bound, or being deleted, is a 409:
two schedulers racing for one pod cannot both win. The write is a
compare-and-swap on the pod's revision, retried when something else (a
status update) changed the pod in between.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.storage import ObjectStorage

__all__ = ["bind_pod", "create_binding"]

RETRIES = 5


def _check_binding(binding: Any, name: str) -> tuple[str, Obj]:
    """The target node name and the Binding's annotations, or a 400/422."""
    if not isinstance(binding, dict):
        raise errors.bad_request("the body must be a Binding object")
    meta = binding.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    target = binding.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    if not isinstance(node, str) or not node:
        raise errors.invalid(
            "Binding", name, [Cause("target.name", "FieldValueRequired", "Required value")]
        )
    kind = target.get("kind") or "Node"
    if kind != "Node":
        raise errors.invalid(
            "Binding",
            name,
            [
                Cause(
                    "target.kind",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{kind}": supported values: "Node"',
                )
            ],
        )
    annotations = meta.get("annotations") or {}
    return node, annotations if isinstance(annotations, dict) else {}


def bind_pod(pod: Obj, binding: Any, *, name: str, now: str) -> Obj:
    """The pod after `binding` (pure); 409 if it is bound or being deleted."""
    node, annotations = _check_binding(binding, name)
    meta = pod["metadata"]
    uid = ((binding.get("metadata") or {}).get("uid")) or ""
    if uid and uid != meta.get("uid"):
        raise errors.conflict(
            "pods/binding",
            name,
            f"Precondition failed: UID in precondition: "
            f"{uid}, UID in object meta: {meta.get('uid')}",
        )
    if meta.get("deletionTimestamp"):
        raise errors.conflict(
            "pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host"
        )
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        raise errors.conflict(
            "pods/binding",
            name,
            f"pod {name} is already assigned to node {spec['nodeName']!r}".replace("'", '"'),
        )
    new = copy.deepcopy(pod)
    new["spec"]["nodeName"] = node
    if annotations:
        new["metadata"].setdefault("annotations", {}).update(annotations)
    status = new.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
    )
    status["conditions"] = conditions
    return new


async def create_binding(
    storage: ObjectStorage, rt: ResourceType, *, namespace: str, name: str, body: Any, now: str
) -> Obj:
    """Bind the pod; the Success Status kube-apiserver answers with."""
    for attempt in range(RETRIES):
        old = await storage.get(rt, namespace, name)
        new = bind_pod(old, body, name=name, now=now)
        try:
            await storage.update(rt, new, int(old["metadata"]["resourceVersion"]))
        except errors.ApiError as err:
            if err.reason != "Conflict" or attempt + 1 == RETRIES:
                raise
            continue
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }
    raise AssertionError("unreachable")
