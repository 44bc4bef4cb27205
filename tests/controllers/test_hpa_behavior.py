"""The HPA's stabilization windows and rate limits, as kube's normalizeDesiredReplicas*."""

from __future__ import annotations

import datetime
from typing import Any

from kybernetes.controllers.hpa_behavior import History, normalize, record_scale

Obj = dict[str, Any]
T0 = datetime.datetime(2026, 11, 30, 6, tzinfo=datetime.UTC)
UP_DEFAULT = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip
DOWN_DEFAULT = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip


def hpa(behavior: Obj | None = None, low: int = 1, high: int = 100) -> Obj:
    spec: Obj = {"minReplicas": low, "maxReplicas": high}
    if behavior is not None:
        spec["behavior"] = {"scaleUp": UP_DEFAULT, "scaleDown": DOWN_DEFAULT, **behavior}
    return {"spec": spec}


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_scale_down_waits_for_the_highest_recommendation_of_the_window() -> None:
    target = hpa({"scaleDown": {**DOWN_DEFAULT, "stabilizationWindowSeconds": 60}})
    first = normalize(target, current=5, proposed=5, now=at(0), history=History())
    low = normalize(target, current=5, proposed=2, now=at(30), history=first.history)
    assert low.replicas == 5 and low.able[0] == "ScaleDownStabilized"
    later = normalize(target, current=5, proposed=2, now=at(61), history=low.history)
    assert later.replicas == 2 and later.able[0] == "ReadyForNewScale"
    assert (later.limited, later.limit[0]) == (False, "DesiredWithinRange")


def test_scale_up_stabilization_takes_the_lowest() -> None:
    target = hpa({"scaleUp": {**UP_DEFAULT, "stabilizationWindowSeconds": 60}})
    first = normalize(target, current=2, proposed=2, now=at(0), history=History())
    up = normalize(target, current=2, proposed=6, now=at(10), history=first.history)
    assert up.replicas == 2 and up.able[0] == "ScaleUpStabilized"


def test_default_scale_up_policy_is_the_larger_of_four_pods_and_double() -> None:
    target = hpa({})
    small = normalize(target, current=1, proposed=20, now=at(0), history=History())
    assert small.replicas == 5 and (small.limited, small.limit[0]) == (True, "ScaleUpLimit")
    big = normalize(target, current=10, proposed=50, now=at(0), history=History())
    assert big.replicas == 20


def test_scale_events_of_the_period_count_against_the_rate() -> None:
    target = hpa({})
    history = record_scale(target, History(), before=1, after=5, now=at(0))
    # 5 replicas, 4 of them added 5 s ago: the period started at 1, so at most 5 now.
    held = normalize(target, current=5, proposed=20, now=at(5), history=history)
    assert held.replicas == 5 and held.limit[0] == "ScaleUpLimit"
    free = normalize(target, current=5, proposed=20, now=at(16), history=history)
    assert free.replicas == 10


def test_select_policy_min_and_disabled() -> None:
    minimal = hpa({"scaleUp": {**UP_DEFAULT, "selectPolicy": "Min"}})
    assert normalize(minimal, current=10, proposed=50, now=at(0), history=History()).replicas == 14
    disabled = hpa({"scaleDown": {**DOWN_DEFAULT, "selectPolicy": "Disabled",
                                  "stabilizationWindowSeconds": 0}})  # fmt: skip
    held = normalize(disabled, current=10, proposed=2, now=at(0), history=History())
    assert held.replicas == 10 and held.limit[0] == "ScaleDownLimit"


def test_scale_down_rate_policy() -> None:
    target = hpa({"scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                "policies": [{"type": "Pods", "value": 2,
                                              "periodSeconds": 60}]}})  # fmt: skip
    first = normalize(target, current=10, proposed=3, now=at(0), history=History())
    assert first.replicas == 8 and first.limit[0] == "ScaleDownLimit"
    history = record_scale(target, first.history, before=10, after=8, now=at(0))
    assert normalize(target, current=8, proposed=3, now=at(30), history=history).replicas == 8


def test_min_and_max_bound_the_result() -> None:
    target = hpa({"scaleDown": {**DOWN_DEFAULT, "stabilizationWindowSeconds": 0}}, low=3, high=6)
    assert normalize(target, current=5, proposed=1, now=at(0),
                     history=History()).limit[0] == "TooFewReplicas"  # fmt: skip
    too_many = normalize(target, current=5, proposed=9, now=at(0), history=History())
    assert (too_many.replicas, too_many.limit[0]) == (6, "TooManyReplicas")


def test_without_behavior_kubes_older_rules() -> None:
    target = hpa()
    window = datetime.timedelta(seconds=120)
    first = normalize(target, current=4, proposed=4, now=at(0), history=History(),
                      downscale_window=window)  # fmt: skip
    held = normalize(target, current=4, proposed=1, now=at(60), history=first.history,
                     downscale_window=window)  # fmt: skip
    assert held.replicas == 4 and held.able[0] == "ScaleDownStabilized"
    free = normalize(target, current=4, proposed=1, now=at(121), history=held.history,
                     downscale_window=window)  # fmt: skip
    assert free.replicas == 1
    up = normalize(target, current=3, proposed=30, now=at(0), history=History())
    assert (up.replicas, up.limit[0]) == (6, "ScaleUpLimit")
    # No scale events are kept without behavior.
    assert record_scale(target, History(), before=1, after=5, now=at(0)) == History()
