"""`kubectl port-forward` on the node: the kubelet's end of the tunnel.

kubectl 1.32 sends SPDY/3.1 inside the WebSocket (`spdy.py`): per request id
an error stream and a data stream; the data stream's port is dialled on
127.0.0.1 inside the pod's network namespace, from a thread that enters it
with setns(2) (never the event loop's thread or a pooled one: the
namespace is per thread, node-runtime.md pitfall 6), and bytes are relayed
both ways. The end of a connection is a FIN on the data stream *and* on the
error stream (without the latter kubectl never closes its local socket,
kubectl-wire.md §3.3); a failure is written as text on the error stream
first. The official Python client speaks the older channel flavour instead
(`serve_port_forward_channels`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from kybernetes.node.kubelet import channels, spdy
from kybernetes.node.kubelet.streams import CHUNK, PodTarget, send_frame

__all__ = [
    "PORT_FORWARD_PROTOCOL",
    "dial_in_netns",
    "serve_port_forward",
    "serve_port_forward_channels",
]

log = logging.getLogger(__name__)

# Twin: kybernetes/apiserver/podstreams.py PORT_FORWARD_PROTOCOLS.
PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _connect_in_netns(netns_path: str, port: int, result: list[Any]) -> None:
    """On a thread of its own: enter the pod's network namespace and dial the port."""
    try:
        if netns_path:  # "" for a pod on the host's network (the process runtime)
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns {netns_path}: {os.strerror(error)}")
            finally:
                os.close(fd)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        result.append(sock)
    except OSError as err:
        result.append(err)


async def dial_in_netns(netns_path: str, port: int) -> socket.socket:
    """A TCP connection to localhost:port as the pod sees it.

    A fresh thread each time, which ends afterwards: a thread that entered
    another network namespace must never serve anything else.
    """
    result: list[Any] = []
    thread = threading.Thread(target=_connect_in_netns, args=(netns_path, port, result),
                              name="kyb-portforward-dial", daemon=True)  # fmt: skip
    thread.start()
    await asyncio.to_thread(thread.join)
    if isinstance(result[0], OSError):
        raise result[0]
    sock: socket.socket = result[0]
    return sock


@dataclass
class _Forward:
    """One kubectl connection: its error and data streams and the backend socket."""

    port: int
    error_stream: int = 0
    data_stream: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: bytearray | None = None
    client_done: bool = False
    key: tuple[str, str] = ("", "")


class _PortForwarder:
    def __init__(self, ws: web.WebSocketResponse, pod: PodTarget) -> None:
        self._ws = ws
        self._pod = pod
        self._codec = spdy.HeaderCodec()
        self._reader = spdy.FrameReader(self._codec)
        self._forwards: dict[tuple[str, str], _Forward] = {}  # (request id, port) -> forward
        self._by_stream: dict[int, _Forward] = {}
        self._lock = asyncio.Lock()

    async def _write(self, data: bytes) -> None:
        async with self._lock:  # frames must not interleave
            if not self._ws.closed:
                await self._ws.send_bytes(data)

    async def run(self) -> None:
        try:
            async for message in self._ws:
                if message.type != WSMsgType.BINARY:
                    continue
                for item in self._reader.feed(message.data):
                    await self._handle(item)
        except spdy.SpdyError as err:
            log.warning("port-forward to pod %s: %s", self._pod.name, err)
        finally:
            tasks = [f.task for f in list(self._forwards.values()) if f.task]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for forward in list(self._forwards.values()):
                if forward.writer is not None:
                    forward.writer.close()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.close()

    async def _handle(self, item: spdy.Frame) -> None:
        if isinstance(item, spdy.SynStream):
            await self._open(item)
        elif isinstance(item, spdy.Data):
            await self._data(item)
        elif isinstance(item, spdy.RstStream):
            forward = self._by_stream.get(item.stream_id)
            if forward is not None and forward.data_stream == item.stream_id:
                forward.client_done = True
                if forward.writer is not None:
                    forward.writer.close()
        elif isinstance(item, spdy.Ping):
            await self._write(spdy.ping_frame(item.ping_id))
        elif isinstance(item, spdy.GoAway):
            await self._ws.close()

    async def _open(self, syn: spdy.SynStream) -> None:
        headers = syn.headers
        kind = (headers.get("streamtype") or [""])[0]
        key = ((headers.get("requestid") or [""])[0], (headers.get("port") or [""])[0])
        await self._write(spdy.syn_reply_frame(self._codec, syn.stream_id))
        try:
            port = int((headers.get("port") or [""])[0])
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            port = 0
        forward = self._forwards.setdefault(key, _Forward(port))
        forward.key = key
        self._by_stream[syn.stream_id] = forward
        if kind == "error":
            forward.error_stream = syn.stream_id
        elif kind == "data":
            forward.data_stream = syn.stream_id
            forward.pending = bytearray()
            forward.task = asyncio.create_task(self._connect(forward), name="kyb-portforward")
        else:
            await self._write(spdy.rst_stream_frame(syn.stream_id))

    async def _data(self, item: spdy.Data) -> None:
        forward = self._by_stream.get(item.stream_id)
        if forward is None or item.stream_id != forward.data_stream:
            return  # the error stream carries nothing from kubectl
        if forward.writer is None:
            if forward.pending is not None:
                forward.pending += item.data
        elif item.data:
            forward.writer.write(item.data)
            with contextlib.suppress(ConnectionError):
                await forward.writer.drain()
        if item.fin:
            forward.client_done = True
            if forward.writer is not None and forward.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    forward.writer.write_eof()

    async def _connect(self, forward: _Forward) -> None:
        try:
            if not forward.port:
                raise ValueError("invalid port")
            sock = await dial_in_netns(self._pod.netns_path, forward.port)
            reader, writer = await asyncio.open_connection(sock=sock)
        except (OSError, ValueError) as err:
            message = (f"error forwarding port {forward.port} to pod {self._pod.name}, "
                       f"uid {self._pod.uid}: {err}")  # fmt: skip
            if forward.error_stream:
                await self._write(spdy.data_frame(forward.error_stream, message.encode()))
            await self._end(forward)
            return
        forward.writer = writer
        if forward.pending:
            writer.write(bytes(forward.pending))
        forward.pending = None
        if forward.client_done and writer.can_write_eof():
            writer.write_eof()
        try:
            while chunk := await reader.read(CHUNK):
                await self._write(spdy.data_frame(forward.data_stream, chunk))
        except OSError:
            pass
        finally:
            writer.close()
            await self._end(forward)

    async def _end(self, forward: _Forward) -> None:
        # Forget it: a long-lived tunnel carries any number of connections.
        self._forwards.pop(forward.key, None)
        self._by_stream.pop(forward.data_stream, None)
        self._by_stream.pop(forward.error_stream, None)
        await self._write(spdy.data_frame(forward.data_stream, b"", fin=True))
        if forward.error_stream:
            await self._write(spdy.data_frame(forward.error_stream, b"", fin=True))


