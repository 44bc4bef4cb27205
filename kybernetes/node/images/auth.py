"""Registry credentials: docker config JSON (imagePullSecrets) and auth challenges.

Both are pure parsing. `credentials_for` matches a registry host and
repository path against the keys of one or more `{"auths": {...}}`
documents the way the kubelet's credential keyring does: the key's scheme
and `/v1/`-style suffixes are ignored, a `*` may stand for one DNS label,
a path in the key must prefix the repository, and Docker Hub's many names
are one. Every match is returned, most specific first, because the kubelet
tries each in turn until one is accepted.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Challenge",
    "Credential",
    "credentials_for",
    "docker_configs_from_secrets",
    "parse_challenge",
    "parse_docker_config",
]

_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class Credential:
    """A username/password (or identity token) for one registry key."""

    key: str
    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header: scheme plus its parameters."""

    scheme: str
    params: Mapping[str, str]


def _split_key(key: str) -> tuple[str, str]:
    text = key.strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    host, _, path = text.partition("/")
    path = path.strip("/")
    # `https://index.docker.io/v1/` is Docker Hub's legacy key; `v1`/`v2` are API roots.
    if path in ("v1", "v2"):
        path = ""
    host = host.lower()
    if host in _HUB_NAMES:
        host = "docker.io"
    return host, path


def _entry(key: str, value: Any) -> Credential | None:
    if not isinstance(value, Mapping):
        return None
    username = value.get("username")
    password = value.get("password")
    auth = value.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return Credential(key=key, username=username, password=password)


def parse_docker_config(document: Mapping[str, Any]) -> list[Credential]:
    """Credentials of a `.dockerconfigjson` (`{"auths": ...}`) or legacy `.dockercfg`.

    Entries without usable credentials are skipped, as the kubelet does.
    """
    auths = document.get("auths", document)
    if not isinstance(auths, Mapping):
        return []
    result = []
    for key, value in auths.items():
        credential = _entry(str(key), value)
        if credential is not None:
            result.append(credential)
    return result


def docker_configs_from_secrets(secrets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The docker config documents of imagePullSecrets (Secret objects as the API returns them).

    `kubernetes.io/dockerconfigjson` secrets hold `.dockerconfigjson`, legacy
    `kubernetes.io/dockercfg` ones `.dockercfg`; other secrets and unreadable
    data are skipped, as the kubelet skips them.
    """
    documents: list[dict[str, Any]] = []
    for secret in secrets:
        data = secret.get("data")
        if not isinstance(data, Mapping):
            continue
        for key in (".dockerconfigjson", ".dockercfg"):
            raw = data.get(key)
            if not isinstance(raw, str):
                continue
            try:
                document = json.loads(base64.b64decode(raw))
            except (binascii.Error, ValueError):
                continue
            if isinstance(document, dict):
                documents.append(document)
    return documents


def _host_matches(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    pattern_host, _, pattern_port = pattern.partition(":")
    host_name, _, port = host.partition(":")
    if pattern_port != port:
        return False
    labels, want = pattern_host.split("."), host_name.split(".")
    return len(labels) == len(want) and all(
        fnmatch.fnmatchcase(label, glob) for glob, label in zip(labels, want, strict=True)
    )


def credentials_for(
    documents: Iterable[Mapping[str, Any]], *, domain: str, path: str
) -> list[Credential]:
    """Every credential that applies to `domain/path`, most specific key first."""
    host = "docker.io" if domain in _HUB_NAMES else domain.lower()
    scored: list[tuple[int, int, Credential]] = []
    order = 0
    for document in documents:
        for credential in parse_docker_config(document):
            key_host, key_path = _split_key(credential.key)
            if not _host_matches(key_host, host):
                continue
            if key_path and path != key_path and not path.startswith(key_path + "/"):
                continue
            specificity = len(key_path) + (0 if "*" in key_host else 1)
            scored.append((-specificity, order, credential))
            order += 1
    scored.sort(key=lambda item: (item[0], item[1]))
    return [credential for _, _, credential in scored]


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="…",service="…",scope="…"` → Challenge; commas inside quotes kept."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            i += 1
            value = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(rest[i])
                i += 1
            i += 1
            params[name] = "".join(value)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    return Challenge(scheme=scheme.lower(), params=params)
