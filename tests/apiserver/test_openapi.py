"""OpenAPI v3 documents and fieldValidation, driven by the real kubectl and the
official Python client: `kubectl explain` prints real field documentation,
and unknown fields are refused, warned about or dropped, never stored."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp

from tests.apiserver.conftest import Cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  FOO
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        BOGUS
"""
CLEAN = DEPLOYMENT.replace("FOO", "").replace("BOGUS", "")
UNKNOWN = DEPLOYMENT.replace("FOO", "foo: bar").replace("BOGUS", "bogus: 1")


class Raw:
    """An HTTPS client for the wire: status, headers and body."""

    def __init__(self, cluster: Cluster) -> None:
        self.ssl = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
        cert, key = cluster.home / "admin.crt", cluster.home / "admin.key"
        cert.write_bytes(cluster.pki.admin_cert_pem)
        key.write_bytes(cluster.pki.admin_key_pem)
        self.ssl.load_cert_chain(str(cert), str(key))
        self.base = cluster.api.url

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, list[str], Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.base + path,
                data=body or None,
                ssl=self.ssl,
                headers={"Content-Type": content_type},
            ) as resp,  # fmt: skip
        ):
            return resp.status, resp.headers.getall("Warning", []), await resp.json()


async def test_explain_shows_real_field_documentation(cluster: Cluster) -> None:
    out = await cluster.kubectl("explain", "deployment.spec.template.spec.containers")
    assert "FIELD: containers <[]Container>" in out
    assert "image\t<string>" in out
    assert "Container image name." in out
    assert "A single application container that you want to run within a pod." in out
    image = await cluster.kubectl("explain", "pod.spec.containers.image")
    assert "FIELD: image <string>" in image and "Container image name." in image
    top = await cluster.kubectl("explain", "deployment")
    assert "GROUP:      apps" in top
    assert "Deployment enables declarative updates for Pods and ReplicaSets." in top


async def test_explain_recursive(cluster: Cluster) -> None:
    out = await cluster.kubectl("explain", "pod", "--recursive")
    assert "containers\t<[]Container>" in out
    assert "      image\t<string>" in out
    assert "    nodeSelector\t<map[string]string>" in out
    events = await cluster.kubectl("explain", "events", "--api-version=events.k8s.io/v1")
    assert "GROUP:      events.k8s.io" in events and "regarding" in events
    core_event = await cluster.kubectl("explain", "events", "--api-version=v1", "--recursive")
    assert "involvedObject" in core_event


async def test_apply_refuses_unknown_fields(cluster: Cluster) -> None:
    out = await cluster.kubectl("apply", "-f", "-", stdin=UNKNOWN, check=False)
    assert (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
        'cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", '
        'unknown field "spec.template.spec.containers[0].bogus"'
    ) in out
    assert "NotFound" in await cluster.kubectl("get", "deploy", "web", check=False)


async def test_apply_change_with_unknown_field_is_refused_on_the_patch(cluster: Cluster) -> None:
    assert "created" in await cluster.kubectl("apply", "-f", "-", stdin=CLEAN)
    changed = UNKNOWN.replace("replicas: 1", "replicas: 2")
    out = await cluster.kubectl("apply", "-f", "-", stdin=changed, check=False)
    assert "The request is invalid: patch: Invalid value:" in out
    assert 'strict decoding error: unknown field "spec.foo"' in out
    replicas = await cluster.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
    assert replicas == "1"


async def test_validate_warn_warns_and_drops(cluster: Cluster) -> None:
    out = await cluster.kubectl("apply", "-f", "-", "--validate=warn", stdin=UNKNOWN, check=False)
    assert "deployment.apps/web created" in out
    assert 'Warning: unknown field "spec.foo"' in out
    assert 'Warning: unknown field "spec.template.spec.containers[0].bogus"' in out
    stored = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert "foo" not in stored["spec"]
    assert "bogus" not in stored["spec"]["template"]["spec"]["containers"][0]


