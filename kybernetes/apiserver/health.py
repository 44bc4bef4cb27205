"""/healthz, /livez and /readyz, answered as kube-apiserver answers them.

Each endpoint runs named checks. Plain, it answers `ok` (200) when all pass;
`?verbose` lists each check (`[+]ping ok`) and ends with `readyz check
passed`; a failure answers 500 with the list (`[-]informer-sync failed:
reason withheld`) and `readyz check failed`. `?exclude=NAME` skips a check
(listed as `[+]NAME excluded: ok`), and `/readyz/NAME` runs one check alone.
The checks are ours: `ping` (the server answers), `informer-sync` (the watch
caches are filled: what `kubectl get` needs) and, for /readyz, `shutdown`
(the server is not stopping).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

__all__ = ["Check", "one_check", "report"]

# A check's name and what it says: None when it passes, else why it fails.
Check = tuple[str, Callable[[], str | None]]


def report(
    endpoint: str, checks: Sequence[Check], *, verbose: bool, exclude: Collection[str] = ()
) -> tuple[int, str]:
    """The status and text of `/<endpoint>` (`readyz`, `livez`, `healthz`)."""
    lines, failed = [], False
    for name, check in checks:
        if name in exclude:
            lines.append(f"[+]{name} excluded: ok")
            continue
        reason = check()
        failed = failed or reason is not None
        # kube-apiserver logs the reason and withholds it from the client.
        lines.append(f"[+]{name} ok" if reason is None else f"[-]{name} failed: reason withheld")
    unknown = sorted(set(exclude) - {name for name, _ in checks})
    if unknown:
        listed = ",".join(f'"{name}"' for name in unknown)
        lines.append(f"warn: some health checks cannot be excluded: no matches for {listed}")
    if failed:
        return 500, "\n".join([*lines, f"{endpoint} check failed"]) + "\n"
    if not verbose:
        return 200, "ok"
    return 200, "\n".join([*lines, f"{endpoint} check passed"]) + "\n"


def one_check(checks: Sequence[Check], name: str) -> tuple[int, str] | None:
    """`/<endpoint>/NAME`: `ok`, or 500 with the reason; None for an unknown check."""
    for known, check in checks:
        if known == name:
            reason = check()
            return (200, "ok") if reason is None else (500, f"internal server error: {reason}")
    return None
