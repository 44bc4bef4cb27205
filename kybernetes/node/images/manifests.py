"""Manifest media types, platform choice and manifest checks: pure code.

An image is reached through at most one index (OCI index or Docker manifest
list) whose entries name a platform; we take the linux/<host arch> entry
(variant-aware for arm), never simply the first. A manifest names a config
and its layers; `config.rootfs.diff_ids` names each layer's uncompressed tar.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.node.images.errors import UnsupportedImageError
from kybernetes.node.images.reference import parse_digest

__all__ = [
    "ACCEPT",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Descriptor",
    "ImageManifest",
    "Platform",
    "diff_ids",
    "host_platform",
    "layer_compression",
    "parse_manifest",
    "select_platform",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# Without every one of these, a registry answers 404 for OCI content and
# converts Docker content to schema1 under another digest (node-runtime.md).
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def host_platform(machine: str | None = None) -> Platform:
    """linux/<GOARCH> of this machine (`uname -m` mapped to Go's names)."""
    raw = machine if machine is not None else platform.machine()
    arch = _ARCH_ALIASES.get(raw.lower(), raw.lower())
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(raw.lower())
    if arch == "arm64":
        variant = "v8"
    return Platform("linux", arch, variant)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def _descriptor(raw: Any, what: str) -> Descriptor:
    if not isinstance(raw, Mapping):
        raise UnsupportedImageError(f"invalid manifest: {what} is not an object")
    digest, size = raw.get("digest"), raw.get("size")
    media_type = raw.get("mediaType", "")
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise UnsupportedImageError(f"invalid manifest: {what} lacks a digest or size")
    try:
        parse_digest(digest)
    except ValueError as exc:
        raise UnsupportedImageError(f"invalid manifest: {what}: {exc}") from None
    return Descriptor(str(media_type), digest, size)


def select_platform(index: Mapping[str, Any], want: Platform) -> Descriptor:
    """The index entry for `want`; a missing variant matches any on that arch."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise UnsupportedImageError("invalid image index: no manifests")
    fallback: Descriptor | None = None
    for i, raw in enumerate(entries):
        if not isinstance(raw, Mapping):
            continue
        plat = raw.get("platform")
        if not isinstance(plat, Mapping):
            continue
        if plat.get("os") != want.os or plat.get("architecture") != want.architecture:
            continue
        descriptor = _descriptor(raw, f"manifests[{i}]")
        variant = plat.get("variant")
        if variant == want.variant or not variant or not want.variant:
            return descriptor
        fallback = fallback or descriptor
    if fallback is not None:
        return fallback
    raise UnsupportedImageError(f"no match for platform in manifest: not found ({want})")


@dataclass(frozen=True)
class ImageManifest:
    """A single-platform manifest: its config and its layers, bottom first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def parse_manifest(body: Mapping[str, Any], media_type: str) -> ImageManifest:
    if media_type not in MANIFEST_TYPES:
        raise UnsupportedImageError(f'unsupported manifest media type "{media_type}"')
    config = _descriptor(body.get("config"), "config")
    layers_raw = body.get("layers")
    if not isinstance(layers_raw, list):
        raise UnsupportedImageError("invalid manifest: no layers")
    layers = tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers_raw))
    for layer in layers:
        layer_compression(layer.media_type)
    return ImageManifest(media_type, config, layers)


def layer_compression(media_type: str) -> str:
    """ "gzip", "zstd" or "none" for a layer media type; anything else is refused."""
    if media_type in (OCI_LAYER_GZIP, DOCKER_LAYER, _DOCKER_FOREIGN, _NONDIST + "+gzip"):
        return "gzip"
    if media_type in (OCI_LAYER_TAR, _NONDIST, "application/vnd.docker.image.rootfs.diff.tar"):
        return "none"
    if media_type in (OCI_LAYER_ZSTD, _NONDIST + "+zstd"):
        return "zstd"
    raise UnsupportedImageError(f'unsupported layer media type "{media_type}"')


def diff_ids(config: Mapping[str, Any], layer_count: int) -> Sequence[str]:
    """`rootfs.diff_ids` of an image config, checked against the layer count."""
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    if not isinstance(ids, list) or len(ids) != layer_count:
        raise UnsupportedImageError(
            "invalid image config: rootfs.diff_ids does not match the manifest's layers"
        )
    for diff_id in ids:
        if not isinstance(diff_id, str):
            raise UnsupportedImageError("invalid image config: a diff_id is not a string")
        try:
            parse_digest(diff_id)
        except ValueError as exc:
            raise UnsupportedImageError(f"invalid image config: {exc}") from None
    return [str(d) for d in ids]
