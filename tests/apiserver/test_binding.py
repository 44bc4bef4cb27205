"""pods/binding: a pure decision, and the subresource through the real server."""

from __future__ import annotations

import pytest

from kybernetes.apiserver import errors
from kybernetes.apiserver.binding import bind_pod
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.apiserver.conftest import Cluster

NOW = "2026-01-01T00:00:00Z"


def pending(**meta: object) -> dict[str, object]:
    return {
        "metadata": {"name": "web", "uid": "u1", **meta},
        "spec": {"containers": []},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }


def binding(node: str = "node-1", **meta: object) -> dict[str, object]:
    return {"metadata": {"name": "web", **meta}, "target": {"kind": "Node", "name": node}}


def test_binds_and_marks_scheduled() -> None:
    bound = bind_pod(pending(), binding(annotations={"a": "b"}), name="web", now=NOW)
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["metadata"]["annotations"] == {"a": "b"}
    assert bound["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": NOW}
    ]


def test_refuses_bound_deleting_wrong_uid_and_bad_targets() -> None:
    bound = bind_pod(pending(), binding(), name="web", now=NOW)
    with pytest.raises(errors.ApiError) as err:
        bind_pod(bound, binding("node-2"), name="web", now=NOW)
    assert err.value.code == 409
    assert 'pod web is already assigned to node "node-1"' in str(err.value)
    with pytest.raises(errors.ApiError) as err:
        bind_pod(pending(deletionTimestamp=NOW), binding(), name="web", now=NOW)
    assert "pod web is being deleted, cannot be assigned to a host" in str(err.value)
    with pytest.raises(errors.ApiError) as err:
        bind_pod(pending(), binding(uid="other"), name="web", now=NOW)
    assert err.value.code == 409
    with pytest.raises(errors.ApiError) as err:
        bind_pod(pending(), {"metadata": {"name": "web"}, "target": {}}, name="web", now=NOW)
    assert err.value.code == 422
    with pytest.raises(errors.ApiError) as err:
        bind_pod(pending(), binding(), name="other", now=NOW)
    assert err.value.code == 400


async def test_binding_subresource(cluster: Cluster) -> None:
    pods = resource_path("", "v1", "pods", "default")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await client.create(
            pods,
            {
                "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        )
        reply = await client.create(
            f"{pods}/web/binding",
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "web"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
            },
        )
        assert (reply["kind"], reply["status"], reply["code"]) == ("Status", "Success", 201)
        pod = await client.get(f"{pods}/web")
        assert pod["spec"]["nodeName"] == "node-1"
        with pytest.raises(ApiStatusError) as err:
            await client.create(
                f"{pods}/web/binding",
                {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": "web"},
                    "target": {"kind": "Node", "name": "node-2"},
                },
            )
        assert err.value.code == 409
    wide = await cluster.kubectl("get", "pod", "web", "-o", "wide")
    assert "node-1" in wide
