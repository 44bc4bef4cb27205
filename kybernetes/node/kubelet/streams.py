"""exec and attach on the node: the kubelet's end of the streams.

The API server relays kubectl's WebSocket to the kubelet unchanged (same
subprotocol end to end), so the kubelet speaks kubectl's protocols itself
(port-forward's are in `portforward.py`):

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
  shim's log as it grows (partial lines at once: a shell's prompt has no
  newline). For a container started with `stdin: true` (and `tty: true`:
  `kubectl run -it`), what kubectl types and its terminal sizes go to the
  container's shim through its FIFOs (runtime/interactive.py); asking for
  stdin of a container without it is refused with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import struct
import termios
import tty
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from kybernetes.node.kubelet import channels
from kybernetes.node.runtime.base import ExecArgv
from kybernetes.node.runtime.interactive import RESIZE_FIFO, STDIN_FIFO

__all__ = [
    "CHUNK",
    "ContainerTarget",
    "PodTarget",
    "attach_refusal",
    "runc_failure",
    "send_frame",
    "send_status",
    "serve_attach",
    "serve_exec",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024
DRAIN_SECONDS = 2.0  # output still in flight after the process ended
STOP_SECONDS = 2.0  # SIGTERM to SIGKILL when the client went away
ATTACH_POLL = 0.1
RUNC_FAILED = 255  # runc's exit code when it could not start the command


@dataclass(frozen=True)
class ContainerTarget:
    """A running container, as the kubelet knows it."""

    container_id: str
    runc_root: Path
    log_path: Path
    spec: Obj
    ended: Callable[[], bool]
    exec_argv: ExecArgv | None = None  # the runtime's `runc exec` (None: runc under runc_root)


@dataclass(frozen=True)
class PodTarget:
    name: str
    uid: str
    netns_path: str


async def send_frame(ws: web.WebSocketResponse, channel: int, payload: bytes) -> None:
    if not ws.closed:
        await ws.send_bytes(channels.frame(channel, payload))


async def send_status(ws: web.WebSocketResponse, status: bytes) -> None:
    """The outcome on the error channel, in the words of the protocol spoken."""
    payload = channels.error_payload(ws.ws_protocol or "", status)
    if payload is not None:
        await send_frame(ws, channels.ERROR, payload)


async def _finish(ws: web.WebSocketResponse, status: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await send_status(ws, status)
        await ws.close()


# -- exec ----------------------------------------------------------------------------


async def _pump(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    while chunk := await reader.read(CHUNK):
        await send_frame(ws, channel, chunk)


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
    if target.exec_argv is not None:
        return target.exec_argv(target.container_id, command, terminal=terminal,
                                log_file=log_file)  # fmt: skip
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
            await send_frame(ws, channels.STDOUT, data)

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
    if stdin and not (spec.get("stdin") or spec.get("tty")):
        return (f"container {name}: stdin is not enabled for it (its spec needs stdin: true); "
                "attach without -i to follow the output, or use kubectl exec")  # fmt: skip
    return None


def raw_records(data: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """(stream, bytes as written) of each CRI record, partial ones without a newline:
    an attached terminal must see a prompt before its line ends."""
    *lines, rest = data.split(b"\n")
    out = []
    for line in lines:
        parts = line.split(b" ", 3)
        if len(parts) == 4:
            out.append((parts[1].decode(), parts[3] + (b"" if parts[2] == b"P" else b"\n")))
    return out, rest


async def serve_attach(ws: web.WebSocketResponse, target: ContainerTarget, *,
                       stdin: bool = False) -> None:  # fmt: skip
    """What the container writes from now on, and (-i) what kubectl types, until it ends
    or kubectl leaves. Input reaches the container through its shim's FIFOs."""
    path = target.log_path
    offset = await asyncio.to_thread(lambda: path.stat().st_size if path.exists() else 0)
    feeder = _ShimInput(path.parent) if stdin else None
    if feeder is None:
        closed = asyncio.create_task(_drain_client(ws), name="kyb-attach-client")
    else:
        closed = asyncio.create_task(_read_client(
            ws, stdin=feeder.write, close_stdin=feeder.close, resize=feeder.resize),
            name="kyb-attach-client")  # fmt: skip
    carry = b""
    try:
        while not closed.done():
            data = await asyncio.to_thread(_read_from, path, offset)
            offset += len(data)
            records, carry = raw_records(carry + data)
            for stream, text in records:
                channel = channels.STDERR if stream == "stderr" else channels.STDOUT
                await send_frame(ws, channel, text)
            if not data:
                if target.ended():
                    break
                await asyncio.wait({closed}, timeout=ATTACH_POLL)
    finally:
        closed.cancel()
        await asyncio.gather(closed, return_exceptions=True)
        if feeder is not None:
            await feeder.close()
    await _finish(ws, channels.exit_status(0, []))


class _ShimInput:
    """An attach session's input: bytes into the shim's stdin FIFO, sizes into its resize FIFO."""

    def __init__(self, directory: Path) -> None:
        self._stdin_path = directory / STDIN_FIFO
        self._resize_path = directory / RESIZE_FIFO
        self._stdin: int | None = None
        self._resize: int | None = None

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # no reader: the container has ended
            if self._stdin is None:
                # Non-blocking open: the shim keeps a reader waiting while the container runs.
                self._stdin = os.open(self._stdin_path, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(self._stdin, True)
            await asyncio.to_thread(os.write, self._stdin, data)

    async def close(self) -> None:
        for fd in (self._stdin, self._resize):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stdin = self._resize = None

    def resize(self, size: channels.Resize) -> None:
        # Kept open for the session: kubectl sends sizes in quick succession (one
        # larger first, to force a redraw), and a reopen between them could lose one.
        with contextlib.suppress(OSError):
            if self._resize is None:
                self._resize = os.open(self._resize_path, os.O_WRONLY | os.O_NONBLOCK)
            os.write(self._resize, f"{size.width} {size.height}\n".encode())


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
