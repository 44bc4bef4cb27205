"""The SQLite writer process itself, and the wire between it and the server.

`main(FD PARENT_PID WAL_LIMIT PATH)` (`writer_process` starts it) runs the
same `Writer` (group commit, compaction, failpoints), fed by and answering to
the server (`writer_process.WriterProcess`) on the socket FD. Frames are a
4-byte little-endian length and a pickle; both ends are this program. Results
and events travel as plain tuples (`encode_commit`, `decode_commit`): pickled
5x faster than the dataclasses.

Nothing here imports asyncio: the process starts with each store opened
(each test's too), and asyncio's import was most of its start-up.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kybernetes.store.sqlite import writer as writer_module
from kybernetes.store.sqlite.writer import WAL_TRUNCATE_BYTES, Op, Result, Writer
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

__all__ = ["decode_commit", "encode_commit", "frame", "serve", "split_frames"]

_HEADER = 4
RECV_BYTES = 1 << 20

KvTuple = tuple[str, bytes, int, int]


# -- the wire form of a commit ------------------------------------------------


def _kv(kv: KeyValue) -> KvTuple:
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision)


def _maybe_kv(kv: KeyValue | None) -> KvTuple | None:
    return None if kv is None else _kv(kv)


def _result(result: Result) -> tuple[Any, ...] | None:
    if result is None:
        return None
    if isinstance(result, KeyValue):
        return ("kv", _kv(result))
    if isinstance(result, AlreadyExistsError):
        return ("exists", result.key, _maybe_kv(result.current))
    if isinstance(result, ConflictError):
        return ("conflict", result.key, result.expected, _maybe_kv(result.current))
    if isinstance(result, NotFoundError):
        return ("notfound", result.key)
    if isinstance(result, StoreClosedError):
        return ("closed",)
    return ("unavailable", str(result))


def encode_commit(
    results: list[tuple[object, Result]], events: list[Event]
) -> tuple[list[tuple[object, Any]], list[tuple[str, KvTuple, KvTuple | None]]]:
    """A committed batch as tuples."""
    return (
        [(token, _result(result)) for token, result in results],
        [(e.kind.value, _kv(e.kv), _maybe_kv(e.prev)) for e in events],
    )


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


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEADER, "little") + data


def split_frames(buffer: bytearray) -> Iterator[Any]:
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


# -- the process ---------------------------------------------------------------


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
        data = sock.recv(RECV_BYTES)
        if not data:
            return
        buffer += data
        yield from split_frames(buffer)


def serve(sock: socket.socket, path: str, wal_limit: int = WAL_TRUNCATE_BYTES) -> int:
    """Run a `Writer` for `path`, fed by and answering to the parent on `sock`."""
    send_lock = threading.Lock()

    def send(message: object) -> None:
        data = frame(message)
        with send_lock:
            sock.sendall(data)

    def on_commit(results: list[tuple[object, Result]], events: list[Event], revision: int) -> None:
        wire_results, wire_events = encode_commit(results, events)
        send(("commit", wire_results, wire_events, revision, writer.compacted, writer.commits))

    def on_failure(err: BaseException) -> None:
        # Exit, and the parent starts a writer again: one whose thread died
        # would refuse every write until the server itself was restarted.
        sys.stderr.flush()
        os._exit(1)

    writer = Writer(path, on_commit, wal_limit=wal_limit, on_failure=on_failure)
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


def main(argv: list[str]) -> None:
    """`FD PARENT_PID WAL_LIMIT PATH`; exits without the interpreter's
    clean-up (its database is closed, its answers sent): a store closes in
    ~1 ms instead of ~15."""
    fd, parent, wal_limit, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    _die_with_parent(parent)
    # Ctrl-C and a service manager's SIGTERM reach the whole process group:
    # the server stops its writer itself, after the writes it has in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    writer_module.crash_also.append(parent)
    with socket.socket(fileno=fd) as sock:
        code = serve(sock, path, wal_limit)
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
