"""The node's content store: blobs by digest, unpacked layers by diff_id, an index of names.

Layout under the root (e.g. DATA_DIR/images):

    blobs/sha256/<hex>          manifests, indexes, configs, compressed layers
    ingest/<hex>.partial        downloads in flight (kept, so a pull resumes)
    snapshots/sha256/<hex>/     one unpacked layer per diff_id (overlay lowerdir)
    snapshots/.tmp-*            unpacking in flight
    images.json                 name -> image record

Crash safety: a blob becomes visible only by rename after fsync; a snapshot
only by rename after its diff_id was verified; the index is replaced
atomically. Leftover `.tmp-*` directories are removed when the store opens.

Reference counting is derived, not stored: a blob or snapshot lives while
some name in the index (or a pull in flight, through `lease`) refers to
it, so the count can never drift from the index after a crash. Removing
the last name of an image collects what nothing else refers to.

The store is plain blocking code guarded by a lock: async callers (the
puller, the kubelet) call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from kybernetes.node.images.errors import BadDigestError, ImageNotFoundError
from kybernetes.node.images.manifests import Descriptor, layer_compression
from kybernetes.node.images.reference import parse_reference
from kybernetes.node.images.unpack import unpack_layer
from kybernetes.util.files import write_atomic

__all__ = ["ImageRecord", "ImageStore", "ImageSummary", "LayerRecord", "node_status_images"]

_COPY = 1 << 20


@dataclass(frozen=True)
class LayerRecord:
    digest: str
    diff_id: str
    media_type: str
    size: int


@dataclass(frozen=True)
class ImageRecord:
    """One name's image: what the name points at and what it is made of.

    `target` is the digest the name resolved to (an index or a manifest:
    the repo digest); `id` is the config digest (the image ID).
    """

    name: str
    target: str
    manifest: str
    id: str
    layers: tuple[LayerRecord, ...]
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "manifest": self.manifest,
            "config": self.id,
            "size": self.size,
            "layers": [
                {"digest": x.digest, "diffID": x.diff_id, "mediaType": x.media_type, "size": x.size}
                for x in self.layers
            ],
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> ImageRecord:
        return cls(
            name=name,
            target=data["target"],
            manifest=data["manifest"],
            id=data["config"],
            size=int(data["size"]),
            layers=tuple(
                LayerRecord(x["digest"], x["diffID"], x["mediaType"], int(x["size"]))
                for x in data["layers"]
            ),
        )

    def digests(self) -> set[str]:
        return {self.target, self.manifest, self.id} | {x.digest for x in self.layers}


@dataclass(frozen=True)
class ImageSummary:
    """One image as node.status.images lists it: every name, and its size."""

    id: str
    names: tuple[str, ...]
    size: int

    def to_node_status(self) -> dict[str, Any]:
        return {"names": list(self.names), "sizeBytes": self.size}


# The kubelet's limits for node.status.images: the largest 50 images, 5 names each.
MAX_NODE_STATUS_IMAGES = 50
MAX_NAMES_PER_IMAGE = 5


def node_status_images(
    summaries: list[ImageSummary], *, limit: int = MAX_NODE_STATUS_IMAGES
) -> list[dict[str, Any]]:
    """`node.status.images` as the kubelet fills it: largest first, names capped."""
    ordered = sorted(summaries, key=lambda s: (-s.size, s.id))[:limit]
    return [{"names": list(s.names[:MAX_NAMES_PER_IMAGE]), "sizeBytes": s.size} for s in ordered]


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise BadDigestError(f'invalid digest "{digest}"')
    return value


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    """Content-addressed storage for one node's images."""

    def __init__(self, root: Path, *, in_use: Callable[[], Iterable[str]] | None = None) -> None:
        """`in_use` names digests and diff_ids that containers still need (the
        runtime's overlay lowerdirs): collection keeps them even with no name left."""
        self.root = Path(root)
        self._in_use = in_use
        self._blobs = self.root / "blobs" / "sha256"
        self._ingest = self.root / "ingest"
        self._snapshots = self.root / "snapshots"
        self._snapshot_dir = self._snapshots / "sha256"
        self._index_path = self.root / "images.json"
        self._lock = threading.RLock()
        self._leases: dict[int, set[str]] = {}
        self._unpacking: dict[str, threading.Lock] = {}
        for path in (self._blobs, self._ingest, self._snapshot_dir):
            path.mkdir(parents=True, exist_ok=True)
        for leftover in self._snapshots.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self._blobs.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        # Temp copies of a process that died (resumable downloads, named by digest, stay).
        for leftover in self._ingest.glob(".*"):
            leftover.unlink(missing_ok=True)
        self._stamp: tuple[int, int, int] | None = None
        self._index: dict[str, dict[str, Any]] = {}
        self._fresh()

    # -- index ----------------------------------------------------------
    # The names file is shared with other processes (`kyb image build|import|rm`
    # while the kubelet runs): it is read again whenever it changed on disk, and
    # changed under an exclusive file lock, read-modify-write.

    def _fresh(self) -> dict[str, dict[str, Any]]:
        try:
            st = os.stat(self._index_path)
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._index = self._load_index()
            self._stamp = stamp
        return self._index

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock, open(self.root / "images.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._stamp = None  # whatever another process wrote, read it now
            self._fresh()
            yield

    def _load_index(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads(self._index_path.read_bytes())
        except FileNotFoundError:
            return {}
        images = data.get("images", {})
        return dict(images) if isinstance(images, dict) else {}

    def _save_index(self) -> None:
        body = orjson.dumps({"images": self._index}, option=orjson.OPT_SORT_KEYS)
        write_atomic(self._index_path, body, mode=0o644)
        self._stamp = None

    # -- blobs ----------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self._blobs / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def ingest_path(self, digest: str) -> Path:
        return self._ingest / f"{_hex(digest)}.partial"

    def scratch_path(self, suffix: str = "") -> Path:
        """A fresh path on the store's filesystem, cleared by `collect` if left behind."""
        return self._ingest / f".{uuid.uuid4().hex}{suffix}.partial"

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageNotFoundError(f"content {digest}: not found") from None

    def commit_blob(self, digest: str, partial: Path) -> Path:
        """Make a verified download visible: fsync, then rename into blobs/."""
        final = self.blob_path(digest)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
        _fsync_dir(self._blobs)
        return final

    def write_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store small content (a manifest, a config); verify `digest` if given."""
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest is not None and got != digest:
            raise BadDigestError(f"content {digest}: digest mismatch: got {got}")
        if not self.has_blob(got):
            write_atomic(self.blob_path(got), data, mode=0o644)
        return got

    def ingest_stream(self, source: IO[bytes], descriptor: Descriptor) -> None:
        """Copy `source` into the store, checking size and digest (import path)."""
        if not self.has_blob(descriptor.digest):
            self.ingest_unknown(source, expect=descriptor)

    def ingest_unknown(
        self, source: IO[bytes], *, expect: Descriptor | None = None
    ) -> tuple[str, int]:
        """Copy `source` into the store under the digest it turns out to have.

        With `expect`, content of another digest or size is refused instead.
        """
        # A name of its own: a pull of the same blob may be resuming under ingest_path.
        partial = self.scratch_path()
        hasher = hashlib.sha256()
        size = 0
        try:
            with partial.open("wb") as out:
                while block := source.read(_COPY):
                    hasher.update(block)
                    out.write(block)
                    size += len(block)
            digest = "sha256:" + hasher.hexdigest()
            if expect is not None and (digest != expect.digest or size != expect.size):
                raise BadDigestError(
                    f"content {expect.digest}: digest mismatch: got {digest} ({size} bytes, "
                    f"expected {expect.size})"
                )
            if self.has_blob(digest):
                partial.unlink()
            else:
                self.commit_blob(digest, partial)
            return digest, size
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    # -- snapshots ------------------------------------------------------

    def snapshot_path(self, diff_id: str) -> Path:
        return self._snapshot_dir / _hex(diff_id)

    def has_snapshot(self, diff_id: str) -> bool:
        return self.snapshot_path(diff_id).is_dir()

    def unpack(self, layer: LayerRecord) -> Path:
        """The unpacked directory of `layer`, unpacking it once if needed (blocking)."""
        final = self.snapshot_path(layer.diff_id)
        with self._lock:
            gate = self._unpacking.setdefault(layer.diff_id, threading.Lock())
        # One unpack per diff_id at a time; others wait and then find it done.
        with gate:
            if final.is_dir():
                return final
            unpack_layer(
                self.blob_path(layer.digest),
                final=final,
                scratch=self._snapshots,
                compression=layer_compression(layer.media_type),
                diff_id=layer.diff_id,
            )
        return final

    def unpack_image(self, record: ImageRecord) -> list[Path]:
        return [self.unpack(layer) for layer in record.layers]

    def layer_dirs(self, record: ImageRecord) -> list[Path]:
        """overlayfs lowerdirs for `record`, topmost layer first (overlay's order)."""
        return [self.snapshot_path(layer.diff_id) for layer in reversed(record.layers)]

    def image_config(self, record: ImageRecord) -> dict[str, Any]:
        """The image's config document (see config.ImageConfig for the typed parts)."""
        config = orjson.loads(self.read_blob(record.id))
        return config if isinstance(config, dict) else {}

    # -- leases ---------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[set[str]]:
        """Digests added to the yielded set survive garbage collection until the lease ends."""
        held: set[str] = set()
        with self._lock:
            key = id(held)
            self._leases[key] = held
        try:
            yield held
        finally:
            with self._lock:
                self._leases.pop(key, None)

    # -- names ----------------------------------------------------------

    def add(self, record: ImageRecord) -> None:
        """Point `record.name` at `record` (replacing what it named before)."""
        with self._writing():
            previous = self._index.get(record.name)
            self._index[record.name] = record.to_json()
            self._save_index()
            if previous is not None and previous.get("target") != record.target:
                self._collect()

    def get(self, name: str) -> ImageRecord | None:
        with self._lock:
            data = self._fresh().get(name)
            return None if data is None else ImageRecord.from_json(name, data)

    def resolve(self, image: str) -> ImageRecord | None:
        """Find an image by any name a user may give: short name, full name, digest or ID."""
        with self._lock:
            self._fresh()
            if image.startswith("sha256:") or (len(image) >= 12 and _is_hex(image)):
                wanted = image if image.startswith("sha256:") else "sha256:" + image
                for name, data in sorted(self._index.items()):
                    if str(data["config"]).startswith(wanted):
                        return ImageRecord.from_json(name, data)
                return None
            ref = parse_reference(image)
            found = self.get(str(ref))
            if found is not None or ref.digest is None:
                return found
            # `repo@sha256:…` names what any tag of that repository resolved to
            # (the index, or the platform manifest inside it).
            for name, data in sorted(self._index.items()):
                if ref.digest in (data["target"], data["manifest"]) and (
                    parse_reference(name).repository == ref.repository
                ):
                    return ImageRecord.from_json(name, data)
            return None

    def records(self) -> list[ImageRecord]:
        with self._lock:
            self._fresh()
            return [ImageRecord.from_json(n, d) for n, d in sorted(self._index.items())]

    def list_images(self) -> list[ImageSummary]:
        """Images grouped by ID with every name (`repo@digest` first), as the kubelet lists them."""
        by_id: dict[str, tuple[set[str], set[str], int]] = {}
        for record in self.records():
            digests, tags, _ = by_id.setdefault(record.id, (set(), set(), record.size))
            ref = parse_reference(record.name)
            digests.add(f"{ref.repository}@{record.target}")
            if ref.tag is not None:
                tags.add(f"{ref.repository}:{ref.tag}")
        return [
            ImageSummary(id=image_id, names=(*sorted(digests), *sorted(tags)), size=size)
            for image_id, (digests, tags, size) in sorted(by_id.items())
        ]

    def remove(self, image: str) -> list[str]:
        """Remove a name, or every name of an image ID/digest; collect what is unused.

        Returns the names removed (empty when nothing matched).
        """
        with self._writing():
            names: list[str]
            if image.startswith("sha256:") or (len(image) >= 12 and _is_hex(image)):
                wanted = image if image.startswith("sha256:") else "sha256:" + image
                names = [n for n, d in self._index.items() if str(d["config"]).startswith(wanted)]
            else:
                ref = parse_reference(image)
                if str(ref) in self._index:
                    names = [str(ref)]
                elif ref.digest is not None:
                    names = [
                        n
                        for n, d in self._index.items()
                        if d["target"] == ref.digest
                        and parse_reference(n).repository == ref.repository
                    ]
                else:
                    names = []
            if not names:
                return []
            for name in names:
                del self._index[name]
            self._save_index()
            self._collect()
            return sorted(names)

    def _referenced(self) -> tuple[set[str], set[str]]:
        blobs: set[str] = set()
        diff_ids: set[str] = set()
        for name, data in self._index.items():
            record = ImageRecord.from_json(name, data)
            blobs |= record.digests()
            diff_ids |= {x.diff_id for x in record.layers}
        for held in self._leases.values():
            blobs |= held
            diff_ids |= held
        if self._in_use is not None:
            needed = set(self._in_use())
            blobs |= needed
            diff_ids |= needed
        return blobs, diff_ids

    def _collect(self) -> None:
        """Delete blobs and snapshots that no name and no lease refers to."""
        blobs, diff_ids = self._referenced()
        keep_blobs = {_hex(d) for d in blobs}
        keep_snapshots = {_hex(d) for d in diff_ids}
        for path in self._blobs.iterdir():
            if not path.name.startswith(".") and path.name not in keep_blobs:
                path.unlink(missing_ok=True)
        for path in self._snapshot_dir.iterdir():
            if path.name not in keep_snapshots:
                # Rename first, so a crash mid-delete never leaves a half layer
                # under a diff_id that later looks complete.
                doomed = self._snapshots / f".tmp-{path.name}"
                os.rename(path, doomed)
                shutil.rmtree(doomed, ignore_errors=True)

    def collect(self) -> None:
        """Collect unreferenced content, and abandoned partial downloads too
        (kept until now so that an interrupted pull could resume)."""
        with self._lock:
            self._collect()
            leased = {_hex(d) for held in self._leases.values() for d in held if _is_digest(d)}
            for path in self._ingest.iterdir():
                # Dot files are private temp files of copies in flight: not ours to drop.
                if not path.name.startswith(".") and path.name.split(".")[0] not in leased:
                    path.unlink(missing_ok=True)

    def usage(self) -> int:
        """Bytes held by blobs (what node.status.images sizes add up to)."""
        return sum(p.stat().st_size for p in self._blobs.iterdir() if p.is_file())


def _is_digest(text: str) -> bool:
    return text.startswith("sha256:") and len(text) == 71 and _is_hex(text[7:])


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
