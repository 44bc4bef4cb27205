"""An OCI distribution (registry v2) client: resolve, verify, stream blobs.

Every byte is checked: a manifest's sha256 against the digest it was asked
by (or the registry's `Docker-Content-Digest`), a blob's size and sha256 as
it streams to disk (never whole in memory), and a platform manifest's media
type against its index entry. Interrupted blob downloads resume with a
Range request. Redirects are followed by hand so that credentials never
travel to another origin (an S3 redirect target gets no Authorization).

Auth is the challenge flow: the first 401 names a scheme; for Bearer we ask
the `realm` for a token with `service` and `scope` (anonymously, as Docker
Hub allows, or with basic credentials from imagePullSecrets), for Basic we
send the credentials; each candidate credential is tried in turn, as the
kubelet does. Plain HTTP only for registries marked insecure or on loopback.

Failures are typed (errors.py) with containerd-style messages, so the
kubelet can say `Failed to pull image "nginx:1.27": <message>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import orjson

from kybernetes.node.images.auth import Credential, credentials_for, parse_challenge
from kybernetes.node.images.errors import (
    BadDigestError,
    ImageNotFoundError,
    ImagePullError,
    RegistryUnavailableError,
    UnauthorizedError,
    UnsupportedImageError,
)
from kybernetes.node.images.manifests import (
    ACCEPT,
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    ImageManifest,
    Platform,
    host_platform,
    parse_manifest,
    select_platform,
)
from kybernetes.node.images.reference import ImageReference

__all__ = ["Fetched", "RegistryClient", "ResolvedImage", "is_loopback", "sha256_hex"]

_MAX_MANIFEST = 4 * 1024 * 1024
_MAX_REDIRECTS = 10
_CHUNK = 1 << 16
# Bytes gathered before a write (in a thread): few thread hops, little lost on a drop.
_FLUSH = 1 << 18
_BLOB_ATTEMPTS = 3
_HUB_API = "registry-1.docker.io"
# No total deadline (a large layer on a slow link may take long), but a
# connection that stalls fails, and the next attempt resumes with Range.
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)


def sha256_hex(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_loopback(domain: str) -> bool:
    """`localhost`, 127.0.0.0/8 and ::1, with or without a port."""
    host = domain
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Fetched:
    """A manifest or index as the registry sent it, digest verified."""

    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class ResolvedImage:
    """What a reference points at: the top-level content and the platform manifest.

    `top` is what the tag names (an index or a manifest): its digest is the
    repo digest (`name@sha256:…`). `manifest` is the one for our platform.
    """

    top: Fetched
    manifest_blob: Fetched
    manifest: ImageManifest


def _registry_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = str(first.get("code", "")).lower()
        return f"{code}: {first.get('message', '')}".strip(": ")
    return ""


class RegistryClient:
    """Talks to registries for one pull context (one pod's imagePullSecrets).

    The aiohttp session is shared and owned by the caller.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        pull_secrets: Sequence[Mapping[str, Any]] = (),
        insecure_registries: Collection[str] = (),
        platform: Platform | None = None,
    ) -> None:
        self._session = session
        self._secrets = list(pull_secrets)
        self._insecure = frozenset(insecure_registries)
        self.platform = platform or host_platform()
        # Authorization header per (domain, repository path), once a challenge is met.
        self._auth: dict[tuple[str, str], str] = {}

    # -- URLs -----------------------------------------------------------

    def base_url(self, domain: str) -> str:
        host = _HUB_API if domain == "docker.io" else domain
        scheme = "http" if domain in self._insecure or is_loopback(domain) else "https"
        return f"{scheme}://{host}"

    def _url(self, ref: ImageReference, kind: str, obj: str) -> str:
        return f"{self.base_url(ref.domain)}/v2/{ref.path}/{kind}/{obj}"

    # -- requests -------------------------------------------------------

    async def _follow(
        self, method: str, url: str, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        origin = urlsplit(url)[:2]
        # Identity on every request: bodies are hashed and parsed as sent, never decoded.
        headers = {"Accept-Encoding": "identity", **headers}
        for _ in range(_MAX_REDIRECTS):
            try:
                response = await self._session.request(
                    method,
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=_TIMEOUT,
                    auto_decompress=False,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                why = str(exc) or type(exc).__name__
                raise RegistryUnavailableError(
                    f'failed to do request: {method.capitalize()} "{url}": {why}'
                ) from exc
            if response.status not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("Location")
            response.release()
            if not location:
                raise RegistryUnavailableError(f"redirect without Location from {url}")
            url = urljoin(url, location)
            if urlsplit(url)[:2] != origin:
                # Blob storage (S3 and the like) gets a signed URL, never our token.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RegistryUnavailableError(f"stopped after {_MAX_REDIRECTS} redirects at {url}")

    async def _token(
        self, params: Mapping[str, str], credential: Credential | None, scope: str
    ) -> str:
        realm = params.get("realm")
        if not realm:
            raise UnauthorizedError("authorization failed: bearer challenge without realm")
        parts = urlsplit(realm)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and (is_loopback(parts.netloc) or parts.netloc in self._insecure)
        ):
            raise UnauthorizedError(f'refusing token realm "{realm}": not https')
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = params.get("scope") or scope
        headers = {}
        if credential is not None:
            headers["Authorization"] = credential.basic()
            query["account"] = credential.username
        sep = "&" if parts.query else "?"
        url = realm + sep + urlencode(query)
        response = await self._follow("GET", url, headers)
        async with response:
            body = await response.read()
            if response.status in (401, 403):
                raise UnauthorizedError(
                    "failed to fetch anonymous token: unexpected status from GET request to "
                    f"{realm}: {response.status} {response.reason}"
                    if credential is None
                    else f"failed to fetch oauth token: {response.status} {response.reason}"
                )
            if response.status != 200:
                raise RegistryUnavailableError(
                    f"failed to fetch token from {realm}: {response.status} {response.reason}"
                )
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UnauthorizedError(f"invalid token response from {realm}") from exc
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise UnauthorizedError(f"token response from {realm} has no token")
        return "Bearer " + token

    async def _open(
        self,
        ref: ImageReference,
        method: str,
        url: str,
        headers: Mapping[str, str],
    ) -> aiohttp.ClientResponse:
        """A response that is not 401, authorising through the challenge flow if asked."""
        key = (ref.domain, ref.path)
        sent = dict(headers)
        if key in self._auth:
            sent["Authorization"] = self._auth[key]
        response = await self._follow(method, url, sent)
        if response.status != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        message = _registry_message(await response.read())
        response.release()
        scope = f"repository:{ref.path}:pull"
        candidates: list[Credential | None] = list(
            credentials_for(self._secrets, domain=ref.domain, path=ref.path)
        )
        if challenge.scheme == "bearer":
            candidates.append(None)  # anonymous tokens, as Docker Hub hands out
        for credential in candidates:
            if challenge.scheme == "bearer":
                try:
                    authorization = await self._token(challenge.params, credential, scope)
                except UnauthorizedError as exc:
                    message = str(exc)
                    continue
            elif challenge.scheme == "basic" and credential is not None:
                authorization = credential.basic()
            else:
                continue
            response = await self._follow(method, url, {**headers, "Authorization": authorization})
            if response.status != 401:
                self._auth[key] = authorization
                return response
            message = _registry_message(await response.read()) or message
            response.release()
        raise UnauthorizedError(
            "pull access denied, repository does not exist or may require authorization"
            + (f": server message: {message}" if message else "")
        )

    def _check_status(
        self, ref: ImageReference, response: aiohttp.ClientResponse, body: bytes
    ) -> None:
        status = response.status
        if status in (200, 206):
            return
        message = _registry_message(body)
        if status == 404:
            raise ImageNotFoundError(f"{ref}: not found")
        if status == 403:
            raise UnauthorizedError(
                "pull access denied, repository does not exist or may require authorization"
                + (f": server message: {message}" if message else "")
            )
        if status == 429 or status >= 500:
            raise RegistryUnavailableError(
                f"unexpected status from {response.method} request to {response.url}: "
                f"{status} {response.reason}"
            )
        raise ImagePullError(
            f"unexpected status from {response.method} request to {response.url}: "
            f"{status} {response.reason}" + (f": {message}" if message else "")
        )

    # -- manifests ------------------------------------------------------

    async def get_manifest(self, ref: ImageReference, obj: str) -> Fetched:
        """GET a manifest or index by tag or digest, with the full Accept list."""
        url = self._url(ref, "manifests", obj)
        response = await self._open(ref, "GET", url, {"Accept": ACCEPT})
        async with response:
            if response.status != 200:
                self._check_status(ref, response, await response.content.read(65536))
            length = response.content_length
            if length is not None and length > _MAX_MANIFEST:
                raise UnsupportedImageError(f"manifest of {ref} is too large ({length} bytes)")
            body = await response.content.read(_MAX_MANIFEST + 1)
            if len(body) > _MAX_MANIFEST:
                raise UnsupportedImageError(f"manifest of {ref} is too large")
            header_digest = response.headers.get("Docker-Content-Digest")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = sha256_hex(body)
        expected = obj if obj.startswith("sha256:") else header_digest
        if expected and expected.startswith("sha256:") and expected != digest:
            raise BadDigestError(
                f"manifest {ref.repository}@{expected}: digest mismatch: got {digest}"
            )
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UnsupportedImageError(f"invalid manifest for {ref}: not JSON") from exc
        body_type = parsed.get("mediaType") if isinstance(parsed, dict) else None
        media_type = body_type if isinstance(body_type, str) and body_type else content_type
        if media_type not in INDEX_TYPES | MANIFEST_TYPES:
            raise UnsupportedImageError(f'unsupported manifest media type "{media_type}" for {ref}')
        return Fetched(digest=digest, media_type=media_type, body=body)

    async def resolve(self, ref: ImageReference) -> ResolvedImage:
        """Tag or digest → the verified platform manifest (through an index if any)."""
        top = await self.get_manifest(ref, ref.object)
        fetched = top
        if top.media_type in INDEX_TYPES:
            entry = select_platform(orjson.loads(top.body), self.platform)
            fetched = await self.get_manifest(ref, entry.digest)
            if entry.media_type and entry.media_type != fetched.media_type:
                raise UnsupportedImageError(
                    f'manifest {entry.digest}: media type "{fetched.media_type}" does not '
                    f'match its index entry "{entry.media_type}"'
                )
            if entry.size != len(fetched.body):
                raise BadDigestError(f"manifest {entry.digest}: size mismatch")
            if fetched.media_type in INDEX_TYPES:
                raise UnsupportedImageError(f"nested image index at {entry.digest}")
        manifest = parse_manifest(orjson.loads(fetched.body), fetched.media_type)
        return ResolvedImage(top=top, manifest_blob=fetched, manifest=manifest)

    async def head(self, ref: ImageReference) -> str | None:
        """The digest the reference points at now (cheap: HEAD), if the registry says."""
        url = self._url(ref, "manifests", ref.object)
        response = await self._open(ref, "HEAD", url, {"Accept": ACCEPT})
        async with response:
            if response.status != 200:
                self._check_status(ref, response, b"")
            return response.headers.get("Docker-Content-Digest")

    # -- blobs ----------------------------------------------------------

    async def fetch_blob(self, ref: ImageReference, descriptor: Descriptor, partial: Path) -> None:
        """Stream a blob into `partial`, resuming what is there; verify size and sha256.

        On return `partial` holds exactly the blob (not yet fsynced); on a
        mismatch it is removed and BadDigestError raised.
        """
        for attempt in range(_BLOB_ATTEMPTS):
            try:
                await self._fetch_blob_once(ref, descriptor, partial)
                return
            except RegistryUnavailableError:
                # A dropped connection mid-body: the next attempt resumes from what arrived.
                if attempt == _BLOB_ATTEMPTS - 1:
                    raise

    async def _fetch_blob_once(
        self, ref: ImageReference, descriptor: Descriptor, partial: Path
    ) -> None:
        hasher = hashlib.sha256()
        offset = await asyncio.to_thread(_rehash_partial, partial, hasher, descriptor.size)
        headers = {"Accept": "*/*"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        url = self._url(ref, "blobs", descriptor.digest)
        response = await self._open(ref, "GET", url, headers)
        async with response:
            if response.status == 416 and offset == descriptor.size:
                pass  # already complete; verified below
            else:
                if response.status not in (200, 206):
                    self._check_status(ref, response, await response.content.read(65536))
                if response.status == 200 and offset:
                    # The server ignored Range: start again from zero.
                    offset, hasher = 0, hashlib.sha256()
                elif response.status == 206:
                    start = response.headers.get("Content-Range", "").removeprefix("bytes ")
                    if not start.startswith(f"{offset}-"):
                        offset, hasher = 0, hashlib.sha256()
                        await asyncio.to_thread(_truncate, partial)
                        raise RegistryUnavailableError(
                            f'unexpected Content-Range "{start}" for {descriptor.digest}'
                        )
                await self._stream(response, partial, hasher, offset=offset, descriptor=descriptor)
        size = await asyncio.to_thread(os.path.getsize, partial)
        digest = "sha256:" + hasher.hexdigest()
        if size != descriptor.size or digest != descriptor.digest:
            await asyncio.to_thread(_unlink, partial)
            raise BadDigestError(
                f"failed to copy {descriptor.digest}: unexpected commit digest {digest}, "
                f"expected {descriptor.digest}: failed precondition (size {size}, "
                f"expected {descriptor.size})"
            )

    async def _stream(
        self,
        response: aiohttp.ClientResponse,
        partial: Path,
        hasher: Any,
        *,
        offset: int,
        descriptor: Descriptor,
    ) -> None:
        handle = await asyncio.to_thread(_open_at, partial, offset)
        try:
            buffer = bytearray()
            written = offset
            try:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    buffer += chunk
                    if written + len(buffer) > descriptor.size:
                        raise BadDigestError(
                            f"failed to copy {descriptor.digest}: more than {descriptor.size} bytes"
                        )
                    if len(buffer) >= _FLUSH:
                        await asyncio.to_thread(_write, handle, hasher, bytes(buffer))
                        written += len(buffer)
                        buffer.clear()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # Keep what arrived so the retry resumes from it.
                await asyncio.to_thread(_write, handle, hasher, bytes(buffer))
                raise RegistryUnavailableError(
                    f"failed to copy {descriptor.digest}: {exc or type(exc).__name__}"
                ) from exc
            await asyncio.to_thread(_write, handle, hasher, bytes(buffer))
        finally:
            await asyncio.to_thread(handle.close)


def _rehash_partial(path: Path, hasher: Any, size: int) -> int:
    try:
        have = path.stat().st_size
    except FileNotFoundError:
        return 0
    if have > size:
        path.unlink()
        return 0
    with path.open("rb") as handle:
        while block := handle.read(_FLUSH):
            hasher.update(block)
    return have


def _open_at(path: Path, offset: int) -> IO[bytes]:
    handle = path.open("r+b" if offset else "wb")
    handle.seek(offset)
    handle.truncate()
    return handle


def _write(handle: IO[bytes], hasher: Any, data: bytes) -> None:
    if data:
        handle.write(data)
        hasher.update(data)


def _truncate(path: Path) -> None:
    with path.open("wb"):
        pass


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
