"""What the CronJob controller decides, as pure functions (STYLE.md habit 1).

Kubernetes 1.32's cronjob controller (v2): the most recent schedule time
that is due (never earlier than the last one, nor than
`startingDeadlineSeconds` ago), how many were missed (more than 100 warns),
when to look again (the next schedule time plus 100 ms, requeued on the
work queue rather than polled), the Job for a schedule time — named
`<cronjob>-<minutes since the epoch>`, so two controllers or a restart can
never start one schedule twice — which finished Jobs the history limits
let go, and how `status.active` follows the Jobs.

Time is a parameter everywhere: callers pass `now`.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.cron import CronError, Schedule, load_zone, parse
from kybernetes.api.times import format_time, parse_time

__all__ = [
    "SCHEDULED_TIMESTAMP",
    "ActiveChange",
    "Missed",
    "finished_type",
    "job_from_template",
    "job_name",
    "jobs_to_clean",
    "job_reference",
    "most_recent_schedule",
    "next_schedule_delay",
    "parse_schedule",
    "reconcile_active",
]

Obj = dict[str, Any]
UTC = datetime.UTC
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # seconds after the schedule time: a little slack for clock skew
TOO_MANY_MISSED = 100


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def _status(obj: Obj) -> Obj:
    status: Obj = obj.get("status") or {}
    return status


@dataclass(frozen=True)
class ParsedSchedule:
    schedule: Schedule
    zone: datetime.tzinfo
    legacy_tz: bool  # the schedule itself named a zone (TZ=/CRON_TZ=), which is unsupported


def parse_schedule(cronjob: Obj) -> ParsedSchedule:
    """The CronJob's schedule in its `spec.timeZone`; CronError when either is invalid.

    A schedule prefixed `TZ=zone` or `CRON_TZ=zone` (older objects; the API
    rejects it now) still runs in that zone, and the caller warns about it.
    """
    text = str(_spec(cronjob).get("schedule") or "").strip()
    zone_name = _spec(cronjob).get("timeZone")
    legacy = False
    if text.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, text = text.partition(" ")
        zone_name = prefix.partition("=")[2]
        legacy = True
    return ParsedSchedule(parse(text), load_zone(zone_name), legacy)


class Missed:
    NONE = "none"
    FEW = "few"
    MANY = "many"


def _next(parsed: ParsedSchedule, after: datetime.datetime) -> datetime.datetime:
    found = parsed.schedule.next_after(after, parsed.zone)
    if found is None:
        raise CronError("the schedule never matches a real date")
    return found


def most_recent_schedule(
    cronjob: Obj, now: datetime.datetime, parsed: ParsedSchedule, *, with_deadline: bool
) -> tuple[datetime.datetime, datetime.datetime | None, str]:
    """(earliest time considered, the most recent due schedule time or None, Missed.*)."""
    earliest = parse_time(_status(cronjob).get("lastScheduleTime")) or parse_time(
        _meta(cronjob).get("creationTimestamp")
    )
    earliest = earliest or now
    deadline = _spec(cronjob).get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        # Nothing older than the starting deadline is scheduled any more.
        earliest = max(earliest, now - datetime.timedelta(seconds=int(deadline)))
    t1 = _next(parsed, earliest)
    if now < t1:
        return earliest, None, Missed.NONE
    t2 = _next(parsed, t1)
    if now < t2:
        return earliest, t1, Missed.NONE
    interval = round((t2 - t1).total_seconds())
    if interval < 1:
        raise CronError("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // interval + 1
    # Jump close to now by whole intervals, then let the schedule find the exact
    # last time (irregular schedules such as `30 6-16/4 * * 1-5` need the latter).
    moment = _next(parsed, t1 + datetime.timedelta(seconds=(missed - 2) * interval))
    most_recent = None
    while moment <= now:
        most_recent = moment
        moment = _next(parsed, moment)
    kind = Missed.MANY if missed > TOO_MANY_MISSED else Missed.FEW
    return earliest, most_recent, kind


def next_schedule_delay(cronjob: Obj, now: datetime.datetime, parsed: ParsedSchedule) -> float:
    """Seconds until the sync for the next schedule time (plus 100 ms of slack)."""
    try:
        earliest, most_recent, missed = most_recent_schedule(cronjob, now, parsed,
                                                             with_deadline=False)  # fmt: skip
    except CronError:
        earliest, most_recent, missed = now, now, Missed.NONE
    if most_recent is None:
        most_recent = earliest if missed == Missed.NONE else now
    try:
        upcoming = _next(parsed, most_recent)
    except CronError:
        upcoming = now + datetime.timedelta(days=366)
    return (upcoming - now).total_seconds() + NEXT_SCHEDULE_DELTA


def job_name(cronjob: Obj, scheduled: datetime.datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: one name per schedule time."""
    return f"{_meta(cronjob)['name']}-{int(scheduled.timestamp()) // 60}"


