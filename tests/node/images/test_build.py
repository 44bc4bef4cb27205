"""`kyb image build DIR`: a rootfs directory and a config become a runnable image."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from kybernetes.node.images import ImageStore
from kybernetes.node.images.build import BuildError, build_image
from kybernetes.node.images.config import ImageConfig, resolve_argv
from tests.support.registry import needs_root

pytestmark = needs_root()


def _project(root: Path) -> Path:
    rootfs = root / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin/busybox")
    os.symlink("/bin/busybox", rootfs / "bin/sh")
    (rootfs / "app").mkdir()
    (rootfs / "app/run.sh").write_text("#!/bin/sh\necho hello\n")
    os.chmod(rootfs / "app/run.sh", 0o755)
    (root / "config.json").write_text(
        json.dumps({"Entrypoint": ["/app/run.sh"], "Env": ["MODE=demo"], "WorkingDir": "/app"})
    )
    return root


def test_build_is_runnable_and_reproducible(tmp_path: Path) -> None:
    project = _project(tmp_path / "demo")
    store = ImageStore(tmp_path / "store")
    assert build_image(store, project, name="demo:1") == "docker.io/library/demo:1"
    record = store.resolve("demo:1")
    assert record is not None
    [layer] = store.layer_dirs(record)
    assert (layer / "app/run.sh").read_text() == "#!/bin/sh\necho hello\n"
    assert stat.S_IMODE(os.stat(layer / "app/run.sh").st_mode) == 0o755
    assert os.readlink(layer / "bin/sh") == "/bin/busybox"
    config = ImageConfig.from_json(store.image_config(record))
    assert resolve_argv(config, command=None, args=None) == ["/app/run.sh"]
    assert config.env_map() == {"MODE": "demo"} and config.working_dir == "/app"
    # Same directory, same image ID (owners, mtimes and order do not leak in).
    os.utime(project / "rootfs/app/run.sh", (12345, 12345))
    other = ImageStore(tmp_path / "other")
    build_image(other, project, name="demo:2")
    again = other.resolve("demo:2")
    assert again is not None and again.id == record.id


def test_build_refusals(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    with pytest.raises(BuildError, match="no rootfs/ directory"):
        build_image(store, tmp_path, name="x:1")
    project = _project(tmp_path / "bad")
    (project / "config.json").write_text('{"Cmd": ["x"], "Volumes": {}}')
    with pytest.raises(BuildError, match="unknown keys Volumes"):
        build_image(store, project, name="x:1")
    assert store.records() == []
