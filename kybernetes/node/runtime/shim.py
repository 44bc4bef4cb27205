"""The per-container shim: keeps a container's logs and exit code, outliving the kubelet.

runc records no exit code, and `runc run -d` hands its stdio to the
container (node-runtime.md §2), so something must hold the container's
output pipes and be there to reap it. This small program is that
something, as conmon is for CRI-O:

    python -m kybernetes.node.runtime.shim --root R --id ID --bundle B --dir D

It forks; the parent waits until the container runs and exits 0 (or
prints runc's error and exits 1), so the caller gets a plain start-or-fail
answer. The child makes itself a session leader and a child subreaper,
runs `runc run -d` (create and start in one runc process: about 11 ms less
than `create` + `start`) with the container's stdout and stderr on
pipes, writes them to `D/container.log` as CRI log lines (`<time> stdout
F <line>`, `P` for a partial line), and when the container's init process
ends it reaps it and writes `D/exit.json` atomically: exit code (128 +
signal when killed), signal, finish time, and whether the memory cgroup
saw an OOM kill (read before anyone runs `runc delete`). The kubelet may
restart any number of times meanwhile; exit.json is the truth it reads.

With `--process` (the process runtime, no root or runc needed) the shim
starts the command of the bundle's config.json itself, as its child, in
a process group of its own (the group is what `kill` signals), with the
spec's args, env and cwd, and its user only when the shim runs as root.
The command runs from create on: there is no created-but-not-started
state without runc. When the command ends, whatever it left behind (its
group, and orphans that the subreaper inherited) is killed, as the end of
a container's init ends its PID namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from kybernetes.node.runtime.interactive import (
    interactive_options,
    listen_console,
    receive_master,
    start_relays,
)

__all__ = ["cri_line", "find_program", "launch", "main", "parse_args", "process_options"]

PR_SET_CHILD_SUBREAPER = 36
CHUNK = 16384
MAX_LINE = 16384  # longer lines are split into partial (P) records, as CRI runtimes do


def cri_line(stream: str, text: bytes, *, partial: bool, now: datetime.datetime) -> bytes:
    """One CRI log record (what `kubectl logs` reads through the kubelet)."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tag = b"P" if partial else b"F"
    return f"{stamp} {stream} ".encode() + tag + b" " + text + b"\n"