async def test_validate_false_passes_and_stores_nothing_unknown(cluster: Cluster) -> None:
    out = await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=UNKNOWN, check=False)
    assert out.strip() == "deployment.apps/web created"
    stored = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert "foo" not in stored["spec"]
    assert "bogus" not in stored["spec"]["template"]["spec"]["containers"][0]


async def test_patch_with_unknown_field_warns_by_default(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=CLEAN)
    out = await cluster.kubectl("patch", "deploy", "web", "--type=merge", "-p",
                                '{"spec":{"bar":1,"paused":true}}', check=False)  # fmt: skip
    assert 'Warning: unknown field "spec.bar"' in out
    stored = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert stored["spec"]["paused"] is True and "bar" not in stored["spec"]


async def test_wire_default_is_warn_and_strict_names_duplicates(cluster: Cluster) -> None:
    raw = Raw(cluster)
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","x":1},"data":{"k":"v"}}'
    status, warnings, obj = await raw.request("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 201
    assert warnings == ['299 - "unknown field \\"metadata.x\\""']
    assert "x" not in obj["metadata"]
    dup = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","name":"c"},"bad":1}'
    status, _, answer = await raw.request(
        "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", dup
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'duplicate field "metadata.name", unknown field "bad"'
    )
    status, warnings, _ = await raw.request(
        "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
        body.replace(b'"a"', b'"d"'),
    )  # fmt: skip
    assert (status, warnings) == (201, [])
    status, _, answer = await raw.request(
        "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Loud", body
    )
    assert status == 422 and answer["message"].startswith(
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud"'
    )


async def test_documents_carry_schemas_and_custom_resources_still_work(cluster: Cluster) -> None:
    raw = Raw(cluster)
    _, _, root = await raw.request("GET", "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, _, doc = await raw.request("GET", url)
    deployment = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert deployment["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}
    ]
    container = doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]
    assert container["required"] == ["name"]
    assert "description" in container["properties"]["image"]
    assert container["properties"]["env"]["x-kubernetes-patch-merge-key"] == "name"
    assert container["properties"]["env"]["x-kubernetes-patch-strategy"] == "merge"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    # The strategic-merge trap stays avoided (openapi.py says why).
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]

    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                         "type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
    }  # fmt: skip
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(crd))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 3}}  # fmt: skip
    assert "created" in await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(widget))
    _, _, root = await raw.request("GET", "/openapi/v3")
    assert "apis/example.com/v1" in root["paths"]

    # Custom resources: what their structural schema prunes is an unknown field.
    bad = {**widget, "metadata": {"name": "w2"}, "spec": {"size": 1, "colour": "red"}}
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.colour"'
    ) in out
    out = await cluster.kubectl("apply", "-f", "-", "--validate=warn", stdin=json.dumps(bad),
                                check=False)  # fmt: skip
    assert 'Warning: unknown field "spec.colour"' in out and "widget.example.com/w2 created" in out
    stored = json.loads(await cluster.kubectl("get", "widget", "w2", "-o", "json"))
    assert stored["spec"] == {"size": 1}
    out = await cluster.kubectl("patch", "widget", "w2", "--type=merge", "-p",
                                '{"spec":{"shade":1}}', check=False)  # fmt: skip
    assert 'Warning: unknown field "spec.shade"' in out


async def test_official_python_client_still_works(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> tuple[str, list[str]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        apps = client.AppsV1Api(api_client)
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="py"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels={"app": "py"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "py"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
                ),
            ),
        )
        made = apps.create_namespaced_deployment("default", body)
        patched = apps.patch_namespaced_deployment("py", "default", {"spec": {"replicas": 3}})
        names = [d.metadata.name for d in apps.list_namespaced_deployment("default").items]
        api_client.close()
        return f"{made.metadata.name}:{patched.spec.replicas}", names

    assert await asyncio.to_thread(scenario) == ("py:3", ["py"])


