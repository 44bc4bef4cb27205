"""What objects cost against a quota, scopes, and admission's verdicts (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.api.resourcequota import (
    Refusal,
    evaluate,
    format_quantity,
    matches_scopes,
    object_usage,
    quota_used,
)
from kybernetes.controllers.resourcequota_decisions import quota_status, unmonitored_counts


def pod(*containers: dict, init: tuple[dict, ...] = (), **spec: object) -> dict:
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers), "initContainers": list(init), **spec},
    }


def c(name: str = "app", **resources: dict[str, str]) -> dict:
    return {"name": name, "resources": resources}


def quota(hard: dict[str, str], used: dict[str, str] | None = None, **spec: object) -> dict:
    status = {"hard": hard, "used": used if used is not None else dict.fromkeys(hard, "0")}
    return {"metadata": {"name": "q"}, "spec": {"hard": hard, **spec}, "status": status}


def test_pod_usage_sums_containers_and_takes_the_largest_init_container() -> None:
    usage = object_usage(
        "",
        "pods",
        pod(
            c("a", requests={"cpu": "250m"}, limits={"cpu": "500m", "memory": "64Mi"}),
            c("b", requests={"cpu": "250m", "example.com/gpu": "1"}),
            init=(c("i", requests={"cpu": "2"}),),
        ),
    )
    assert usage["pods"] == usage["count/pods"] == 1
    assert usage["requests.cpu"] == usage["cpu"] == 2  # the init container is bigger than the sum
    assert usage["limits.cpu"] == Fraction(1, 2)
    assert usage["requests.memory"] == 64 * 2**20  # a request left out defaults to the limit
    assert usage["requests.example.com/gpu"] == 1
    assert "limits.example.com/gpu" not in usage and "example.com/gpu" not in usage


def test_finished_pods_cost_nothing_other_kinds_cost_their_counts() -> None:
    done = pod(c(requests={"cpu": "1"}))
    done["status"] = {"phase": "Succeeded"}
    assert object_usage("", "pods", done) == {}
    assert object_usage("", "configmaps", {}) == {"configmaps": 1, "count/configmaps": 1}
    assert object_usage("apps", "deployments", {}) == {"count/deployments.apps": 1}
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    assert object_usage("", "services", svc) == {
        "services": 1,
        "count/services": 1,
        "services.nodeports": 2,
        "services.loadbalancers": 1,
    }


def test_scopes() -> None:
    best_effort = pod(c())
    burstable = pod(c(requests={"cpu": "1"}))
    deadline = pod(c(), activeDeadlineSeconds=30)
    high = pod(c(), priorityClassName="high")
    q = lambda **spec: quota({"pods": "9"}, **spec)  # noqa: E731
    assert matches_scopes(q(scopes=["BestEffort"]), "", "pods", best_effort)
    assert not matches_scopes(q(scopes=["BestEffort"]), "", "pods", burstable)
    assert matches_scopes(q(scopes=["NotBestEffort"]), "", "pods", burstable)
    assert matches_scopes(q(scopes=["Terminating"]), "", "pods", deadline)
    assert not matches_scopes(q(scopes=["Terminating", "BestEffort"]), "", "pods", burstable)
    assert matches_scopes(q(scopes=["NotTerminating"]), "", "pods", best_effort)
    selector = {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]
    }
    assert matches_scopes(q(scopeSelector=selector), "", "pods", high)
    assert not matches_scopes(q(scopeSelector=selector), "", "pods", best_effort)
    # A scoped quota never charges another kind.
    assert not matches_scopes(q(scopes=["BestEffort"]), "", "configmaps", {})


def test_evaluate_charges_or_refuses_as_kubernetes_words_it() -> None:
    compute = quota({"requests.cpu": "2", "pods": "3"}, {"requests.cpu": "1", "pods": "1"})
    charged = evaluate(compute, group="", plural="pods", obj=pod(c(requests={"cpu": "500m"})))
    assert charged == {"requests.cpu": Fraction(3, 2), "pods": 2}
    over = evaluate(compute, group="", plural="pods", obj=pod(c(requests={"cpu": "2"})))
    assert over == Refusal(
        "exceeded quota: q, requested: requests.cpu=2, used: "
        "requests.cpu=1, limited: requests.cpu=2"
    )
    bare = evaluate(
        quota({"limits.memory": "1Gi", "cpu": "1"}),
        group="",
        plural="pods",
        obj=pod(c("web"), c("side", limits={"cpu": "1"})),
    )
    assert bare == Refusal(
        "failed quota: q: must specify cpu for: web; limits.memory for: side,web"
    )
    unknown = quota({"configmaps": "1"})
    del unknown["status"]
    assert evaluate(unknown, group="", plural="configmaps", obj={}) == Refusal(
        "status unknown for quota: q, resources: configmaps"
    )
    # A quota that constrains nothing of this kind has nothing to say.
    assert evaluate(unknown, group="", plural="secrets", obj={}) is None
    memory = quota({"requests.memory": "1Gi"}, {"requests.memory": "768Mi"})
    assert evaluate(
        memory, group="", plural="pods", obj=pod(c(requests={"memory": "512Mi"}))
    ) == Refusal(
        "exceeded quota: q, requested: requests.memory=512Mi, used: requests.memory=768Mi, "
        "limited: requests.memory=1Gi"
    )


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Fraction(0), False, "0"),
        (Fraction(2), False, "2"),
        (Fraction(3, 2), False, "1500m"),
        (Fraction(5000), False, "5k"),
        (Fraction(1, 10**7), False, "100n"),
        (Fraction(2**30), True, "1Gi"),
        (Fraction(1536 * 2**20), True, "1536Mi"),
        (Fraction(1000), True, "1k"),
    ],
)
def test_format_quantity(value: Fraction, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text


def test_quota_status_recomputes_and_stays_quiet_when_it_agrees() -> None:
    q = quota({"pods": "5", "requests.cpu": "2", "configmaps": "3"}, {"pods": "4"})
    objects = {
        ("", "pods"): [pod(c(requests={"cpu": "500m"})), pod(c(requests={"cpu": "1"}))],
        ("", "configmaps"): [{}],
        ("", "secrets"): [{}],
    }
    assert quota_used(q, objects) == {"pods": 2, "requests.cpu": Fraction(3, 2), "configmaps": 1}
    status = quota_status(q, objects)
    assert status == {
        "hard": q["spec"]["hard"],
        "used": {"pods": "2", "requests.cpu": "1500m", "configmaps": "1"},
    }
    q["status"] = {
        "hard": dict(q["spec"]["hard"]),
        "used": {"pods": "2", "requests.cpu": "1.5", "configmaps": "1"},
    }
    assert quota_status(q, objects) is None  # same amounts, another spelling
    q["spec"]["hard"]["pods"] = "6"
    assert quota_status(q, objects) is not None  # status.hard follows the spec


def test_unmonitored_counts_are_listed() -> None:
    q = quota(
        {
            "count/pods": "1",
            "count/leases.coordination.k8s.io": "1",
            "count/serviceaccounts": "2",
            "count/deployments.apps": "1",
            "pods": "1",
        }
    )
    assert unmonitored_counts(q) == [("coordination.k8s.io", "leases"), ("", "serviceaccounts")]


def test_an_update_is_charged_only_for_what_it_adds() -> None:
    q = quota({"services.loadbalancers": "1", "services": "5"},
              {"services.loadbalancers": "1", "services": "2"})  # fmt: skip
    plain = {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    balanced = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    assert evaluate(q, group="", plural="services", obj=balanced, old=plain) == Refusal(
        "exceeded quota: q, requested: services.loadbalancers=1, used: "
        "services.loadbalancers=1, limited: services.loadbalancers=1"
    )
    # Nothing added (a label, or a LoadBalancer staying one): nothing to judge.
    assert evaluate(q, group="", plural="services", obj=plain, old=plain) is None
    assert evaluate(q, group="", plural="services", obj=balanced, old=balanced) is None
    assert evaluate(q, group="", plural="services", obj=plain, old=balanced) is None


def test_a_pod_is_never_judged_by_resources_it_cannot_use() -> None:
    storage = quota({"requests.storage": "1Gi"})
    del storage["status"]  # no status yet: would refuse what it constrains
    assert evaluate(storage, group="", plural="pods", obj=pod(c())) is None
    overhead = pod(c(requests={"cpu": "1"}), overhead={"cpu": "250m", "memory": "64Mi"})
    usage = object_usage("", "pods", overhead)
    assert usage["requests.cpu"] == Fraction(5, 4) and usage["requests.memory"] == 64 * 2**20
