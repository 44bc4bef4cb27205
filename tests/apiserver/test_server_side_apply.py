"""Server-side apply and managedFields, through the real kubectl."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml

from kybernetes.api.patch.strategic import FieldStrategy
from kybernetes.apiserver.crd_strategy import list_strategies
from tests.apiserver.conftest import Cluster
from tests.apiserver.test_managedfields import KUBECTL_CREATE_DEPLOYMENT
from tests.apiserver.test_watch_and_patch import Client


def _deployment(*, replicas: int = 2, image: str = "nginx:1.27", env: bool = True) -> str:
    container: dict[str, Any] = {"name": "web", "image": image}
    if env:
        container["env"] = [{"name": "MODE", "value": "prod"}]
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }
    return yaml.safe_dump(manifest)


async def _get(cluster: Cluster) -> Any:
    return json.loads(
        await cluster.kubectl("get", "deploy", "web", "-o", "json", "--show-managed-fields")
    )


async def _apply(cluster: Cluster, manifest: str, *flags: str, check: bool = True) -> str:
    return await cluster.kubectl(
        "apply", "--server-side", *flags, "-f", "-", stdin=manifest, check=check
    )


async def test_apply_creates_then_changes_nothing(cluster: Cluster) -> None:
    out = await _apply(cluster, _deployment())
    assert "deployment.apps/web serverside-applied" in out
    first = await _get(cluster)
    assert first["spec"]["replicas"] == 2
    assert first["spec"]["strategy"]["type"] == "RollingUpdate"  # defaults still apply
    entries = first["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("kubectl", "Apply")]
    out = await _apply(cluster, _deployment())
    assert "serverside-applied" in out
    again = await _get(cluster)
    # Nothing changed: no new revision, no new generation.
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1


async def test_apply_changes_and_removes_fields(cluster: Cluster) -> None:
    await _apply(cluster, _deployment())
    await _apply(cluster, _deployment(image="nginx:1.28"))
    obj = await _get(cluster)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28"
    assert obj["metadata"]["generation"] == 2
    # The env list was the applier's alone: dropping it from the manifest removes it.
    await _apply(cluster, _deployment(image="nginx:1.28", env=False))
    obj = await _get(cluster)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container
    assert container["image"] == "nginx:1.28"


async def test_scale_then_apply_conflicts_unless_forced(cluster: Cluster) -> None:
    await _apply(cluster, _deployment())
    await cluster.kubectl("scale", "deploy", "web", "--replicas=5")
    obj = await _get(cluster)
    managers = {(e["manager"], e["operation"], e.get("subresource", ""))
                for e in obj["metadata"]["managedFields"]}  # fmt: skip
    # kubectl scale names no fieldManager: the User-Agent's "kubectl" it is,
    # a manager of its own beside kubectl's apply (operation and subresource differ).
    assert managers == {("kubectl", "Apply", ""), ("kubectl", "Update", "scale")}
    out = await _apply(cluster, _deployment(replicas=2), check=False)
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas" in out
    )
    assert "--force-conflicts" in out  # kubectl's advice follows
    assert (await _get(cluster))["spec"]["replicas"] == 5
    out = await _apply(cluster, _deployment(replicas=2), "--force-conflicts")
    assert "serverside-applied" in out
    obj = await _get(cluster)
    assert obj["spec"]["replicas"] == 2
    # The scale entry owned only the replicas: it owns nothing now, and is gone.
    assert [e["operation"] for e in obj["metadata"]["managedFields"]] == ["Apply"]


async def test_an_applied_null_is_owned_but_sets_nothing(cluster: Cluster) -> None:
    """As kube-apiserver: the applier owns a field it applies as null (a leaf of its
    set), a null over a list merges nothing into it, so only what the applier had
    there goes, and a built-in object keeps no null (its decode drops it; defaults
    fill in what they cover)."""
    await _apply(cluster, _deployment())
    manifest = yaml.safe_load(_deployment())
    manifest["spec"]["replicas"] = None
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = None
    await _apply(cluster, yaml.safe_dump(manifest))
    obj = await _get(cluster)
    assert obj["spec"]["replicas"] == 1  # dropped, then defaulted
    assert "env" not in obj["spec"]["template"]["spec"]["containers"][0]
    (entry,) = obj["metadata"]["managedFields"]
    spec = entry["fieldsV1"]["f:spec"]
    assert spec["f:replicas"] == {}
    assert spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']["f:env"] == {}
    # Another manager's value is a conflict like any other change.
    await cluster.kubectl("scale", "deploy", "web", "--replicas=4")
    out = await _apply(cluster, yaml.safe_dump(manifest), check=False)
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas' in out
    await _apply(cluster, yaml.safe_dump(manifest), "--force-conflicts")
    assert (await _get(cluster))["spec"]["replicas"] == 1
    # The same when the apply creates the object.
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "noted", "annotations": None}, "data": {"a": "1"}}  # fmt: skip
    await _apply(cluster, yaml.safe_dump(cm))
    got = json.loads(
        await cluster.kubectl("get", "cm", "noted", "-o", "json", "--show-managed-fields")
    )
    assert "annotations" not in got["metadata"]
    assert got["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"] == {"f:annotations": {}}


async def test_client_side_apply_moves_to_server_side_without_conflicts(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=_deployment())
    # The image is kubectl-client-side-apply's, but its last-applied annotation
    # says so too: the move to server-side apply takes it over.
    out = await _apply(cluster, _deployment(image="nginx:1.28"))
    assert "serverside-applied" in out
    obj = await _get(cluster)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    out = await _apply(cluster, _deployment(image="nginx:1.28", replicas=3))
    assert (await _get(cluster))["spec"]["replicas"] == 3


async def test_apply_to_the_status_subresource(cluster: Cluster) -> None:
    await _apply(cluster, _deployment())
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "status": {"observedGeneration": 1, "replicas": 2}}  # fmt: skip
    await _apply(cluster, json.dumps(status), "--subresource=status", "--field-manager=probe")
    obj = await _get(cluster)
    assert obj["status"]["replicas"] == 2
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "probe"]
    assert entry["subresource"] == "status"
    assert set(entry["fieldsV1"]["f:status"]) == {"f:observedGeneration", "f:replicas"}
    assert obj["spec"]["replicas"] == 2  # the rest of the object is untouched


async def test_managed_fields_are_shown_on_request(cluster: Cluster) -> None:
    await _apply(cluster, _deployment())
    shown = yaml.safe_load(
        await cluster.kubectl("get", "deploy", "web", "-o", "yaml", "--show-managed-fields")
    )
    (entry,) = shown["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl"
    assert entry["fieldsType"] == "FieldsV1"
    spec = entry["fieldsV1"]["f:spec"]
    assert spec["f:replicas"] == {}
    containers = spec["f:template"]["f:spec"]["f:containers"]
    assert containers['k:{"name":"web"}']["."] == {}
    hidden = yaml.safe_load(await cluster.kubectl("get", "deploy", "web", "-o", "yaml"))
    assert "managedFields" not in hidden["metadata"]


async def test_ordinary_writes_record_update_entries(cluster: Cluster) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(cm))
    await cluster.kubectl("label", "configmap", "c", "tier=db")
    await cluster.kubectl("label", "configmap", "c", "zone=a", "--field-manager=second")
    obj = json.loads(
        await cluster.kubectl("get", "configmap", "c", "-o", "json", "--show-managed-fields")
    )
    entries = {e["manager"]: e for e in obj["metadata"]["managedFields"]}
    # As kube-apiserver records them: a map a write added is a member of its own
    # (".": data and labels were absent before); one that was there is not.
    assert entries["kubectl-create"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entries["kubectl-label"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:tier": {}}}
    }
    assert entries["second"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:zone": {}}}}
    assert {e["operation"] for e in entries.values()} == {"Update"}


async def test_kubectl_create_deployment_records_what_kube_apiserver_does(
    cluster: Cluster,
) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=nginx")
    (entry,) = (await _get(cluster))["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("kubectl-create", "Update")
    assert entry["fieldsV1"] == KUBECTL_CREATE_DEPLOYMENT  # test_managedfields.py's
    await cluster.kubectl("rollout", "restart", "deployment", "web")
    entries = {e["manager"]: e for e in (await _get(cluster))["metadata"]["managedFields"]}
    # The pod template had no annotations: the restart adds the map.
    assert entries["kubectl-rollout"]["fieldsV1"] == {"f:spec": {"f:template": {"f:metadata": {
        "f:annotations": {".": {}, "f:kubectl.kubernetes.io/restartedAt": {}}}}}}  # fmt: skip


async def test_apply_on_the_wire(cluster: Cluster) -> None:
    """201 then 200, a YAML config, 400 without a manager, and the 409's causes."""
    client = Client(cluster)
    path = "/api/v1/namespaces/default/configmaps/c"

    async def apply(body: str, query: str) -> tuple[int, Any]:
        async with client.session.patch(
            client.base + path + query, data=body, ssl=client.ssl,
            headers={"Content-Type": "application/apply-patch+yaml"},
        ) as resp:  # fmt: skip
            return resp.status, await resp.json()

    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: '1'\n"
    try:
        status, body = await apply(config, "")
        assert (status, body["reason"]) == (400, "BadRequest")
        status, body = await apply(config, "?fieldManager=one")
        assert status == 201
        assert body["metadata"]["managedFields"][0]["operation"] == "Apply"
        status, _ = await apply(config, "?fieldManager=one")
        assert status == 200
        status, body = await apply(config.replace("'1'", "'2'"), "?fieldManager=two&force=false")
        assert status == 409
        assert body["reason"] == "Conflict"
        assert body["details"]["causes"] == [{"reason": "FieldManagerConflict",
                                              "message": 'conflict with "one"',
                                              "field": ".data.a"}]  # fmt: skip
        status, body = await apply(config.replace("'1'", "'2'"), "?fieldManager=two&force=true")
        assert (status, body["data"]) == (200, {"a": "2"})
    finally:
        await client.session.close()


