"""Image pull and unpack throughput from a local registry, against the tools next to us.

    bench/run images [--runs N] [--big-mb M]

Starts Debian's docker-registry on 127.0.0.1 (tests.support.registry),
pushes the hand-built busybox test image (2 layers, about 1 MB gzipped) and
a "big" image (one layer of M MB of incompressible files), then times into
a fresh store each run:

* `pull+unpack`: ImagePuller.pull, the whole thing the kubelet waits for;
* `pull only`: download and verify (unpack=False);
* `unpack only`: unpacking the already verified blobs (needs root);

and the same-run baselines:

* `skopeo copy` to an OCI layout: Go's registry client doing download and
  verify, no unpack (if skopeo is installed);
* `tar -xzf`: GNU tar unpacking the same layer blobs (no chroot, no
  whiteout translation, no digest check).

Figures are medians over the runs with MB/s of compressed bytes; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from kybernetes.node.images import ImagePuller, ImageStore
from kybernetes.node.images.manifests import Platform, host_platform
from tests.support.registry import (
    BuiltImage,
    Entry,
    busybox_image,
    make_layer,
    push_image,
    running_registry,
)


def _big_image(megabytes: int) -> BuiltImage:
    entries = [Entry("data", "dir", mode=0o755)]
    for i in range(megabytes):
        entries.append(Entry(f"data/f{i:04d}", data=os.urandom(1 << 20)))
    return BuiltImage(layers=(make_layer(entries),))


async def _timed(runs: int, *cells: Callable[[int], Awaitable[None]] | None) -> list[list[float]]:
    """Time each cell `runs` times, interleaved, so that load from others on
    this shared machine falls on ours and on the baseline alike."""
    samples: list[list[float]] = [[] for _ in cells]
    for i in range(runs):
        for cell, into in zip(cells, samples, strict=True):
            if cell is None:
                continue
            start = time.perf_counter()
            await cell(i)
            into.append(time.perf_counter() - start)
    return samples


def _row(name: str, samples: list[float], size: int) -> None:
    if not samples:
        print(f"  {name:<14} (skipped)")
        return
    median = statistics.median(samples)
    print(
        f"  {name:<14} median {median * 1000:8.1f} ms   min {min(samples) * 1000:8.1f} ms   "
        f"{size / median / 1e6:8.1f} MB/s"
    )


async def _bench_image(
    label: str, image: BuiltImage, domain: str, url: str, tag: str, runs: int, platform: Platform
) -> None:
    push_image(url, "bench/image", tag, image, "oci-index")
    size = sum(len(layer.gz) for layer in image.layers)
    root = os.geteuid() == 0
    print(f"{label}: {len(image.layers)} layer(s), {size / 1e6:.1f} MB compressed")
    with tempfile.TemporaryDirectory(prefix="kyb-bench-images-", dir="/var/tmp") as work:
        base = Path(work)
        ref = f"{domain}/bench/image:{tag}"
        async with aiohttp.ClientSession() as session:

            async def pull(i: int, *, unpack: bool) -> None:
                store = ImageStore(base / f"{'u' if unpack else 'p'}{i}")
                await ImagePuller(store, session, platform=platform, unpack=unpack).pull(ref)

            async def unpack(i: int) -> None:
                store = ImageStore(base / f"p{i}")
                record = store.get(ref)
                assert record is not None
                await asyncio.to_thread(store.unpack_image, record)

            async def skopeo(i: int) -> None:
                await asyncio.to_thread(
                    subprocess.run,
                    [
                        "skopeo",
                        "copy",
                        "--quiet",
                        "--src-tls-verify=false",
                        f"docker://{ref}",
                        f"oci:{base}/s{i}:x",
                    ],
                    check=True,
                )

            blobs = [
                str(base / "p0/blobs/sha256" / layer.digest.removeprefix("sha256:"))
                for layer in image.layers
            ]

            async def gnu_tar(i: int) -> None:
                target = base / f"t{i}"
                target.mkdir()
                for blob in blobs:
                    await asyncio.to_thread(
                        subprocess.run, ["tar", "-xzf", blob, "-C", str(target)], check=True
                    )

            has_skopeo = shutil.which("skopeo") is not None
            [full] = await _timed(runs, (lambda i: pull(i, unpack=True)) if root else None)
            only_pull, skopeo_runs = await _timed(
                runs, lambda i: pull(i, unpack=False), skopeo if has_skopeo else None
            )
            only_unpack, tar_runs = await _timed(runs, unpack if root else None, gnu_tar)
    _row("pull+unpack", full, size)
    _row("pull only", only_pull, size)
    _row("skopeo copy", skopeo_runs, size)
    _row("unpack only", only_unpack, size)
    _row("tar -xzf", tar_runs, size)


async def _main(runs: int, big_mb: int) -> None:
    platform = host_platform()
    image = busybox_image()
    image = BuiltImage(layers=image.layers, architecture=platform.architecture)
    big = _big_image(big_mb)
    big = BuiltImage(layers=big.layers, architecture=platform.architecture)
    with running_registry() as registry:
        await _bench_image(
            "busybox", image, registry.domain, registry.url, "busybox", runs, platform
        )
        await _bench_image(
            f"big ({big_mb} MB)", big, registry.domain, registry.url, "big", runs, platform
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--big-mb", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(_main(args.runs, args.big_mb))


if __name__ == "__main__":
    main()
