"""A real registry on loopback (Debian's docker-registry) and test images built by hand.

The registry listens only on 127.0.0.1 with no auth and a temp storage dir,
and is stopped by its PID. Images are deterministic gzip tars: busybox-static
plus its applet symlinks as layer 1, and a layer 2 with a file whiteout, an
opaque directory and a new file. `push_image` uses the v2 API as
node-runtime.md describes, in four forms: an OCI manifest, a Docker schema2
manifest, and an OCI index and Docker manifest list that each list an arm64
entry first (so a client that takes manifests[0] fails).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest

from tests.support.etcd import free_port

__all__ = [
    "FORMS",
    "Entry",
    "Layer",
    "Registry",
    "BuiltImage",
    "busybox_image",
    "make_layer",
    "needs_root",
    "push_image",
    "registry_binary",
    "running_registry",
    "serving_test_images",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Form = Literal["oci", "docker", "oci-index", "docker-list"]
FORMS: tuple[Form, ...] = ("oci", "docker", "oci-index", "docker-list")


def registry_binary() -> str | None:
    return shutil.which("docker-registry")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """docker-registry on 127.0.0.1:<free port>, storage in a temp dir."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.domain = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.domain}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(data_dir, "registry.log")

    def start(self, timeout: float = 20.0) -> None:
        binary = registry_binary()
        if binary is None:
            raise RuntimeError("docker-registry is not installed: run scripts/setup.sh")
        config = os.path.join(self.data_dir, "config.yml")
        storage = os.path.join(self.data_dir, "storage")
        with open(config, "w") as handle:
            # No auth section; loopback only (the Debian default listens on all interfaces).
            json.dump(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {
                        "filesystem": {"rootdirectory": storage},
                        "delete": {"enabled": True},
                    },
                    "http": {
                        "addr": self.domain,
                        "headers": {"X-Content-Type-Options": ["nosniff"]},
                    },
                },
                handle,
            )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [binary, "serve", config], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not answer in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, 15)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, 9)
                process.wait()


@contextlib.contextmanager
def running_registry() -> Iterator[Registry]:
    with tempfile.TemporaryDirectory(prefix="kyb-registry-") as data_dir:
        registry = Registry(data_dir)
        registry.start()
        try:
            yield registry
        finally:
            registry.stop()


# -- layers ------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One tar entry: kind is file, dir, symlink, link (hard) or chr."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Layer:
    tar: bytes
    gz: bytes

    @property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @property
    def digest(self) -> str:
        return sha256(self.gz)


