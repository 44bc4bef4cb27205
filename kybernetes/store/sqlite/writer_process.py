"""The SQLite writer in a process of its own.

The writer used to be a thread of the server. Each of its SQLite calls gives
up the GIL and must win it back from the busy event loop, and the loop's own
GIL releases (every TLS read and write, every socket call) handed the GIL to
the writer in the middle of a request: on two cores a create x50 load ran at
~1,350/s with 540 us of the loop's CPU per create, against ~1,830/s with the
whole server pinned to one core. In a process of its own the writer runs on
the other core without taking anything from the loop.

The parent (`WriterProcess`, in the event loop) sends each loop turn's writes
as one frame over a socket pair; the child runs the same `Writer` (group
commit, compaction, failpoints) and sends back one frame per committed batch:
results and events as plain tuples (`encode_commit`, `decode_commit`), the
new revision, the compacted revision and its commit count. Frames are a
4-byte little-endian length and a pickle; both ends are this program.

The child dies with its parent (`PR_SET_PDEATHSIG`), so a SIGKILLed server
never leaves a writer behind to commit into the file a restarted server
opens; a failpoint in the child takes the parent down with it, as it would
the one process it used to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kybernetes.store.sqlite import writer as writer_module
from kybernetes.store.sqlite.writer import WAL_TRUNCATE_BYTES, CommitCallback, Op, Result, Writer
from kybernetes.store.types import (
    AlreadyExistsError,
    ConflictError,
    Event,
    EventKind,
    KeyValue,
    NotFoundError,
    StoreClosedError,
    StoreUnavailableError,
)

__all__ = ["WriterProcess", "decode_commit", "encode_commit"]

_HEADER = 4
_RECV_BYTES = 1 << 20
STOP_TIMEOUT = 30.0

KvTuple = tuple[str, bytes, int, int]


# -- the wire form of a commit ------------------------------------------------


def _kv(kv: KeyValue | None) -> KvTuple | None:
    return None if kv is None else (kv.key, kv.value, kv.create_revision, kv.mod_revision)


def _result(result: Result) -> tuple[Any, ...] | None:
    if result is None:
        return None
    if isinstance(result, KeyValue):
        return ("kv", _kv(result))
    if isinstance(result, AlreadyExistsError):
        return ("exists", result.key, _kv(result.current))
    if isinstance(result, ConflictError):
        return ("conflict", result.key, result.expected, _kv(result.current))
    if isinstance(result, NotFoundError):
        return ("notfound", result.key)
    if isinstance(result, StoreClosedError):
        return ("closed",)
    return ("unavailable", str(result))


def encode_commit(
    results: list[tuple[object, Result]], events: list[Event]
) -> tuple[list[tuple[object, Any]], list[tuple[str, KvTuple, KvTuple | None]]]:
    """A committed batch as tuples: pickled 5x faster than the dataclasses."""
    return (
        [(token, _result(result)) for token, result in results],
        [(e.kind.value, (e.kv.key, e.kv.value, e.kv.create_revision, e.kv.mod_revision),
          _kv(e.prev)) for e in events],
    )  # fmt: skip


def _key_value(kv: KvTuple | None) -> KeyValue | None:
    return None if kv is None else KeyValue(*kv)


def _decoded_result(wire: tuple[Any, ...] | None) -> Result:
    if wire is None:
        return None
    match wire:
        case ("kv", kv):
            return KeyValue(*kv)
        case ("exists", key, current):
            return AlreadyExistsError(key, _key_value(current))
        case ("conflict", key, expected, current):
            return ConflictError(key, expected, _key_value(current))
        case ("notfound", key):
            return NotFoundError(key)
        case ("closed",):
            return StoreClosedError()
        case ("unavailable", message):
            return StoreUnavailableError(message)
    raise ValueError(f"not a writer result: {wire!r}")


def decode_commit(
    results: list[tuple[Any, Any]], events: list[tuple[str, KvTuple, KvTuple | None]]
) -> tuple[list[tuple[Any, Result]], list[Event]]:
    return (
        [(token, _decoded_result(wire)) for token, wire in results],
        [Event(EventKind(kind), KeyValue(*kv), _key_value(prev)) for kind, kv, prev in events],
    )


def _frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEADER, "little") + data


def _split_frames(buffer: bytearray) -> Iterator[Any]:
    """Take every whole frame off the front of `buffer`."""
    start = 0
    while len(buffer) - start >= _HEADER:
        size = int.from_bytes(buffer[start : start + _HEADER], "little")
        end = start + _HEADER + size
        if end > len(buffer):
            break
        yield pickle.loads(memoryview(buffer)[start + _HEADER : end])
        start = end
    del buffer[:start]


# -- the parent's side ----------------------------------------------------------


class WriterProcess:
    """`Writer`'s interface, served by a child process; use it from the event loop."""

    def __init__(
        self, path: str, on_commit: CommitCallback, *, wal_limit: int = WAL_TRUNCATE_BYTES
    ) -> None:
        self._path = path
        self._wal_limit = wal_limit
        self._on_commit = on_commit
        self._loop = asyncio.get_running_loop()
        self._proc: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._received = bytearray()
        self._unsent = bytearray()
        self._outbox: list[tuple[int, str, str, bytes, int]] = []
        self._tokens: dict[int, object] = {}
        self._compactions: set[int] = set()
        self._writes_out = 0  # writes sent and not answered yet
        self._next_id = 0
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._gone: asyncio.Future[None] = self._loop.create_future()
        self._stopping = False
        self._failure: BaseException | None = None
        self.revision = 0
        self.compacted = 0
        self.commits = 0

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    async def start(self) -> None:
        """Start the child (from the loop's thread: the child dies with the
        thread that made it) and wait until its database is open."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, str(theirs.fileno()), str(os.getpid()),
                str(self._wal_limit), self._path,
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            )  # fmt: skip
        ours.setblocking(False)
        self._sock = ours
        self._loop.add_reader(ours.fileno(), self._on_readable)
        try:
            await self._ready
        except BaseException:
            await self._reap()
            raise

    def submit(self, op: Op) -> None:
        if self._failure is not None:
            raise StoreUnavailableError(f"the SQLite writer stopped: {self._failure}")
        if self._stopping:
            raise StoreClosedError()
        self._next_id += 1
        self._tokens[self._next_id] = op.token
        if op.kind == "compact":
            self._compactions.add(self._next_id)
        self._outbox.append((self._next_id, op.kind, op.key, op.value, op.expected))
        if len(self._outbox) == 1 and not self._writes_out:
            self._loop.call_soon(self._flush)

    async def stop(self) -> None:
        """Let the child finish what it was sent, then wait for it to exit."""
        if self._proc is None or self._stopping:
            return
        self._flush()
        self._stopping = True
        self._send(("stop",))
        try:
            await asyncio.wait_for(asyncio.shield(self._gone), STOP_TIMEOUT)
        except TimeoutError:
            self._proc.kill()
        await self._reap()

    async def _reap(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self._proc.returncode is None and not self._gone.done():
                self._proc.kill()
            await self._proc.wait()

    # -- sending --

    def _flush(self) -> None:
        """Send what waits. Called when no write is out: while the child
        commits, the next batch gathers here, one frame and one wake-up for
        it instead of one per loop turn (a send per turn cost ~7% of the loop)."""
        if self._outbox:
            ops, self._outbox = self._outbox, []
            self._writes_out += sum(1 for op in ops if op[0] not in self._compactions)
            self._send(("ops", ops))

    def _send(self, message: object) -> None:
        if self._sock is None:
            return
        if self._unsent:
            self._unsent += _frame(message)
            return
        frame = _frame(message)
        try:
            sent = self._sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the child is gone: the reader sees the end and fails the writes
        if sent < len(frame):
            self._unsent = bytearray(frame[sent:])
            self._loop.add_writer(self._sock.fileno(), self._send_more)

    def _send_more(self) -> None:
        assert self._sock is not None
        try:
            sent = self._sock.send(self._unsent)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._unsent)
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._sock.fileno())

    # -- receiving --

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_child_gone()
            return
        self._received += data
        for message in _split_frames(self._received):
            self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        match message:
            case ("commit", results, events, revision, compacted, commits):
                self.revision, self.compacted, self.commits = revision, compacted, commits
                decoded, committed = decode_commit(results, events)
                self._writes_out -= sum(1 for i, _ in decoded if i not in self._compactions)
                if not self._writes_out:
                    self._flush()  # the child is free: it starts on these while we go on
                self._compactions.difference_update(i for i, _ in decoded)
                tokens = self._tokens
                self._on_commit([(tokens.pop(i), r) for i, r in decoded], committed, revision)
            case ("ready", revision, compacted):
                self.revision, self.compacted = revision, compacted
                self._ready.set_result(None)
            case ("failed", text):
                self._failure = StoreUnavailableError(text)
                if not self._ready.done():
                    self._ready.set_exception(self._failure)

    def _on_child_gone(self) -> None:
        assert self._sock is not None
        self._loop.remove_reader(self._sock.fileno())
        if not self._gone.done():
            self._gone.set_result(None)
        if self._stopping and not self._tokens:
            return
        code = self._proc.returncode if self._proc is not None else None
        if self._failure is None:
            self._failure = StoreUnavailableError(
                f"the SQLite writer process for {self._path} exited (code {code})"
            )
        if not self._ready.done():
            self._ready.set_exception(self._failure)
        failed: list[tuple[object, Result]] = [
            (token, StoreUnavailableError(str(self._failure))) for token in self._tokens.values()
        ]
        self._tokens.clear()
        self._outbox.clear()
        if failed:
            self._on_commit(failed, [], self.revision)


# -- the child's side ------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux), and exit if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _frames(sock: socket.socket) -> Iterator[Any]:
    """Each message the parent sends, until it closes its end."""
    buffer = bytearray()
    while True:
        data = sock.recv(_RECV_BYTES)
        if not data:
            return
        buffer += data
        yield from _split_frames(buffer)


def serve(sock: socket.socket, path: str, wal_limit: int = WAL_TRUNCATE_BYTES) -> int:
    """Run a `Writer` for `path`, fed by and answering to the parent on `sock`."""
    send_lock = threading.Lock()

    def send(message: object) -> None:
        frame = _frame(message)
        with send_lock:
            sock.sendall(frame)

    def on_commit(results: list[tuple[object, Result]], events: list[Event], revision: int) -> None:
        wire_results, wire_events = encode_commit(results, events)
        send(("commit", wire_results, wire_events, revision, writer.compacted, writer.commits))

    writer = Writer(path, on_commit, wal_limit=wal_limit)
    try:
        writer.start()
    except BaseException as err:  # noqa: BLE001 - the parent reports it
        send(("failed", f"cannot open the SQLite store {path}: {err}"))
        return 1
    send(("ready", writer.revision, writer.compacted))
    submit: Callable[[Op], None] = writer.submit
    for message in _frames(sock):
        match message:
            case ("ops", ops):
                for token, kind, key, value, expected in ops:
                    try:
                        submit(Op(kind, key, value, expected, token))
                    except StoreUnavailableError as err:
                        on_commit([(token, err)], [], writer.revision)
            case ("stop",):
                writer.stop()
                return 0
    # The parent closed its end without a stop: it died. Nothing that is
    # still queued was acknowledged to anyone; end as its crash would have.
    os._exit(1)


def main(argv: list[str]) -> int:
    fd, parent, wal_limit, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    _die_with_parent(parent)
    writer_module.crash_also.append(parent)
    with socket.socket(fileno=fd) as sock:
        return serve(sock, path, wal_limit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