async def serve_port_forward(ws: web.WebSocketResponse, pod: PodTarget) -> None:
    """Serve kubectl's SPDY-in-WebSocket tunnel until it closes."""
    await _PortForwarder(ws, pod).run()


async def serve_port_forward_channels(
    ws: web.WebSocketResponse, pod: PodTarget, ports: list[int]
) -> None:
    """The channel flavour (the official Python client): one connection per asked port.

    Port i has data channel 2i and error channel 2i+1; each first carries the
    port number (2 bytes, little-endian), then bytes flow on the data channel
    and a failure is text on the error channel. The socket ends when every
    connection has.
    """
    writers: dict[int, asyncio.StreamWriter] = {}
    pending: dict[int, bytearray] = {index: bytearray() for index in range(len(ports))}
    lock = asyncio.Lock()

    async def send(channel: int, payload: bytes) -> None:
        async with lock:
            await send_frame(ws, channel, payload)

    for index, port in enumerate(ports):
        await send(2 * index, struct.pack("<H", port))
        await send(2 * index + 1, struct.pack("<H", port))

    async def forward(index: int, port: int) -> None:
        try:
            sock = await dial_in_netns(pod.netns_path, port)
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError as err:
            await send(2 * index + 1, (f"error forwarding port {port} to pod {pod.name}, "
                                       f"uid {pod.uid}: {err}").encode())  # fmt: skip
            return
        writers[index] = writer
        writer.write(bytes(pending.pop(index, b"")))
        try:
            while chunk := await reader.read(CHUNK):
                await send(2 * index, chunk)
        except OSError:
            pass
        finally:
            writer.close()

    async def from_client() -> None:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            channel, payload = channels.parse_frame(message.data)
            index, is_error = divmod(channel, 2)
            if is_error or index >= len(ports) or not payload:
                continue
            if index in writers:
                writers[index].write(payload)
                with contextlib.suppress(ConnectionError):
                    await writers[index].drain()
            elif index in pending:
                pending[index] += payload

    forwards = [asyncio.create_task(forward(i, p), name="kyb-portforward")
                for i, p in enumerate(ports)]  # fmt: skip
    client = asyncio.create_task(from_client(), name="kyb-portforward-client")

    async def all_ended() -> None:
        await asyncio.gather(*forwards)

    ended = asyncio.create_task(all_ended(), name="kyb-portforward-ended")
    try:
        await asyncio.wait({client, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*forwards, client, ended):
            task.cancel()
        await asyncio.gather(*forwards, client, ended, return_exceptions=True)
        for writer in writers.values():
            writer.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
