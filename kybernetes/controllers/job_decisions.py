"""What the Job controller decides, as pure functions (STYLE.md habit 1).

Kubernetes 1.32's job controller, without success policies or per-index
back-off (`podFailurePolicy` is here: FailJob, Ignore, Count): how many pods to
run (parallelism, up to the completions still missing; a work queue when
completions is unset), which to delete (suspend, too many, an Indexed
index run twice), when to fail (`backoffLimit`, `activeDeadlineSeconds`)
or succeed, the pod-failure back-off (10 s doubling, at most 10 minutes),
and the status with its conditions in 1.32's order: the interim
`FailureTarget`/`SuccessCriteriaMet` first, the final `Failed`/`Complete`
once no pod is left terminating or uncounted.

Counting without finalizers. Kubernetes keeps a finished pod alive with a
finalizer until the Job's status has counted it. Here pods carry no
finalizer (a stopped controller never leaves pods stuck in deletion);
the same two-phase protocol uses an annotation instead:

1. a finished pod not yet counted goes into `status.uncountedTerminatedPods`
   (a status write, conditioned on resourceVersion);
2. the pod is annotated `COUNTED`;
3. a uid in `uncountedTerminatedPods` whose pod is annotated or gone moves
   into `succeeded`/`failed`.

A crash between any two steps repeats the step, never counts twice; a pod
cache that does not show a mark yet is covered by the marks the controller
remembers (`tally(marked=...)`, Kubernetes' finalizer expectations), and a
Job cache older than the controller's own last status write is not acted on. A pod
deleted before it was seen finished (no annotation, not in the uncounted
lists) is counted as failed from the informer's last copy of it — as
Kubernetes counts a deleted unfinished pod; only a controller restart at
that moment can lose one. Pods the controller deletes itself (suspend, too
many) are annotated first, so they are not counted, as Kubernetes does by
removing its finalizer before deleting.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import selectors
from kybernetes.api.times import format_time, parse_time
from kybernetes.controllers.replicaset_decisions import decide as rank_for_deletion

__all__ = [
    "COMPLETION_INDEX",
    "COUNTED",
    "DEFAULT_BACKOFF",
    "MAX_BACKOFF",
    "Backoff",
    "Tally",
    "backoff_remaining",
    "claim",
    "completed_indexes_text",
    "controller_reference",
    "finish_condition",
    "is_finished",
    "job_status",
    "match_pod_failure_policy",
    "next_backoff",
    "parse_indexes",
    "plan_pods",
    "pod_from_template",
    "tally",
]

Obj = dict[str, Any]

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COUNTED = "batch.kybernetes.io/job-counted"  # step 2 of the counting protocol above
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
DEFAULT_BACKOFF = 10.0  # seconds; doubles with each failure since the last success
MAX_BACKOFF = 600.0  # 10 minutes, MaxJobPodFailureBackOff in 1.32
MAX_PODS_PER_SYNC = 500  # creates or deletes, as MaxPodCreateDeletePerSync

# Condition reasons and messages, as the job controller words them.
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
POD_FAILURE_POLICY = "PodFailurePolicy"


# --- Reading pods and jobs -----------------------------------------------------


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _condition(obj: Obj, kind: str) -> Obj | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            found: Obj = condition
            return found
    return None


def _true(obj: Obj, kind: str) -> bool:
    condition = _condition(obj, kind)
    return condition is not None and condition.get("status") == "True"


def is_finished(job: Obj) -> bool:
    """Complete or Failed: nothing is done for the Job any more (but TTL clean-up)."""
    return _true(job, "Complete") or _true(job, "Failed")


def _suspended(job: Obj) -> bool:
    return bool(_spec(job).get("suspend"))


def _indexed(job: Obj) -> bool:
    return _spec(job).get("completionMode") == "Indexed"


def _completions(job: Obj) -> int | None:
    value = _spec(job).get("completions")
    return None if value is None else int(value)


def _only_replace_failed(job: Obj) -> bool:
    # A pod failure policy judges only pods that really failed (onlyReplaceFailedPods).
    spec = _spec(job)
    return spec.get("podReplacementPolicy") == "Failed" or bool(spec.get("podFailurePolicy"))


def pod_outcome(pod: Obj, job: Obj) -> str:
    """The pod's end: succeeded, failed or "" (still running). A pod being deleted
    before it succeeded counts as failed, unless the Job replaces only Failed pods."""
    phase = _phase(pod)
    if phase in ("Succeeded", "Failed"):
        return phase.lower()
    if _meta(pod).get("deletionTimestamp") and not _only_replace_failed(job):
        return "failed"
    return ""


def completion_index(pod: Obj) -> int | None:
    value = (_meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


def is_active(pod: Obj) -> bool:
    return _phase(pod) not in ("Succeeded", "Failed") and not _meta(pod).get("deletionTimestamp")


def is_terminating(pod: Obj) -> bool:
    return _phase(pod) not in ("Succeeded", "Failed") and bool(_meta(pod).get("deletionTimestamp"))


def _is_marked(pod: Obj) -> bool:
    return COUNTED in (_meta(pod).get("annotations") or {})


# --- Completed indexes ("1,3-5") ----------------------------------------------


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """`status.completedIndexes` as a set, ignoring what is out of range or malformed."""
    found: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            continue
        found.update(i for i in range(int(low), int(high or low) + 1) if i < completions)
    return found


def completed_indexes_text(indexes: Iterable[int]) -> str:
    """Sorted intervals: {0, 1, 2, 5} is "0-2,5"."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# --- Pod failure policy (pod_failure_policy.go) -------------------------------------


