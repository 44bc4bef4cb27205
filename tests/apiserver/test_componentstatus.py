"""`kubectl get cs`: ComponentStatuses made from the components' leader Leases
and the store, with kube-apiserver's deprecation warning and columns."""

from __future__ import annotations

import datetime
import json

from kybernetes.apiserver.componentstatus import lease_health
from tests.apiserver.conftest import Cluster

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def _lease(holder: str, renewed_seconds_ago: int) -> dict[str, object]:
    renewed = NOW - datetime.timedelta(seconds=renewed_seconds_ago)
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}  # fmt: skip


def test_a_component_is_healthy_while_its_leader_renews_its_lease() -> None:
    assert lease_health("scheduler", _lease("host_1", 5), NOW) == (True, "ok")
    healthy, message = lease_health("scheduler", _lease("host_1", 300), NOW)
    assert not healthy
    assert (
        message
        == "no scheduler leads: the lease kube-system/kube-scheduler was last renewed 5m ago"
    )
    healthy, message = lease_health("controller-manager", _lease("", 1), NOW)
    assert not healthy and "has no holder" in message
    healthy, message = lease_health("controller-manager", None, NOW)
    assert not healthy and "start `kyb controller-manager`" in message


async def test_kubectl_get_cs(cluster: Cluster) -> None:
    # This server runs no scheduler and no controller manager; the store answers.
    out = await cluster.kubectl("get", "cs", check=False)
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in out
    header, *lines = [line for line in out.splitlines() if not line.startswith("Warning")]
    assert header.split() == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    rows = {line.split()[0]: line.split()[1] for line in lines}
    assert rows == {
        "scheduler": "Unhealthy",
        "controller-manager": "Unhealthy",
        "etcd-0": "Healthy",
    }

    # A scheduler that holds its lease is healthy.
    renewed = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec = {"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": renewed}
    meta = {"name": "kube-scheduler", "namespace": "kube-system"}
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": spec,
    }
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(lease))
    got = json.loads(await cluster.kubectl("get", "cs", "scheduler", "-o", "json"))
    assert got["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]

    missing = await cluster.kubectl("get", "cs", "kube-proxy", check=False)
    assert 'componentstatuses "kube-proxy" not found' in missing
    refused = await cluster.kubectl("delete", "cs", "scheduler", check=False)
    assert "MethodNotAllowed" in refused
