"""A CRD adds its resource at run time: discovery, CRUD, validation, tables, deletion."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import yaml

from tests.apiserver.conftest import Cluster

CRD = r"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: boolean, jsonPath: .status.ready}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'}
              image: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10}
          status:
            type: object
            properties:
              ready: {type: boolean}
"""

CRONTAB = {
    "apiVersion": "stable.example.com/v1",
    "kind": "CronTab",
    "metadata": {"name": "nightly"},
    "spec": {"cronSpec": "* * * * */5", "image": "backup:1", "replicas": 2, "unknown": "x"},
}


async def test_crd_lifecycle_with_kubectl(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=CRD)
    crd = json.loads(await cluster.kubectl("get", "crd", "crontabs.stable.example.com",
                                           "-o", "json"))  # fmt: skip
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    await cluster.kubectl("wait", "--for=condition=established", "--timeout=10s",
                          "crd/crontabs.stable.example.com")  # fmt: skip
    assert "crontabs" in await cluster.kubectl("api-resources", "--api-group=stable.example.com")

    # kubectl's default (fieldValidation=Strict) refuses the unknown field, as
    # kube-apiserver does; with --validate=false it is pruned instead.
    refused = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(CRONTAB), check=False)
    assert 'strict decoding error: unknown field "spec.unknown"' in refused
    await cluster.kubectl("apply", "-f", "-", "--validate=false", stdin=json.dumps(CRONTAB))
    out = await cluster.kubectl("get", "ct")
    assert out.splitlines()[0].split() == ["NAME", "SPEC", "REPLICAS", "READY", "AGE"]
    # A date column is an age, and a value the path does not find an empty
    # cell (null: kubectl prints nothing), as on any cluster.
    head, row = out.splitlines()[:2]
    cells = {name: row[head.index(name) :].split(maxsplit=1)[0] for name in ("REPLICAS", "AGE")}
    assert cells["REPLICAS"] == "2" and re.fullmatch(r"\d+s", cells["AGE"]), out
    assert row[head.index("READY") : head.index("AGE")].strip() == "", out
    stored = json.loads(await cluster.kubectl("get", "crontab", "nightly", "-o", "json"))
    assert "unknown" not in stored["spec"]  # pruned: not in the schema
    assert stored["spec"]["replicas"] == 2

    bad = {**CRONTAB, "metadata": {"name": "bad"}, "spec": {"cronSpec": "nope", "replicas": 50}}
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert 'The CronTab "bad" is invalid' in out
    assert "spec.replicas" in out and "spec.cronSpec" in out

    await cluster.kubectl("patch", "crontab", "nightly", "--type=merge", "--subresource=status",
                          "-p", '{"status":{"ready":true}}')  # fmt: skip
    stored = json.loads(await cluster.kubectl("get", "crontab", "nightly", "-o", "json"))
    assert stored["status"] == {"ready": True}

    raw_path = "/apis/stable.example.com/v1/namespaces/default/crontabs/nightly"
    assert json.loads(await cluster.kubectl("get", "--raw", raw_path))["kind"] == "CronTab"
    await cluster.kubectl("delete", "crd", "crontabs.stable.example.com")
    out = await cluster.kubectl("get", "crontabs", check=False)
    assert "doesn't have a resource type" in out or "NotFound" in out
    # The server itself forgets the path, though it answered it a moment ago.
    out = await cluster.kubectl("get", "--raw", raw_path, check=False)
    assert "(NotFound)" in out, out


async def test_custom_objects_watch_and_official_client(cluster: Cluster) -> None:
    from kubernetes import client, config

    await cluster.kubectl("apply", "-f", "-", stdin=CRD)

    def scenario() -> list[str]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        custom = client.CustomObjectsApi(api_client)
        body = yaml.safe_load(json.dumps(CRONTAB))
        custom.create_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs",
                                               body)  # fmt: skip
        got = custom.get_namespaced_custom_object("stable.example.com", "v1", "default",
                                                  "crontabs", "nightly")  # fmt: skip
        listed = custom.list_namespaced_custom_object("stable.example.com", "v1", "default",
                                                      "crontabs")  # fmt: skip
        api_client.close()
        return [got["metadata"]["name"], str(len(listed["items"]))]

    assert await asyncio.to_thread(scenario) == ["nightly", "1"]


