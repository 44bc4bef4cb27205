"""mount(8)'s option words split for mount(2); a real tmpfs mount as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kybernetes.node.mounts import MountError, mount, split_options, unmount


def test_flag_words_become_flags_and_the_rest_is_the_filesystems_data() -> None:
    assert split_options("nosuid,nodev,noexec,mode=1777,size=64m") == (
        2 | 4 | 8,
        "mode=1777,size=64m",
    )
    assert split_options("lowerdir=/a:/b,upperdir=/u,workdir=/w") == (
        0, "lowerdir=/a:/b,upperdir=/u,workdir=/w")  # fmt: skip
    assert split_options("") == (0, "")
    assert split_options("ro,,rw") == (1, "")


@pytest.mark.root
def test_a_tmpfs_mounts_with_its_flags_and_unmounts(tmp_path: Path) -> None:
    target = tmp_path / "shm"
    target.mkdir()
    mount("shm", str(target), "tmpfs", "nosuid,nodev,noexec,mode=1777,size=1m")
    try:
        assert os.path.ismount(target)
        line = next(ln for ln in Path("/proc/self/mounts").read_text().splitlines()
                    if ln.split()[1] == str(target))  # fmt: skip
        options = line.split()[3].split(",")
        assert {"nosuid", "nodev", "noexec", "size=1024k"} <= set(options)
        assert target.stat().st_mode & 0o7777 == 0o1777
    finally:
        unmount(str(target))
    assert not os.path.ismount(target)
    with pytest.raises(MountError, match=f"umount {target} failed"):
        unmount(str(target))
    with pytest.raises(MountError, match="mount -t no-such-fs"):
        mount("x", str(target), "no-such-fs")
