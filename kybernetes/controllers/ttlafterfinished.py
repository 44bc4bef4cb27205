"""The TTL-after-finished controller: delete a finished Job `ttlSecondsAfterFinished` later.

Kubernetes' ttlafterfinished controller: a Job that is Complete or Failed
and sets `spec.ttlSecondsAfterFinished` expires that many seconds after its
finishing condition's lastTransitionTime. Before expiry the key waits in
the work queue (`add_after`, no polling); at expiry the Job is read fresh
from the API (the TTL may have been changed or removed meanwhile) and
deleted with a uid precondition and `propagationPolicy: Background`, so the
garbage collector removes its pods afterwards.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.times import parse_time
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import Clock, WorkQueue
from kybernetes.controllers.runner import run_controller

__all__ = ["TTLAfterFinishedController", "expires_at", "time_left"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def expires_at(job: Obj) -> datetime.datetime | None:
    """When a finished Job with a TTL is due for deletion; None if it never is (yet)."""
    meta, spec = job.get("metadata") or {}, job.get("spec") or {}
    ttl = spec.get("ttlSecondsAfterFinished")
    if ttl is None or meta.get("deletionTimestamp"):
        return None
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            finished = parse_time(condition.get("lastTransitionTime"))
            if finished is None:
                return None
            return finished + datetime.timedelta(seconds=int(ttl))
    return None


def time_left(job: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the Job expires (<= 0: delete it now); None when it never expires."""
    moment = expires_at(job)
    return None if moment is None else (moment - now).total_seconds()


class TTLAfterFinishedController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = _utcnow,
        clock: Clock | None = None,
    ) -> None:
        self._client = informers.client
        self._now = now
        self.jobs = informers.informer("batch", "v1", "jobs")
        self.queue: WorkQueue[str] = WorkQueue(name="ttl-after-finished", clock=clock)
        self.jobs.on_add(self._changed)
        self.jobs.on_update(lambda old, new: self._changed(new))

    def _changed(self, job: Obj) -> None:
        if expires_at(job) is not None:
            self.queue.add(key_of(job))

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.jobs,))  # fmt: skip

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            return
        left = time_left(job, self._now())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        meta = job["metadata"]
        path = resource_path("batch", "v1", "jobs", meta.get("namespace", ""), meta["name"])
        try:
            # The cache may be stale: the TTL could have been changed or removed.
            fresh = await self._client.get(path)
            left = time_left(fresh, self._now())
            if left is None:
                return
            if left > 0:
                self.queue.add_after(key, left)
                return
            await self._client.delete(path, {
                "kind": "DeleteOptions", "apiVersion": "v1",
                "propagationPolicy": "Background",
                "preconditions": {"uid": fresh["metadata"]["uid"]},
            })  # fmt: skip
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            return  # already gone, or a new Job of the same name
        log.info("deleted job %s: ttlSecondsAfterFinished passed", key)
