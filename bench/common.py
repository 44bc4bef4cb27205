"""What every benchmark shares: percentiles, figures, operation budgets, machine facts,
a network namespace of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Generic, Protocol, TypeVar

__all__ = [
    "Budget",
    "Counter",
    "Figure",
    "machine_facts",
    "own_cpu_seconds",
    "paced",
    "percentile",
    "process_tree",
    "scratch_netns",
    "tree_cpu_seconds",
    "tree_memory_mib",
    "writer_processes",
]


class Counter(Protocol):
    """A cell's tally: `issued` numbers the operations, unique across rounds."""

    issued: int


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in milliseconds (nan when there is no sample)."""
    if not sorted_ns:
        return float("nan")
    rank = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns) + 0.5) - 1))
    return sorted_ns[rank] / 1e6


@dataclass(slots=True)
class Figure:
    rate: float  # per second: ops for write cells, commits or rows for the disk
    p50: float  # ms
    p99: float  # ms
    count: int
    errors: int = 0
    note: str = ""


T = TypeVar("T", bound=Counter)


class Budget(Generic[T]):
    """Hands out operations for one round until its count or its time runs out."""

    __slots__ = ("deadline", "left", "tally")

    def __init__(self, tally: T, max_ops: int, seconds: float) -> None:
        self.tally = tally
        self.left = max_ops
        self.deadline = time.perf_counter() + seconds

    def take(self) -> int:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return -1
        self.left -= 1
        self.tally.issued += 1
        return self.tally.issued


def process_tree(pid: int) -> list[int]:
    """`pid` and every process under it: a server's figures include its SQLite
    writer process (and this process's, where the bench runs the store)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(child) for child in f.read().split()]
    return found


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first); [] once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) of `pid` and the processes under
    it; a process gone meanwhile counts 0."""
    return sum(_cpu_seconds(p) for p in process_tree(pid))


def writer_processes(pid: int) -> list[int]:
    """The SQLite writer processes anywhere under `pid` (its own and its servers')."""
    found = []
    for child in process_tree(pid)[1:]:
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as f:
            if b"kybernetes.store.sqlite.writer_child" in f.read():
                found.append(child)
    return found


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the SQLite writers of the stores it
    opened itself (not those of the servers it started)."""
    me = os.getpid()
    writers = [p for p in writer_processes(me) if _parent(p) == me]
    return time.process_time() + sum(_cpu_seconds(p) for p in writers)


def _parent(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB of `pid` and the processes under it: resident now,
    and the sum of each one's peak."""
    rss = hwm = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "VmRSS":
                    rss += int(rest.split()[0]) / 1024
                elif key == "VmHWM":
                    hwm += int(rest.split()[0]) / 1024
    return rss, hwm


def machine_facts(tmp: str) -> list[str]:
    try:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True, check=False)
        etcd = out.stdout.split("\n", 1)[0].removeprefix("etcd Version: ")
    except OSError:
        etcd = "not installed"
    same_disk = os.stat(tmp).st_dev == os.stat(os.path.dirname(__file__)).st_dev
    return [
        f"nproc {os.cpu_count()}, {platform.system()} {platform.release()} {platform.machine()}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}, aiohttp {version('aiohttp')}, "
        f"orjson {version('orjson')}",
        f"etcd {etcd}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (anything but 0 means another process may compete for the cores)",
        f"temp dir {tmp} ({'same' if same_disk else 'NOT the same'} filesystem as the repo)",
    ]


async def paced(count: int, rate: float, start: float) -> AsyncIterator[int]:
    """0 .. count-1, each yielded no earlier than `start + n / rate` (perf_counter)."""
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield n


@contextlib.contextmanager
def scratch_netns(prefix: str, *, loopback_up: bool = False) -> Iterator[str]:
    """A network namespace made for one benchmark run (no route off the machine),
    deleted afterwards whatever happens; its name."""
    netns = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        if loopback_up:
            subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        yield netns
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
