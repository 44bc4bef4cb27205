"""Proxy tests: pure ruleset tests, and real traffic inside namespaces the tests create."""

from tests.apiserver.conftest import cluster  # noqa: F401 - the API server fixture, shared
from tests.node.conftest import host_netns  # noqa: F401 - an isolated "host" namespace