def _failed_container(pod: Obj, requirement: Obj) -> tuple[str, int] | None:
    """The first terminated container (app containers, then init) whose non-zero exit
    code the requirement matches: (name, code)."""
    status = pod.get("status") or {}
    wanted = requirement.get("containerName")
    values = {int(v) for v in requirement.get("values") or []}
    operator = requirement.get("operator")
    for cs in [*(status.get("containerStatuses") or []),
               *(status.get("initContainerStatuses") or [])]:  # fmt: skip
        ended = (cs.get("state") or {}).get("terminated")
        if not ended or (wanted and cs.get("name") != wanted):
            continue
        code = int(ended.get("exitCode") or 0)
        if code != 0 and (code in values if operator == "In" else
                          operator == "NotIn" and code not in values):  # fmt: skip
            return str(cs.get("name")), code
    return None


def _matching_condition(pod: Obj, patterns: Sequence[Obj]) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        for pattern in patterns:
            # An unset pattern status is "True", as the API defaults it.
            if condition.get("type") == pattern.get("type") and condition.get("status") == (
                pattern.get("status") or "True"
            ):
                return str(condition.get("type"))
    return None


def match_pod_failure_policy(job: Obj, pod: Obj) -> tuple[str | None, bool]:
    """(the FailJob message, if a FailJob rule matched; whether the failure counts toward
    backoffLimit — not when an Ignore rule matched). The first matching rule decides."""
    policy = _spec(job).get("podFailurePolicy")
    if not policy:
        return None, True
    meta = _meta(pod)
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    for index, rule in enumerate(policy.get("rules") or []):
        action = str(rule.get("action") or "")
        message = ""
        if rule.get("onExitCodes") is not None:
            found = _failed_container(pod, rule["onExitCodes"])
            if found is None:
                continue
            message = (f"Container {found[0]} for pod {where} failed with exit code {found[1]} "
                       f"matching {action} rule at index {index}")  # fmt: skip
        elif rule.get("onPodConditions") is not None:
            kind = _matching_condition(pod, rule["onPodConditions"])
            if kind is None:
                continue
            message = f"Pod {where} has condition {kind} matching {action} rule at index {index}"
        else:
            continue
        if action == "Ignore":
            return None, False
        if action == "FailJob":
            return message, True
        if action in ("Count", "FailIndex"):  # FailIndex: no per-index back-off here
            return None, True
    return None, True


def fail_job_message(job: Obj, pods: Sequence[Obj]) -> str | None:
    """The message of the first failed pod that matches a FailJob rule."""
    if not _spec(job).get("podFailurePolicy"):
        return None
    for pod in pods:
        if pod_outcome(pod, job) == "failed":
            message, _ = match_pod_failure_policy(job, pod)
            if message is not None:
                return message
    return None


# --- Counting (the protocol in the module docstring) ---------------------------


