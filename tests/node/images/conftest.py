"""Fixtures: one real registry (docker-registry on loopback) with the test images pushed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from kybernetes.node.images import ImageStore
from tests.node.images.fakes import FakeFront
from tests.support.registry import Registry, serving_test_images


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    with serving_test_images() as server:
        yield server


@pytest.fixture
async def front(registry: Registry) -> AsyncIterator[FakeFront]:
    """A front for the registry that can authenticate, redirect and misbehave."""
    fake = FakeFront(upstream=registry.url)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
