"""Joining two WebSockets: a proxy's client side and its backend side.

The ingress and the API server's proxy subresources relay a WebSocket
upgrade message by message, both ways: text, binary, pings and pongs go
through as they come (both sockets are opened with autoping and autoclose
off, so the two ends talk to each other, not to the proxy), and when one
side closes, its close code is passed to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web

from kybernetes.util.tasks import cancel_and_wait

__all__ = ["join_websockets"]

log = logging.getLogger(__name__)

Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse
CLOSE_GRACE = 1.0  # once one side closed, the other gets this long to see its close frame


async def _pump(source: Socket, sink: Socket) -> None:
    async for msg in source:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.PING:
            await sink.ping(msg.data)
        elif msg.type == aiohttp.WSMsgType.PONG:
            await sink.pong(msg.data)
    # The iteration ends on a close frame (or a broken connection): pass the close on.
    code = source.close_code or aiohttp.WSCloseCode.OK
    with contextlib.suppress(ConnectionError, RuntimeError):
        await sink.close(code=code)


async def join_websockets(
    client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, *, name: str
) -> None:
    """Relay between `client` and `upstream` until both have closed (or one broke)."""
    up = asyncio.create_task(_pump(client, upstream), name=f"{name}-ws-up")
    down = asyncio.create_task(_pump(upstream, client), name=f"{name}-ws-down")
    try:
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            if not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), CLOSE_GRACE)
            await cancel_and_wait(task)
        for task in (up, down):
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.info("%s: websocket relay ended: %s", name, task.exception())
