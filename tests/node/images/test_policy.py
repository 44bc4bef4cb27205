from __future__ import annotations

import pytest

from kybernetes.node.images import ImageNeverPullError, default_pull_policy, should_pull

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("policy", "present", "pull"),
    [
        ("Always", True, True),
        ("Always", False, True),
        ("IfNotPresent", True, False),
        ("IfNotPresent", False, True),
        ("Never", True, False),
    ],
)
def test_should_pull(policy: str, present: bool, pull: bool) -> None:
    assert should_pull(policy, image="nginx:1.27", present=present) is pull


def test_never_and_missing_is_err_image_never_pull() -> None:
    with pytest.raises(ImageNeverPullError) as info:
        should_pull("Never", image="nginx:1.27", present=False)
    assert info.value.reason == "ErrImageNeverPull"
    assert str(info.value) == (
        'Container image "nginx:1.27" is not present with pull policy of Never'
    )


def test_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown imagePullPolicy"):
        should_pull("Sometimes", image="x", present=True)


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        (f"nginx@{DIGEST}", "IfNotPresent"),
        (f"nginx:latest@{DIGEST}", "Always"),
    ],
)
def test_default_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy
