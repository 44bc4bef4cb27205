"""PodDisruptionBudget rules shared by the disruption controller and the
Eviction API: the `DisruptionAllowed` condition and int-or-percent values.

Both sides write a budget's status (the controller recomputes it, an
eviction spends one allowed disruption), so the condition they keep must
be worded the same way: True/`SufficientPods` while disruptions are
allowed, False/`InsufficientPods` when none are, False/`SyncFailed` (with
the error) when the controller could not compute the budget.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DISRUPTION_ALLOWED", "scaled_value", "with_condition"]

Obj = dict[str, Any]
DISRUPTION_ALLOWED = "DisruptionAllowed"


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An int, or "N%" of `total` rounded as asked (GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        percent = int(value[:-1])
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def with_condition(status: Obj, *, generation: int, now: str, sync_error: str = "") -> Obj:
    """`status` with its DisruptionAllowed condition brought up to date."""
    if sync_error:
        state, reason, message = "False", "SyncFailed", sync_error
    elif int(status.get("disruptionsAllowed") or 0) > 0:
        state, reason, message = "True", "SufficientPods", ""
    else:
        state, reason, message = "False", "InsufficientPods", ""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == DISRUPTION_ALLOWED), None)
    if old and (old.get("status"), old.get("reason"), old.get("message", "")) == (
        state,
        reason,
        message,
    ):
        return status
    changed = old is None or old.get("status") != state
    condition = {
        "type": DISRUPTION_ALLOWED,
        "status": state,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": old.get("lastTransitionTime", now) if old and not changed else now,
    }
    others = [c for c in conditions if c.get("type") != DISRUPTION_ALLOWED]
    return {**status, "conditions": [*others, condition]}
