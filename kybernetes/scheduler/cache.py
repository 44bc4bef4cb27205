"""The scheduler's cache: nodes and placed pods, kept as sums the plugins read.

Fed by the node and pod informers (add, update, delete), and by the
scheduler itself: a pod it has chosen a node for is *assumed* on that node
at once, before the binding request even leaves, so the next cycle already
counts its requests, ports and labels and a burst of pods never
overcommits a node (kube-scheduler's assume/forget). When the informer
later delivers the bound pod, the assumed entry becomes the real one; a
failed binding forgets it.

Indexes kept beside the sums so no plugin walks every pod: placed pods by
label (key=value), and the required anti-affinity terms of placed pods with
their counts per topology value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kybernetes.api.selectors.labels import LabelSelector, Operator
from kybernetes.scheduler.framework import Snapshot
from kybernetes.scheduler.types import AffinityTerm, NodeInfo, PodInfo

__all__ = ["Cache", "node_fields_changed"]

Obj = dict[str, Any]


def node_fields_changed(old: Obj, new: Obj) -> bool:
    """Did anything scheduling reads change (not a heartbeat's conditions)?"""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    return (
        (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels")
        or old_spec.get("taints") != new_spec.get("taints")
        or old_spec.get("unschedulable") != new_spec.get("unschedulable")
        or old_status.get("allocatable") != new_status.get("allocatable")
        or old_status.get("capacity") != new_status.get("capacity")
        or old_status.get("images") != new_status.get("images")
    )


class Cache(Snapshot):
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.node_list: list[NodeInfo] = []  # nodes that exist (not only pods naming them)
        self.special_nodes: dict[str, NodeInfo] = {}  # tainted or cordoned
        self.image_nodes: dict[str, int] = {}
        self._nodes_by_label: dict[tuple[str, str], set[str]] = {}
        self.pods: dict[str, PodInfo] = {}  # placed pods by key, assumed ones included
        self.assumed: set[str] = set()
        self._by_label: dict[tuple[str, str], set[str]] = {}
        self._anti_terms: dict[AffinityTerm, dict[str, int]] = {}
        self._anti_by_label: dict[tuple[str, str], set[AffinityTerm]] = {}
        self._anti_unindexed: set[AffinityTerm] = set()
        # Pending pods that preemption made room for, by node: room they keep.
        self.nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_to: dict[str, str] = {}

    # -- nodes -------------------------------------------------------------------

    def _node(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        return info

    def add_node(self, node: Obj) -> None:
        info = self._node(node["metadata"]["name"])
        if info.node is None:
            self.node_list.append(info)
        else:
            self._index_node(info, -1)
        relabelled = info.labels != ((node.get("metadata") or {}).get("labels") or {})
        if relabelled:
            for pod in list(info.pods.values()):
                self._index_anti(pod, info, -1)
        info.set_node(node)
        self._index_node(info, 1)
        if relabelled:
            for pod in list(info.pods.values()):
                self._index_anti(pod, info, 1)

    update_node = add_node

    def remove_node(self, node: Obj) -> None:
        info = self.nodes.get(node["metadata"]["name"])
        if info is None or info.node is None:
            return
        self._index_node(info, -1)
        self.node_list.remove(info)
        info.node = None
        if not info.pods:
            del self.nodes[info.name]

    def _index_node(self, info: NodeInfo, sign: int) -> None:
        for label in info.labels.items():
            names = self._nodes_by_label.setdefault(label, set())
            if sign > 0:
                names.add(info.name)
            else:
                names.discard(info.name)
                if not names:
                    del self._nodes_by_label[label]
        for image in info.images:
            count = self.image_nodes.get(image, 0) + sign
            if count > 0:
                self.image_nodes[image] = count
            else:
                self.image_nodes.pop(image, None)
        if sign > 0 and (info.taints or info.unschedulable):
            self.special_nodes[info.name] = info
        else:
            self.special_nodes.pop(info.name, None)

    def nodes_labelled(self, key: str, value: str) -> Iterable[str]:
        return self._nodes_by_label.get((key, value), ())

    # -- pods --------------------------------------------------------------------

    def add_pod(self, pod: PodInfo) -> None:
        """A pod the informer shows placed on a node (it may have been assumed)."""
        known = self.pods.get(pod.key)
        if known is not None:
            self._remove(known)
        self.assumed.discard(pod.key)
        self._add(pod)

    def remove_pod(self, key: str) -> None:
        known = self.pods.get(key)
        if known is not None:
            self._remove(known)
        self.assumed.discard(key)

    def assume(self, pod: PodInfo, node: str) -> None:
        pod.node_name = node
        self.add_pod(pod)
        self.assumed.add(pod.key)

    def confirm(self, key: str, obj: Obj) -> None:
        """The informer shows an assumed pod bound where we put it: it is no longer assumed."""
        self.pods[key].obj = obj
        self.assumed.discard(key)

    def forget(self, pod: PodInfo) -> None:
        """A binding failed: take the assumed pod off its node again."""
        if pod.key in self.assumed:
            self.remove_pod(pod.key)

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    def _add(self, pod: PodInfo) -> None:
        self.pods[pod.key] = pod
        node = self._node(pod.node_name)
        node.add_pod(pod)
        for label in pod.labels.items():
            self._by_label.setdefault(label, set()).add(pod.key)
        self._index_anti(pod, node, 1)

    def _remove(self, pod: PodInfo) -> None:
        del self.pods[pod.key]
        node = self.nodes.get(pod.node_name)
        if node is not None:
            self._index_anti(pod, node, -1)
            node.add_pod(pod, -1)
            if node.node is None and not node.pods:
                del self.nodes[node.name]
        for label in pod.labels.items():
            keys = self._by_label.get(label)
            if keys is not None:
                keys.discard(pod.key)
                if not keys:
                    del self._by_label[label]

    def _index_anti(self, pod: PodInfo, node: NodeInfo, sign: int) -> None:
        for term in pod.anti_affinity_terms:
            value = node.labels.get(term.topology_key)
            if value is None:
                continue
            counts = self._anti_terms.get(term)
            if counts is None:
                counts = self._anti_terms[term] = {}
                self._file_term(term, add=True)
            count = counts.get(value, 0) + sign
            if count > 0:
                counts[value] = count
            else:
                counts.pop(value, None)
                if not counts:
                    del self._anti_terms[term]
                    self._file_term(term, add=False)

    def _file_term(self, term: AffinityTerm, *, add: bool) -> None:
        """Index an anti-affinity term by the labels a pod needs to match it, so a
        pod is only tested against terms that can match it."""
        labels: list[tuple[str, str]] = []
        for req in term.selector.requirements:
            if req.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
                labels = [(req.key, value) for value in req.values]
                break
        if not labels:
            (self._anti_unindexed.add if add else self._anti_unindexed.discard)(term)
            return
        for label in labels:
            filed = self._anti_by_label.setdefault(label, set())
            if add:
                filed.add(term)
            else:
                filed.discard(term)
                if not filed:
                    del self._anti_by_label[label]

    # -- nominated pods ------------------------------------------------------------

    def nominate(self, pod: PodInfo, node: str) -> None:
        """`pod` (pending) waits for room on `node` ("" clears the nomination)."""
        self.unnominate(pod.key)
        if node:
            self.nominated.setdefault(node, {})[pod.key] = pod
            self._nominated_to[pod.key] = node

    def nominated_keys(self) -> dict[str, str]:
        return self._nominated_to

    def unnominate(self, key: str) -> None:
        node = self._nominated_to.pop(key, None)
        if node is not None:
            waiting = self.nominated[node]
            waiting.pop(key, None)
            if not waiting:
                del self.nominated[node]

    def nominated_for(self, node: str, pod: PodInfo) -> list[PodInfo]:
        """Pods nominated to `node` that `pod` must leave room for (as important or more)."""
        waiting = self.nominated.get(node)
        if not waiting:
            return []
        return [p for p in waiting.values() if p.key != pod.key and p.priority >= pod.priority]

    # -- what plugins ask --------------------------------------------------------

    def pods_matching(
        self, namespaces: frozenset[str] | None, selector: LabelSelector
    ) -> Iterable[PodInfo]:
        """Placed pods in `namespaces` (None: all) whose labels match `selector`."""
        candidates: set[str] | None = None
        for req in selector.requirements:
            if req.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
                keys: set[str] = set()
                for value in req.values:
                    keys |= self._by_label.get((req.key, value), set())
                if candidates is None or len(keys) < len(candidates):
                    candidates = keys
        pods = self.pods
        chosen: Iterable[str] = pods if candidates is None else candidates
        # One equality requirement (matchLabels with one label, the usual case):
        # the label index already answered it.
        exact = candidates is not None and len(selector.requirements) == 1 and not selector.nothing
        out: list[PodInfo] = []
        for key in chosen:
            pod = pods[key]
            if (namespaces is None or pod.namespace in namespaces) and (
                exact or selector.matches(pod.labels)
            ):
                out.append(pod)
        return out

    def anti_affinity_counts(self, pod: PodInfo) -> dict[tuple[str, str], int]:
        """Placed pods whose required anti-affinity terms match `pod`, per (topology key, value)."""
        out: dict[tuple[str, str], int] = {}
        terms = set(self._anti_unindexed)
        for label in pod.labels.items():
            terms.update(self._anti_by_label.get(label, ()))
        for term in terms:
            counts = self._anti_terms[term]
            if term.matches(pod):
                key = term.topology_key
                for value, count in counts.items():
                    out[(key, value)] = out.get((key, value), 0) + count
        return out
