"""Container probes and lifecycle hooks: the decisions, as pure functions.

What a probe means is decided here, with no I/O and time passed in, so
every rule is a unit test; `prober.py` does the probing. The rules are the
kubelet's prober worker's:

- A probe's defaults: periodSeconds 10, timeoutSeconds 1, successThreshold
  1 (always 1 for liveness and startup), failureThreshold 3; nothing runs
  before initialDelaySeconds have passed since the container started.
- A result flips only after `threshold` equal outcomes in a row. Readiness
  starts as failure (not ready until a probe succeeds), liveness as success,
  startup as failure. A container that was already running when the
  kubelet (re)started counts as started: it was probed to start before.
- Startup gates the others: while it has not succeeded, liveness and
  readiness do not run; once it has, it runs no more.
- A liveness or startup failure holds that probe until the container is
  replaced (the worker of the next attempt starts afresh).
- httpGet succeeds on 200-399; its host defaults to the pod IP, its port is
  a number or the name of a container port; tcpSocket succeeds on connect;
  exec on exit code 0. Messages are worded as the kubelet words them.
"""

from __future__ import annotations

import enum
import errno
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_PERIOD",
    "HttpTarget",
    "ProbeKind",
    "ProbeSpec",
    "ProbeTracker",
    "dial_error",
    "handler_kind",
    "hook_failure_message",
    "http_success",
    "http_target",
    "kill_message",
    "next_delay",
    "probe_spec",
    "resolve_port",
    "should_probe",
    "unhealthy_message",
]

Obj = dict[str, Any]
DEFAULT_PERIOD = 10.0
DEFAULT_TIMEOUT = 1.0
DEFAULT_FAILURE_THRESHOLD = 3
PROBE_USER_AGENT = "kube-probe/1.32"


class ProbeKind(enum.StrEnum):
    LIVENESS = "liveness"
    READINESS = "readiness"
    STARTUP = "startup"

    @property
    def field(self) -> str:
        return f"{self.value}Probe"

    @property
    def title(self) -> str:  # type: ignore[override]
        return self.value.capitalize()


@dataclass(frozen=True)
class ProbeSpec:
    kind: ProbeKind
    handler: Obj  # the probe object: exactly one of exec, httpGet, tcpSocket, grpc
    initial_delay: float = 0.0
    period: float = DEFAULT_PERIOD
    timeout: float = DEFAULT_TIMEOUT
    success_threshold: int = 1
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    termination_grace: float | None = None  # the probe-level override for the kill


