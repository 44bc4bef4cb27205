"""The user's kubeconfig: add, replace and remove our cluster, user and context, nothing else.

A kubeconfig belongs to the user and usually holds other clusters, so edits
are surgical: only the three entries named after us (``kybernetes`` by
default) and ``current-context`` change, everything else is written back as it
was read (YAML comments and formatting are lost, as with ``kubectl config``).
The file is replaced atomically and the write takes kubectl's own lock file
(``<file>.lock``), so a concurrent ``kubectl config ...`` never sees half a
file and neither of us loses the other's change.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kybernetes.util.files import write_atomic

__all__ = [
    "DEFAULT_NAME",
    "KubeconfigError",
    "kubeconfig_path",
    "merge_context",
    "remove_context",
    "write_admin_kubeconfig",
]

DEFAULT_NAME = "kybernetes"
SECTIONS = ("clusters", "users", "contexts")
# How long to wait for a `kubectl config` holding `<file>.lock` before giving up.
LOCK_TIMEOUT = 5.0


class KubeconfigError(Exception):
    """A kubeconfig cannot be read or written (one line naming the file)."""


def kubeconfig_path() -> Path:
    """Where to write: the first entry of $KUBECONFIG, else ~/.kube/config.

    kubectl takes current-context from the first file that sets it, so the
    first entry is where a new current-context takes effect (minikube does the same).
    """
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry:
            return Path(entry)
    return Path.home() / ".kube" / "config"


def merge_context(
    path: Path,
    *,
    name: str = DEFAULT_NAME,
    server: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    namespace: str = "default",
) -> None:
    """Add or replace our cluster, user and context in `path` and make the context current."""
    entries = _entries(
        name=name,
        server=server,
        ca_pem=ca_pem,
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        namespace=namespace,
    )
    target = _resolve(path)
    with _locked(target):
        config = _read(target)
        if config is None:
            config = _empty_config()
        for section, entry in zip(SECTIONS, entries, strict=True):
            config[section] = _replace_named(_section(config, section, target), name, entry)
        config["current-context"] = name
        _write(target, config)


def remove_context(path: Path, name: str = DEFAULT_NAME) -> None:
    """Remove our three entries; unset current-context if it was ours. A no-op when absent."""
    target = _resolve(path)
    with _locked(target):
        config = _read(target)
        if config is None:
            return
        changed = False
        for section in SECTIONS:
            entries = _section(config, section, target)
            kept = [entry for entry in entries if entry.get("name") != name]
            if len(kept) != len(entries):
                config[section] = kept
                changed = True
        # Unset rather than pick another context, as minikube does: guessing
        # which cluster the user wants next could point kubectl at production.
        if config.get("current-context") == name:
            config["current-context"] = ""
            changed = True
        if changed:
            _write(target, config)


def write_admin_kubeconfig(
    path: Path,
    *,
    name: str = DEFAULT_NAME,
    server: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    namespace: str = "default",
) -> None:
    """Write a standalone kubeconfig holding only our entries (replacing any file there)."""
    config = _empty_config()
    entries = _entries(
        name=name,
        server=server,
        ca_pem=ca_pem,
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        namespace=namespace,
    )
    for section, entry in zip(SECTIONS, entries, strict=True):
        config[section] = [entry]
    config["current-context"] = name
    _write(_resolve(path), config, mode=0o600)


# -- building entries ---------------------------------------------------------


def _entries(
    *,
    name: str,
    server: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    namespace: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    cluster = {
        "name": name,
        "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
    }
    user = {
        "name": name,
        "user": {
            "client-certificate-data": _b64(client_cert_pem),
            "client-key-data": _b64(client_key_pem),
        },
    }
    context = {
        "name": name,
        "context": {"cluster": name, "user": name, "namespace": namespace},
    }
    return cluster, user, context


def _empty_config() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
    }


def _replace_named(
    entries: list[dict[str, Any]], name: str, new: dict[str, Any]
) -> list[dict[str, Any]]:
    """`entries` with the first entry called `name` replaced in place (appended if none).

    Any duplicates of that name are dropped: kubectl would use only one of them.
    """
    result: list[dict[str, Any]] = []
    placed = False
    for entry in entries:
        if entry.get("name") != name:
            result.append(entry)
        elif not placed:
            result.append(new)
            placed = True
    if not placed:
        result.append(new)
    return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- reading and writing ------------------------------------------------------


def _resolve(path: Path) -> Path:
    # Follow a symlinked kubeconfig (dotfile managers do this) so the atomic
    # rename replaces the file it points at rather than the link itself.
    return Path(os.path.realpath(path))


def _read(path: Path) -> dict[str, Any] | None:
    """The parsed kubeconfig, or None when the file is missing or empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {_reason(exc)}") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {_yaml_reason(exc)}") from None
    if config is None:
        return None
    if not isinstance(config, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping (found {type(config).__name__})")
    return config


def _section(config: dict[str, Any], section: str, path: Path) -> list[dict[str, Any]]:
    entries = config.get(section)
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise KubeconfigError(f"kubeconfig {path}: {section!r} must be a list of named entries")
    return entries


def _write(path: Path, config: dict[str, Any], *, mode: int | None = None) -> None:
    text = yaml.safe_dump(config, default_flow_style=False, sort_keys=False)
    if mode is None:
        # Keep the mode the user gave an existing file; a new one holds keys: 0600.
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise KubeconfigError(f"cannot write kubeconfig {path}: {_reason(exc)}") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` the way client-go does (created exclusively, removed after)."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise KubeconfigError(
                    f"kubeconfig {path} is locked by {lock}; remove that file "
                    "if no kubectl is running"
                ) from None
            time.sleep(0.05)
            continue
        except OSError as exc:
            raise KubeconfigError(f"cannot lock kubeconfig {path}: {_reason(exc)}") from None
        os.close(fd)
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
        return problem
    return str(exc).splitlines()[0]
