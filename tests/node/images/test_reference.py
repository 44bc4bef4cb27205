from __future__ import annotations

import pytest

from kybernetes.node.images import InvalidImageNameError, parse_reference
from kybernetes.node.images.reference import ImageReference, parse_digest

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("registry:5000/a/b:tag", "registry:5000/a/b:tag"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("127.0.0.1:5000/test/busybox:oci", "127.0.0.1:5000/test/busybox:oci"),
        ("ghcr.io/o/r/deep/path:v1.2.3-rc_1", "ghcr.io/o/r/deep/path:v1.2.3-rc_1"),
        ("Example.COM/app", "Example.COM/app:latest"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}"),
        ("a__b/c-d--e/f.g", "docker.io/a__b/c-d--e/f.g:latest"),
    ],
)
def test_normalises_like_docker(image: str, expected: str) -> None:
    assert str(parse_reference(image)) == expected


def test_parts() -> None:
    ref = parse_reference(f"registry:5000/a/b:tag@{DIGEST}")
    assert ref == ImageReference("registry:5000", "a/b", "tag", DIGEST)
    assert ref.repository == "registry:5000/a/b"
    # The digest decides what is pulled; the tag stays only a name.
    assert ref.object == DIGEST
    assert parse_reference("nginx").object == "latest"
    assert str(parse_reference("nginx").with_digest(DIGEST)) == f"docker.io/library/nginx@{DIGEST}"


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("", "at least one component"),
        ("Nginx", "must be lowercase"),
        ("docker.io/Library/nginx", "must be lowercase"),
        ("nginx:", "invalid reference format"),
        ("nginx:-bad", "invalid reference format"),
        ("nginx:" + "a" * 129, "invalid reference format"),
        ("nginx@sha256:" + "a" * 40, "invalid checksum digest length"),
        ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("nginx@notadigest", "invalid checksum digest format"),
        ("-nginx", "invalid reference format"),
        ("nginx/", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/b_/c", "invalid reference format"),
        ("bad_host:5000/x", "invalid reference format"),
        (":tag", "invalid reference format"),
        ("a" * 64, "64-byte hexadecimal"),
        ("x/" + "a" * 260, "255 characters"),
    ],
)
def test_rejects_with_distributions_words(image: str, why: str) -> None:
    with pytest.raises(InvalidImageNameError) as info:
        parse_reference(image)
    assert why in str(info.value)
    assert f'couldn\'t parse image reference "{image}"' in str(info.value)
    assert info.value.reason == "InvalidImageName"


def test_digest_check() -> None:
    assert parse_digest(DIGEST) == DIGEST
    with pytest.raises(InvalidImageNameError):
        parse_digest("sha256:" + "AB" * 32)
