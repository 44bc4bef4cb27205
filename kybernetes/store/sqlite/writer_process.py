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
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kybernetes.store.sqlite import writer_child
from kybernetes.store.sqlite.board import RevisionBoard
from kybernetes.store.sqlite.writer import WAL_TRUNCATE_BYTES, CommitCallback, Op, Result
from kybernetes.store.sqlite.writer_child import RECV_BYTES, decode_commit, frame, split_frames
from kybernetes.store.types import StoreClosedError, StoreError, StoreUnavailableError

__all__ = ["CatchUp", "WriterFollower", "WriterProcess", "restart_delay"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0
RESTART_DELAY = 0.1  # the first pause before starting a child again; doubles
MAX_RESTART_DELAY = 5.0
# A child that served this long before it died is started again at once.
STABLE_SECONDS = 10.0

# The revisions in (after, through] were committed and not published: publish them.
CatchUp = Callable[[int, int], Awaitable[None]]

# The child without `site` (it needs no installed package, and site's work
# was a third of its start-up), told where this package lives instead.
_PACKAGE_ROOT = str(Path(writer_child.__file__).resolve().parents[3])
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from kybernetes.store.sqlite.writer_child import main; main(sys.argv[2:])"
)


class _WriterConnection:
    """The server's side of one socket to the writer process: writes out in
    one frame per batch, answers and events back through `on_commit`.

    `WriterProcess` owns the child; `WriterFollower` is another API process
    of the same server, on a socket the server handed to the child.
    """

    def __init__(self, path: str, on_commit: CommitCallback) -> None:
        self._path = path
        self._on_commit = on_commit
        self._loop = asyncio.get_running_loop()
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
        self._restarting: asyncio.Task[None] | None = None
        self._stopping = False
        self._failure: BaseException | None = None
        self._started_at = 0.0  # when the writer last said it was ready (loop time)
        self.revision = 0
        self.compacted = 0
        self.commits = 0

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def _adopt(self, sock: socket.socket) -> None:
        """Talk to the writer on `sock` from now on."""
        self._ready = self._loop.create_future()
        self._gone = self._loop.create_future()
        self._received.clear()
        self._unsent.clear()
        sock.setblocking(False)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)

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

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _fail_all(self, error: StoreError) -> None:
        """Fail every write not answered yet (and forget the unsent)."""
        failed: list[tuple[object, Result]] = [(token, error) for token in self._tokens.values()]
        self._tokens.clear()
        self._outbox.clear()
        self._compactions.clear()
        self._writes_out = 0
        if failed:
            self._on_commit(failed, [], self.revision)

    def _gone_error(self, code: int | None) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the SQLite writer process for {self._path} exited"
            f"{'' if code is None else f' (code {code})'}; "
            "a write it had may or may not have been written"
        )

    def _on_child_gone(self) -> None:
        raise NotImplementedError

    # -- sending --

    def _flush(self) -> None:
        """Send what waits. Called when no write is out: while the child
        commits, the next batch gathers here, one frame and one wake-up for
        it instead of one per loop turn (a send per turn cost ~7% of the loop)."""
        if self._outbox and self._sock is not None and self._restarting is None:
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
                self._started_at = self._loop.time()
                self._ready.set_result(None)
            case ("failed", text):
                self._failure = StoreUnavailableError(text)
                if not self._ready.done():
                    self._ready.set_exception(self._failure)


