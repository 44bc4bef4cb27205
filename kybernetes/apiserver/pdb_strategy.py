"""The PodDisruptionBudget strategy (policy/v1); evictions spend budgets in eviction.py."""

from __future__ import annotations

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.strategy import Strategy

__all__ = ["PodDisruptionBudgetStrategy"]


class PodDisruptionBudgetStrategy(Strategy):
    """policy/v1: a budget starts with an all-zero status (so nothing may be
    evicted before the controller has looked); min and max are exclusive."""

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                         "expectedPods": 0}  # fmt: skip

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            causes.append(Cause("spec", "FieldValueInvalid",
                                "Invalid value: minAvailable and maxUnavailable cannot be both "
                                "set"))  # fmt: skip
        for field in ("minAvailable", "maxUnavailable"):
            value = spec.get(field)
            if value is None:
                continue
            if isinstance(value, str):
                digits = value.removesuffix("%")
                if not value.endswith("%") or not digits.isdigit():
                    causes.append(Cause(f"spec.{field}", "FieldValueInvalid",
                                        f'Invalid value: "{value}": a valid percent string must '
                                        "be a numeric string followed by an ending '%' (e.g. "
                                        "'1%',  or '93%', regex used for validation is "
                                        "'[0-9]+%')"))  # fmt: skip
                elif int(digits) > 100:
                    causes.append(Cause(f"spec.{field}", "FieldValueInvalid",
                                        f'Invalid value: "{value}": must not be greater than '
                                        "100%"))  # fmt: skip
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                causes.append(Cause(f"spec.{field}", "FieldValueInvalid",
                                    f"Invalid value: {value}: must be greater than or equal "
                                    "to 0"))  # fmt: skip
        return causes
