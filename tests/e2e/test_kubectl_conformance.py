"""The conformance tests' kubectl checks (checklist K02-K16) with the real
kubectl against a whole control plane on simulated nodes.

Upstream reads some results through the API server proxy or from an agnhost
container; here the API objects carry the check instead (a simulated pod has
no processes to ask)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from kybernetes.client.rest import ApiStatusError, resource_path
from tests.e2e.conftest import Plane, is_ready, live, until

Obj = dict[str, Any]

RC = {
    "apiVersion": "v1", "kind": "ReplicationController",
    "metadata": {"name": "update-demo-nautilus", "labels": {"name": "update-demo"}},
    "spec": {"replicas": 2, "selector": {"name": "update-demo"}, "template": {
        "metadata": {"labels": {"name": "update-demo"}},
        "spec": {"containers": [{"name": "update-demo", "image": "nautilus:1.7",
                                 "ports": [{"containerPort": 6379}]}]}}},
}  # fmt: skip


async def running_pods(plane: Plane, selector: str) -> list[Obj]:
    return [p for p in live(await plane.pods(selector=selector)) if is_ready(p)]


async def start_rc(plane: Plane, replicas: int = 2) -> None:
    rc = json.loads(json.dumps(RC))
    rc["spec"]["replicas"] = replicas
    await plane.kubectl("create", "-f", "-", stdin=json.dumps(rc))

    async def all_running() -> bool:
        return len(await running_pods(plane, "name=update-demo")) == replicas

    await until(all_running, what=f"{replicas} running update-demo pods")


async def test_api_versions_cluster_info_and_version(plane: Plane) -> None:
    # K02: the exact line v1.
    assert "v1" in (await plane.kubectl("api-versions")).splitlines()
    # K03: the control plane is running at the server's URL.
    out = await plane.kubectl("cluster-info")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert f"Kubernetes control plane is running at {plane.cluster.api.url}" in plain
    # K12: both versions, the server's semver with a leading v.
    out = await plane.kubectl("version")
    assert re.search(r"^Client Version: v1\.\d+\.\d+", out, re.M)
    assert re.search(r"^Server Version: v\d+\.\d+\.\d+", out, re.M)


async def test_replication_controller_scale_and_template(plane: Plane) -> None:
    # K15: created with kubectl create -f, two running pods with the image.
    await start_rc(plane)
    template = ('{{range.items}}{{if .status.containerStatuses}}{{range .status.containerStatuses}}'
                '{{if (and (eq .name "update-demo") (exists . "state" "running"))}}true{{end}}'
                '{{end}}{{end}}{{end}}')  # fmt: skip
    out = await plane.kubectl("get", "pods", "-l", "name=update-demo", "-o", "template",
                              f"--template={template}")  # fmt: skip
    assert out == "truetrue"
    images = await plane.kubectl("get", "pods", "-l", "name=update-demo", "-o", "template",
                                 "--template={{range.items}}{{range .spec.containers}}"
                                 "{{.image}} {{end}}{{end}}")  # fmt: skip
    assert images.split() == ["nautilus:1.7", "nautilus:1.7"]
    # K16: scaled down to one, then back to two.
    for replicas in (1, 2):
        out = await plane.kubectl("scale", "rc", "update-demo-nautilus",
                                  f"--replicas={replicas}", "--timeout=5m")  # fmt: skip
        assert "replicationcontroller/update-demo-nautilus scaled" in out

        async def scaled(n: int = replicas) -> bool:
            return (
                len(await running_pods(plane, "name=update-demo")) == n
                and len(live(await plane.pods(selector="name=update-demo"))) == n
            )

        await until(scaled, what=f"{replicas} update-demo pods")


async def test_describe_pod_rc_service_node_and_namespace(plane: Plane) -> None:
    """K04, with the strings upstream looks for."""
    await start_rc(plane, replicas=1)
    await plane.kubectl("expose", "rc", "update-demo-nautilus", "--name=primary",
                        "--port=6379", "--target-port=6379")  # fmt: skip
    (pod,) = await running_pods(plane, "name=update-demo")
    name = pod["metadata"]["name"]
    out = await plane.kubectl("describe", "pod", name)
    shows(out, Name=name, Namespace="default", Node=f"{pod['spec']['nodeName']}/",
          Labels="name=update-demo", Status="Running", IP=pod["status"]["podIP"],
          **{"Controlled By": "ReplicationController/update-demo-nautilus"},
          Image="nautilus:1.7", State="Running", Ready="True", **{"Restart Count": "0"},
          Events="")  # fmt: skip
    out = await plane.kubectl("describe", "rc", "update-demo-nautilus")
    shows(out, Name="update-demo-nautilus", Namespace="default", Selector="name=update-demo",
          Labels="name=update-demo", Annotations="", Replicas="1 current / 1 desired",
          **{"Pods Status": "1 Running / 0 Waiting / 0 Succeeded / 0 Failed",
             "Pod Template": ""},
          Image="nautilus:1.7", Events="")  # fmt: skip

    async def has_endpoints() -> bool:
        path = resource_path("", "v1", "endpoints", "default", "primary")
        try:
            return bool((await plane.client.get(path)).get("subsets"))
        except ApiStatusError as err:
            if err.code != 404:
                raise
            return False  # not made yet by the endpoints controller

    await until(has_endpoints, what="endpoints of service primary")
    out = await plane.kubectl("describe", "service", "primary")
    svc = await plane.get("", "services", "primary")
    shows(out, Name="primary", Labels="name=update-demo", Selector="name=update-demo",
          Type="ClusterIP", IP=svc["spec"]["clusterIP"], Port="<unset>  6379/TCP",
          Endpoints=f"{pod['status']['podIP']}:6379", **{"Session Affinity": "None"})  # fmt: skip
    node = pod["spec"]["nodeName"]
    out = await plane.kubectl("describe", "node", node)
    shows(out, Name=node, Labels="", CreationTimestamp="", Conditions="", Addresses="",
          Capacity="", **{"Kernel Version": "", "OS Image": "", "Container Runtime Version": "",
                          "Kubelet Version": "v1.", "Kube-Proxy Version": "",
                          "Non-terminated Pods": "(1 in total)"})  # fmt: skip
    out = await plane.kubectl("describe", "namespace", "default")
    shows(out, Name="default", Labels="kubernetes.io/metadata.name=default", Status="Active")
    assert "No resource quota." in out and "No LimitRange resource." in out


def shows(out: str, **fields: str) -> None:
    """Each field is a line `Field:   value...` (an empty value: only the field)."""
    for name, value in fields.items():
        pattern = rf"^\s*{re.escape(name)}:" + (rf"\s+{re.escape(value)}" if value else "")
        assert re.search(pattern, out, re.M), f"no {name}: {value} in\n{out}"


async def test_expose_rc_and_service(plane: Plane) -> None:
    """K06: services built from an RC and from a service, with their endpoints."""
    await start_rc(plane, replicas=1)
    (pod,) = await running_pods(plane, "name=update-demo")
    await plane.kubectl("expose", "rc", "update-demo-nautilus", "--name=rm2", "--port=1234",
                        "--target-port=6379")  # fmt: skip
    await plane.kubectl("expose", "service", "rm2", "--name=rm3", "--port=2345",
                        "--target-port=6379")  # fmt: skip
    for name, port in (("rm2", 1234), ("rm3", 2345)):
        svc = await plane.client.get(resource_path("", "v1", "services", "default", name))
        (spec_port,) = svc["spec"]["ports"]
        assert spec_port["port"] == port and spec_port["targetPort"] == 6379
        assert svc["spec"]["selector"] == {"name": "update-demo"}
        path = resource_path("", "v1", "endpoints", "default", name)

        async def served(path: str = path) -> bool:
            try:
                subsets = (await plane.client.get(path)).get("subsets") or []
            except ApiStatusError as err:
                if err.code != 404:
                    raise
                return False  # not made yet by the endpoints controller
            return [(a["ip"], p["port"]) for s in subsets
                    for a in s.get("addresses") or [] for p in s["ports"]] == [
                (pod["status"]["podIP"], 6379)]  # fmt: skip

        await until(served, what=f"endpoints of {name}")


async def test_label_patch_replace_run_and_server_dry_run(plane: Plane) -> None:
    # K10: one bare pod with the image.
    await plane.kubectl("run", "e2e-test-httpd-pod", "--restart=Never",
                        "--pod-running-timeout=2m0s", "--image=webserver:2.4",
                        "--labels=run=e2e-test-httpd-pod")  # fmt: skip
    pod = await plane.get("", "pods", "e2e-test-httpd-pod")
    assert [c["image"] for c in pod["spec"]["containers"]] == ["webserver:2.4"]
    assert pod["spec"]["restartPolicy"] == "Never"

    async def running() -> bool:
        return is_ready(await plane.get("", "pods", "e2e-test-httpd-pod"))

    await until(running, what="the pod to run")
    # K07: a label added, shown with -L, removed.
    await plane.kubectl("label", "pods", "e2e-test-httpd-pod", "testing-label=testing-label-value")
    out = await plane.kubectl("get", "pod", "e2e-test-httpd-pod", "-L", "testing-label")
    head, row = out.splitlines()
    assert head.split()[-1] == "TESTING-LABEL" and row.split()[-1] == "testing-label-value"
    await plane.kubectl("label", "pods", "e2e-test-httpd-pod", "testing-label-")
    out = await plane.kubectl("get", "pod", "e2e-test-httpd-pod", "-L", "testing-label")
    assert "testing-label-value" not in out
    # K08: a strategic merge patch adds an annotation.
    await plane.kubectl("patch", "pod", "e2e-test-httpd-pod", "-p",
                        '{"metadata":{"annotations":{"x":"y"}}}')  # fmt: skip
    pod = await plane.get("", "pods", "e2e-test-httpd-pod")
    assert pod["metadata"]["annotations"]["x"] == "y"
    # K11: a server-side dry-run patch answers with the change and stores nothing.
    patch = json.dumps({"spec": {"containers": [{"name": "e2e-test-httpd-pod",
                                                 "image": "busybox:1.36"}]}})  # fmt: skip
    out = await plane.kubectl("patch", "pod", "e2e-test-httpd-pod", "-p", patch,
                              "--dry-run=server", "-o", "json")  # fmt: skip
    assert json.loads(out)["spec"]["containers"][0]["image"] == "busybox:1.36"
    pod = await plane.get("", "pods", "e2e-test-httpd-pod")
    assert pod["spec"]["containers"][0]["image"] == "webserver:2.4"
    # K09: replace -f - with another image.
    pod = json.loads(await plane.kubectl("get", "pod", "e2e-test-httpd-pod", "-o", "json"))
    pod["spec"]["containers"][0]["image"] = "busybox:1.36"
    await plane.kubectl("replace", "-f", "-", stdin=json.dumps(pod))
    pod = await plane.get("", "pods", "e2e-test-httpd-pod")
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.36"


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "httpd-deployment"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "httpd"}}, "template": {
        "metadata": {"labels": {"app": "httpd"}},
        "spec": {"containers": [{"name": "httpd", "image": "webserver:2.4"}]}}},
}  # fmt: skip


async def test_diff_a_deployment(plane: Plane) -> None:
    """K05: kubectl diff exits 1 and shows both images."""
    await plane.kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
    changed = json.loads(json.dumps(DEPLOYMENT))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.36"
    out = await plane.kubectl("diff", "-f", "-", stdin=json.dumps(changed), check=False)
    assert re.search(r"^-\s+- image: webserver:2.4$", out, re.M), out
    assert re.search(r"^\+\s+- image: busybox:1.36$", out, re.M), out
    # Nothing was stored.
    deployment = await plane.get("apps", "deployments", "httpd-deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "webserver:2.4"


async def test_proxy_on_port_zero_and_a_unix_socket(plane: Plane, tmp_path: Any) -> None:
    """K13, K14: kubectl proxy serves the API."""
    from tests.apiserver.conftest import KUBECTL

    assert KUBECTL
    env = {"HOME": str(plane.cluster.home), "KUBECONFIG": "", "PATH": "/usr/bin:/bin"}
    base = [KUBECTL, "--kubeconfig", str(plane.cluster.kubeconfig), "proxy"]
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(*base, "--port=0", "--disable-filter",
                                                stdout=pipe, env=env)  # fmt: skip
    try:
        assert proc.stdout
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.match(r"Starting to serve on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
        body = await _get_api(reader, writer)
        assert json.loads(body)["versions"] == ["v1"]
    finally:
        proc.terminate()
        await proc.wait()
    socket = tmp_path / "kubectl.sock"
    proc = await asyncio.create_subprocess_exec(*base, f"--unix-socket={socket}",
                                                stdout=pipe, env=env)  # fmt: skip
    try:
        assert proc.stdout
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith(f"Starting to serve on {socket}"), line
        reader, writer = await asyncio.open_unix_connection(str(socket))
        body = await _get_api(reader, writer)
        assert json.loads(body)["versions"] == ["v1"]
    finally:
        proc.terminate()
        await proc.wait()


async def _get_api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /api/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
    return body
