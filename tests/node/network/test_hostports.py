"""hostPort mappings and the nftables table that forwards them (hostports.py)."""

from __future__ import annotations

from typing import Any

from kybernetes.node.network.hostports import HostPortMapping, host_port_mappings, hostport_script

Obj = dict[str, Any]


def pod(*ports: Obj, **spec: Any) -> Obj:
    return {"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": list(ports)}], **spec}}  # fmt: skip


def test_only_ports_with_a_host_port_of_a_pod_with_an_ip() -> None:
    web = pod({"containerPort": 80, "hostPort": 8080}, {"containerPort": 9090},
              {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "0.0.0.0"},
              {"containerPort": 81, "hostPort": 8081, "hostIP": "127.0.0.1"})  # fmt: skip
    assert host_port_mappings(web, "10.244.0.5") == [
        HostPortMapping("tcp", 8080, "", "10.244.0.5", 80),
        HostPortMapping("udp", 5353, "", "10.244.0.5", 53),
        HostPortMapping("tcp", 8081, "127.0.0.1", "10.244.0.5", 81),
    ]
    assert host_port_mappings(web, "") == []  # no address yet
    on_node = pod({"containerPort": 80, "hostPort": 80}, hostNetwork=True)
    assert host_port_mappings(on_node, "198.18.0.10") == []  # listens on the node itself


def test_the_table_dnats_local_traffic_and_masquerades_hairpin_and_loopback() -> None:
    every = HostPortMapping("tcp", 8080, "", "10.244.0.5", 80)
    one = HostPortMapping("tcp", 8080, "198.18.0.10", "10.244.0.6", 80)
    script = hostport_script([every, one])
    assert script.startswith(
        "table ip kybernetes-hostports\ndelete table ip kybernetes-hostports\n"
    )
    chain = script.split("chain hostports {\n", 1)[1].split("  }", 1)[0]
    # The port on one address first, then the same port on every address.
    assert chain.splitlines() == [
        "    ip daddr 198.18.0.10 tcp dport 8080 dnat to 10.244.0.6:80",
        "    tcp dport 8080 dnat to 10.244.0.5:80",
    ]
    assert script.count("fib daddr type local jump hostports") == 2  # prerouting and output
    assert script.count("priority -100;") == 2
    assert ("ip saddr 10.244.0.5 ip daddr 10.244.0.5 tcp dport 80 ct status dnat masquerade"
            in script)  # fmt: skip
    assert "ip saddr 127.0.0.0/8 ip daddr 10.244.0.6 tcp dport 80 ct status dnat masquerade" in (
        script)  # fmt: skip
    # No mappings: the table goes.
    assert hostport_script([]) == (
        "table ip kybernetes-hostports\ndelete table ip kybernetes-hostports\n")  # fmt: skip