@dataclass(frozen=True)
class Tally:
    succeeded: int  # counted for good (status.succeeded after this sync's moves)
    failed: int
    uncounted_succeeded: tuple[str, ...]  # status.uncountedTerminatedPods after this sync
    uncounted_failed: tuple[str, ...]
    to_mark: tuple[Obj, ...]  # finished pods to annotate COUNTED (step 2)
    new_succeeded: tuple[Obj, ...]  # pods first seen finished now (for the back-off record)
    new_failed: tuple[Obj, ...]
    counted_vanished: tuple[str, ...]  # uids of vanished pods this tally counted
    completed: frozenset[int] = field(default_factory=frozenset)  # Indexed Jobs

    @property
    def total_succeeded(self) -> int:
        return self.succeeded + len(self.uncounted_succeeded)

    @property
    def total_failed(self) -> int:
        return self.failed + len(self.uncounted_failed)

    @property
    def settled(self) -> bool:
        """Every finished pod is counted for good."""
        return not self.uncounted_succeeded and not self.uncounted_failed


def tally(
    job: Obj,
    pods: Sequence[Obj],
    vanished: Sequence[Obj] = (),
    marked: AbstractSet[str] = frozenset(),
) -> Tally:
    """Count the Job's finished pods; `vanished` are pods deleted before they were counted,
    `marked` the uids of pods annotated COUNTED whose annotation the cache may not show yet
    (the finalizer expectations of Kubernetes: never count such a pod again)."""

    def _counted(pod: Obj) -> bool:
        return _is_marked(pod) or str(_meta(pod).get("uid")) in marked

    status = job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    old_ok = [str(u) for u in uncounted.get("succeeded") or []]
    old_bad = [str(u) for u in uncounted.get("failed") or []]
    known = set(old_ok) | set(old_bad)
    by_uid = {str(_meta(p).get("uid")): p for p in pods}
    succeeded, failed = int(status.get("succeeded") or 0), int(status.get("failed") or 0)
    # Step 3: uncounted uids whose pod is marked or gone are counted for good.
    done = {u for u in known if u not in by_uid or _counted(by_uid[u])}
    succeeded += sum(1 for u in old_ok if u in done)
    failed += sum(1 for u in old_bad if u in done)
    ok = [u for u in old_ok if u not in done]
    bad = [u for u in old_bad if u not in done]
    # Step 1: finished pods seen for the first time.
    new_ok: list[Obj] = []
    new_bad: list[Obj] = []
    ignored: list[Obj] = []
    for pod in pods:
        uid = str(_meta(pod).get("uid"))
        if _counted(pod) or uid in known:
            continue
        outcome = pod_outcome(pod, job)
        if outcome == "succeeded":
            new_ok.append(pod)
            ok.append(uid)
        elif outcome == "failed":
            new_bad.append(pod)
            if match_pod_failure_policy(job, pod)[1]:
                bad.append(uid)
            else:
                ignored.append(pod)  # marked, so it is looked at once, but never counted
    # Deleted before anyone counted them: failed, unless they had succeeded.
    counted_vanished = []
    for pod in vanished:
        uid = str(_meta(pod).get("uid"))
        if uid in known:
            # Counted through uncountedTerminatedPods (step 3) already: settled, so
            # the controller forgets it instead of counting it at a later sync.
            counted_vanished.append(uid)
            continue
        if _counted(pod) or uid in by_uid:
            continue
        counted_vanished.append(uid)
        if _phase(pod) == "Succeeded":
            succeeded += 1
            new_ok.append(pod)
        else:
            failed += 1 if match_pod_failure_policy(job, pod)[1] else 0
            new_bad.append(pod)
    pending = set(ok) | set(bad)
    to_mark = tuple(p for p in pods if str(_meta(p).get("uid")) in pending and not _counted(p))
    to_mark += tuple(ignored)
    completed: frozenset[int] = frozenset()
    if _indexed(job):
        completions = _completions(job) or 0
        previous = parse_indexes(status.get("completedIndexes"), completions)
        now_done = {completion_index(p) for p in pods if _phase(p) == "Succeeded"}
        completed = frozenset(previous | {i for i in now_done if i is not None and i < completions})
    return Tally(succeeded=succeeded, failed=failed, uncounted_succeeded=tuple(ok),
                 uncounted_failed=tuple(bad), to_mark=to_mark, new_succeeded=tuple(new_ok),
                 new_failed=tuple(new_bad), counted_vanished=tuple(counted_vanished),
                 completed=completed)  # fmt: skip


def succeeded_count(job: Obj, counts: Tally) -> int:
    """Successes toward completions: distinct indexes for an Indexed Job."""
    return len(counts.completed) if _indexed(job) else counts.total_succeeded


