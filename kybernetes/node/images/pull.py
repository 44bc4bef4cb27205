"""Pulling an image into the store: resolve, download what is missing, unpack, name it.

The puller is the piece the kubelet calls (`ensure` applies the pull
policy). Concurrent pulls of one reference share a single download, and
layers download and unpack in parallel, each layer unpacking as soon as
its blob is in. Blocking store work goes to threads. Every failure is an
ImageError whose message reads the way containerd words it, so the kubelet
can put it straight into `Failed to pull image "…": <message>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from kybernetes.node.images.errors import ImageError, ImagePullError, UnsupportedImageError
from kybernetes.node.images.manifests import Descriptor, Platform, diff_ids, layer_compression
from kybernetes.node.images.policy import should_pull
from kybernetes.node.images.reference import ImageReference, parse_reference
from kybernetes.node.images.registry import RegistryClient
from kybernetes.node.images.store import ImageRecord, ImageStore, LayerRecord
from kybernetes.node.images.unpack import ZSTD_UNSUPPORTED

__all__ = ["ImagePuller"]

_PARALLEL_LAYERS = 3


class ImagePuller:
    """Pulls images from registries into one ImageStore."""

    def __init__(
        self,
        store: ImageStore,
        session: aiohttp.ClientSession,
        *,
        insecure_registries: Collection[str] = (),
        platform: Platform | None = None,
        unpack: bool = True,
    ) -> None:
        self.store = store
        self._session = session
        self._insecure = frozenset(insecure_registries)
        self._platform = platform
        self._unpack = unpack
        self._inflight: dict[str, asyncio.Future[ImageRecord]] = {}
        self._layer_gate = asyncio.Semaphore(_PARALLEL_LAYERS)
        # One download per blob: two images sharing a layer must not write one partial file.
        self._blob_locks: dict[str, _Gate] = {}

    async def present(self, image: str) -> ImageRecord | None:
        """The local image for `image`, if there is one this node can run."""
        return await asyncio.to_thread(self._present, image)

    def _present(self, image: str) -> ImageRecord | None:
        record = self.store.resolve(image)
        if record is not None and self._unpack:
            # An image whose layers were never unpacked (imported without root) is not runnable.
            ready = all(self.store.has_snapshot(layer.diff_id) for layer in record.layers)
            return record if ready else None
        return record

    async def ensure(
        self, image: str, *, policy: str, pull_secrets: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[ImageRecord, bool]:
        """The image for a container under `policy`; returns (record, pulled)."""
        parse_reference(image)
        record = await self.present(image)
        if not should_pull(policy, image=image, present=record is not None):
            assert record is not None
            return record, False
        return await self.pull(image, pull_secrets=pull_secrets), True

    async def pull(
        self, image: str, *, pull_secrets: Sequence[Mapping[str, Any]] = ()
    ) -> ImageRecord:
        """Pull `image` (normalised) and return its record; typed ImageError on failure."""
        ref = parse_reference(image)
        key = str(ref)
        while (running := self._inflight.get(key)) is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if running.cancelled() and task is not None and not task.cancelling():
                    # The pull we joined was abandoned by its caller (a pod
                    # deleted mid-pull), not by us: go on with one of our own.
                    continue
                raise
        future: asyncio.Future[ImageRecord] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            record = await self._pull(ref, pull_secrets)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; this marks it retrieved
            raise
        else:
            future.set_result(record)
            return record
        finally:
            self._inflight.pop(key, None)

    async def _pull(
        self, ref: ImageReference, pull_secrets: Sequence[Mapping[str, Any]]
    ) -> ImageRecord:
        client = RegistryClient(
            self._session,
            pull_secrets=pull_secrets,
            insecure_registries=self._insecure,
            platform=self._platform,
        )
        try:
            resolved = await client.resolve(ref)
        except ImageError as exc:
            raise _wrap(
                exc, f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}"'
            ) from exc
        try:
            with self.store.lease() as held:
                manifest = resolved.manifest
                held |= {resolved.top.digest, resolved.manifest_blob.digest, manifest.config.digest}
                await asyncio.to_thread(
                    self.store.write_blob, resolved.top.body, resolved.top.digest
                )
                await asyncio.to_thread(
                    self.store.write_blob,
                    resolved.manifest_blob.body,
                    resolved.manifest_blob.digest,
                )
                await self._fetch(client, ref, manifest.config)
                config = orjson.loads(
                    await asyncio.to_thread(self.store.read_blob, manifest.config.digest)
                )
                if not isinstance(config, dict):
                    raise UnsupportedImageError("invalid image config: not an object")
                ids = diff_ids(config, len(manifest.layers))
                if self._unpack:
                    # Refuse before downloading what could never be unpacked.
                    for descriptor in manifest.layers:
                        if layer_compression(descriptor.media_type) == "zstd":
                            raise UnsupportedImageError(ZSTD_UNSUPPORTED)
                layers = tuple(
                    LayerRecord(d.digest, diff_id, d.media_type, d.size)
                    for d, diff_id in zip(manifest.layers, ids, strict=True)
                )
                held |= {x.digest for x in layers} | {x.diff_id for x in layers}
                await asyncio.gather(*(self._layer(client, ref, layer) for layer in layers))
                size = (
                    sum(x.size for x in layers)
                    + manifest.config.size
                    + len(resolved.manifest_blob.body)
                )
                record = ImageRecord(
                    name=_name(ref),
                    target=resolved.top.digest,
                    manifest=resolved.manifest_blob.digest,
                    id=manifest.config.digest,
                    layers=layers,
                    size=size,
                )
                await asyncio.to_thread(self.store.add, record)
                return record
        except ImageError as exc:
            raise _wrap(exc, f'failed to pull and unpack image "{ref}"') from exc

    async def _fetch(
        self, client: RegistryClient, ref: ImageReference, descriptor: Descriptor
    ) -> None:
        gate = self._blob_locks.setdefault(descriptor.digest, _Gate())
        gate.users += 1
        try:
            async with gate.lock:
                if await asyncio.to_thread(self.store.has_blob, descriptor.digest):
                    return
                partial = self.store.ingest_path(descriptor.digest)
                await client.fetch_blob(ref, descriptor, partial)
                await asyncio.to_thread(self.store.commit_blob, descriptor.digest, partial)
        finally:
            gate.users -= 1
            if gate.users == 0:
                self._blob_locks.pop(descriptor.digest, None)

    async def _layer(self, client: RegistryClient, ref: ImageReference, layer: LayerRecord) -> None:
        async with self._layer_gate:
            await self._fetch(client, ref, Descriptor(layer.media_type, layer.digest, layer.size))
        if self._unpack:
            await asyncio.to_thread(self.store.unpack, layer)


def _name(ref: ImageReference) -> str:
    """The name an image is stored under: with a digest, the tag is dropped (as containerd does)."""
    return str(ref.with_digest(ref.digest)) if ref.digest is not None else str(ref)


@dataclass
class _Gate:
    """A per-digest lock, forgotten when nobody holds or waits for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _wrap(exc: ImageError, prefix: str) -> ImageError:
    """The same error class, its message prefixed with what was being done."""
    if not isinstance(exc, ImagePullError):
        return exc
    wrapped = type(exc).__new__(type(exc))
    Exception.__init__(wrapped, f"{prefix}: {exc}")
    return wrapped
