"""One more process serving the API of a running `kyb server` (`--api-processes`).

Python runs one event loop on one core; a second process serves the same
port (SO_REUSEPORT: the kernel spreads new connections over the processes)
from the same store: the server's SQLite file, read here directly and
written through the server's writer process (`SqliteStore.follow`), or the
same etcd. This process keeps its own watch caches, fed by every commit.

The server starts it as soon as its store is open, with the writer link and
the revision board as inherited descriptors, so both start at once; it gets
ready (imports, watch caches), then waits for the server's go-ahead on stdin
(the port, once the server's own process listens: nothing is served before
the server made what every cluster has), listens and prints "ready". It
ends when the server closes its stdin, when the server dies, or when its
writer link ends (the writer process was started again: the server then
starts this process again, joined to the new writer). The server starts it
again whenever it dies.

Run by the server only:
``python -m kybernetes.cli.apiprocess --index N --store-url URL [--link-fd FD
--board-fd FD] --data-dir DIR --bind-address HOST [--token-auth-file FILE]``;
the port comes on stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from kybernetes.apiserver.auth import Authenticator
from kybernetes.apiserver.server import start_apiserver
from kybernetes.cli.apiprocesses import READY_LINE
from kybernetes.cli.server import load_serving_identity, settle_heap
from kybernetes.store import Store, open_store
from kybernetes.store.registry import parse_store_url
from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.types import StoreError, StoreUnavailableError
from kybernetes.util.lifetime import die_with_parent
from kybernetes.util.tasks import cancel_and_wait, run_to_completion

__all__ = ["main"]

log = logging.getLogger("kybernetes.apiprocess")


async def serve(args: argparse.Namespace) -> int:
    """Serve until stopped; 0, or 1 when the writer link was lost."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C and a service manager's SIGTERM reach the whole process group; the
    # server decides when this process ends: it closes our stdin.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    told: asyncio.Future[int] = loop.create_future()
    listening = loop.create_task(_follow_stdin(told, stop), name="kyb-server-orders")
    lost: list[StoreUnavailableError] = []

    def on_lost(err: StoreUnavailableError) -> None:
        log.error("the link to the server's writer ended: %s; stopping", err)
        lost.append(err)
        stop.set()

    store = await _open_store(args, on_lost)
    try:
        identity = await load_serving_identity(args.data_dir, args.bind_address,
                                               args.token_auth_file)  # fmt: skip
        try:
            api = await start_apiserver(
                store=store, pki=identity.pki, host=args.bind_address, port=0,
                advertise_address=identity.advertise,
                authenticator=Authenticator(identity.tokens),
                shared=True, primary=False, port_when_told=told,
            )  # fmt: skip
        except _Abandoned:
            return 0
        # The server's own process knows whether the others serve; this one
        # answers for itself: it listens only once it is ready.
        api.runner.ctx.checks.append(("api-processes", lambda: None))
        try:
            settle_heap()
            sys.stdout.buffer.write(READY_LINE)
            sys.stdout.flush()
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe now
            log.info("API process %d ready at %s", args.index, api.url)
            await stop.wait()
        finally:
            await api.stop()
    finally:
        await store.close()
        await cancel_and_wait(listening)
    return 1 if lost else 0


async def _follow_stdin(told: asyncio.Future[int], stop: asyncio.Event) -> None:
    """The server's orders on stdin: a line with the port to listen on, once
    its own process listens; then the end of the stream: stop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if line.strip().isdigit():
        told.set_result(int(line))
        await reader.read()  # until the server closes it
    else:
        told.set_exception(_Abandoned())
    stop.set()


class _Abandoned(Exception):
    """The server closed our stdin before it listened: it is not starting after all."""


async def _open_store(
    args: argparse.Namespace, on_lost: Callable[[StoreUnavailableError], None]
) -> Store:
    """The server's store: SQLite through the server's writer (the link and
    board it passed), any other from its URL (etcd serves many clients)."""
    if args.link_fd < 0:
        return await open_store(args.store_url)
    path = parse_store_url(args.store_url).path
    return await SqliteStore.follow(path, link=socket.socket(fileno=args.link_fd),
                                    board_fd=args.board_fd, on_lost=on_lost)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kybernetes.cli.apiprocess")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--link-fd", type=int, default=-1, help="SQLite: the writer link")
    parser.add_argument("--board-fd", type=int, default=-1, help="SQLite: the revision board")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--bind-address", required=True)
    parser.add_argument("--token-auth-file", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(name)s[api {args.index}] %(message)s")  # fmt: skip
    code = [1]

    async def run() -> None:
        code[0] = await serve(args)

    try:
        run_to_completion(run())
    except (StoreError, OSError, ValueError) as err:
        print(f"kyb API process {args.index}: {err}", file=sys.stderr)
        return 1
    return code[0]


if __name__ == "__main__":
    sys.exit(main())
