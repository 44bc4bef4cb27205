"""The ownership graph: who owns whom, by uid, across every resource.

Kubernetes' GraphBuilder keeps the same thing (pkg/controller/garbagecollector/
graph.go): a node per observed object and, per owner uid, the dependents
that name it, whether or not the owner itself was ever seen (a deleted owner
is exactly the case the collector is for). The objects themselves stay in
the shared informer caches; the graph holds only uids and references.
"""

from __future__ import annotations

from collections.abc import Iterable

from kybernetes.controllers.garbagecollector_decisions import ObjectRef

__all__ = ["OwnershipGraph"]


class OwnershipGraph:
    def __init__(self) -> None:
        self._nodes: dict[str, ObjectRef] = {}
        self._owners: dict[str, tuple[str, ...]] = {}
        self._dependents: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def observe(self, ref: ObjectRef, owner_uids: Iterable[str]) -> None:
        """`ref` exists now, owned by `owner_uids` (replacing what it had)."""
        owners = tuple(dict.fromkeys(owner_uids))
        self._unlink(ref.uid)
        self._nodes[ref.uid] = ref
        self._owners[ref.uid] = owners
        for owner in owners:
            self._dependents.setdefault(owner, set()).add(ref.uid)

    def forget(self, uid: str) -> None:
        """`uid` is gone; its dependents still name it (and still are its dependents)."""
        self._unlink(uid)
        self._nodes.pop(uid, None)

    def _unlink(self, uid: str) -> None:
        for owner in self._owners.pop(uid, ()):
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    del self._dependents[owner]

    def locate(self, uid: str) -> ObjectRef | None:
        return self._nodes.get(uid)

    def owners(self, uid: str) -> tuple[str, ...]:
        return self._owners.get(uid, ())

    def dependents(self, uid: str) -> list[ObjectRef]:
        return [self._nodes[d] for d in sorted(self._dependents.get(uid, ())) if d in self._nodes]
