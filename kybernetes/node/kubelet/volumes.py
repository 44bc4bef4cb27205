"""Pod volumes: emptyDir, hostPath, configMap, secret, downwardAPI, projected.

Each volume becomes a directory (or a host path) that containers bind
mount at their `volumeMounts`. What a configMap, secret, downwardAPI or
projected volume holds is decided purely (`volume_files`: relative path ->
bytes and mode) from the objects the caller fetched, then written the way
Kubernetes' AtomicWriter does it: into a fresh timestamped directory, with
`..data` switched over by one rename and each visible name a symlink
through `..data`, so a container never sees half an update when the
ConfigMap changes. Secrets live on a tmpfs, never on disk; `emptyDir` with
`medium: Memory` is a tmpfs too.

A source that is missing and not optional stops the pod from starting
with kubelet's FailedMount words: `MountVolume.SetUp failed for volume
"config" : configmap "app" not found`.

With a pod `fsGroup`, every file and directory of a volume takes that
group, group read (and write, for a writable volume such as an emptyDir)
and, on directories, setgid, as the kubelet's SetVolumeOwnership does, so
a non-root container in that group reads a Secret kept at mode 0440.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.api.quantity import int_value
from kybernetes.node.kubelet.containerspec import (
    ConfigError,
    expand,
    field_ref_value,
    resource_ref_value,
)

__all__ = [
    "FileEntry",
    "go_quote",
    "memory_size",
    "owned_mode",
    "set_ownership",
    "VolumeError",
    "needed_objects",
    "subpath_source",
    "volume_files",
    "write_atomically",
]

Obj = dict[str, Any]
Objects = Mapping[tuple[str, str], Obj | None]  # (kind, name) -> object, None when missing
DATA = "..data"
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}  # fmt: skip


class VolumeError(Exception):
    """A volume cannot be set up (FailedMount)."""


@dataclass(frozen=True)
class FileEntry:
    data: bytes
    mode: int


def token_key(source: Obj) -> str:
    """How a serviceAccountToken source's token is known among a volume's objects:
    its audience and lifetime (one token serves every source that asks alike)."""
    return f"{source.get('audience') or ''}|{int(source.get('expirationSeconds') or 3600)}"


def needed_objects(volume: Obj) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret the volume reads, and
    ("token", token_key) of every service account token it shows."""
    found: set[tuple[str, str]] = set()
    sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
    for source in sources:
        if source.get("serviceAccountToken"):
            found.add(("token", token_key(source["serviceAccountToken"])))
        if source.get("configMap"):
            found.add(("configmap", str(source["configMap"].get("name", ""))))
        if source.get("secret"):
            found.add(("secret", str(source["secret"].get("secretName")
                                     or source["secret"].get("name", ""))))  # fmt: skip
    return found


def _items(
    data: Mapping[str, bytes], spec: Obj, default_mode: int, what: str
) -> dict[str, FileEntry]:
    items = spec.get("items")
    if not items:
        return {key: FileEntry(value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if spec.get("optional"):
                continue
            if what == "configmap":
                raise VolumeError(f"configmap references non-existent config key: {key}")
            raise VolumeError(f"references non-existent secret key: {key}")
        mode = int(item.get("mode", default_mode))
        files[str(item.get("path") or key)] = FileEntry(data[key], mode)
    return files


def _object_data(kind: str, obj: Obj) -> dict[str, bytes]:
    if kind == "secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _from_object(kind: str, spec: Obj, objects: Objects, default_mode: int,
                 volume: str) -> dict[str, FileEntry]:  # fmt: skip
    name = str(spec.get("secretName") or spec.get("name", ""))
    obj = objects.get((kind, name))
    if obj is None:
        if spec.get("optional"):
            return {}
        raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : '
                          f'{kind} "{name}" not found')  # fmt: skip
    try:
        return _items(_object_data(kind, obj), spec, int(spec.get("defaultMode", default_mode)),
                      kind)  # fmt: skip
    except VolumeError as err:
        raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {err}') from None


