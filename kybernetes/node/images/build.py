"""`kyb image build DIR`: an image from a directory holding a root filesystem and a config.

DIR/rootfs/ becomes the image's single layer; DIR/config.json, if present,
is the image config's `config` object in Docker's words (`Entrypoint`,
`Cmd`, `Env`, `WorkingDir`, `User`, `ExposedPorts`, `Labels`,
`StopSignal`), so a user with no registry and no Docker can still run
their program. The layer is an uncompressed tar (it never leaves the node,
so compressing it would only cost time), written reproducibly: entries
sorted, owned by root, mtime 0, so the same directory gives the same image
ID. It streams to disk, never whole in memory.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import orjson

from kybernetes.node.images.errors import ImageError
from kybernetes.node.images.manifests import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, host_platform
from kybernetes.node.images.reference import parse_reference
from kybernetes.node.images.store import ImageRecord, ImageStore, LayerRecord

__all__ = ["BuildError", "build_image"]

_CONFIG_KEYS = frozenset(
    {"Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "StopSignal"}
)


class BuildError(ImageError):
    reason = "ErrImageBuild"


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.exists():
        return {}
    try:
        config = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BuildError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise BuildError(f"{path}: must hold an object")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_CONFIG_KEYS))
        raise BuildError(f"{path}: unknown keys {', '.join(unknown)} (allowed: {allowed})")
    return config


def build_image(
    store: ImageStore, directory: str | os.PathLike[str], *, name: str, unpack: bool = True
) -> str:
    """Build DIR into `store` as `name` (normalised, returned). Blocking: call in a thread."""
    root = Path(directory)
    rootfs = root / "rootfs"
    if not rootfs.is_dir():
        raise BuildError(f"{root}: no rootfs/ directory to build from")
    ref = parse_reference(name)
    config = _read_config(root)
    with store.lease() as held:
        layer_digest, layer_size = _write_layer(store, rootfs)
        held.add(layer_digest)
        platform = host_platform()
        image_config = {
            "architecture": platform.architecture,
            "os": platform.os,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
        config_bytes = orjson.dumps(image_config, option=orjson.OPT_SORT_KEYS)
        config_digest = store.write_blob(config_bytes)
        held.add(config_digest)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": layer_size}],
        }
        manifest_bytes = orjson.dumps(manifest)
        manifest_digest = store.write_blob(manifest_bytes)
        held.add(manifest_digest)
        layer = LayerRecord(layer_digest, layer_digest, OCI_LAYER_TAR, layer_size)
        record = ImageRecord(
            name=str(ref),
            target=manifest_digest,
            manifest=manifest_digest,
            id=config_digest,
            layers=(layer,),
            size=layer_size + len(config_bytes) + len(manifest_bytes),
        )
        if unpack:
            store.unpack_image(record)
        store.add(record)
    return record.name


def _write_layer(store: ImageStore, rootfs: Path) -> tuple[str, int]:
    """Tar `rootfs` into the store; an uncompressed layer's digest is its diff_id."""
    staging = store.scratch_path(".tar")
    try:
        with (
            staging.open("wb") as out,
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            for child in sorted(os.listdir(rootfs)):
                archive.add(rootfs / child, arcname=child, filter=_reproducible)
        with staging.open("rb") as handle:
            return store.ingest_unknown(handle)
    finally:
        staging.unlink(missing_ok=True)
