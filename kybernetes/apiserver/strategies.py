"""Which strategy each kind uses: one registry, one line per kind."""

from __future__ import annotations

from kybernetes.apiserver.configdata import ConfigMapStrategy, SecretStrategy
from kybernetes.apiserver.crd_strategy import CrdStrategy
from kybernetes.apiserver.csr_strategy import CertificateSigningRequestStrategy
from kybernetes.apiserver.endpoints_strategy import EndpointSliceStrategy, EndpointsStrategy
from kybernetes.apiserver.hpa_strategy import (
    HorizontalPodAutoscalerStrategy,
    HorizontalPodAutoscalerV1Strategy,
)
from kybernetes.apiserver.limitranger import LimitRangeStrategy
from kybernetes.apiserver.node_strategy import NodeStrategy
from kybernetes.apiserver.pdb_strategy import PodDisruptionBudgetStrategy
from kybernetes.apiserver.quota import ResourceQuotaStrategy
from kybernetes.apiserver.scheduling import PriorityClassStrategy
from kybernetes.apiserver.strategy import (
    IngressStrategy,
    NamespaceStrategy,
    PodStrategy,
    ServiceStrategy,
    Strategy,
)
from kybernetes.apiserver.workloads import (
    ControllerRevisionStrategy,
    CronJobStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    JobStrategy,
    PodTemplateStrategy,
    ReplicaSetStrategy,
    ReplicationControllerStrategy,
    StatefulSetStrategy,
)

__all__ = ["STRATEGIES", "generation", "register", "strategy_for", "unregister"]

STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "Namespace"): NamespaceStrategy(),
    ("", "ConfigMap"): ConfigMapStrategy(),
    ("", "Secret"): SecretStrategy(),
    ("", "Pod"): PodStrategy(),
    ("", "Node"): NodeStrategy(),
    ("", "Service"): ServiceStrategy(),
    ("", "Endpoints"): EndpointsStrategy(),
    ("discovery.k8s.io", "EndpointSlice"): EndpointSliceStrategy(),
    ("", "ResourceQuota"): ResourceQuotaStrategy(),
    ("", "LimitRange"): LimitRangeStrategy(),
    ("", "ReplicationController"): ReplicationControllerStrategy(),
    ("", "PodTemplate"): PodTemplateStrategy(),
    ("policy", "PodDisruptionBudget"): PodDisruptionBudgetStrategy(),
    ("networking.k8s.io", "Ingress"): IngressStrategy(),
    ("apps", "Deployment"): DeploymentStrategy(),
    ("apps", "ReplicaSet"): ReplicaSetStrategy(),
    ("apps", "StatefulSet"): StatefulSetStrategy(),
    ("apps", "DaemonSet"): DaemonSetStrategy(),
    ("apps", "ControllerRevision"): ControllerRevisionStrategy(),
    ("autoscaling", "HorizontalPodAutoscaler"): HorizontalPodAutoscalerStrategy(),
    ("batch", "Job"): JobStrategy(),
    ("batch", "CronJob"): CronJobStrategy(),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): CrdStrategy(),
    ("scheduling.k8s.io", "PriorityClass"): PriorityClassStrategy(),
    ("certificates.k8s.io", "CertificateSigningRequest"): CertificateSigningRequestStrategy(),
}

_DEFAULT = Strategy()


# Per served version: the versions of a CRD (added at run time), each with its
# own schema, and a built-in kind's versions other than its storage version.
VERSIONED: dict[tuple[str, str, str], Strategy] = {
    ("autoscaling", "HorizontalPodAutoscaler", "v1"): HorizontalPodAutoscalerV1Strategy(),
}


# Moves with every register/unregister: what is built from the strategies
# (the OpenAPI documents, which publish custom resources' schemas) keys on it.
_GENERATION = [0]


def generation() -> int:
    return _GENERATION[0]


def register(group: str, kind: str, strategy: Strategy, version: str = "") -> None:
    """A kind added at run time (a custom resource) brings its own strategy."""
    _GENERATION[0] += 1
    if version:
        VERSIONED[(group, kind, version)] = strategy
    else:
        STRATEGIES[(group, kind)] = strategy


def unregister(group: str, kind: str, version: str = "") -> None:
    _GENERATION[0] += 1
    if version:
        VERSIONED.pop((group, kind, version), None)
    else:
        STRATEGIES.pop((group, kind), None)


def strategy_for(group: str, kind: str, version: str = "") -> Strategy:
    found = VERSIONED.get((group, kind, version)) if version else None
    return found or STRATEGIES.get((group, kind), _DEFAULT)
