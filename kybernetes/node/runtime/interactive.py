"""The shim's side of interactive containers (`kubectl run -it`, `kubectl attach -i`).

A container whose spec asks for a terminal (`tty: true`) gets one from runc
through a console socket: the shim receives the pty's master side and keeps
it, writing what the container prints into the CRI log at once (partial
lines too: a shell's prompt has no newline) and feeding it what attach
sessions type. A container with `stdin: true` and no terminal gets a pipe
as its stdin instead. Attach sessions reach the shim through two FIFOs in
the container's directory (the kubelet may restart; the FIFOs stay):
`attach-stdin` (bytes to type) and `attach-resize` ("WIDTH HEIGHT" lines).
With `stdinOnce`, the end of the first session closes the container's
stdin (^D for a terminal), as the kubelet's does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import struct
import tempfile
import termios
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kybernetes.node.runtime.spec import STDIN_ANNOTATION, STDIN_ONCE_ANNOTATION

__all__ = [
    "RESIZE_FIFO",
    "STDIN_FIFO",
    "Interactive",
    "interactive_options",
    "listen_console",
    "receive_master",
    "start_relays",
]

STDIN_FIFO = "attach-stdin"
RESIZE_FIFO = "attach-resize"
CONSOLE_SOCKET = "console.sock"
CHUNK = 16384


class Log(Protocol):
    def write(self, stream: str, text: bytes, *, partial: bool) -> None: ...


@dataclass(frozen=True)
class Interactive:
    terminal: bool = False
    stdin: bool = False
    once: bool = False


def interactive_options(bundle: Path) -> Interactive:
    """What the bundle's config.json asks for (nothing, for an ordinary container)."""
    try:
        config = json.loads((bundle / "config.json").read_text())
    except (OSError, ValueError):
        return Interactive()
    notes = config.get("annotations") or {}
    terminal = bool((config.get("process") or {}).get("terminal"))
    stdin = notes.get(STDIN_ANNOTATION) == "true"
    return Interactive(terminal, stdin or terminal, notes.get(STDIN_ONCE_ANNOTATION) == "true")


def listen_console(state: Path) -> tuple[socket.socket, Path]:
    """The socket runc hands the terminal's master side to (`--console-socket`).

    In a short temporary directory: a socket path has a 107-byte limit, which a
    container directory's path can pass.
    """
    path = Path(tempfile.mkdtemp(prefix="kyb-console-")) / CONSOLE_SOCKET
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server, path


def receive_master(server: socket.socket) -> int:
    """The pty master runc sent (it connected during `runc run -d`)."""
    path = Path(server.getsockname())
    server.settimeout(10)
    try:
        conn, _ = server.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    finally:
        server.close()
        shutil.rmtree(path.parent, ignore_errors=True)
    if not fds:
        raise RuntimeError("runc sent no terminal over the console socket")
    return fds[0]


def _pump_terminal(log: Log, master: int) -> None:
    """The terminal's output into the log: whole lines, and what is left at once."""
    while True:
        try:
            chunk = os.read(master, CHUNK)
        except OSError:  # EIO: every holder of the terminal's other side is gone
            return
        if not chunk:
            return
        # Lines keep the terminal's "\r": an attached terminal needs it back.
        *lines, rest = chunk.split(b"\n")
        for line in lines:
            log.write("stdout", line, partial=False)
        if rest:
            log.write("stdout", rest, partial=True)


def _relay_stdin(fifo: Path, target: int, *, once: bool, terminal: bool) -> None:
    """Each attach session's input into the container; the first end closes it if `once`."""
    while True:
        try:
            with open(fifo, "rb", buffering=0) as session:  # blocks until a session opens it
                while chunk := session.read(CHUNK):
                    os.write(target, chunk)
        except OSError:
            return  # the container is gone
        if once:
            with contextlib.suppress(OSError):
                if terminal:
                    os.write(target, b"\x04")  # a terminal's end of input
                else:
                    os.close(target)
            return


def _relay_resize(fifo: Path, master: int) -> None:
    while True:
        try:
            with open(fifo, "rb") as sizes:
                for line in sizes:
                    width, _, height = line.decode(errors="replace").strip().partition(" ")
                    if width.isdigit() and height.isdigit():
                        fcntl.ioctl(master, termios.TIOCSWINSZ,
                                    struct.pack("HHHH", int(height), int(width), 0, 0))  # fmt: skip
        except OSError:
            return


def start_relays(state: Path, log: Log, options: Interactive, *, master: int | None,
                 stdin_write: int | None) -> None:  # fmt: skip
    """The FIFOs and the threads behind them (daemons: they end with the shim)."""
    for name in (STDIN_FIFO, RESIZE_FIFO):
        path = state / name
        path.unlink(missing_ok=True)
        os.mkfifo(path, 0o600)
    threads = []
    if master is not None:
        threads.append(threading.Thread(target=_pump_terminal, args=(log, master)))
        threads.append(threading.Thread(target=_relay_resize, args=(state / RESIZE_FIFO, master)))
    target = master if master is not None else stdin_write
    if target is not None:
        threads.append(threading.Thread(
            target=_relay_stdin, args=(state / STDIN_FIFO, target),
            kwargs={"once": options.once, "terminal": master is not None}))  # fmt: skip
    for thread in threads:
        thread.daemon = True
        thread.start()