# --- Adoption and release (ClaimPods) ----------------------------------------------


def _controller_uid(obj: Obj) -> str | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def claim(job: Obj, pods: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(orphans to adopt, pods to release) among a namespace's pods, as ClaimPods does:
    a pod without a controller that matches the selector is adopted (not while the Job
    is being deleted); a pod of ours that stopped matching it is let go."""
    try:
        selector = selectors.label_selector_from_object(_spec(job).get("selector"))
    except selectors.SelectorError:
        return [], []
    if selector.empty:
        return [], []  # an empty selector would take every pod: Kubernetes refuses it too
    job_uid = str(_meta(job).get("uid"))
    deleting = bool(_meta(job).get("deletionTimestamp"))
    adopt: list[Obj] = []
    release: list[Obj] = []
    for pod in pods:
        if _meta(pod).get("deletionTimestamp"):
            continue
        owner = _controller_uid(pod)
        matches = selector.matches(_meta(pod).get("labels") or {})
        if owner == job_uid and not matches:
            release.append(pod)
        elif owner is None and matches and not deleting:
            adopt.append(pod)
    return adopt, release


def controller_reference(job: Obj) -> Obj:
    meta = _meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}  # fmt: skip


# --- Back-off between pod re-creations ------------------------------------------


@dataclass(frozen=True)
class Backoff:
    failures: int = 0  # failures since the last success
    last_failure: datetime.datetime | None = None


def finished_at(pod: Obj) -> datetime.datetime:
    """When a pod finished: its containers' last finishedAt, else Ready=False's transition,
    else its deletion, else its creation (Kubernetes' getFinishedTime order)."""
    status = pod.get("status") or {}
    latest: datetime.datetime | None = None
    statuses = status.get("containerStatuses") or []
    for cs in statuses:
        ended = parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if ended is None:
            latest = None
            break
        latest = ended if latest is None or ended > latest else latest
    if latest is not None:
        return latest
    ready = _condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False":
        moment = parse_time(ready.get("lastTransitionTime"))
        if moment is not None:
            return moment
    deleted = parse_time(_meta(pod).get("deletionTimestamp"))
    if deleted is not None:
        grace = int(_meta(pod).get("deletionGracePeriodSeconds") or 0)
        return deleted - datetime.timedelta(seconds=grace)
    created = parse_time(_meta(pod).get("creationTimestamp"))
    return created or datetime.datetime.fromtimestamp(0, datetime.UTC)


def next_backoff(record: Backoff, succeeded: Sequence[Obj], failed: Sequence[Obj]) -> Backoff:
    """The record after newly finished pods: a success resets it, failures after it add up."""
    if not succeeded and not failed:
        return record
    if not succeeded:
        last = max(finished_at(p) for p in failed)
        return Backoff(record.failures + len(failed), last)
    last_success = max(finished_at(p) for p in succeeded)
    later = sorted(t for t in (finished_at(p) for p in failed) if t > last_success)
    return Backoff(len(later), later[-1] if later else None)


def backoff_remaining(record: Backoff, now: datetime.datetime) -> float:
    """Seconds to wait before creating a replacement pod (0: go ahead)."""
    if record.failures == 0 or record.last_failure is None:
        return 0.0
    delay = min(DEFAULT_BACKOFF * 2 ** min(record.failures - 1, 32), MAX_BACKOFF)
    elapsed = (now - record.last_failure).total_seconds()
    return max(0.0, float(delay) - elapsed)


# --- Finishing --------------------------------------------------------------------


def _restarts_on_failure(job: Obj, pods: Sequence[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts of live pods use up the backoffLimit."""
    template_spec = (_spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(
        int(cs.get("restartCount") or 0)
        for p in pods if _phase(p) in ("Running", "Pending")
        for cs in [*((p.get("status") or {}).get("initContainerStatuses") or []),
                   *((p.get("status") or {}).get("containerStatuses") or [])]
    )  # fmt: skip
    limit = int(_spec(job).get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


def active_deadline_left(job: Obj, now: datetime.datetime) -> float | None:
    """Seconds until activeDeadlineSeconds passes (<= 0: passed); None when it does not apply."""
    deadline = _spec(job).get("activeDeadlineSeconds")
    started = parse_time((job.get("status") or {}).get("startTime"))
    if deadline is None or started is None or _suspended(job):
        return None
    return float(deadline) - (now - started).total_seconds()


def finish_condition(
    job: Obj, pods: Sequence[Obj], counts: Tally, now: datetime.datetime
) -> tuple[str, str, str] | None:
    """(interim type, reason, message) once the Job's fate is sealed, else None.

    An interim condition already in the status stands; otherwise the order is
    Kubernetes': back-off limit, deadline, then success.
    """
    for kind in ("FailureTarget", "SuccessCriteriaMet"):
        existing = _condition(job, kind)
        if existing is not None and existing.get("status") == "True":
            return kind, str(existing.get("reason") or ""), str(existing.get("message") or "")
    message = fail_job_message(job, pods)
    if message is not None:
        return "FailureTarget", POD_FAILURE_POLICY, message
    if counts.total_failed > int(_spec(job).get("backoffLimit", 6)) or _restarts_on_failure(
        job, pods
    ):
        return ("FailureTarget", *BACKOFF_LIMIT_EXCEEDED)
    left = active_deadline_left(job, now)
    if left is not None and left <= 0:
        return ("FailureTarget", *DEADLINE_EXCEEDED)
    return None


def success_reached(job: Obj, counts: Tally, active: int) -> bool:
    """Completions reached (or, for a work queue, one success) and nothing left running."""
    if active:
        return False
    completions = _completions(job)
    done = succeeded_count(job, counts)
    return done > 0 if completions is None else done >= completions


# --- Pods to create and delete --------------------------------------------------


@dataclass(frozen=True)
class PodPlan:
    create: tuple[int | None, ...] = ()  # one entry per pod: its completion index, if Indexed
    delete: tuple[Obj, ...] = ()
    wait: float = 0.0  # back-off: sync again after this many seconds, create nothing now


def _duplicate_indexes(job: Obj, active: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """Indexed: pods without a valid index or repeating one go; one pod per index stays."""
    completions = _completions(job) or 0
    by_index: dict[int, list[Obj]] = {}
    remove: list[Obj] = []
    for pod in active:
        index = completion_index(pod)
        if index is None or index >= completions:
            remove.append(pod)
        else:
            by_index.setdefault(index, []).append(pod)
    keep: list[Obj] = []
    for group in by_index.values():
        ranked = rank_for_deletion(1, group).delete  # the least useful first
        remove.extend(ranked)
        keep.extend(p for p in group if not any(p is r for r in ranked))
    return remove, keep


def plan_pods(job: Obj, active: Sequence[Obj], terminating: int, counts: Tally,
              backoff_wait: float) -> PodPlan:  # fmt: skip
    """manageJob: delete what is too many, else create what is missing (never both)."""
    if _suspended(job):
        return PodPlan(delete=tuple(active[:MAX_PODS_PER_SYNC]))
    parallelism = int(_spec(job).get("parallelism", 1))
    completions = _completions(job)
    succeeded = succeeded_count(job, counts)
    if completions is None:
        # A work queue: once one pod succeeded, let the others finish, start none.
        want = len(active) if succeeded > 0 else parallelism
    else:
        want = max(0, min(completions - succeeded, parallelism))
    remove: list[Obj] = []
    keep = list(active)
    if _indexed(job):
        remove, keep = _duplicate_indexes(job, active)
    if len(keep) > want:
        remove.extend(rank_for_deletion(want, keep).delete)
    if remove:
        return PodPlan(delete=tuple(remove[:MAX_PODS_PER_SYNC]))
    missing = want - len(active) - (terminating if _only_replace_failed(job) else 0)
    if missing <= 0:
        return PodPlan()
    if backoff_wait > 0:
        return PodPlan(wait=backoff_wait)
    missing = min(missing, MAX_PODS_PER_SYNC)
    if not _indexed(job):
        return PodPlan(create=(None,) * missing)
    running = {completion_index(p) for p in active}
    pending = [i for i in range(completions or 0) if i not in counts.completed and i not in running]
    return PodPlan(create=tuple(pending[:missing]))


def pod_from_template(job: Obj, index: int | None = None) -> Obj:
    """A new pod for `job`: its template, `<job>-` generated name, a controller reference;
    for an Indexed Job the completion index (annotation, label, env) and hostname."""
    meta = _meta(job)
    name = str(meta["name"])
    template = copy.deepcopy(_spec(job).get("template") or {})
    pod_meta = template.get("metadata") or {}
    pod_meta.pop("creationTimestamp", None)
    pod_spec = template.get("spec") or {}
    pod_meta["generateName"] = f"{name}-"
    if index is not None:
        pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}),
                                   COMPLETION_INDEX: str(index)}  # fmt: skip
        pod_meta["labels"] = {**(pod_meta.get("labels") or {}), COMPLETION_INDEX: str(index)}
        pod_meta["generateName"] = f"{name}-{index}-"
        pod_spec["hostname"] = f"{name}-{index}"
        for container in [*(pod_spec.get("initContainers") or []),
                          *(pod_spec.get("containers") or [])]:  # fmt: skip
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                path = f"metadata.annotations['{COMPLETION_INDEX}']"
                env.append({"name": COMPLETION_INDEX_ENV,
                            "valueFrom": {"fieldRef": {"fieldPath": path}}})  # fmt: skip
    pod_meta["namespace"] = meta.get("namespace", "")
    pod_meta["ownerReferences"] = [controller_reference(job)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


# --- Status -----------------------------------------------------------------------


def _new_condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {"type": kind, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}  # fmt: skip


def _ensure(conditions: list[Obj], kind: str, status: str, reason: str, message: str,
            now: str) -> bool:  # fmt: skip
    """Set a condition (a False one is never added, only flipped to); True if it changed."""
    for i, condition in enumerate(conditions):
        if condition.get("type") == kind:
            same = (condition.get("status"), condition.get("reason"), condition.get("message"))
            if same == (status, reason, message):
                return False
            conditions[i] = _new_condition(kind, status, reason, message, now)
            return True
    if status == "False":
        return False
    conditions.append(_new_condition(kind, status, reason, message, now))
    return True


@dataclass(frozen=True)
class StatusChange:
    status: Obj
    finished: str = ""  # "Complete" or "Failed" when this status ends the Job
    suspended: bool | None = None  # the Suspended condition flipped to True / False


def job_status(
    job: Obj,
    *,
    counts: Tally,
    active: int,
    ready: int,
    terminating: int,
    interim: tuple[str, str, str] | None,
    manage_ran: bool,
    now: datetime.datetime,
    can_finish: bool = True,
) -> StatusChange:
    """The status to write: counters, conditions (interim, then final when settled).

    `can_finish` is False while the pod cache may still lack pods the controller
    created or deleted (unsatisfied expectations): the final condition waits."""
    old: Mapping[str, Any] = job.get("status") or {}
    stamp = format_time(now)
    status: Obj = copy.deepcopy(dict(old))
    conditions: list[Obj] = status.get("conditions") or []
    suspended: bool | None = None
    if status.get("startTime") is None and not _suspended(job):
        status["startTime"] = stamp
    if interim is None and manage_ran:
        if _suspended(job):
            if _ensure(conditions, "Suspended", "True", "JobSuspended", "Job suspended", stamp):
                suspended = True
        elif _ensure(conditions, "Suspended", "False", "JobResumed", "Job resumed", stamp):
            suspended = False
            # The deadline counts from the resumption, as for a Job created suspended.
            status["startTime"] = stamp
    finished = ""
    if interim is not None:
        kind, reason, message = interim
        _ensure(conditions, kind, "True", reason, message, stamp)
        if can_finish and counts.settled and terminating == 0 and active == 0:
            final = "Complete" if kind == "SuccessCriteriaMet" else "Failed"
            _ensure(conditions, final, "True", reason, message, stamp)
            finished = final
            if final == "Complete":
                status["completionTime"] = stamp
    if conditions:
        status["conditions"] = conditions
    status["active"] = active
    status["ready"] = ready
    status["terminating"] = terminating
    status["succeeded"] = succeeded_count(job, counts) if _indexed(job) else counts.succeeded
    status["failed"] = counts.failed
    uncounted: Obj = {}
    if counts.uncounted_succeeded:
        uncounted["succeeded"] = list(counts.uncounted_succeeded)
    if counts.uncounted_failed:
        uncounted["failed"] = list(counts.uncounted_failed)
    status["uncountedTerminatedPods"] = uncounted
    if _indexed(job):
        status["completedIndexes"] = completed_indexes_text(counts.completed)
    # Zero counters are omitted on the wire (omitempty), as the real API shows them.
    for key in ("active", "succeeded", "failed"):
        if not status[key]:
            status.pop(key)
    return StatusChange(status=status, finished=finished, suspended=suspended)
