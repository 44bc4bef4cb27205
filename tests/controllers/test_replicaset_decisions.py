"""The ReplicaSet controller's pure decisions."""

from __future__ import annotations

import datetime
from typing import Any

from kybernetes.api.selectors import label_selector_from_object
from kybernetes.controllers.ownership import adopt_patch, claim, release_patch
from kybernetes.controllers.replicaset_decisions import (
    available_in,
    decide,
    is_active,
    pod_from_template,
    replicaset_status,
    slow_start_batches,
)

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.UTC)


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
    status = replicaset_status(rs, [labeled, pod("y")], NOW)
    assert status == {"replicas": 2, "fullyLabeledReplicas": 1, "readyReplicas": 1,
                      "availableReplicas": 1, "observedGeneration": 3}  # fmt: skip


def ready_pod(name: str, since: str) -> dict[str, Any]:
    made = pod(name, node="n", phase="Running", ready=True)
    made["status"]["conditions"][0]["lastTransitionTime"] = since
    return made


def test_min_ready_seconds_delays_availability() -> None:
    rs = {"metadata": {"name": "r", "generation": 1},
          "spec": {"replicas": 2, "minReadySeconds": 10, "template": {}}}  # fmt: skip
    long_ready = ready_pod("a", "2026-11-30T11:59:00Z")  # 60 s ago
    just_ready = ready_pod("b", "2026-11-30T11:59:56Z")  # 4 s ago
    status = replicaset_status(rs, [long_ready, just_ready], NOW)
    assert status["readyReplicas"] == 2 and status["availableReplicas"] == 1
    assert available_in(just_ready, 10, NOW) == 6
    assert available_in(long_ready, 10, NOW) == 0
    assert available_in(pod("c"), 10, NOW) is None  # not ready at all
    rs["spec"]["minReadySeconds"] = 0
    assert replicaset_status(rs, [long_ready, just_ready], NOW)["availableReplicas"] == 2


def owned(name: str, labels: dict[str, str], owner: str | None) -> dict[str, Any]:
    refs = [{"uid": owner, "controller": True}] if owner else []
    return {"metadata": {"name": name, "uid": f"pod-{name}", "labels": labels,
                         "ownerReferences": refs}}  # fmt: skip


def test_claim_adopts_matching_orphans_and_releases_strays() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web", "uid": "rs-1"}}  # fmt: skip
    selector = label_selector_from_object({"matchLabels": {"app": "web"}})
    mine = owned("mine", {"app": "web"}, "rs-1")
    stray = owned("stray", {"app": "other"}, "rs-1")
    orphan = owned("orphan", {"app": "web"}, None)
    foreign = owned("foreign", {"app": "web"}, "rs-2")
    unrelated = owned("unrelated", {"app": "db"}, None)
    result = claim(rs, selector, [mine, stray, orphan, foreign, unrelated])
    assert result.keep == (mine,) and result.adopt == (orphan,) and result.release == (stray,)
    # A ReplicaSet being deleted adopts nothing and keeps what it has.
    rs["metadata"]["deletionTimestamp"] = "2026-11-30T12:00:00Z"
    result = claim(rs, selector, [mine, stray, orphan])
    assert result.adopt == () and result.release == () and len(result.keep) == 2
    # The patches name the pod's uid, so a re-created namesake is not touched.
    patch = adopt_patch(rs, orphan)
    assert patch["metadata"]["uid"] == "pod-orphan"
    assert patch["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1",
        "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    assert release_patch(rs, stray)["metadata"]["ownerReferences"] == [
        {"$patch": "delete", "uid": "rs-1"}]  # fmt: skip


def test_a_failure_to_create_pods_shows_as_replica_failure_until_it_passes() -> None:
    rs = {"metadata": {"name": "r", "generation": 1}, "spec": {"replicas": 2, "template": {}}}
    failed = replicaset_status(rs, [], NOW, ("FailedCreate", 'pods "r-x" is forbidden: '
                                                             "exceeded quota: q"))  # fmt: skip
    condition = failed["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "ReplicaFailure", "True", "FailedCreate")  # fmt: skip
    assert "exceeded quota" in condition["message"]
    healed = replicaset_status({**rs, "status": failed}, [], NOW)
    assert healed["conditions"] == []  # removed once pods are managed again
    assert "conditions" not in replicaset_status(rs, [], NOW)
