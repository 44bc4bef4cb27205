"""A delete racing another write reads again instead of answering 409 (as
kube-apiserver); only a precondition that fails is a 409."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.apiserver import errors
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.apiserver.conftest import Cluster

CMS = resource_path("", "v1", "configmaps", "default")


@pytest.mark.one_api_process
async def test_delete_retries_a_write_that_raced_it(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = cluster.api.rest.storage
    real_delete = storage.delete
    raced: list[str] = []

    async def racing_delete(rt: Any, namespace: str, name: str, revision: int) -> Any:
        if len(raced) < 2:  # as if a controller wrote the object just before, twice
            raced.append(name)
            raise errors.conflict(rt.plural, name, "the object has been modified")
        return await real_delete(rt, namespace, name, revision)

    monkeypatch.setattr(storage, "delete", racing_delete)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        await api.create(CMS, {"metadata": {"name": "a"}})
        await api.create(CMS, {"metadata": {"name": "b"}})
        await api.delete(f"{CMS}/a")
        assert raced == ["a", "a"]
        with pytest.raises(ApiStatusError) as gone:
            await api.get(f"{CMS}/a")
        assert gone.value.code == 404
        # A precondition that still holds after the race holds: the delete goes on.
        raced.clear()
        uid = (await api.get(f"{CMS}/b"))["metadata"]["uid"]
        await api.delete(f"{CMS}/b", {"preconditions": {"uid": uid}})
        assert raced == ["b", "b"]
        # One that does not hold is the caller's 409, never retried.
        await api.create(CMS, {"metadata": {"name": "c"}})
        raced[:] = ["x", "x"]
        with pytest.raises(ApiStatusError) as conflict:
            await api.delete(f"{CMS}/c", {"preconditions": {"uid": uid}})
        assert conflict.value.code == 409
        assert "Precondition failed: UID in precondition" in conflict.value.status["message"]
