"""The content store without root: index, names, leases, garbage collection, crash leftovers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from kybernetes.node.images import ImagePuller, ImageRecord, ImageStore, ImageSummary, LayerRecord
from kybernetes.node.images.manifests import Platform
from kybernetes.node.images.store import node_status_images
from tests.node.images.fakes import FakeFront
from tests.support.registry import Registry, busybox_image, sha256

AMD64 = Platform("linux", "amd64")


def _record(store: ImageStore, name: str, layer: bytes) -> ImageRecord:
    layer_digest = store.write_blob(layer)
    config = store.write_blob(b'{"rootfs": {"diff_ids": []}}' + layer)
    manifest = store.write_blob(b"manifest" + layer)
    return ImageRecord(
        name=name,
        target=manifest,
        manifest=manifest,
        id=config,
        layers=(LayerRecord(layer_digest, sha256(b"diff" + layer), "t", len(layer)),),
        size=len(layer) + 10,
    )


def test_index_survives_reopening(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    record = _record(store, "docker.io/library/a:1", b"layer-a")
    store.add(record)
    again = ImageStore(tmp_path)
    assert again.get("docker.io/library/a:1") == record
    assert again.resolve("a:1") == record
    assert again.resolve(record.id[:19]) == record
    assert again.resolve(record.id.removeprefix("sha256:")[:12]) == record
    assert again.resolve(f"a@{record.target}") == record
    assert again.resolve("b:1") is None


def test_crash_leftovers_are_never_visible(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    digest = sha256(b"half")
    store.ingest_path(digest).write_bytes(b"ha")  # a download cut short
    (tmp_path / "snapshots/.tmp-deadbeef/etc").mkdir(parents=True)  # an unpack cut short
    (tmp_path / "blobs/sha256/.x.tmp").write_bytes(b"partial write")
    (tmp_path / "ingest/.0123.partial").write_bytes(b"an import's temp copy")
    reopened = ImageStore(tmp_path)
    assert not reopened.has_blob(digest)
    assert not (tmp_path / "snapshots/.tmp-deadbeef").exists()
    assert not (tmp_path / "blobs/sha256/.x.tmp").exists()
    assert not (tmp_path / "ingest/.0123.partial").exists()
    # The partial download stays, so the next pull resumes from it.
    assert reopened.ingest_path(digest).read_bytes() == b"ha"


def test_garbage_collection_respects_names_and_leases(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    a = _record(store, "docker.io/library/a:1", b"shared")
    b = _record(store, "docker.io/library/b:1", b"shared")
    store.add(a)
    store.add(b)
    with store.lease() as held:
        in_flight = store.write_blob(b"being pulled")
        held.add(in_flight)
        assert store.remove("a:1") == ["docker.io/library/a:1"]
        assert store.has_blob(a.layers[0].digest)  # b still uses it
        assert store.has_blob(in_flight)  # leased
    store.collect()
    assert not store.has_blob(in_flight)
    assert store.remove(b.id) == ["docker.io/library/b:1"]
    assert not store.has_blob(a.layers[0].digest)
    assert store.usage() == 0


def test_content_in_use_by_containers_outlives_its_name(tmp_path: Path) -> None:
    needed: set[str] = set()
    store = ImageStore(tmp_path, in_use=lambda: needed)
    record = _record(store, "docker.io/library/a:1", b"running")
    store.add(record)
    needed |= record.digests()
    store.remove("a:1")
    assert store.has_blob(record.layers[0].digest)
    needed.clear()
    store.collect()
    assert not store.has_blob(record.layers[0].digest)


def test_collect_drops_abandoned_downloads_but_not_leased_ones(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    abandoned, active = sha256(b"abandoned"), sha256(b"active")
    store.ingest_path(abandoned).write_bytes(b"aban")
    store.ingest_path(active).write_bytes(b"act")
    copying = store.scratch_path()
    copying.write_bytes(b"a copy in flight")
    with store.lease() as held:
        held.add(active)
        store.collect()
        assert copying.exists()
        assert not store.ingest_path(abandoned).exists()
        assert store.ingest_path(active).exists()


def test_retagging_collects_the_old_target(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    old = _record(store, "docker.io/library/app:1", b"old")
    store.add(old)
    new = _record(store, "docker.io/library/app:1", b"new")
    store.add(new)
    assert store.get("docker.io/library/app:1") == new
    assert not store.has_blob(old.layers[0].digest)


async def test_pull_without_unpacking(registry: Registry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    async with aiohttp.ClientSession() as session:
        puller = ImagePuller(store, session, platform=AMD64, unpack=False)
        record = await puller.pull(f"{registry.domain}/test/busybox:docker-list")
        assert await puller.present(f"{registry.domain}/test/busybox:docker-list") == record
        # A puller that runs containers does not count un-unpacked images as present.
        runner = ImagePuller(store, session, platform=AMD64)
        assert await runner.present(f"{registry.domain}/test/busybox:docker-list") is None
    image = busybox_image()
    for layer in image.layers:
        assert store.blob_path(layer.digest).read_bytes() == layer.gz
    assert store.read_blob(record.id) == image.config


async def test_images_sharing_a_layer_download_it_once(
    front: FakeFront, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    store = ImageStore(tmp_path)
    puller = ImagePuller(store, session, platform=AMD64, unpack=False)
    base, full = await asyncio.gather(
        puller.pull(f"{front.domain}/test/base:1"),
        puller.pull(f"{front.domain}/test/busybox:oci"),
    )
    shared = base.layers[0].digest
    assert full.layers[0].digest == shared
    gets = [t for m, t, _ in front.requests if m == "GET" and t.endswith(shared)]
    assert len(gets) == 1
    assert store.blob_path(shared).read_bytes() == busybox_image().layers[0].gz


async def test_tag_and_digest_is_stored_by_digest(registry: Registry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    async with aiohttp.ClientSession() as session:
        puller = ImagePuller(store, session, platform=AMD64, unpack=False)
        tagged = await puller.pull(f"{registry.domain}/test/busybox:oci-index")
        pinned = await puller.pull(f"{registry.domain}/test/busybox:whatever@{tagged.target}")
    # As containerd does: with a digest the tag is only decoration and is dropped.
    assert pinned.name == f"{registry.domain}/test/busybox@{tagged.target}"
    assert store.resolve(f"{registry.domain}/test/busybox:x@{tagged.target}") is not None
    # The platform manifest's own digest finds the image too.
    found = store.resolve(f"{registry.domain}/test/busybox@{tagged.manifest}")
    assert found is not None and found.id == tagged.id


async def test_an_abandoned_pull_does_not_fail_the_others(
    front: FakeFront, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    store = ImageStore(tmp_path)
    puller = ImagePuller(store, session, platform=AMD64, unpack=False)
    image = f"{front.domain}/test/busybox:oci"
    front.blob_gate = asyncio.Event()
    owner = asyncio.create_task(puller.pull(image))
    deadline = asyncio.get_running_loop().time() + 10
    while not any("/blobs/" in t for _, t, _ in front.requests):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    joiner = asyncio.create_task(puller.pull(image))
    for _ in range(5):
        await asyncio.sleep(0)  # the joiner reaches the shared pull
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    front.blob_gate.set()
    record = await joiner
    assert record.id == sha256(busybox_image().config)


def test_node_status_images_follow_the_kubelets_limits() -> None:
    summaries = [
        ImageSummary(id=f"sha256:{i:064x}", names=tuple(f"r/i{i}:{t}" for t in range(7)), size=i)
        for i in range(60)
    ]
    status = node_status_images(summaries)
    assert len(status) == 50
    assert [x["sizeBytes"] for x in status[:3]] == [59, 58, 57]
    assert status[0]["names"] == [f"r/i59:{t}" for t in range(5)]


def test_names_written_by_another_process_are_seen(tmp_path: Path) -> None:
    """`kyb image build` writes while the kubelet's store is open: the kubelet sees it."""
    from kybernetes.node.images.store import ImageRecord, ImageStore

    kubelet_view = ImageStore(tmp_path / "images")
    cli_view = ImageStore(tmp_path / "images")
    record = ImageRecord(name="docker.io/library/demo:1", target="sha256:" + "a" * 64,
                         manifest="sha256:" + "a" * 64, id="sha256:" + "b" * 64, layers=(),
                         size=1)  # fmt: skip
    assert kubelet_view.resolve("demo:1") is None
    cli_view.add(record)
    found = kubelet_view.resolve("demo:1")
    assert found is not None and found.id == record.id
    other = ImageRecord(name="docker.io/library/other:1", target=record.target,
                        manifest=record.manifest, id=record.id, layers=(), size=1)  # fmt: skip
    kubelet_view.add(other)  # read-modify-write: the CLI's name is not lost
    assert {r.name for r in cli_view.records()} == {record.name, other.name}
