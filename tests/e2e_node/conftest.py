"""One whole node per test module (tests/e2e_node/node.py); root only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e_node.node import IMAGE, Node, running_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("node")) as running:
        yield running


@pytest.fixture(scope="module")
def client(node: Node) -> str:
    """A pod to send requests from (`Node.from_pod`)."""
    node.kubectl("run", "client", f"--image={IMAGE}", "--command", "--", "/bin/busybox",
                 "sleep", "3600")  # fmt: skip
    node.kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
    return "client"
