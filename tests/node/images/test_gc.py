from __future__ import annotations

from kybernetes.node.images.gc import GCPolicy, ImageUsage, plan_image_gc

GB = 10**9


def _images() -> list[ImageUsage]:
    return [
        ImageUsage("old", 3 * GB, first_detected=0, last_used=100),
        ImageUsage("older", 2 * GB, first_detected=10, last_used=50),
        ImageUsage("tie-first", 1 * GB, first_detected=5, last_used=200),
        ImageUsage("tie-second", 1 * GB, first_detected=6, last_used=200),
        ImageUsage("running", 9 * GB, first_detected=0, last_used=0),
        ImageUsage("pinned", 9 * GB, first_detected=0, last_used=0, pinned=True),
        ImageUsage("fresh", 9 * GB, first_detected=990, last_used=0),
    ]


def test_nothing_below_the_high_threshold() -> None:
    plan = plan_image_gc(
        _images(), in_use={"running"}, capacity=100 * GB, available=16 * GB, now=1000
    )
    assert plan.remove == () and plan.failure is None


def test_frees_down_to_the_low_threshold_lru_first() -> None:
    # 88 % used: free to 80 %, i.e. 8 GB; in-use, pinned and fresh images are kept.
    plan = plan_image_gc(
        _images(), in_use={"running"}, capacity=100 * GB, available=12 * GB, now=1000
    )
    assert plan.bytes_to_free == 8 * GB
    assert plan.remove == ("older", "old", "tie-first", "tie-second")
    assert plan.bytes_freed == 7 * GB
    assert plan.failure == (
        "Failed to garbage collect required amount of images. Attempted to free 8000000000 "
        "bytes, but only found 7000000000 bytes eligible to free."
    )


def test_stops_once_enough_is_freed() -> None:
    plan = plan_image_gc(_images(), in_use=set(), capacity=100 * GB, available=15 * GB, now=1000)
    # 85 % used, 5 GB to free: "running" (LRU, 9 GB) alone is enough once nothing uses it.
    assert plan.remove == ("running",)
    assert plan.failure is None


def test_min_age_and_policy() -> None:
    policy = GCPolicy(high_threshold_percent=50, low_threshold_percent=40, min_age=0)
    plan = plan_image_gc(
        [ImageUsage("fresh", GB, first_detected=999, last_used=999)],
        in_use=(),
        capacity=10 * GB,
        available=4 * GB,
        now=1000,
        policy=policy,
    )
    assert plan.remove == ("fresh",)
    assert plan_image_gc([], in_use=(), capacity=0, available=0, now=0).remove == ()
