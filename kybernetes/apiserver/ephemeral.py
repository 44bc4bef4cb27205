"""pods/NAME/ephemeralcontainers: the one way to add a debugging container to a pod.

Decision, as kube-apiserver's ephemeral containers strategy: a write to this
subresource changes `spec.ephemeralContainers` and nothing else. The rest of
what it sends (other spec fields, metadata, status) is replaced by the stored
pod's, so a client may send back a pod it read long ago. Ephemeral containers
are only ever added: one already there may be neither removed nor changed.
Each is matched by name, not position, as a patch may reorder the list. The
pod is then checked as any pod is (podspec.py checks the new containers:
fields, unique names, target container). The main pod endpoint never changes
the list: its update check (`pod_update_causes`) refuses any spec change but
a few, and this is not one of them.
"""

from __future__ import annotations

from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, check_type, json_copy
from kybernetes.apiserver.podspec import changed_paths
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.strategy import validate_pod

__all__ = ["MIRROR_ANNOTATION", "ephemeral_update_causes", "with_ephemeral_containers"]

# A static pod's mirror: the kubelet runs it from a file, so nothing can be added to it.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FIELD = "spec.ephemeralContainers"


def with_ephemeral_containers(body: object, old: Obj, rt: ResourceType) -> Obj:
    """`old` with the ephemeral containers `body` asks for, and nothing else of it."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body must be a {rt.kind} object")
    check_type(body, rt)
    new = json_copy(old)
    sent = body.get("spec")
    wanted = sent.get("ephemeralContainers") if isinstance(sent, dict) else None
    spec = new.setdefault("spec", {})
    if wanted:
        spec["ephemeralContainers"] = json_copy(wanted)
    else:
        spec.pop("ephemeralContainers", None)
    return new


def ephemeral_update_causes(new: Obj, old: Obj) -> list[Cause]:
    """Why kube-apiserver would refuse `new` as the ephemeral containers update of `old`."""
    annotations = (old.get("metadata") or {}).get("annotations") or {}
    if MIRROR_ANNOTATION in annotations:
        return [Cause("", "FieldValueForbidden",
                      "Forbidden: static pods do not support ephemeral containers")]  # fmt: skip
    causes = validate_pod(new)
    now = {str(c.get("name")): c for c in _ephemeral(new)}
    for before in _ephemeral(old):
        name = str(before.get("name"))
        after = now.get(name)
        if after is None:
            causes.append(Cause(FIELD, "FieldValueForbidden",
                                f'Forbidden: existing ephemeral containers "{name}" may not be '
                                "removed\n"))  # fmt: skip
        elif after != before:
            diff = "\n".join(changed_paths(after, before, f"{FIELD}[{name}]"))
            causes.append(Cause(FIELD, "FieldValueForbidden",
                                f'Forbidden: existing ephemeral containers "{name}" may not be '
                                f"changed\n{diff}"))  # fmt: skip
    return causes


def _ephemeral(pod: Obj) -> list[Obj]:
    found = (pod.get("spec") or {}).get("ephemeralContainers") or []
    return [c for c in found if isinstance(c, dict)]
