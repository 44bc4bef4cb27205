"""`kyb image import`: OCI layouts (directory or tar), docker-archive tarballs, skopeo output."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kybernetes.node.images import ArchiveError, BadDigestError, ImageStore, import_image
from kybernetes.node.images.manifests import Platform
from tests.support.registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltImage,
    Registry,
    arm64_image,
    busybox_image,
    needs_root,
    sha256,
)

pytestmark = needs_root()
AMD64 = Platform("linux", "amd64")


def _write_blob(layout: Path, data: bytes) -> str:
    digest = sha256(data)
    path = layout / "blobs/sha256" / digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _oci_layout(
    layout: Path, image: BuiltImage, annotations: dict[str, str], *, index: bool = False
) -> str:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = []
    for img in [arm64_image(), image] if index else [image]:
        for layer in img.layers:
            _write_blob(layout, layer.gz)
        _write_blob(layout, img.config)
        body = img.manifest(False)
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": _write_blob(layout, body),
                "size": len(body),
                "platform": {"os": "linux", "architecture": img.architecture},
            }
        )
    if index:
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        ).encode()
        top = {"mediaType": OCI_INDEX, "digest": _write_blob(layout, body), "size": len(body)}
    else:
        top = {k: v for k, v in entries[0].items() if k != "platform"}
    top["annotations"] = annotations
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return str(top["digest"])


def _tar_dir(source: Path, target: Path) -> Path:
    with tarfile.open(target, "w") as archive:
        for path in sorted(source.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return target


def _docker_archive(
    target: Path, image: BuiltImage, tags: list[str], *, gzip_layers: bool = False
) -> Path:
    with tarfile.open(target, "w") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        config_name = sha256(image.config).removeprefix("sha256:") + ".json"
        add(config_name, image.config)
        layer_names = []
        for i, layer in enumerate(image.layers):
            name = f"{i:064x}/layer.tar"
            add(name, layer.gz if gzip_layers else layer.tar)
            layer_names.append(name)
        manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
        add("manifest.json", json.dumps(manifest).encode())
    return target


def _check_runnable(store: ImageStore, name: str) -> None:
    record = store.resolve(name)
    assert record is not None
    assert record.id == sha256(busybox_image().config)
    top = store.layer_dirs(record)[0]
    assert (top / "www/index.html").read_bytes() == b"<h1>kybernetes</h1>\n"
    assert store.image_config(record)["config"]["Cmd"] == ["sh"]


def test_oci_layout_directory_and_tar(tmp_path: Path, store: ImageStore) -> None:
    layout = tmp_path / "layout"
    digest = _oci_layout(layout, busybox_image(), {"io.containerd.image.name": "kyb/demo:1"})
    assert import_image(store, layout, platform=AMD64) == ["docker.io/kyb/demo:1"]
    _check_runnable(store, "kyb/demo:1")
    assert store.resolve("kyb/demo:1").target == digest  # type: ignore[union-attr]
    other = ImageStore(tmp_path / "other")
    archive = _tar_dir(layout, tmp_path / "layout.tar")
    assert import_image(other, archive, platform=AMD64) == ["docker.io/kyb/demo:1"]
    _check_runnable(other, "docker.io/kyb/demo:1")


def test_oci_index_picks_the_host_platform(tmp_path: Path, store: ImageStore) -> None:
    layout = tmp_path / "layout"
    _oci_layout(layout, busybox_image(), {"org.opencontainers.image.ref.name": "2.0"}, index=True)
    with pytest.raises(ArchiveError, match="names no image"):
        import_image(store, layout, platform=AMD64)
    # A bare ref.name is a tag: the caller names the repository.
    assert import_image(store, layout, name="registry.local/demo", platform=AMD64) == [
        "registry.local/demo:2.0"
    ]
    _check_runnable(store, "registry.local/demo:2.0")


def test_docker_archive(tmp_path: Path, store: ImageStore) -> None:
    archive = _docker_archive(tmp_path / "save.tar", busybox_image(), ["demo:1", "demo:latest"])
    assert import_image(store, archive) == [
        "docker.io/library/demo:1",
        "docker.io/library/demo:latest",
    ]
    _check_runnable(store, "demo:1")
    [summary] = store.list_images()
    assert "docker.io/library/demo:latest" in summary.names
    untagged = _docker_archive(tmp_path / "id.tar", busybox_image(), [])
    with pytest.raises(ArchiveError, match="has no RepoTags"):
        import_image(store, untagged)
    assert import_image(store, untagged, name="kyb/saved-by-id") == [
        "docker.io/kyb/saved-by-id:latest"
    ]
    gz = _docker_archive(tmp_path / "gz.tar", busybox_image(), ["demo:gz"], gzip_layers=True)
    assert import_image(store, gz) == ["docker.io/library/demo:gz"]
    _check_runnable(store, "demo:gz")


def test_a_lying_archive_is_refused(tmp_path: Path, store: ImageStore) -> None:
    archive = _docker_archive(tmp_path / "bad.tar", busybox_image(), ["bad:1"])
    # Change each layer's tail: the layers no longer match the config's diff_ids.
    with tarfile.open(archive) as source, tarfile.open(tmp_path / "bad2.tar", "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("layer.tar"):
                data = data[:-1024] + b"\x01" * 1024
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(BadDigestError, match="diff_id mismatch"):
        import_image(store, tmp_path / "bad2.tar")
    assert store.records() == []
    not_an_image = tmp_path / "junk"
    not_an_image.write_bytes(b"junk")
    with pytest.raises(ArchiveError, match="not an image directory or tar archive"):
        import_image(store, not_an_image)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_oci_output(registry: Registry, tmp_path: Path, store: ImageStore) -> None:
    layout = tmp_path / "skopeo"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{registry.domain}/test/busybox:oci-index",
            f"oci:{layout}:kyb/busybox:1",
        ],
        check=True,
        capture_output=True,
    )
    assert import_image(store, layout, platform=AMD64) == ["docker.io/kyb/busybox:1"]
    _check_runnable(store, "kyb/busybox:1")


def test_a_tampered_oci_blob_is_refused(tmp_path: Path, store: ImageStore) -> None:
    layout = tmp_path / "layout"
    _oci_layout(layout, busybox_image(), {"io.containerd.image.name": "kyb/demo:1"})
    layer = busybox_image().layers[1]
    path = layout / "blobs/sha256" / layer.digest.removeprefix("sha256:")
    path.write_bytes(layer.gz[:-1] + bytes([layer.gz[-1] ^ 1]))
    with pytest.raises(BadDigestError, match=f"content {layer.digest}: digest mismatch"):
        import_image(store, layout, platform=AMD64)
    assert store.records() == []
    assert not store.has_blob(layer.digest)
    assert [p.name for p in (store.root / "ingest").iterdir()] == []
