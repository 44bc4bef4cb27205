"""ConfigMaps and Secrets through the official Python client and kubectl, as the
conformance tests drive them (checklist C04-C06, C10, C11, V10, V76), and the
rules of kube-apiserver's validation they rely on: config keys, Secret types,
immutability, sizes."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from kybernetes.apiserver.configdata import ConfigMapStrategy, SecretStrategy, config_key_errors
from tests.apiserver.conftest import Cluster


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _invalid(call: Callable[[], object]) -> Any:
    """The Status of a call that must fail with 422 Invalid."""
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    return json.loads(caught.value.body)


async def _with_core(cluster: Cluster, scenario: Callable[[Any, Any], None]) -> None:
    from kubernetes import client, config

    def run() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        try:
            scenario(client, client.CoreV1Api(api_client))
        finally:
            api_client.close()

    await asyncio.to_thread(run)


async def test_configmap_lifecycle_update_and_empty_key(cluster: Cluster) -> None:
    def scenario(client: Any, core: Any) -> None:
        # C05: create, patch, list in all namespaces by label, delete by collection.
        core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="cm-test", labels={"test-configmap-static": "true"}),
            data={"valueName": "value"}))  # fmt: skip
        core.patch_namespaced_config_map("cm-test", "default", {
            "metadata": {"labels": {"test-configmap": "patched"}},
            "data": {"valueName": "value1"}})  # fmt: skip
        got = core.read_namespaced_config_map("cm-test", "default")
        assert got.data == {"valueName": "value1"}
        assert got.metadata.labels == {"test-configmap-static": "true", "test-configmap": "patched"}
        listed = core.list_config_map_for_all_namespaces(
            label_selector="test-configmap-static=true"
        )
        assert [c.metadata.name for c in listed.items] == ["cm-test"]
        # C06: a PUT of the whole object.
        got.data = {"valueName": "value2", "other": "x"}
        core.replace_namespaced_config_map("cm-test", "default", got)
        assert core.read_namespaced_config_map("cm-test", "default").data == {
            "valueName": "value2", "other": "x"}  # fmt: skip
        core.delete_collection_namespaced_config_map(
            "default", label_selector="test-configmap-static=true"
        )
        assert core.list_namespaced_config_map(
            "default", label_selector="test-configmap-static=true").items == []  # fmt: skip
        # C04: an empty key is refused, naming the key's field.
        status = _invalid(lambda: core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="cm-empty-key"), data={"": "value"})))  # fmt: skip
        assert status["message"].startswith(
            'ConfigMap "cm-empty-key" is invalid: data[]: Invalid value: "": a valid config key'
        )
        assert status["details"]["causes"][0]["field"] == "data[]"

    await _with_core(cluster, scenario)


async def test_secret_patching_and_empty_key(cluster: Cluster) -> None:
    await cluster.kubectl("create", "secret", "generic", "s-test", "--from-literal=key=value",
                          "--type=Opaque")  # fmt: skip
    await cluster.kubectl("label", "secret", "s-test", "testsecret-constant=true")

    def scenario(client: Any, core: Any) -> None:
        # C11: listed across namespaces by label, data patched in base64, deleted by label.
        listed = core.list_secret_for_all_namespaces(label_selector="testsecret-constant=true")
        assert [s.metadata.name for s in listed.items] == ["s-test"]
        core.patch_namespaced_secret("s-test", "default", {
            "metadata": {"labels": {"testsecret": "true"}},
            "data": {"key": _b64("value1")}})  # fmt: skip
        got = core.read_namespaced_secret("s-test", "default")
        assert base64.b64decode(got.data["key"]) == b"value1"
        assert got.metadata.labels["testsecret"] == "true" and got.type == "Opaque"
        core.delete_collection_namespaced_secret("default", label_selector="testsecret-constant")
        assert core.list_secret_for_all_namespaces(
            label_selector="testsecret-constant=true").items == []  # fmt: skip
        # C10: an empty key is refused.
        empty = client.V1Secret(metadata=client.V1ObjectMeta(name="s-empty-key"),
                                data={"": _b64("value")})  # fmt: skip
        status = _invalid(lambda: core.create_namespaced_secret("default", empty))
        assert 'Secret "s-empty-key" is invalid: data[]: Invalid value: ""' in status["message"]

    await _with_core(cluster, scenario)


async def test_immutable_configmaps_and_secrets(cluster: Cluster) -> None:
    """V10, V76: data and the flag are frozen; labels may change; delete works."""

    def scenario(client: Any, core: Any) -> None:
        core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="frozen"), data={"a": "1"},
            binary_data={"b": _b64("\x00\x01")}, immutable=True))  # fmt: skip
        status = _invalid(lambda: core.patch_namespaced_config_map(
            "frozen", "default", {"data": {"a": "2"}}))  # fmt: skip
        assert status["message"] == ('ConfigMap "frozen" is invalid: data: Forbidden: field is '
                                     "immutable when `immutable` is set")  # fmt: skip
        status = _invalid(lambda: core.patch_namespaced_config_map(
            "frozen", "default", {"binaryData": {"b": _b64("x")}}))  # fmt: skip
        assert "binaryData: Forbidden: field is immutable when `immutable` is set" in (
            status["message"])  # fmt: skip
        status = _invalid(lambda: core.patch_namespaced_config_map(
            "frozen", "default", {"immutable": False}))  # fmt: skip
        assert status["details"]["causes"] == [{
            "reason": "FieldValueForbidden", "field": "immutable",
            "message": "Forbidden: field is immutable when `immutable` is set"}]  # fmt: skip
        labelled = {"metadata": {"labels": {"label1": "value1"}}}
        core.patch_namespaced_config_map("frozen", "default", labelled)
        assert core.read_namespaced_config_map("frozen", "default").metadata.labels == {
            "label1": "value1"}  # fmt: skip
        core.delete_namespaced_config_map("frozen", "default")

        core.create_namespaced_secret("default", client.V1Secret(
            metadata=client.V1ObjectMeta(name="frozen"), data={"a": _b64("1")},
            immutable=True))  # fmt: skip
        status = _invalid(lambda: core.patch_namespaced_secret(
            "frozen", "default", {"data": {"a": _b64("2")}}))  # fmt: skip
        assert status["message"] == ('Secret "frozen" is invalid: data: Forbidden: field is '
                                     "immutable when `immutable` is set")  # fmt: skip
        # stringData lands in data before validation: just as frozen.
        _invalid(lambda: core.patch_namespaced_secret(
            "frozen", "default", {"stringData": {"c": "3"}}))  # fmt: skip
        _invalid(lambda: core.patch_namespaced_secret("frozen", "default", {"immutable": None}))
        core.patch_namespaced_secret("frozen", "default", labelled)
        core.delete_namespaced_secret("frozen", "default")

    await _with_core(cluster, scenario)


async def test_secret_types_promise_keys(cluster: Cluster) -> None:
    """A typed Secret must hold its type's keys; the type never changes."""
    tls = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-tls"},
           "type": "kubernetes.io/tls", "data": {"tls.crt": _b64("cert")}}  # fmt: skip
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(tls), check=False)
    assert 'The Secret "web-tls" is invalid: data[tls.key]: Required value' in out
    tls["data"]["tls.key"] = _b64("key")  # type: ignore[index]
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(tls))
    out = await cluster.kubectl("patch", "secret", "web-tls", "-p", '{"type":"Opaque"}',
                                check=False)  # fmt: skip
    assert "data[tls.crt]" not in out and 'type: Invalid value: "Opaque": field is immutable' in out
    auth = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "auth"},
            "type": "kubernetes.io/basic-auth", "stringData": {"user": "me"}}  # fmt: skip
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(auth), check=False)
    assert "data[username]: Required value" in out and "data[password]: Required value" in out


def test_config_keys_and_sizes() -> None:
    assert config_key_errors("app.properties") == []
    assert config_key_errors("..data") == ["must not start with '..'"]
    assert config_key_errors("a/b")[0].startswith("a valid config key must consist of")
    big = {"metadata": {"name": "big"}, "data": {"a": "x" * (1024 * 1024), "b": "y"}}
    assert [(c.field, c.message) for c in ConfigMapStrategy().validate(big)] == [
        ("", "Too long: may not be more than 1048576 bytes")]  # fmt: skip
    both = {"metadata": {"name": "c"}, "data": {"k": "v"}, "binaryData": {"k": _b64("v")}}
    assert [c.message for c in ConfigMapStrategy().validate(both)] == [
        'Invalid value: "k": duplicate of key present in binaryData']  # fmt: skip
    docker = {"metadata": {"name": "d"}, "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": _b64("not json")}}  # fmt: skip
    assert [c.field for c in SecretStrategy().validate(docker)] == ["data[.dockerconfigjson]"]
    token = {"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"}
    assert [c.field for c in SecretStrategy().validate(token)] == [
        "metadata.annotations[kubernetes.io/service-account.name]"]  # fmt: skip
