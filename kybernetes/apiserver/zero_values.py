"""Which maps and lists a built-in object has even when nothing sets them.

kube-apiserver decides what a write added by comparing two Go objects: on a
create, the new object against the zero value of its type. A struct field
that is not a pointer (`spec`, `spec.template`, a container's `resources`)
and a field without `omitempty` (`spec.selector`, a pod's `containers`) is
there in the zero value, so a create does not add it; a pointer, a map or a
list with `omitempty` (`spec.strategy.rollingUpdate`, `metadata.labels`) is
absent until set, and a write that sets it adds it, which managedFields
records as the map's own `.` member (see managedfields.py).

Decision: one table per kind of the field paths (names only, list positions
left out, as in `PatchSchema`) that the zero value of its Go type holds,
written from the struct tags of k8s.io/api v1.32 (and apiextensions' CRD),
each marked True for a struct value (an empty struct: an empty map to the
compare, so a `{}` sent there adds nothing either) or False for a field the
zero value holds as null (`spec.selector`, `containers`: a `{}` or `[]` sent
there is a change). Only fields that hold members count, and only where the
field sets walk (maps and the lists merged by key or as sets): a scalar, or
anything under a list that is replaced whole, can never be such a member.
Custom resources are unstructured in kube-apiserver: their zero value is
empty, so they get the empty table, as do kinds not listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from kybernetes.apiserver.fieldsets import NO_ZERO, Names, Zero

__all__ = ["present_fields"]


def _at(prefix: Names, table: Iterable[Names]) -> set[Names]:
    return {(*prefix, *names) for names in table}


# core/v1 PodSpec: `resources` is a struct value in each kind of container, and an
# ephemeral volume's claim template holds structs; `containers` has no omitempty,
# nor has a scaleIO volume's secretRef.
_POD_SPEC = {
    ("containers", "resources"),
    ("initContainers", "resources"),
    ("ephemeralContainers", "resources"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "metadata"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "spec"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "spec", "resources"),
}
_POD_SPEC_NULLS = {("containers",), ("volumes", "scaleIO", "secretRef")}

# core/v1 PodTemplateSpec: metadata and spec are struct values.
_POD_TEMPLATE = {("metadata",), ("spec",), *_at(("spec",), _POD_SPEC)}
_POD_TEMPLATE_NULLS = _at(("spec",), _POD_SPEC_NULLS)

_SPEC_STATUS = {("spec",), ("status",)}


def _table(structs: Iterable[Names], nulls: Iterable[Names] = ()) -> Zero:
    return MappingProxyType({**dict.fromkeys(structs, True), **dict.fromkeys(nulls, False)})


def _templated(prefix: Names, *structs: Names, nulls: Iterable[Names] = ()) -> Zero:
    """A kind with a pod template struct at `prefix`."""
    return _table(
        {*_SPEC_STATUS, prefix, *_at(prefix, _POD_TEMPLATE), *structs},
        {*_at(prefix, _POD_TEMPLATE_NULLS), *nulls},
    )


# apps/v1 workloads: a template struct, a selector without omitempty.
_SELECTOR = (("spec", "selector"),)
_TEMPLATE = ("spec", "template")

_TABLES: Mapping[tuple[str, str, str], Zero] = {
    ("", "v1", "Pod"): _table(
        {*_SPEC_STATUS, *_at(("spec",), _POD_SPEC)}, _at(("spec",), _POD_SPEC_NULLS)
    ),
    ("", "v1", "PodTemplate"): _table(
        {("template",), *_at(("template",), _POD_TEMPLATE)},
        _at(("template",), _POD_TEMPLATE_NULLS),
    ),
    # A ReplicationController's template is a pointer: absent until set.
    ("", "v1", "ReplicationController"): _table(
        {*_SPEC_STATUS, *_at(_TEMPLATE, _POD_TEMPLATE)}, _at(_TEMPLATE, _POD_TEMPLATE_NULLS)
    ),
    ("", "v1", "Service"): _table({*_SPEC_STATUS, ("status", "loadBalancer")}),
    ("", "v1", "Node"): _table(
        {
            *_SPEC_STATUS,
            ("status", "daemonEndpoints"),
            ("status", "daemonEndpoints", "kubeletEndpoint"),
            ("status", "nodeInfo"),
        }
    ),
    ("", "v1", "Namespace"): _table(_SPEC_STATUS),
    ("", "v1", "PersistentVolume"): _table(_SPEC_STATUS, {("spec", "scaleIO", "secretRef")}),
    ("", "v1", "PersistentVolumeClaim"): _table({*_SPEC_STATUS, ("spec", "resources")}),
    ("", "v1", "Event"): _table({("involvedObject",), ("source",)}),
    ("", "v1", "LimitRange"): _table({("spec",)}),
    ("", "v1", "ResourceQuota"): _table(_SPEC_STATUS),
    ("apps", "v1", "Deployment"): _templated(_TEMPLATE, ("spec", "strategy"), nulls=_SELECTOR),
    ("apps", "v1", "ReplicaSet"): _templated(_TEMPLATE, nulls=_SELECTOR),
    ("apps", "v1", "StatefulSet"): _templated(
        _TEMPLATE, ("spec", "updateStrategy"), nulls=_SELECTOR
    ),
    ("apps", "v1", "DaemonSet"): _templated(_TEMPLATE, ("spec", "updateStrategy"), nulls=_SELECTOR),
    # A RawExtension is a struct, but it writes itself as null when empty.
    ("apps", "v1", "ControllerRevision"): _table((), {("data",)}),
    ("batch", "v1", "Job"): _templated(_TEMPLATE),
    ("batch", "v1", "CronJob"): _templated(
        ("spec", "jobTemplate", "spec", "template"),
        ("spec", "jobTemplate"),
        ("spec", "jobTemplate", "metadata"),
        ("spec", "jobTemplate", "spec"),
    ),
    ("coordination.k8s.io", "v1", "Lease"): _table({("spec",)}),
    ("events.k8s.io", "v1", "Event"): _table({("regarding",), ("deprecatedSource",)}),
    ("networking.k8s.io", "v1", "Ingress"): _table(
        {
            *_SPEC_STATUS,
            ("spec", "defaultBackend", "service", "port"),
            ("status", "loadBalancer"),
        }
    ),
    ("networking.k8s.io", "v1", "IngressClass"): _table({("spec",)}),
    ("networking.k8s.io", "v1", "NetworkPolicy"): _table({("spec",), ("spec", "podSelector")}),
    ("policy", "v1", "PodDisruptionBudget"): _table(_SPEC_STATUS),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): _table({("roleRef",)}),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): _table({("roleRef",)}),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): _table(
        {
            *_SPEC_STATUS,
            ("spec", "names"),
            ("status", "acceptedNames"),
        }
    ),
}


def present_fields(group: str, version: str, kind: str) -> Zero:
    """The maps and lists the zero value of the kind holds ("" is the core group):
    True where it holds a struct value, False where it holds null."""
    return _TABLES.get((group, version, kind), NO_ZERO)
