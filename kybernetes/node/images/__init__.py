"""Images on a node: references, the registry client, the content store, unpacking, import.

The kubelet uses `ImagePuller.ensure(image, policy=..., pull_secrets=...)`
(through kubelet.images.RegistryImages), the store's `layer_dirs(record)`
and `image_config(record)`, `node_status_images` for node.status.images and
`plan_image_gc` when the disk fills. The `kyb image` commands use
`import_image`, `ImageStore.list_images`, `ImageStore.remove` and
`build_image`. Errors are ImageError subclasses whose `reason` is the
container's waiting reason; `events` has the kubelet's words for them.
"""

from kybernetes.node.images.build import BuildError, build_image
from kybernetes.node.images.config import ImageConfig, resolve_argv
from kybernetes.node.images.errors import (
    BadDigestError,
    ImageError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePullError,
    InvalidImageNameError,
    RegistryUnavailableError,
    UnauthorizedError,
    UnpackError,
    UnsupportedImageError,
)
from kybernetes.node.images.gc import GCPlan, GCPolicy, ImageUsage, plan_image_gc
from kybernetes.node.images.importer import ArchiveError, import_image
from kybernetes.node.images.policy import default_pull_policy, should_pull
from kybernetes.node.images.pull import ImagePuller
from kybernetes.node.images.reference import ImageReference, parse_reference
from kybernetes.node.images.store import (
    ImageRecord,
    ImageStore,
    ImageSummary,
    LayerRecord,
    node_status_images,
)

__all__ = [
    "ArchiveError",
    "BadDigestError",
    "BuildError",
    "GCPlan",
    "GCPolicy",
    "ImageConfig",
    "ImageError",
    "ImageNeverPullError",
    "ImageNotFoundError",
    "ImagePullError",
    "ImagePuller",
    "ImageRecord",
    "ImageReference",
    "ImageStore",
    "ImageSummary",
    "ImageUsage",
    "InvalidImageNameError",
    "LayerRecord",
    "RegistryUnavailableError",
    "UnauthorizedError",
    "UnpackError",
    "UnsupportedImageError",
    "build_image",
    "default_pull_policy",
    "import_image",
    "node_status_images",
    "parse_reference",
    "plan_image_gc",
    "resolve_argv",
    "should_pull",
]
