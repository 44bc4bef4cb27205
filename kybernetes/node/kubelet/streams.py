"""exec, attach and port-forward on the node: the kubelet's end of the streams.

The API server relays kubectl's WebSocket to the kubelet unchanged (same
subprotocol end to end), so this module speaks kubectl's protocols itself:

- **exec** (`v5.channel.k8s.io`, `channels.py`): `runc exec` in the
  foreground, which passes its stdio straight to the process and returns
  its exit code. Without a tty, stdin/stdout/stderr are pipes. With a tty,
  runc needs a terminal of its own (node-runtime.md §3: on pipes it fails
  with "open /dev/tty"), so it gets the slave of a pty pair we hold the
  master of; runc makes the container's terminal and copies between the
  two. A resize sets our pty's size and sends runc SIGWINCH, which makes it
  copy the size inward (the pty is not runc's controlling terminal, so the
  kernel would not signal it). Foreground runc keeps the exit code with no
  subreaper on our side.
- **attach**: the container's stdout and stderr from now on, read from the
  shim's log as it grows. The shim gives containers no stdin (it is
  /dev/null), so attaching stdin, or attaching to a container started with
  `stdin: true` or `tty: true`, is refused with a clear message.
- **port-forward** (SPDY/3.1 inside the WebSocket, `spdy.py`): per request
  id an error stream and a data stream; the data stream's port is dialled on
  127.0.0.1 inside the pod's network namespace, from a thread that enters
  it with setns(2) (never the event loop's thread: the namespace is per
  thread), and bytes are relayed both ways. The end of a connection is a
  FIN on the data stream *and* on the error stream (without the latter
  kubectl never closes its local socket); a failure is written as text on
  the error stream first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import struct
import termios
import threading
import tty
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from kybernetes.node.kubelet import channels, spdy
from kybernetes.node.kubelet.logs import parse_records

__all__ = [
    "ContainerTarget",
    "PORT_FORWARD_PROTOCOL",
    "PodTarget",
    "dial_in_netns",
    "serve_attach",
    "serve_exec",
    "serve_port_forward",
    "serve_port_forward_channels",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# Twin: kybernetes/apiserver/podstreams.py PORT_FORWARD_PROTOCOLS.
PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024
DRAIN_SECONDS = 2.0  # output still in flight after the process ended
STOP_SECONDS = 2.0  # SIGTERM to SIGKILL when the client went away
ATTACH_POLL = 0.1
RUNC_FAILED = 255  # runc's exit code when it could not start the command
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class ContainerTarget:
    """A running container, as the kubelet knows it."""

    container_id: str
    runc_root: Path
    log_path: Path
    spec: Obj
    ended: Callable[[], bool]


@dataclass(frozen=True)
class PodTarget:
    name: str
    uid: str
    netns_path: str


async def _send(ws: web.WebSocketResponse, channel: int, payload: bytes) -> None:
    if not ws.closed:
        await ws.send_bytes(channels.frame(channel, payload))


async def _finish(ws: web.WebSocketResponse, status: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await _send(ws, channels.ERROR, status)
        await ws.close()


# -- exec ----------------------------------------------------------------------------


async def _pump(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    while chunk := await reader.read(CHUNK):
        await _send(ws, channel, chunk)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """The client went away: ask the command to end (runc forwards it), then insist."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _read_client(
    ws: web.WebSocketResponse,
    *,
    stdin: Callable[[bytes], Awaitable[None]],
    close_stdin: Callable[[], Awaitable[None]],
    resize: Callable[[channels.Resize], None],
) -> None:
    """kubectl's side until it closes: stdin, its end, and terminal sizes."""
    async for message in ws:
        if message.type != WSMsgType.BINARY:
            continue
        channel, payload = channels.parse_frame(message.data)
        if channel == channels.STDIN and payload:
            await stdin(payload)
        elif channel == channels.CLOSE and payload[:1] == bytes((channels.STDIN,)):
            await close_stdin()
        elif channel == channels.RESIZE and (size := channels.parse_resize(payload)):
            resize(size)


def _runc_exec(
    target: ContainerTarget, command: list[str], *, terminal: bool, log_file: Path
) -> list[str]:
    return ["runc", "--root", str(target.runc_root), "--log", str(log_file), "--log-format",
            "json", "exec", *(["-t"] if terminal else []), target.container_id,
            *command]  # fmt: skip


def runc_failure(log_text: str) -> str | None:
    """runc's own error (the command never started), from its JSON log; None if it ran."""
    failure = None
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            failure = str(entry.get("msg", ""))
    return failure


async def serve_exec(
    ws: web.WebSocketResponse, target: ContainerTarget, command: list[str], *,
    stdin: bool, stdout: bool, stderr: bool, terminal: bool,
) -> None:  # fmt: skip
    """Run `command` in the container, wired to the upgraded WebSocket."""
    # runc's own messages go to a log of their own, so that a command that could
    # not start is told apart from one that ran and exited 255.
    log_file = target.log_path.with_name(f"exec-{secrets.token_hex(6)}.log")
    try:
        if terminal:
            code = await _exec_terminal(ws, target, command, stdin=stdin, log_file=log_file)
        else:
            code = await _exec_pipes(ws, target, command, stdin=stdin, stdout=stdout,
                                     stderr=stderr, log_file=log_file)  # fmt: skip
        failure = await asyncio.to_thread(_read_and_remove, log_file)
    except OSError as err:
        await _finish(ws, channels.internal_error(f"error executing command in container: {err}"))
        return
    if code is None:
        return
    if code == RUNC_FAILED and failure:
        await _finish(ws, channels.internal_error(
            f"error executing command in container: {failure}"))  # fmt: skip
        return
    await _finish(ws, channels.exit_status(code, command))


