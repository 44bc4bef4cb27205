"""Does a pod fit a node by its nodeSelector, required node affinity and tolerations?

The DaemonSet controller decides placement itself (which nodes need a daemon
pod), and the kubelet admits a pod bound past the scheduler, with the same
rules the scheduler filters by: k8s.io/component-helpers
`nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)` and core/v1
`Toleration.ToleratesTaint`. Twin of the scheduler's NodeAffinity and
TaintToleration plugins: a change of semantics here must be made there too.
Pure functions over JSON-shaped dicts; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kybernetes.api.selectors import Operator, Requirement
from kybernetes.api.tolerations import tolerates

__all__ = [
    "find_untolerated_taint",
    "matches_node_selector_terms",
    "matches_required_affinity",
    "tolerates",
]

Obj = dict[str, Any]

# NodeSelectorOperator -> the label selector operator with the same meaning.
_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
    "Gt": Operator.GREATER_THAN,
    "Lt": Operator.LESS_THAN,
}


def _requirements_match(expressions: Sequence[Obj], values: Mapping[str, str]) -> bool:
    for expr in expressions:
        operator = _OPERATORS.get(str(expr.get("operator", "")))
        if operator is None:
            return False  # an unknown operator never matches (parse error: ignored, no fit)
        wanted = tuple(str(v) for v in expr.get("values") or ())
        if not Requirement(str(expr.get("key", "")), operator, wanted).matches(values):
            return False
    return True


def matches_node_selector_terms(terms: Sequence[Obj], node: Obj) -> bool:
    """Terms are ORed; inside a term, label expressions and field expressions are ANDed.

    A term with neither matches nothing, as in Kubernetes. The only field a
    node exposes to matchFields is `metadata.name`.
    """
    meta = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    fields = {"metadata.name": str(meta.get("name", ""))}
    for term in terms:
        expressions = term.get("matchExpressions") or []
        field_expressions = term.get("matchFields") or []
        if not expressions and not field_expressions:
            continue
        if _requirements_match(expressions, labels) and _requirements_match(
            field_expressions, fields
        ):
            return True
    return False


def matches_required_affinity(pod_spec: Obj, node: Obj) -> bool:
    """`spec.nodeSelector` and the required node affinity of a pod both hold on `node`."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or None
    if required is None:
        return True
    return matches_node_selector_terms(required.get("nodeSelectorTerms") or [], node)


def find_untolerated_taint(
    taints: Sequence[Obj], tolerations: Sequence[Obj], *, considered: Callable[[Obj], bool]
) -> Obj | None:
    """The first taint `considered` cares about that no toleration tolerates."""
    for taint in taints:
        if considered(taint) and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None