def _positive(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def probe_spec(container: Obj, kind: ProbeKind) -> ProbeSpec | None:
    """The container's probe of this kind with Kubernetes' defaults, None if it has none."""
    probe = container.get(kind.field)
    if not isinstance(probe, Mapping) or handler_kind(probe) is None:
        return None
    success = int(_positive(probe.get("successThreshold"), 1))
    if kind is not ProbeKind.READINESS:
        success = 1  # validation insists on 1 for liveness and startup
    grace = probe.get("terminationGracePeriodSeconds")
    return ProbeSpec(
        kind=kind,
        handler=dict(probe),
        initial_delay=max(0.0, float(probe.get("initialDelaySeconds") or 0)),
        period=_positive(probe.get("periodSeconds"), DEFAULT_PERIOD),
        timeout=_positive(probe.get("timeoutSeconds"), DEFAULT_TIMEOUT),
        success_threshold=success,
        failure_threshold=int(_positive(probe.get("failureThreshold"),
                                        DEFAULT_FAILURE_THRESHOLD)),
        termination_grace=float(grace) if grace is not None else None,
    )  # fmt: skip


def handler_kind(handler: Mapping[str, Any]) -> str | None:
    """Which action a probe or lifecycle handler holds."""
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        if handler.get(kind) is not None:
            return kind
    return None


@dataclass
class ProbeTracker:
    """One probe's running result for one container attempt."""

    spec: ProbeSpec
    result: bool = False
    run: int = 0  # how many equal outcomes in a row
    last_outcome: bool | None = None
    held: bool = False  # a liveness/startup failure: no more probing of this attempt
    last_probe: float | None = None

    @classmethod
    def new(cls, spec: ProbeSpec, *, started_before_kubelet: bool = False) -> ProbeTracker:
        initial = spec.kind is ProbeKind.LIVENESS or (
            spec.kind is ProbeKind.STARTUP and started_before_kubelet)  # fmt: skip
        return cls(spec, result=initial)

    def observe(self, success: bool, *, now: float) -> bool:
        """Count one outcome; True when the probe's result changed."""
        self.last_probe = now
        if success == self.last_outcome:
            self.run += 1
        else:
            self.last_outcome, self.run = success, 1
        threshold = self.spec.success_threshold if success else self.spec.failure_threshold
        if self.run < threshold:
            return False
        changed = self.result != success
        self.result = success
        if not success and self.spec.kind is not ProbeKind.READINESS:
            # The container is about to be killed: count afresh if it is not.
            self.held, self.run = True, 0
        return changed


def should_probe(kind: ProbeKind, *, started: bool) -> bool:
    """Startup probes run until the container has started, the others only after."""
    return not started if kind is ProbeKind.STARTUP else started


def next_delay(spec: ProbeSpec, *, started_at: float, last_probe: float | None,
               now: float) -> float:  # fmt: skip
    """Seconds until this probe is due: initialDelaySeconds after start, then every period."""
    due = started_at + spec.initial_delay if last_probe is None else last_probe + spec.period
    return max(0.0, due - now)


def resolve_port(port: Any, container: Obj) -> int:
    """A port number, or the name of one of the container's ports."""
    if isinstance(port, int):
        number = port
    elif isinstance(port, str) and port.isdigit():
        number = int(port)
    else:
        for entry in container.get("ports") or []:
            if entry.get("name") == port:
                number = int(entry.get("containerPort", 0))
                break
        else:
            raise ValueError(f"couldn't find port: {port} in {container.get('name', '')}")
    if not 0 < number < 65536:
        raise ValueError(f"invalid port number: {number}")
    return number


@dataclass(frozen=True)
class HttpTarget:
    scheme: str  # "http" or "https"
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def http_target(action: Obj, container: Obj, pod_ip: str) -> HttpTarget:
    """Where an httpGet action goes: host defaults to the pod IP, path to /."""
    path = str(action.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    headers: dict[str, str] = {"User-Agent": PROBE_USER_AGENT, "Accept": "*/*"}
    for header in action.get("httpHeaders") or []:
        name = str(header.get("name", ""))
        if name:  # a user header replaces the default of the same name
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = str(header.get("value", ""))
    return HttpTarget(
        scheme=str(action.get("scheme") or "HTTP").lower(),
        host=str(action.get("host") or pod_ip),
        port=resolve_port(action.get("port"), container),
        path=path,
        headers=tuple(headers.items()),
    )


def http_success(code: int) -> bool:
    return 200 <= code < 400


_DIAL_ERRORS = {
    errno.ECONNREFUSED: "connect: connection refused",
    errno.EHOSTUNREACH: "connect: no route to host",
    errno.ENETUNREACH: "connect: network is unreachable",
    errno.ECONNRESET: "read: connection reset by peer",
}


def dial_error(host: str, port: int, error: BaseException) -> str:
    """A failed connect as Go's dialer words it (what kubectl describe shows)."""
    if isinstance(error, TimeoutError):
        said = "i/o timeout"
    elif isinstance(error, OSError) and error.errno in _DIAL_ERRORS:
        said = _DIAL_ERRORS[error.errno]
    else:
        said = str(error) or type(error).__name__
    return f"dial tcp {host}:{port}: {said}"


def unhealthy_message(kind: ProbeKind, output: str) -> str:
    """The Unhealthy Event's message."""
    return f"{kind.title} probe failed: {output}"


def kill_message(kind: ProbeKind, container: str) -> str:
    """The Killing Event's message when a probe failure takes a container down."""
    return f"Container {container} failed {kind.value} probe, will be restarted"


def _quote(text: str) -> str:
    """Go's %q for plain text (JSON string escaping is the same for what appears here)."""
    return json.dumps(text, ensure_ascii=False)


def hook_failure_message(handler: Obj, *, container: str, pod: str, error: str,
                         output: str = "") -> str:  # fmt: skip
    """FailedPostStartHook / FailedPreStopHook message; `pod` as name_namespace(uid)."""
    kind = handler_kind(handler)
    if kind == "exec":
        command = "[" + " ".join(str(a) for a in (handler["exec"].get("command") or [])) + "]"
        return (f"Exec lifecycle hook ({command}) for Container {_quote(container)} in Pod "
                f"{_quote(pod)} failed - error: {error}, message: {_quote(output)}")  # fmt: skip
    if kind == "httpGet":
        path = str(handler["httpGet"].get("path", ""))
        return (f'HTTP lifecycle hook ({path}) for Container "{container}" in Pod "{pod}" '
                f"failed - error: {error}")  # fmt: skip
    if kind == "sleep":
        seconds = handler["sleep"].get("seconds", 0)
        return (f'Sleep lifecycle hook ({seconds}) for Container "{container}" in Pod "{pod}" '
                f"failed - error: {error}")  # fmt: skip
    return f"Cannot run handler: invalid handler: {handler}"
