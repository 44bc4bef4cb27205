"""Expectations: created pods must be seen, deleted ones gone or terminating."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.expectations import TIMEOUT, Expectations


def test_expectations() -> None:
    cache: dict[str, dict[str, Any]] = {"ns/old": {"metadata": {}}}
    clock = [0.0]
    expectations = Expectations(cache.get, lambda: clock[0])
    assert expectations.satisfied("ns/set")
    expectations.expect("ns/set", created=["ns/new"], deleted=["ns/old"])
    assert not expectations.satisfied("ns/set")
    cache["ns/new"] = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert not expectations.satisfied("ns/set")  # the deletion is not seen yet
    cache["ns/old"] = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert expectations.satisfied("ns/set")  # terminating counts as deleted
    # A change never observed stops blocking after the timeout.
    expectations.expect("ns/set", created=["ns/lost"])
    assert not expectations.satisfied("ns/set")
    clock[0] = TIMEOUT + 1
    assert expectations.satisfied("ns/set")
