"""The SQLite writer process itself, and the wire between it and the server.

`main(FD HANDOFF_FD BOARD_FD PARENT_PID WAL_LIMIT PATH)` (`writer_process`
starts it) runs the same `Writer` (group commit, compaction, failpoints), fed
by and answering to the server (`writer_process.WriterProcess`) on the socket
FD, and to each other API process of that server on a socket the server
passes over HANDOFF_FD (`writer_process.WriterFollower`); it publishes each
commit's revision on the board BOARD_FD (`board.py`) before answering. Frames are a
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
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any, cast

from kybernetes.store.sqlite import writer as writer_module
from kybernetes.store.sqlite.board import RevisionBoard
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
from kybernetes.util.lifetime import die_with_parent

__all__ = ["decode_commit", "encode_commit", "frame", "serve", "split_frames"]

_HEADER = 4
RECV_BYTES = 1 << 20
# A follower (another API process) that reads nothing this long is dropped.
FOLLOWER_SEND_TIMEOUT = 10

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


def _frames(sock: socket.socket) -> Iterator[Any]:
    """Each message the other end sends, until it closes its end (or the
    connection breaks)."""
    buffer = bytearray()
    while True:
        try:
            data = sock.recv(RECV_BYTES)
        except OSError:
            return
        if not data:
            return
        buffer += data
        yield from split_frames(buffer)


class _Clients:
    """The server (client 0) and the API processes beside it (`--api-processes`)
    that this writer answers: each gets its own results and every event.

    One lock orders commit frames and a follower's arrival, so a follower's
    "ready" names the last revision broadcast before it joined and it gets
    every commit after, neither missing nor repeating one. A follower that
    stops reading for FOLLOWER_SEND_TIMEOUT is dropped (its process ends
    when its link closes) rather than stalling every write.
    """

    def __init__(self, server: socket.socket, board: RevisionBoard | None) -> None:
        self._lock = threading.Lock()
        self._socks: dict[int, socket.socket] = {0: server}
        self._next = 0
        self._board = board
        self.revision = 0

    def send(self, client: int, message: object) -> None:
        with self._lock:
            self._send(client, frame(message))

    def _send(self, client: int, data: bytes) -> None:
        sock = self._socks.get(client)
        if sock is None:
            return
        try:
            sock.sendall(data)
        except OSError:
            if client:  # the server's end closing is seen by the main loop
                self._drop(client)

    def _drop(self, client: int) -> None:
        sock = self._socks.pop(client, None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def start(self, revision: int, compacted: int) -> None:
        self.revision = revision
        if self._board is not None:
            self._board.publish(revision, compacted)
        self.send(0, ("ready", revision, compacted))

    def join(self, sock: socket.socket, compacted: int) -> int:
        # A send timeout only: reads wait as long as the follower is quiet.
        seconds = struct.pack("ll", FOLLOWER_SEND_TIMEOUT, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, seconds)
        with self._lock:
            self._next += 1
            self._socks[self._next] = sock
            self._send(self._next, frame(("ready", self.revision, compacted)))
            return self._next

    def leave(self, client: int) -> None:
        with self._lock:
            self._drop(client)

    def broadcast(
        self,
        results: list[tuple[object, Result]],
        events: list[Event],
        revision: int,
        compacted: int,
        commits: int,
    ) -> None:
        """One commit: the board first, then each client its results and the events."""
        wire_results, wire_events = encode_commit(results, events)
        mine: dict[int, list[tuple[object, Any]]] = {}
        for wrapped, answer in wire_results:
            client, token = cast(tuple[int, object], wrapped)
            mine.setdefault(client, []).append((token, answer))
        with self._lock:
            self.revision = revision
            if self._board is not None:
                self._board.publish(revision, compacted)
            for client in list(self._socks):
                answers = mine.get(client, [])
                if client and not answers and not wire_events:
                    continue  # a compaction is on the board
                message = ("commit", answers, wire_events, revision, compacted, commits)
                self._send(client, frame(message))


def _take_followers(clients: _Clients, writer: Writer, handoff: socket.socket) -> None:
    """Serve each socket the server hands over on `handoff` (a thread)."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(handoff, 1, 1)
        except OSError:
            return
        if not data:
            return
        for fd in fds:
            threading.Thread(target=_follow, args=(clients, writer, socket.socket(fileno=fd)),
                             name="kyb-writer-follower", daemon=True).start()  # fmt: skip


def _follow(clients: _Clients, writer: Writer, sock: socket.socket) -> None:
    """Serve one API process's writes until its end closes (a thread)."""
    client = clients.join(sock, writer.compacted)
    for message in _frames(sock):
        if message[0] == "ops":
            _submit(clients, writer, client, message[1])
    clients.leave(client)
    sock.close()


def _submit(clients: _Clients, writer: Writer, client: int, ops: list[Any]) -> None:
    for token, kind, key, value, expected in ops:
        try:
            writer.submit(Op(kind, key, value, expected, (client, token)))
        except StoreUnavailableError as err:
            clients.broadcast([((client, token), err)], [], writer.revision, writer.compacted,
                              writer.commits)  # fmt: skip


def serve(
    sock: socket.socket,
    path: str,
    wal_limit: int = WAL_TRUNCATE_BYTES,
    *,
    handoff: socket.socket | None = None,
    board: RevisionBoard | None = None,
) -> int:
    """Run a `Writer` for `path`, fed by and answering to the parent on `sock`,
    and to each API process whose socket the parent hands over on `handoff`."""
    clients = _Clients(sock, board)

    def on_commit(results: list[tuple[object, Result]], events: list[Event], revision: int) -> None:
        clients.broadcast(results, events, revision, writer.compacted, writer.commits)

    def on_failure(err: BaseException) -> None:
        # Exit, and the parent starts a writer again: one whose thread died
        # would refuse every write until the server itself was restarted.
        sys.stderr.flush()
        os._exit(1)

    writer = Writer(path, on_commit, wal_limit=wal_limit, on_failure=on_failure)
    try:
        writer.start()
    except BaseException as err:  # noqa: BLE001 - the parent reports it
        clients.send(0, ("failed", f"cannot open the SQLite store {path}: {err}"))
        return 1
    clients.start(writer.revision, writer.compacted)
    if handoff is not None:
        threading.Thread(target=_take_followers, args=(clients, writer, handoff),
                         name="kyb-writer-handoff", daemon=True).start()  # fmt: skip
    for message in _frames(sock):
        match message:
            case ("ops", ops):
                _submit(clients, writer, 0, ops)
            case ("stop",):
                writer.stop()
                return 0
    # The parent closed its end without a stop: it died. Nothing that is
    # still queued was acknowledged to anyone; end as its crash would have.
    os._exit(1)


def main(argv: list[str]) -> None:
    """`FD HANDOFF_FD BOARD_FD PARENT_PID WAL_LIMIT PATH`; exits without the
    interpreter's clean-up (its database is closed, its answers sent): a
    store closes in ~1 ms instead of ~15."""
    fd, handoff_fd, board_fd, parent, wal_limit = (int(arg) for arg in argv[:5])
    path = argv[5]
    die_with_parent(parent)
    # Ctrl-C and a service manager's SIGTERM reach the whole process group:
    # the server stops its writer itself, after the writes it has in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    writer_module.crash_also.append(parent)
    handoff = socket.socket(fileno=handoff_fd)
    with socket.socket(fileno=fd) as sock:
        code = serve(sock, path, wal_limit, handoff=handoff, board=RevisionBoard(board_fd))
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
