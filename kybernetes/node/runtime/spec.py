"""The OCI runtime spec (config.json) of one container, as a pure function.

What the kubelet knows (the image's config, the container's spec, the pod's
sandbox) becomes the document runc runs, with containerd's defaults for
what Kubernetes leaves open: the default capability set, masked and
read-only /proc paths, and the standard mounts. The pod's namespaces are
joined by path: the network namespace of the pod network, and IPC and UTS
namespaces pinned once per pod, so that no container sets the hostname
(a container that joins a UTS namespace and names a hostname would
overwrite the pod's: node-runtime.md pitfall 8).

Resources arrive already in plain numbers (bytes, millicores): parsing
Kubernetes quantities is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_CAPABILITIES",
    "ContainerConfig",
    "Mount",
    "Resources",
    "STDIN_ANNOTATION",
    "STDIN_ONCE_ANNOTATION",
    "SandboxPaths",
    "cpu_quota",
    "cpu_shares",
    "oci_spec",
]

Obj = dict[str, Any]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# containerd's default set (oci/spec.go), which is what Kubernetes users get.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip
ALL_CAPABILITIES = (
    *DEFAULT_CAPABILITIES,
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
STDIN_ANNOTATION = "kybernetes.io/stdin"  # tells the shim to keep stdin open (attach -i)
STDIN_ONCE_ANNOTATION = "kybernetes.io/stdin-once"
CPU_PERIOD = 100_000  # µs, the kernel's and Kubernetes' default


@dataclass(frozen=True)
class Mount:
    destination: str
    source: str
    read_only: bool = False

    def oci(self) -> Obj:
        options = ["rbind", "rprivate", "ro" if self.read_only else "rw"]
        return {"destination": self.destination, "type": "bind", "source": self.source,
                "options": options}  # fmt: skip


@dataclass(frozen=True)
class Resources:
    memory_limit: int | None = None  # bytes
    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    pids_limit: int | None = None


@dataclass(frozen=True)
class SandboxPaths:
    """The pod-level pieces every container of the pod joins."""

    netns: str  # /run/netns/kyb-<uid>, or "" for hostNetwork
    ipc: str  # a pinned IPC namespace file, or "" for hostIPC: the host's
    uts: str  # a pinned UTS namespace file (hostname already set), "" for the host's
    cgroup_parent: str  # e.g. /kubepods/pod<uid>
    shm: str = ""  # the pod's /dev/shm, shared by its containers
    # A PID namespace to join instead of a new one: a running process's
    # /proc/PID/ns/pid (an ephemeral container's target's).
    pid: str = ""
    host_pid: bool = False  # hostPID: no PID namespace of its own, the host's


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    image_config: Mapping[str, Any]  # the OCI image config's "config" object
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # resolved pod env, in order
    working_dir: str = ""
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: Sequence[int] = ()
    privileged: bool = False
    add_capabilities: Sequence[str] = ()
    drop_capabilities: Sequence[str] = ()
    read_only_root: bool = False
    no_new_privileges: bool = False  # allowPrivilegeEscalation: false
    sysctls: Mapping[str, str] = field(default_factory=dict)  # the pod's, set in each container
    mounts: Sequence[Mount] = ()
    resources: Resources = Resources()
    tty: bool = False  # a terminal (`kubectl run -it`): the shim holds its master side
    stdin: bool = False  # stdin kept open for `kubectl attach -i`
    stdin_once: bool = False  # stdin closes after the first attach session ends


def command_line(config: ContainerConfig) -> list[str]:
    """Kubernetes' rule: command replaces Entrypoint (and drops Cmd); args replace Cmd."""
    image = config.image_config
    entrypoint = list(config.command) if config.command else list(image.get("Entrypoint") or [])
    if config.args:
        arguments = list(config.args)
    elif config.command:
        arguments = []
    else:
        arguments = list(image.get("Cmd") or [])
    return entrypoint + arguments


def _environment(config: ContainerConfig) -> list[str]:
    merged: dict[str, str] = {}
    for entry in config.image_config.get("Env") or []:
        key, _, value = str(entry).partition("=")
        merged[key] = value
    merged.update(config.env)
    merged.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in merged.items()]


def _user(config: ContainerConfig) -> Obj:
    """runAsUser/runAsGroup win over the image's numeric `User` ("uid[:gid]")."""
    image_user = str(config.image_config.get("User") or "")
    uid_text, _, gid_text = image_user.partition(":")
    uid = config.run_as_user
    if uid is None:
        uid = int(uid_text) if uid_text.isdigit() else 0
    gid = config.run_as_group
    if gid is None:
        gid = int(gid_text) if gid_text.isdigit() else 0
    return {"uid": uid, "gid": gid, "additionalGids": sorted(set(config.supplemental_groups))}


