"""The pure rules of a delete: which GC finalizers, grace deadlines, option checks."""

from __future__ import annotations

import pytest

from kybernetes.apiserver import errors
from kybernetes.apiserver.deletion import (
    DELETE_DEPENDENTS,
    ORPHAN_DEPENDENTS,
    UNSUPPORTED,
    Policy,
    default_gc_policy,
    gc_finalizers,
    grace_deadline,
    namespace_gc_finalizers,
    shortened_deadline,
    validate_propagation,
)

BACKGROUND = Policy("Background")
FOREGROUND = Policy("Foreground")
ORPHAN = Policy("Orphan")
UNSET = Policy()


@pytest.mark.parametrize(
    ("finalizers", "policy", "default", "expected"),
    [
        # The policy asked for sets its finalizer.
        ([], ORPHAN, DELETE_DEPENDENTS, ["orphan"]),
        ([], FOREGROUND, DELETE_DEPENDENTS, ["foregroundDeletion"]),
        ([], BACKGROUND, DELETE_DEPENDENTS, None),
        ([], Policy(orphan_dependents=True), DELETE_DEPENDENTS, ["orphan"]),
        ([], Policy(orphan_dependents=False), DELETE_DEPENDENTS, None),
        # Unset: the kind's default (Job and ReplicationController orphan).
        ([], UNSET, DELETE_DEPENDENTS, None),
        ([], UNSET, ORPHAN_DEPENDENTS, ["orphan"]),
        ([], BACKGROUND, ORPHAN_DEPENDENTS, None),
        # A kind that cannot be collected never gets them.
        ([], ORPHAN, UNSUPPORTED, None),
        ([], FOREGROUND, UNSUPPORTED, None),
        # A second delete with another policy swaps them; other finalizers stay first.
        (["x", "foregroundDeletion"], ORPHAN, DELETE_DEPENDENTS, ["x", "orphan"]),
        (["orphan", "x"], FOREGROUND, DELETE_DEPENDENTS, ["x", "foregroundDeletion"]),
        (["x", "foregroundDeletion"], BACKGROUND, DELETE_DEPENDENTS, ["x"]),
        (["foregroundDeletion"], BACKGROUND, DELETE_DEPENDENTS, []),
        # Unset: a finalizer already there wins over the kind's default.
        (["foregroundDeletion"], UNSET, ORPHAN_DEPENDENTS, None),
        (["orphan"], UNSET, DELETE_DEPENDENTS, None),
        # The same set again is no change.
        (["orphan"], ORPHAN, DELETE_DEPENDENTS, None),
        (["x"], UNSET, DELETE_DEPENDENTS, None),
    ],
)
def test_gc_finalizers(
    finalizers: list[str], policy: Policy, default: str, expected: list[str] | None
) -> None:
    assert gc_finalizers(finalizers, policy, default) == expected


@pytest.mark.parametrize(
    ("finalizers", "policy", "expected"),
    [
        ([], BACKGROUND, None),
        ([], ORPHAN, ["orphan"]),
        ([], FOREGROUND, ["foregroundDeletion"]),
        # orphanDependents=false means foreground for a namespace.
        ([], Policy(orphan_dependents=False), ["foregroundDeletion"]),
        (["orphan"], UNSET, None),
        (["orphan", "x"], BACKGROUND, ["x"]),
    ],
)
def test_namespace_gc_finalizers(
    finalizers: list[str], policy: Policy, expected: list[str] | None
) -> None:
    assert namespace_gc_finalizers(finalizers, policy) == expected


def test_default_policies_follow_each_kinds_strategy() -> None:
    assert default_gc_policy("apps", "v1", "ReplicaSet") == DELETE_DEPENDENTS
    assert default_gc_policy("apps", "v1", "Deployment") == DELETE_DEPENDENTS
    assert default_gc_policy("batch", "v1", "Job") == ORPHAN_DEPENDENTS
    assert default_gc_policy("", "v1", "ReplicationController") == ORPHAN_DEPENDENTS
    assert default_gc_policy("", "v1", "Event") == UNSUPPORTED
    assert default_gc_policy("stable.example.com", "v1", "CronTab") == DELETE_DEPENDENTS


def test_propagation_options_are_validated_as_kube_apiserver_does() -> None:
    validate_propagation(FOREGROUND)
    validate_propagation(Policy(orphan_dependents=True))
    with pytest.raises(errors.ApiError) as both:
        validate_propagation(Policy("Orphan", True))
    assert both.value.code == 422
    assert both.value.message == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": '
        "orphanDependents and deletionPropagation cannot be both set"
    )
    with pytest.raises(errors.ApiError) as unknown:
        validate_propagation(Policy("Sideways"))
    assert unknown.value.message.endswith(
        'propagationPolicy: Unsupported value: "Sideways": supported values: '
        '"Foreground", "Background", "Orphan", "nil"'
    )


def test_grace_deadlines() -> None:
    assert grace_deadline("2026-11-30T10:00:00Z", 30) == "2026-11-30T10:00:30Z"
    # Shortening 30 s to 5 s moves the deadline 25 s back.
    assert shortened_deadline("2026-11-30T10:00:30Z", 30, 5) == "2026-11-30T10:00:05Z"