async def test_kubectl_moves_client_side_apply_to_server_side_apply(cluster: Cluster) -> None:
    manifest = """apiVersion: v1
kind: ConfigMap
metadata: {name: moved, labels: {keep: "1", drop: "2"}}
data: {keep: "1", drop: "2"}
"""
    await cluster.kubectl("apply", "-f", "-", stdin=manifest)
    # kubectl hands the client-side apply's fields to its server-side manager with a
    # JSON patch of managedFields: the server must take the entries a client sets.
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=manifest)
    got = json.loads(await cluster.kubectl("get", "cm", "moved", "-o", "json",
                                           "--show-managed-fields"))  # fmt: skip
    managers = {e["manager"] for e in got["metadata"]["managedFields"]}
    assert "kubectl-client-side-apply" not in managers and "kubectl" in managers
    # So what the manifest no longer sets goes, as after any server-side apply.
    trimmed = manifest.replace(', drop: "2"', "")
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=trimmed)
    got = json.loads(await cluster.kubectl("get", "cm", "moved", "-o", "json"))
    assert got["metadata"]["labels"] == {"keep": "1"}
    assert got["data"] == {"keep": "1"}


async def test_managed_fields_a_client_sets_count_as_kube_apiserver_lets_them(
    cluster: Cluster,
) -> None:
    client = Client(cluster)
    path = "/api/v1/namespaces/default/configmaps"
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                          "data": {"a": "1"}}  # fmt: skip
    forged = [{"manager": "mallory", "operation": "Apply", "apiVersion": "v1",
               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]  # fmt: skip
    try:
        status, body = await client.request(
            "POST", path, {**cm, "metadata": {"name": "c", "managedFields": forged}}
        )
        assert status == 201
        assert [e["manager"] for e in body["metadata"]["managedFields"]] == [
            "Python"
        ]  # "Python/3.x aiohttp/…"
        # Entries sent in an update replace the live ones; the write's own goes on top
        # (the editor takes the field it changes from mallory, who owns nothing then).
        body["metadata"]["managedFields"] = forged
        body["data"] = {"a": "2"}
        status, body = await client.request("PUT", f"{path}/c?fieldManager=editor", body)
        assert status == 200
        managers = [e["manager"] for e in body["metadata"]["managedFields"]]
        assert managers == ["editor"]
        body["metadata"]["managedFields"] = forged  # a write that changes nothing
        status, body = await client.request("PUT", f"{path}/c", body)
        assert [e["manager"] for e in body["metadata"]["managedFields"]] == ["mallory"]
        # Entries that do not read, or own nothing, leave the live ones as they were.
        body["metadata"]["managedFields"] = [{"manager": "x", "operation": "Steal"}]
        status, body = await client.request("PUT", f"{path}/c", body)
        assert [e["manager"] for e in body["metadata"]["managedFields"]] == ["mallory"]
        body["metadata"]["managedFields"] = []  # the one change a client may make
        status, body = await client.request("PUT", f"{path}/c", body)
        assert status == 200
        assert "managedFields" not in body["metadata"]
    finally:
        await client.session.close()


ROUTES_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: routes.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: routes, singular: route, kind: Route}
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
            properties:
              backends:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties: {name: {type: string}, weight: {type: integer}}
              hosts: {type: array, x-kubernetes-list-type: set, items: {type: string}}