def _rfc3339(moment: datetime.datetime) -> str:
    """Go's time.RFC3339: `Z` for a zero offset, else the zone's offset."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if moment.utcoffset() == datetime.timedelta() else text


def job_from_template(cronjob: Obj, scheduled: datetime.datetime, zone: datetime.tzinfo) -> Obj:
    """The Job for one schedule time: the template's metadata and spec, our name and
    ownerReference, and the scheduled time (in the CronJob's zone) as an annotation."""
    meta = _meta(cronjob)
    template = _spec(cronjob).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    local = scheduled.astimezone(zone)
    annotations[SCHEDULED_TIMESTAMP] = _rfc3339(local)
    job_meta: Obj = {
        "name": job_name(cronjob, scheduled),
        "namespace": meta.get("namespace", ""),
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
        }],
    }  # fmt: skip
    labels = template_meta.get("labels")
    if labels:
        job_meta["labels"] = dict(labels)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}  # fmt: skip


def job_reference(job: Obj) -> Obj:
    """An ObjectReference to a Job, as `status.active` lists them."""
    meta = _meta(job)
    return {"kind": "Job", "namespace": meta.get("namespace", ""), "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "batch/v1",
            "resourceVersion": meta.get("resourceVersion", "")}  # fmt: skip


def finished_type(job: Obj) -> str:
    """ "Complete" or "Failed" for a finished Job, else ""."""
    for condition in _status(job).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return ""


def _start_key(job: Obj) -> tuple[int, str, str]:
    started = _status(job).get("startTime")
    # Jobs that never started sort last; names break ties.
    return (0 if started else 1, str(parse_time(started) or ""), str(_meta(job).get("name")))


def jobs_to_clean(cronjob: Obj, jobs: Sequence[Obj]) -> list[Obj]:
    """The oldest finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit."""
    spec = _spec(cronjob)
    doomed: list[Obj] = []
    for kind, field in (("Complete", "successfulJobsHistoryLimit"),
                        ("Failed", "failedJobsHistoryLimit")):  # fmt: skip
        limit = spec.get(field)
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished_type(j) == kind), key=_start_key)
        doomed.extend(done[: max(0, len(done) - int(limit))])
    return doomed


@dataclass(frozen=True)
class ActiveChange:
    active: list[Obj]  # the new status.active
    last_successful: str | None  # the new status.lastSuccessfulTime
    events: list[tuple[str, str, str]]  # (type, reason, message)
    unknown_refs: list[Obj]  # active refs whose Job is not in the cache: ask the API


def reconcile_active(cronjob: Obj, jobs: Sequence[Obj]) -> ActiveChange:
    """Finished Jobs leave `status.active`; the newest success sets lastSuccessfulTime."""
    status = _status(cronjob)
    active = [dict(ref) for ref in status.get("active") or []]
    active_uids = {ref.get("uid") for ref in active}
    last_ok = status.get("lastSuccessfulTime")
    events: list[tuple[str, str, str]] = []
    children = set()
    for job in jobs:
        job_uid = _meta(job).get("uid")
        children.add(job_uid)
        finished = finished_type(job)
        if not finished:
            if job_uid not in active_uids:
                events.append(("Warning", "UnexpectedJob", "Saw a job that the controller did "
                               f"not create or forgot: {_meta(job)['name']}"))  # fmt: skip
            continue
        if job_uid in active_uids:
            active = [ref for ref in active if ref.get("uid") != job_uid]
            saw = f"Saw completed job: {_meta(job)['name']}, condition: {finished}"
            events.append(("Normal", "SawCompletedJob", saw))
        completed = _status(job).get("completionTime")
        if finished == "Complete" and completed:
            previous = parse_time(last_ok)
            moment = parse_time(completed)
            if moment is not None and (previous is None or moment > previous):
                last_ok = format_time(moment)
    unknown = [ref for ref in active if ref.get("uid") not in children]
    return ActiveChange(active=active, last_successful=last_ok, events=events,
                        unknown_refs=unknown)  # fmt: skip
