"""Node tests: real network namespaces, created here and removed after each test.

Every "host" under test is a namespace this fixture makes, with `lo` up and
nothing else: no uplink, no default route, so no packet can leave it
(DESIGN.md, network safety).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator

import pytest


def require_root() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("this test needs root (network namespaces); "
                           "deselect root tests with -m 'not root'")  # fmt: skip


@pytest.fixture
def host_netns() -> Iterator[str]:
    """A fresh, isolated namespace to play the node's host."""
    require_root()
    name = f"kybt-host-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


from tests.apiserver.conftest import cluster  # noqa: E402, F401 - the API server fixture, shared
