"""Volume contents (configMap, secret, downwardAPI, projected) and atomic updates."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kybernetes.node.kubelet.volumemanager import PodVolumes
from kybernetes.node.kubelet.volumes import (
    FileEntry,
    VolumeError,
    go_quote,
    needed_objects,
    owned_mode,
    subpath_source,
    volume_files,
    write_atomically,
)

LIMITED = {"name": "c", "resources": {"limits": {"memory": "64Mi"}}}
POD = {"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "1"},
                    "annotations": {"note": 'say "hi"\\now\n'}},
       "spec": {"containers": [LIMITED, {"name": "free"}]}}  # fmt: skip
CONFIG = {"data": {"greeting": "hello", "level": "debug"}}
SECRET = {"data": {"token": base64.b64encode(b"s3cret").decode()}}
OBJECTS: dict[tuple[str, str], Any] = {("configmap", "app"): CONFIG, ("secret", "creds"): SECRET,
                                       ("configmap", "gone"): None}  # fmt: skip


def files(volume: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    made = volume_files(POD, volume, OBJECTS, node_allocatable={"cpu": "2", "memory": "4Gi"})
    return {k: (v.data, v.mode) for k, v in made.items()}


def test_configmap_and_secret_volumes() -> None:
    assert files({"name": "v", "configMap": {"name": "app"}}) == {
        "greeting": (b"hello", 0o644), "level": (b"debug", 0o644)}  # fmt: skip
    picked = {"name": "v", "configMap": {"name": "app", "defaultMode": 0o600,
                                         "items": [{"key": "level", "path": "conf/level",
                                                    "mode": 0o400}]}}  # fmt: skip
    assert files(picked) == {"conf/level": (b"debug", 0o400)}
    assert files({"name": "v", "secret": {"secretName": "creds"}}) == {"token": (b"s3cret", 0o644)}
    assert needed_objects({"name": "v", "secret": {"secretName": "creds"}}) == {("secret", "creds")}


def test_missing_sources_fail_with_kubelet_words_unless_optional() -> None:
    with pytest.raises(VolumeError, match='volume "v" : configmap "gone" not found'):
        files({"name": "v", "configMap": {"name": "gone"}})
    assert files({"name": "v", "configMap": {"name": "gone", "optional": True}}) == {}
    with pytest.raises(VolumeError, match="non-existent config key: nope"):
        files({"name": "v", "configMap": {"name": "app", "items": [{"key": "nope", "path": "x"}]}})


def test_downward_and_projected() -> None:
    downward = {"name": "v", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                             "divisor": "1Mi"}}]}}  # fmt: skip
    assert files(downward) == {"labels": (b'app="web"\ntier="1"', 0o644),
                               "name": (b"web", 0o644), "mem": (b"64", 0o644)}  # fmt: skip
    projected = {"name": "v", "projected": {"sources": [
        {"configMap": {"name": "app", "items": [{"key": "greeting", "path": "g"}]}},
        {"secret": {"name": "creds"}}]}}  # fmt: skip
    assert set(files(projected)) == {"g", "token"}


def test_atomic_writes_switch_everything_at_once(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert write_atomically(target, {"a": FileEntry(b"1", 0o644), "d/b": FileEntry(b"2", 0o600)})
    assert (target / "a").read_bytes() == b"1" and (target / "d" / "b").read_bytes() == b"2"
    assert os.readlink(target / "a") == "..data/a"
    assert oct((target / "d" / "b").stat().st_mode & 0o777) == "0o600"
    assert not write_atomically(
        target, {"a": FileEntry(b"1", 0o644), "d/b": FileEntry(b"2", 0o600)}
    )
    assert write_atomically(target, {"a": FileEntry(b"changed", 0o644)})
    assert (target / "a").read_bytes() == b"changed"
    assert not (target / "d").exists()  # the key that went away
    stamps = [p for p in target.iterdir() if p.name.startswith("..") and p.is_dir()
              and not p.is_symlink()]  # fmt: skip
    assert len(stamps) == 1  # the old generation is gone


def test_subpaths_stay_inside_the_volume() -> None:
    assert subpath_source("/v", {"subPath": "conf/app.ini"}, {}) == "/v/conf/app.ini"
    assert subpath_source("/v", {"subPathExpr": "$(POD)"}, {"POD": "web-1"}) == "/v/web-1"
    with pytest.raises(VolumeError):
        subpath_source("/v", {"subPath": "../etc"}, {})


def test_labels_and_annotations_are_quoted_as_go_does() -> None:
    assert go_quote('say "hi"\\now\n\x00é') == '"say \\"hi\\"\\\\now\\n\\x00é"'
    volume = {"name": "v", "downwardAPI": {"items": [
        {"path": "a", "fieldRef": {"fieldPath": "metadata.annotations"}}]}}  # fmt: skip
    assert files(volume) == {"a": (b'note="say \\"hi\\"\\\\now\\n"', 0o644)}


def test_a_container_without_limits_reads_the_node_allocatable() -> None:
    volume = {"name": "v", "downwardAPI": {"items": [
        {"path": "cpu", "resourceFieldRef": {"containerName": "free", "resource": "limits.cpu"}},
        {"path": "mem", "resourceFieldRef": {
            "containerName": "free", "resource": "limits.memory", "divisor": "1Mi"}}]}}  # fmt: skip
    assert files(volume) == {"cpu": (b"2", 0o644), "mem": (b"4096", 0o644)}


def test_an_fs_group_owns_the_volume(tmp_path: Path) -> None:
    assert owned_mode(0o400, is_dir=False, read_only=True) == 0o440
    assert owned_mode(0o644, is_dir=False, read_only=False) == 0o664
    assert owned_mode(0o755, is_dir=True, read_only=True) == 0o2755
    target = tmp_path / "vol"
    write_atomically(target, {"a": FileEntry(b"1", 0o400), "d/b": FileEntry(b"2", 0o600)},
                     fs_group=1001)  # fmt: skip
    for path, mode in (("a", 0o440), ("d/b", 0o640), ("d", 0o2755), ("..data", 0o2755)):
        info = (target / path).stat()
        assert (info.st_gid, stat.S_IMODE(info.st_mode)) == (1001, mode), path


def test_a_missing_subpath_becomes_a_directory_like_its_volume(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    os.chmod(volume, 0o777)
    mount = {"name": "v", "mountPath": "/x", "subPathExpr": "$(POD)/logs"}
    made = PodVolumes.mounts({"name": "c", "volumeMounts": [mount]}, {"v": str(volume)},
                             {"POD": "web-1"})  # fmt: skip
    assert made[0].source == str(volume / "web-1" / "logs")
    assert stat.S_IMODE((volume / "web-1" / "logs").stat().st_mode) == 0o777
    assert stat.S_IMODE((volume / "web-1").stat().st_mode) == 0o777
    (volume / "escape").symlink_to("/etc")
    with pytest.raises(VolumeError, match=r"unable to provision SubPath `escape`: .* not within"):
        PodVolumes.mounts({"name": "c", "volumeMounts": [{**mount, "subPathExpr": "escape"}]},
                          {"v": str(volume)}, {})  # fmt: skip