class WriterProcess(_WriterConnection):
    """`Writer`'s interface, served by a child process; use it from the event loop.

    A child that dies under a running server (killed, out of memory, its
    writer failed) is started again (after a pause that grows while children
    keep dying young): the writes it had were maybe written, and fail as such
    (`StoreUnavailableError`); those not yet sent wait for the new child;
    and what the old one committed without telling is handed to `catch_up`
    (published to the watchers) before any new write goes out. The child
    publishes each revision on `board` (`board.py`); `add_follower` connects
    another API process of this server to it.
    """

    def __init__(
        self,
        path: str,
        on_commit: CommitCallback,
        *,
        catch_up: CatchUp | None = None,
        wal_limit: int = WAL_TRUNCATE_BYTES,
    ) -> None:
        super().__init__(path, on_commit)
        self._wal_limit = wal_limit
        self._catch_up = catch_up
        self._proc: asyncio.subprocess.Process | None = None
        self._restart_delay = 0.0  # the pause before the last restart
        self._handoff: socket.socket | None = None  # passes followers' sockets to the child
        self.board = RevisionBoard.create()
        self.restarts = 0

    async def start(self) -> None:
        """Start the child and wait until its database is open."""
        await self._spawn()

    async def _spawn(self) -> None:
        """A new child (from the loop's thread: the child dies with the thread
        that made it), ready for writes or reaped."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        handoff, their_handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = (theirs.fileno(), their_handoff.fileno(), self.board.fd)
        try:
            with theirs, their_handoff:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-S", "-c", _CHILD, _PACKAGE_ROOT, *map(str, fds),
                    str(os.getpid()), str(self._wal_limit), self._path,
                    pass_fds=fds, stdin=subprocess.DEVNULL,
                )  # fmt: skip
        except BaseException:
            ours.close()
            handoff.close()
            raise
        self._handoff = handoff
        self._adopt(ours)
        try:
            await self._ready
        except BaseException:
            await self._reap()
            raise

    def add_follower(self) -> socket.socket:
        """A socket on which another process of this server writes through the
        child and hears every commit (`WriterFollower`). It lasts as long as
        the child: one started again after a crash has to be joined again."""
        if self._stopping or self._restarting is not None or self._handoff is None:
            raise StoreUnavailableError(f"the SQLite writer for {self._path} is not running")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            try:
                # One byte and the descriptor: the child's handoff socket reads nothing else.
                socket.send_fds(self._handoff, [b"f"], [theirs.fileno()])
            except OSError as err:
                ours.close()
                raise StoreUnavailableError(
                    f"the SQLite writer process for {self._path} cannot take another "
                    f"API process: {err}"
                ) from None
        return ours

    async def stop(self) -> None:
        """Let the child finish what it was sent, then wait for it to exit."""
        if self._proc is None or self._stopping:
            return
        self._stopping = True
        if self._restarting is not None:
            self._restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restarting
            self._restarting = None
        if self._sock is not None:
            self._flush()
            self._send(("stop",))
            try:
                await asyncio.wait_for(asyncio.shield(self._gone), STOP_TIMEOUT)
            except TimeoutError:
                self._proc.kill()
        await self._reap()
        self._fail_all(StoreClosedError())
        self.board.close()

    async def _reap(self) -> None:
        self._close_socket()
        if self._handoff is not None:
            self._handoff.close()
            self._handoff = None
        if self._proc is not None:
            if self._proc.returncode is None and not self._gone.done():
                self._proc.kill()
            await self._proc.wait()

    def _on_child_gone(self) -> None:
        assert self._sock is not None
        self._loop.remove_reader(self._sock.fileno())
        if not self._gone.done():
            self._gone.set_result(None)
        error = self._gone_error(self._proc.returncode if self._proc is not None else None)
        if not self._ready.done():  # it never opened the database: start() says why
            self._failure = self._failure or error
            self._ready.set_exception(self._failure)
            return
        if self._ready.exception() is not None:
            return
        if self._stopping:
            self._fail_all(error)
            return
        unsent = {op[0] for op in self._outbox}
        lost: list[tuple[object, Result]] = [
            (self._tokens.pop(i), error) for i in list(self._tokens) if i not in unsent
        ]
        self._compactions &= unsent
        self._writes_out = 0
        self._restarting = self._loop.create_task(self._restart())
        if lost:
            self._on_commit(lost, [], self.revision)

    async def _restart(self) -> None:
        """Start a child again (backing off while it cannot start), publish
        what the old one committed unannounced, then send the waiting writes."""
        pause = restart_delay(self._restart_delay, self._loop.time() - self._started_at)
        self._restart_delay = pause
        log.error("the SQLite writer process for %s exited; starting it again%s",
                  self._path, f" in {pause:.1f} s" if pause else "")  # fmt: skip
        await asyncio.sleep(pause)
        announced = self.revision
        delay = 0.0
        while True:
            await self._reap()
            try:
                await self._spawn()
                break
            except (StoreUnavailableError, OSError) as err:
                log.error("the SQLite writer process for %s cannot start: %s", self._path, err)
                self._failure = err
                self._fail_all(StoreUnavailableError(str(err)))
                delay = restart_delay(delay, lived=0.0)  # a child that never started
                await asyncio.sleep(delay)
        try:
            if self.revision > announced and self._catch_up is not None:
                await self._catch_up(announced, self.revision)
        except Exception as err:  # the watchers would miss events: refuse writes
            log.exception("the SQLite store %s cannot catch up after its writer's restart",
                          self._path)  # fmt: skip
            self._failure = err
            self._fail_all(StoreUnavailableError(f"the store cannot catch up: {err}"))
            return
        self.restarts += 1
        self._failure = None
        self._restarting = None
        self._flush()


class WriterFollower(_WriterConnection):
    """Another API process's way to its server's writer process, on the socket
    `WriterProcess.add_follower` made (passed to this process). Writes and
    answers go as the server's do, and every commit's events arrive here too
    (the server's own included), so this process's watchers miss nothing.

    The writer is not restarted from here: when the link ends (the writer or
    the server died) every write out fails and `on_lost` is called; the
    server starts this process again once its writer is back.
    """

    def __init__(
        self,
        path: str,
        sock: socket.socket,
        on_commit: CommitCallback,
        on_lost: Callable[[StoreUnavailableError], None],
    ) -> None:
        super().__init__(path, on_commit)
        self._link = sock
        self._on_lost = on_lost

    async def start(self) -> None:
        """Wait for the writer's hello: the last revision before this link."""
        self._adopt(self._link)
        await self._ready

    async def stop(self) -> None:
        """Close the link; writes in flight fail (the writer itself goes on)."""
        self._stopping = True
        self._close_socket()
        self._fail_all(StoreClosedError())

    def _on_child_gone(self) -> None:
        self._close_socket()
        error = self._gone_error(None)
        if not self._gone.done():
            self._gone.set_result(None)
        if not self._ready.done():
            self._ready.set_exception(error)
            return
        if self._stopping:
            return
        self._failure = error
        self._fail_all(error)
        self._on_lost(error)


def restart_delay(previous: float, lived: float) -> float:
    """The pause before starting a writer again whose child served `lived`
    seconds, `previous` the pause before the last restart: none after a child
    that served a while; while children keep dying young (a writer that fails
    on every write, or cannot start at all), 0.1 s, doubling up to 5 s."""
    if lived >= STABLE_SECONDS:
        return 0.0
    return min(previous * 2, MAX_RESTART_DELAY) if previous else RESTART_DELAY
