"""Images for node tests without a registry: busybox layers built on the spot."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kybernetes.node.kubelet.podworker import PulledImage

__all__ = ["LocalImages", "busybox_layers"]


def busybox_layers(root: Path) -> list[str]:
    """Two layers, base first: busybox with its applets, then a web root."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise RuntimeError("busybox is not installed: run scripts/setup.sh (apt busybox-static)")
    base = root / "layer-base"
    (base / "bin").mkdir(parents=True)
    shutil.copy(busybox, base / "bin" / "busybox")
    subprocess.run([str(base / "bin" / "busybox"), "--install", "-s", str(base / "bin")],
                   check=True)  # fmt: skip
    for applet in (base / "bin").iterdir():  # --install links to the host path: relink inside
        if applet.is_symlink():
            applet.unlink()
            applet.symlink_to("/bin/busybox")
    for name in ("etc", "tmp", "proc", "sys", "dev"):
        (base / name).mkdir()
    web = root / "layer-web"
    (web / "www").mkdir(parents=True)
    (web / "www" / "index.html").write_text("hello from the pod\n")
    return [str(base), str(web)]


class LocalImages:
    """An ImageService over ready-made layer directories: name -> image (test seam)."""

    def __init__(self, images: Mapping[str, PulledImage]) -> None:
        self.images = dict(images)

    async def ensure(
        self, image: str, *, policy: str, pull_secrets: Sequence[Mapping[str, Any]]
    ) -> tuple[PulledImage, bool]:
        found = self.images.get(image)
        if found is None:
            raise LookupError(f"{image}: not found")
        return found, False
