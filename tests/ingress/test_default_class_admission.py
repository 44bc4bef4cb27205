"""DefaultIngressClass admission: a new Ingress without a class gets the default one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.ingress.classes import ingress_class
from tests.apiserver.conftest import Cluster

INGRESSES = resource_path("networking.k8s.io", "v1", "ingresses", "default")
CLASSES = resource_path("networking.k8s.io", "v1", "ingressclasses")
BACKEND = {"service": {"name": "web", "port": {"number": 80}}}


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def create(client: ApiClient, name: str, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {"defaultBackend": BACKEND}
    meta: dict[str, object] = {"name": name}
    if "class_name" in extra:
        spec["ingressClassName"] = extra["class_name"]
    if "annotation" in extra:
        meta["annotations"] = {"kubernetes.io/ingress.class": extra["annotation"]}
    created = await client.create(INGRESSES, {"metadata": meta, "spec": spec})
    return dict(created["spec"])


async def test_default_class_is_filled_in_on_create_only(client: ApiClient) -> None:
    assert "ingressClassName" not in await create(client, "before")  # no default class yet
    await client.create(CLASSES, ingress_class())
    assert (await create(client, "after"))["ingressClassName"] == "kybernetes"
    assert (await create(client, "named", class_name="other"))["ingressClassName"] == "other"
    assert "ingressClassName" not in await create(client, "annotated", annotation="nginx")
    # An update is not defaulted: the older Ingress keeps no class.
    before = await client.get(f"{INGRESSES}/before")
    before["metadata"].setdefault("labels", {})["touched"] = "yes"
    assert "ingressClassName" not in (await client.update(f"{INGRESSES}/before", before))["spec"]
