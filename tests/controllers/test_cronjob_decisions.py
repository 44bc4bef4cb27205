"""The CronJob controller's pure decisions: due times, missed ones, names, history, active."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.api.cron import CronError
from kybernetes.controllers.cronjob_decisions import (
    SCHEDULED_TIMESTAMP,
    Missed,
    job_from_template,
    job_name,
    job_reference,
    jobs_to_clean,
    most_recent_schedule,
    next_schedule_delay,
    parse_schedule,
    reconcile_active,
)

Obj = dict[str, Any]
UTC = datetime.UTC
CREATED = datetime.datetime(2026, 11, 30, 6, 0, 30, tzinfo=UTC)


def at(minutes: float) -> datetime.datetime:
    return CREATED + datetime.timedelta(minutes=minutes)


def cronjob(schedule: str = "*/1 * * * *", **spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": "default", "uid": "cj-uid",
                     "creationTimestamp": "2026-11-30T06:00:30Z"},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"app": "hello"}},
                                 "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                          "containers": [{"name": "c", "image": "busybox"}]}}}},
                 **spec},
        "status": status,
    }  # fmt: skip


def recent(cj: Obj, now: datetime.datetime, deadline: bool = True) -> Any:
    return most_recent_schedule(cj, now, parse_schedule(cj), with_deadline=deadline)


def test_nothing_due_before_the_first_schedule_time() -> None:
    earliest, due, missed = recent(cronjob(), at(0.4))
    assert (earliest, due, missed) == (CREATED, None, Missed.NONE)


def test_the_first_due_time() -> None:
    _, due, missed = recent(cronjob(), at(0.6))  # 06:01:06
    assert due == datetime.datetime(2026, 11, 30, 6, 1, tzinfo=UTC) and missed == Missed.NONE


def test_the_most_recent_of_several_missed_times() -> None:
    _, due, missed = recent(cronjob(), at(10))
    assert due == datetime.datetime(2026, 11, 30, 6, 10, tzinfo=UTC) and missed == Missed.FEW


def test_more_than_a_hundred_missed_is_many() -> None:
    _, due, missed = recent(cronjob(), at(200))
    assert due == datetime.datetime(2026, 11, 30, 9, 20, tzinfo=UTC) and missed == Missed.MANY


def test_last_schedule_time_is_the_start() -> None:
    cj = cronjob(status={"lastScheduleTime": "2026-11-30T06:05:00Z"})
    assert recent(cj, at(5))[1] is None  # 06:05:30: 06:05 is done, 06:06 not yet due
    assert recent(cj, at(6))[1] == datetime.datetime(2026, 11, 30, 6, 6, tzinfo=UTC)


def test_starting_deadline_skips_older_times() -> None:
    cj = cronjob("0 * * * *", startingDeadlineSeconds=600)
    # At 07:30 the 07:00 run is 30 minutes late: beyond the 10-minute deadline.
    assert recent(cj, datetime.datetime(2026, 11, 30, 7, 30, tzinfo=UTC))[1] is None
    assert recent(cj, datetime.datetime(2026, 11, 30, 7, 5, tzinfo=UTC))[1] == datetime.datetime(
        2026, 11, 30, 7, 0, tzinfo=UTC
    )
    # The deadline also bounds how far back missed times are counted.
    cj = cronjob(startingDeadlineSeconds=120)
    assert recent(cj, at(500))[2] != Missed.MANY


def test_irregular_schedules_find_the_exact_last_time() -> None:
    # 06:30, 10:30, 14:30 on weekdays; 2026-11-30 is a Monday.
    cj = cronjob("30 6-16/4 * * 1-5")
    now = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert recent(cj, now)[1] == datetime.datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def test_time_zone_of_the_schedule() -> None:
    cj = cronjob("0 9 * * *", timeZone="Asia/Tokyo")  # 09:00 JST = 00:00 UTC
    due = recent(cj, datetime.datetime(2026, 12, 1, 0, 1, tzinfo=UTC))[1]
    assert due == datetime.datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_next_schedule_delay() -> None:
    cj = cronjob(status={"lastScheduleTime": "2026-11-30T06:01:00Z"})
    parsed = parse_schedule(cj)
    assert next_schedule_delay(cj, at(0.75), parsed) == pytest.approx(45.1)  # 06:02:00 + 0.1
    # Missed runs: the next look is at the next schedule time from now.
    assert next_schedule_delay(cronjob(), at(10), parsed) == pytest.approx(30.1)


def test_invalid_schedules_and_zones() -> None:
    with pytest.raises(CronError):
        parse_schedule(cronjob("every minute"))
    with pytest.raises(CronError, match="unknown time zone Nowhere/Land"):
        parse_schedule(cronjob(timeZone="Nowhere/Land"))
    with pytest.raises(CronError, match="never matches"):
        recent(cronjob("0 0 30 2 *"), at(10))


def test_a_legacy_zone_in_the_schedule_still_runs_there() -> None:
    parsed = parse_schedule(cronjob("CRON_TZ=Asia/Tokyo 0 9 * * *"))
    assert parsed.legacy_tz and str(parsed.zone) == "Asia/Tokyo"
    assert not parse_schedule(cronjob()).legacy_tz


def test_job_name_is_minutes_since_the_epoch() -> None:
    scheduled = datetime.datetime(2026, 11, 30, 6, 1, tzinfo=UTC)
    assert job_name(cronjob(), scheduled) == f"hello-{int(scheduled.timestamp()) // 60}"
    assert job_name(cronjob(), scheduled) == "hello-29933641"


def test_job_from_template() -> None:
    scheduled = datetime.datetime(2026, 11, 30, 6, 1, tzinfo=UTC)
    job = job_from_template(cronjob(), scheduled, UTC)
    assert job["metadata"]["name"] == "hello-29933641"
    assert job["metadata"]["labels"] == {"app": "hello"}
    assert job["metadata"]["annotations"] == {SCHEDULED_TIMESTAMP: "2026-11-30T06:01:00Z"}
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "hello", "uid": "cj-uid",
        "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    # The annotation is in the CronJob's zone.
    tokyo = parse_schedule(cronjob(timeZone="Asia/Tokyo")).zone
    annotated = job_from_template(cronjob(), scheduled, tokyo)["metadata"]["annotations"]
    assert annotated[SCHEDULED_TIMESTAMP] == "2026-11-30T15:01:00+09:00"


def job(name: str, finished: str = "", start: str | None = None, done: str | None = None) -> Obj:
    status: Obj = {}
    if start:
        status["startTime"] = start
    if finished:
        status["conditions"] = [{"type": finished, "status": "True"}]
    if done:
        status["completionTime"] = done
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "resourceVersion": "7"}, "status": status}  # fmt: skip


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    jobs = [job(f"ok{i}", "Complete", f"2026-11-30T06:0{i}:00Z") for i in range(5)]
    jobs += [job("bad1", "Failed", "2026-11-30T06:01:00Z"),
             job("bad2", "Failed", "2026-11-30T06:02:00Z"), job("running")]  # fmt: skip
    doomed = [j["metadata"]["name"] for j in jobs_to_clean(cronjob(), jobs)]
    assert doomed == ["ok0", "ok1", "bad1"]
    cj = cronjob(successfulJobsHistoryLimit=0, failedJobsHistoryLimit=0)
    assert len(jobs_to_clean(cj, jobs)) == 7
    unlimited = cronjob()
    del unlimited["spec"]["successfulJobsHistoryLimit"], unlimited["spec"]["failedJobsHistoryLimit"]
    assert jobs_to_clean(unlimited, jobs) == []


def test_finished_jobs_leave_the_active_list() -> None:
    done, running = job("a", "Complete", done="2026-11-30T06:02:00Z"), job("b")
    cj = cronjob(status={"active": [job_reference(done), job_reference(running)],
                         "lastSuccessfulTime": "2026-11-30T06:01:00Z"})  # fmt: skip
    change = reconcile_active(cj, [done, running])
    assert [r["name"] for r in change.active] == ["b"]
    assert change.last_successful == "2026-11-30T06:02:00Z"
    assert change.events == [
        ("Normal", "SawCompletedJob", "Saw completed job: a, condition: Complete")
    ]
    assert change.unknown_refs == []


def test_unexpected_and_missing_jobs() -> None:
    gone = job("gone")
    cj = cronjob(status={"active": [job_reference(gone)]})
    change = reconcile_active(cj, [job("stray")])
    assert [r["name"] for r in change.unknown_refs] == ["gone"]
    forgot = "Saw a job that the controller did not create or forgot: stray"
    assert change.events == [("Warning", "UnexpectedJob", forgot)]


def test_job_reference() -> None:
    assert job_reference(job("a")) == {"kind": "Job", "namespace": "default", "name": "a",
                                       "uid": "uid-a", "apiVersion": "batch/v1",
                                       "resourceVersion": "7"}  # fmt: skip
