"""The ReplicaSet controller's pure decisions."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.replicaset_decisions import (
    decide,
    is_active,
    pod_from_template,
    replicaset_status,
    slow_start_batches,
)


def pod(name: str, *, node: str = "", phase: str = "Pending", ready: bool = False,
        created: str = "2026-11-30T10:00:00Z") -> dict[str, Any]:  # fmt: skip
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase, "conditions": conditions},
    }


def test_creates_what_is_missing_and_nothing_when_even() -> None:
    assert decide(3, [pod("a")]).create == 2
    assert decide(1, [pod("a")]).create == 0 and decide(1, [pod("a")]).delete == ()


def test_deletes_unscheduled_then_not_ready_then_newest() -> None:
    ready_old = pod("ready-old", node="n", phase="Running", ready=True)
    ready_new = pod("ready-new", node="n", phase="Running", ready=True,
                    created="2026-11-30T11:00:00Z")  # fmt: skip
    not_ready = pod("not-ready", node="n", phase="Running")
    unscheduled = pod("unscheduled")
    decision = decide(1, [ready_old, ready_new, not_ready, unscheduled])
    assert [p["metadata"]["name"] for p in decision.delete] == [
        "unscheduled", "not-ready", "ready-new"]  # fmt: skip


def test_finished_and_terminating_pods_do_not_count() -> None:
    assert not is_active(pod("done", phase="Succeeded"))
    terminating = pod("t")
    terminating["metadata"]["deletionTimestamp"] = "2026-11-30T10:00:00Z"
    assert not is_active(terminating)
    assert is_active(pod("p"))


def test_slow_start() -> None:
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(0) == []


def test_pod_from_template_and_status() -> None:
    template = {
        "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "c"}]},
    }
    rs = {
        "metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1", "generation": 3},
        "spec": {"replicas": 2, "template": template},
    }
    made = pod_from_template(rs)
    assert made["metadata"]["generateName"] == "web-abc-"
    assert made["metadata"]["labels"] == {"app": "web"}
    assert "creationTimestamp" not in made["metadata"]
    assert made["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert made["metadata"]["ownerReferences"][0]["controller"] is True
    labeled = pod("x", ready=True)
    labeled["metadata"]["labels"] = {"app": "web"}
    status = replicaset_status(rs, [labeled, pod("y")])
    assert status == {"replicas": 2, "fullyLabeledReplicas": 1, "readyReplicas": 1,
                      "availableReplicas": 1, "observedGeneration": 3}  # fmt: skip
