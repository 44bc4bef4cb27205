"""Take down whatever a node under test left behind (a failed test must not leak)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["scrub_node"]


def scrub_node(node_dir: Path) -> None:
    """Kill the node's containers, unmount its mounts, delete its pod namespaces."""
    runc_root = node_dir / "runtime" / "runc"
    if runc_root.is_dir():
        listed = subprocess.run(["runc", "--root", str(runc_root), "list", "-q"],
                                capture_output=True, text=True, check=False).stdout  # fmt: skip
        for container in listed.split():
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", container],
                           capture_output=True, check=False)  # fmt: skip
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(node_dir))), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    pods = node_dir / "kubelet" / "pods"
    if pods.is_dir():
        for pod in pods.iterdir():
            subprocess.run(["ip", "netns", "del", f"kyb-{pod.name}"], capture_output=True,
                           check=False)  # fmt: skip
