"""The conformance checks of Services, DNS and the API server proxy that need real pods
(checklist N05-N15, N23, N24, N30, N34-N36, DN1-DN8), on one whole node.

Upstream runs them from agnhost pods; here a busybox client pod asks with `wget` and
`nslookup`, and DNS over TCP is asked from the node's namespace (busybox speaks UDP only).
The tests share the node and run in order; each cleans up what it made. UDP data paths
(N06's UDP half, N31) are left out: busybox here has no UDP client or server.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.e2e_node.node import IMAGE, NODE_IP, Node, until
from tests.e2e_node.test_services import SERVE, endpoints, pod_ips, served_by

pytestmark = pytest.mark.root

DOMAIN = "default.svc.cluster.local"


@pytest.fixture(scope="module")
def web(node: Node) -> set[str]:
    """Three pods `app=web` answering their names on :8080, as serve-hostname does."""
    node.kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=3",
                 "--port=8080", "--", "/bin/busybox", "sh", "-c", SERVE)  # fmt: skip
    node.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    pods = set(pod_ips(node, "app=web"))
    assert len(pods) == 3
    return pods


def busybox(node: Node, pod: str, *argv: str) -> str:
    return node.kubectl("exec", pod, "--", "/bin/busybox", "timeout", "10", "/bin/busybox",
                        *argv, check=False)  # fmt: skip


def apply(node: Node, obj: dict[str, object]) -> None:
    node.kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def test_session_affinity_on_cluster_ip_and_node_port(
    node: Node, client: str, web: set[str]
) -> None:
    """N12-N15: ClientIP pins a client to one pod, None spreads it again, both ways in."""
    node.kubectl("expose", "deployment", "web", "--name=affinity", "--port=80",
                 "--target-port=8080", "--type=NodePort",
                 "--session-affinity=ClientIP")  # fmt: skip
    until(lambda: len(endpoints(node, "affinity")) == 3, what="three endpoints")
    cluster_ip = node.jsonpath("service", "affinity", path="{.spec.clusterIP}")
    node_port = node.jsonpath("service", "affinity", path="{.spec.ports[0].nodePort}")
    urls = (f"http://{cluster_ip}/", f"http://{NODE_IP}:{node_port}/")

    def replies(url: str) -> set[str]:
        return node.replies_from_pod(client, url, 15)

    for url in urls:
        until(lambda u=url: replies(u), what=f"{url} to answer")  # type: ignore[misc]
        assert len(replies(url)) == 1, url
    node.kubectl("patch", "service", "affinity", "-p", '{"spec": {"sessionAffinity": "None"}}')
    for url in urls:
        until(lambda u=url: len(replies(u)) > 1, what=f"{url} to spread")  # type: ignore[misc]
    node.kubectl("patch", "service", "affinity", "-p",
                 '{"spec": {"sessionAffinity": "ClientIP"}}')  # fmt: skip
    for url in urls:
        until(lambda u=url: len(replies(u)) == 1, what=f"{url} pinned")  # type: ignore[misc]
    node.kubectl("delete", "service", "affinity")


def test_node_port_and_type_changes(node: Node, client: str, web: set[str]) -> None:
    """N11 a NodePort by name, ClusterIP and node IP; N08 and N09 ExternalName to ClusterIP
    and NodePort, reachable; N10, N07 and DN7 back to ExternalName: the nodePort stops
    answering, the name is a CNAME that follows externalName, then an A record again."""
    node.kubectl("create", "service", "externalname", "changing",
                 "--external-name=web.example.com")  # fmt: skip
    node.kubectl("patch", "service", "changing", "-p", json.dumps({"spec": {
        "type": "ClusterIP", "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))  # fmt: skip
    cluster_ip = node.jsonpath("service", "changing", path="{.spec.clusterIP}")
    assert cluster_ip.startswith("10.")
    until(lambda: node.from_pod(client, f"http://changing.{DOMAIN}/") in web, what="by name")
    assert node.from_pod(client, f"http://{cluster_ip}/") in web
    node.kubectl("patch", "service", "changing", "-p", '{"spec": {"type": "NodePort"}}')
    node_port = node.jsonpath("service", "changing", path="{.spec.ports[0].nodePort}")
    by_node = f"http://{NODE_IP}:{node_port}/"
    until(lambda: node.from_pod(client, by_node) in web, what="the nodePort from a pod")
    assert node.fetch(by_node) in web
    assert node.from_pod(client, f"http://changing.{DOMAIN}/") in web
    assert node.jsonpath("service", "changing", path="{.spec.clusterIP}") == cluster_ip
    node.kubectl("patch", "service", "changing", "-p", json.dumps(
        {"spec": {"type": "ExternalName", "externalName": f"web.{DOMAIN}"}}))  # fmt: skip
    assert node.jsonpath("service", "changing", path="{.spec.clusterIP}") == ""
    assert "nodePort" not in node.jsonpath("service", "changing", path="{.spec.ports}")
    node.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    until(lambda: node.fetch(by_node) == "", what="the released nodePort to stop answering")
    until(
        lambda: (
            f"canonical name = web.{DOMAIN}"
            in busybox(node, client, "nslookup", "-type=cname", f"changing.{DOMAIN}")
        ),
        what="the CNAME",
    )
    out = busybox(node, client, "nslookup", f"changing.{DOMAIN}")
    web_ip = node.jsonpath("service", "web", path="{.spec.clusterIP}")
    assert web_ip in out, out  # followed to the Service it names
    # DN7: a new externalName is served at once; back to ClusterIP, the name is an A record.
    node.kubectl("patch", "service", "changing", "-p", json.dumps(
        {"spec": {"externalName": f"kubernetes.{DOMAIN}"}}))  # fmt: skip
    until(
        lambda: (
            f"canonical name = kubernetes.{DOMAIN}"
            in busybox(node, client, "nslookup", "-type=cname", f"changing.{DOMAIN}")
        ),
        what="the new CNAME",
    )
    node.kubectl("patch", "service", "changing", "-p", '{"spec": {"type": "ClusterIP"}}')
    again = node.jsonpath("service", "changing", path="{.spec.clusterIP}")
    until(lambda: again in busybox(node, client, "nslookup", f"changing.{DOMAIN}"),
          what="an A record of the new ClusterIP")  # fmt: skip
    assert "canonical name" not in busybox(node, client, "nslookup", f"changing.{DOMAIN}")
    node.kubectl("delete", "service", "changing")


def test_named_target_ports_pod_to_pod_and_hand_made_slices(
    node: Node, client: str, web: set[str]
) -> None:
    """N05 each pod behind the port it names; N30 pod to pod; N23, N24 a selector-less
    Service fed only by EndpointSlices, one IP or two, one port or two."""
    serve_both = ("mkdir -p /tmp/w && /bin/busybox hostname > /tmp/w/index.html && "
                  "/bin/busybox httpd -p 9090 -h /tmp/w && "
                  "exec /bin/busybox httpd -f -p 8080 -h /tmp/w")  # fmt: skip
    for name, port in (("named-a", 8080), ("named-b", 9090)):
        apply(node, {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "labels": {"named": "yes"}},
                     "spec": {"containers": [{
                         "name": "c", "image": IMAGE, "command": ["/bin/busybox", "sh", "-c",
                                                                  serve_both],
                         "ports": [{"name": "served", "containerPort": port}]}]}})  # fmt: skip
    node.kubectl("wait", "--for=condition=Ready", "pod/named-a", "pod/named-b", "--timeout=60s")
    apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "named"},
            "spec": {
                "selector": {"named": "yes"},
                "ports": [{"name": "http", "port": 80, "targetPort": "served"}],
            },
        },
    )
    ips = pod_ips(node, "named=yes")
    want = sorted([f"{ips['named-a']}:8080", f"{ips['named-b']}:9090"])
    until(lambda: endpoints(node, "named") == want, what="each pod at its own port")
    cluster_ip = node.jsonpath("service", "named", path="{.spec.clusterIP}")
    until(lambda: node.replies_from_pod(client, f"http://{cluster_ip}/", 12)
          == {"named-a", "named-b"}, what="both pods through their named ports")  # fmt: skip
    # N30: straight to each pod's IP.
    for name, ip in ips.items():
        assert node.from_pod(client, f"http://{ip}:8080/") == name

    # N23, N24: no selector, no Endpoints, two hand-made slices.
    apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sliced"},
            "spec": {
                "ports": [
                    {"name": "one", "port": 81, "targetPort": 8080},
                    {"name": "two", "port": 82, "targetPort": 9090},
                ]
            },
        },
    )

    def eps(suffix: str, ip: str, port_name: str, port: int) -> dict[str, object]:
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"sliced-{suffix}",
                             "labels": {"kubernetes.io/service-name": "sliced"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
                "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}  # fmt: skip

    sliced = node.jsonpath("service", "sliced", path="{.spec.clusterIP}")
    apply(node, eps("a", ips["named-a"], "one", 8080))
    apply(node, eps("b", ips["named-b"], "two", 9090))
    until(lambda: node.from_pod(client, f"http://{sliced}:81/") == "named-a", what="slice a")
    until(lambda: node.from_pod(client, f"http://{sliced}:82/") == "named-b", what="slice b")
    apply(node, eps("b", ips["named-a"], "two", 9090))  # N24: one IP, both ports
    until(lambda: node.from_pod(client, f"http://{sliced}:82/") == "named-a", what="one IP")
    assert node.from_pod(client, f"http://{sliced}:81/") == "named-a"
    assert "sliced" not in node.kubectl("get", "endpoints")  # nothing mirrored back
    node.kubectl("delete", "service", "named", "sliced")
    node.kubectl("delete", "endpointslice", "sliced-a", "sliced-b")
    node.kubectl("delete", "pod", "named-a", "named-b", "--wait=false")


def test_api_server_proxy_to_real_pods(node: Node, web: set[str]) -> None:
    """N34-N36: pods/proxy and services/proxy from kubectl get --raw, page links rewritten."""
    (pod,) = sorted(web)[:1]
    node.kubectl("exec", pod, "--", "/bin/busybox", "sh", "-c",
                 "echo '<a href=\"/rewriteme\">test</a>' > /tmp/w/page.html")  # fmt: skip
    if "web" not in node.kubectl("get", "service"):
        node.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    until(lambda: len(endpoints(node, "web")) == 3, what="web's endpoints")

    def raw(path: str) -> str:
        return node.kubectl("get", "--raw", path, check=False).strip()

    prefix = f"/api/v1/namespaces/default/pods/{pod}:8080/proxy"
    assert raw(f"/api/v1/namespaces/default/pods/{pod}/proxy/") == pod  # its first port
    assert raw(f"{prefix}/") == pod
    assert raw(f"/api/v1/namespaces/default/pods/http:{pod}:8080/proxy/") == pod
    assert raw(f"{prefix}/page.html") == f'<a href="{prefix}/rewriteme">test</a>'
    for name in ("web", "web:80", "http:web:80"):
        path = f"/api/v1/namespaces/default/services/{name}/proxy/"
        assert served_by(lambda p=path: raw(p), 9) <= web  # type: ignore[misc]
    kubeconfig = node.data_dir / "kubeconfig"
    out = node.inside("sh", "-c", f"HOME={node.home} kubectl --kubeconfig={kubeconfig} get "
                      "--raw /api/v1/namespaces/default/services/web:81/proxy/ 2>&1",
                      check=False)  # fmt: skip
    assert 'no service port 81 found for service "web"' in out, out


def test_dns_records_of_services_and_pods(node: Node, client: str, web: set[str]) -> None:
    """DN1 the cluster's own Service; DN3 a headless Service's A, SRV of both kinds, the
    PTR of a ClusterIP; DN4 partial names through the search path; DN2, DN5, DN6 a pod's
    hostname and subdomain in /etc/hosts and in DNS; DN8 a custom dnsConfig."""
    if "web" not in node.kubectl("get", "service"):
        node.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    node.kubectl(
        "patch",
        "service",
        "web",
        "-p",
        '{"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}',
    )
    apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "dns-sub"},
            "spec": {
                "clusterIP": "None",
                "selector": {"dns": "yes"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    for host in ("host-a", "host-b"):
        apply(node, {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"dns-{host}", "labels": {"dns": "yes"}},
                     "spec": {"hostname": host, "subdomain": "dns-sub", "containers": [{
                         "name": "c", "image": IMAGE, "command": ["/bin/busybox", "sh", "-c",
                                                                  SERVE]}]}})  # fmt: skip
    apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "dns-custom"},
            "spec": {
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["resolv.conf.local"]},
                "containers": [
                    {"name": "c", "image": IMAGE, "command": ["/bin/busybox", "sleep", "3600"]}
                ],
            },
        },
    )
    node.kubectl("wait", "--for=condition=Ready", "pod/dns-host-a", "pod/dns-host-b",
                 "pod/dns-custom", "--timeout=60s")  # fmt: skip
    ips = pod_ips(node, "dns=yes")
    web_ip = node.jsonpath("service", "web", path="{.spec.clusterIP}")

    def asks(*argv: str) -> str:
        return busybox(node, client, "nslookup", *argv)

    def answers(argv: tuple[str, ...], *expected: str) -> None:
        until(lambda: all(e in asks(*argv) for e in expected),
              what=f"nslookup {' '.join(argv)} to say {expected}")  # fmt: skip

    answers((f"kubernetes.{DOMAIN}",), "10.96.0.1")  # DN1, over UDP
    answers((f"dns-sub.{DOMAIN}",), *ips.values())  # DN3, DN6
    answers((f"host-a.dns-sub.{DOMAIN}",), ips["dns-host-a"])  # DN6
    answers(("-type=srv", f"_http._tcp.dns-sub.{DOMAIN}"),
            f"8080 host-a.dns-sub.{DOMAIN}", f"8080 host-b.dns-sub.{DOMAIN}")  # fmt: skip
    answers(("-type=srv", f"_http._tcp.web.{DOMAIN}"), f"0 100 80 web.{DOMAIN}")
    answers((web_ip,), f"name = web.{DOMAIN}")  # the PTR of a ClusterIP
    # DN4: what the search path completes (busybox nslookup searches only names without a
    # dot; its wget resolves as libc does, with the pod's search list and ndots:5).
    answers(("web",), web_ip)
    for short in ("web", "web.default", "web.default.svc"):
        assert node.from_pod(client, f"http://{short}/") in web, short
    resolv = node.kubectl("exec", client, "--", "/bin/busybox", "cat", "/etc/resolv.conf")
    assert resolv.splitlines() == [
        "search default.svc.cluster.local svc.cluster.local cluster.local",
        "nameserver 10.96.0.10", "options ndots:5"]  # fmt: skip
    # Pods' own records: <a-b-c-d>.<ns>.pod.
    dashed = ips["dns-host-a"].replace(".", "-")
    answers((f"{dashed}.default.pod.cluster.local",), ips["dns-host-a"])
    # DN2, DN5: the pod knows its name and FQDN from /etc/hosts and from DNS.
    hosts = node.kubectl("exec", "dns-host-a", "--", "/bin/busybox", "cat", "/etc/hosts")
    assert f"{ips['dns-host-a']}\thost-a.dns-sub.{DOMAIN}\thost-a" in hosts, hosts
    assert busybox(node, "dns-host-a", "hostname").strip() == "host-a"
    own = busybox(node, "dns-host-a", "nslookup", f"host-a.dns-sub.{DOMAIN}")
    assert ips["dns-host-a"] in own, own
    # DN8: dnsPolicy None, the pod's dnsConfig alone.
    resolv = node.kubectl("exec", "dns-custom", "--", "/bin/busybox", "cat", "/etc/resolv.conf")
    assert resolv.split() == ["search", "resolv.conf.local", "nameserver", "1.1.1.1"], resolv
    # DN1 over TCP, from the node (busybox has no TCP resolver).
    ask_tcp = ("import dns.message, dns.query, sys; "
               "q = dns.message.make_query(sys.argv[1], 'A'); "
               "print(dns.query.tcp(q, '10.96.0.10', timeout=5).answer[0][0])")  # fmt: skip
    for name in (f"kubernetes.{DOMAIN}", f"web.{DOMAIN}"):
        out = node.inside(sys.executable, "-c", ask_tcp, name).strip()
        assert out == ("10.96.0.1" if name.startswith("kubernetes") else web_ip)
    node.kubectl("delete", "pod", "dns-host-a", "dns-host-b", "dns-custom", "--wait=false")
    node.kubectl("delete", "service", "dns-sub")
