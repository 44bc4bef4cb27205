"""`kyb image build|ls|rm|import` on the local node's store, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root  # unpacking keeps file owners: root only


def kyb(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KYB_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "kybernetes", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_build_list_and_remove(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        raise RuntimeError("needs root; deselect with -m 'not root'")
    busybox = shutil.which("busybox")
    assert busybox, "busybox is not installed: run scripts/setup.sh (apt busybox-static)"
    project = tmp_path / "demo"
    (project / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy(busybox, project / "rootfs" / "bin" / "busybox")
    (project / "rootfs" / "www").mkdir()
    (project / "rootfs" / "www" / "index.html").write_text("hello\n")
    (project / "config.json").write_text(json.dumps(
        {"Entrypoint": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]}))  # fmt: skip
    data = tmp_path / "data"
    built = kyb(data, "image", "build", str(project), "-t", "demo:1")
    assert built.returncode == 0, built.stderr
    assert "docker.io/library/demo:1" in built.stdout
    listed = kyb(data, "image", "ls")
    assert "docker.io/library/demo:1" in listed.stdout
    removed = kyb(data, "image", "rm", "demo:1")
    assert removed.returncode == 0 and "demo:1" in removed.stdout
    assert "demo:1" not in kyb(data, "image", "ls").stdout
    missing = kyb(data, "image", "rm", "nope:1")
    assert missing.returncode == 1 and "no image 'nope:1'" in missing.stderr
    broken = kyb(data, "image", "build", str(tmp_path / "nowhere"), "-t", "x:1")
    assert broken.returncode == 1 and "no rootfs/ directory" in broken.stderr
