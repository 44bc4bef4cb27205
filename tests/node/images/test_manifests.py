from __future__ import annotations

import pytest

from kybernetes.node.images import UnsupportedImageError
from kybernetes.node.images.manifests import (
    DOCKER_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Platform,
    diff_ids,
    host_platform,
    layer_compression,
    parse_manifest,
    select_platform,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _entry(
    digest: str, arch: str, variant: str | None = None, os: str = "linux"
) -> dict[str, object]:
    platform: dict[str, str] = {"os": os, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": 10, "platform": platform}


def test_host_platform_uses_go_names() -> None:
    assert host_platform("x86_64") == Platform("linux", "amd64")
    assert host_platform("aarch64") == Platform("linux", "arm64", "v8")
    assert host_platform("armv7l") == Platform("linux", "arm", "v7")


def test_select_platform_never_takes_the_first_entry_blindly() -> None:
    index = {
        "manifests": [
            _entry(D1, "arm64", "v8"),
            _entry(D3, "amd64", os="windows"),
            _entry(D2, "amd64"),
        ]
    }
    assert select_platform(index, Platform("linux", "amd64")).digest == D2
    assert select_platform(index, Platform("linux", "arm64", "v8")).digest == D1
    with pytest.raises(UnsupportedImageError, match="no match for platform in manifest"):
        select_platform(index, Platform("linux", "s390x"))


def test_select_platform_variants() -> None:
    index = {"manifests": [_entry(D1, "arm", "v6"), _entry(D2, "arm", "v7")]}
    assert select_platform(index, Platform("linux", "arm", "v7")).digest == D2
    # No exact variant: any entry for the architecture is better than none.
    assert select_platform(index, Platform("linux", "arm", "v8")).digest == D1


def test_layer_compression() -> None:
    assert layer_compression(OCI_LAYER_GZIP) == "gzip"
    assert layer_compression(DOCKER_LAYER) == "gzip"
    assert layer_compression(OCI_LAYER_TAR) == "none"
    assert layer_compression(OCI_LAYER_ZSTD) == "zstd"
    with pytest.raises(UnsupportedImageError, match="unsupported layer media type"):
        layer_compression("application/x-foo")


def test_parse_manifest_and_diff_ids() -> None:
    body = {
        "config": {"mediaType": "c", "digest": D1, "size": 3},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": D2, "size": 5}],
    }
    manifest = parse_manifest(body, OCI_MANIFEST)
    assert manifest.config.digest == D1
    assert [x.digest for x in manifest.layers] == [D2]
    with pytest.raises(UnsupportedImageError):
        parse_manifest({**body, "layers": [{"digest": "sha256:x", "size": 1}]}, OCI_MANIFEST)
    with pytest.raises(UnsupportedImageError):
        parse_manifest(body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert diff_ids({"rootfs": {"diff_ids": [D3]}}, 1) == [D3]
    with pytest.raises(UnsupportedImageError, match="does not match"):
        diff_ids({"rootfs": {"diff_ids": [D3, D3]}}, 1)
