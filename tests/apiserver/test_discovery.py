"""Discovery and /version through the official Python client and kubectl, as the
conformance tests read them (checklist A01-A07, A21)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.apiserver.conftest import Cluster

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _get(api_client: Any, path: str, accept: str = "application/json") -> tuple[int, str, Any]:
    """A raw GET through the official client: status, Content-Type, decoded body."""
    method, url, headers, _, _ = api_client.param_serialize(
        "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"]
    )
    reply = api_client.rest_client.pool_manager.request(method, url, headers=headers)
    return reply.status, reply.headers.get("Content-Type", ""), json.loads(reply.data)


async def test_aggregated_discovery_lists_the_built_in_resources(cluster: Cluster) -> None:
    from kubernetes import config

    def scenario() -> dict[str, set[tuple[str, str, str]]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        found: dict[str, set[tuple[str, str, str]]] = {}
        for path in ("/api", "/apis"):
            status, content_type, doc = _get(api_client, path, AGGREGATED)
            assert (status, content_type) == (200, AGGREGATED)
            assert doc["kind"] == "APIGroupDiscoveryList"
            assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
            found[path] = {(group["metadata"].get("name", ""), version["version"], r["resource"])
                           for group in doc["items"] for version in group["versions"]
                           for r in version["resources"]}  # fmt: skip
        api_client.close()
        return found

    found = await asyncio.to_thread(scenario)
    assert ("", "v1", "pods") in found["/api"]
    assert ("apps", "v1", "deployments") in found["/apis"]
    assert ("coordination.k8s.io", "v1", "leases") in found["/apis"]
    assert "leases" in await cluster.kubectl("api-resources", "--api-group=coordination.k8s.io")


async def test_a_new_crd_shows_in_aggregated_discovery(cluster: Cluster) -> None:
    from kubernetes import config

    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "noxus.discovery.example.com"},
        "spec": {"group": "discovery.example.com", "scope": "Namespaced",
                 "names": {"plural": "noxus", "singular": "noxu", "kind": "Noxu"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]},
    }  # fmt: skip
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(crd))

    def scenario() -> bool:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        _, _, doc = _get(api_client, "/apis", AGGREGATED)
        api_client.close()
        return any(group["metadata"]["name"] == "discovery.example.com"
                   and r["resource"] == "noxus"
                   for group in doc["items"] for version in group["versions"]
                   for r in version["resources"])  # fmt: skip

    assert await asyncio.to_thread(scenario)
    assert "noxus" in await cluster.kubectl("api-resources", "--api-group=discovery.example.com")


async def test_every_group_version_lists_its_resources_and_prefers_one_of_its_versions(
    cluster: Cluster,
) -> None:
    from kubernetes import client, config

    def scenario() -> list[str]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        checked = []
        for group in client.ApisApi(api_client).get_api_versions().groups:
            versions = [v.group_version for v in group.versions]
            assert group.preferred_version.group_version in versions
            for group_version in versions:
                status, _, doc = _get(api_client, f"/apis/{group_version}")
                assert status == 200 and doc["groupVersion"] == group_version
                assert doc["resources"], group_version
                checked.append(group_version)
        assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
        api_client.close()
        return checked

    checked = await asyncio.to_thread(scenario)
    assert {"apps/v1", "apiextensions.k8s.io/v1", "coordination.k8s.io/v1"} <= set(checked)


async def test_apiextensions_group_advertises_customresourcedefinitions(cluster: Cluster) -> None:
    from kubernetes import config

    def scenario() -> tuple[Any, Any, Any]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        paths = ("/apis", "/apis/apiextensions.k8s.io", "/apis/apiextensions.k8s.io/v1")
        answers = tuple(_get(api_client, path)[2] for path in paths)
        api_client.close()
        return answers

    apis, group, version = await asyncio.to_thread(scenario)
    assert any(g["name"] == "apiextensions.k8s.io" for g in apis["groups"])
    assert group["preferredVersion"]["groupVersion"] == "apiextensions.k8s.io/v1"
    assert "customresourcedefinitions" in [r["name"] for r in version["resources"]]


async def test_server_version_through_the_python_client(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> Any:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        info = client.VersionApi(api_client).get_code()  # GET /version/
        api_client.close()
        return info

    info = await asyncio.to_thread(scenario)
    assert int(info.major) == 1 and int(info.minor.rstrip("+")) == 32
    assert info.git_version.startswith("v1.32")


async def test_the_root_lists_the_paths_the_server_answers(cluster: Cluster) -> None:
    # `kubectl get --raw /`, as kube-apiserver answers it: sorted RootPaths.
    paths = json.loads(await cluster.kubectl("get", "--raw", "/"))["paths"]
    assert paths == sorted(paths)
    for path in ("/api", "/api/v1", "/apis", "/apis/", "/apis/apps", "/apis/apps/v1",
                 "/healthz", "/healthz/ping", "/readyz/shutdown", "/livez", "/metrics",
                 "/openapi/v2", "/openapi/v3", "/version"):  # fmt: skip
        assert path in paths
    for path in paths:  # each answers
        out = await cluster.kubectl("get", "--raw", path, check=False)
        assert not out.startswith("Error from server"), (path, out[:200])
    assert json.loads(await cluster.kubectl("get", "--raw", "/index.html"))["paths"] == paths
