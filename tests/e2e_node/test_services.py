"""Issue 6's proof on a whole node: the Services train users learn Kubernetes with.

Real kubectl, real pods (runc), real traffic: the service proxy's nftables
rules, the cluster DNS behind 10.96.0.10, the ingress on the node's :80 and
:443. The tests of this module share one node and run in order; each cleans
up what it made. Every pod answers with its own name (its hostname), so a
reply says which pod served it.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e_node.node import IMAGE, NODE_IP, Node, until

pytestmark = pytest.mark.root

# The httpd of every test pod: its own name at /, a /ready file the readiness probe reads.
SERVE = ("mkdir -p /tmp/w && /bin/busybox hostname > /tmp/w/index.html && "
         "touch /tmp/w/ready && exec /bin/busybox httpd -f -p 8080 -h /tmp/w")  # fmt: skip


def pod_ips(node: Node, selector: str) -> dict[str, str]:
    """Name -> IP of the pods matching `selector`, leaving out those being deleted."""
    found = json.loads(node.kubectl("get", "pods", "-l", selector, "-o", "json"))
    return {pod["metadata"]["name"]: pod["status"].get("podIP", "") for pod in found["items"]
            if not pod["metadata"].get("deletionTimestamp")}  # fmt: skip


def endpoints(node: Node, name: str) -> list[str]:
    """The ready ip:port pairs of a Service's Endpoints."""
    found = json.loads(node.kubectl("get", "endpoints", name, "-o", "json"))
    subsets = found.get("subsets") or []
    return sorted(f"{address['ip']}:{port['port']}" for subset in subsets
                  for address in subset.get("addresses") or []
                  for port in subset["ports"])  # fmt: skip


def served_by(fetch: object, count: int) -> set[str]:
    return {reply for _ in range(count) if (reply := fetch())}  # type: ignore[operator]


def test_a_pod_behind_a_service_by_its_name(node: Node, client: str) -> None:
    node.kubectl("run", "mynode", f"--image={IMAGE}", "--port=8080", "--command", "--",
                 "/bin/busybox", "sh", "-c", SERVE)  # fmt: skip
    node.kubectl("wait", "--for=condition=Ready", "pod/mynode", "--timeout=60s")
    node.kubectl("expose", "pod", "mynode", "--port=80", "--target-port=8080")
    first_ip = pod_ips(node, "run=mynode")["mynode"]
    until(lambda: endpoints(node, "mynode") == [f"{first_ip}:8080"], what="mynode's endpoints")
    table = node.kubectl("get", "endpoints", "mynode")
    assert f"{first_ip}:8080" in table
    cluster_ip = node.jsonpath("service", "mynode", path="{.spec.clusterIP}")
    url = "http://mynode.default.svc.cluster.local"
    # DNS through 10.96.0.10 (the proxy sends it to the node's DNS), then the ClusterIP.
    until(lambda: node.from_pod(client, url) == "mynode", what="mynode by name")

    # (a second is enough: the test is about the Service, and httpd as PID 1 ignores TERM)
    node.kubectl("delete", "pod", "mynode", "--grace-period=1", "--wait=true", "--timeout=60s")
    node.kubectl("run", "mynode", f"--image={IMAGE}", "--port=8080", "--command", "--",
                 "/bin/busybox", "sh", "-c", SERVE)  # fmt: skip
    node.kubectl("wait", "--for=condition=Ready", "pod/mynode", "--timeout=60s")
    second_ip = pod_ips(node, "run=mynode")["mynode"]
    until(lambda: endpoints(node, "mynode") == [f"{second_ip}:8080"], what="the new endpoints")
    assert node.jsonpath("service", "mynode", path="{.spec.clusterIP}") == cluster_ip
    until(lambda: node.from_pod(client, url) == "mynode", what="the new pod by name")
    assert node.from_pod(client, f"http://{cluster_ip}") == "mynode"
    node.kubectl("delete", "service", "mynode")
    node.kubectl("delete", "pod", "mynode", "--wait=false")


def test_a_deployment_behind_a_node_port(node: Node, client: str) -> None:
    node.kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=3", "--port=8080",
                 "--", "/bin/busybox", "sh", "-c", SERVE)  # fmt: skip
    node.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    node.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080",
                 "--type=NodePort")  # fmt: skip
    pods = set(pod_ips(node, "app=web"))
    assert len(pods) == 3
    until(lambda: len(endpoints(node, "web")) == 3, what="three endpoints")
    cluster_ip = node.jsonpath("service", "web", path="{.spec.clusterIP}")
    node_port = node.jsonpath("service", "web", path="{.spec.ports[0].nodePort}")
    # Every pod gets traffic: through the ClusterIP from a pod, the NodePort from the node.
    until(lambda: node.replies_from_pod(client, f"http://{cluster_ip}", 12) == pods,
          what="the ClusterIP to reach all three pods")  # fmt: skip
    until(lambda: served_by(lambda: node.fetch(f"http://{NODE_IP}:{node_port}/"), 12) == pods,
          what="the NodePort to reach all three pods")  # fmt: skip

    node.kubectl("scale", "deployment", "web", "--replicas=1")
    until(lambda: len(endpoints(node, "web")) == 1, what="one endpoint after scale")
    (kept,) = {name for name, ip in pod_ips(node, "app=web").items()
               if f"{ip}:8080" in endpoints(node, "web")}  # fmt: skip
    # Traffic follows: only the pod left answers.
    until(lambda: served_by(lambda: node.fetch(f"http://{cluster_ip}/"), 8) == {kept},
          what="traffic to follow the scale-down")  # fmt: skip

    node.kubectl("scale", "deployment", "web", "--replicas=3")
    node.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    until(lambda: len(endpoints(node, "web")) == 3, what="three endpoints again")


