"""Starting shims by forking one warm Python process, not a fresh interpreter each time.

A shim started as `python -m kybernetes.node.runtime.shim` costs about
44 ms of CPU before it does anything (the interpreter and its imports):
with 100 pods created at once that alone is seconds of a 2-core node. So
the runtime keeps one launcher process, already imported and
single-threaded (fork is safe), and asks it for each shim:

    python -m kybernetes.node.runtime.shimlauncher

reads one JSON request per line on stdin, `{"id": N, "argv": [shim args]}`,
forks a child per request, and the child runs the shim's `launch` (which
forks the supervising shim into its own session, as the command line
does) and answers one line on stdout, `{"id": N, "error": null | "why"}`.
Lines are shorter than PIPE_BUF, so children answering together never
interleave. When stdin ends (the kubelet stopped or died) the launcher
exits; the shims it started live on, as containers outlive the kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import traceback
from typing import Any

from kybernetes.node.runtime.shim import launch, parse_args

__all__ = ["ShimLauncher", "serve"]

MAX_ERROR = 3000  # an answer line stays below PIPE_BUF (4096), so it is written whole


def answer_line(ident: int, error: str | None) -> bytes:
    if error is not None and len(error) > MAX_ERROR:
        error = error[:MAX_ERROR] + "…"
    return json.dumps({"id": ident, "error": error}).encode() + b"\n"


def _answer(request: dict[str, Any]) -> None:
    """In the forked child: start one shim, say how it went, and exit."""
    ident = int(request.get("id", 0))
    error: str | None = "the shim launcher failed; see the kubelet's log"
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the shim waits for its children
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # the kubelet's request pipe is the launcher's, not ours
        os.close(null)
        error = launch(parse_args([str(arg) for arg in request["argv"]]))
    except SystemExit:
        error = f"bad shim arguments: {request.get('argv')!r}"
    except BaseException:  # noqa: BLE001 - a forked child must answer and never return
        traceback.print_exc()
    finally:
        with contextlib.suppress(OSError):
            os.write(1, answer_line(ident, error))
        os._exit(0)


def serve() -> int:
    """The launcher's loop: a fork per request until stdin ends."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    requests = sys.stdin.buffer
    while line := requests.readline():
        request = json.loads(line)
        if os.fork() == 0:
            _answer(request)
    return 0


class ShimLauncher:
    """The kubelet's side: one launcher process, started on first use, restarted if it dies."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[str | None]] = {}
        self._next = 0
        self._starting = asyncio.Lock()

    async def launch(self, argv: list[str]) -> None:
        """Start one shim with these arguments; RuntimeError with the shim's words if it fails."""
        process = await self._server()
        self._next += 1
        ident = self._next
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[ident] = answer
        assert process.stdin is not None
        process.stdin.write(json.dumps({"id": ident, "argv": argv}).encode() + b"\n")
        await process.stdin.drain()
        error = await answer
        if error is not None:
            raise RuntimeError(error)

    async def _server(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._process is None or self._process.returncode is not None:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", __name__,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                self._reader = asyncio.create_task(self._read(self._process),
                                                   name="kyb-shim-launcher")  # fmt: skip
            return self._process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            reply = json.loads(line)
            answer = self._pending.pop(int(reply["id"]), None)
            if answer is not None and not answer.done():
                answer.set_result(reply.get("error"))
        await process.wait()
        for answer in self._pending.values():  # asked of a launcher that died
            if not answer.done():
                answer.set_result(f"the shim launcher exited ({process.returncode}) "
                                  "before answering; see the kubelet's log")  # fmt: skip
        self._pending.clear()

    async def close(self) -> None:
        """Let the launcher go (the shims it started keep running)."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(process.wait(), timeout=5)
        if self._reader is not None:
            await self._reader


if __name__ == "__main__":
    sys.exit(serve())
