"""pods/log: which container, which kubelet, and never a simulated node's address."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.errors import ApiError
from kybernetes.apiserver.podlogs import choose_container, kubelet_endpoint

POD = {"metadata": {"name": "web"},
       "spec": {"containers": [{"name": "app"}, {"name": "sidecar"}],
                "initContainers": [{"name": "setup"}]}}  # fmt: skip


def test_the_container_is_chosen_as_kubernetes_does() -> None:
    assert choose_container(POD, "sidecar") == "sidecar"
    assert choose_container(POD, "setup") == "setup"
    single = {"metadata": {"name": "one"}, "spec": {"containers": [{"name": "only"}]}}
    assert choose_container(single, "") == "only"
    with pytest.raises(ApiError, match=r"choose one of: \[app sidecar\] or one of the init "
                                       r"containers: \[setup\]"):  # fmt: skip
        choose_container(POD, "")
    with pytest.raises(ApiError, match="container nope is not valid for pod web"):
        choose_container(POD, "nope")


def test_the_kubelet_is_found_by_address_type_and_port() -> None:
    node = {"metadata": {"name": "n"},
            "status": {"addresses": [{"type": "Hostname", "address": "box"},
                                     {"type": "InternalIP", "address": "10.0.0.5"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}}}}  # fmt: skip
    assert kubelet_endpoint(node) == ("10.0.0.5", 10255)
    simulated = {**node, "metadata": {"name": "sim-0",
                                      "labels": {"kybernetes.io/simulated": "true"}}}  # fmt: skip
    with pytest.raises(ApiError, match=r"node sim-0 is simulated: .* so there are no logs to read"):
        kubelet_endpoint(simulated)
