"""HOST:PORT parsing shared by kyb server and the store server."""

from __future__ import annotations

import pytest

from kybernetes.util.addresses import split_host_port


def test_host_and_port() -> None:
    assert split_host_port("127.0.0.1:6443") == ("127.0.0.1", 6443)
    assert split_host_port("[::1]:0") == ("::1", 0)
    assert split_host_port(":2390", default_host="127.0.0.1") == ("127.0.0.1", 2390)


@pytest.mark.parametrize("text", ["127.0.0.1", ":80", "host:http", "host:70000", "host:-1"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be HOST:PORT"):
        split_host_port(text)