async def test_custom_resources_are_served_again_after_a_restart(tmp_path: Path) -> None:
    from kybernetes.apiserver.pki import ClusterPKI
    from kybernetes.apiserver.server import start_apiserver
    from kybernetes.store import open_store

    pki = await asyncio.to_thread(
        ClusterPKI.load_or_create, tmp_path / "pki", hostnames=[], ips=["127.0.0.1"]
    )
    store = await open_store(f"sqlite://{tmp_path}/state.db?compact_interval=0")
    try:
        api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
        crd_type = api.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_type is not None
        await api.rest.create(crd_type, "", yaml.safe_load(CRD), dry_run=False)
        await api.stop()
        again = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
        assert again.registry.lookup("stable.example.com", "v1", "crontabs") is not None
        await again.stop()
    finally:
        await store.close()


TWO_VERSIONS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.two.example.com}
spec:
  group: two.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns: [{name: Size, type: integer, jsonPath: .spec.size}]
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, maximum: 10}}}
  - name: v2
    served: true
    storage: false
    additionalPrinterColumns: [{name: Colour, type: string, jsonPath: .spec.colour}]
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, maximum: 100},
                                            colour: {type: string}}}
"""


async def test_each_version_of_a_crd_has_its_own_schema_and_columns(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=TWO_VERSIONS)
    for _ in range(100):
        if "gadgets" in await cluster.kubectl("api-resources", "--api-group=two.example.com"):
            break
        await asyncio.sleep(0.05)
    v1 = "apiVersion: two.example.com/v1\nkind: Gadget\nmetadata: {name: %s}\nspec: {size: %d}\n"
    v2 = ("apiVersion: two.example.com/v2\nkind: Gadget\nmetadata: {name: %s}\n"
          "spec: {size: %d, colour: red}\n")  # fmt: skip
    # 50 is too big for v1 (maximum 10) but fine for v2 (maximum 100).
    refused = await cluster.kubectl("apply", "-f", "-", stdin=v1 % ("small", 50), check=False)
    assert "should be less than or equal to 10" in refused
    await cluster.kubectl("apply", "-f", "-", stdin=v2 % ("big", 50))
    wide = await cluster.kubectl("get", "gadgets.v2.two.example.com")
    assert "COLOUR" in wide and "red" in wide
    narrow = await cluster.kubectl("get", "gadgets.v1.two.example.com")
    assert "SIZE" in narrow and "COLOUR" not in narrow


DEFAULTED = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: defaults.mygroup.example.com}
spec:
  group: mygroup.example.com
  scope: Namespaced
  names: {plural: defaults, singular: default, kind: Default}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              a: {type: string, default: A}
"""


async def test_schema_defaults_apply_to_writes(cluster: Cluster) -> None:
    # Checklist A20 (the write half: kube-apiserver also defaults objects as it
    # reads them from storage, which we do not yet).
    from kubernetes import client, config

    await cluster.kubectl("apply", "-f", "-", stdin=DEFAULTED)
    await cluster.kubectl("wait", "--for=condition=established", "--timeout=10s",
                          "crd/defaults.mygroup.example.com")  # fmt: skip

    def scenario() -> list[dict]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        custom = client.CustomObjectsApi(api_client)
        ext = client.ApiextensionsV1Api(api_client)
        args = ("mygroup.example.com", "v1", "default", "defaults")
        body = {"apiVersion": "mygroup.example.com/v1", "kind": "Default",
                "metadata": {"name": "foo"}, "spec": {}}  # fmt: skip
        specs = [custom.create_namespaced_custom_object(*args, body)["spec"]]
        ext.patch_custom_resource_definition("defaults.mygroup.example.com", [{
            "op": "add", "value": {"type": "string", "default": "B"},
            "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/b",
        }])  # fmt: skip
        patched = custom.patch_namespaced_custom_object(*args, "foo", {"spec": {"c": "kept"}})
        specs.append(patched["spec"])
        specs.append(
            custom.create_namespaced_custom_object(
                *args, {**body, "metadata": {"name": "bar"}, "spec": {"a": "mine"}}
            )["spec"]
        )
        api_client.close()
        return specs

    created, patched, own = await asyncio.to_thread(scenario)
    assert created == {"a": "A"}
    assert patched == {"a": "A", "b": "B", "c": "kept"}
    assert own == {"a": "mine", "b": "B"}


def _crd(group: str, kind: str, versions: list[dict], plural: str = "") -> str:
    plural = plural or f"{kind.lower()}s"
    return json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                 "versions": versions},
    })  # fmt: skip


def _version(name: str, schema: dict, storage: bool = True) -> dict:
    return {"name": name, "served": True, "storage": storage,
            "schema": {"openAPIV3Schema": schema}}  # fmt: skip


