"""Restart policy and CrashLoopBackOff, as the kubelet decides them.

A container that ended restarts per the pod's `restartPolicy`; repeated
failures wait longer each time: Kubernetes' flowcontrol back-off, 10 s
doubling to 5 min, forgotten once a container has not failed for twice
the maximum (10 min). The first restart is immediate (no back-off entry
yet), as on a real node. Times are plain seconds passed in: tests choose
them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INITIAL_BACKOFF", "MAX_BACKOFF", "CrashLoopBackoff", "backoff_message",
           "should_restart"]  # fmt: skip

INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0


def should_restart(policy: str, exit_code: int) -> bool:
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code != 0
    return True  # Always (the default)


def backoff_message(delay: float, container: str, pod: str, namespace: str, uid: str) -> str:
    """The CrashLoopBackOff waiting message, as kubectl describe shows it."""
    shown = f"{int(delay // 60)}m{int(delay % 60)}s" if delay >= 60 else f"{int(delay)}s"
    return f"back-off {shown} restarting failed container={container} pod={pod}_{namespace}({uid})"


@dataclass
class _Entry:
    delay: float
    updated: float


class CrashLoopBackoff:
    """Per-container back-off (keyed by pod uid + container name)."""

    def __init__(self, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, at: float) -> bool:
        return at - entry.updated > 2 * self.maximum

    def wait(self, key: str, *, finished_at: float, now: float) -> float:
        """Seconds to wait before restarting a container that ended at `finished_at` (0: go)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, finished_at):
            return 0.0
        return max(0.0, entry.delay - (now - finished_at))

    def wait_since_failure(self, key: str, *, now: float) -> float:
        """Seconds left of the back-off counted from the last recorded failure (0: go).

        For image pulls, whose failures leave no container `finishedAt`.
        """
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return self.wait(key, finished_at=entry.updated, now=now)

    def restarted(self, key: str, *, finished_at: float) -> float:
        """Record a restart after the failure at `finished_at`; the next back-off."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, finished_at):
            entry = self._entries[key] = _Entry(self.initial, finished_at)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.updated = finished_at
        return entry.delay

    def current(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else self.initial

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)
