"""Netlink requests through pyroute2, against this process's own network namespace."""

from __future__ import annotations

import asyncio
import gc

from kybernetes.node.network.links import LOOPBACK_INDEX, Links


async def test_requests_sent_at_once_on_a_new_socket_keep_it_open() -> None:
    # Each first request used to make its own asyncio transport for the one socket;
    # collecting the extra ones closed the socket, and every later request failed.
    links = await Links.open()
    try:
        async with asyncio.timeout(10):
            found = await asyncio.gather(*(links.index("lo") for _ in range(5)))
            gc.collect()
            assert found == [LOOPBACK_INDEX] * 5
            assert await links.index("lo") == LOOPBACK_INDEX
    finally:
        links.close()
