"""The parts of an image config a container runtime needs, typed; and argv resolution.

An OCI/Docker image config keeps the defaults under `config` (capitalised
keys: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Labels,
StopSignal). Kubernetes combines them with a container's `command` and
`args` by one rule (`resolve_argv`): `command` replaces the Entrypoint and
drops the image's Cmd; `args` replace the Cmd. Pure code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImageConfig", "resolve_argv"]


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # "NAME=value", in the image's order
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    os: str = ""
    architecture: str = ""

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ImageConfig:
        config = document.get("config")
        if not isinstance(config, Mapping):
            config = {}
        ports = config.get("ExposedPorts")
        labels = config.get("Labels")
        return cls(
            entrypoint=_strings(config.get("Entrypoint")),
            cmd=_strings(config.get("Cmd")),
            env=_strings(config.get("Env")),
            working_dir=str(config.get("WorkingDir") or ""),
            user=str(config.get("User") or ""),
            exposed_ports=tuple(sorted(ports)) if isinstance(ports, Mapping) else (),
            labels={str(k): str(v) for k, v in labels.items()}
            if isinstance(labels, Mapping)
            else {},
            stop_signal=str(config.get("StopSignal") or ""),
            os=str(document.get("os") or ""),
            architecture=str(document.get("architecture") or ""),
        )

    def env_map(self) -> dict[str, str]:
        """The image's environment as a mapping (a later duplicate wins, as in Docker)."""
        result: dict[str, str] = {}
        for item in self.env:
            name, _, value = item.partition("=")
            result[name] = value
        return result


def resolve_argv(
    image: ImageConfig, *, command: Sequence[str] | None, args: Sequence[str] | None
) -> list[str]:
    """The process argv for a container, as the kubelet builds it.

    An empty list in the pod spec counts as unset, as Kubernetes treats it.
    """
    if command:
        return [*command, *(args or ())]
    # `Entrypoint: [""]` is how an image says "no entrypoint" (Docker's rule).
    entrypoint = () if image.entrypoint == ("",) else image.entrypoint
    return [*entrypoint, *(args if args else image.cmd)]
