"""Namespaces through the official Python client and kubectl, as the
conformance tests drive them (checklist NS1-NS3, NS6)."""

from __future__ import annotations

import asyncio
import json

from tests.apiserver.conftest import Cluster

FAKE = "e2e.example.com/fakeFinalizer"


async def test_finalize_update_and_patch_a_namespace(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ns-e2e")))
        # NS1: a fake finalizer added through namespaces/finalize, then removed.
        ns = core.read_namespace("ns-e2e")
        ns.spec.finalizers = [*ns.spec.finalizers, FAKE]
        added = core.replace_namespace_finalize("ns-e2e", ns)
        assert added.spec.finalizers == ["kubernetes", FAKE]
        assert core.read_namespace("ns-e2e").spec.finalizers == ["kubernetes", FAKE]
        added.spec.finalizers = [f for f in added.spec.finalizers if f != FAKE]
        removed = core.replace_namespace_finalize("ns-e2e", added)
        assert removed.spec.finalizers == ["kubernetes"]
        assert core.read_namespace("ns-e2e").spec.finalizers == ["kubernetes"]
        # NS2: a PUT with a new label is stored.
        ns = core.read_namespace("ns-e2e")
        ns.metadata.labels["e2e-namespace-update"] = "updated"
        core.replace_namespace("ns-e2e", ns)
        labels = core.read_namespace("ns-e2e").metadata.labels
        assert labels["e2e-namespace-update"] == "updated"
        # NS6: a strategic merge PATCH adds a label.
        core.patch_namespace("ns-e2e", {"metadata": {"labels": {"testLabel": "testValue"}}})
        assert core.read_namespace("ns-e2e").metadata.labels["testLabel"] == "testValue"
        api_client.close()

    await asyncio.to_thread(scenario)
    labels = json.loads(await cluster.kubectl("get", "ns", "ns-e2e", "-o", "json"))
    assert labels["metadata"]["labels"]["testLabel"] == "testValue"
    await cluster.kubectl("label", "ns", "ns-e2e", "testLabel-", "kubectl=yes")
    out = await cluster.kubectl("get", "ns", "ns-e2e", "--show-labels")
    assert "kubectl=yes" in out and "testLabel" not in out


async def test_namespace_status_read_patch_and_update(cluster: Cluster) -> None:
    """NS3: namespaces/status is read, merge-patched and updated with conditions."""
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ns-st")))
        status = core.read_namespace_status("ns-st")
        assert status.status.phase == "Active"
        # The conformance test sends a JSON merge patch to the status subresource.
        patch = {
            "metadata": {"annotations": {"e2e-patched-ns-status": "ns-st"}},
            "status": {"conditions": [{"type": "StatusPatch", "status": "True",
                                       "reason": "E2E", "message": "Patched by an e2e test"}]},
        }  # fmt: skip
        merge = "application/merge-patch+json"
        patched = core.patch_namespace_status("ns-st", patch, _content_type=merge)
        assert patched.metadata.annotations["e2e-patched-ns-status"] == "ns-st"
        assert [(c.type, c.status, c.reason, c.message) for c in patched.status.conditions] == [
            ("StatusPatch", "True", "E2E", "Patched by an e2e test")]  # fmt: skip
        assert patched.status.phase == "Active"
        # The patch's manager owns what it changed there, metadata included.
        (entry,) = [e for e in patched.metadata.managed_fields if e.subresource == "status"]
        assert entry.operation == "Update"
        assert entry.fields_v1["f:metadata"] == {
            "f:annotations": {".": {}, "f:e2e-patched-ns-status": {}}}  # fmt: skip
        assert set(entry.fields_v1) == {"f:metadata", "f:status"}
        # An update of the status appends a condition.
        current = core.read_namespace_status("ns-st")
        condition = client.V1NamespaceCondition(
            type="StatusUpdate", status="True", reason="E2E", message="Updated by an e2e test"
        )
        current.status.conditions.append(condition)
        updated = core.replace_namespace_status("ns-st", current)
        assert [c.type for c in updated.status.conditions] == ["StatusPatch", "StatusUpdate"]
        read = core.read_namespace("ns-st")
        assert [c.type for c in read.status.conditions] == ["StatusPatch", "StatusUpdate"]
        # As in kube-apiserver, a namespace's status write keeps its metadata
        # (the defaulted name label too) but never changes the spec.
        current = core.read_namespace_status("ns-st")
        current.metadata.labels = {"kept": "yes"}
        current.spec.finalizers = []
        after = core.replace_namespace_status("ns-st", current)
        assert after.metadata.labels == {"kept": "yes", "kubernetes.io/metadata.name": "ns-st"}
        assert after.spec.finalizers == ["kubernetes"]
        assert core.read_namespace("ns-st").spec.finalizers == ["kubernetes"]
        api_client.close()

    await asyncio.to_thread(scenario)
