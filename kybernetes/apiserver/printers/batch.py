"""Columns of batch/v1 Jobs and CronJobs.

A Job shows a STATUS (since Kubernetes 1.30) read from its conditions in a
fixed precedence: Complete, Failed, then Terminating while being deleted,
Suspended, FailureTarget, and Running otherwise. COMPLETIONS is
`succeeded/completions`; a work-queue Job (no completions) is `n/1`, or
`n/1 of P` when it runs P pods in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import (
    AGE,
    NAME,
    Column,
    Since,
    containers_cells,
    format_label_selector,
    get,
    human_duration,
    parse_time,
    since,
)

__all__ = ["COLUMNS", "job_status"]


def _condition(job: Obj, kind: str) -> bool:
    for condition in get(job, "status", "conditions", default=[]):
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def job_status(job: Obj) -> str:
    if _condition(job, "Complete"):
        return "Complete"
    if _condition(job, "Failed"):
        return "Failed"
    if get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _condition(job, "Suspended"):
        return "Suspended"
    if _condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _completions(job: Obj) -> str:
    succeeded = int(get(job, "status", "succeeded", default=0))
    completions = get(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = int(get(job, "spec", "parallelism", default=0))
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(job: Obj) -> str | Since:
    started = parse_time(get(job, "status", "startTime"))
    if started is None:
        return ""
    finished = parse_time(get(job, "status", "completionTime"))
    if finished is None:  # still running: its duration so far
        return Since(started)
    return human_duration((finished - started).total_seconds())


def _bool_text(value: Any) -> str:
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _last_schedule(cronjob: Obj) -> str | Since:
    moment = get(cronjob, "status", "lastScheduleTime")
    return since(moment) if moment else "<none>"


def _job_spec(obj: Obj, kind: str) -> Any:
    if kind == "CronJob":
        return get(obj, "spec", "jobTemplate", "spec", default={})
    return get(obj, "spec", default={})


def _wide(kind: str) -> list[Column]:
    def containers(obj: Obj) -> tuple[str, str]:
        spec = _job_spec(obj, kind)
        return containers_cells(get(spec, "template", "spec", "containers", default=[]))

    return [
        Column("Containers", lambda o: containers(o)[0], priority=1,
               description="Names of the template's containers."),
        Column("Images", lambda o: containers(o)[1], priority=1,
               description="Images of the template's containers."),
        Column("Selector", lambda o: format_label_selector(
            get(_job_spec(o, kind), "selector")), priority=1,
               description="The label selector of the job's pods."),
    ]  # fmt: skip


COLUMNS = {
    ("batch", "Job"): [
        NAME,
        Column("Status", job_status, description="Where the job stands."),
        Column("Completions", _completions, description="Succeeded pods out of the wanted ones."),
        Column("Duration", _duration, description="How long the job ran, or has been running."),
        AGE,
        *_wide("Job"),
    ],
    ("batch", "CronJob"): [
        NAME,
        Column("Schedule", lambda o: str(get(o, "spec", "schedule", default="")),
               description="The cron schedule."),
        Column("Timezone", lambda o: str(get(o, "spec", "timeZone", default="<none>")),
               description="The time zone of the schedule."),
        # Declared boolean, sent as the text True/False/<unset>, as the real server does.
        Column("Suspend", lambda o: _bool_text(get(o, "spec", "suspend")), type="boolean",
               description="Whether new runs are held back."),
        Column("Active", lambda o: len(get(o, "status", "active", default=[])),
               type="integer", description="Jobs running now."),
        Column("Last Schedule", _last_schedule, description="When a job was last started."),
        AGE,
        *_wide("CronJob"),
    ],
}  # fmt: skip