FOO_SCHEMA = {
    "type": "object", "description": "Foo CRD for Testing",
    "properties": {
        "spec": {"type": "object", "description": "Specification of Foo", "properties": {
            "bars": {"type": "array", "description": "List of Bars and their specs.",
                     "items": {"type": "object", "required": ["name"], "properties": {
                         "name": {"type": "string", "description": "Name of Bar."},
                         "age": {"type": "string", "description": "Age of Bar."}}}}}},
        "status": {"type": "object", "description": "Status of Foo"},
    },
}  # fmt: skip
PRESERVED = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
EMBEDDED = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "dummy": {"type": "object", "description": "Dummy property.",
              "x-kubernetes-embedded-resource": True,
              "x-kubernetes-preserve-unknown-fields": True}}}}}  # fmt: skip


async def _established(cluster: Cluster, manifest: str) -> None:
    await cluster.kubectl("create", "-f", "-", stdin=manifest)
    name = json.loads(manifest)["metadata"]["name"]
    await cluster.kubectl("wait", "--for=condition=established", "--timeout=10s", f"crd/{name}")


async def test_kubectl_explains_and_validates_a_published_custom_resource(
    cluster: Cluster,
) -> None:
    # Checklist A27: the CRD's schema is published, so explain describes it.
    group = "publish-foo.example.com"
    await _established(cluster, _crd(group, "Foo", [_version("v1", FOO_SCHEMA)]))
    explained = await cluster.kubectl("explain", "foos")
    assert "Foo CRD for Testing" in explained and "Specification of Foo" in explained
    bars = await cluster.kubectl("explain", "foos.spec.bars")
    assert "List of Bars and their specs." in bars and "Name of Bar." in bars
    assert "name\t<string> -required-" in bars
    missing = await cluster.kubectl("explain", "foos.spec.bars2", check=False)
    assert 'field "bars2" does not exist' in missing
    foo = {"apiVersion": f"{group}/v1", "kind": "Foo", "metadata": {"name": "test-foo"},
           "spec": {"bars": [{"name": "test-bar"}]}}  # fmt: skip
    assert "created" in await cluster.kubectl("create", "-f", "-", stdin=json.dumps(foo))
    await cluster.kubectl("delete", "foo", "test-foo")
    assert "created" in await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(foo))
    unknown = {**foo, "spec": {"bars": [{"name": "test-bar"}], "foo": True}}
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(unknown), check=False)
    assert 'unknown field "spec.foo"' in out
    no_name = {**foo, "metadata": {"name": "other"}, "spec": {"bars": [{"age": "10"}]}}
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(no_name), check=False)
    assert "spec.bars[0].name: Required value" in out


async def test_kubectl_takes_unknown_fields_where_the_schema_preserves_them(
    cluster: Cluster,
) -> None:
    # Checklist A25, A26, A28: at the root, and in an embedded resource.
    await _established(cluster, _crd("at-root.example.com", "Waldo", [_version("v1", PRESERVED)]))
    waldo = {"apiVersion": "at-root.example.com/v1", "kind": "Waldo",
             "metadata": {"name": "test-cr"}, "a": {"b": [{"c": "d"}]}}  # fmt: skip
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(waldo))
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(waldo))
    explained = await cluster.kubectl("explain", "waldos")
    assert "KIND:       Waldo" in explained and "DESCRIPTION:" in explained

    await _established(cluster, _crd("nested.example.com", "Nest", [_version("v1", EMBEDDED)]))
    dummy = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": "b"}},
             "a": {"b": [{"c": "d"}]}}  # fmt: skip
    nest = {"apiVersion": "nested.example.com/v1", "kind": "Nest",
            "metadata": {"name": "test-cr"}, "spec": {"dummy": dummy}}  # fmt: skip
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(nest))
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(nest))
    stored = json.loads(await cluster.kubectl("get", "nest", "test-cr", "-o", "json"))
    assert stored["spec"] == {"dummy": dummy}
    explained = await cluster.kubectl("explain", "nests.spec.dummy")
    assert "Dummy property." in explained and "metadata\t<ObjectMeta>" in explained


