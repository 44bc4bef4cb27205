"""The real kubectl against the API server: the first commands a user types."""

from __future__ import annotations

import json
import ssl

import aiohttp

from tests.apiserver.conftest import Cluster

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  color: blue
"""


async def test_version_reports_kubernetes_1_32(cluster: Cluster) -> None:
    out = json.loads(await cluster.kubectl("version", "-o", "json"))
    assert out["serverVersion"]["minor"] == "32"


async def test_get_namespaces_shows_the_system_namespaces(cluster: Cluster) -> None:
    out = await cluster.kubectl("get", "ns")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == sorted(["default", "kube-node-lease", "kube-public", "kube-system"])
    assert all(line.split()[1] == "Active" for line in lines[1:])


async def test_api_resources_lists_short_names(cluster: Cluster) -> None:
    out = await cluster.kubectl("api-resources")
    rows: dict[str, str] = {}
    for line in out.splitlines()[1:]:  # the core group first: pods, then metrics.k8s.io pods
        rows.setdefault(line.split()[0], line)
    assert "po" in rows["pods"].split()
    assert "metrics.k8s.io/v1beta1" in out  # as with metrics-server: kubectl top's API
    assert "deploy" in rows["deployments"].split()
    assert "apps/v1" in rows["deployments"]


async def test_create_get_label_delete_a_configmap(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=CONFIGMAP)
    out = await cluster.kubectl("get", "cm", "settings")
    assert out.split()[:5] == ["NAME", "DATA", "AGE", "settings", "1"]
    obj = json.loads(await cluster.kubectl("get", "configmap", "settings", "-o", "json"))
    assert obj["data"] == {"color": "blue"}
    assert obj["metadata"]["uid"]
    assert int(obj["metadata"]["resourceVersion"]) > 0
    await cluster.kubectl("label", "cm", "settings", "tier=frontend")
    labels = await cluster.kubectl("get", "cm", "-l", "tier=frontend", "--show-labels")
    assert "app=web,tier=frontend" in labels
    assert "configmap/settings" in await cluster.kubectl("get", "cm", "-o", "name")
    await cluster.kubectl("delete", "cm", "settings")
    missing = await cluster.kubectl("get", "cm", "settings", check=False)
    assert 'configmaps "settings" not found' in missing


async def test_create_twice_is_already_exists(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=CONFIGMAP)
    out = await cluster.kubectl(
        "create", "-f", "-", "--validate=false", stdin=CONFIGMAP, check=False
    )
    assert "AlreadyExists" in out


async def test_get_all_namespaces(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=CONFIGMAP)
    out = await cluster.kubectl("get", "cm", "-A")
    assert out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == ["default", "settings"] for line in out.splitlines())


async def test_run_a_pod_and_see_it_pending(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27")
    out = await cluster.kubectl("get", "pods", "-o", "wide")
    header = out.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "IP" in header and "NODE" in header
    row = out.splitlines()[1].split()
    assert row[:4] == ["web", "0/1", "Pending", "0"]
    pod = json.loads(await cluster.kubectl("get", "pod", "web", "-o", "json"))
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["status"]["phase"] == "Pending"


async def test_anonymous_requests_are_unauthorized(cluster: Cluster) -> None:
    context = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
    async with aiohttp.ClientSession() as session:
        async with session.get(cluster.api.url + "/api/v1/namespaces", ssl=context) as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with session.get(cluster.api.url + "/version", ssl=context) as resp:
            assert resp.status == 200
            assert (await resp.json())["major"] == "1"


async def test_get_all_shows_the_kubernetes_service(cluster: Cluster) -> None:
    out = await cluster.kubectl("get", "all")
    row = next(line.split() for line in out.splitlines() if line.startswith("service/kubernetes"))
    assert row[1:5] == ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]


async def test_expose_allocates_cluster_ip_and_node_port(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27", "--port=80")
    await cluster.kubectl("expose", "pod", "web", "--port=80", "--type=NodePort")
    svc = json.loads(await cluster.kubectl("get", "svc", "web", "-o", "json"))
    spec = svc["spec"]
    assert spec["clusterIP"].startswith("10.") and spec["clusterIP"] != "10.96.0.1"
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    port = spec["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767
    assert port["targetPort"] == 80 and port["protocol"] == "TCP"
    out = await cluster.kubectl("get", "svc", "web")
    assert f"80:{port['nodePort']}/TCP" in out
    # The values go back to the pool when the service goes.
    await cluster.kubectl("delete", "svc", "web")
    manifest = json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "again"},
        "spec": {"type": "NodePort", "clusterIP": spec["clusterIP"],
                 "ports": [{"port": 80, "nodePort": port["nodePort"]}]},
    })  # fmt: skip
    await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=manifest)


async def test_requesting_a_taken_cluster_ip_is_invalid(cluster: Cluster) -> None:
    manifest = json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "clash"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]},
    })  # fmt: skip
    out = await cluster.kubectl(
        "create", "-f", "-", "--validate=false", stdin=manifest, check=False
    )
    assert 'The Service "clash" is invalid: spec.clusterIP' in out
    assert "already allocated" in out


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    },
}


async def test_scale_a_deployment(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", "--validate=false", stdin=json.dumps(DEPLOYMENT))
    out = await cluster.kubectl("scale", "deployment", "web", "--replicas=5")
    assert "deployment.apps/web scaled" in out
    deploy = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert deploy["spec"]["replicas"] == 5
    assert deploy["metadata"]["generation"] == 2
    scale = json.loads(
        await cluster.kubectl(
            "get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"
        )
    )
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 5
    bad = await cluster.kubectl("scale", "deployment", "web", "--replicas=-1", check=False)
    assert "error" in bad.lower()


async def test_apply_twice_then_change(cluster: Cluster) -> None:
    manifest = json.dumps(DEPLOYMENT)
    assert "deployment.apps/web created" in await cluster.kubectl(
        "apply", "-f", "-", stdin=manifest
    )
    assert "deployment.apps/web unchanged" in await cluster.kubectl(
        "apply", "-f", "-", stdin=manifest
    )
    changed = json.loads(manifest)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(changed))
    assert "deployment.apps/web configured" in out
    deploy = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    annotation = deploy["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert json.loads(annotation)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "nginx:1.28"
    )
    assert deploy["metadata"]["generation"] == 2


async def test_the_kubernetes_service_points_at_the_api_server(cluster: Cluster) -> None:
    port = int(cluster.api.url.rsplit(":", 1)[1])
    out = await cluster.kubectl("get", "endpoints", "kubernetes")
    assert f"127.0.0.1:{port}" in out
    slices = json.loads(
        await cluster.kubectl(
            "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", "-o", "json"
        )
    )
    assert slices["items"][0]["endpoints"][0]["addresses"] == ["127.0.0.1"]
    described = await cluster.kubectl("describe", "svc", "kubernetes")
    assert f"127.0.0.1:{port}" in described
