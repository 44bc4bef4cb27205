"""Ingress tests run against a real API server in this process (see tests/apiserver)."""

from tests.apiserver.conftest import cluster  # noqa: F401 - the fixture, shared