class LogWriter:
    """Both streams into one file, whole records at a time."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim
        self._lock = threading.Lock()

    def write(self, stream: str, text: bytes, *, partial: bool) -> None:
        record = cri_line(stream, text, partial=partial, now=datetime.datetime.now(datetime.UTC))
        with self._lock:
            self._file.write(record)

    def pump(self, stream: str, pipe: IO[bytes]) -> None:
        """Copy one pipe to the log until EOF (every writer, the container's children too, gone)."""
        pending = b""
        while chunk := pipe.read1(CHUNK):  # type: ignore[attr-defined]
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.write(stream, line, partial=False)
            while len(pending) > MAX_LINE:
                self.write(stream, pending[:MAX_LINE], partial=True)
                pending = pending[MAX_LINE:]
        if pending:
            self.write(stream, pending, partial=True)


def _cgroup_oom_kills(bundle: Path) -> int:
    """The memory cgroup's oom_kill counter (cgroup v1), 0 when unknown."""
    try:
        config = json.loads((bundle / "config.json").read_text())
        path = config["linux"]["cgroupsPath"].lstrip("/")
        text = Path("/sys/fs/cgroup/memory", path, "memory.oom_control").read_text()
    except (OSError, KeyError, ValueError):
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill":
            return int(value)
    return 0


def _write_json_atomically(path: Path, data: dict[str, object]) -> None:
    scratch = path.with_suffix(".tmp")
    with open(scratch, "w") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(scratch, path)


def _reap(pid: int) -> int:
    """Wait (as subreaper) until `pid` ends; its raw wait status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        if reaped == pid:
            return status


def _detach(state: Path) -> None:
    """Let go of the caller's stdio: it reads our parent's output to EOF (pitfall 4)."""
    log = os.open(state / "shim.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def _supervise(args: argparse.Namespace, report: int) -> int:
    """The long-lived half: run the container, log it, wait for its end."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    state = Path(args.dir)
    bundle = Path(args.bundle)
    logs = LogWriter(state / "container.log")
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    pid_file = state / "pid"
    if args.process:
        return _supervise_process(bundle, state, logs, report, (out_read, out_write),
                                  (err_read, err_write))  # fmt: skip
    interactive = interactive_options(bundle)
    console = None
    console_args: list[str] = []
    stdin_read = stdin_write = None
    if interactive.terminal:
        console, socket_path = listen_console(state)
        console_args = ["--console-socket", str(socket_path)]
    elif interactive.stdin:
        stdin_read, stdin_write = os.pipe()
    with open(os.devnull, "rb") as devnull:
        created = subprocess.run(
            ["runc", "--root", args.root, "run", "--detach", *console_args,
             "--bundle", str(bundle), "--pid-file", str(pid_file), args.id],
            stdin=devnull if stdin_read is None else stdin_read, stdout=out_write,
            stderr=err_write, check=False,
        )  # fmt: skip
    os.close(out_write)
    os.close(err_write)
    if stdin_read is not None:
        os.close(stdin_read)
    pumps = [
        threading.Thread(target=logs.pump, args=(name, os.fdopen(fd, "rb")), daemon=True)
        for name, fd in (("stdout", out_read), ("stderr", err_read))
    ]
    for pump in pumps:
        pump.start()
    if created.returncode != 0:
        for pump in pumps:
            pump.join(timeout=2)
        tail = (state / "container.log").read_bytes().splitlines()[-3:]
        said = b"; ".join(line.split(b" ", 3)[-1] for line in tail)
        os.write(report, b"runc run failed: " + (said or b"no output"))
        os.close(report)
        return 1
    pid = int(pid_file.read_text().strip())
    if interactive.stdin:
        master = receive_master(console) if console is not None else None
        start_relays(state, logs, interactive, master=master, stdin_write=stdin_write)
    os.write(report, b"ok")
    os.close(report)
    status = _reap(pid)
    oom_kills = _cgroup_oom_kills(bundle)
    for pump in pumps:
        pump.join(timeout=5)  # a daemonised grandchild may hold the pipes: do not wait forever
    signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + signal if signal is not None else os.WEXITSTATUS(status)
    _write_json_atomically(state / "exit.json", {
        "exit_code": code,
        "signal": signal,
        "finished_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "oom_killed": oom_kills > 0 and signal == 9,
    })  # fmt: skip
    return 0


def process_options(config: dict[str, object]) -> dict[str, object]:
    """Popen's arguments for the spec's process (args, env, cwd; user only as root)."""
    process = config["process"]
    assert isinstance(process, dict)
    env = dict(str(item).partition("=")[::2] for item in process.get("env") or [])
    env.setdefault("PATH", os.environ.get("PATH", os.defpath))  # no image gives one
    options: dict[str, object] = {"args": [str(a) for a in process["args"]], "env": env,
                                  "cwd": str(process.get("cwd") or "/")}  # fmt: skip
    user = process.get("user") or {}
    if os.geteuid() == 0 and (user.get("uid") or user.get("gid")):
        options |= {"user": int(user.get("uid", 0)), "group": int(user.get("gid", 0)),
                    "extra_groups": [int(g) for g in user.get("additionalGids") or []]}  # fmt: skip
    return options


def find_program(program: str, env: dict[str, str]) -> str:
    """The program's path, searched in the spec's PATH as Go's LookPath does.

    execvp would say "Permission denied" when some PATH directory cannot be
    read (an unprivileged kubelet), even if the program is simply absent.
    """
    if "/" in program:
        return program
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return found


def _exec_error(err: OSError, program: str) -> str:
    """A failed start in the words runc uses for it."""
    if isinstance(err, FileNotFoundError) and err.filename == program:
        return f'exec: "{program}": executable file not found in $PATH'
    if isinstance(err, FileNotFoundError):
        return (f"chdir to cwd ({err.filename!r}) set in config.json failed: "
                "no such file or directory")  # fmt: skip
    return f'exec: "{program}": {err.strerror or err}'


def _orphans() -> list[int]:
    """Processes whose parent is this shim (its command's leftovers, reparented to it)."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == me:
            found.append(int(entry))
    return found


def _kill_leftovers(group: int) -> None:
    """SIGKILL the command's group and every orphan, and reap them."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, 9)
    for _ in range(100):
        left = _orphans()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)


