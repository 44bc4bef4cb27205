"""Setting up one pod's volumes on the node, and taking them down again.

The I/O around `volumes`: fetch the ConfigMaps and Secrets a pod's volumes
read and the service account tokens they show (a TokenRequest bound to the
pod, renewed once 80% of its life has passed, as the kubelet's token
manager does), write them atomically (again on every sync, so a changed
ConfigMap reaches running containers as on a real node), mount tmpfs for
secrets, tokens and memory-backed emptyDirs, check hostPath types, and
unmount everything when the pod goes.

Every volume directory is made as the kubelet makes an emptyDir (the
configMap, secret, downwardAPI and projected plugins wrap one): mode 0777
on disk, a tmpfs keeping its own 1777, so any user of the pod may write an
emptyDir. A subPath that does not exist yet is made as a directory with the
volume's mode, as the kubelet does before it binds it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.node.kubelet.volumes import (
    VolumeError,
    memory_size,
    needed_objects,
    set_ownership,
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
        # token_key -> (the TokenRequest answered, when to ask for a new one)
        self._tokens: dict[str, tuple[Obj, float]] = {}

    async def _token(self, pod: Obj, key: str) -> Obj:
        """A token for the pod's account, bound to the pod; kept until 80% of its life."""
        kept = self._tokens.get(key)
        if kept is not None and time.monotonic() < kept[1]:
            return kept[0]
        audience, seconds = key.rsplit("|", 1)
        meta, spec = pod["metadata"], pod.get("spec") or {}
        account = str(spec.get("serviceAccountName") or "default")
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [audience] if audience else [], "expirationSeconds": int(seconds),
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"],
                               "uid": meta.get("uid", "")}}}  # fmt: skip
        path = resource_path("", "v1", "serviceaccounts", meta.get("namespace", ""), account)
        try:
            answer: Obj = await self._client.create(f"{path}/token", request)
        except ApiStatusError as err:
            raise VolumeError(f"failed to fetch token: {err}") from err
        self._tokens[key] = (answer, time.monotonic() + 0.8 * int(seconds))
        return answer

    async def _fetch(
        self, pod: Obj, wanted: set[tuple[str, str]]
    ) -> dict[tuple[str, str], Obj | None]:
        namespace = pod["metadata"].get("namespace", "")
        found: dict[tuple[str, str], Obj | None] = {}
        for kind, name in wanted:
            if kind == "token":
                found[(kind, name)] = await self._token(pod, name)
                continue
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

    async def ensure(
        self, pod: Obj, *, pod_ip: str, host_ip: str,
        node_allocatable: Mapping[str, str] | None = None,
    ) -> dict[str, str]:  # fmt: skip
        """Volume name -> host directory (or file), every volume ready; VolumeError if not."""
        spec = pod.get("spec") or {}
        wanted: set[tuple[str, str]] = set()
        for volume in spec.get("volumes") or []:
            wanted |= needed_objects(volume)
        objects = await self._fetch(pod, wanted)
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        paths = {}
        for volume in spec.get("volumes") or []:
            paths[str(volume["name"])] = await self._one(
                pod, volume, objects, fs_group=fs_group,
                node={"pod_ip": pod_ip, "host_ip": host_ip,
                      "node_allocatable": dict(node_allocatable or {})})  # fmt: skip
        return paths

    async def _one(self, pod: Obj, volume: Obj, objects: Mapping[tuple[str, str], Obj | None],
                   *, fs_group: int | None, node: Obj) -> str:  # fmt: skip
        name = str(volume["name"])
        directory = self.root / name
        if volume.get("hostPath") is not None:
            return await asyncio.to_thread(_host_path, name, volume["hostPath"])
        if volume.get("emptyDir") is not None:
            in_memory = (volume["emptyDir"] or {}).get("medium") == "Memory"
            tmpfs = memory_size(volume) if in_memory else ""
            made = await self._directory(directory, tmpfs=tmpfs)
            if made and fs_group is not None:
                await asyncio.to_thread(set_ownership, directory, int(fs_group), read_only=False)
            return str(directory)
        if any(volume.get(kind) is not None for kind in _PROJECTED):
            files = volume_files(pod, volume, objects, **node)
            sources = (volume.get("projected") or {}).get("sources") or []
            secret = volume.get("secret") is not None or any(
                s.get("secret") or s.get("serviceAccountToken") for s in sources
            )
            await self._directory(directory, tmpfs="size=64m" if secret else "")
            group = int(fs_group) if fs_group is not None else None
            await asyncio.to_thread(write_atomically, directory, files, fs_group=group)
            return str(directory)
        kinds = ", ".join(sorted(k for k in volume if k != "name")) or "unknown"
        raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : volume type '
                          f"{kinds} is not supported on this node")  # fmt: skip

    async def _directory(self, directory: Path, *, tmpfs: str) -> bool:
        """Make the volume's directory; True when it was not there before."""
        made = not await asyncio.to_thread(directory.is_dir)
        if made:
            await asyncio.to_thread(directory.mkdir, parents=True)
        if tmpfs and self._mount_tmpfs:
            if not await asyncio.to_thread(os.path.ismount, directory):
                # No mode option: a tmpfs root is 1777, which the kubelet keeps (its
                # emptyDir only chmods when the permission bits differ from 0777).
                await asyncio.to_thread(mount_filesystem, "tmpfs", str(directory), "tmpfs", tmpfs)
        elif made:
            await asyncio.to_thread(os.chmod, directory, 0o777)
        return made

    @staticmethod
    def mounts(container: Obj, volumes: Mapping[str, str], env: Mapping[str, str]) -> list[Mount]:
        """The container's volumeMounts as bind mounts (blocking: makes missing subPaths)."""
        mounts = []
        for mount in container.get("volumeMounts") or []:
            volume = str(mount.get("name", ""))
            if volume not in volumes:
                raise VolumeError(f'unable to find volume "{volume}" for container '
                                  f'"{container.get("name")}"')  # fmt: skip
            source = subpath_source(volumes[volume], mount, env)
            if source != volumes[volume]:
                _make_subpath(Path(volumes[volume]), Path(source))
            mounts.append(Mount(str(mount["mountPath"]), source, bool(mount.get("readOnly"))))
        return mounts

    async def teardown(self) -> None:
        """Unmount every tmpfs of the pod's volumes (the caller removes the files)."""
        if not await asyncio.to_thread(self.root.is_dir):
            return
        for entry in await asyncio.to_thread(lambda: list(self.root.iterdir())):
            if await asyncio.to_thread(os.path.ismount, entry):
                await asyncio.to_thread(unmount, str(entry))


def _make_subpath(volume: Path, source: Path) -> None:
    """A subPath not in the volume yet becomes a directory with the volume's mode; one
    that resolves outside the volume (a symlink a container made) is refused, as the
    kubelet refuses it, since the bind mount would follow the link onto the host."""
    if not os.path.lexists(source):
        mode = volume.stat().st_mode & 0o7777
        missing = [p for p in [source, *source.parents] if p != volume and volume in p.parents]
        for path in reversed(missing):
            if not os.path.lexists(path):
                path.mkdir()
                os.chmod(path, mode)
    real, root = os.path.realpath(source), os.path.realpath(volume)
    if os.path.commonpath([real, root]) != root:
        raise VolumeError(f"unable to provision SubPath `{source.relative_to(volume)}`: "
                          f"subpath {real!r} not within volume path {root!r}")  # fmt: skip


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
