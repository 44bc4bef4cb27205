"""Image errors, classified the way the kubelet needs them.

The kubelet turns a failed pull into a `Failed` event ("Failed to pull image
"nginx:1.27": <message>") and a container waiting reason; which reason, and
whether to back off, depends only on the class. Messages follow containerd's
wording (what a Kubernetes user sees from the CRI), without the gRPC prefix.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadDigestError",
    "ImageError",
    "ImageNeverPullError",
    "ImageNotFoundError",
    "ImagePullError",
    "InvalidImageNameError",
    "RegistryUnavailableError",
    "UnauthorizedError",
    "UnpackError",
    "UnsupportedImageError",
]


class ImageError(Exception):
    """Base of every image error; `reason` is the container's waiting reason."""

    reason: ClassVar[str] = "ErrImagePull"

    @property
    def message(self) -> str:
        return str(self)


class InvalidImageNameError(ImageError, ValueError):
    """The reference does not parse (kubelet: InvalidImageName)."""

    reason = "InvalidImageName"


class ImageNeverPullError(ImageError):
    """imagePullPolicy Never and the image is not on the node."""

    reason = "ErrImageNeverPull"

    def __init__(self, image: str) -> None:
        super().__init__(f'Container image "{image}" is not present with pull policy of Never')
        self.image = image


class ImagePullError(ImageError):
    """A pull failed; the kubelet reports ErrImagePull and backs off."""


class ImageNotFoundError(ImagePullError):
    """The registry has no such repository, tag or digest."""


class UnauthorizedError(ImagePullError):
    """The registry refused our credentials (or wanted some)."""


class RegistryUnavailableError(ImagePullError):
    """The registry could not be reached or failed (network, 5xx)."""


class BadDigestError(ImagePullError):
    """Content did not match its digest, size or diff_id."""


class UnsupportedImageError(ImagePullError):
    """A media type, compression or platform we cannot run."""


class UnpackError(ImagePullError):
    """A layer could not be unpacked (bad tar, not root, I/O error)."""
