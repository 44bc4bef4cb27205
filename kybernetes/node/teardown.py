"""Taking a node down with nothing left behind (`kyb delete`).

Containers outlive the kubelet on purpose (a restart re-adopts them), so
stopping the server leaves them running; deleting the cluster must then
remove every trace the node left on the machine: its containers (runc)
and the pause processes of pods that share a PID namespace, the mounts
under its directory (overlay root filesystems, pinned namespaces, tmpfs
volumes), the pods' network namespaces, the pods' cgroups, and the node's
bridge. Blocking and best-effort: each step goes on when another fails, and
what could not be removed is reported.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kybernetes.node.namespaces import unpin
from kybernetes.node.network.podnet import NETNS_DIR, netns_name
from kybernetes.node.runtime.runc import stop_pause

__all__ = ["teardown_node"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def teardown_node(node_dir: Path, *, bridge: str = "kyb0", netns: str = "") -> list[str]:
    """Remove what the node at `node_dir` runs and holds; what could not be removed."""
    problems: list[str] = []
    for pause in (node_dir / "runtime" / "pods").glob("*/pause.json"):
        stop_pause(pause)  # a shared PID namespace's PID 1: all in it end with it
    runc_root = node_dir / "runtime" / "runc"
    if runc_root.is_dir():
        for container in _run("runc", "--root", str(runc_root), "list", "-q").stdout.split():
            done = _run("runc", "--root", str(runc_root), "delete", "--force", container)
            if done.returncode != 0:
                problems.append(f"container {container}: {done.stderr.strip()}")
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{node_dir}/")), reverse=True):
        if _run("umount", "-l", mount).returncode != 0:
            problems.append(f"mount {mount} stays")
    pods = node_dir / "kubelet" / "pods"
    uids = [p.name for p in pods.iterdir()] if pods.is_dir() else []
    for uid in uids:
        unpin(str(NETNS_DIR / netns_name(uid)))  # the pod's network namespace
        for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
            pod_cgroup = hierarchy / "kubepods" / f"pod{uid}"
            for dirpath, _, _ in sorted(os.walk(pod_cgroup), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    problems.append(f"cgroup {dirpath} is busy")
    if (node_dir / "network").is_dir():  # the node set up a pod network: take its bridge
        _run("ip", *(["-n", netns] if netns else []), "link", "del", bridge)
        # host-gw routes to other nodes' pods carry their own protocol number (routes.py).
        _run("ip", *(["-n", netns] if netns else []), "route", "flush", "proto", "186")
        nft = ["nft", "delete", "table", "ip", "kybernetes-podnet"]
        _run(*(["nsenter", f"--net=/run/netns/{netns}", *nft] if netns else nft))
    return problems
