from __future__ import annotations

import pytest

from kybernetes.node.images import (
    ImageNotFoundError,
    InvalidImageNameError,
    events,
    parse_reference,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "0s"),
        (0.5129, "512ms"),
        (1, "1s"),
        (1.25, "1.25s"),
        (12.3456, "12.345s"),
        (123.5, "2m3.5s"),
        (3600, "1h0m0s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert events.go_duration(seconds) == text


def test_pull_event_words() -> None:
    assert events.pulling("nginx:1.27") == ("Normal", "Pulling", 'Pulling image "nginx:1.27"')
    assert events.pulled("nginx:1.27", pull_seconds=1.2345, total_seconds=2.5, size=1037420) == (
        "Normal",
        "Pulled",
        'Successfully pulled image "nginx:1.27" in 1.234s (2.5s including waiting). '
        "Image size: 1037420 bytes.",
    )
    assert (
        events.already_present("nginx")[2] == 'Container image "nginx" already present on machine'
    )
    error = ImageNotFoundError("failed to pull and unpack image ...: not found")
    assert events.failed("nginx:1.27", error) == (
        "Warning",
        "Failed",
        'Failed to pull image "nginx:1.27": failed to pull and unpack image ...: not found',
    )
    assert events.back_off("nginx:1.27")[1:] == ("BackOff", 'Back-off pulling image "nginx:1.27"')
    assert events.never_pull("x")[1] == "ErrImageNeverPull"


def test_invalid_name_event() -> None:
    with pytest.raises(InvalidImageNameError) as info:
        parse_reference("Nginx")
    assert events.invalid_name("Nginx", info.value) == (
        "Warning",
        "InspectFailed",
        'Failed to apply default image tag "Nginx": couldn\'t parse image reference "Nginx": '
        "invalid reference format: repository name must be lowercase",
    )
