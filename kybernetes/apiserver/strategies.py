"""Which strategy each kind uses: one registry, one line per kind."""

from __future__ import annotations

from kybernetes.apiserver.strategy import (
    ConfigMapStrategy,
    NamespaceStrategy,
    PodStrategy,
    SecretStrategy,
    ServiceStrategy,
    Strategy,
)
from kybernetes.apiserver.workloads import (
    CronJobStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    JobStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)

__all__ = ["STRATEGIES", "strategy_for"]

STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "Namespace"): NamespaceStrategy(),
    ("", "ConfigMap"): ConfigMapStrategy(),
    ("", "Secret"): SecretStrategy(),
    ("", "Pod"): PodStrategy(),
    ("", "Service"): ServiceStrategy(),
    ("apps", "Deployment"): DeploymentStrategy(),
    ("apps", "ReplicaSet"): ReplicaSetStrategy(),
    ("apps", "StatefulSet"): StatefulSetStrategy(),
    ("apps", "DaemonSet"): DaemonSetStrategy(),
    ("batch", "Job"): JobStrategy(),
    ("batch", "CronJob"): CronJobStrategy(),
}

_DEFAULT = Strategy()


def strategy_for(group: str, kind: str) -> Strategy:
    return STRATEGIES.get((group, kind), _DEFAULT)
