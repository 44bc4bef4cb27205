"""The `scale` subresource: an autoscaling/v1 Scale view of a workload.

`kubectl scale` PATCHes `.../scale` with `{"spec":{"replicas":N}}` and
expects a Scale back; the write lands on the workload's `spec.replicas`
(and so bumps its generation), nothing else changes. A server-side apply of
a Scale (`apply_scale_config`) is an apply to that view, its field owners
those of the workload's `spec.replicas`, as kube-apiserver's ScaleHandler
makes it.
"""

from __future__ import annotations

from kybernetes.api import selectors
from kybernetes.api.patch import schema_for
from kybernetes.apiserver import errors
from kybernetes.apiserver import managedfields as mf
from kybernetes.apiserver.objects import Obj

__all__ = ["apply_scale", "apply_scale_config", "to_scale"]

_SCALE_SCHEMA = schema_for("autoscaling", "v1", "Scale")


def _selector_string(obj: Obj) -> str:
    selector = (obj.get("spec") or {}).get("selector") or {}
    if obj.get("kind") == "ReplicationController":
        return str(selectors.label_selector_from_set(selector))  # a plain map
    try:
        return str(selectors.label_selector_from_object(selector))
    except selectors.SelectorError:
        return ""


def to_scale(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": _selector_string(obj),
        },
    }


def apply_scale(obj: Obj, scale: object) -> Obj:
    """`obj` with the replicas the Scale asks for; 422 for a bad count."""
    if not isinstance(scale, dict):
        raise errors.bad_request("the body must be an autoscaling/v1 Scale")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    name = (obj.get("metadata") or {}).get("name", "")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid("Scale", name, [errors.Cause(
            "spec.replicas", "FieldValueInvalid",
            f"Invalid value: {replicas}: must be greater than or equal to 0")],
            "autoscaling")  # fmt: skip
    wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
    current_rv = (obj.get("metadata") or {}).get("resourceVersion")
    if wanted_rv and wanted_rv != current_rv:
        raise errors.conflict("deployments", name, "the object has been modified; please apply "
                              "your changes to the latest version and try again")  # fmt: skip
    obj.setdefault("spec", {})["replicas"] = replicas
    return obj


def apply_scale_config(
    obj: Obj, config: Obj, *, manager: mf.Manager, force: bool, api_version: str, now: str
) -> Obj:
    """`obj` after the server-side apply of the Scale `config` to its `scale`.

    The apply runs on the Scale view, whose managedFields are `obj`'s owners of
    spec.replicas: it conflicts with them unless forced (mf.ApplyConflict), and
    its owners of the Scale's spec.replicas go back to `obj`'s managedFields
    (`api_version`: `obj`'s). A Scale's replicas is a plain int32 there, so one
    the config unsets (null, or dropped from the config it applied before) is 0.
    """
    version = config.get("apiVersion")
    if version != mf.SCALE_API_VERSION:
        raise errors.bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{version}, expected: {mf.SCALE_API_VERSION}"
        )
    scale = to_scale(obj)
    scale["metadata"]["managedFields"] = mf.scale_entries(obj)
    merged = mf.apply_config(
        scale, config, manager=manager, force=force, schema=_SCALE_SCHEMA,
        api_version=mf.SCALE_API_VERSION, now=now, status=None,
    )  # fmt: skip
    mf.drop_nulls(merged)
    entries = mf.parent_entries(obj, merged, api_version=api_version)
    obj = apply_scale(obj, merged)
    obj["metadata"]["managedFields"] = entries
    return obj
