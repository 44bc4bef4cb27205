"""The Job controller: run a Job's pods to completion, or to failure.

A thin loop around `job_decisions` (STYLE.md habit 1): informer events put
Job keys on the work queue; `sync(key)` counts the Job's finished pods
(the finalizer-free protocol described in `job_decisions`), decides its
fate (back-off limit, deadline, success), creates or deletes pods, and
writes the status conditioned on the Job's resourceVersion.

Pods are claimed as Kubernetes' ClaimPods does: an orphan that matches the
selector is adopted, a pod of the Job that stops matching is released.

Expectations, as in the ReplicaSet controller: after creating or deleting
pods a Job is not managed again until the pod informer has seen those
changes (or a timeout passed), so it never over-creates while the cache
lags. Time comes from an injected `now`, so tests drive deadlines and
back-off without waiting; re-syncs for deadlines and back-off go through
the work queue's `add_after`, never polling.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_CONTROLLER, BY_UID, controller_uid, uid
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import Clock, WorkQueue
from kybernetes.controllers.expectations import Expectations
from kybernetes.controllers.job_decisions import (
    COMPLETIONS_REACHED,
    COUNTED,
    Backoff,
    active_deadline_left,
    backoff_remaining,
    claim,
    controller_reference,
    finish_condition,
    is_active,
    is_finished,
    is_terminating,
    job_status,
    next_backoff,
    plan_pods,
    pod_from_template,
    success_reached,
    tally,
)
from kybernetes.controllers.replicaset_decisions import owned_by, slow_start_batches
from kybernetes.controllers.runner import run_controller

__all__ = ["JobController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
RECHECK = 0.5
# Orphans are found by the label of the generated selector (what nearly every Job
# has), so adoption needs no scan of the namespace; a manualSelector Job adopts nothing.
BY_JOB_LABEL = "job-controller-uid-label"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
BY_POD_UID = BY_UID
MIN_REQUEUE = 1.0  # a delayed sync never comes sooner than this (syncJobBatchPeriod)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def job_uid_label(pod: Obj) -> list[str]:
    value = ((pod.get("metadata") or {}).get("labels") or {}).get(JOB_UID_LABEL)
    return [str(value)] if value else []


def _revision(obj: Obj) -> int:
    """The resourceVersion as the store revision it is here (0 if it is not a number)."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