def _capabilities(config: ContainerConfig) -> list[str]:
    if config.privileged:
        return list(ALL_CAPABILITIES)

    def canonical(name: str) -> str:
        name = name.upper()
        return name if name.startswith("CAP_") else f"CAP_{name}"

    drop = {canonical(c) for c in config.drop_capabilities}
    caps = [] if "CAP_ALL" in drop else [c for c in DEFAULT_CAPABILITIES if c not in drop]
    for cap in config.add_capabilities:
        wanted = canonical(cap)
        if wanted == "CAP_ALL":
            return list(ALL_CAPABILITIES)
        if wanted not in caps:
            caps.append(wanted)
    return caps


def cpu_shares(request_millis: int | None) -> int:
    """cpu.shares from the request, as the kubelet computes it (minimum 2)."""
    if not request_millis:
        return 2
    return max(2, request_millis * 1024 // 1000)


def cpu_quota(limit_millis: int | None) -> int | None:
    """cpu.cfs_quota_us for a limit (minimum 1 ms), None when unlimited."""
    if not limit_millis:
        return None
    return max(1000, limit_millis * CPU_PERIOD // 1000)


def _resources(resources: Resources) -> Obj:
    out: Obj = {"devices": [{"allow": False, "access": "rwm"}],
                "cpu": {"shares": cpu_shares(resources.cpu_request_millis)}}  # fmt: skip
    quota = cpu_quota(resources.cpu_limit_millis)
    if quota is not None:
        out["cpu"].update(quota=quota, period=CPU_PERIOD)
    if resources.memory_limit:
        out["memory"] = {"limit": resources.memory_limit}
    if resources.pids_limit:
        out["pids"] = {"limit": resources.pids_limit}
    return out


def _standard_mounts(sandbox: SandboxPaths, privileged: bool) -> list[Obj]:
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "rw" if privileged else "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "rw" if privileged else "ro"]},
    ]  # fmt: skip
    if sandbox.shm:
        mounts.append(Mount("/dev/shm", sandbox.shm).oci())
    else:
        options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": options})  # fmt: skip
    return mounts


def _namespaces(sandbox: SandboxPaths) -> list[Obj]:
    """The namespaces runc makes or joins; one left out is the host's (runc's own)."""
    namespaces: list[Obj] = []
    if not sandbox.host_pid:
        pid = {"type": "pid", "path": sandbox.pid} if sandbox.pid else {"type": "pid"}
        namespaces.append(pid)
    namespaces.append({"type": "mount"})
    for kind, path in (("network", sandbox.netns), ("ipc", sandbox.ipc), ("uts", sandbox.uts)):
        if path:
            namespaces.append({"type": kind, "path": path})
    return namespaces


def oci_spec(config: ContainerConfig, sandbox: SandboxPaths, *, container_id: str) -> Obj:
    """The config.json of one container of a pod."""
    args = command_line(config)
    if not args:
        raise ValueError(f"container {config.name!r}: no command: the image has no "
                         "Entrypoint or Cmd and the pod gives no command")  # fmt: skip
    caps = _capabilities(config)
    process: Obj = {
        "terminal": config.tty,
        "user": _user(config),
        "args": args,
        "env": _environment(config),
        "cwd": config.working_dir or str(config.image_config.get("WorkingDir") or "/"),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": config.no_new_privileges,
        # No rlimits: containers inherit the node's (containerd's 1048576 open files
        # exceeds the hard limit some machines have, and runc then refuses to start).
    }
    linux: Obj = {
        "namespaces": _namespaces(sandbox),
        "cgroupsPath": f"{sandbox.cgroup_parent}/{container_id}",
        "resources": _resources(config.resources),
    }
    if config.sysctls:
        # Namespaced sysctls, written into the pod's shared IPC/network namespaces by every
        # container alike (the kubelet sets them once, on the sandbox).
        linux["sysctl"] = dict(config.sysctls)
    if not config.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    else:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    mounts = _standard_mounts(sandbox, config.privileged) + [m.oci() for m in config.mounts]
    annotations = {STDIN_ANNOTATION: "true"} if config.stdin else {}
    if config.stdin and config.stdin_once:
        annotations[STDIN_ONCE_ANNOTATION] = "true"
    return {
        "ociVersion": "1.0.2",
        "annotations": annotations,
        "process": process,
        "root": {"path": "rootfs", "readonly": config.read_only_root},
        "mounts": mounts,
        "linux": linux,
    }
