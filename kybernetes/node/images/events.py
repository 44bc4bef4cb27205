"""The kubelet's image events and waiting reasons, word for word: pure code.

The kubelet (issue 5's other half) records these on the pod while it makes
sure a container's image is there; keeping the words in one place keeps
them the same everywhere (`kubectl describe pod`, `kubectl get events`).
Each function returns (type, reason, message) for EventRecorder.record.
"""

from __future__ import annotations

from kybernetes.node.images.errors import ImageError

__all__ = [
    "ImageEvent",
    "already_present",
    "back_off",
    "failed",
    "go_duration",
    "invalid_name",
    "never_pull",
    "pulled",
    "pulling",
]

ImageEvent = tuple[str, str, str]


def go_duration(seconds: float) -> str:
    """A duration as Go prints a time.Duration truncated to milliseconds: 512ms, 1.25s, 2m3.5s."""
    ms = max(0, int(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def pulling(image: str) -> ImageEvent:
    return ("Normal", "Pulling", f'Pulling image "{image}"')


def pulled(image: str, *, pull_seconds: float, total_seconds: float, size: int) -> ImageEvent:
    """`total_seconds` includes waiting for the puller (serialized pulls, back-off)."""
    return (
        "Normal",
        "Pulled",
        f'Successfully pulled image "{image}" in {go_duration(pull_seconds)} '
        f"({go_duration(total_seconds)} including waiting). Image size: {size} bytes.",
    )


def already_present(image: str) -> ImageEvent:
    return ("Normal", "Pulled", f'Container image "{image}" already present on machine')


def failed(image: str, error: ImageError) -> ImageEvent:
    """A failed pull; the container then waits with reason `error.reason` (ErrImagePull)."""
    return ("Warning", "Failed", f'Failed to pull image "{image}": {error}')


def back_off(image: str) -> ImageEvent:
    """While backing off; the container waits with reason ImagePullBackOff."""
    return ("Normal", "BackOff", f'Back-off pulling image "{image}"')


def never_pull(image: str) -> ImageEvent:
    return (
        "Warning",
        "ErrImageNeverPull",
        f'Container image "{image}" is not present with pull policy of Never',
    )


def invalid_name(image: str, error: ImageError) -> ImageEvent:
    """An unparsable image; the container waits with reason InvalidImageName."""
    return ("Warning", "InspectFailed", f'Failed to apply default image tag "{image}": {error}')
