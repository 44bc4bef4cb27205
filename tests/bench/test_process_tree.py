"""A server's figures include the processes under it (its SQLite writer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bench.common import process_tree, tree_cpu_seconds, tree_memory_mib


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