class JobController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = _utcnow,
        clock: Clock | None = None,
    ) -> None:
        self._client = informers.client
        self._now = now
        self.events = EventRecorder(self._client, "job-controller")
        self.jobs = informers.informer("batch", "v1", "jobs")
        self.pods = informers.informer("", "v1", "pods")
        self.pods.add_index(BY_CONTROLLER, controller_uid)
        self.pods.add_index(BY_JOB_LABEL, job_uid_label)
        self.pods.add_index(BY_POD_UID, uid)
        self.jobs.add_index(BY_UID, uid)
        self.queue: WorkQueue[str] = WorkQueue(name="job", clock=clock)
        self.jobs.on_add(lambda job: self.queue.add(key_of(job)))
        self.jobs.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.jobs.on_delete(lambda job: self.queue.add(key_of(job)))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        self.pods.on_delete(self._pod_deleted)
        # Pods created or deleted and not yet seen so (a pod being deleted counts).
        self.expectations = Expectations(self.pods.get, lambda: asyncio.get_running_loop().time())
        self._backoff: dict[str, Backoff] = {}
        # Per Job key: pods deleted before they were counted (uid -> last copy).
        self._vanished: dict[str, dict[str, Obj]] = {}
        # Per Job key: uids we annotated COUNTED that the pod cache may not show yet, and
        # the resourceVersion of our last status write: a sync never acts on a cache
        # older than its own writes (it would count a pod twice, or not at all).
        self._marked: dict[str, set[str]] = {}
        self._written: dict[str, int] = {}

    def _jobs_of(self, pod: Obj) -> list[Obj]:
        return [job for owner in controller_uid(pod) for job in self.jobs.by_index(BY_UID, owner)]

    def _pod_changed(self, pod: Obj) -> None:
        jobs = self._jobs_of(pod)
        if not jobs:  # an orphan: the Job its labels name may adopt it
            jobs = [j for value in job_uid_label(pod) for j in self.jobs.by_index(BY_UID, value)]
        for job in jobs:
            self.queue.add(key_of(job))

    def _pod_deleted(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        for job in self._jobs_of(pod):
            key = key_of(job)
            ours = str(meta.get("uid")) in self._marked.get(key, set())
            if COUNTED not in (meta.get("annotations") or {}) and not ours and not is_finished(job):
                self._vanished.setdefault(key, {})[str(meta.get("uid"))] = pod
            self.queue.add(key)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.jobs, self.pods), events=self.events)  # fmt: skip

    # -- sync ---------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            for state in (self._backoff, self._vanished, self._marked, self._written):
                state.pop(key, None)
            return
        if is_finished(job):
            for state in (self._backoff, self._vanished, self._marked, self._written):
                state.pop(key, None)
            return
        if _revision(job) < self._written.get(key, 0):
            return  # our own status write is still on its way to the cache: its event syncs
        satisfied = self.expectations.satisfied(key)
        if not satisfied:
            self.queue.add_after(key, RECHECK)
        pods = await self._claim(job)
        vanished = list(self._vanished.get(key, {}).values())
        marked = self._observe_marks(key)
        now = self._now()
        counts = tally(job, pods, vanished, marked)
        backoff = next_backoff(self._backoff.get(key, Backoff()), counts.new_succeeded,
                               counts.new_failed)  # fmt: skip
        active = [p for p in pods if is_active(p)]
        live = len(active)
        ready = sum(1 for p in active if _ready(p))
        terminating = sum(1 for p in pods if is_terminating(p))
        interim = finish_condition(job, pods, counts, now)
        manage_ran = False
        if interim is not None and interim[0] == "FailureTarget":
            # The Job failed: its running pods go, unmarked, so they count as failed.
            gone = await self._delete_pods(job, active, mark=False)
            live -= len(gone)
            terminating += len(gone)
            ready -= sum(1 for p in gone if _ready(p))
        elif satisfied and not job["metadata"].get("deletionTimestamp"):
            manage_ran = True
            plan = plan_pods(job, active, terminating, counts, backoff_remaining(backoff, now))
            if plan.delete:
                gone = await self._delete_pods(job, list(plan.delete), mark=True)
                live -= len(gone)
                ready -= sum(1 for p in gone if _ready(p))
            if plan.wait:
                self.queue.add_after(key, max(plan.wait, MIN_REQUEUE))
            if plan.create:
                live += await self._create_pods(job, plan.create)
        if interim is None and success_reached(job, counts, live):
            interim = ("SuccessCriteriaMet", *COMPLETIONS_REACHED)
        if interim is None:
            left = active_deadline_left(job, now)
            if left is not None:
                self.queue.add_after(key, max(left, 0.0))
        change = job_status(job, counts=counts, active=live, ready=ready,
                            terminating=terminating, interim=interim, manage_ran=manage_ran,
                            now=now, can_finish=satisfied)  # fmt: skip
        job = await self._write_status(job, change.status, change.suspended)
        if job is None:
            return
        # Written: the back-off record and the vanished pods it counted are settled.
        self._backoff[key] = backoff
        self._forget_vanished(key, counts.counted_vanished)
        self._announce(job, change.finished)
        if not counts.to_mark or change.finished:
            return
        done = await self._mark_counted(key, counts.to_mark)
        if not done:
            return
        # Step 3 at once: the marked pods move from uncounted into the counters.
        pods = [done.get(p["metadata"]["uid"], p) for p in pods]
        counts = tally(job, pods, [], self._marked.get(key, set()))
        change = job_status(job, counts=counts, active=live, ready=ready,
                            terminating=terminating, interim=interim, manage_ran=False,
                            now=now, can_finish=satisfied)  # fmt: skip
        job = await self._write_status(job, change.status, None)
        if job is not None:
            # Counted for good: a deletion seen meanwhile left no vanished copy to count.
            self._forget_vanished(key, tuple(done))
            self._announce(job, change.finished)

    async def _claim(self, job: Obj) -> list[Obj]:
        """The Job's pods, after adopting matching orphans and releasing strays."""
        job_uid = job["metadata"]["uid"]
        owned = [p for p in self.pods.by_index(BY_CONTROLLER, job_uid) if owned_by(p, job_uid)]
        candidates = {key_of(p): p for p in [*owned, *self.pods.by_index(BY_JOB_LABEL, job_uid)]}
        adopt, release = claim(job, list(candidates.values()))
        if adopt and not await self._still_adopting(job):
            adopt = []
        gone = {key_of(p) for p in release}
        pods = [p for p in owned if key_of(p) not in gone]
        for pod in release:
            refs = [r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("uid") != job_uid]  # fmt: skip
            await self._set_owners(pod, refs)
        for pod in adopt:
            refs = [*(pod["metadata"].get("ownerReferences") or []), controller_reference(job)]
            adopted = await self._set_owners(pod, refs)
            if adopted is not None:
                pods.append(adopted)
        return pods

    async def _still_adopting(self, job: Obj) -> bool:
        """Adopt only for a Job that is not being deleted, asked of the API, not the cache."""
        meta = job["metadata"]
        path = resource_path("batch", "v1", "jobs", meta.get("namespace", ""), meta["name"])
        try:
            fresh = await self._client.get(path)
        except ApiStatusError as err:
            if err.code == 404:
                return False
            raise
        same = fresh["metadata"].get("uid") == meta["uid"]
        return same and not fresh["metadata"].get("deletionTimestamp")

    async def _set_owners(self, pod: Obj, refs: list[Obj]) -> Obj | None:
        """Write a pod's ownerReferences, conditioned on the cached resourceVersion."""
        meta = pod["metadata"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
        try:
            updated: Obj = await self._client.update(
                path, {**pod, "metadata": {**meta, "ownerReferences": refs}}
            )
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            return None  # gone or changed meanwhile: the next sync looks again
        return updated

    def _forget_vanished(self, key: str, uids: tuple[str, ...]) -> None:
        pending = self._vanished.get(key)
        if pending is None:
            return
        for pod_uid in uids:
            pending.pop(pod_uid, None)
        if not pending:
            del self._vanished[key]

    def _announce(self, job: Obj, finished: str) -> None:
        if finished == "Complete":
            self.events.record(job, "Normal", "Completed", "Job completed")
        elif finished == "Failed":
            for condition in (job.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Failed":
                    self.events.record(job, "Warning", str(condition.get("reason")),
                                       str(condition.get("message")))  # fmt: skip

    # -- writes ---------------------------------------------------------------------

    async def _create_pods(self, job: Obj, indexes: tuple[int | None, ...]) -> int:
        """Create in slow-start batches; each created pod becomes an expectation."""
        key = key_of(job)
        namespace = job["metadata"].get("namespace", "")
        path = resource_path("", "v1", "pods", namespace)
        todo = list(indexes)
        made = 0
        for batch in slow_start_batches(len(todo)):
            chunk, todo = todo[:batch], todo[batch:]
            results = await asyncio.gather(
                *(self._client.create(path, pod_from_template(job, i)) for i in chunk),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, dict):
                    made += 1
                    self.expectations.expect(key, created=[key_of(result)])
                    self.events.record(job, "Normal", "SuccessfulCreate",
                                       f"Created pod: {result['metadata']['name']}")  # fmt: skip
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                self.events.record(job, "Warning", "FailedCreate",
                                   f"Error creating: {failures[0]}")  # fmt: skip
                log.warning("job %s: %d pod creates failed: %s", key, len(failures), failures[0])
                self.queue.add_rate_limited(key)  # the next sync creates the rest
                break
        return made

    async def _delete_pods(self, job: Obj, pods: list[Obj], *, mark: bool) -> list[Obj]:
        """Delete pods (first marking them counted, so they are not counted, when `mark`)."""
        key = key_of(job)
        gone: list[Obj] = []
        for pod in pods:
            meta = pod["metadata"]
            path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
            try:
                if mark:
                    await self._client.patch(path, {"metadata": {"annotations": {COUNTED: "true"}}})
                    self._marked.setdefault(key, set()).add(str(meta["uid"]))
                self.expectations.expect(key, deleted=[key_of(pod)])
                await self._client.delete(path)
            except ApiStatusError as err:
                if err.code != 404:
                    self.events.record(job, "Warning", "FailedDelete", f"Error deleting: {err}")
                    log.warning("job %s: deleting pod %s failed: %s", key, meta["name"], err)
                    self.queue.add_rate_limited(key)
                    continue
            else:
                self.events.record(
                    job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}"
                )
            gone.append(pod)
        return gone

    def _observe_marks(self, key: str) -> set[str]:
        """Our marks the pod cache does not show yet (those it shows are forgotten)."""
        pending = self._marked.get(key)
        if not pending:
            return set()
        for pod_uid in list(pending):
            pod = self._pod_by_uid(pod_uid)
            if pod is None or COUNTED in (pod["metadata"].get("annotations") or {}):
                pending.discard(pod_uid)
        return set(pending)

    def _pod_by_uid(self, pod_uid: str) -> Obj | None:
        for pod in self.pods.by_index(BY_POD_UID, pod_uid):
            return pod
        return None

    async def _mark_counted(self, key: str, pods: tuple[Obj, ...]) -> dict[str, Obj]:
        """Step 2: annotate finished pods; uid -> the pod as now marked (or gone)."""
        marked: dict[str, Obj] = {}
        for pod in pods:
            meta = pod["metadata"]
            path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
            try:
                updated = await self._client.patch(
                    path, {"metadata": {"annotations": {COUNTED: "true"}}}
                )
            except ApiStatusError as err:
                if err.code != 404:
                    log.warning("marking pod %s counted failed: %s", meta["name"], err)
                    continue
                updated = {**pod, "metadata": {**meta, "annotations": {COUNTED: "true"}}}
            marked[str(meta["uid"])] = updated
            self._marked.setdefault(key, set()).add(str(meta["uid"]))
        return marked

    async def _write_status(self, job: Obj, status: Obj, suspended: bool | None) -> Obj | None:
        """PUT the status if it changed; the Job as written, or None on a conflict."""
        if (job.get("status") or {}) == status:
            return job
        meta = job["metadata"]
        path = resource_path("batch", "v1", "jobs", meta.get("namespace", ""), meta["name"],
                             "status")  # fmt: skip
        try:
            written: Obj = await self._client.update(path, {**job, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(job))  # moved on meanwhile: sync again from the cache
            return None
        self._written[key_of(job)] = _revision(written)
        if suspended is True:
            self.events.record(job, "Normal", "Suspended", "Job suspended")
        elif suspended is False:
            self.events.record(job, "Normal", "Resumed", "Job resumed")
        return written