def make_layer(entries: Sequence[Entry]) -> Layer:
    """A deterministic layer: mtime 0, the owners given, gzip without a timestamp."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime = 0
            info.uid, info.gid = entry.uid, entry.gid
            info.mode = entry.mode
            if entry.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
            payload = None
            if entry.kind == "file":
                info.size = len(entry.data)
                payload = io.BytesIO(entry.data)
            elif entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                info.mode = 0o777
            elif entry.kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = entry.target
            elif entry.kind == "chr":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            else:
                raise ValueError(entry.kind)
            archive.addfile(info, payload)
    tar = buffer.getvalue()
    return Layer(tar=tar, gz=gzip.compress(tar, compresslevel=6, mtime=0))


@functools.cache
def busybox_layer() -> Layer:
    binary = "/bin/busybox"
    with open(binary, "rb") as handle:
        data = handle.read()
    applets = subprocess.run(
        [binary, "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    entries = [
        Entry("bin", "dir", mode=0o755),
        Entry("sbin", "dir", mode=0o755),
        Entry("usr", "dir", mode=0o755),
        Entry("usr/bin", "dir", mode=0o755),
        Entry("usr/sbin", "dir", mode=0o755),
        Entry("tmp", "dir", mode=0o1777),
        Entry("etc", "dir", mode=0o755),
        Entry("etc/hello", data=b"hello\n"),
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/www:/bin/sh\n"),
        Entry("www", "dir", mode=0o755, uid=33, gid=33),
        Entry("www/old.txt", data=b"old\n", uid=33, gid=33),
        Entry("bin/busybox", data=data, mode=0o755),
    ]
    entries += [
        Entry(applet, "symlink", target="/bin/busybox")
        for applet in sorted(applets)
        if applet != "bin/busybox"
    ]
    return make_layer(entries)


@functools.cache
def whiteout_layer() -> Layer:
    return make_layer(
        [
            Entry("etc", "dir", mode=0o755),
            Entry("etc/.wh.hello"),
            Entry("www", "dir", mode=0o755, uid=33, gid=33),
            Entry("www/.wh..wh..opq"),
            Entry("www/index.html", data=b"<h1>kybernetes</h1>\n", uid=33, gid=33),
        ]
    )


@dataclass(frozen=True)
class BuiltImage:
    """Layers (bottom first) and the config that names their diff_ids."""

    layers: tuple[Layer, ...]
    architecture: str = "amd64"
    cmd: tuple[str, ...] = ("sh",)

    @property
    def config(self) -> bytes:
        body = {
            "architecture": self.architecture,
            "os": "linux",
            "config": {
                "Cmd": list(self.cmd),
                "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
        }
        return json.dumps(body, sort_keys=True).encode()

    def manifest(self, docker: bool) -> bytes:
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        body = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": sha256(self.config),
                "size": len(self.config),
            },
            "layers": [
                {"mediaType": layer_type, "digest": layer.digest, "size": len(layer.gz)}
                for layer in self.layers
            ],
        }
        return json.dumps(body, indent=2).encode()


def busybox_image(*, extra: bool = True) -> BuiltImage:
    """busybox (layer 1), plus the whiteout layer unless `extra` is False."""
    layers = (busybox_layer(), whiteout_layer()) if extra else (busybox_layer(),)
    return BuiltImage(layers=layers)


def arm64_image() -> BuiltImage:
    return BuiltImage(
        layers=(make_layer([Entry("arm64", data=b"not for this host\n")]),), architecture="arm64"
    )


# -- pushing ---------------------------------------------------------------


def _request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        if method == "HEAD" and exc.code == 404:
            return 404, {}
        raise RuntimeError(f"{method} {url}: {exc.code} {exc.read()[:300]!r}") from exc


def push_blob(base: str, repo: str, data: bytes) -> str:
    digest = sha256(data)
    status, _ = _request("HEAD", f"{base}/v2/{repo}/blobs/{digest}")
    if status == 200:
        return digest
    status, headers = _request("POST", f"{base}/v2/{repo}/blobs/uploads/", b"")
    assert status == 202, status
    location = headers["Location"]
    sep = "&" if "?" in location else "?"
    status, _ = _request(
        "PUT",
        f"{location}{sep}digest={digest}",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    assert status == 201, status
    return digest


def push_manifest(base: str, repo: str, ref: str, body: bytes, media_type: str) -> str:
    status, headers = _request(
        "PUT", f"{base}/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type}
    )
    assert status == 201, status
    assert headers["Docker-Content-Digest"] == sha256(body)
    return sha256(body)


def _push_single(
    base: str, repo: str, ref: str, image: BuiltImage, *, docker: bool
) -> tuple[str, int]:
    for layer in image.layers:
        push_blob(base, repo, layer.gz)
    push_blob(base, repo, image.config)
    body = image.manifest(docker)
    push_manifest(base, repo, ref, body, DOCKER_MANIFEST if docker else OCI_MANIFEST)
    return sha256(body), len(body)


def push_image(base: str, repo: str, tag: str, image: BuiltImage, form: Form) -> str:
    """Push `image` as `repo:tag` in `form`; return the digest the tag points at."""
    if form in ("oci", "docker"):
        digest, _ = _push_single(base, repo, tag, image, docker=form == "docker")
        return digest
    docker = form == "docker-list"
    child_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    arm = arm64_image()
    arm_digest, arm_size = _push_single(
        base, repo, sha256(arm.manifest(docker)), arm, docker=docker
    )
    digest, size = _push_single(base, repo, sha256(image.manifest(docker)), image, docker=docker)
    index = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [
            {
                "mediaType": child_type,
                "digest": arm_digest,
                "size": arm_size,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
            {
                "mediaType": child_type,
                "digest": digest,
                "size": size,
                "platform": {"architecture": image.architecture, "os": "linux"},
            },
        ],
    }
    body = json.dumps(index, indent=2).encode()
    return push_manifest(base, repo, tag, body, DOCKER_LIST if docker else OCI_INDEX)


def needs_root() -> list[pytest.MarkDecorator]:
    """Marks for a test that needs root: the `root` marker, and an explicit skip otherwise."""
    return [
        pytest.mark.root,
        pytest.mark.skipif(
            os.geteuid() != 0, reason="needs root (chroot, overlay whiteouts, file owners)"
        ),
    ]


@contextlib.contextmanager
def serving_test_images() -> Iterator[Registry]:
    """A running registry holding the test images: test/busybox in every form,
    test/base:1 (layer 1 only) and private/busybox:1."""
    if registry_binary() is None:
        pytest.skip("docker-registry is not installed (apt docker-registry; scripts/setup.sh)")
    with running_registry() as server:
        for form in FORMS:
            push_image(server.url, "test/busybox", form, busybox_image(), form)
        push_image(server.url, "test/base", "1", busybox_image(extra=False), "docker")
        push_image(server.url, "private/busybox", "1", busybox_image(), "oci")
        yield server
