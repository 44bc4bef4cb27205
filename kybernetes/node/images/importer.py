"""Loading images from files into the store: OCI layouts and docker-archive tarballs.

Three shapes, as users bring locally built images (like `kind load`):
an OCI image layout directory (`skopeo copy … oci:DIR:tag`), the same
packed in a tar (an OCI archive), and a `docker save` tarball
(docker-archive: `manifest.json` naming a config and layer tars). Every
blob is copied with its digest checked. A docker archive has no manifest,
so one is written (Docker schema2, as containerd's import does), and each
layer's diff_id is checked against the config while copying.

Names: containerd's `io.containerd.image.name` annotation, else an OCI
`org.opencontainers.image.ref.name` that is a full reference, else a bare
ref.name tag under the `name` the caller gives; docker archives carry
RepoTags. All names are normalised (`busybox:1` → docker.io/library/busybox:1).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from kybernetes.node.images.errors import BadDigestError, ImageError, UnsupportedImageError
from kybernetes.node.images.manifests import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Platform,
    diff_ids,
    host_platform,
    parse_manifest,
    select_platform,
)
from kybernetes.node.images.reference import parse_reference
from kybernetes.node.images.store import ImageRecord, ImageStore, LayerRecord

__all__ = ["ArchiveError", "import_image"]

_UNCOMPRESSED_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
_CONTAINERD_NAME = "io.containerd.image.name"
_OCI_REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(ImageError):
    """The file is not an image archive we understand."""

    reason = "ErrImageImport"


class _Source:
    """Files of a layout, from a directory or a tar, by relative name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if not path.is_dir():
            try:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            except (tarfile.TarError, OSError) as exc:
                raise ArchiveError(f"{path}: not an image directory or tar archive: {exc}") from exc
            for member in self._tar.getmembers():
                self._members[os.path.normpath(member.name.lstrip("/"))] = member

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def exists(self, name: str) -> bool:
        if self._tar is None:
            return (self.path / name).is_file()
        member = self._members.get(os.path.normpath(name))
        return member is not None

    def open(self, name: str) -> IO[bytes]:
        name = os.path.normpath(name)
        if self._tar is None:
            full = (self.path / name).resolve()
            if not full.is_relative_to(self.path.resolve()):
                raise ArchiveError(f"{name}: outside the image directory")
            return full.open("rb")
        member = self._members.get(name)
        # Follow a symlink or hard link inside the archive (docker save links shared layers).
        for _ in range(8):
            if member is None or not (member.issym() or member.islnk()):
                break
            base = os.path.dirname(name) if member.issym() else ""
            name = os.path.normpath(os.path.join(base, member.linkname.lstrip("/")))
            member = self._members.get(name)
        handle = self._tar.extractfile(member) if member is not None else None
        if handle is None:
            raise ArchiveError(f'{self.path}: no file "{name}" in the archive')
        return handle

    def read_json(self, name: str) -> Any:
        with self.open(name) as handle:
            try:
                return orjson.loads(handle.read())
            except orjson.JSONDecodeError as exc:
                raise ArchiveError(f"{self.path}: {name} is not JSON") from exc


