"""Expectations: do not act on a set again until the cache has seen its own changes.

STYLE.md habit 3 (kubernetes `controller_utils.go` ControllerExpectations):
after creating or deleting pods, a controller remembers which pod keys it
expects to appear (True) or vanish (False); until the informer shows all of
them (or a timeout passes, in case an event was lost), the set is not synced
again, so a lagging cache never makes it create twice. As in kube, a pod
that got its deletionTimestamp counts as deleted: a pod on a node stays
while its kubelet stops it, and the controller must not stall meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Expectations"]

TIMEOUT = 300.0  # as kubernetes: act anyway if a change was never observed


class Expectations:
    def __init__(
        self, lookup: Callable[[str], dict[str, Any] | None], clock: Callable[[], float]
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._expected: dict[str, tuple[float, dict[str, bool]]] = {}

    def expect(self, key: str, *, created: Sequence[str] = (), deleted: Sequence[str] = ()) -> None:
        """Remember pod keys `key`'s last sync created and deleted."""
        since, pods = self._expected.get(key, (self._clock(), {}))
        pods.update({k: True for k in created})
        pods.update({k: False for k in deleted})
        self._expected[key] = (since, pods)

    def satisfied(self, key: str) -> bool:
        entry = self._expected.get(key)
        if entry is None:
            return True
        since, pods = entry
        waiting = {k: made for k, made in pods.items() if not self._met(k, made)}
        if not waiting or self._clock() - since > TIMEOUT:
            del self._expected[key]
            return True
        self._expected[key] = (since, waiting)
        return False

    def _met(self, key: str, made: bool) -> bool:
        """A creation is seen once the pod is cached; a deletion once it is gone or going."""
        pod = self._lookup(key)
        if made:
            return pod is not None
        return pod is None or bool((pod.get("metadata") or {}).get("deletionTimestamp"))

    def forget(self, key: str) -> None:
        self._expected.pop(key, None)
