"""From the metrics' proposal to the replicas the HPA sets: stabilization and rate limits.

As kube-controller-manager's normalizeDesiredReplicas(WithBehaviors): the
proposal is stabilized against the recommendations of the recent past (the
highest of the scale-down window, the lowest of the scale-up window), then
bounded by min/max and by the rate the policies allow given the scale events
of each policy's period. Without `behavior`, kube's older rules hold: a
scale-down window (--horizontal-pod-autoscaler-downscale-stabilization, 5
minutes) and a scale up to at most max(2 * current, 4). The history lives in
the controller's memory, as kube's does; these functions return a new one.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["History", "Normalized", "normalize", "record_scale"]

Obj = dict[str, Any]
DOWNSCALE_WINDOW = datetime.timedelta(minutes=5)
WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
_RATE = "faster than the maximum scale rate"
UP_LIMIT = ("ScaleUpLimit", f"the desired replica count is increasing {_RATE}")
DOWN_LIMIT = ("ScaleDownLimit", f"the desired replica count is decreasing {_RATE}")
READY = ("ReadyForNewScale", "recommended size matches current size")
DOWN_STABILIZED = ("ScaleDownStabilized", "recent recommendations were higher than current one, "
                   "applying the highest recent recommendation")  # fmt: skip
UP_STABILIZED = ("ScaleUpStabilized", "recent recommendations were lower than current one, "
                 "applying the lowest recent recommendation")  # fmt: skip


@dataclass(frozen=True)
class History:
    """One HPA's past: its unstabilized recommendations and its scale events
    (time, replicas added or removed)."""

    recommendations: tuple[tuple[datetime.datetime, int], ...] = ()
    up: tuple[tuple[datetime.datetime, int], ...] = ()
    down: tuple[tuple[datetime.datetime, int], ...] = ()


@dataclass(frozen=True)
class Normalized:
    replicas: int
    able: tuple[str, str]  # AbleToScale's reason and message
    limited: bool  # ScalingLimited's status
    limit: tuple[str, str]  # its reason and message
    history: History = field(default_factory=History)


def normalize(hpa: Obj, *, current: int, proposed: int, now: datetime.datetime,
              history: History, downscale_window: datetime.timedelta = DOWNSCALE_WINDOW
              ) -> Normalized:  # fmt: skip
    spec = hpa.get("spec") or {}
    low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 0))
    behavior = spec.get("behavior")
    if not isinstance(behavior, dict):
        return _without_behavior(low, high, current, proposed, now, history, downscale_window)
    up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
    up_window = datetime.timedelta(seconds=int(up.get("stabilizationWindowSeconds") or 0))
    down_seconds = down.get("stabilizationWindowSeconds")
    down_window = (downscale_window if down_seconds is None
                   else datetime.timedelta(seconds=int(down_seconds)))  # fmt: skip
    stable, history = _stabilize(history, current, proposed, now, up_window, down_window)
    able = READY if stable == proposed else (UP_STABILIZED if proposed >= current
                                             else DOWN_STABILIZED)  # fmt: skip
    replicas, limit = _rate_limited(history, current, stable, low, high, now, up, down)
    return Normalized(replicas, able, replicas != stable, limit, history)


def _without_behavior(low: int, high: int, current: int, proposed: int, now: datetime.datetime,
                      history: History, window: datetime.timedelta) -> Normalized:  # fmt: skip
    highest, kept = proposed, []
    for moment, recommended in history.recommendations:
        if moment >= now - window:
            highest = max(highest, recommended)
            kept.append((moment, recommended))
    history = replace(history, recommendations=(*kept, (now, proposed)))
    able = READY if highest == proposed else DOWN_STABILIZED
    up_limit = max(2 * current, 4)
    ceiling, over = (up_limit, UP_LIMIT) if high > up_limit else (high, TOO_MANY)
    if highest < low:
        replicas, limit = low, TOO_FEW
    elif highest > ceiling:
        replicas, limit = ceiling, over
    else:
        replicas, limit = highest, WITHIN
    return Normalized(replicas, able, replicas != highest, limit, history)


def _stabilize(history: History, current: int, proposed: int, now: datetime.datetime,
               up_window: datetime.timedelta, down_window: datetime.timedelta
               ) -> tuple[int, History]:  # fmt: skip
    """The proposal held between the lowest recommendation of the scale-up
    window and the highest of the scale-down window; the proposal recorded."""
    up_bound = down_bound = proposed
    kept = []
    for moment, recommended in history.recommendations:
        if moment > now - up_window:
            up_bound = min(up_bound, recommended)
        if moment > now - down_window:
            down_bound = max(down_bound, recommended)
        if moment >= now - max(up_window, down_window):
            kept.append((moment, recommended))
    stable = min(max(current, up_bound), down_bound)
    return stable, replace(history, recommendations=(*kept, (now, proposed)))


def _changed(events: tuple[tuple[datetime.datetime, int], ...], seconds: int,
             now: datetime.datetime) -> int:  # fmt: skip
    cutoff = now - datetime.timedelta(seconds=seconds)
    return sum(change for moment, change in events if moment > cutoff)


def _limit(rules: Obj, history: History, current: int, now: datetime.datetime, *,
           growing: bool) -> int:  # fmt: skip
    """The furthest the policies let the target go from `current` now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - _changed(history.up, period, now) + _changed(history.down, period, now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start + value if growing else start - value)
        elif growing:  # the rounding lets a small target grow at all
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(int(start * (1 - value / 100)))
    if not proposals:
        return current
    # "Max" is the largest change: upward the highest count, downward the lowest.
    return max(proposals) if (select == "Max") == growing else min(proposals)


def _rate_limited(history: History, current: int, desired: int, low: int, high: int,
                  now: datetime.datetime, up: Obj, down: Obj
                  ) -> tuple[int, tuple[str, str]]:  # fmt: skip
    if desired > current:
        limit = max(_limit(up, history, current, now, growing=True), current)
        ceiling, why = (limit, UP_LIMIT) if high > limit else (high, TOO_MANY)
        return (ceiling, why) if desired > ceiling else (desired, WITHIN)
    if desired < current:
        limit = min(_limit(down, history, current, now, growing=False), current)
        floor, why = (limit, DOWN_LIMIT) if low < limit else (low, TOO_FEW)
        return (floor, why) if desired < floor else (desired, WITHIN)
    return desired, WITHIN


def record_scale(hpa: Obj, history: History, *, before: int, after: int,
                 now: datetime.datetime) -> History:  # fmt: skip
    """The scale event remembered for the rate limits (only with `behavior`,
    as kube), events older than the longest policy period forgotten."""
    behavior = (hpa.get("spec") or {}).get("behavior")
    if not isinstance(behavior, dict) or before == after:
        return history
    growing = after > before
    rules = behavior.get("scaleUp" if growing else "scaleDown") or {}
    longest = max((int(p.get("periodSeconds") or 0) for p in rules.get("policies") or []),
                  default=0)  # fmt: skip
    cutoff = now - datetime.timedelta(seconds=longest)
    events = history.up if growing else history.down
    kept = (*(e for e in events if e[0] > cutoff), (now, abs(after - before)))
    return replace(history, up=kept) if growing else replace(history, down=kept)
