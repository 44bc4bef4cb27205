"""Which fields a strategic merge patch merges, per built-in kind.

Written from the `patchStrategy` and `patchMergeKey` struct tags of the
Kubernetes API types at v1.32 (k8s.io/api core/v1, apps/v1, batch/v1,
policy/v1, autoscaling/v2, admissionregistration/v1, storage/v1,
flowcontrol/v1, and meta/v1 ObjectMeta). Where server-side apply names a merged list's items
by more fields (`+listMapKey` tags, with the OpenAPI default of a key), the
entry carries them as `apply_keys`. The table says only what Kubernetes
says: a field without a tag is not listed, so its lists are replaced and its
maps merged. Among those with no tag, and so replaced whole by a patch: pod
tolerations and readinessGates, node taints, Endpoints subsets, RBAC rules,
EndpointSlice endpoints, and everything in networking/v1 (Ingress,
NetworkPolicy). Container statuses are replaced too, so the tags inside them
never apply and are left out.

Each Go struct with tags is a table of its own, mounted where the types embed
it, so one PodSpec table serves Pods, every pod template and CronJob's job
template. Kubernetes refuses strategic merge patches for custom resources
(415); that choice belongs to the API server's resource registry. Here an
unknown kind gets the ObjectMeta table alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from kybernetes.api.patch.strategic import (
    MERGE,
    REPLACE,
    RETAIN_KEYS,
    FieldStrategy,
    PatchSchema,
    merge_by,
)

__all__ = ["schema_for"]

_Table = Mapping[tuple[str, ...], FieldStrategy]


def _at(prefix: tuple[str, ...], table: _Table) -> dict[tuple[str, ...], FieldStrategy]:
    """`table` mounted under the field path `prefix`."""
    return {(*prefix, *path): strategy for path, strategy in table.items()}


_CONDITIONS: _Table = {("conditions",): merge_by("type")}

# meta/v1 ObjectMeta
_OBJECT_META: _Table = {
    ("finalizers",): MERGE,
    ("ownerReferences",): merge_by("uid"),
}

# core/v1 Container; EphemeralContainerCommon carries the same tags.
_CONTAINER: _Table = {
    ("ports",): merge_by(
        "containerPort", apply_keys=(("containerPort", None), ("protocol", "TCP"))
    ),
    ("env",): merge_by("name"),
    ("volumeMounts",): merge_by("mountPath"),
    ("volumeDevices",): merge_by("devicePath"),
}

# core/v1 PodSpec
_POD_SPEC: _Table = {
    ("volumes",): merge_by("name", retain_keys=True),
    ("initContainers",): merge_by("name"),
    **_at(("initContainers",), _CONTAINER),
    ("containers",): merge_by("name"),
    **_at(("containers",), _CONTAINER),
    ("ephemeralContainers",): merge_by("name"),
    **_at(("ephemeralContainers",), _CONTAINER),
    ("imagePullSecrets",): merge_by("name"),
    ("hostAliases",): merge_by("ip"),
    ("topologySpreadConstraints",): merge_by(
        "topologyKey", apply_keys=(("topologyKey", None), ("whenUnsatisfiable", None))
    ),
    ("schedulingGates",): merge_by("name"),
    ("resourceClaims",): merge_by("name", retain_keys=True),
}

# core/v1 PodStatus
_POD_STATUS: _Table = {
    **_CONDITIONS,
    ("hostIPs",): merge_by("ip"),
    ("podIPs",): merge_by("ip"),
    ("resourceClaimStatuses",): merge_by("name", retain_keys=True),
}

# core/v1 PodTemplateSpec
_POD_TEMPLATE_SPEC: _Table = {
    **_at(("metadata",), _OBJECT_META),
    **_at(("spec",), _POD_SPEC),
}

# The workload controllers: a pod template under spec, conditions under status.
_WORKLOAD: _Table = {
    **_at(("spec", "template"), _POD_TEMPLATE_SPEC),
    **_at(("status",), _CONDITIONS),
}

# batch/v1 JobTemplateSpec, inside a CronJob
_JOB_TEMPLATE_SPEC: _Table = {
    **_at(("metadata",), _OBJECT_META),
    **_at(("spec", "template"), _POD_TEMPLATE_SPEC),
}

# admissionregistration/v1 ValidatingWebhook and MutatingWebhook
_WEBHOOK_CONFIGURATION: _Table = {
    ("webhooks",): merge_by("name"),
    ("webhooks", "matchConditions"): merge_by("name"),
}

_KINDS: Mapping[tuple[str, str, str], _Table] = {
    ("", "v1", "Pod"): {
        **_at(("spec",), _POD_SPEC),
        **_at(("status",), _POD_STATUS),
    },
    ("", "v1", "PodTemplate"): _at(("template",), _POD_TEMPLATE_SPEC),
    ("", "v1", "ReplicationController"): _WORKLOAD,
    ("", "v1", "Service"): {
        ("spec", "ports"): merge_by("port", apply_keys=(("port", None), ("protocol", "TCP"))),
        **_at(("status",), _CONDITIONS),
    },
    ("", "v1", "ServiceAccount"): {("secrets",): merge_by("name")},
    ("", "v1", "Node"): {
        ("spec", "podCIDRs"): MERGE,
        **_at(("status",), _CONDITIONS),
        ("status", "addresses"): merge_by("type"),
    },
    ("", "v1", "Namespace"): _at(("status",), _CONDITIONS),
    ("", "v1", "PersistentVolumeClaim"): _at(("status",), _CONDITIONS),
    ("", "v1", "ComponentStatus"): _CONDITIONS,
    ("apps", "v1", "Deployment"): {
        **_WORKLOAD,
        ("spec", "strategy"): RETAIN_KEYS,
    },
    ("apps", "v1", "ReplicaSet"): _WORKLOAD,
    ("apps", "v1", "StatefulSet"): _WORKLOAD,
    ("apps", "v1", "DaemonSet"): _WORKLOAD,
    ("batch", "v1", "Job"): _WORKLOAD,
    ("batch", "v1", "CronJob"): _at(("spec", "jobTemplate"), _JOB_TEMPLATE_SPEC),
    ("policy", "v1", "PodDisruptionBudget"): {
        ("spec", "selector"): REPLACE,
        **_at(("status",), _CONDITIONS),
    },
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): _at(("status",), _CONDITIONS),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"): (
        _WEBHOOK_CONFIGURATION
    ),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"): (
        _WEBHOOK_CONFIGURATION
    ),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy"): {
        ("spec", "matchConditions"): merge_by("name"),
        ("spec", "variables"): merge_by("name"),
    },
    ("storage.k8s.io", "v1", "CSINode"): {("spec", "drivers"): merge_by("name")},
    ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema"): _at(("status",), _CONDITIONS),
    ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration"): _at(
        ("status",), _CONDITIONS
    ),
}

_METADATA_ONLY = PatchSchema(_at(("metadata",), _OBJECT_META))
_SCHEMAS: Mapping[tuple[str, str, str], PatchSchema] = {
    kind: PatchSchema({**_at(("metadata",), _OBJECT_META), **table})
    for kind, table in _KINDS.items()
}


def schema_for(group: str, version: str, kind: str) -> PatchSchema:
    """The strategic merge patch schema of a kind ("" is the core group).

    Kinds without list tags, and unknown kinds, get the ObjectMeta table alone.
    """
    return _SCHEMAS.get((group, version, kind), _METADATA_ONLY)
