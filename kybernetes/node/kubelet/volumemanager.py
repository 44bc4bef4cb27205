"""Setting up one pod's volumes on the node, and taking them down again.

The I/O around `volumes`: fetch the ConfigMaps and Secrets a pod's volumes
read, write them atomically (again on every sync, so a changed ConfigMap
reaches running containers as on a real node), mount tmpfs for secrets and
memory-backed emptyDirs, check hostPath types, and unmount everything when
the pod goes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.node.kubelet.volumes import (
    VolumeError,
    memory_size,
    needed_objects,
    subpath_source,
    volume_files,
    write_atomically,
)
from kybernetes.node.mounts import mount as mount_filesystem
from kybernetes.node.mounts import unmount
from kybernetes.node.runtime.spec import Mount

__all__ = ["PodVolumes"]

Obj = dict[str, Any]
_PROJECTED = ("configMap", "secret", "downwardAPI", "projected")


class PodVolumes:
    def __init__(self, root: Path, client: ApiClient, *, mount_tmpfs: bool = True) -> None:
        self.root = root
        self._client = client
        # False without root (the process runtime): secrets and memory emptyDirs are
        # plain directories on disk then, since mounting a tmpfs needs root.
        self._mount_tmpfs = mount_tmpfs

    async def _fetch(
        self, namespace: str, wanted: set[tuple[str, str]]
    ) -> dict[tuple[str, str], Obj | None]:
        found: dict[tuple[str, str], Obj | None] = {}
        for kind, name in wanted:
            plural = "configmaps" if kind == "configmap" else "secrets"
            try:
                found[(kind, name)] = await self._client.get(
                    resource_path("", "v1", plural, namespace, name)
                )
            except ApiStatusError as err:
                if err.code != 404:
                    raise
                found[(kind, name)] = None
        return found

    async def ensure(self, pod: Obj, *, pod_ip: str, host_ip: str) -> dict[str, str]:
        """Volume name -> host directory (or file), every volume ready; VolumeError if not."""
        spec = pod.get("spec") or {}
        namespace = pod["metadata"].get("namespace", "")
        wanted: set[tuple[str, str]] = set()
        for volume in spec.get("volumes") or []:
            wanted |= needed_objects(volume)
        objects = await self._fetch(namespace, wanted)
        paths = {}
        for volume in spec.get("volumes") or []:
            paths[str(volume["name"])] = await self._one(pod, volume, objects, pod_ip, host_ip)
        return paths

    async def _one(self, pod: Obj, volume: Obj, objects: Mapping[tuple[str, str], Obj | None],
                   pod_ip: str, host_ip: str) -> str:  # fmt: skip
        name = str(volume["name"])
        directory = self.root / name
        if volume.get("hostPath") is not None:
            return await asyncio.to_thread(_host_path, name, volume["hostPath"])
        if volume.get("emptyDir") is not None:
            in_memory = (volume["emptyDir"] or {}).get("medium") == "Memory"
            await self._directory(directory, tmpfs=memory_size(volume) if in_memory else "")
            return str(directory)
        if any(volume.get(kind) is not None for kind in _PROJECTED):
            files = volume_files(pod, volume, objects, pod_ip=pod_ip, host_ip=host_ip)
            sources = (volume.get("projected") or {}).get("sources") or []
            secret = volume.get("secret") is not None or any(s.get("secret") for s in sources)
            await self._directory(directory, tmpfs="size=64m" if secret else "")
            await asyncio.to_thread(write_atomically, directory, files)
            return str(directory)
        kinds = ", ".join(sorted(k for k in volume if k != "name")) or "unknown"
        raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : volume type '
                          f"{kinds} is not supported on this node")  # fmt: skip

    async def _directory(self, directory: Path, *, tmpfs: str) -> None:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        if tmpfs and self._mount_tmpfs and not await asyncio.to_thread(os.path.ismount, directory):
            await asyncio.to_thread(
                mount_filesystem, "tmpfs", str(directory), "tmpfs", f"{tmpfs},mode=0755"
            )

    @staticmethod
    def mounts(container: Obj, volumes: Mapping[str, str], env: Mapping[str, str]) -> list[Mount]:
        """The container's volumeMounts as bind mounts."""
        mounts = []
        for mount in container.get("volumeMounts") or []:
            volume = str(mount.get("name", ""))
            if volume not in volumes:
                raise VolumeError(f'unable to find volume "{volume}" for container '
                                  f'"{container.get("name")}"')  # fmt: skip
            source = subpath_source(volumes[volume], mount, env)
            mounts.append(Mount(str(mount["mountPath"]), source, bool(mount.get("readOnly"))))
        return mounts

    async def teardown(self) -> None:
        """Unmount every tmpfs of the pod's volumes (the caller removes the files)."""
        if not await asyncio.to_thread(self.root.is_dir):
            return
        for entry in await asyncio.to_thread(lambda: list(self.root.iterdir())):
            if await asyncio.to_thread(os.path.ismount, entry):
                await asyncio.to_thread(unmount, str(entry))


_HOST_PATH_KINDS = {"Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket",
                    "CharDevice", "BlockDevice", ""}  # fmt: skip


def _host_path(name: str, spec: Obj) -> str:
    path = Path(str(spec.get("path", "")))
    kind = str(spec.get("type") or "")
    if kind not in _HOST_PATH_KINDS:
        raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : unknown hostPath '
                          f"type {kind!r}")  # fmt: skip
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    checks = {"Directory": path.is_dir, "File": path.is_file, "Socket": path.is_socket,
              "CharDevice": path.is_char_device, "BlockDevice": path.is_block_device}  # fmt: skip
    if kind in checks and not checks[kind]():
        raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : hostPath type check '
                          f"failed: {path} is not a {kind.lower()}")  # fmt: skip
    return str(path)
