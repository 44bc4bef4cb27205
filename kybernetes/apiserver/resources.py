"""The resource types the API serves, described once and used everywhere.

Discovery, routing, storage keys, OpenAPI and tables all read the same
`ResourceType`, so a kind cannot be half-registered. Built-in types are a
table here; custom resources are added at run time through the same
`ResourceRegistry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "BUILTIN_TYPES",
    "METRICS_TYPES",
    "ResourceRegistry",
    "ResourceType",
    "builtin_registry",
]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    singular: str = field(default="")
    # False for kinds kube-apiserver has no table convertor for (reviews):
    # a request that accepts only a Table of one is 406 Not Acceptable.
    tables: bool = True
    # The group whose storage this resource shares, when not its own:
    # events.k8s.io Events are core Events (conversion.py converts).
    stored_in: str | None = None
    # Made when asked from what the server knows, never stored (metrics.k8s.io):
    # no watch cache, no storage.
    computed: bool = False

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_prefix(self) -> str:
        """Where its objects live in the store: /registry/<group>/<plural>/."""
        group = self.group if self.stored_in is None else self.stored_in
        return f"/registry/{group or 'core'}/{self.plural}/"

    def key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def collection_prefix(self, namespace: str) -> str:
        """The store prefix of a list: one namespace, or every namespace ("")."""
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix

    def path(self, namespace: str = "", name: str = "") -> str:
        """The URL of the collection or of one object."""
        root = f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{name}" if name else ""
        return f"{root}{scope}/{self.plural}{tail}"


def _t(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: Iterable[str] = (),
    all_category: bool = False,
    sub: Iterable[str] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    tables: bool = True,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=tuple(short),
        categories=("all",) if all_category else (),
        subresources=tuple(sub),
        verbs=verbs,
        tables=tables,
    )


# Short names, categories and subresources as kube-apiserver 1.32 reports them.
BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t("", "v1", "Namespace", "namespaces", namespaced=False, short=["ns"],
       sub=["status", "finalize"],
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _t("", "v1", "Node", "nodes", namespaced=False, short=["no"], sub=["status", "proxy"]),
    _t("", "v1", "Pod", "pods", short=["po"], all_category=True,
       sub=["status", "binding", "eviction", "ephemeralcontainers", "log", "exec", "attach",
            "portforward", "proxy"]),
    _t("", "v1", "Service", "services", short=["svc"], all_category=True,
       sub=["status", "proxy"]),
    _t("", "v1", "Endpoints", "endpoints", short=["ep"]),
    _t("", "v1", "ConfigMap", "configmaps", short=["cm"]),
    _t("", "v1", "Secret", "secrets"),
    _t("", "v1", "ServiceAccount", "serviceaccounts", short=["sa"], sub=["token"]),
    _t("", "v1", "Event", "events", short=["ev"]),
    _t("", "v1", "PodTemplate", "podtemplates"),
    _t("", "v1", "ReplicationController", "replicationcontrollers", short=["rc"],
       all_category=True, sub=["status", "scale"]),
    _t("", "v1", "ResourceQuota", "resourcequotas", short=["quota"], sub=["status"]),
    _t("", "v1", "LimitRange", "limitranges", short=["limits"]),
    _t("", "v1", "ComponentStatus", "componentstatuses", namespaced=False, short=["cs"],
       verbs=("get", "list")),
    _t("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=["pv"],
       sub=["status"]),
    _t("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"],
       sub=["status"]),
    _t("apps", "v1", "Deployment", "deployments", short=["deploy"], all_category=True,
       sub=["status", "scale"]),
    _t("apps", "v1", "ReplicaSet", "replicasets", short=["rs"], all_category=True,
       sub=["status", "scale"]),
    _t("apps", "v1", "StatefulSet", "statefulsets", short=["sts"], all_category=True,
       sub=["status", "scale"]),
    _t("apps", "v1", "DaemonSet", "daemonsets", short=["ds"], all_category=True,
       sub=["status"]),
    _t("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # Stored at v2; v1 is served by conversion (conversion.py).
    _t("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"],
       all_category=True, sub=["status"]),
    _t("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"],
       all_category=True, sub=["status"]),
    _t("batch", "v1", "Job", "jobs", all_category=True, sub=["status"]),
    _t("batch", "v1", "CronJob", "cronjobs", short=["cj"], all_category=True, sub=["status"]),
    _t("networking.k8s.io", "v1", "Ingress", "ingresses", short=["ing"], sub=["status"]),
    _t("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _t("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=["netpol"]),
    _t("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _t("coordination.k8s.io", "v1", "Lease", "leases"),
    _t("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
       namespaced=False, short=["csr"], sub=["status", "approval"]),
    _t("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"],
       sub=["status"]),
    _t("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
       short=["pc"]),
    ResourceType("events.k8s.io", "v1", "Event", "events", True, ("ev",), stored_in=""),
    _t("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _t("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _t("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _t("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
       namespaced=False),
    _t("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
       namespaced=False, verbs=("create",), tables=False),
    _t("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
       namespaced=False, verbs=("create",), tables=False),
    _t("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
       namespaced=False, verbs=("create",), tables=False),
    _t("authentication.k8s.io", "v1", "TokenReview", "tokenreviews",
       namespaced=False, verbs=("create",), tables=False),
    _t("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       namespaced=False, short=["crd", "crds"], sub=["status"]),
)  # fmt: skip


class ResourceRegistry:
    """Resource types by group/version and plural; custom resources join at run time."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._order: list[ResourceType] = []
        self.generation = 0  # bumped by every change: what was looked up before may be gone
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        key = (rt.group, rt.version, rt.plural)
        if key not in self._by_path:
            self._order.append(rt)
        else:
            self._order = [rt if (t.group, t.version, t.plural) == key else t for t in self._order]
        self._by_path[key] = rt
        self.generation += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        rt = self._by_path.pop((group, version, plural), None)
        if rt is not None:
            self._order.remove(rt)
            self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for rt in self._order:
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._order))

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions) in first-registered order; the core group is ""."""
        seen: dict[str, list[str]] = {}
        for rt in self._order:
            versions = seen.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return list(seen.items())

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._order if rt.group == group and rt.version == version]


# The resource metrics API, served by the API server itself (metricsapi.py) where a
# cluster would aggregate metrics-server: kubectl top and the HPA read it. Apart
# from BUILTIN_TYPES, whose kinds the Kubernetes OpenAPI and printers all know.
METRICS_TYPES: tuple[ResourceType, ...] = (
    ResourceType("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False,
                 verbs=("get", "list"), computed=True),
    ResourceType("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True,
                 verbs=("get", "list"), computed=True),
)  # fmt: skip


def builtin_registry() -> ResourceRegistry:
    return ResourceRegistry((*BUILTIN_TYPES, *METRICS_TYPES))
