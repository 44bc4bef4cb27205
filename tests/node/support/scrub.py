"""Take down whatever a node under test left behind (a failed test must not leak)."""

from __future__ import annotations

from pathlib import Path

from kybernetes.node.teardown import teardown_node

__all__ = ["scrub_node"]


def scrub_node(node_dir: Path, netns: str = "") -> None:
    """What `kyb delete` does to a node, for a test's node directory."""
    teardown_node(node_dir, netns=netns)
