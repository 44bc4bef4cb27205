"""imagePullPolicy decisions, as the kubelet's image manager takes them: pure code.

Always pulls (resolving the tag again; unchanged content costs only the
manifest GET), IfNotPresent pulls only a missing image, Never never pulls
and fails a missing image with ErrImageNeverPull. Back-off between failed
pulls is the kubelet's business; it gets typed errors from here and the
puller.
"""

from __future__ import annotations

from typing import Literal

from kybernetes.node.images.errors import ImageNeverPullError, InvalidImageNameError
from kybernetes.node.images.reference import DEFAULT_TAG, parse_reference

__all__ = ["PullPolicy", "default_pull_policy", "should_pull"]

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
_POLICIES = ("Always", "IfNotPresent", "Never")


def should_pull(policy: str, *, image: str, present: bool) -> bool:
    """True to pull now, False to use the local image; ImageNeverPullError if neither can be."""
    if policy not in _POLICIES:
        raise ValueError(f'unknown imagePullPolicy "{policy}"')
    if policy == "Never":
        if not present:
            raise ImageNeverPullError(image)
        return False
    return policy == "Always" or not present


def default_pull_policy(image: str) -> PullPolicy:
    """The API server's default: Always for `:latest` or no tag or digest, else IfNotPresent."""
    try:
        ref = parse_reference(image)
    except InvalidImageNameError:
        return "IfNotPresent"
    if ref.tag == DEFAULT_TAG:
        return "Always"
    return "IfNotPresent"
