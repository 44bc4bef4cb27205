"""StatefulSet decisions: identities, claims, ordered steps, partitions, status."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.api.times import format_time
from kybernetes.controllers.history import HASH_LABEL
from kybernetes.controllers.statefulset_decisions import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    StatefulPlan,
    apply_revision,
    claims_for,
    claims_to_release,
    ordinal_of,
    plan_step,
    stateful_pod,
    statefulset_status,
)

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
CUR, UPD = "web-cur", "web-upd"


def sts(replicas: int = 3, *, policy: str = "OrderedReady", partition: int = 0,
        strategy: str = "RollingUpdate", **spec: Any) -> Obj:  # fmt: skip
    update: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 2},
        "spec": {
            "replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                         "spec": {"containers": [{"name": "c", "image": "new"}]}},
            "updateStrategy": update, **spec,
        },
    }  # fmt: skip


def pod(n: int, revision: str = UPD, *, ready: bool = True, phase: str = "Running",
        deleting: bool = False, ready_for: int = 3600) -> Obj:  # fmt: skip
    meta: Obj = {"name": f"web-{n}", "uid": f"uid-{n}",
                 "labels": {"app": "nginx", HASH_LABEL: revision, POD_NAME_LABEL: f"web-{n}",
                            POD_INDEX_LABEL: str(n)}}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = format_time(NOW)
    since = format_time(NOW - datetime.timedelta(seconds=ready_for))
    return {"metadata": meta, "spec": {"hostname": f"web-{n}", "subdomain": "nginx"},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": since}]}}  # fmt: skip


def step(the_set: Obj, pods: list[Obj], now: datetime.datetime = NOW) -> StatefulPlan:
    current = {**the_set, "spec": {**the_set["spec"], "template": {
        "metadata": {"labels": {"app": "nginx"}},
        "spec": {"containers": [{"name": "c", "image": "old"}]}}}}  # fmt: skip
    return plan_step(the_set, pods, current=(current, CUR), update=(the_set, UPD), now=now)


def created(plan: StatefulPlan) -> list[str]:
    return [p["metadata"]["name"] for p in plan.create]


def deleted(plan: StatefulPlan) -> list[str]:
    return [p["metadata"]["name"] for p in plan.delete]


# -- identity and storage ------------------------------------------------------------------


def test_ordinal_of() -> None:
    assert ordinal_of("web", {"metadata": {"name": "web-12"}}) == 12
    assert ordinal_of("web", {"metadata": {"name": "web-x-1"}}) is None
    assert ordinal_of("web-x", {"metadata": {"name": "web-x-1"}}) == 1
    assert ordinal_of("web", {"metadata": {"name": "web"}}) is None


def test_stateful_pod_identity_and_volumes() -> None:
    the_set = sts(volumeClaimTemplates=[{"metadata": {"name": "www"}, "spec": {}}])
    the_set["spec"]["template"]["spec"]["volumes"] = [{"name": "www", "emptyDir": {}},
                                                      {"name": "cfg", "emptyDir": {}}]  # fmt: skip
    made = stateful_pod(the_set, 4, revision_name=UPD)
    meta, spec = made["metadata"], made["spec"]
    assert meta["name"] == "web-4" and "generateName" not in meta
    assert meta["labels"] == {"app": "nginx", HASH_LABEL: UPD, POD_NAME_LABEL: "web-4",
                              POD_INDEX_LABEL: "4"}  # fmt: skip
    assert meta["ownerReferences"][0]["kind"] == "StatefulSet"
    assert spec["hostname"] == "web-4" and spec["subdomain"] == "nginx"
    assert spec["volumes"] == [{"name": "cfg", "emptyDir": {}},
                               {"name": "www", "persistentVolumeClaim": {
                                   "claimName": "www-web-4"}}]  # fmt: skip


def test_claims_for_an_ordinal() -> None:
    template = {"metadata": {"name": "www", "labels": {"tier": "data"}},
                "spec": {"accessModes": ["ReadWriteOnce"]}}  # fmt: skip
    [claim] = claims_for(sts(volumeClaimTemplates=[template]), 2)
    assert claim["metadata"]["name"] == "www-web-2"
    assert claim["metadata"]["labels"] == {"tier": "data", "app": "nginx"}
    assert "ownerReferences" not in claim["metadata"]  # Retain by default
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"]}
    owned = sts(volumeClaimTemplates=[template],
                persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete",
                                                      "whenScaled": "Retain"})  # fmt: skip
    [claim] = claims_for(owned, 0)
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "u1"


def test_apply_revision_takes_the_template_back() -> None:
    revision = {"data": {"spec": {"template": {"metadata": {}, "spec": {"x": 1},
                                               "$patch": "replace"}}}}  # fmt: skip
    applied = apply_revision(sts(), revision)
    assert applied["spec"]["template"] == {"metadata": {}, "spec": {"x": 1}}
    assert applied["spec"]["replicas"] == 3


# -- OrderedReady and Parallel -------------------------------------------------------------


def test_ordered_ready_creates_one_at_a_time_after_the_previous_is_ready() -> None:
    assert created(step(sts(), [])) == ["web-0"]
    assert created(step(sts(), [pod(0, ready=False)])) == []
    assert created(step(sts(), [pod(0, phase="Pending", ready=False)])) == []
    assert created(step(sts(), [pod(0)])) == ["web-1"]
    assert created(step(sts(), [pod(0), pod(1)])) == ["web-2"]
    # A gap is filled first, and nothing above it moves meanwhile.
    assert created(step(sts(), [pod(0), pod(2)])) == ["web-1"]


def test_ordered_ready_waits_for_min_ready_seconds() -> None:
    the_set = sts(minReadySeconds=30)
    assert created(step(the_set, [pod(0, ready_for=10)])) == []
    assert created(step(the_set, [pod(0, ready_for=31)])) == ["web-1"]


def test_parallel_creates_all_at_once() -> None:
    assert created(step(sts(policy="Parallel"), [])) == ["web-0", "web-1", "web-2"]
    assert created(step(sts(policy="Parallel"), [pod(1, ready=False)])) == ["web-0", "web-2"]


def test_failed_pods_are_deleted_to_be_recreated() -> None:
    plan = step(sts(), [pod(0, phase="Failed"), pod(1)])
    assert deleted(plan) == ["web-0"] and [p["metadata"]["name"] for p in plan.recreate] == [
        "web-0"]  # fmt: skip
    assert created(plan) == []  # it comes back once the deletion is seen


def test_scale_down_from_the_highest_ordinal_one_at_a_time() -> None:
    pods = [pod(0), pod(1), pod(2), pod(3)]
    assert deleted(step(sts(1), pods)) == ["web-3"]
    # The next one waits until the previous deletion completed.
    assert deleted(step(sts(1), [pod(0), pod(1), pod(2), pod(3, deleting=True)])) == []
    assert deleted(step(sts(1), [pod(0), pod(1), pod(2)])) == ["web-2"]
    # An unready condemned pod blocks unless it is the first unhealthy one (kube's
    # e2e "scale down will halt with unhealthy stateful pod").
    assert deleted(step(sts(1), [pod(0), pod(1, ready=False), pod(2, ready=False)])) == []
    assert deleted(step(sts(0), [pod(0, ready=False), pod(1, ready=False)])) == []
    assert deleted(step(sts(1), [pod(0), pod(1), pod(2, ready=False)])) == ["web-2"]
    assert deleted(step(sts(1), [pod(0), pod(1, ready=False), pod(2)])) == ["web-2"]
    # Scaling down waits for the remaining replicas to be healthy.
    assert deleted(step(sts(1), [pod(0, ready=False), pod(1)])) == []


def test_parallel_scale_down_deletes_all_condemned() -> None:
    pods = [pod(0), pod(1, ready=False), pod(2)]
    assert deleted(step(sts(0, policy="Parallel"), pods)) == ["web-2", "web-1", "web-0"]


def test_identity_is_restored() -> None:
    broken = pod(1)
    broken["spec"]["hostname"] = "elsewhere"
    plan = step(sts(2), [pod(0), broken])
    [fixed] = plan.update
    assert fixed["spec"]["hostname"] == "web-1" and fixed["metadata"]["uid"] == "uid-1"


# -- rolling update ------------------------------------------------------------------------


def test_rolling_update_from_the_highest_ordinal() -> None:
    old = [pod(0, CUR), pod(1, CUR), pod(2, CUR)]
    assert deleted(step(sts(), old)) == ["web-2"]
    # The replacement must be healthy before the next one goes.
    assert deleted(step(sts(), [pod(0, CUR), pod(1, CUR), pod(2, UPD, ready=False)])) == []
    assert deleted(step(sts(), [pod(0, CUR), pod(1, CUR), pod(2, UPD)])) == ["web-1"]
    assert deleted(step(sts(), [pod(0, UPD), pod(1, UPD), pod(2, UPD)])) == []


def test_partition_limits_the_update_and_picks_the_revision_of_new_pods() -> None:
    the_set = sts(partition=2)
    assert deleted(step(the_set, [pod(0, CUR), pod(1, CUR), pod(2, UPD)])) == []
    plan = step(the_set, [pod(1, CUR), pod(2, UPD)])
    [web0] = plan.create
    assert web0["metadata"]["labels"][HASH_LABEL] == CUR
    assert web0["spec"]["containers"][0]["image"] == "old"
    plan = step(the_set, [pod(0, CUR), pod(1, CUR)])
    [web2] = plan.create
    assert web2["metadata"]["labels"][HASH_LABEL] == UPD
    assert web2["spec"]["containers"][0]["image"] == "new"


def test_on_delete_never_deletes_for_an_update_but_recreates_at_the_update_revision() -> None:
    the_set = sts(strategy="OnDelete")
    assert deleted(step(the_set, [pod(0, CUR), pod(1, CUR), pod(2, CUR)])) == []
    [web1] = step(the_set, [pod(0, CUR)]).create
    assert web1["metadata"]["labels"][HASH_LABEL] == UPD


def test_a_set_being_deleted_does_nothing() -> None:
    the_set = sts()
    the_set["metadata"]["deletionTimestamp"] = format_time(NOW)
    assert step(the_set, []) == StatefulPlan()


# -- status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        ([pod(0, CUR), pod(1, UPD, ready=False), pod(2, CUR, deleting=True)],
         {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "currentReplicas": 1,
          "updatedReplicas": 1, "currentRevision": CUR}),
        # Everything updated and ready: the update revision becomes current.
        ([pod(0, UPD), pod(1, UPD)],
         {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "currentReplicas": 2,
          "updatedReplicas": 2, "currentRevision": UPD}),
    ],
)  # fmt: skip
def test_status(pods: list[Obj], expected: Obj) -> None:
    status = statefulset_status(sts(), pods, current_revision=CUR, update_revision=UPD, now=NOW)
    assert status == {**expected, "observedGeneration": 2, "updateRevision": UPD,
                      "collisionCount": 0}  # fmt: skip


def test_status_available_needs_min_ready_seconds() -> None:
    status = statefulset_status(sts(minReadySeconds=60), [pod(0, ready_for=10)],
                                current_revision=UPD, update_revision=UPD, now=NOW)  # fmt: skip
    assert status["readyReplicas"] == 1 and status["availableReplicas"] == 0


def test_claims_to_release_on_scale_down_with_when_scaled_delete() -> None:
    template = {"metadata": {"name": "www"}, "spec": {}}
    claim = {"metadata": {"name": "www-web-2", "ownerReferences": [{"uid": "other"}]}}
    retain = sts(1, volumeClaimTemplates=[template])
    assert claims_to_release(retain, pod(2), existing={"www-web-2": claim}) == []
    delete = sts(1, volumeClaimTemplates=[template],
                 persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain",
                                                       "whenScaled": "Delete"})  # fmt: skip
    [changed] = claims_to_release(delete, pod(2), existing={"www-web-2": claim})
    pod_ref = {"apiVersion": "v1", "kind": "Pod", "name": "web-2", "uid": "uid-2"}
    assert changed["metadata"]["ownerReferences"] == [{"uid": "other"}, pod_ref]
    assert claims_to_release(delete, pod(2), existing={"www-web-2": changed}) == []  # already owned
    assert claims_to_release(delete, pod(2), existing={}) == []  # no claim: nothing to hand over