def _read_and_remove(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return runc_failure(text)


async def _exec_pipes(
    ws: web.WebSocketResponse, target: ContainerTarget, command: list[str], *,
    stdin: bool, stdout: bool, stderr: bool, log_file: Path,
) -> int | None:  # fmt: skip
    pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    process = await asyncio.create_subprocess_exec(
        *_runc_exec(target, command, terminal=False, log_file=log_file),
        stdin=pipe if stdin else null, stdout=pipe if stdout else null,
        stderr=pipe if stderr else null, start_new_session=True,
    )  # fmt: skip
    pumps = [asyncio.create_task(_pump(stream, ws, channel), name="kyb-exec-output")
             for stream, channel in ((process.stdout, channels.STDOUT),
                                     (process.stderr, channels.STDERR)) if stream]  # fmt: skip

    async def write(data: bytes) -> None:
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await process.stdin.drain()

    async def close() -> None:
        if process.stdin is not None:
            process.stdin.close()

    client = asyncio.create_task(
        _read_client(ws, stdin=write, close_stdin=close, resize=lambda _: None),
        name="kyb-exec-client",
    )
    waiter = asyncio.create_task(process.wait(), name="kyb-exec-wait")
    try:
        await asyncio.wait({client, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # kubectl went away first
            await _stop(process)
            return None
        # A daemon the command left behind may hold the pipes: do not wait forever.
        await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
        return process.returncode
    finally:
        for task in (*pumps, client, waiter):
            task.cancel()
        await asyncio.gather(*pumps, client, waiter, return_exceptions=True)
        await _stop(process)


async def _exec_terminal(
    ws: web.WebSocketResponse, target: ContainerTarget, command: list[str], *, stdin: bool,
    log_file: Path,
) -> int | None:  # fmt: skip
    master, slave = os.openpty()
    try:
        # Raw: runc copies bytes; the container's own terminal does echo and line editing.
        tty.setraw(slave)
        process = await asyncio.create_subprocess_exec(
            *_runc_exec(target, command, terminal=True, log_file=log_file),
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )  # fmt: skip
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)  # runc holds it now; its exit makes our reads end (EIO)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, CHUNK)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)

    async def forward_output() -> None:
        while data := await output.get():
            await _send(ws, channels.STDOUT, data)

    async def write(data: bytes) -> None:
        if stdin:
            with contextlib.suppress(OSError):  # the command may have ended meanwhile
                await asyncio.to_thread(os.write, master, data)

    async def close() -> None:
        await write(b"\x04")  # a terminal's end of input is ^D

    def resize(size: channels.Resize) -> None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0))
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGWINCH)

    loop.add_reader(master, readable)
    pump = asyncio.create_task(forward_output(), name="kyb-exec-terminal")
    client = asyncio.create_task(_read_client(ws, stdin=write, close_stdin=close, resize=resize),
                                 name="kyb-exec-client")  # fmt: skip
    waiter = asyncio.create_task(process.wait(), name="kyb-exec-wait")
    try:
        await asyncio.wait({client, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            await _stop(process)
            return None
        await asyncio.wait({pump}, timeout=DRAIN_SECONDS)
        return process.returncode
    finally:
        loop.remove_reader(master)
        for task in (pump, client, waiter):
            task.cancel()
        await asyncio.gather(pump, client, waiter, return_exceptions=True)
        await _stop(process)
        os.close(master)


# -- attach --------------------------------------------------------------------------


def attach_refusal(spec: Obj, *, stdin: bool) -> str | None:
    """Why this node cannot attach as asked, None when it can."""
    name = spec.get("name", "")
    if stdin or spec.get("stdin") or spec.get("tty"):
        return (f"container {name}: attaching stdin or a terminal is not supported by this "
                "node (its containers are started without an open stdin); attach without -i "
                "and -t to follow the output, or use kubectl exec")  # fmt: skip
    return None


async def serve_attach(ws: web.WebSocketResponse, target: ContainerTarget) -> None:
    """Stream what the container writes from now on, until it ends or kubectl leaves."""
    path = target.log_path
    offset = await asyncio.to_thread(lambda: path.stat().st_size if path.exists() else 0)
    closed = asyncio.create_task(_drain_client(ws), name="kyb-attach-client")
    carry = b""
    try:
        while not closed.done():
            data = await asyncio.to_thread(_read_from, path, offset)
            offset += len(data)
            records, carry = parse_records(carry + data)
            for record in records:
                channel = channels.STDERR if record.stream == "stderr" else channels.STDOUT
                await _send(ws, channel, record.text)
            if not data:
                if target.ended():
                    break
                await asyncio.wait({closed}, timeout=ATTACH_POLL)
    finally:
        closed.cancel()
        await asyncio.gather(closed, return_exceptions=True)
    await _finish(ws, channels.exit_status(0, []))


async def _drain_client(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(1 << 20)
    except FileNotFoundError:
        return b""


# -- port-forward --------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _connect_in_netns(netns_path: str, port: int, result: list[Any]) -> None:
    """On a thread of its own: enter the pod's network namespace and dial the port."""
    try:
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
            await _send(ws, channel, payload)

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
