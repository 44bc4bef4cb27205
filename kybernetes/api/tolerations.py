"""Whether a toleration tolerates a taint (core/v1 Toleration.ToleratesTaint).

One definition for every component that asks: the scheduler, the DaemonSet
controller's node fit, and the node lifecycle controller's evictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["tolerates"]


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Effect, then key (empty means any), then operator (Exists, or Equal on value)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")
