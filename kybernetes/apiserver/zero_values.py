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
written from the struct tags of k8s.io/api v1.32 (and apiextensions' CRD).
Only fields that hold members count, and only where the field sets walk
(maps and the lists merged by key or as sets): a scalar, or anything under
a list that is replaced whole, can never be such a member. Custom resources
are unstructured in kube-apiserver: their zero value is empty, so they get
the empty table, as do kinds not listed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

__all__ = ["Names", "present_fields"]

Names = tuple[str, ...]
_Table = frozenset[Names]


def _at(prefix: Names, table: Iterable[Names]) -> set[Names]:
    return {(*prefix, *names) for names in table}


# core/v1 PodSpec: `containers` has no omitempty; `resources` is a struct value
# in each kind of container; an ephemeral volume's claim template holds structs.
_POD_SPEC = {
    ("containers",),
    ("containers", "resources"),
    ("initContainers", "resources"),
    ("ephemeralContainers", "resources"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "metadata"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "spec"),
    ("volumes", "ephemeral", "volumeClaimTemplate", "spec", "resources"),
    ("volumes", "scaleIO", "secretRef"),
}

# core/v1 PodTemplateSpec: metadata and spec are struct values.
_POD_TEMPLATE = {("metadata",), ("spec",), *_at(("spec",), _POD_SPEC)}

_SPEC_STATUS = {("spec",), ("status",)}


def _workload(*extra: Names) -> set[Names]:
    """apps/v1 workloads: a selector without omitempty, a template struct."""
    return {*_SPEC_STATUS, ("spec", "selector"), ("spec", "template"),
            *_at(("spec", "template"), _POD_TEMPLATE), *extra}  # fmt: skip


_WRITTEN: dict[tuple[str, str, str], Collection[Names]] = {
    ("", "v1", "Pod"): {*_SPEC_STATUS, *_at(("spec",), _POD_SPEC)},
    ("", "v1", "PodTemplate"): {("template",), *_at(("template",), _POD_TEMPLATE)},
    # A ReplicationController's template is a pointer: absent until set.
    ("", "v1", "ReplicationController"): {
        *_SPEC_STATUS,
        *_at(("spec", "template"), _POD_TEMPLATE),
    },
    ("", "v1", "Service"): {*_SPEC_STATUS, ("status", "loadBalancer")},
    ("", "v1", "Node"): {
        *_SPEC_STATUS,
        ("status", "daemonEndpoints"),
        ("status", "daemonEndpoints", "kubeletEndpoint"),
        ("status", "nodeInfo"),
    },
    ("", "v1", "Namespace"): _SPEC_STATUS,
    ("", "v1", "PersistentVolume"): {*_SPEC_STATUS, ("spec", "scaleIO", "secretRef")},
    ("", "v1", "PersistentVolumeClaim"): {*_SPEC_STATUS, ("spec", "resources")},
    ("", "v1", "Event"): {("involvedObject",), ("source",)},
    ("", "v1", "LimitRange"): {("spec",)},
    ("", "v1", "ResourceQuota"): _SPEC_STATUS,
    ("apps", "v1", "Deployment"): _workload(("spec", "strategy")),
    ("apps", "v1", "ReplicaSet"): _workload(),
    ("apps", "v1", "StatefulSet"): _workload(("spec", "updateStrategy")),
    ("apps", "v1", "DaemonSet"): _workload(("spec", "updateStrategy")),
    ("apps", "v1", "ControllerRevision"): {("data",)},
    ("batch", "v1", "Job"): {
        *_SPEC_STATUS,
        ("spec", "template"),
        *_at(("spec", "template"), _POD_TEMPLATE),
    },
    ("batch", "v1", "CronJob"): {
        *_SPEC_STATUS,
        ("spec", "jobTemplate"),
        ("spec", "jobTemplate", "metadata"),
        ("spec", "jobTemplate", "spec"),
        ("spec", "jobTemplate", "spec", "template"),
        *_at(("spec", "jobTemplate", "spec", "template"), _POD_TEMPLATE),
    },
    ("coordination.k8s.io", "v1", "Lease"): {("spec",)},
    ("events.k8s.io", "v1", "Event"): {("regarding",), ("deprecatedSource",)},
    ("networking.k8s.io", "v1", "Ingress"): {
        *_SPEC_STATUS,
        ("spec", "defaultBackend", "service", "port"),
        ("status", "loadBalancer"),
    },
    ("networking.k8s.io", "v1", "IngressClass"): {("spec",)},
    ("networking.k8s.io", "v1", "NetworkPolicy"): {("spec",), ("spec", "podSelector")},
    ("policy", "v1", "PodDisruptionBudget"): _SPEC_STATUS,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): {("roleRef",)},
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): {("roleRef",)},
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): {
        *_SPEC_STATUS,
        ("spec", "names"),
        ("status", "acceptedNames"),
    },
}
_TABLES: Mapping[tuple[str, str, str], _Table] = {k: frozenset(v) for k, v in _WRITTEN.items()}

_NONE: _Table = frozenset()


def present_fields(group: str, version: str, kind: str) -> frozenset[Names]:
    """The maps and lists the zero value of the kind holds ("" is the core group)."""
    return _TABLES.get((group, version, kind), _NONE)