async def test_openapi_v2_is_protobuf_when_asked(cluster: Cluster) -> None:
    raw = Raw(cluster)
    async with (
        aiohttp.ClientSession() as session,
        session.get(raw.base + "/openapi/v2", ssl=raw.ssl, headers={
            "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}) as resp,
    ):  # fmt: skip
        body = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == (
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
    assert body.startswith(b"\n\x032.0")  # Document.swagger
    status, _, doc = await raw.request("GET", "/openapi/v2")
    assert status == 200 and doc["swagger"] == "2.0"
    assert "io.k8s.api.core.v1.Pod" in doc["definitions"]


async def test_a_warning_with_a_control_character_is_left_out(cluster: Cluster) -> None:
    # An unknown field named "\x1f" cannot be quoted into a Warning header: kube-apiserver
    # drops such a warning; the response, and the other warnings, still go out.
    raw = Raw(cluster)
    body = b'{"metadata": {"name": "c1"}, "\\u001f": 1, "junk": 2}'
    status, warnings, reply = await raw.request("POST", "/api/v1/namespaces/default/configmaps",
                                                body)  # fmt: skip
    assert status == 201, reply
    assert warnings == ['299 - "unknown field \\"junk\\""']


# Server-side field validation as the conformance tests check it (checklist A08-A14).

PORTS = {"type": "array", "x-kubernetes-list-type": "map",
         "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
         "items": {"type": "object", "required": ["containerPort", "protocol"], "properties": {
             "containerPort": {"type": "integer", "format": "int32"},
             "name": {"type": "string"}, "protocol": {"type": "string"}}}}  # fmt: skip
SPEC = {"type": "object", "properties": {"foo": {"type": "string"}, "ports": PORTS}}
TEMPLATE = {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {
    "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
    "spec": {"type": "object"}}}  # fmt: skip
NOXU_SCHEMAS = {
    "noschemas": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "strictones": {"type": "object", "properties": {"spec": SPEC}},
    "embeddeds": {"type": "object", "properties": {"spec": {
        **SPEC, "x-kubernetes-preserve-unknown-fields": True,
        "properties": {**SPEC["properties"], "template": TEMPLATE}}}},
}  # fmt: skip
APPLIED = """
apiVersion: fields.example.com/v1
kind: {kind}
metadata:
  name: mytest
  finalizers:
  - test-finalizer{meta}
spec:{spec}
  ports:
  - name: x
    containerPort: 80
    protocol: TCP
"""


async def _noxu_crds(cluster: Cluster) -> None:
    for plural, schema in NOXU_SCHEMAS.items():
        kind = plural[:-1].capitalize()
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": f"{plural}.fields.example.com"},
               "spec": {"group": "fields.example.com", "scope": "Cluster",
                        "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
                        "versions": [{"name": "v1", "served": True, "storage": True,
                                      "schema": {"openAPIV3Schema": schema}}]}}  # fmt: skip
        await cluster.kubectl("create", "-f", "-", stdin=json.dumps(crd))
        await cluster.kubectl("wait", "--for=condition=established", "--timeout=10s",
                              f"crd/{plural}.fields.example.com")  # fmt: skip


async def _apply(raw: Raw, plural: str, body: str) -> tuple[int, Any]:
    path = (f"/apis/fields.example.com/v1/{plural}/mytest"
            "?fieldManager=field_validation_mgr&fieldValidation=Strict")  # fmt: skip
    status, _, answer = await raw.request("PATCH", path, body.encode(),
                                          content_type="application/apply-patch+yaml")  # fmt: skip
    return status, answer


async def test_strict_apply_of_custom_resources(cluster: Cluster) -> None:
    await _noxu_crds(cluster)
    raw = Raw(cluster)
    # A08: no schema, unknown fields kept; A09: a valid object.
    body = APPLIED.format(kind="Noschema", meta="", spec="\n  unknown: uk1")
    status, answer = await _apply(raw, "noschemas", body)
    assert status == 201 and answer["spec"]["unknown"] == "uk1"
    body = APPLIED.format(kind="Strictone", meta="", spec="\n  foo: foo1")
    assert (await _apply(raw, "strictones", body))[0] == 201
    # A10: an unknown field under a schema is refused.
    body = APPLIED.format(kind="Strictone", meta="\nunknownField: unknown", spec="\n  foo: foo1")
    status, answer = await _apply(raw, "strictones", body)
    assert status == 400 and 'unknown field "unknownField"' in answer["message"]
    # A13: unknown metadata, at the root and in an embedded resource, whose
    # apiVersion, kind and ObjectMeta fields are known.
    template = (
        "\n  template:\n    apiVersion: foo/v1\n    kind: Sub\n    metadata:\n"
        "      unknownSubMeta: unknown\n      name: subobject\n      namespace: ns"
    )
    body = APPLIED.format(kind="Embedded", meta="\n  unknownMeta: unknown",
                          spec=f"{template}\n  foo: foo1")  # fmt: skip
    status, answer = await _apply(raw, "embeddeds", body)
    assert status == 400
    assert answer["message"].endswith(
        'strict decoding error: unknown field "metadata.unknownMeta", '
        'unknown field "spec.template.metadata.unknownSubMeta"'
    )
    body = APPLIED.format(kind="Embedded", meta="", spec=template.replace(
        "      unknownSubMeta: unknown\n", "") + "\n  foo: foo1")  # fmt: skip
    status, answer = await _apply(raw, "embeddeds", body)
    assert status == 201, answer
    assert answer["spec"]["template"]["metadata"] == {"name": "subobject", "namespace": "ns"}
    assert answer["spec"]["template"]["kind"] == "Sub"


DUPLICATED = b"""{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "my-dep", "labels": {"app": "nginx"}},
  "spec": {
    "unknownField": "foo", "replicas": 2, "replicas": 3,
    "selector": {"matchLabels": {"app": "nginx"}},
    "template": {"metadata": {"labels": {"app": "nginx"}},
                 "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}
  }
}"""


async def test_strict_create_of_a_typed_object(cluster: Cluster) -> None:
    raw = Raw(cluster)
    path = "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict"
    # A12: unknown and duplicate fields, in the order kube-apiserver names them.
    status, _, answer = await raw.request("POST", path, DUPLICATED)
    assert status == 400
    assert answer["message"].endswith(
        'strict decoding error: unknown field "spec.unknownField", duplicate field "spec.replicas"'
    )
    # A14: unknown metadata.
    body = DUPLICATED.replace(b'"unknownField": "foo", "replicas": 2, ', b"").replace(
        b'"name": "my-dep",', b'"name": "my-dep", "unknownMeta": "foo",'
    )
    status, _, answer = await raw.request("POST", path, body)
    assert status == 400
    assert answer["message"].endswith('strict decoding error: unknown field "metadata.unknownMeta"')


async def test_repeated_keys_in_an_apply_are_refused_under_strict_and_warned_about(
    cluster: Cluster,
) -> None:
    # Checklist A11: even where unknown fields are preserved.
    await _noxu_crds(cluster)
    raw = Raw(cluster)
    body = APPLIED.format(
        kind="Embedded", meta="", spec="\n  unknown: uk1\n  foo: foo1\n  foo: foo2"
    )
    status, answer = await _apply(raw, "embeddeds", body)
    assert status == 400
    assert answer["message"] == (
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n"
        '  line 11: key "foo" already set in map'
    )
    path = "/apis/fields.example.com/v1/embeddeds/mytest?fieldManager=m&fieldValidation=Warn"
    apply = "application/apply-patch+yaml"
    status, warnings, answer = await raw.request("PATCH", path, body.encode(), apply)
    assert status == 201 and answer["spec"]["foo"] == "foo2"
    # Warned about, but the warning spans lines: add_warnings leaves out a text
    # with a control character, which a header cannot carry.
    assert warnings == []
