"""core/v1 PodTemplates as the conformance tests drive them (checklist P12-P14):
create, patch, replace, list by label, delete one and a collection; the template
is defaulted and checked as a workload's."""

from __future__ import annotations

import asyncio

import pytest

from tests.apiserver.conftest import Cluster
from tests.apiserver.test_paging import pod_template


async def test_pod_template_lifecycle_and_collection(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        for name in ("one", "two", "three"):
            template = pod_template(name)
            template.metadata.labels = {"set": "lifecycle"}
            created = core.create_namespaced_pod_template("default", template)
            assert created.metadata.generation == 1
        # Defaulted as a pod spec is (P14 reads the template back).
        spec = created.template.spec
        assert (spec.restart_policy, spec.dns_policy) == ("Always", "ClusterFirst")
        assert spec.containers[0].image_pull_policy == "Always"
        patched = core.patch_namespaced_pod_template(
            "one", "default", {"metadata": {"labels": {"patched": "yes"}}}
        )
        assert patched.metadata.labels == {"set": "lifecycle", "patched": "yes"}
        listed = core.list_namespaced_pod_template("default", label_selector="patched=yes")
        assert [t.metadata.name for t in listed.items] == ["one"]
        # P13: a PUT that adds an annotation is stored; a template change bumps generation.
        current = core.read_namespaced_pod_template("two", "default")
        current.metadata.annotations = {"updated": "true"}
        current.template.spec.containers[0].image = "busybox:1.36"
        replaced = core.replace_namespaced_pod_template("two", "default", current)
        assert replaced.metadata.annotations == {"updated": "true"}
        assert replaced.metadata.generation == 2
        core.delete_namespaced_pod_template("one", "default")
        # P12: the rest go as a collection, by label.
        core.delete_collection_namespaced_pod_template("default", label_selector="set=lifecycle")
        assert core.list_namespaced_pod_template("default").items == []
        api_client.close()

    await asyncio.to_thread(scenario)


async def test_a_template_without_containers_is_invalid(cluster: Cluster) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    def create() -> ApiException:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        empty = client.V1PodTemplate(metadata=client.V1ObjectMeta(name="empty"),
                                     template=client.V1PodTemplateSpec())  # fmt: skip
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_pod_template("default", empty)
        api_client.close()
        return caught.value

    error = await asyncio.to_thread(create)
    assert error.status == 422
    assert '"field":"template.spec.containers"' in error.body.replace(" ", "")


async def test_kubectl_prints_pod_templates(cluster: Cluster) -> None:
    manifest = cluster.home / "template.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: web}\n"
        "template:\n  metadata: {labels: {app: web}}\n"
        "  spec: {containers: [{name: web, image: nginx:1.27}, {name: side, image: busybox}]}\n"
    )
    await cluster.kubectl("apply", "-f", str(manifest))
    table = await cluster.kubectl("get", "podtemplates")
    assert table.split() == ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS",
                             "web", "web,side", "nginx:1.27,busybox", "app=web"]  # fmt: skip