async def test_openapi_publishes_every_served_version_group_and_kind(cluster: Cluster) -> None:
    # Checklist A23, A24, A29, A30, A31.
    from kubernetes import client, config

    spec = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "x": {"type": "string"}}}}}  # fmt: skip
    versions = [_version("v2", spec), _version("v3", spec, False)]
    await _established(cluster, _crd("multi.example.com", "Multi", versions))
    await _established(cluster, _crd("multi.example.com", "Other", [_version("v2", spec)]))
    await _established(cluster, _crd("elsewhere.example.org", "Multi", [_version("v1", spec)]))

    def published() -> tuple[set[str], set[str]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        found = []
        for path in ("/openapi/v2", "/openapi/v3"):
            method, url, headers, _, _ = api_client.param_serialize(
                "GET", path, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )  # fmt: skip
            found.append(json.loads(api_client.rest_client.pool_manager.request(
                method, url, headers=headers).data))  # fmt: skip
        api_client.close()
        return ({d for d in found[0]["definitions"] if "example" in d},
                {p for p in found[1]["paths"] if "example" in p})  # fmt: skip

    definitions, documents = await asyncio.to_thread(published)
    assert definitions == {
        "com.example.multi.v2.Multi",
        "com.example.multi.v3.Multi",
        "com.example.multi.v2.Other",
        "org.example.elsewhere.v1.Multi",
    }
    assert documents == {"apis/multi.example.com/v2", "apis/multi.example.com/v3",
                         "apis/elsewhere.example.org/v1"}  # fmt: skip

    def patch(operations: list[dict]) -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        client.ApiextensionsV1Api(api_client).patch_custom_resource_definition(
            "multis.multi.example.com", operations
        )
        api_client.close()

    await asyncio.to_thread(patch, [{"op": "replace", "path": "/spec/versions/1/name",
                                     "value": "v4"}])  # fmt: skip
    definitions, documents = await asyncio.to_thread(published)
    assert "com.example.multi.v4.Multi" in definitions
    assert "com.example.multi.v3.Multi" not in definitions
    assert "apis/multi.example.com/v4" in documents

    await asyncio.to_thread(patch, [{"op": "replace", "path": "/spec/versions/1/served",
                                     "value": False}])  # fmt: skip
    definitions, documents = await asyncio.to_thread(published)
    assert "com.example.multi.v4.Multi" not in definitions
    assert "com.example.multi.v2.Multi" in definitions
    assert "apis/multi.example.com/v4" not in documents


async def test_crd_status_list_deletecollection_and_custom_object_watch(cluster: Cluster) -> None:
    # Checklist A17, A18, A19, A22 with the official client.
    from kubernetes import client, config, watch

    def scenario() -> list[tuple[str, str]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        ext = client.ApiextensionsV1Api(api_client)
        for plural in ("listas", "listbs", "others"):
            crd = json.loads(_crd("lists.example.com", plural[:-1].capitalize(),
                                  [_version("v1", PRESERVED)], plural=plural))  # fmt: skip
            if plural != "others":
                crd["metadata"]["labels"] = {"e2e-list-test": "yes"}
            ext.create_custom_resource_definition(crd)
        name = "listas.lists.example.com"
        status = ext.read_custom_resource_definition_status(name)
        assert {c.type for c in status.status.conditions} >= {"NamesAccepted", "Established"}
        status.status.conditions.append(client.V1CustomResourceDefinitionCondition(
            type="StatusUpdated", status="True", reason="E2E", message="updated"))  # fmt: skip
        updated = ext.replace_custom_resource_definition_status(name, status)
        assert "StatusUpdated" in {c.type for c in updated.status.conditions}
        condition = {"type": "StatusPatched", "status": "True", "reason": "E2E", "message": "x"}
        patch = {"status": {"conditions": [condition]}}
        patched = ext.patch_custom_resource_definition_status(name, patch)
        assert "StatusPatched" in {c.type for c in patched.status.conditions}
        labelled = ext.list_custom_resource_definition(label_selector="e2e-list-test=yes")
        assert sorted(c.metadata.name for c in labelled.items) == [
            "listas.lists.example.com", "listbs.lists.example.com"]  # fmt: skip
        ext.delete_collection_custom_resource_definition(label_selector="e2e-list-test=yes")
        left = [c.metadata.name for c in ext.list_custom_resource_definition().items]
        assert left == ["others.lists.example.com"]

        custom = client.CustomObjectsApi(api_client)
        args = ("lists.example.com", "v1", "default", "others")
        start = custom.list_namespaced_custom_object(*args)["metadata"]["resourceVersion"]
        body = {"apiVersion": "lists.example.com/v1", "kind": "Other",
                "metadata": {"name": "w1"}, "content": {"key": "value"}}  # fmt: skip
        custom.create_namespaced_custom_object(*args, body)
        custom.patch_namespaced_custom_object(*args, "w1", {"dummy": "test"})
        custom.delete_namespaced_custom_object(*args, "w1")
        seen = []
        stream = watch.Watch()
        for event in stream.stream(custom.list_namespaced_custom_object, *args,
                                   resource_version=start, timeout_seconds=5):  # fmt: skip
            seen.append((event["type"], event["object"].get("dummy", "")))
            if len(seen) == 3:
                stream.stop()
        ext.delete_custom_resource_definition("others.lists.example.com")
        api_client.close()
        return seen

    assert await asyncio.to_thread(scenario) == [("ADDED", ""), ("MODIFIED", "test"),
                                                 ("DELETED", "test")]  # fmt: skip
