"""The CronJob controller: start a Job at each schedule time.

A thin loop around `cronjob_decisions`, in the order of Kubernetes'
cronjob controller v2: clean up finished Jobs beyond the history limits,
take finished Jobs off `status.active`, then — unless suspended or the
schedule is invalid — start the Job of the most recent due schedule time,
honouring `startingDeadlineSeconds` and `concurrencyPolicy` (Allow, Forbid,
Replace). After every sync the key is requeued for the next schedule time
with the work queue's `add_after`: no polling. The status is written once
per sync, conditioned on the CronJob's resourceVersion.

`now` is injected, so a test can step past a schedule time instead of
waiting a minute for it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.cron import CronError
from kybernetes.api.times import format_time, parse_time
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_CONTROLLER, BY_UID, controller_uid, uid
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import Clock, WorkQueue
from kybernetes.controllers.cronjob_decisions import (
    Missed,
    finished_type,
    job_from_template,
    job_name,
    job_reference,
    jobs_to_clean,
    most_recent_schedule,
    next_schedule_delay,
    parse_schedule,
    reconcile_active,
)
from kybernetes.controllers.replicaset_decisions import owned_by
from kybernetes.controllers.runner import run_controller

__all__ = ["CronJobController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _rfc1123z(moment: datetime.datetime) -> str:
    """Go's time.RFC1123Z in UTC, as the MissSchedule event prints the time."""
    return moment.astimezone(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


class CronJobController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = _utcnow,
        clock: Clock | None = None,
    ) -> None:
        self._client = informers.client
        self._now = now
        self.events = EventRecorder(self._client, "cronjob-controller")
        self.cronjobs = informers.informer("batch", "v1", "cronjobs")
        self.jobs = informers.informer("batch", "v1", "jobs")
        self.jobs.add_index(BY_CONTROLLER, controller_uid)
        self.cronjobs.add_index(BY_UID, uid)
        self.queue: WorkQueue[str] = WorkQueue(name="cronjob", clock=clock)
        self.cronjobs.on_add(lambda cj: self.queue.add(key_of(cj)))
        self.cronjobs.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.jobs.on_add(self._job_changed)
        self.jobs.on_update(lambda old, new: self._job_changed(new))
        self.jobs.on_delete(self._job_changed)

    def _job_changed(self, job: Obj) -> None:
        for owner in controller_uid(job):
            for cronjob in self.cronjobs.by_index(BY_UID, owner):
                self.queue.add(key_of(cronjob))

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.cronjobs, self.jobs), events=self.events)  # fmt: skip

    async def sync(self, key: str) -> None:
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return
        cj_uid = cronjob["metadata"]["uid"]
        jobs = [j for j in self.jobs.by_index(BY_CONTROLLER, cj_uid) if owned_by(j, cj_uid)]
        known = {ref.get("uid") for ref in (cronjob.get("status") or {}).get("active") or []}
        if any(not finished_type(j) and j["metadata"]["uid"] not in known for j in jobs):
            # A running Job our status does not list: most likely the one we just
            # created, seen before our own status write. Ask the API, not the cache.
            cronjob = await self._fresh(cronjob)
            if cronjob is None:
                return
        old_status = cronjob.get("status") or {}
        status: Obj = {**old_status, "active": list(old_status.get("active") or [])}
        view = {**cronjob, "status": status}
        # History first, as Kubernetes does: a deleted Job also leaves status.active.
        for job in jobs_to_clean(cronjob, jobs):
            if await self._delete_job(view, job):
                jobs = [j for j in jobs if j is not job]
                status["active"] = [r for r in status["active"]
                                    if r.get("uid") != job["metadata"]["uid"]]  # fmt: skip
        change = reconcile_active(view, jobs)
        for type_, reason, message in change.events:
            self.events.record(cronjob, type_, reason, message)
        status["active"] = change.active
        if change.last_successful:
            status["lastSuccessfulTime"] = change.last_successful
        for ref in change.unknown_refs:
            if not await self._job_exists(ref):
                self.events.record(cronjob, "Normal", "MissingJob",
                                   f"Active job went missing: {ref.get('name')}")  # fmt: skip
                status["active"] = [r for r in status["active"] if r.get("uid") != ref.get("uid")]
        try:
            delay = await self._schedule(cronjob, view, status)
        finally:
            await self._write_status(cronjob, status)
        if delay is not None:
            self.queue.add_after(key, delay)

    async def _fresh(self, cronjob: Obj) -> Obj | None:
        meta = cronjob["metadata"]
        path = resource_path("batch", "v1", "cronjobs", meta.get("namespace", ""), meta["name"])
        try:
            fresh: Obj = await self._client.get(path)
        except ApiStatusError as err:
            if err.code == 404:
                return None
            raise
        return fresh if fresh["metadata"].get("uid") == meta["uid"] else None

    async def _schedule(self, cronjob: Obj, view: Obj, status: Obj) -> float | None:
        """Start the Job that is due, if any; seconds until the next look, or None."""
        spec = cronjob.get("spec") or {}
        if cronjob["metadata"].get("deletionTimestamp"):
            return None
        try:
            parsed = parse_schedule(cronjob)
        except CronError as err:
            if str(err).startswith("unknown time zone"):
                zone = spec.get("timeZone")
                self.events.record(cronjob, "Warning", "UnknownTimeZone",
                                   f'invalid timeZone: "{zone}": {err}')  # fmt: skip
            else:
                message = f'unparseable schedule: "{spec.get("schedule")}" : {err}'
                self.events.record(cronjob, "Warning", "UnparseableSchedule", message)
            return None  # a user error: nothing to do until the spec changes
        if parsed.legacy_tz:
            self.events.record(cronjob, "Warning", "UnsupportedSchedule",
                               f'CRON_TZ or TZ used in schedule "{spec.get("schedule")}" is not '
                               "officially supported, see https://kubernetes.io/docs/concepts/"
                               "workloads/controllers/cron-jobs/ for more details")  # fmt: skip
        if spec.get("suspend"):
            return None
        now = self._now()
        try:
            _, scheduled, missed = most_recent_schedule(view, now, parsed, with_deadline=True)
        except CronError as err:
            self.events.record(cronjob, "Warning", "InvalidSchedule",
                               f"invalid schedule: {spec.get('schedule')} : {err}")  # fmt: skip
            return None
        if scheduled is None:
            return next_schedule_delay(view, now, parsed)
        if missed == Missed.MANY:
            self.events.record(cronjob, "Warning", "TooManyMissedTimes",
                               "too many missed start times. Set or decrease "
                               ".spec.startingDeadlineSeconds or check clock skew")  # fmt: skip
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + datetime.timedelta(seconds=int(deadline)) < now:
            message = f"Missed scheduled time to start a job: {_rfc1123z(scheduled)}"
            self.events.record(cronjob, "Warning", "MissSchedule", message)
            return next_schedule_delay(view, now, parsed)
        name = job_name(cronjob, scheduled)
        if (
            any(r.get("name") == name for r in status["active"])
            or parse_time(status.get("lastScheduleTime")) == scheduled
        ):
            return next_schedule_delay(view, now, parsed)  # this time is already done
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status["active"]:
            self.events.record(cronjob, "Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and "
                               "concurrency policy is Forbid")  # fmt: skip
            return next_schedule_delay(view, now, parsed)
        if policy == "Replace":
            for ref in list(status["active"]):
                job = self.jobs.get(f"{ref.get('namespace')}/{ref.get('name')}") or {
                    "metadata": {k: ref.get(k) for k in ("name", "namespace", "uid")}
                }
                if not await self._delete_job(view, job):
                    raise RuntimeError(f"could not replace job {ref.get('name')}")
                status["active"] = [r for r in status["active"] if r.get("uid") != ref.get("uid")]
        made = await self._create_job(cronjob, job_from_template(cronjob, scheduled, parsed.zone))
        if made is None:
            return next_schedule_delay(view, now, parsed)
        if not any(r.get("uid") == made["metadata"]["uid"] for r in status["active"]):
            status["active"].append(job_reference(made))
        status["lastScheduleTime"] = format_time(scheduled)
        return next_schedule_delay(view, now, parsed)

    async def _create_job(self, cronjob: Obj, job: Obj) -> Obj | None:
        """Create the Job; one of ours that exists already (a lost status write) is taken."""
        meta = job["metadata"]
        path = resource_path("batch", "v1", "jobs", meta["namespace"])
        try:
            created: Obj = await self._client.create(path, job)
        except ApiStatusError as err:
            if err.reason != "AlreadyExists":
                self.events.record(cronjob, "Warning", "FailedCreate", f"Error creating job: {err}")
                raise
            existing: Obj = await self._client.get(f"{path}/{meta['name']}")
            return existing if owned_by(existing, cronjob["metadata"]["uid"]) else None
        self.events.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {meta['name']}")
        return created

    async def _delete_job(self, cronjob: Obj, job: Obj) -> bool:
        meta = job["metadata"]
        path = resource_path("batch", "v1", "jobs", meta.get("namespace", ""), meta["name"])
        try:
            await self._client.delete(path, BACKGROUND)
        except ApiStatusError as err:
            if err.code != 404:
                self.events.record(cronjob, "Warning", "FailedDelete", f"Deleted job: {err}")
                log.warning("cronjob %s: deleting job %s failed: %s", key_of(cronjob),
                            meta["name"], err)  # fmt: skip
                return False
        self.events.record(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}")
        return True

    async def _job_exists(self, ref: Obj) -> bool:
        """Ask the API, not the cache: a slow watch must not make a live Job look missing."""
        path = resource_path("batch", "v1", "jobs", str(ref.get("namespace") or ""),
                             str(ref.get("name")))  # fmt: skip
        try:
            job = await self._client.get(path)
        except ApiStatusError as err:
            if err.code == 404:
                return False
            raise
        return bool(job["metadata"].get("uid") == ref.get("uid"))

    async def _write_status(self, cronjob: Obj, status: Obj) -> None:
        if not status.get("active"):
            status.pop("active", None)  # omitted when empty, as the real API shows it
        if (cronjob.get("status") or {}) == status:
            return
        meta = cronjob["metadata"]
        path = resource_path("batch", "v1", "cronjobs", meta.get("namespace", ""), meta["name"],
                             "status")  # fmt: skip
        try:
            await self._client.update(path, {**cronjob, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(cronjob))  # moved on meanwhile: sync again from the cache
