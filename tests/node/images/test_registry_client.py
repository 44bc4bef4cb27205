"""The registry client against the real docker-registry (and a faulty, authenticating front)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kybernetes.node.images import (
    BadDigestError,
    ImageNotFoundError,
    RegistryUnavailableError,
    UnauthorizedError,
    parse_reference,
)
from kybernetes.node.images.manifests import INDEX_TYPES, Descriptor, Platform
from kybernetes.node.images.registry import RegistryClient
from tests.node.images.fakes import FakeFront
from tests.support.registry import (
    FORMS,
    Registry,
    arm64_image,
    busybox_image,
    busybox_layer,
    sha256,
)

AMD64 = Platform("linux", "amd64")


def _client(session: aiohttp.ClientSession, **kwargs: Any) -> RegistryClient:
    return RegistryClient(session, platform=AMD64, **kwargs)


def _secret(domain: str, user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"auths": {domain: {"auth": auth}}}


def _layer_descriptor() -> Descriptor:
    layer = busybox_layer()
    return Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer.digest, len(layer.gz))


@pytest.mark.parametrize("form", FORMS)
async def test_resolves_every_form_to_the_host_platform(
    registry: Registry, session: aiohttp.ClientSession, form: str
) -> None:
    image = busybox_image()
    resolved = await _client(session).resolve(
        parse_reference(f"{registry.domain}/test/busybox:{form}")
    )
    assert resolved.manifest.config.digest == sha256(image.config)
    assert [x.digest for x in resolved.manifest.layers] == [x.digest for x in image.layers]
    docker = form.startswith("docker")
    assert resolved.manifest_blob.digest == sha256(image.manifest(docker))
    if form.endswith(("index", "list")):
        # The arm64 entry comes first in the index; it must not be taken.
        assert resolved.top.media_type in INDEX_TYPES
        assert resolved.top.digest != resolved.manifest_blob.digest
    else:
        assert resolved.top == resolved.manifest_blob


async def test_other_platform_picks_its_own_entry(
    registry: Registry, session: aiohttp.ClientSession
) -> None:
    client = RegistryClient(session, platform=Platform("linux", "arm64", "v8"))
    resolved = await client.resolve(parse_reference(f"{registry.domain}/test/busybox:oci-index"))
    assert resolved.manifest.config.digest == sha256(arm64_image().config)


async def test_resolve_by_digest_and_head(
    registry: Registry, session: aiohttp.ClientSession
) -> None:
    client = _client(session)
    digest = await client.head(parse_reference(f"{registry.domain}/test/busybox:docker-list"))
    assert digest is not None
    by_digest = await client.resolve(parse_reference(f"{registry.domain}/test/busybox@{digest}"))
    assert by_digest.top.digest == digest


async def test_fetch_blob_streams_and_verifies(
    registry: Registry, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    partial = tmp_path / "blob.partial"
    ref = parse_reference(f"{registry.domain}/test/busybox:oci")
    await _client(session).fetch_blob(ref, _layer_descriptor(), partial)
    assert partial.read_bytes() == busybox_layer().gz


async def test_fetch_blob_resumes_what_is_on_disk(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gz = busybox_layer().gz
    partial = tmp_path / "blob.partial"
    partial.write_bytes(gz[:1000])
    ref = parse_reference(f"{front.domain}/test/busybox:oci")
    await _client(session).fetch_blob(ref, _layer_descriptor(), partial)
    assert partial.read_bytes() == gz
    blob_gets = [h for m, t, h in front.requests if "/blobs/" in t]
    assert [h.get("Range") for h in blob_gets] == ["bytes=1000-"]


async def test_dropped_connection_resumes_with_range(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    partial = tmp_path / "blob.partial"
    front.break_first_blob = True
    front.watch_partial = partial
    ref = parse_reference(f"{front.domain}/test/busybox:oci")
    await _client(session).fetch_blob(ref, _layer_descriptor(), partial)
    assert partial.read_bytes() == busybox_layer().gz
    ranges = [h.get("Range") for m, t, h in front.requests if "/blobs/" in t]
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    assert ranges[1] != "bytes=0-"


async def test_corrupt_blob_is_a_bad_digest(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    front.corrupt_blobs = True
    partial = tmp_path / "blob.partial"
    ref = parse_reference(f"{front.domain}/test/busybox:oci")
    with pytest.raises(BadDigestError, match="unexpected commit digest"):
        await _client(session).fetch_blob(ref, _layer_descriptor(), partial)
    assert not partial.exists()


async def test_corrupt_manifest_is_a_bad_digest(
    front: FakeFront, session: aiohttp.ClientSession
) -> None:
    front.corrupt_manifests = True
    with pytest.raises(BadDigestError, match="digest mismatch"):
        await _client(session).resolve(parse_reference(f"{front.domain}/test/busybox:oci"))


async def test_not_found(registry: Registry, session: aiohttp.ClientSession) -> None:
    client = _client(session)
    for image in (f"{registry.domain}/test/busybox:nope", f"{registry.domain}/no/such:1"):
        with pytest.raises(ImageNotFoundError) as info:
            await client.resolve(parse_reference(image))
        assert str(info.value) == f"{image}: not found"


async def test_unreachable_registry(session: aiohttp.ClientSession) -> None:
    from tests.support.etcd import free_port

    image = f"127.0.0.1:{free_port()}/test/busybox:1"
    with pytest.raises(RegistryUnavailableError, match="failed to do request: Get"):
        await _client(session).resolve(parse_reference(image))


async def test_anonymous_bearer_token_for_a_public_repository(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    front.auth = "bearer"
    client = _client(session)
    ref = parse_reference(f"{front.domain}/test/busybox:oci-index")
    resolved = await client.resolve(ref)
    await client.fetch_blob(ref, resolved.manifest.layers[0], tmp_path / "l")
    # One challenge, one token, then the token is reused for every request.
    assert front.token_requests == [
        {"service": "fake.registry", "scope": "repository:test/busybox:pull"}
    ]
    assert all(h.get("Authorization", "").startswith("Bearer ") for _, _, h in front.requests[1:])


async def test_private_repository_needs_the_pull_secret(
    front: FakeFront, session: aiohttp.ClientSession
) -> None:
    front.auth = "bearer"
    ref = parse_reference(f"{front.domain}/private/busybox:1")
    with pytest.raises(UnauthorizedError) as info:
        await _client(session).resolve(ref)
    assert "pull access denied, repository does not exist or may require authorization" in str(
        info.value
    )
    assert "authentication required" in str(info.value)
    wrong = _secret(front.domain, "alice", "wrong")
    with pytest.raises(UnauthorizedError):
        await _client(session, pull_secrets=[wrong]).resolve(ref)
    # A wrong secret first, the right one second: each is tried in turn.
    right = _secret(f"http://{front.domain}", "alice", "s3cret")
    resolved = await _client(session, pull_secrets=[wrong, right]).resolve(ref)
    assert resolved.manifest.config.digest == sha256(busybox_image().config)
    assert {
        "account": "alice",
        "service": "fake.registry",
        "scope": "repository:private/busybox:pull",
    } in front.token_requests


async def test_basic_auth_from_docker_config(
    front: FakeFront, session: aiohttp.ClientSession
) -> None:
    front.auth = "basic"
    ref = parse_reference(f"{front.domain}/test/busybox:docker")
    with pytest.raises(UnauthorizedError):
        await _client(session).resolve(ref)
    secret = _secret(front.domain, "alice", "s3cret")
    resolved = await _client(session, pull_secrets=[secret]).resolve(ref)
    assert resolved.top.digest == sha256(busybox_image().manifest(True))


async def test_redirected_blobs_never_get_the_token(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    front.auth = "bearer"
    front.redirect_blobs = True
    client = _client(session)
    ref = parse_reference(f"{front.domain}/test/busybox:oci")
    resolved = await client.resolve(ref)
    await client.fetch_blob(ref, resolved.manifest.layers[0], tmp_path / "l")
    assert (tmp_path / "l").read_bytes() == busybox_layer().gz
    assert len(front.storage_requests) == 1
    assert "Authorization" not in front.storage_requests[0]


def test_plain_http_only_for_insecure_or_loopback() -> None:
    client = RegistryClient(None, insecure_registries={"insecure.example:5000"})  # type: ignore[arg-type]
    assert client.base_url("registry.example.com") == "https://registry.example.com"
    assert client.base_url("insecure.example:5000") == "http://insecure.example:5000"
    assert client.base_url("localhost:5000") == "http://localhost:5000"
    assert client.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert client.base_url("[::1]:5000") == "http://[::1]:5000"
    assert client.base_url("docker.io") == "https://registry-1.docker.io"


async def test_every_request_asks_for_the_identity_encoding(
    front: FakeFront, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    front.auth = "bearer"
    client = _client(session)
    ref = parse_reference(f"{front.domain}/test/busybox:oci")
    resolved = await client.resolve(ref)
    await client.fetch_blob(ref, resolved.manifest.layers[1], tmp_path / "l")
    assert {h.get("Accept-Encoding") for _, _, h in front.requests} == {"identity"}
