"""DefaultTolerationSeconds: new pods tolerate not-ready and unreachable for 300 s."""

from __future__ import annotations

from kybernetes.apiserver.admission import default_toleration_seconds
from tests.apiserver.conftest import Cluster

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}  # fmt: skip
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
               "effect": "NoExecute", "tolerationSeconds": 300}  # fmt: skip


def admitted(tolerations: list[dict] | None) -> list[dict]:
    pod: dict = {"spec": {"containers": []}}
    if tolerations is not None:
        pod["spec"]["tolerations"] = tolerations
    default_toleration_seconds(pod)
    return list(pod["spec"].get("tolerations") or [])


def test_both_added_in_order() -> None:
    assert admitted(None) == [NOT_READY, UNREACHABLE]
    own = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    assert admitted([own]) == [own, NOT_READY, UNREACHABLE]


def test_a_pod_that_tolerates_keeps_its_own() -> None:
    mine = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 6000}  # fmt: skip
    assert admitted([mine]) == [mine, NOT_READY]
    # An empty effect covers NoExecute; an empty key covers every key.
    any_effect = {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}
    assert admitted([any_effect]) == [any_effect, UNREACHABLE]
    everything = {"operator": "Exists"}
    assert admitted([everything]) == [everything]


def test_a_no_schedule_toleration_does_not_count() -> None:
    no_schedule = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                   "effect": "NoSchedule"}  # fmt: skip
    assert admitted([no_schedule]) == [no_schedule, NOT_READY, UNREACHABLE]


async def test_kubectl_shows_them(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27")
    jsonpath = "jsonpath={range .spec.tolerations[*]}{.key}={.tolerationSeconds} {end}"
    out = await cluster.kubectl("get", "pod", "web", "-o", jsonpath)
    assert out.split() == ["node.kubernetes.io/not-ready=300", "node.kubernetes.io/unreachable=300"]
