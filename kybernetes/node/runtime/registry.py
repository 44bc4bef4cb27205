"""Container runtimes by name (STYLE.md habit 8): what `--runtime` picks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kybernetes.node.runtime.base import ContainerRuntime
from kybernetes.node.runtime.process import ProcessRuntime
from kybernetes.node.runtime.runc import RuncRuntime

__all__ = ["RUNTIMES"]

# name -> constructor taking the runtime's state directory
RUNTIMES: dict[str, Callable[[Path], ContainerRuntime]] = {
    "runc": RuncRuntime,
    "process": ProcessRuntime,
}
