"""LIST in pages (`limit` and `continue`) through the official Python client and
kubectl, as the conformance test reads it (checklist A15: it pages PodTemplates)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.apiserver.conftest import Cluster

COUNT = 100
PAGE = 17


def pod_template(name: str) -> Any:
    from kubernetes import client

    container = client.V1Container(name="app", image="busybox")
    return client.V1PodTemplate(
        metadata=client.V1ObjectMeta(name=name),
        template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[container])),
    )


async def test_pages_keep_the_first_pages_revision_and_count_what_remains(
    cluster: Cluster,
) -> None:
    from kubernetes import config

    def scenario() -> list[tuple[int, int | None]]:
        from kubernetes import client

        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        for i in range(COUNT):
            core.create_namespaced_pod_template("default", pod_template(f"template-{i:04d}"))
        first = core.list_namespaced_pod_template("default", limit=PAGE)
        revision = first.metadata.resource_version
        pages = [(len(first.items), first.metadata.remaining_item_count)]
        names = [c.metadata.name for c in first.items]
        # A write between pages is not seen: every page is read at the first's revision.
        core.create_namespaced_pod_template("default", pod_template("written-later"))
        token = first.metadata._continue
        while token:
            page = core.list_namespaced_pod_template("default", limit=PAGE, _continue=token)
            assert page.metadata.resource_version == revision
            pages.append((len(page.items), page.metadata.remaining_item_count))
            names += [c.metadata.name for c in page.items]
            token = page.metadata._continue
        assert names == [f"template-{i:04d}" for i in range(COUNT)]
        everything = core.list_namespaced_pod_template("default")
        assert len(everything.items) == COUNT + 1 and everything.metadata._continue is None
        api_client.close()
        return pages

    pages = await asyncio.to_thread(scenario)
    assert pages == [(17, 83), (17, 66), (17, 49), (17, 32), (17, 15), (15, None)]
    out = await cluster.kubectl("get", "podtemplates", "--chunk-size=17", "-o", "name")
    assert len(out.splitlines()) == COUNT + 1
