"""Where a streamed answer (pods/log) goes: a plain HTTP body, or a WebSocket.

kube-apiserver serves any streamed response over a WebSocket when the
request is an upgrade (the conformance test "Pods should support
retrieving logs from the container over websockets" reads logs that way):
each chunk is one message, a binary frame under the `binary.k8s.io`
subprotocol (or none), a base64 text frame under `base64.binary.k8s.io`,
and a normal close at the end of the stream.
"""

from __future__ import annotations

import base64
from typing import Protocol

from aiohttp import web

__all__ = ["StreamSink", "open_sink", "reader_protocol", "wants_websocket"]

BINARY, BASE64 = "binary.k8s.io", "base64.binary.k8s.io"
# A client that offers no subprotocol gets binary frames, as kube's reader does.
READER_PROTOCOLS = (BINARY, BASE64)


class StreamSink(Protocol):
    @property
    def response(self) -> web.StreamResponse: ...

    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> None: ...


def wants_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def reader_protocol(offered: str) -> str:
    """The subprotocol to answer (header value of the client's offer); "" for none."""
    names = [p.strip() for p in offered.split(",") if p.strip()]
    return next((p for p in names if p in READER_PROTOCOLS), "")


class _HttpSink:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    async def write(self, chunk: bytes) -> None:
        await self.response.write(chunk)

    async def finish(self) -> None:
        await self.response.write_eof()


class _WebSocketSink:
    def __init__(self, response: web.WebSocketResponse, protocol: str) -> None:
        self.response = response
        self._base64 = protocol == BASE64

    async def write(self, chunk: bytes) -> None:
        if self._base64:
            await self.response.send_str(base64.b64encode(chunk).decode())
        else:
            await self.response.send_bytes(chunk)

    async def finish(self) -> None:
        await self.response.close()


async def open_sink(request: web.BaseRequest, content_type: str = "text/plain") -> StreamSink:
    """Start the answer: a WebSocket when the client asked for an upgrade."""
    if wants_websocket(request):
        protocol = reader_protocol(request.headers.get("Sec-WebSocket-Protocol", ""))
        socket = web.WebSocketResponse(protocols=(protocol,) if protocol else (), heartbeat=30)
        await socket.prepare(request)
        return _WebSocketSink(socket, protocol)
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    return _HttpSink(response)
