"""The node's netlink socket is opened once, however many pods ask for it at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kybernetes.node.network import podnet
from kybernetes.node.network.podnet import PodNetwork


class _SlowLinks:
    opened = 0

    @classmethod
    async def open(cls, netns_path: str | None = None) -> _SlowLinks:
        cls.opened += 1
        await asyncio.sleep(0.05)  # pyroute2's first import takes ~0.15 s
        return cls()

    def close(self) -> None:
        pass


async def test_pods_asking_at_once_share_one_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(podnet, "Links", _SlowLinks)
    monkeypatch.setattr(_SlowLinks, "opened", 0)
    network = PodNetwork(cidr="10.244.3.0/24", state_dir=tmp_path)
    got = await asyncio.gather(*(network._links() for _ in range(5)))
    assert _SlowLinks.opened == 1
    assert all(links is got[0] for links in got)
    await network.close()
    assert await network._links() is not got[0]  # closed: the next use opens again
    assert _SlowLinks.opened == 2
