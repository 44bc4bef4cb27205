"""Unpacking layers: overlay whiteouts, modes and owners, and no way out of the layer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kybernetes.node.images import BadDigestError, UnpackError, UnsupportedImageError
from kybernetes.node.images import unpack as unpack_module
from kybernetes.node.images.unpack import OPAQUE_XATTR, unpack_layer
from tests.support.registry import Entry, Layer, make_layer, needs_root


def _unpack(tmp_path: Path, layer: Layer, *, diff_id: str | None = None) -> Path:
    scratch = tmp_path / "snapshots"
    scratch.mkdir(exist_ok=True)
    blob = tmp_path / "blob"
    blob.write_bytes(layer.gz)
    final = scratch / "layer"
    unpack_layer(
        blob, final=final, scratch=scratch, compression="gzip", diff_id=diff_id or layer.diff_id
    )
    return final


def _everything(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


pytestmark = needs_root()


def test_escapes_land_inside_the_layer(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = make_layer(
        [
            Entry("up", "symlink", target="../../../../../../../.."),
            Entry("up/pwned-up", data=b"x"),
            Entry("root", "symlink", target="/"),
            Entry("root/pwned-root", data=b"x"),
            Entry("../../pwned-dotdot", data=b"x"),
            Entry("/pwned-abs", data=b"x"),
            Entry(f"root{outside}/pwned-deep", data=b"x"),
        ]
    )
    final = _unpack(tmp_path, layer)
    assert _everything(outside) == set()
    assert not list(tmp_path.glob("pwned*"))
    for name in ("pwned-up", "pwned-root", "pwned-dotdot", "pwned-abs"):
        assert (final / name).read_bytes() == b"x"
    # Even an absolute path through a symlink to / is a path inside the layer.
    assert (final / str(outside).lstrip("/") / "pwned-deep").is_file()


def test_a_dangling_escape_fails_cleanly(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = make_layer(
        [
            Entry("esc", "symlink", target=f"../../../..{outside}"),
            Entry("esc/pwned", data=b"x"),
        ]
    )
    with pytest.raises(UnpackError, match="failed to extract layer"):
        _unpack(tmp_path, layer)
    assert _everything(outside) == set()
    # Nothing half-unpacked is left behind, under its name or a temporary one.
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    layer = make_layer(
        [
            Entry("a/.wh..wh..opq"),
            Entry("a", "dir", mode=0o750),
            Entry("a/new", data=b"n"),
            Entry(".wh.gone"),
            Entry("deep/dir/.wh.file"),
        ]
    )
    final = _unpack(tmp_path, layer)
    assert os.getxattr(final / "a", OPAQUE_XATTR) == b"y"
    assert stat.S_IMODE(os.stat(final / "a").st_mode) == 0o750
    for path in (final / "gone", final / "deep/dir/file"):
        info = os.lstat(path)
        assert stat.S_ISCHR(info.st_mode) and info.st_rdev == 0
    assert _everything(final) == {"a", "a/new", "gone", "deep", "deep/dir", "deep/dir/file"}


def test_modes_owners_links_devices_and_xattrs(tmp_path: Path) -> None:
    layer = make_layer(
        [
            Entry("tmp", "dir", mode=0o1777),
            Entry("bin/su", data=b"#!", mode=0o4755),
            Entry("bin/su2", "link", target="bin/su", mode=0o4755),
            Entry("home/u/f", data=b"f", mode=0o600, uid=1000, gid=1001),
            Entry("dev/null", "chr", mode=0o666),
            Entry("x", "symlink", target="/etc/passwd"),
            Entry("x", data=b"a file replaces the symlink, never writes through it"),
            Entry("real", "dir", mode=0o700),
            Entry("linkdir", "symlink", target="real"),
            Entry("linkdir", "dir", mode=0o755),
            Entry("cap", data=b"", xattrs={"user.kyb": "1", "trusted.overlay.opaque": "y"}),
        ]
    )
    final = _unpack(tmp_path, layer)
    assert stat.S_IMODE(os.stat(final / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(final / "bin/su").st_mode) == 0o4755
    assert os.stat(final / "bin/su").st_ino == os.stat(final / "bin/su2").st_ino
    info = os.stat(final / "home/u/f")
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 1001, 0o600)
    dev = os.lstat(final / "dev/null")
    assert stat.S_ISCHR(dev.st_mode) and dev.st_rdev == os.makedev(1, 3)
    assert not (final / "x").is_symlink()
    assert (final / "x").read_bytes().startswith(b"a file")
    # A directory entry replaces a symlink to a directory; the target keeps its mode.
    assert not (final / "linkdir").is_symlink() and (final / "linkdir").is_dir()
    assert stat.S_IMODE(os.stat(final / "real").st_mode) == 0o700
    # An image's own trusted.* attributes are dropped: it must not forge overlay state.
    assert os.getxattr(final / "cap", "user.kyb") == b"1"
    with pytest.raises(OSError):
        os.getxattr(final / "cap", OPAQUE_XATTR)


def test_diff_id_mismatch_leaves_nothing(tmp_path: Path) -> None:
    layer = make_layer([Entry("f", data=b"x")])
    with pytest.raises(BadDigestError, match="diff_id mismatch"):
        _unpack(tmp_path, layer, diff_id="sha256:" + "0" * 64)
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"")
    with pytest.raises(UnsupportedImageError, match="zstd-compressed layers are not supported"):
        unpack_layer(blob, final=tmp_path / "f", scratch=tmp_path, compression="zstd", diff_id="x")
    monkeypatch.setattr(unpack_module, "can_unpack", lambda: False)
    with pytest.raises(UnpackError, match="needs root"):
        unpack_layer(blob, final=tmp_path / "f", scratch=tmp_path, compression="gzip", diff_id="x")
