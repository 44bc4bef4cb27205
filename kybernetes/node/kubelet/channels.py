"""The channel protocol of `kubectl exec` and `kubectl attach` (`v5.channel.k8s.io`).

Every WebSocket message is binary: byte 0 names the channel, the rest is
payload. kubectl writes stdin (0), a resize (4, JSON `{"Width","Height"}`)
and, in v5 only, a close signal (255, payload = the channel it closed:
`[255, 0]` means stdin reached EOF). The kubelet writes stdout (1), stderr
(2) and, once, the outcome on the error channel (3) as a `metav1.Status`:
`Success`, or `Failure` with reason `NonZeroExitCode` and the exit code in
`details.causes[0].message` (kubectl exits with that code), or an
`InternalError` when the command could not run at all. The first protocol,
`channel.k8s.io` (what the exec conformance test still opens), has the
same channels but no Status: the error channel carries only a failure's
message, and nothing on success (kube's v1WriteStatusFunc). Pure
functions, so the wire format is tested without sockets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLOSE",
    "ERROR",
    "EXEC_PROTOCOLS",
    "PROTOCOLS",
    "RESIZE",
    "STDERR",
    "STDIN",
    "STDOUT",
    "Resize",
    "error_payload",
    "exit_status",
    "frame",
    "internal_error",
    "parse_frame",
    "parse_resize",
]

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
# What we speak, best first. v4 lacks only the close signal (stdin EOF).
# Twin: kybernetes/apiserver/podstreams.py CHANNEL_PROTOCOLS.
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
V1_PROTOCOL = "channel.k8s.io"
# exec and attach also speak the first version, as kube's remotecommand does;
# port-forward (PROTOCOLS) never had it. Twin: apiserver/podstreams.py EXEC_PROTOCOLS.
EXEC_PROTOCOLS = (*PROTOCOLS, V1_PROTOCOL)


@dataclass(frozen=True)
class Resize:
    width: int
    height: int


def frame(channel: int, payload: bytes) -> bytes:
    """One message: the channel byte, then the payload."""
    return bytes((channel,)) + payload


def parse_frame(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of one message; an empty message is an empty stdin write."""
    if not message:
        return STDIN, b""
    return message[0], message[1:]


def parse_resize(payload: bytes) -> Resize | None:
    """The terminal size kubectl sent, None when it is not a usable size."""
    try:
        size = json.loads(payload)
        width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if not (0 < width < 65536 and 0 < height < 65536):
        return None
    return Resize(width, height)


def _status(body: dict[str, Any]) -> bytes:
    return json.dumps({"metadata": {}, **body}, separators=(",", ":")).encode()


def exit_status(code: int, command: list[str]) -> bytes:
    """The error channel's last word on a command that ran: success or its exit code."""
    if code == 0:
        return _status({"status": "Success"})
    said = f"command '{' '.join(command)}' exited with {code}"
    return _status({
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {said}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    })  # fmt: skip


def error_payload(protocol: str, status: bytes) -> bytes | None:
    """What the error channel carries of `status` under `protocol`; None: send nothing."""
    if protocol != V1_PROTOCOL:
        return status
    body = json.loads(status)
    if body.get("status") == "Success":
        return None
    return str(body.get("message", "")).encode()


def internal_error(message: str) -> bytes:
    """The command could not be run (kubectl prints it and exits 1)."""
    return _status({
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })  # fmt: skip
