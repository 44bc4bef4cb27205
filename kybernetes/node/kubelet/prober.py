"""Running probes and lifecycle hooks against real containers; one timer per probe.

The decisions are in `probes.py`; this module does the I/O:

- httpGet and tcpSocket connect to the pod IP from the node's host network
  namespace, as a kubelet does. When that "host" is a named namespace (a
  node under test, node-runtime.md pitfall 6), the sockets are opened on
  dedicated threads that entered it with setns(CLONE_NEWNET) once (the
  network namespace is per thread; Python 3.11 has no os.setns), so the
  event loop's thread never changes namespace.
- exec runs `runc exec` in the container (stdio on pipes, no terminal:
  pitfall 9), with the probe's timeout; exit code 0 is success.
- grpc calls `grpc.health.v1.Health/Check` (grpcprobe.py, HTTP/2 from the
  `h2` library) on the same threads: SERVING passes, anything else fails
  with the kubelet's words.

`ProbeManager` keeps one asyncio task per probe of each running container
attempt, on its own timer (not in the pod's sync loop), and calls
`on_change` when a result flips, so the pod worker looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from kybernetes.node.kubelet.grpcprobe import grpc_health_check
from kybernetes.node.kubelet.probes import (
    ProbeKind,
    ProbeSpec,
    ProbeTracker,
    dial_error,
    handler_kind,
    http_success,
    http_target,
    next_delay,
    probe_spec,
    resolve_port,
    should_probe,
    unhealthy_message,
)
from kybernetes.node.runtime.base import ExecArgv
from kybernetes.util.tasks import cancel_and_wait
from kybernetes.util.tls import unverified_client_context

__all__ = ["Outcome", "ProbeManager", "Prober"]

Obj = dict[str, Any]
T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
BODY_LIMIT = 10 * 1024  # what a probe reads of a response body at most


@dataclass(frozen=True)
class Outcome:
    success: bool
    output: str = ""
    warning: str = ""


def _enter_netns(netns: str | None) -> None:
    """Thread initializer: move this (pool) thread into the named network namespace."""
    if not netns:
        return
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns into {netns}: {os.strerror(code)}")
    finally:
        os.close(fd)


# Probes do not verify certificates (as a kubelet); one context for every probe.
_UNVERIFIED = unverified_client_context()


def _http_get(url_host: str, port: int, *, scheme: str, path: str,
              headers: tuple[tuple[str, str], ...], timeout: float) -> int:  # fmt: skip
    """One GET (blocking); the status code. Certificates are not verified, as a kubelet."""
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(url_host, port, timeout=timeout,
                                                 context=_UNVERIFIED)  # fmt: skip
    else:
        connection = http.client.HTTPConnection(url_host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=dict(headers))
        response = connection.getresponse()
        response.read(BODY_LIMIT)
        return response.status
    finally:
        connection.close()


def _tcp_connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _kill_from_pid_file(path: str) -> None:
    try:
        with open(path) as file:
            pid = int(file.read().strip())
    except (OSError, ValueError):
        return  # not started yet, or already gone
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Prober:
    """Runs one probe or hook action for a container of a pod."""

    def __init__(self, *, runc_root: str, host_netns: str | None,
                 exec_argv: ExecArgv | None = None) -> None:  # fmt: skip
        self._runc_root = runc_root
        self._exec_argv = exec_argv  # the runtime's `runc exec` (None: runc under runc_root)
        self._host_netns = host_netns
        self._pool: ThreadPoolExecutor | None = None

    async def _in_host_netns(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._pool is None:  # made on first use: most pods never need it
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kyb-probe",
                                            initializer=_enter_netns,
                                            initargs=(self._host_netns,))  # fmt: skip
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def http_get(self, action: Obj, container: Obj, pod_ip: str, limit: float,
                       *, check_status: bool = True) -> Outcome:  # fmt: skip
        try:
            target = http_target(action, container, pod_ip)
        except ValueError as err:
            return Outcome(False, str(err))
        try:
            code = await self._in_host_netns(_http_get, target.host, target.port,
                                             scheme=target.scheme, path=target.path,
                                             headers=target.headers, timeout=limit)  # fmt: skip
        except (OSError, http.client.HTTPException) as err:
            said = dial_error(target.host, target.port, err) if isinstance(err, OSError) else (
                str(err) or type(err).__name__)  # fmt: skip
            if isinstance(err, TimeoutError):
                said = ("context deadline exceeded (Client.Timeout exceeded while awaiting "
                        "headers)")  # fmt: skip
            return Outcome(False, f'Get "{target.url}": {said}')
        if check_status and not http_success(code):
            return Outcome(False, f"HTTP probe failed with statuscode: {code}")
        return Outcome(True)

    async def tcp_socket(self, action: Obj, container: Obj, pod_ip: str,
                         limit: float) -> Outcome:  # fmt: skip
        host = str(action.get("host") or pod_ip)
        try:
            port = resolve_port(action.get("port"), container)
        except ValueError as err:
            return Outcome(False, str(err))
        try:
            await self._in_host_netns(_tcp_connect, host, port, limit)
        except OSError as err:
            return Outcome(False, dial_error(host, port, err))
        return Outcome(True)

    async def exec(self, container_id: str, command: list[str],
                   limit: float | None) -> tuple[int | None, str]:  # fmt: skip
        """`runc exec` the command; (exit code or None on timeout, combined output).

        On a timeout (or cancellation) the command itself is killed too, not
        only runc: a hung probe must not pile up processes in the container.
        """
        with tempfile.TemporaryDirectory(prefix="kyb-exec-") as scratch:
            pid_file = os.path.join(scratch, "pid")
            argv = ["runc", "--root", self._runc_root, "exec", "--pid-file", pid_file,
                    container_id, *command]  # fmt: skip
            if self._exec_argv is not None:
                argv = self._exec_argv(container_id, command, pid_file=pid_file)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                async with asyncio.timeout(limit):
                    out, _ = await process.communicate()
            except TimeoutError:
                return None, ""
            finally:
                if process.returncode is None:
                    _kill_from_pid_file(pid_file)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await asyncio.shield(process.wait())
        return process.returncode, out.decode(errors="replace")

    async def probe(self, spec: ProbeSpec, container: Obj, container_id: str,
                    pod_ip: str) -> Outcome:  # fmt: skip
        kind = handler_kind(spec.handler)
        if kind == "httpGet":
            return await self.http_get(spec.handler["httpGet"], container, pod_ip, spec.timeout)
        if kind == "tcpSocket":
            return await self.tcp_socket(spec.handler["tcpSocket"], container, pod_ip,
                                         spec.timeout)  # fmt: skip
        if kind == "exec":
            command = [str(a) for a in spec.handler["exec"].get("command") or []]
            code, output = await self.exec(container_id, command, spec.timeout)
            if code is None:
                return Outcome(False, f'command "{" ".join(command)}" timed out')
            return Outcome(code == 0, output.strip() if code else "")
        if kind == "grpc":
            grpc = spec.handler["grpc"]
            try:
                port = resolve_port(grpc.get("port"), container)
            except ValueError as err:
                return Outcome(False, str(err))
            serving, said = await self._in_host_netns(
                grpc_health_check, pod_ip, port, str(grpc.get("service") or ""), spec.timeout
            )
            return Outcome(serving, said)
        return Outcome(False, f"unknown probe handler: {spec.handler}")

    async def hook(self, handler: Obj, container: Obj, container_id: str,
                   pod_ip: str) -> tuple[str, str] | None:  # fmt: skip
        """Run a lifecycle handler; None on success, else (error, output)."""
        kind = handler_kind(handler)
        if kind == "exec":
            command = [str(a) for a in handler["exec"].get("command") or []]
            code, output = await self.exec(container_id, command, None)
            if code != 0:
                return f"command '{' '.join(command)}' exited with {code}: {output}", output
            return None
        if kind == "httpGet":
            # As the kubelet: only a failed request fails an HTTP hook, not its status code.
            outcome = await self.http_get(handler["httpGet"], container, pod_ip, 10.0,
                                          check_status=False)  # fmt: skip
            return None if outcome.success else (outcome.output, "")
        if kind == "sleep":
            await asyncio.sleep(float(handler["sleep"].get("seconds") or 0))
            return None
        return "invalid handler", ""


@dataclass
class _Attempt:
    container: Obj
    container_id: str
    trackers: dict[ProbeKind, ProbeTracker]
    tasks: list[asyncio.Task[None]]


class ProbeManager:
    """The probes of one pod's running containers, each on its own timer."""

    def __init__(
        self,
        prober: Prober,
        *,
        on_change: Callable[[], None],
        event: Callable[[str, str, str], None],
        pod_ip: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prober = prober
        self._on_change = on_change
        self._event = event  # (type, reason, message) about the pod
        self._pod_ip = pod_ip
        self._clock = clock
        self._attempts: dict[str, _Attempt] = {}  # container name -> its current attempt

    def ensure(self, container: Obj, container_id: str, *, started_at: float,
               adopted: bool) -> None:  # fmt: skip
        """Probe this running attempt (and stop probing an older one of the container)."""
        name = str(container["name"])
        current = self._attempts.get(name)
        if current is not None and current.container_id == container_id:
            return
        self.forget(name)
        trackers = {}
        for kind in ProbeKind:
            spec = probe_spec(container, kind)
            if spec is not None:
                trackers[kind] = ProbeTracker.new(
                    spec, started_before_kubelet=adopted)  # fmt: skip
        attempt = _Attempt(container, container_id, trackers, [])
        self._attempts[name] = attempt
        for kind, tracker in trackers.items():
            attempt.tasks.append(asyncio.create_task(
                self._loop(attempt, tracker, started_at),
                name=f"kyb-probe-{container_id}-{kind.value}"))  # fmt: skip

    def forget(self, name: str) -> None:
        attempt = self._attempts.pop(name, None)
        if attempt is not None:
            for task in attempt.tasks:
                task.cancel()

    async def close(self) -> None:
        attempts = list(self._attempts.values())
        self._attempts.clear()
        for attempt in attempts:
            for task in attempt.tasks:
                await cancel_and_wait(task)
        self._prober.close()

    def _result(self, name: str, container_id: str, kind: ProbeKind) -> bool | None:
        attempt = self._attempts.get(name)
        if attempt is None or attempt.container_id != container_id:
            return None
        tracker = attempt.trackers.get(kind)
        return None if tracker is None else tracker.result

    def started(self, name: str, container_id: str) -> bool:
        """Whether the startup probe (if any) has passed."""
        return self._result(name, container_id, ProbeKind.STARTUP) is not False

    def ready(self, name: str, container_id: str) -> bool:
        """Started, and the readiness probe (if any) passes."""
        readiness = self._result(name, container_id, ProbeKind.READINESS)
        return self.started(name, container_id) and readiness is not False

    def failed(self, name: str, container_id: str) -> ProbeSpec | None:
        """The liveness or startup probe that says this attempt must be killed."""
        attempt = self._attempts.get(name)
        if attempt is None or attempt.container_id != container_id:
            return None
        for kind in (ProbeKind.STARTUP, ProbeKind.LIVENESS):
            tracker = attempt.trackers.get(kind)
            if tracker is not None and tracker.held and not tracker.result:
                return tracker.spec
        return None

    async def _loop(self, attempt: _Attempt, tracker: ProbeTracker, started_at: float) -> None:
        spec, name = tracker.spec, str(attempt.container["name"])
        warned = False
        while not tracker.held:
            now = self._clock()
            await asyncio.sleep(next_delay(spec, started_at=started_at,
                                           last_probe=tracker.last_probe, now=now))  # fmt: skip
            if not should_probe(spec.kind, started=self.started(name, attempt.container_id)):
                if spec.kind is ProbeKind.STARTUP:
                    return  # started: this probe's work is done
                tracker.last_probe = self._clock()  # look again a period later
                continue
            outcome = await self._prober.probe(spec, attempt.container, attempt.container_id,
                                               self._pod_ip())  # fmt: skip
            if outcome.warning and not warned:
                warned = True
                self._event("Warning", "ProbeWarning",
                            f"{spec.kind.title} probe warning: {outcome.warning}")  # fmt: skip
            changed = tracker.observe(outcome.success, now=self._clock())
            if not outcome.success:
                self._event("Warning", "Unhealthy", unhealthy_message(spec.kind, outcome.output))
            if changed or tracker.held:
                self._on_change()
