"""The kubelet's ImageService over the node's image store: registry pulls and imports.

Adapts `kybernetes.node.images` (pull policy, registry client, content
store, unpacked layers) to what the pod worker asks for: the layer
directories (base first, for the overlay), the image config's `config`
object, an image ID as containerd reports it (`repo@sha256:…`, the repo
digest), and the size for the Pulled event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import aiohttp

from kybernetes.node.images import ImagePuller, ImageRecord, ImageStore, parse_reference
from kybernetes.node.images.manifests import Platform
from kybernetes.node.kubelet.podworker import PulledImage

__all__ = ["RegistryImages", "image_id"]


def image_id(record: ImageRecord) -> str:
    """What containerStatuses[].imageID shows: the repository at the digest its name resolved to."""
    return f"{parse_reference(record.name).repository}@{record.target}"


class RegistryImages:
    """ImageService for the pod worker, backed by an ImageStore and a registry puller."""

    def __init__(
        self,
        store: ImageStore,
        session: aiohttp.ClientSession,
        *,
        insecure_registries: Collection[str] = (),
        platform: Platform | None = None,
    ) -> None:
        self.store = store
        self.puller = ImagePuller(
            store, session, insecure_registries=insecure_registries, platform=platform
        )

    async def ensure(
        self, image: str, *, policy: str, pull_secrets: Sequence[Mapping[str, Any]]
    ) -> tuple[PulledImage, bool]:
        record, pulled = await self.puller.ensure(image, policy=policy, pull_secrets=pull_secrets)
        document = await asyncio.to_thread(self.store.image_config, record)
        config = document.get("config")
        return (
            PulledImage(
                name=image,
                image_id=image_id(record),
                layers=tuple(str(self.store.snapshot_path(x.diff_id)) for x in record.layers),
                config=config if isinstance(config, dict) else {},
                size=record.size,
            ),
            pulled,
        )
