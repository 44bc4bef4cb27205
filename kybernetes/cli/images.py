"""`kyb image import|ls|rm|build`: the local node's images, without a registry.

They work on the node's own image store (DATA_DIR/node/images), which the
kubelet reads: an imported or built image is there for pods at once (with
`imagePullPolicy: IfNotPresent` or `Never`), as `kind load` does for kind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_image_commands", "run_image_command"]


def add_image_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    image = commands.add_parser("image", help="the local node's images: import, ls, rm, build",
                                parents=[common])  # fmt: skip
    verbs = image.add_subparsers(dest="image_command", required=True, metavar="VERB")
    imported = verbs.add_parser("import", help="load a docker-archive or OCI-archive tarball")
    imported.add_argument("file", type=Path)
    imported.add_argument("--name", default=None, help="the name to give an unnamed image")
    verbs.add_parser("ls", help="list the images (names, ID, size)")
    removed = verbs.add_parser("rm", help="remove an image by name or ID")
    removed.add_argument("image")
    built = verbs.add_parser("build", help="build DIR (DIR/rootfs/ and DIR/config.json)")
    built.add_argument("directory", type=Path)
    built.add_argument("--name", "-t", required=True, help="the image's name, e.g. demo:1")


def _size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000  # type: ignore[assignment]
    return str(size)


def run_image_command(args: argparse.Namespace, data_dir: Path) -> int:
    from kybernetes.node.images import ImageError, ImageStore, build_image, import_image

    store = ImageStore(data_dir / "node" / "images")
    try:
        if args.image_command == "import":
            for name in import_image(store, args.file, name=args.name):
                print(f"Imported {name}")
        elif args.image_command == "build":
            print(f"Built {build_image(store, args.directory, name=args.name)}")
        elif args.image_command == "rm":
            removed = store.remove(args.image)
            if not removed:
                print(f"kyb image rm: no image {args.image!r}", file=sys.stderr)
                return 1
            for name in removed:
                print(f"Deleted {name}")
        else:
            print(f"{'IMAGE':60} {'ID':15} SIZE")
            for summary in store.list_images():
                tags = [n for n in summary.names if "@" not in n] or list(summary.names)
                for name in tags:
                    print(f"{name:60} {summary.id.removeprefix('sha256:')[:12]:15} "
                          f"{_size(summary.size)}")  # fmt: skip
    except (ImageError, OSError) as err:
        print(f"kyb image {args.image_command}: {err}", file=sys.stderr)
        return 1
    return 0
