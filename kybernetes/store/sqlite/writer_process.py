"""The SQLite writer in a process of its own.

The writer used to be a thread of the server. Each of its SQLite calls gives
up the GIL and must win it back from the busy event loop, and the loop's own
GIL releases (every TLS read and write, every socket call) handed the GIL to
the writer in the middle of a request: on two cores a create x50 load ran at
~1,350/s with 540 us of the loop's CPU per create, against ~1,830/s with the
whole server pinned to one core. In a process of its own the writer runs on
the other core without taking anything from the loop.

The parent (`WriterProcess`, in the event loop) sends the writes that
gathered while the child committed as one frame over a socket pair; the child
(`writer_child.py`) runs the same `Writer` (group commit, compaction,
failpoints) and sends back one frame per committed batch: its results and
events, the new revision, the compacted revision and its commit count.

The child dies with its parent (`PR_SET_PDEATHSIG`), so a SIGKILLed server
never leaves a writer behind to commit into the file a restarted server
opens; a failpoint in the child takes the parent down with it, as it would
the one process it used to be.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from kybernetes.store.sqlite import writer_child
from kybernetes.store.sqlite.writer import WAL_TRUNCATE_BYTES, CommitCallback, Op, Result
from kybernetes.store.sqlite.writer_child import RECV_BYTES, decode_commit, frame, split_frames
from kybernetes.store.types import StoreClosedError, StoreUnavailableError

__all__ = ["WriterProcess"]

STOP_TIMEOUT = 30.0

# The child without `site` (it needs no installed package, and site's work
# was a third of its start-up), told where this package lives instead.
_PACKAGE_ROOT = str(Path(writer_child.__file__).resolve().parents[3])
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from kybernetes.store.sqlite.writer_child import main; main(sys.argv[2:])"
)


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
                sys.executable, "-S", "-c", _CHILD, _PACKAGE_ROOT, str(theirs.fileno()),
                str(os.getpid()), str(self._wal_limit), self._path,
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
        data = frame(message)
        if self._unsent:
            self._unsent += data
            return
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the child is gone: the reader sees the end and fails the writes
        if sent < len(data):
            self._unsent = bytearray(data[sent:])
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
            data = self._sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_child_gone()
            return
        self._received += data
        for message in split_frames(self._received):
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
