"""Cron schedules: the grammar Kubernetes accepts and next times, in time zones and across DST."""

from __future__ import annotations

import datetime

import pytest

from kybernetes.api.cron import CronError, load_zone, parse

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


def next_times(spec: str, start: str, count: int = 3, zone: str = "") -> list[str]:
    schedule, tz = parse(spec), load_zone(zone)
    moment, out = at(start), []
    for _ in range(count):
        found = schedule.next_after(moment, tz)
        assert found is not None
        out.append(found.astimezone(tz).isoformat())
        moment = found
    return out


@pytest.mark.parametrize(
    ("spec", "start", "expected"),
    [
        ("*/1 * * * *", "2026-03-01T10:00:30+00:00",
         ["2026-03-01T10:01:00+00:00", "2026-03-01T10:02:00+00:00", "2026-03-01T10:03:00+00:00"]),
        ("*/15 * * * *", "2026-03-01T10:07:00+00:00",
         ["2026-03-01T10:15:00+00:00", "2026-03-01T10:30:00+00:00", "2026-03-01T10:45:00+00:00"]),
        ("5-10/5,30 2 * * *", "2026-03-01T00:00:00+00:00",
         ["2026-03-01T02:05:00+00:00", "2026-03-01T02:10:00+00:00", "2026-03-01T02:30:00+00:00"]),
        ("0 9 * * mon-fri", "2026-11-27T12:00:00+00:00",  # a Friday afternoon
         ["2026-11-30T09:00:00+00:00", "2026-12-01T09:00:00+00:00", "2026-12-02T09:00:00+00:00"]),
        ("@hourly", "2026-03-01T10:00:00+00:00",
         ["2026-03-01T11:00:00+00:00", "2026-03-01T12:00:00+00:00", "2026-03-01T13:00:00+00:00"]),
        ("@daily", "2026-12-31T10:00:00+00:00",
         ["2027-01-01T00:00:00+00:00", "2027-01-02T00:00:00+00:00", "2027-01-03T00:00:00+00:00"]),
        ("@weekly", "2026-11-30T00:00:00+00:00",  # a Monday; weeks start on Sunday
         ["2026-12-06T00:00:00+00:00", "2026-12-13T00:00:00+00:00", "2026-12-20T00:00:00+00:00"]),
        ("@monthly", "2026-11-15T00:00:00+00:00",
         ["2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00", "2027-02-01T00:00:00+00:00"]),
        ("@yearly", "2026-11-15T00:00:00+00:00",
         ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00", "2029-01-01T00:00:00+00:00"]),
        ("0 0 29 feb *", "2026-01-01T00:00:00+00:00",  # leap days only
         ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"]),
        ("0 0 31 * *", "2026-01-31T00:00:00+00:00",  # months without a 31st are skipped
         ["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00"]),
        ("30 4 1/10 jan-feb ?", "2026-01-05T00:00:00+00:00",
         ["2026-01-11T04:30:00+00:00", "2026-01-21T04:30:00+00:00", "2026-01-31T04:30:00+00:00"]),
    ],
)  # fmt: skip
def test_next_times(spec: str, start: str, expected: list[str]) -> None:
    assert next_times(spec, start) == expected


def test_both_day_fields_restricted_means_either() -> None:
    # The 13th of the month or any Friday (December 2026: Fri 4th, Fri 11th, Sun 13th).
    assert next_times("0 0 13 * 5", "2026-12-01T00:00:00+00:00") == [
        "2026-12-04T00:00:00+00:00", "2026-12-11T00:00:00+00:00", "2026-12-13T00:00:00+00:00",
    ]  # fmt: skip
    # A star in one day field makes the other the only rule (both must match).
    assert next_times("0 0 * * 5", "2026-12-01T00:00:00+00:00", 1) == ["2026-12-04T00:00:00+00:00"]
    # A stepped star restricts: `*/10` days or Sundays.
    assert next_times("0 0 */10 * 0", "2026-12-01T12:00:00+00:00", 3) == [
        "2026-12-06T00:00:00+00:00", "2026-12-11T00:00:00+00:00", "2026-12-13T00:00:00+00:00",
    ]  # fmt: skip


def test_time_zone_is_the_wall_clock() -> None:
    # 09:00 in Tokyo is 00:00 UTC.
    assert next_times("0 9 * * *", "2026-06-01T00:00:00+00:00", 1, "Asia/Tokyo") == [
        "2026-06-02T09:00:00+09:00"
    ]
    # A 45-minute offset zone.
    assert next_times("0 * * * *", "2026-06-01T00:00:00+00:00", 1, "Asia/Kathmandu") == [
        "2026-06-01T06:00:00+05:45"
    ]


def test_spring_forward_skips_the_missing_time() -> None:
    # New York skips 02:00-03:00 on 2026-03-08: a 02:30 job does not run that day.
    assert next_times("30 2 * * *", "2026-03-07T12:00:00-05:00", 2, "America/New_York") == [
        "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00",
    ]  # fmt: skip
    assert next_times("30 2 * * *", "2026-03-06T12:00:00-05:00", 2, "America/New_York") == [
        "2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00",
    ]  # fmt: skip
    # An hourly job has one run fewer across the gap.
    assert next_times("0 * * * *", "2026-03-08T00:30:00-05:00", 3, "America/New_York") == [
        "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00",
    ]  # fmt: skip


def test_fall_back_repeats_the_hour() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01: both passes are real instants.
    assert next_times("30 1 * * *", "2026-10-31T12:00:00-04:00", 3, "America/New_York") == [
        "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00",
    ]  # fmt: skip
    # A daily job outside the repeated hour runs once a day, 25 hours apart.
    first, second = next_times("0 3 * * *", "2026-10-31T12:00:00-04:00", 2, "America/New_York")
    assert (first, second) == ("2026-11-01T03:00:00-05:00", "2026-11-02T03:00:00-05:00")


def test_a_schedule_that_never_matches() -> None:
    assert parse("0 0 30 2 *").next_after(at("2026-01-01T00:00:00+00:00"), UTC) is None


def test_result_is_strictly_later() -> None:
    schedule = parse("*/5 * * * *")
    assert schedule.next_after(at("2026-01-01T00:05:00+00:00"), UTC) == at(
        "2026-01-01T00:10:00+00:00"
    )
    assert schedule.next_after(at("2026-01-01T00:04:59.9+00:00"), UTC) == at(
        "2026-01-01T00:05:00+00:00"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("* * * * * *", "expected exactly 5 fields, found 6"),
        ("@every 5m", "unrecognized descriptor: @every 5m"),
        ("@fortnightly", "unrecognized descriptor"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 5-2 * * *", "beginning of range (5) beyond end of range (2): 5-2"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "above maximum (12)"),
        ("* * * * 7", "above maximum (6)"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("*/0 * * * *", "step of range should be a positive number"),
        ("CRON_TZ=UTC * * * * *", "expected exactly 5 fields"),
    ],
)
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(spec)
    assert message in str(caught.value)


def test_names_are_case_insensitive() -> None:
    assert parse("0 0 * JAN,Mar SUN-tue").weekdays == frozenset({0, 1, 2})
    assert parse("0 0 * JAN,Mar SUN-tue").months == frozenset({1, 3})


def test_zones() -> None:
    assert load_zone(None) is UTC and load_zone("") is UTC
    assert str(load_zone("Europe/Berlin")) == "Europe/Berlin"
    with pytest.raises(CronError, match="unknown time zone Mars/Olympus"):
        load_zone("Mars/Olympus")
