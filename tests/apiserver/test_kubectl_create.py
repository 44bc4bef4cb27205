"""kubectl 1.32's `create` generators, which send protobuf bodies (kubectl-wire G1)."""

from __future__ import annotations

import json

from tests.apiserver.conftest import Cluster


async def test_create_deployment(cluster: Cluster) -> None:
    out = await cluster.kubectl("create", "deployment", "nginx", "--image=nginx:1.27",
                                "--replicas=3", "--port=80")  # fmt: skip
    assert "deployment.apps/nginx created" in out
    deploy = json.loads(await cluster.kubectl("get", "deploy", "nginx", "-o", "json"))
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"


async def test_create_namespace_configmap_secret_serviceaccount(cluster: Cluster) -> None:
    await cluster.kubectl("create", "namespace", "team")
    await cluster.kubectl("create", "configmap", "cfg", "-n", "team", "--from-literal=a=1")
    await cluster.kubectl("create", "secret", "generic", "pw", "-n", "team",
                          "--from-literal=password=s3cret")  # fmt: skip
    await cluster.kubectl("create", "serviceaccount", "robot", "-n", "team")
    cm = json.loads(await cluster.kubectl("get", "cm", "cfg", "-n", "team", "-o", "json"))
    assert cm["data"] == {"a": "1"}
    secret = json.loads(await cluster.kubectl("get", "secret", "pw", "-n", "team", "-o", "json"))
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"password": "czNjcmV0"}
    assert "robot" in await cluster.kubectl("get", "sa", "-n", "team")


async def test_create_service_nodeport(cluster: Cluster) -> None:
    await cluster.kubectl("create", "service", "nodeport", "web", "--tcp=80:8080")
    svc = json.loads(await cluster.kubectl("get", "svc", "web", "-o", "json"))
    port = svc["spec"]["ports"][0]
    assert port["port"] == 80 and port["targetPort"] == 8080
    assert 30000 <= port["nodePort"] <= 32767
    assert svc["spec"]["selector"] == {"app": "web"}


async def test_create_job_and_cronjob(cluster: Cluster) -> None:
    await cluster.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *",
                          "--", "date")  # fmt: skip
    await cluster.kubectl("create", "job", "once", "--from=cronjob/tick")
    job = json.loads(await cluster.kubectl("get", "job", "once", "-o", "json"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"


async def test_auth_can_i(cluster: Cluster) -> None:
    out = await cluster.kubectl("auth", "can-i", "create", "deployments")
    assert out.strip() == "yes"
    # --list is a SelfSubjectRulesReview (sent as protobuf); the admin may do
    # everything, which kubectl prints as a cluster-admin's two wildcard rules.
    listed = await cluster.kubectl("auth", "can-i", "--list", "-n", "kube-system")
    rows = [line.split() for line in listed.strip().split("\n")]
    assert rows == [["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"],
                    ["*.*", "[]", "[]", "[*]"], ["[*]", "[]", "[*]"]]  # fmt: skip


async def test_auth_whoami(cluster: Cluster) -> None:
    # kubectl sends the SelfSubjectReview as protobuf; the answer is the user as
    # authenticated from the admin kubeconfig's client certificate.
    out = await cluster.kubectl("auth", "whoami")
    groups = ["system:masters", "system:authenticated"]
    assert out.split("\n")[1:3] == [
        "Username    kubernetes-admin",
        f"Groups      [{' '.join(groups)}]",
    ]
    review = json.loads(await cluster.kubectl("auth", "whoami", "-o", "json"))
    assert review["kind"] == "SelfSubjectReview"
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["metadata"]["creationTimestamp"].endswith("Z")
    assert review["status"]["userInfo"] == {"username": "kubernetes-admin", "groups": groups}