def _supervise_process(bundle: Path, state: Path, logs: LogWriter, report: int,
                       out: tuple[int, int], err: tuple[int, int]) -> int:  # fmt: skip
    """The process runtime's half: the command is our own child, no runc."""
    options = process_options(json.loads((bundle / "config.json").read_text()))
    argv = options.pop("args")
    assert isinstance(argv, list)
    env = options["env"]
    assert isinstance(env, dict)
    try:
        executable = find_program(str(argv[0]), env)
        with open(os.devnull, "rb") as devnull:
            child = subprocess.Popen(  # type: ignore[call-overload]
                argv, executable=executable, stdin=devnull, stdout=out[1], stderr=err[1],
                process_group=0, close_fds=True, **options,
            )  # fmt: skip
    except OSError as error:
        os.write(report, ("process start failed: " + _exec_error(error, str(argv[0]))).encode())
        os.close(report)
        return 1
    finally:
        os.close(out[1])
        os.close(err[1])
    pid: int = child.pid
    (state / "pid.tmp").write_text(str(pid))
    os.replace(state / "pid.tmp", state / "pid")  # never seen half-written
    pumps = [
        threading.Thread(target=logs.pump, args=(name, os.fdopen(fd, "rb")), daemon=True)
        for name, fd in (("stdout", out[0]), ("stderr", err[0]))
    ]
    for pump in pumps:
        pump.start()
    os.write(report, b"ok")
    os.close(report)
    status = _reap(pid)
    child.returncode = 0  # reaped by us: keep Popen from waiting for it again
    _kill_leftovers(pid)
    for pump in pumps:
        pump.join(timeout=5)
    signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + signal if signal is not None else os.WEXITSTATUS(status)
    _write_json_atomically(state / "exit.json", {
        "exit_code": code,
        "signal": signal,
        "finished_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "oom_killed": False,
    })  # fmt: skip
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kyb-shim")
    parser.add_argument("--root", default="", help="runc's state directory")
    parser.add_argument("--process", action="store_true",
                        help="run the spec's command as a host process, no runc")  # fmt: skip
    parser.add_argument("--id", required=True, help="the container id")
    parser.add_argument("--bundle", required=True, help="the OCI bundle directory")
    parser.add_argument("--dir", required=True, help="where logs and exit.json go")
    return parser.parse_args(argv)


def launch(args: argparse.Namespace) -> str | None:
    """Fork the supervising shim; None once the container exists, else why it does not."""
    report_read, report_write = os.pipe()
    if os.fork() == 0:
        os.close(report_read)
        code = 1
        try:
            _detach(Path(args.dir))
            code = _supervise(args, report_write)
        except BaseException:  # noqa: BLE001 - a forked child must never return into the caller
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(report_write)
    answer = b""
    while chunk := os.read(report_read, 4096):
        answer += chunk
    os.close(report_read)
    if answer == b"ok":
        return None
    return answer.decode(errors="replace") or "the shim died before the container was created"


def main(argv: list[str] | None = None) -> int:
    error = launch(parse_args(argv))
    if error is None:
        return 0
    print(error, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