def test_a_pod_failing_readiness_gets_no_traffic(node: Node) -> None:
    node.kubectl("patch", "deployment", "web", "--type=json", "-p",
                 '[{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe",'
                 ' "value": {"httpGet": {"path": "/ready", "port": 8080},'
                 ' "periodSeconds": 1, "failureThreshold": 1}}]')  # fmt: skip
    node.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    until(lambda: len(endpoints(node, "web")) == 3 and len(pod_ips(node, "app=web")) == 3,
          what="three ready endpoints, the old pods gone")  # fmt: skip
    pods = pod_ips(node, "app=web")
    sick = sorted(pods)[0]
    node.kubectl("exec", sick, "--", "/bin/busybox", "rm", "/tmp/w/ready")
    until(lambda: f"{pods[sick]}:8080" not in endpoints(node, "web"), what="the sick pod to leave")
    assert len(endpoints(node, "web")) == 2
    cluster_ip = node.jsonpath("service", "web", path="{.spec.clusterIP}")
    replies = served_by(lambda: node.fetch(f"http://{cluster_ip}/"), 20)
    assert replies == set(pods) - {sick}
    node.kubectl("exec", sick, "--", "/bin/busybox", "touch", "/tmp/w/ready")
    until(lambda: len(endpoints(node, "web")) == 3, what="the pod to come back")


def test_a_load_balancer_answers_on_its_external_ip(node: Node) -> None:
    node.kubectl("expose", "deployment", "web", "--name=web-lb", "--port=8000",
                 "--target-port=8080", "--type=LoadBalancer")  # fmt: skip
    until(lambda: node.jsonpath("service", "web-lb", path="{.status.loadBalancer.ingress[0].ip}"),
          what="an external IP")  # fmt: skip
    external = node.jsonpath("service", "web-lb", path="{.status.loadBalancer.ingress[0].ip}")
    table = node.kubectl("get", "service", "web-lb")
    assert external in table and "<pending>" not in table
    pods = set(pod_ips(node, "app=web"))
    until(lambda: node.fetch(f"http://{external}:8000/") in pods, what="the external IP")
    node.kubectl("delete", "service", "web-lb")


INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: two-hosts}
spec:
  tls: [{hosts: [a.example.test, b.example.test], secretName: two-hosts-tls}]
  rules:
  - host: a.example.test
    http:
      paths:
      - {path: /one, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}
      - {path: /two, pathType: Prefix, backend: {service: {name: two, port: {number: 80}}}}
  - host: b.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: two, port: {number: 80}}}}
"""


def test_an_ingress_routes_two_hosts_and_two_paths(node: Node, tmp_path: object) -> None:
    for name in ("one", "two"):
        # httpd serves the pod's name at any path under /one and /two too.
        serve = SERVE.replace("touch /tmp/w/ready", "mkdir /tmp/w/one /tmp/w/two && "
                              "cp /tmp/w/index.html /tmp/w/one/ && "
                              "cp /tmp/w/index.html /tmp/w/two/")  # fmt: skip
        node.kubectl("run", name, f"--image={IMAGE}", "--port=8080", "--command", "--",
                     "/bin/busybox", "sh", "-c", serve)  # fmt: skip
        node.kubectl("expose", "pod", name, "--port=80", "--target-port=8080")
    for name in ("one", "two"):
        node.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")
    key, cert = f"{tmp_path}/tls.key", f"{tmp_path}/tls.crt"
    node.inside("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", "1", "-subj", "/CN=a.example.test", "-addext",
                "subjectAltName=DNS:a.example.test,DNS:b.example.test", "-keyout", key,
                "-out", cert)  # fmt: skip
    node.kubectl("create", "secret", "tls", "two-hosts-tls", f"--cert={cert}", f"--key={key}")
    node.kubectl("apply", "-f", "-", stdin=INGRESS)

    def routed(scheme: str, host: str, path: str) -> str:
        port = 443 if scheme == "https" else 80
        return node.fetch(f"{scheme}://{host}{path}", "--resolve", f"{host}:{port}:{NODE_IP}")

    for scheme in ("http", "https"):
        until(lambda s=scheme: routed(s, "a.example.test", "/one/") == "one",  # type: ignore[misc]
              what=f"{scheme} a/one")  # fmt: skip
        assert routed(scheme, "a.example.test", "/two/") == "two"
        assert routed(scheme, "b.example.test", "/two/") == "two"
        assert routed(scheme, "b.example.test", "/one/") != "one"  # b has no /one rule
    served = node.inside("curl", "-sS", "--max-time", "5", "--cacert", cert, "--resolve",
                         f"b.example.test:443:{NODE_IP}",
                         "https://b.example.test/two/")  # fmt: skip
    assert served.strip() == "two"  # the Secret's certificate, chosen by SNI
    node.kubectl("delete", "ingress", "two-hosts")
    node.kubectl("delete", "pod,service", "one", "two", "--wait=false")
