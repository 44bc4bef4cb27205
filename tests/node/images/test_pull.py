"""Pull and unpack from the real registry into the store (root: chroot, whiteouts, owners)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from pathlib import Path

import aiohttp
import pytest

from kybernetes.node.images import (
    BadDigestError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePuller,
    ImageStore,
)
from kybernetes.node.images import store as store_module
from kybernetes.node.images.manifests import Platform
from kybernetes.node.images.unpack import OPAQUE_XATTR
from tests.node.images.fakes import FakeFront
from tests.support.registry import FORMS, Registry, busybox_image, busybox_layer, needs_root, sha256

pytestmark = needs_root()

AMD64 = Platform("linux", "amd64")


@pytest.fixture
def puller(store: ImageStore, session: aiohttp.ClientSession) -> ImagePuller:
    return ImagePuller(store, session, platform=AMD64)


def _check_unpacked(store: ImageStore, lowerdirs: list[Path]) -> None:
    top, bottom = lowerdirs
    # Layer 2: the whiteout is an overlay whiteout, the opaque dir carries the xattr.
    hello = os.lstat(top / "etc/hello")
    assert stat.S_ISCHR(hello.st_mode) and hello.st_rdev == os.makedev(0, 0)
    assert os.getxattr(top / "www", OPAQUE_XATTR) == b"y"
    assert (top / "www/index.html").read_bytes() == b"<h1>kybernetes</h1>\n"
    assert not (top / "etc/.wh.hello").exists() and not (top / "www/.wh..wh..opq").exists()
    # Layer 1: modes, owners and absolute symlinks exactly as in the tar.
    assert stat.S_IMODE(os.stat(bottom / "bin/busybox").st_mode) == 0o755
    assert os.readlink(bottom / "usr/bin/wget") == "/bin/busybox"
    assert stat.S_IMODE(os.stat(bottom / "tmp").st_mode) == 0o1777
    www = os.stat(bottom / "www")
    assert (www.st_uid, www.st_gid) == (33, 33)
    assert (bottom / "etc/hello").read_bytes() == b"hello\n"


@pytest.mark.parametrize("form", FORMS)
async def test_pull_and_unpack_every_form(
    registry: Registry, store: ImageStore, puller: ImagePuller, form: str
) -> None:
    image = busybox_image()
    record = await puller.pull(f"{registry.domain}/test/busybox:{form}")
    assert record.name == f"{registry.domain}/test/busybox:{form}"
    assert record.id == sha256(image.config)
    assert [x.diff_id for x in record.layers] == [x.diff_id for x in image.layers]
    lowerdirs = store.layer_dirs(record)
    assert lowerdirs == [store.snapshot_path(x.diff_id) for x in reversed(image.layers)]
    _check_unpacked(store, lowerdirs)
    assert store.image_config(record)["config"]["Cmd"] == ["sh"]
    assert store.get(record.name) == record


async def test_shared_layer_is_stored_and_unpacked_once(
    registry: Registry,
    store: ImageStore,
    puller: ImagePuller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unpacked: list[str] = []
    real = store_module.unpack_layer

    def counting(blob: Path, **kwargs: object) -> None:
        unpacked.append(blob.name)
        real(blob, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "unpack_layer", counting)
    base = await puller.pull(f"{registry.domain}/test/base:1")
    shared = store.snapshot_path(busybox_layer().diff_id)
    inode = os.stat(shared).st_ino
    full = await puller.pull(f"{registry.domain}/test/busybox:oci")
    assert base.layers[0].digest == full.layers[0].digest
    # The second image unpacked only its own layer; the shared one is the same directory.
    assert len(unpacked) == 2
    assert os.stat(shared).st_ino == inode
    assert len(list((store.root / "snapshots/sha256").iterdir())) == 2


async def test_concurrent_pulls_share_one_download(
    front: FakeFront, store: ImageStore, session: aiohttp.ClientSession
) -> None:
    puller = ImagePuller(store, session, platform=AMD64)
    image = f"{front.domain}/test/busybox:docker-list"
    records = await asyncio.gather(*(puller.pull(image) for _ in range(3)))
    assert len({r.id for r in records}) == 1
    blob_gets = [t for m, t, _ in front.requests if "/blobs/" in t]
    assert len(blob_gets) == 3  # config + two layers, once


async def test_pull_policy_through_ensure(
    front: FakeFront, store: ImageStore, session: aiohttp.ClientSession
) -> None:
    puller = ImagePuller(store, session, platform=AMD64)
    image = f"{front.domain}/test/busybox:oci"
    with pytest.raises(ImageNeverPullError):
        await puller.ensure(image, policy="Never")
    record, pulled = await puller.ensure(image, policy="IfNotPresent")
    assert pulled
    before = len(front.requests)
    again, pulled = await puller.ensure(image, policy="IfNotPresent")
    assert (again, pulled) == (record, False)
    assert len(front.requests) == before  # present: not even a manifest request
    assert await puller.ensure(image, policy="Never") == (record, False)
    always, pulled = await puller.ensure(image, policy="Always")
    assert pulled and always == record
    # Always re-resolves the tag, but unchanged content downloads no blob again.
    assert [t for _, t, _ in front.requests[before:] if "/blobs/" in t] == []


async def test_pull_errors_read_like_containerds(
    registry: Registry, front: FakeFront, store: ImageStore, session: aiohttp.ClientSession
) -> None:
    puller = ImagePuller(store, session, platform=AMD64)
    image = f"{registry.domain}/test/busybox:nope"
    with pytest.raises(ImageNotFoundError) as info:
        await puller.pull(image)
    assert info.value.reason == "ErrImagePull"
    assert str(info.value) == (
        f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
        f"{image}: not found"
    )
    front.corrupt_blobs = True
    with pytest.raises(BadDigestError, match="failed to pull and unpack image"):
        await puller.pull(f"{front.domain}/test/busybox:oci")
    assert store.records() == []
    assert not any(store.has_blob(x.digest) for x in busybox_image().layers)


async def test_list_and_remove_with_reference_counting(
    registry: Registry, store: ImageStore, puller: ImagePuller
) -> None:
    base = await puller.pull(f"{registry.domain}/test/base:1")
    full = await puller.pull(f"{registry.domain}/test/busybox:oci")
    digest_name = await puller.pull(f"{registry.domain}/test/busybox@{full.target}")
    assert digest_name.id == full.id
    summaries = {s.id: s for s in store.list_images()}
    assert summaries[full.id].names == (
        f"{registry.domain}/test/busybox@{full.target}",
        f"{registry.domain}/test/busybox:oci",
    )
    assert summaries[full.id].size == full.size > sum(x.size for x in full.layers)
    assert summaries[base.id].to_node_status() == {
        "names": [f"{registry.domain}/test/base@{base.target}", f"{registry.domain}/test/base:1"],
        "sizeBytes": base.size,
    }
    shared, own = full.layers
    assert store.remove(f"{registry.domain}/test/busybox:oci") == [
        f"{registry.domain}/test/busybox:oci"
    ]
    # Still named by digest: nothing collected yet.
    assert store.has_snapshot(own.diff_id)
    assert store.remove(f"{registry.domain}/test/busybox@{full.target}") == [
        f"{registry.domain}/test/busybox@{full.target}"
    ]
    assert not store.has_snapshot(own.diff_id) and not store.has_blob(own.digest)
    assert store.has_snapshot(shared.diff_id) and store.has_blob(shared.digest)
    assert store.remove(base.id[:19]) == [f"{registry.domain}/test/base:1"]
    assert not store.has_snapshot(shared.diff_id) and not store.has_blob(shared.digest)
    assert list((store.root / "blobs/sha256").iterdir()) == []
    assert list((store.root / "snapshots/sha256").iterdir()) == []
    assert store.remove("nothing:here") == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is not installed")
async def test_layers_stack_as_overlay_lowerdirs(
    registry: Registry, store: ImageStore, puller: ImagePuller, tmp_path: Path
) -> None:
    # What the runc runtime will do: overlayfs over the unpacked layers. The
    # kernel applies the translated whiteouts; busybox runs from the image.
    record = await puller.pull(f"{registry.domain}/test/busybox:oci-index")
    lower = ":".join(str(p) for p in store.layer_dirs(record))
    for name in ("upper", "work", "merged"):
        (tmp_path / name).mkdir()
    script = (
        f"mount -t overlay overlay -o lowerdir={lower},upperdir={tmp_path}/upper,"
        f"workdir={tmp_path}/work {tmp_path}/merged && "
        f"chroot {tmp_path}/merged /bin/sh -c "
        "'ls /etc; echo --; ls /www; echo --; cat /www/index.html; id -u www'"
    )
    # A private mount namespace: the mount disappears with the process.
    result = await asyncio.to_thread(
        subprocess.run,
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    etc, www, rest = result.stdout.split("--\n")
    assert etc.split() == ["passwd"]  # etc/hello whited out
    assert www.split() == ["index.html"]  # www/old.txt hidden by the opaque dir
    assert rest.split("\n")[:2] == ["<h1>kybernetes</h1>", "33"]
