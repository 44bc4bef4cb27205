"""`kyb server`: the composition root, in the order the components need.

Today the server runs the store and serves it to other processes; the API
server, controllers and the local node agent will start here after it, each
waiting for the one before to be ready (STYLE.md habit 9).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from kybernetes.cli.paths import ServerState, remove_state, write_state
from kybernetes.store import open_store
from kybernetes.store.remote.server import serve_store

__all__ = ["run_server", "split_listen"]

log = logging.getLogger("kybernetes.server")


def split_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:2390' -> ('127.0.0.1', 2390), with a clear error otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r} must be HOST:PORT, for example 127.0.0.1:2390")
    return host, int(port)


async def run_server(*, data_dir: Path, store_url: str, listen: str) -> None:
    host, port = split_listen(listen)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    store = await open_store(store_url)
    try:
        runner = await serve_store(store, host, port)
        try:
            endpoint = f"kyb://{host}:{port}"
            write_state(data_dir, ServerState(os.getpid(), store_url, endpoint))
            log.info("store ready: %s, served at %s", store_url, endpoint)
            await stop.wait()
            log.info("stopping")
        finally:
            remove_state(data_dir)
            await runner.cleanup()
    finally:
        await store.close()
