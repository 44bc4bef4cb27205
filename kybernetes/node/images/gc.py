"""Image garbage collection when the disk fills: the kubelet's policy, as a pure decision.

When the image filesystem is at or above the high threshold (85 %), free
enough to get down to the low threshold (80 %): remove images no container
uses and that are not pinned, least recently used first (ties: detected
first), skipping any detected less than `min_age` ago (it may have just been
pulled for a container about to start). If not enough can be freed, the
kubelet records a FreeDiskSpaceFailed warning with the message returned
here. The caller tracks first-detected and last-used times and removes the
chosen images from the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

__all__ = ["GCPlan", "GCPolicy", "ImageUsage", "plan_image_gc"]


@dataclass(frozen=True)
class GCPolicy:
    high_threshold_percent: int = 85
    low_threshold_percent: int = 80
    min_age: float = 120.0  # seconds


@dataclass(frozen=True)
class ImageUsage:
    id: str
    size: int
    first_detected: float  # seconds, on the caller's clock
    last_used: float
    pinned: bool = False


@dataclass(frozen=True)
class GCPlan:
    remove: tuple[str, ...]
    bytes_to_free: int
    bytes_freed: int
    # The FreeDiskSpaceFailed event message when not enough could be freed.
    failure: str | None = None


def plan_image_gc(
    images: Iterable[ImageUsage],
    *,
    in_use: Collection[str],
    capacity: int,
    available: int,
    now: float,
    policy: GCPolicy = GCPolicy(),
) -> GCPlan:
    """Which images to remove now (none when usage is under the high threshold)."""
    if capacity <= 0:
        return GCPlan((), 0, 0)
    usage_percent = 100 - available * 100 // capacity
    if usage_percent < policy.high_threshold_percent:
        return GCPlan((), 0, 0)
    to_free = capacity * (100 - policy.low_threshold_percent) // 100 - available
    candidates = sorted(
        (i for i in images if i.id not in in_use and not i.pinned),
        key=lambda i: (i.last_used, i.first_detected),
    )
    chosen: list[str] = []
    freed = 0
    for image in candidates:
        if freed >= to_free:
            break
        if now - image.first_detected < policy.min_age:
            continue
        chosen.append(image.id)
        freed += image.size
    failure = None
    if freed < to_free:
        failure = (
            "Failed to garbage collect required amount of images. "
            f"Attempted to free {to_free} bytes, but only found {freed} bytes eligible to free."
        )
    return GCPlan(tuple(chosen), to_free, freed, failure)