def go_quote(text: str) -> str:
    """`text` as Go's %q writes it: the kubelet's format for label and annotation values."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _downward(pod: Obj, spec: Obj, default_mode: int, node: _Node) -> dict[str, FileEntry]:
    files = {}
    containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    for item in spec.get("items") or []:
        try:
            if item.get("fieldRef"):
                path = str(item["fieldRef"].get("fieldPath", ""))
                if path in ("metadata.labels", "metadata.annotations"):
                    values = (pod.get("metadata") or {}).get(path.split(".")[1]) or {}
                    # fieldpath.FormatMap: sorted key=%q lines
                    text = "\n".join(f"{k}={go_quote(str(v))}" for k, v in sorted(values.items()))
                else:
                    text = field_ref_value(pod, path, node.pod_ip, node.host_ip)
            else:
                ref = item.get("resourceFieldRef") or {}
                container = containers.get(str(ref.get("containerName", ""))) or {}
                text = resource_ref_value(container, ref, node.allocatable)
        except ConfigError as err:
            raise VolumeError(str(err)) from None
        mode = int(item.get("mode", default_mode))
        files[str(item.get("path", ""))] = FileEntry(text.encode(), mode)
    return files


@dataclass(frozen=True)
class _Node:
    """What the downward API reads from the node rather than from the pod."""

    pod_ip: str
    host_ip: str
    allocatable: Mapping[str, str]


def volume_files(pod: Obj, volume: Obj, objects: Objects, *, pod_ip: str = "",
                 host_ip: str = "", node_allocatable: Mapping[str, str] | None = None,
                 ) -> dict[str, FileEntry]:  # fmt: skip
    """The files a configMap/secret/downwardAPI/projected volume shows (a container
    without a limit reads the node's allocatable through resourceFieldRef)."""
    name = str(volume.get("name", ""))
    node = _Node(pod_ip, host_ip, node_allocatable or {})
    if volume.get("configMap") is not None:
        return _from_object("configmap", volume["configMap"], objects, 0o644, name)
    if volume.get("secret") is not None:
        return _from_object("secret", volume["secret"], objects, 0o644, name)
    if volume.get("downwardAPI") is not None:
        spec = volume["downwardAPI"]
        return _downward(pod, spec, int(spec.get("defaultMode", 0o644)), node)
    if volume.get("projected") is not None:
        projected = volume["projected"]
        mode = int(projected.get("defaultMode", 0o644))
        files: dict[str, FileEntry] = {}
        for source in projected.get("sources") or []:
            if source.get("configMap"):
                files.update(_from_object("configmap", source["configMap"], objects, mode, name))
            elif source.get("secret"):
                files.update(_from_object("secret", source["secret"], objects, mode, name))
            elif source.get("downwardAPI"):
                files.update(_downward(pod, source["downwardAPI"], mode, node))
            elif source.get("serviceAccountToken"):
                token_source = source["serviceAccountToken"]
                token = objects.get(("token", token_key(token_source)))
                if token is None:
                    raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : '
                                      "failed to fetch token")  # fmt: skip
                path = str(token_source.get("path") or "token")
                files[path] = FileEntry(str(token["status"]["token"]).encode(), mode)
        return files
    return {}


def subpath_source(volume_dir: str, mount: Obj, env: Mapping[str, str]) -> str:
    """The host path a volumeMount binds, subPath (or subPathExpr) inside the volume."""
    sub = str(mount.get("subPath") or "")
    if mount.get("subPathExpr"):
        sub = expand(str(mount["subPathExpr"]), env)
    if not sub:
        return volume_dir
    if sub.startswith("/") or ".." in Path(sub).parts:
        raise VolumeError(f"subPath {sub!r} must be a relative path without '..'")
    return str(Path(volume_dir) / sub)


def write_atomically(directory: Path, files: Mapping[str, FileEntry], *,
                     fs_group: int | None = None) -> bool:  # fmt: skip
    """Make `directory` show exactly `files`; False when it already did (blocking)."""
    directory.mkdir(parents=True, exist_ok=True)
    current = directory / DATA
    if current.is_symlink() and _shows(current, files):
        return False
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    os.chmod(stamp, 0o755)  # AtomicWriter's, whatever the kubelet's umask
    for relative, entry in files.items():
        target = stamp / relative
        for parent in reversed(target.relative_to(stamp).parents[:-1]):
            if not (stamp / parent).is_dir():
                (stamp / parent).mkdir()
                os.chmod(stamp / parent, 0o755)
        target.write_bytes(entry.data)
        os.chmod(target, entry.mode)
    if fs_group is not None:
        # Before the switch, so a container never sees the new files without their group.
        set_ownership(directory, fs_group, read_only=True)
    scratch = directory / "..data_tmp"
    scratch.unlink(missing_ok=True)
    scratch.symlink_to(stamp.name)
    old = os.readlink(current) if current.is_symlink() else None
    os.replace(scratch, current)  # the one atomic switch
    tops = {Path(relative).parts[0] for relative in files}
    for top in tops:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(Path(DATA) / top)
    for shown in directory.iterdir():
        if shown.is_symlink() and shown.name not in tops and not shown.name.startswith(".."):
            shown.unlink()  # a key that went away
    if old and (directory / old).is_dir():
        shutil.rmtree(directory / old, ignore_errors=True)
    return True


def _shows(current: Path, files: Mapping[str, FileEntry]) -> bool:
    shown = {str(p.relative_to(current.resolve())) for p in current.resolve().rglob("*")
             if p.is_file()}  # fmt: skip
    if shown != set(files):
        return False
    return all((current / relative).read_bytes() == entry.data for relative, entry in files.items())


def owned_mode(mode: int, *, is_dir: bool, read_only: bool) -> int:
    """A volume file's mode once its group is the pod's fsGroup (SetVolumeOwnership):
    the group may read it (and write, unless the volume is read-only); a directory
    is also searchable by the group and setgid, so what is made in it later joins."""
    mask = 0o440 if read_only else 0o660
    if is_dir:
        mask |= stat.S_ISGID | 0o110
    return stat.S_IMODE(mode) | mask


def set_ownership(directory: Path, fs_group: int, *, read_only: bool) -> None:
    """Give everything under `directory` (itself included) the group `fs_group` (blocking).
    Symlinks are left alone: changing one would change its target's mode again."""
    paths = [directory]
    for root, dirs, names in os.walk(directory):
        paths += [Path(root) / name for name in dirs + names]
    for path in paths:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        os.chown(path, info.st_uid, fs_group)
        mode = owned_mode(info.st_mode, is_dir=stat.S_ISDIR(info.st_mode), read_only=read_only)
        os.chmod(path, mode)


def memory_size(volume: Obj) -> str:
    """tmpfs size option of an emptyDir in memory (its sizeLimit, else half the RAM)."""
    limit = (volume.get("emptyDir") or {}).get("sizeLimit")
    return f"size={int_value(limit)}" if limit else "size=50%"