"""


def test_a_custom_resources_lists_merge_by_their_list_type() -> None:
    crd = yaml.safe_load(ROUTES_CRD)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert list_strategies(schema) == {
        ("spec", "backends"): FieldStrategy("merge", "name", apply_keys=(("name", None),)),
        ("spec", "hosts"): FieldStrategy("merge"),
    }


def test_a_custom_resources_list_map_on_several_keys_takes_their_defaults() -> None:
    ports = {"type": "array", "x-kubernetes-list-type": "map",
             "x-kubernetes-list-map-keys": ["port", "protocol"],
             "items": {"type": "object", "properties": {
                 "port": {"type": "integer"},
                 "protocol": {"type": "string", "default": "TCP"}}}}  # fmt: skip
    spec = {"type": "object", "properties": {"ports": ports}}
    schema = {"type": "object", "properties": {"spec": spec}}
    assert list_strategies(schema) == {
        ("spec", "ports"): FieldStrategy(
            "merge", "port", apply_keys=(("port", None), ("protocol", "TCP"))
        )
    }


async def test_apply_keeps_two_service_ports_that_differ_by_protocol(cluster: Cluster) -> None:
    """Server-side apply names a service port by port *and* protocol (a strategic
    merge patch by port alone): DNS on 53/TCP and 53/UDP are two items."""
    ports = [{"name": "tcp", "port": 53}, {"name": "udp", "port": 53, "protocol": "UDP"}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
               "spec": {"selector": {"app": "dns"}, "ports": ports}}  # fmt: skip
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(service))
    got = json.loads(await cluster.kubectl("get", "svc", "dns", "-o", "json",
                                           "--show-managed-fields"))  # fmt: skip
    assert [(p["port"], p["protocol"]) for p in got["spec"]["ports"]] == [(53, "TCP"), (53, "UDP")]
    owned = got["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"]
    assert {'k:{"port":53,"protocol":"TCP"}', 'k:{"port":53,"protocol":"UDP"}'} <= set(owned)
    # Dropping the UDP port from the manifest removes that item alone.
    service["spec"]["ports"] = [{"name": "tcp", "port": 53}]
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(service))
    got = json.loads(await cluster.kubectl("get", "svc", "dns", "-o", "json"))
    assert [(p["port"], p["protocol"]) for p in got["spec"]["ports"]] == [(53, "TCP")]


async def _apply_when_served(cluster: Cluster, config: str, manager: str) -> None:
    for attempt in range(50):  # a new resource is served a moment after its CRD
        out = await cluster.kubectl("apply", "--server-side", f"--field-manager={manager}",
                                    "-f", "-", stdin=config, check=False)  # fmt: skip
        if "serverside-applied" in out:
            return
        assert attempt < 49, out
        await asyncio.sleep(0.1)


async def test_two_appliers_share_a_custom_resources_list_map(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=ROUTES_CRD)
    one = "apiVersion: example.com/v1\nkind: Route\nmetadata: {name: r}\nspec:\n"
    blue = one + "  backends: [{name: blue, weight: 1}]\n  hosts: [a.example]\n"
    green = one + "  backends: [{name: green, weight: 2}]\n  hosts: [b.example]\n"
    for manager, config in (("blue", blue), ("green", green)):
        await _apply_when_served(cluster, config, manager)
    route = json.loads(await cluster.kubectl("get", "routes", "r", "-o", "json"))
    # Item by item and as a set, not one atomic list the second applier takes over.
    assert route["spec"]["backends"] == [{"name": "blue", "weight": 1},
                                         {"name": "green", "weight": 2}]  # fmt: skip
    assert route["spec"]["hosts"] == ["a.example", "b.example"]
    # An applier that drops its item removes its item alone.
    await cluster.kubectl("apply", "--server-side", "--field-manager=blue", "-f", "-",
                          stdin=one + "  hosts: [a.example]\n")  # fmt: skip
    route = json.loads(await cluster.kubectl("get", "routes", "r", "-o", "json"))
    assert route["spec"]["backends"] == [{"name": "green", "weight": 2}]


async def test_an_applied_null_in_a_custom_resource_stays_only_where_its_schema_allows(
    cluster: Cluster,
) -> None:
    crd = yaml.safe_load(ROUTES_CRD)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["note"] = {"type": "string", "nullable": True}
    spec["properties"]["weight"] = {"type": "integer"}
    await cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(crd))
    route = {"apiVersion": "example.com/v1", "kind": "Route", "metadata": {"name": "r"},
             "spec": {"note": "x", "weight": 1}}  # fmt: skip
    await _apply_when_served(cluster, yaml.safe_dump(route), "ops")
    route["spec"] = {"note": None, "weight": None}
    await _apply_when_served(cluster, yaml.safe_dump(route), "ops")
    got = json.loads(await cluster.kubectl("get", "routes", "r", "-o", "json",
                                           "--show-managed-fields"))  # fmt: skip
    # Unstructured in kube-apiserver: the nullable field keeps its null; the other
    # null is pruned, as apiextensions-apiserver prunes non-nullable nulls.
    assert got["spec"] == {"note": None}
    (entry,) = got["metadata"]["managedFields"]
    assert entry["fieldsV1"] == {"f:spec": {"f:note": {}, "f:weight": {}}}
