"""CPU and memory of a cgroup, read as cAdvisor reads them for the kubelet.

CPU is the cumulative usage in nanoseconds (`cpuacct.usage` on cgroup v1,
`usage_usec` of `cpu.stat` on v2). Memory is the working set: usage minus
the inactive file cache (`total_inactive_file` on v1, `inactive_file` on v2),
floored at 0 — the page cache the kernel can drop first is not counted, which
is the figure the kubelet evicts on and `kubectl top` shows.

The node is the root cgroup, as the kubelet's node figures are cAdvisor's
root container. On v2 the root has no `memory.current`: its usage is
MemTotal - MemFree from /proc/meminfo, as runc's libcontainer computes it.
Parsing is pure; the readers take the cgroup root so tests can fake a tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CgroupStats",
    "parse_flat_keyed",
    "read_cgroup",
    "read_node",
    "working_set",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")


@dataclass(frozen=True)
class CgroupStats:
    cpu_ns: int  # cumulative CPU time, nanoseconds
    memory_working_set: int  # bytes


def parse_flat_keyed(text: str) -> dict[str, int]:
    """`memory.stat`, `cpu.stat`, /proc/meminfo: "key value [kB]" per line."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1]) * (1024 if parts[2:3] == ["kB"] else 1)
    return values


def working_set(usage: int, inactive_file: int) -> int:
    """cAdvisor's working set: usage less the inactive file cache, never below 0."""
    return max(usage - inactive_file, 0)


def _read(path: Path) -> str:
    return path.read_text()


def is_v1(root: Path) -> bool:
    """Hybrid or legacy hierarchy: a controller per directory (cpuacct, memory)."""
    return (root / "cpuacct").is_dir() or (root / "cpu,cpuacct").is_dir()


def _v1_controller(root: Path, name: str) -> Path:
    joined = root / "cpu,cpuacct"
    return joined if name == "cpuacct" and not (root / name).is_dir() else root / name


def _read_v1(root: Path, relative: str) -> CgroupStats:
    cpu = int(_read(_v1_controller(root, "cpuacct") / relative / "cpuacct.usage"))
    memory = _v1_controller(root, "memory") / relative
    usage = int(_read(memory / "memory.usage_in_bytes"))
    stat = parse_flat_keyed(_read(memory / "memory.stat"))
    return CgroupStats(cpu, working_set(usage, stat.get("total_inactive_file", 0)))


def _read_v2(root: Path, relative: str, proc: Path) -> CgroupStats:
    group = root / relative
    cpu = parse_flat_keyed(_read(group / "cpu.stat")).get("usage_usec", 0) * 1000
    stat = parse_flat_keyed(_read(group / "memory.stat"))
    if relative:
        usage = int(_read(group / "memory.current"))
    else:  # the root has no memory.current
        meminfo = parse_flat_keyed(_read(proc / "meminfo"))
        usage = meminfo.get("MemTotal", 0) - meminfo.get("MemFree", 0)
    return CgroupStats(cpu, working_set(usage, stat.get("inactive_file", 0)))


def read_cgroup(relative: str, *, root: Path = CGROUP_ROOT, proc: Path = PROC) -> CgroupStats:
    """The cgroup at `relative` (e.g. kubepods/pod<uid>/<id>; "" for the root).
    OSError when it does not exist (the container has gone, or never ran)."""
    relative = relative.strip("/")
    if is_v1(root):
        return _read_v1(root, relative)
    return _read_v2(root, relative, proc)


def read_node(*, root: Path = CGROUP_ROOT, proc: Path = PROC) -> CgroupStats:
    """The whole machine: the root cgroup."""
    return read_cgroup("", root=root, proc=proc)
