"""pods/exec, attach, portforward: what the API server checks before it relays."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import MultiDict

from kybernetes.apiserver import errors
from kybernetes.apiserver.podstreams import (
    EXEC_PROTOCOLS,
    check_upgrade,
    kubelet_request,
    serve_pod_stream,
)

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
}


def query(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


def test_exec_goes_to_the_kubelet_with_every_argument_in_order() -> None:
    path, params = kubelet_request("exec", POD, query(
        ("container", "app"), ("command", "sh"), ("command", "-c"), ("command", "echo hi"),
        ("stdin", "true"), ("stdout", "true"), ("tty", "true")))  # fmt: skip
    assert path == "/exec/default/web/app"
    assert params == [("stdin", "true"), ("stdout", "true"), ("tty", "true"),
                      ("command", "sh"), ("command", "-c"), ("command", "echo hi")]  # fmt: skip


def test_attach_and_port_forward_paths() -> None:
    path, params = kubelet_request("attach", POD, query(("container", "side"), ("stdout", "1")))
    assert (path, params) == ("/attach/default/web/side", [("stdout", "true")])
    assert kubelet_request("portforward", POD, query()) == ("/portForward/default/web", [])


@pytest.mark.parametrize(("pairs", "message"), [
    ((("container", "nope"), ("command", "ls"), ("stdout", "true")),
     "container nope is not valid for pod web"),
    ((("command", "ls"), ("stdout", "true")),
     "a container name must be specified for pod web, choose one of: [app side]"),
    ((("container", "app"), ("command", "ls")),
     "you must specify at least one of stdin, stdout, stderr"),
    ((("container", "app"), ("stdout", "true")), "you must specify at least 1 command"),
])  # fmt: skip
def test_bad_requests_in_kubernetes_words(pairs: tuple[tuple[str, str], ...], message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        kubelet_request("exec", POD, query(*pairs))
    assert (caught.value.code, caught.value.message) == (400, message)


def _request(headers: dict[str, str]) -> Any:
    return make_mocked_request("GET", "/api/v1/namespaces/default/pods/web/exec", headers=headers)


def test_the_upgrade_must_be_a_websocket_with_a_shared_subprotocol() -> None:
    supported = ("v5.channel.k8s.io", "v4.channel.k8s.io")
    both = "v4.channel.k8s.io, v5.channel.k8s.io"
    offered = _request({"Upgrade": "websocket", "Sec-WebSocket-Protocol": both})
    assert check_upgrade(offered, supported) == ("v4.channel.k8s.io", "v5.channel.k8s.io")
    cases = [
        ({"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"},
         "SPDY upgrades are not supported by this server"),
        ({}, "Upgrade request required"),
        ({"Upgrade": "websocket", "Sec-WebSocket-Protocol": "channel.k8s.io"},
         "none of the offered WebSocket subprotocols is supported"),
    ]  # fmt: skip
    for headers, message in cases:
        with pytest.raises(errors.ApiError) as caught:
            check_upgrade(_request(headers), supported)
        assert caught.value.code == 400 and message in caught.value.message
    # exec and attach also take the first version (conformance P08); port-forward does not.
    first = _request({"Upgrade": "websocket", "Sec-WebSocket-Protocol": "channel.k8s.io"})
    assert check_upgrade(first, EXEC_PROTOCOLS) == ("channel.k8s.io",)


def test_port_forward_ports_travel_as_the_kubelet_port_parameter() -> None:
    path, params = kubelet_request("portforward", POD, query(("ports", "8080,9090")))
    assert (path, params) == ("/portForward/default/web", [("port", "8080"), ("port", "9090")])
    with pytest.raises(errors.ApiError) as caught:
        kubelet_request("portforward", POD, query(("ports", "http")))
    assert caught.value.code == 400 and "invalid port 'http'" in caught.value.message


LACKING = [
    ("exec", "nothing to exec into"),
    ("attach", "nothing to attach to"),
    ("portforward", "no port to forward"),
]


@pytest.mark.parametrize(("subresource", "what"), LACKING)
async def test_a_simulated_node_is_named_before_the_protocol_is_judged(
    subresource: str, what: str
) -> None:
    # kubectl retries over SPDY after a failed WebSocket upgrade and shows the
    # second answer: both must say why, not that SPDY is not spoken.
    pod = {**POD, "spec": {**POD["spec"], "nodeName": "sim-0"}}
    node = {"metadata": {"name": "sim-0", "labels": {"kybernetes.io/simulated": "true"}}}

    async def node_named(name: str) -> dict[str, Any]:
        assert name == "sim-0"
        return node

    spdy = {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
    websocket = {"Upgrade": "websocket", "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}
    for headers in (websocket, spdy):
        path = f"/api/v1/namespaces/default/pods/web/{subresource}"
        url = f"{path}?command=ls&container=app&stdout=true"
        request = make_mocked_request("GET", url, headers=headers)
        with pytest.raises(errors.ApiError) as caught:
            await serve_pod_stream(
                request, subresource=subresource, pod=pod, node=node_named,
                kubelets=None, open_streams=set(), stopping=lambda: False,
            )  # fmt: skip
        assert caught.value.code == 400
        assert caught.value.message == (
            f"node sim-0 is simulated: its pods run no containers, so there is {what}"
        )
