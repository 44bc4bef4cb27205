"""The Job controller's pure decisions: pods to run, counting, fate, back-off, status."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.controllers.job_decisions import (
    COMPLETION_INDEX,
    COUNTED,
    Backoff,
    backoff_remaining,
    claim,
    completed_indexes_text,
    finish_condition,
    job_status,
    match_pod_failure_policy,
    next_backoff,
    parse_indexes,
    plan_pods,
    pod_from_template,
    success_reached,
    tally,
)

Obj = dict[str, Any]
T0 = datetime.datetime(2026, 11, 30, 6, 0, 0, tzinfo=datetime.UTC)


def stamp(seconds: float) -> str:
    return (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_job(**spec: Any) -> Obj:
    status = spec.pop("status", {})
    base = {"parallelism": 1, "completions": 1, "backoffLimit": 6,
            "completionMode": "NonIndexed", "suspend": False,
            "template": {"metadata": {"labels": {"job-name": "pi"}},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "pi", "image": "perl"}]}}}  # fmt: skip
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "job-uid"},
            "spec": base, "status": status}  # fmt: skip


def make_pod(name: str, phase: str = "Running", *, index: int | None = None,
             counted: bool = False, deleting: bool = False, ready: bool = False,
             finished: float | None = None, created: float = 0) -> Obj:  # fmt: skip
    annotations: dict[str, str] = {}
    if index is not None:
        annotations[COMPLETION_INDEX] = str(index)
    if counted:
        annotations[COUNTED] = "true"
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "annotations": annotations, "creationTimestamp": stamp(created)}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = stamp(created + 1)
    status: Obj = {"phase": phase}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    if finished is not None:
        ended = {"exitCode": 0 if phase == "Succeeded" else 1, "finishedAt": stamp(finished)}
        status["containerStatuses"] = [{"name": "pi", "state": {"terminated": ended}}]
    return {"metadata": meta, "spec": {"nodeName": "n1"}, "status": status}


# --- pods to create and delete ------------------------------------------------------


def test_creates_up_to_parallelism_within_remaining_completions() -> None:
    job = make_job(parallelism=3, completions=5)
    assert plan_pods(job, [], 0, tally(job, []), 0).create == (None, None, None)
    # Four succeeded: only one completion is left, so one pod runs.
    done = [make_pod(f"s{i}", "Succeeded") for i in range(4)]
    assert plan_pods(job, [], 0, tally(job, done), 0).create == (None,)
    running = [make_pod("r1")]
    assert plan_pods(job, running, 0, tally(job, done + running), 0).create == ()


def test_deletes_the_surplus_least_useful_first() -> None:
    job = make_job(parallelism=1, completions=5)
    ready = make_pod("ready", ready=True)
    pending = make_pod("pending", "Pending")
    plan = plan_pods(job, [ready, pending], 0, tally(job, []), 0)
    assert plan.create == () and [p["metadata"]["name"] for p in plan.delete] == ["pending"]


def test_work_queue_runs_parallelism_until_one_succeeds() -> None:
    job = make_job(parallelism=3, completions=None)
    assert len(plan_pods(job, [], 0, tally(job, []), 0).create) == 3
    others = [make_pod("a"), make_pod("b")]
    done = tally(job, [*others, make_pod("s", "Succeeded")])
    # One succeeded: the others finish on their own, none is added or removed.
    assert plan_pods(job, others, 0, done, 0).create == ()
    assert plan_pods(job, others, 0, done, 0).delete == ()
    assert not success_reached(job, done, active=2)
    assert success_reached(job, done, active=0)


def test_suspend_deletes_every_active_pod() -> None:
    job = make_job(parallelism=2, completions=4, suspend=True)
    active = [make_pod("a"), make_pod("b")]
    assert plan_pods(job, active, 0, tally(job, active), 0).delete == tuple(active)


def test_backoff_delays_replacements_but_not_deletions() -> None:
    job = make_job(parallelism=2, completions=4)
    plan = plan_pods(job, [], 0, tally(job, []), 12.5)
    assert plan.create == () and plan.wait == 12.5
    too_many = [make_pod("a"), make_pod("b"), make_pod("c")]
    assert len(plan_pods(job, too_many, 0, tally(job, too_many), 12.5).delete) == 1


def test_replacement_policy_failed_waits_for_terminating_pods() -> None:
    job = make_job(parallelism=2, completions=2, podReplacementPolicy="Failed")
    assert len(plan_pods(job, [], 1, tally(job, []), 0).create) == 1
    job = make_job(parallelism=2, completions=2)  # TerminatingOrFailed: replaced at once
    assert len(plan_pods(job, [], 1, tally(job, []), 0).create) == 2


def test_indexed_creates_the_lowest_pending_indexes() -> None:
    job = make_job(parallelism=2, completions=5, completionMode="Indexed",
                   status={"completedIndexes": "0,2"})  # fmt: skip
    running = [make_pod("i1", index=1)]
    assert plan_pods(job, running, 0, tally(job, running), 0).create == (3,)


def test_indexed_removes_repeated_and_invalid_indexes() -> None:
    job = make_job(parallelism=3, completions=3, completionMode="Indexed")
    twins = [make_pod("a", index=0, ready=True), make_pod("b", index=0), make_pod("c", index=7)]
    plan = plan_pods(job, twins, 0, tally(job, twins), 0)
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["b", "c"]


# --- counting ---------------------------------------------------------------------


def test_counting_in_three_steps() -> None:
    job = make_job(parallelism=2, completions=3)
    ok, bad = make_pod("ok", "Succeeded"), make_pod("bad", "Failed")
    first = tally(job, [ok, bad])
    # Step 1: uncounted first, nothing counted for good yet, both to be marked.
    assert (first.succeeded, first.failed) == (0, 0)
    assert (first.uncounted_succeeded, first.uncounted_failed) == (("uid-ok",), ("uid-bad",))
    assert {p["metadata"]["name"] for p in first.to_mark} == {"ok", "bad"}
    assert (first.total_succeeded, first.total_failed) == (1, 1)
    job["status"] = {"uncountedTerminatedPods": {"succeeded": ["uid-ok"], "failed": ["uid-bad"]}}
    # Not yet marked: still uncounted, still to mark, not counted twice.
    again = tally(job, [ok, bad])
    assert again.uncounted_succeeded == ("uid-ok",) and again.new_succeeded == ()
    assert (again.total_succeeded, again.total_failed) == (1, 1)
    # Step 3: marked (ok) or gone (bad) moves into the counters.
    marked = make_pod("ok", "Succeeded", counted=True)
    last = tally(job, [marked])
    assert (last.succeeded, last.failed, last.settled) == (1, 1, True)
    assert last.to_mark == ()


def test_counted_pods_are_never_counted_again() -> None:
    job = make_job(status={"succeeded": 2})
    pods = [make_pod("a", "Succeeded", counted=True), make_pod("b", "Succeeded", counted=True)]
    counts = tally(job, pods)
    assert (counts.succeeded, counts.total_succeeded, counts.to_mark) == (2, 2, ())


def test_a_deleted_running_pod_counts_as_failed() -> None:
    job = make_job(parallelism=2, completions=2)
    counts = tally(job, [make_pod("d", deleting=True)])
    assert counts.uncounted_failed == ("uid-d",)
    # With podReplacementPolicy Failed it is not failed until its phase says so.
    job["spec"]["podReplacementPolicy"] = "Failed"
    assert tally(job, [make_pod("d", deleting=True)]).uncounted_failed == ()


def test_vanished_pods_count_once() -> None:
    job = make_job()
    gone = [make_pod("x"), make_pod("y", "Succeeded"), make_pod("z", counted=True)]
    counts = tally(job, [], gone)
    assert (counts.succeeded, counts.failed) == (1, 1)
    assert set(counts.counted_vanished) == {"uid-x", "uid-y"}
    # One already in the uncounted list is moved from there, not counted again,
    # and is settled: the controller forgets its copy (a later sync, with the
    # uncounted list emptied, would have counted it a second time).
    job["status"] = {"uncountedTerminatedPods": {"failed": ["uid-x"]}}
    counts = tally(job, [], [make_pod("x")])
    assert (counts.failed, counts.counted_vanished) == (1, ("uid-x",))


def test_indexed_successes_are_distinct_indexes() -> None:
    job = make_job(parallelism=2, completions=3, completionMode="Indexed",
                   status={"completedIndexes": "0"})  # fmt: skip
    pods = [make_pod("a", "Succeeded", index=1), make_pod("b", "Succeeded", index=1),
            make_pod("c", "Succeeded", index=9)]  # fmt: skip
    counts = tally(job, pods)
    assert counts.completed == frozenset({0, 1})


def test_indexes_text() -> None:
    assert completed_indexes_text([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert completed_indexes_text([]) == ""
    assert parse_indexes("0-2,5,7-8", 8) == {0, 1, 2, 5, 7}
    assert parse_indexes("x,3", 5) == {3}


# --- fate -------------------------------------------------------------------------


def test_backoff_limit() -> None:
    job = make_job(backoffLimit=1, status={"failed": 1})
    assert finish_condition(job, [], tally(job, []), T0) is None
    failed = [make_pod("f", "Failed")]
    assert finish_condition(job, failed, tally(job, failed), T0) == (
        "FailureTarget",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )


def test_backoff_limit_counts_restarts_with_on_failure() -> None:
    job = make_job(backoffLimit=2)
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    pod = make_pod("p")
    pod["status"]["containerStatuses"] = [{"name": "pi", "restartCount": 2}]
    assert finish_condition(job, [pod], tally(job, [pod]), T0) is not None
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    assert finish_condition(job, [pod], tally(job, [pod]), T0) is None


def test_active_deadline() -> None:
    job = make_job(activeDeadlineSeconds=30, status={"startTime": stamp(0)})
    assert finish_condition(job, [], tally(job, []), T0 + datetime.timedelta(seconds=29)) is None
    assert finish_condition(job, [], tally(job, []), T0 + datetime.timedelta(seconds=30)) == (
        "FailureTarget",
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    job["spec"]["suspend"] = True  # a suspended Job's deadline does not run
    assert finish_condition(job, [], tally(job, []), T0 + datetime.timedelta(hours=1)) is None


def test_an_interim_condition_stands() -> None:
    condition = {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline"}  # fmt: skip
    job = make_job(status={"conditions": [condition]})
    assert finish_condition(job, [], tally(job, []), T0)[1] == "DeadlineExceeded"  # type: ignore[index]


# --- back-off -----------------------------------------------------------------------


def test_backoff_doubles_from_ten_seconds_to_ten_minutes() -> None:
    record = next_backoff(Backoff(), [], [make_pod("a", "Failed", finished=0)])
    assert record == Backoff(1, T0)
    assert backoff_remaining(record, T0 + datetime.timedelta(seconds=4)) == 6
    record = next_backoff(record, [], [make_pod("b", "Failed", finished=10)])
    assert backoff_remaining(record, T0 + datetime.timedelta(seconds=10)) == 20
    assert backoff_remaining(Backoff(7, T0), T0) == 600  # 640 s, capped
    assert backoff_remaining(Backoff(7, T0), T0 + datetime.timedelta(minutes=11)) == 0


def test_a_success_resets_the_backoff() -> None:
    record = Backoff(3, T0)
    assert next_backoff(record, [make_pod("s", "Succeeded", finished=5)], []) == Backoff()
    # Failures after the success still count.
    failures = [make_pod("f", "Failed", finished=1), make_pod("g", "Failed", finished=9)]
    after = next_backoff(record, [make_pod("s", "Succeeded", finished=5)], failures)
    assert after == Backoff(1, T0 + datetime.timedelta(seconds=9))


# --- status -------------------------------------------------------------------------


def status_of(job: Obj, pods: list[Obj], **kw: Any) -> Any:
    counts = tally(job, pods)
    return job_status(job, counts=counts, active=kw.get("active", 0), ready=kw.get("ready", 0),
                      terminating=kw.get("terminating", 0), interim=kw.get("interim"),
                      manage_ran=kw.get("manage_ran", True), now=T0)  # fmt: skip


def test_status_of_a_running_job() -> None:
    change = status_of(make_job(), [], active=1)
    assert change.status == {"startTime": stamp(0), "active": 1, "ready": 0, "terminating": 0,
                             "uncountedTerminatedPods": {}}  # fmt: skip
    assert change.finished == ""


def test_success_is_interim_then_complete_when_settled() -> None:
    job = make_job()
    interim = ("SuccessCriteriaMet", "CompletionsReached",
               "Reached expected number of succeeded pods")  # fmt: skip
    unsettled = status_of(job, [make_pod("s", "Succeeded")], interim=interim)
    types = [c["type"] for c in unsettled.status["conditions"]]
    assert types == ["SuccessCriteriaMet"] and unsettled.finished == ""
    assert unsettled.status["uncountedTerminatedPods"] == {"succeeded": ["uid-s"]}
    job["status"] = unsettled.status
    settled = status_of(job, [make_pod("s", "Succeeded", counted=True)], interim=interim)
    assert settled.finished == "Complete"
    assert [(c["type"], c["reason"]) for c in settled.status["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"),
        ("Complete", "CompletionsReached"),
    ]
    assert settled.status["succeeded"] == 1 and settled.status["completionTime"] == stamp(0)


def test_failure_waits_for_terminating_pods() -> None:
    job = make_job(backoffLimit=0)
    interim = ("FailureTarget", "BackoffLimitExceeded",
               "Job has reached the specified backoff limit")  # fmt: skip
    waiting = status_of(job, [], interim=interim, terminating=1)
    assert waiting.finished == "" and "completionTime" not in waiting.status
    done = status_of(job, [], interim=interim)
    assert done.finished == "Failed"
    assert [c["type"] for c in done.status["conditions"]] == ["FailureTarget", "Failed"]
    assert "completionTime" not in done.status


def test_suspend_and_resume_conditions() -> None:
    job = make_job(suspend=True)
    change = status_of(job, [])
    assert change.suspended is True and "startTime" not in change.status
    assert change.status["conditions"][0]["reason"] == "JobSuspended"
    job["status"] = change.status
    job["spec"]["suspend"] = False
    resumed = status_of(job, [])
    assert resumed.suspended is False and resumed.status["startTime"] == stamp(0)
    assert resumed.status["conditions"][0]["status"] == "False"
    assert resumed.status["conditions"][0]["message"] == "Job resumed"
    # Never suspended: no Suspended condition at all.
    assert "conditions" not in status_of(make_job(), []).status


def test_indexed_status_reports_completed_indexes() -> None:
    job = make_job(parallelism=3, completions=3, completionMode="Indexed")
    pods = [make_pod("a", "Succeeded", index=0), make_pod("b", "Succeeded", index=2)]
    status = status_of(job, pods).status
    assert status["completedIndexes"] == "0,2" and status["succeeded"] == 2


# --- the pod template ---------------------------------------------------------------


def test_pod_from_template() -> None:
    pod = pod_from_template(make_job())
    assert pod["metadata"]["generateName"] == "pi-"
    assert pod["metadata"]["labels"] == {"job-name": "pi"}
    assert pod["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid",
        "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    assert "hostname" not in pod["spec"]


@pytest.mark.parametrize("index", [0, 3])
def test_indexed_pod_from_template(index: int) -> None:
    pod = pod_from_template(make_job(completionMode="Indexed", completions=4), index)
    meta = pod["metadata"]
    assert meta["generateName"] == f"pi-{index}-"
    assert meta["annotations"][COMPLETION_INDEX] == str(index)
    assert meta["labels"][COMPLETION_INDEX] == str(index)
    assert pod["spec"]["hostname"] == f"pi-{index}"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {
        "fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}]  # fmt: skip


# --- adoption and release ------------------------------------------------------------


def labelled(name: str, labels: dict[str, str], owner: str | None = None) -> Obj:
    pod = make_pod(name)
    pod["metadata"]["labels"] = labels
    if owner is not None:
        pod["metadata"]["ownerReferences"] = [{"uid": owner, "controller": True}]
    return pod


def test_claim_adopts_matching_orphans_and_releases_strays() -> None:
    job = make_job(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}})
    mine = {"batch.kubernetes.io/controller-uid": "job-uid"}
    orphan = labelled("orphan", mine)
    stray = labelled("stray", {"other": "x"}, owner="job-uid")
    kept = labelled("kept", mine, owner="job-uid")
    foreign = labelled("foreign", mine, owner="someone-else")
    adopt, release = claim(job, [orphan, stray, kept, foreign])
    assert adopt == [orphan] and release == [stray]
    # A Job being deleted adopts nothing; pods being deleted are left alone.
    job["metadata"]["deletionTimestamp"] = stamp(0)
    assert claim(job, [orphan]) == ([], [])
    del job["metadata"]["deletionTimestamp"]
    orphan["metadata"]["deletionTimestamp"] = stamp(0)
    assert claim(job, [orphan]) == ([], [])


def test_claim_with_an_empty_selector_takes_nothing() -> None:
    assert claim(make_job(selector={}), [labelled("a", {"x": "y"})]) == ([], [])


def test_a_mark_the_cache_does_not_show_yet_still_counts() -> None:
    # The Job's status already moved the pod into `succeeded`, the pod cache still shows
    # it unmarked: without the remembered mark it would be counted a second time.
    job = make_job(parallelism=2, completions=3, status={"succeeded": 1})
    stale = make_pod("a", "Succeeded")
    assert tally(job, [stale]).total_succeeded == 2  # what a stale cache alone suggests
    counts = tally(job, [stale], marked={"uid-a"})
    assert (counts.total_succeeded, counts.to_mark, counts.new_succeeded) == (1, (), ())


def test_no_final_condition_while_the_cache_may_lack_our_pods() -> None:
    interim = ("FailureTarget", "BackoffLimitExceeded",
               "Job has reached the specified backoff limit")  # fmt: skip
    job = make_job(backoffLimit=0)
    change = job_status(job, counts=tally(job, []), active=0, ready=0, terminating=0,
                        interim=interim, manage_ran=False, now=T0, can_finish=False)  # fmt: skip
    assert [c["type"] for c in change.status["conditions"]] == ["FailureTarget"]
    assert change.finished == ""


# --- pod failure policy --------------------------------------------------------------

POLICY = {"rules": [
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    {"action": "FailJob", "onExitCodes": {"containerName": "pi", "operator": "In",
                                          "values": [42]}},
    {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [7]}},
    {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
]}  # fmt: skip


def failed_with(code: int, *, disrupted: bool = False, name: str = "f") -> Obj:
    pod = make_pod(name, "Failed", finished=0)
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = code
    if disrupted:
        pod["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    return pod


def test_pod_failure_policy_rules_in_order() -> None:
    job = make_job(podFailurePolicy=POLICY)
    assert match_pod_failure_policy(job, failed_with(42)) == (
        "Container pi for pod default/f failed with exit code 42 matching FailJob rule at "
        "index 1", True)  # fmt: skip
    assert match_pod_failure_policy(job, failed_with(42, disrupted=True)) == (None, False)
    assert match_pod_failure_policy(job, failed_with(1)) == (None, True)  # Count
    assert match_pod_failure_policy(job, failed_with(7)) == (None, False)  # Ignore
    assert match_pod_failure_policy(make_job(), failed_with(42)) == (None, True)  # no policy


def test_ignored_failures_are_marked_but_not_counted() -> None:
    job = make_job(podFailurePolicy=POLICY)
    counts = tally(job, [failed_with(7, name="a"), failed_with(1, name="b")])
    assert counts.uncounted_failed == ("uid-b",)
    assert {p["metadata"]["name"] for p in counts.to_mark} == {"a", "b"}


def test_fail_job_rule_fails_the_job_before_the_backoff_limit() -> None:
    job = make_job(podFailurePolicy=POLICY, podReplacementPolicy="Failed")
    pods = [failed_with(42)]
    kind, reason, message = finish_condition(job, pods, tally(job, pods), T0)  # type: ignore[misc]
    assert (kind, reason) == ("FailureTarget", "PodFailurePolicy")
    assert message.endswith("matching FailJob rule at index 1")
    # A pod being deleted is not failed under a pod failure policy until its phase says so.
    assert tally(job, [make_pod("d", deleting=True)]).uncounted_failed == ()
