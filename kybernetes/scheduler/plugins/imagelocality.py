"""ImageLocality: prefer nodes that already have the pod's images (node.status.images).

kube-scheduler's formula: each image present counts its size scaled by the
share of nodes that have it (so an image every node has does not pull the
pod anywhere in particular), and the sum maps onto 0..100 between 23 MB and
1000 MB per container.
"""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin, Snapshot
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["ImageLocality", "image_score"]

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def image_score(sum_scores: int, containers: int) -> int:
    top = MAX_CONTAINER_THRESHOLD * max(containers, 1)
    clipped = min(max(sum_scores, MIN_THRESHOLD), top)
    return MAX_NODE_SCORE * (clipped - MIN_THRESHOLD) // (top - MIN_THRESHOLD)


class ImageLocality(Plugin):
    name = NAME

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        if not pod.images:
            return False
        total = len(snapshot.node_list)
        spread: dict[str, float] = {}
        for image in pod.images:
            having = snapshot.image_nodes.get(image, 0)
            if having:
                spread[image] = having / total
        state[NAME] = spread
        return bool(spread)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        spread: dict[str, float] = state[NAME]
        total = sum(int(node.images[i] * share) for i, share in spread.items() if i in node.images)
        return image_score(total, len(pod.images))
