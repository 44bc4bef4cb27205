"""The resource quota controller's decision: a quota's status from what exists.

`status.hard` mirrors `spec.hard`; `status.used` is every hard resource's
total over the objects of the quota's namespace its scopes select (the
pricing is `kybernetes.api.resourcequota`, the same the API server charges
with). Nothing is written when the amounts already agree, whatever their
spelling ("1000m" and "1" are the same amount).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.api.resourcequota import format_usage, parse_usage, quota_used

__all__ = ["MONITORED", "quota_status", "unmonitored_counts"]

Obj = dict[str, Any]

# The kinds whose objects a quota can be charged for (group, version, plural):
# every legacy count name, and the `count/` names of the common workload kinds.
MONITORED: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
    ("", "v1", "replicationcontrollers"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "persistentvolumeclaims"),
    ("apps", "v1", "replicasets"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
    ("batch", "v1", "jobs"),
    ("batch", "v1", "cronjobs"),
)


def quota_status(quota: Obj, objects: Mapping[tuple[str, str], Iterable[Obj]]) -> Obj | None:
    """The quota's new status, or None when the stored one already says it."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    used = quota_used(quota, objects)
    current = quota.get("status") or {}
    same_hard = parse_usage(current.get("hard")) == parse_usage(hard) and set(
        current.get("hard") or {}
    ) == set(hard)
    same_used = parse_usage(current.get("used")) == used
    if same_hard and same_used:
        return None
    return {"hard": hard, "used": format_usage(used)}


def unmonitored_counts(quota: Obj) -> list[tuple[str, str]]:
    """(group, plural) of the `count/<plural>[.<group>]` resources of a quota
    that no informer watches: those are counted by listing them."""
    watched = {(group, plural) for group, _, plural in MONITORED}
    found = []
    for name in (quota.get("spec") or {}).get("hard") or {}:
        if not name.startswith("count/"):
            continue
        plural, _, group = name.removeprefix("count/").partition(".")
        if (group, plural) not in watched:
            found.append((group, plural))
    return found