def _blob_name(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"blobs/{algorithm}/{value}"


def import_image(
    store: ImageStore,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    unpack: bool = True,
    platform: Platform | None = None,
) -> list[str]:
    """Import the images in `path` into `store`; return their names (normalised).

    Blocking (file copies and layer unpacking): from async code call it in a
    thread. `unpack` needs root (see unpack.py); without it the image is
    stored but not runnable until unpacked.
    """
    source = _Source(Path(path))
    # The lease keeps every copied blob from garbage collection until the names exist.
    with store.lease() as held:
        try:
            return _import(store, source, held, name=name, unpack=unpack, platform=platform)
        finally:
            source.close()


def _import(
    store: ImageStore,
    source: _Source,
    held: set[str],
    *,
    name: str | None,
    unpack: bool,
    platform: Platform | None,
) -> list[str]:
    if source.exists("manifest.json") and not source.exists("index.json"):
        records = _import_docker(store, source, held, name=name)
    elif source.exists("index.json"):
        records = _import_oci(store, source, held, name=name, platform=platform or host_platform())
    else:
        raise ArchiveError(
            f"{source.path}: neither an OCI layout (index.json) "
            "nor a docker archive (manifest.json)"
        )
    if unpack:
        for record in records:
            store.unpack_image(record)
    for record in records:
        store.add(record)
    return sorted({record.name for record in records})


def _copy(store: ImageStore, source: _Source, descriptor: Descriptor) -> None:
    with source.open(_blob_name(descriptor.digest)) as handle:
        store.ingest_stream(handle, descriptor)


def _names_from(annotations: Mapping[str, Any], name: str | None) -> list[str]:
    full = annotations.get(_CONTAINERD_NAME)
    if isinstance(full, str) and full:
        return [str(parse_reference(full))]
    ref_name = annotations.get(_OCI_REF_NAME)
    if isinstance(ref_name, str) and ref_name:
        if "/" in ref_name or (":" in ref_name and not ref_name.startswith(":")):
            return [str(parse_reference(ref_name))]
        if name:
            return [str(parse_reference(f"{parse_reference(name).repository}:{ref_name}"))]
    if name:
        return [str(parse_reference(name))]
    return []


def _import_oci(
    store: ImageStore,
    source: _Source,
    held: set[str],
    *,
    name: str | None,
    platform: Platform,
) -> list[ImageRecord]:
    index = source.read_json("index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ArchiveError(f"{source.path}: index.json lists no manifests")
    records: list[ImageRecord] = []
    for raw in entries:
        if not isinstance(raw, dict):
            continue
        top = Descriptor(
            str(raw.get("mediaType", "")), str(raw.get("digest")), int(raw.get("size", 0))
        )
        names = _names_from(raw.get("annotations") or {}, name)
        if not names:
            raise ArchiveError(
                f"{source.path}: the archive names no image (no ref.name annotation): give a name"
            )
        held.add(top.digest)
        _copy(store, source, top)
        body = orjson.loads(store.read_blob(top.digest))
        media_type = top.media_type or str(body.get("mediaType", ""))
        manifest_desc = top
        if media_type in INDEX_TYPES:
            manifest_desc = select_platform(body, platform)
            held.add(manifest_desc.digest)
            _copy(store, source, manifest_desc)
            body = orjson.loads(store.read_blob(manifest_desc.digest))
            media_type = manifest_desc.media_type or str(body.get("mediaType", ""))
        if media_type not in MANIFEST_TYPES:
            raise UnsupportedImageError(f'unsupported manifest media type "{media_type}"')
        manifest = parse_manifest(body, media_type)
        held.add(manifest.config.digest)
        _copy(store, source, manifest.config)
        ids = diff_ids(orjson.loads(store.read_blob(manifest.config.digest)), len(manifest.layers))
        layers = []
        for layer, diff_id in zip(manifest.layers, ids, strict=True):
            held |= {layer.digest, diff_id}
            _copy(store, source, layer)
            layers.append(LayerRecord(layer.digest, diff_id, layer.media_type, layer.size))
        size = sum(x.size for x in layers) + manifest.config.size + manifest_desc.size
        for image_name in names:
            records.append(
                ImageRecord(
                    name=image_name,
                    target=top.digest,
                    manifest=manifest_desc.digest,
                    id=manifest.config.digest,
                    layers=tuple(layers),
                    size=size,
                )
            )
    return records


def _diff_id(store: ImageStore, digest: str) -> str:
    with store.blob_path(digest).open("rb") as handle:
        magic = handle.read(2)
        handle.seek(0)
        stream: IO[bytes] = (
            gzip.GzipFile(fileobj=handle) if magic == b"\x1f\x8b" else handle  # type: ignore[assignment]
        )
        hasher = hashlib.sha256()
        while block := stream.read(1 << 20):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def _import_docker(
    store: ImageStore, source: _Source, held: set[str], *, name: str | None
) -> list[ImageRecord]:
    entries = source.read_json("manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ArchiveError(f"{source.path}: manifest.json lists no images")
    records: list[ImageRecord] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(f"{source.path}: manifest.json entry without Config")
        with source.open(entry["Config"]) as handle:
            config_bytes = handle.read()
        config_digest = store.write_blob(config_bytes)
        held.add(config_digest)
        config = orjson.loads(config_bytes)
        layer_files = entry.get("Layers") or []
        ids = diff_ids(config, len(layer_files))
        layers: list[LayerRecord] = []
        for layer_file, diff_id in zip(layer_files, ids, strict=True):
            with source.open(str(layer_file)) as handle:
                digest, size = store.ingest_unknown(handle)
            held.add(digest)
            with store.blob_path(digest).open("rb") as handle:
                compressed = handle.read(2) == b"\x1f\x8b"
            got = _diff_id(store, digest) if compressed else digest
            if got != diff_id:
                raise BadDigestError(
                    f"layer {layer_file}: diff_id mismatch: got {got}, expected {diff_id}"
                )
            media_type = DOCKER_LAYER if compressed else _UNCOMPRESSED_LAYER
            layers.append(LayerRecord(digest, diff_id, media_type, size))
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in layers
            ],
        }
        manifest_bytes = orjson.dumps(manifest)
        manifest_digest = store.write_blob(manifest_bytes)
        held.add(manifest_digest)
        # An image saved by ID has no RepoTags: the caller's name stands in.
        tags = entry.get("RepoTags") or ([name] if name else [])
        if not tags:
            raise ArchiveError(f"{source.path}: image {config_digest} has no RepoTags: give a name")
        size = sum(x.size for x in layers) + len(config_bytes) + len(manifest_bytes)
        for tag in tags:
            records.append(
                ImageRecord(
                    name=str(parse_reference(str(tag))),
                    target=manifest_digest,
                    manifest=manifest_digest,
                    id=config_digest,
                    layers=tuple(layers),
                    size=size,
                )
            )
    return records
