"""The process that holds a pod's shared PID namespace (`shareProcessNamespace`).

Run as a script, standard library only, with `python -I -S` (no site
packages: it starts in about 10 ms): it makes a new PID namespace, forks
the namespace's PID 1, prints that process's pid as the node sees it and
exits. PID 1 does what Kubernetes' pause container does (and shows as it
does in `ps`: `/pause`): it lives as long
as the pod, so containers can come and go in the namespace (when a
namespace's PID 1 ends, the kernel kills everything in it), and it reaps
the orphans reparented to it, until SIGTERM or SIGINT. It runs in its own
session, so stopping the kubelet does not stop it: containers outlive the
kubelet, and so does their namespace.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

CLONE_NEWPID = 0x20000000
PR_SET_NAME = 15
ARG_START_FIELD = 45  # arg_start in /proc/self/stat, counted after the command's name
SHOWN = b"/pause"
_STOP = (signal.SIGTERM, signal.SIGINT)


def hold() -> None:
    """PID 1 of the namespace: reap every child that ends, until asked to stop."""
    _show_as_pause()
    waited = {signal.SIGCHLD, *_STOP}
    # Blocked signals are queued, never discarded, even for a namespace's init.
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    while signal.sigwaitinfo(waited).si_signo == signal.SIGCHLD:
        _reap()
    os._exit(0)


def _show_as_pause() -> None:
    """Our command line and name as kube's pause container has them, not the
    interpreter's (which names a path on the node): the arguments' own memory
    rewritten in place, as setproctitle does (the interpreter copied them at
    start and never reads them again)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, b"pause", 0, 0, 0)
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    start, end = int(fields[ARG_START_FIELD]), int(fields[ARG_START_FIELD + 1])
    if end - start > len(SHOWN):
        ctypes.memset(start, 0, end - start)
        ctypes.memmove(start, SHOWN, len(SHOWN))


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> int:
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWPID) != 0:
        print(f"unshare(CLONE_NEWPID): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the kubelet reads our stdout to its end
            os.dup2(null, fd)
        hold()
    print(pid, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
