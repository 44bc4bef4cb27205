"""A server's figures include the processes under it (its SQLite writer)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    own_cpu_seconds,
    process_tree,
    tree_cpu_seconds,
    tree_memory_mib,
    writer_processes,
)
from kybernetes.store.sqlite.backend import SqliteStore


def test_the_tree_holds_children_and_grandchildren_and_sums_them() -> None:
    # A child that starts a grandchild, both spinning a little CPU, then waiting.
    script = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time\\n"
        "t = time.process_time()\\nwhile time.process_time() - t < 0.2: pass\\n"
        "time.sleep(30)'])\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.2: pass\n"
        "print(g.pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    grandchild = 0
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        tree = process_tree(os.getpid())
        assert {os.getpid(), child.pid, grandchild} <= set(tree)
        assert process_tree(child.pid)[0] == child.pid
        assert set(process_tree(child.pid)) == {child.pid, grandchild}
        assert tree_cpu_seconds(child.pid) >= 0.3  # both spins, not the child's alone
        rss, peak = tree_memory_mib(child.pid)
        alone = tree_memory_mib(grandchild)
        assert rss > alone[0] > 0 and peak >= rss
    finally:
        if grandchild:
            os.kill(grandchild, signal.SIGKILL)
        child.kill()
        child.wait()


async def test_own_cpu_counts_the_writer_of_a_store_opened_here(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        proc = store._writer._proc
        assert proc is not None
        assert writer_processes(os.getpid()) == [proc.pid]
        before = own_cpu_seconds() - time.process_time()
        for batch in range(20):
            await asyncio.gather(
                *(store.create(f"/k/{batch}/{i}", b"v" * 2000) for i in range(100))
            )
        writer_cpu = own_cpu_seconds() - time.process_time() - before
        assert writer_cpu > 0, "the writer's CPU is not counted"
    finally:
        await store.close()
