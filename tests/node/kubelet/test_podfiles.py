"""/etc/hosts and /etc/resolv.conf as the kubelet writes them."""

from __future__ import annotations

from typing import Any

from kybernetes.node.kubelet.podfiles import hostname_of, hosts_file, resolv_conf

HOST_RESOLV = "# generated\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": "shop"}, "spec": spec}


def test_hosts_name_the_pod_and_its_aliases() -> None:
    text = hosts_file(pod(), "10.244.0.5")
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert "10.244.0.5\tweb-0\n" in text
    headless = hosts_file(pod(hostname="web-0", subdomain="web"), "10.244.0.5")
    assert "10.244.0.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n" in headless
    aliased = hosts_file(pod(hostAliases=[{"ip": "1.2.3.4", "hostnames": ["a", "b"]}]), "")
    assert aliased.endswith("# Entries added by HostAliases.\n1.2.3.4\ta\tb\n")
    assert hostname_of(pod(hostname="db")) == "db"


def test_a_pod_on_the_node_network_gets_the_nodes_hosts_file() -> None:
    """Checklist P32: not the kubelet's managed file, the node's, under its own header."""
    node = "127.0.0.1\tlocalhost\n198.18.0.1\tnode-1\n"
    text = hosts_file(pod(hostNetwork=True, hostAliases=[{"ip": "1.2.3.4", "hostnames": ["a"]}]),
                      "198.18.0.1", node)  # fmt: skip
    assert text == ("# Kubernetes-managed hosts file (host network).\n" + node +
                    "\n# Entries added by HostAliases.\n1.2.3.4\ta\n")  # fmt: skip
    assert "# Kubernetes-managed hosts file.\n" not in text


def test_resolv_conf_per_dns_policy() -> None:
    assert resolv_conf(pod(), HOST_RESOLV) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")  # fmt: skip
    assert resolv_conf(pod(dnsPolicy="Default"), HOST_RESOLV) == (
        "search corp.example\nnameserver 192.0.2.53\noptions edns0\n")  # fmt: skip
    custom = pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["1.1.1.1"], "searches": ["x.local"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})  # fmt: skip
    assert resolv_conf(custom, HOST_RESOLV) == (
        "search x.local\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")  # fmt: skip
    tuned = pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}]})
    assert "options ndots:1\n" in resolv_conf(tuned, HOST_RESOLV)
    assert "nameserver 192.0.2.53" in resolv_conf(pod(hostNetwork=True), HOST_RESOLV)
