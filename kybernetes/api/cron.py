"""Cron schedules as CronJobs read them: five fields, evaluated in a time zone.

The grammar is the standard one Kubernetes accepts (robfig/cron's
`ParseStandard`): minute, hour, day of month, month, day of week; `*` and
`?`, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (a to the
field's end); month and weekday names (`JAN`, `mon`); and the descriptors
`@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
`@hourly`. When both day fields are restricted a day matches either of
them; when one is `*` (or `?`) both must match — cron's old rule.

Time zones: the wall clock of the zone is what matches. A wall time that
does not exist (the hour skipped when daylight saving starts) is skipped;
in the hour repeated when it ends, both passes are real instants, so an
every-minute or hourly schedule runs in both — the same as robfig/cron,
which steps hours by absolute time. `TZ=`/`CRON_TZ=` prefixes are not
parsed here: Kubernetes rejects them in favour of `spec.timeZone`.

Pure and shared: the API server validates with it, the CronJob controller
schedules with it. A small parser of our own keeps the grammar exactly
robfig's (five fields, weekdays 0-6, the star rule of the two day fields,
hours stepped by absolute time across DST) without a new dependency.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

__all__ = ["CronError", "Schedule", "load_zone", "parse"]

UTC = datetime.UTC
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
# Searching further than this for a match means the schedule never matches
# (say `0 0 30 2 *`): robfig gives up after five years too.
SEARCH_YEARS = 5

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(ValueError):
    """The schedule does not parse; the message says why, as robfig/cron words it."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 6, _DAYS),
)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool  # day of month was `*` or `?`
    weekdays_star: bool

    def _day_matches(self, day: datetime.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return in_month and in_week
        return in_month or in_week

    def next_after(
        self, moment: datetime.datetime, zone: datetime.tzinfo
    ) -> datetime.datetime | None:
        """The first scheduled instant strictly after `moment` (aware), in UTC; None if never."""
        t = moment.astimezone(UTC).replace(second=0, microsecond=0) + MINUTE
        limit = t + datetime.timedelta(days=366 * SEARCH_YEARS)
        while t <= limit:
            local = t.astimezone(zone)
            if local.month not in self.months:
                year, month0 = divmod(local.year * 12 + local.month, 12)  # the next month
                t = _advance(t, _wall(zone, year, month0 + 1, 1))
            elif not self._day_matches(local.date()):
                tomorrow = local.date() + datetime.timedelta(days=1)
                t = _advance(t, _wall(zone, tomorrow.year, tomorrow.month, tomorrow.day))
            elif local.hour not in self.hours:
                # Whole hours by absolute time: across a DST change the skipped
                # hour never shows and the repeated one shows twice.
                t = t - datetime.timedelta(minutes=local.minute) + HOUR
            else:
                later = [m for m in self.minutes if m >= local.minute]
                if later:
                    return t + datetime.timedelta(minutes=min(later) - local.minute)
                t = t - datetime.timedelta(minutes=local.minute) + HOUR
        return None


def _wall(zone: datetime.tzinfo, year: int, month: int, day: int) -> datetime.datetime:
    """Local midnight of a date as a UTC instant (a midnight lost to DST: the first after it)."""
    return datetime.datetime(year, month, day, tzinfo=zone).astimezone(UTC)


def _advance(now: datetime.datetime, target: datetime.datetime) -> datetime.datetime:
    # Always move forward, whatever a zone's transitions make of the target.
    return target if target > now else now + MINUTE


def load_zone(name: str | None) -> datetime.tzinfo:
    """`spec.timeZone` as a zone (unset is UTC, the controller's zone); CronError if unknown."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise CronError(f"unknown time zone {name}") from err


def parse(text: str) -> Schedule:
    """A standard five-field schedule or descriptor; CronError says what is wrong."""
    spec = text.strip()
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith("@"):
        expanded = _DESCRIPTORS.get(spec.lower())
        if expanded is None:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = expanded
    parts = spec.split()
    if len(parts) != len(_FIELDS):
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: [{' '.join(parts)}]")
    sets = [_parse_field(part, field) for part, field in zip(parts, _FIELDS, strict=True)]
    return Schedule(
        minutes=frozenset(sets[0][0]), hours=frozenset(sets[1][0]), days=frozenset(sets[2][0]),
        months=frozenset(sets[3][0]), weekdays=frozenset(sets[4][0]),
        days_star=sets[2][1], weekdays_star=sets[4][1],
    )  # fmt: skip


def _parse_field(text: str, field: _Field) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for item in text.split(","):
        got, item_star = _parse_range(item, field)
        values |= got
        star = star or item_star
    return values, star


def _parse_range(item: str, field: _Field) -> tuple[set[int], bool]:
    range_part, _, step_part = item.partition("/")
    star = range_part in ("*", "?")
    if star:
        low, high = field.low, field.high
    else:
        low_text, dash, high_text = range_part.partition("-")
        low = _number(low_text, field)
        high = _number(high_text, field) if dash else low
    step = 1
    if step_part or item.endswith("/"):
        step = _int(step_part)
        if step <= 0:
            raise CronError(f"step of range should be a positive number: {item}")
        if not star and "-" not in range_part:
            high = field.high  # `a/n` means from a to the end of the field
        if step > 1:
            star = False  # `*/2` restricts the field (robfig's rule for the day fields)
    if low < field.low:
        raise CronError(f"beginning of range ({low}) below minimum ({field.low}): {item}")
    if high > field.high:
        raise CronError(f"end of range ({high}) above maximum ({field.high}): {item}")
    if low > high:
        raise CronError(f"beginning of range ({low}) beyond end of range ({high}): {item}")
    return set(range(low, high + 1, step)), star


def _number(text: str, field: _Field) -> int:
    if field.names is not None and text.lower() in field.names:
        return field.names[text.lower()]
    return _int(text)


def _int(text: str) -> int:
    if not text.isdigit():
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "invalid syntax")  # fmt: skip
    return int(text)
