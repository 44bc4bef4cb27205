"""Service spec checks and session-affinity defaults (apiserver/service_validation.py)."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.service_validation import (
    default_session_affinity,
    port_name_problems,
    service_spec_causes,
)


def spec(**fields: Any) -> dict[str, Any]:
    return {"type": "ClusterIP", "sessionAffinity": "None",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            **fields}  # fmt: skip


def messages(fields: dict[str, Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in service_spec_causes(fields)]


def test_a_valid_spec_has_no_causes() -> None:
    assert messages(spec()) == []
    both = [{"name": "tcp", "port": 53, "protocol": "TCP", "targetPort": "dns"},
            {"name": "udp", "port": 53, "protocol": "UDP", "targetPort": 53}]  # fmt: skip
    assert messages(spec(ports=both)) == []  # one number, two protocols (N06)


def test_port_names_target_ports_and_duplicates() -> None:
    ports = [{"name": "Bad_Name", "port": 80, "protocol": "TCP", "targetPort": "_9"},
             {"name": "b", "port": 80, "protocol": "TCP", "targetPort": 70000}]  # fmt: skip
    found = messages(spec(ports=ports))
    assert found[0].startswith('spec.ports[0].name: Invalid value: "Bad_Name": a lowercase RFC')
    assert found[1:3] == [
        'spec.ports[0].targetPort: Invalid value: "_9": must contain only alpha-numeric '
        "characters (a-z, 0-9), and hyphens (-)",
        'spec.ports[0].targetPort: Invalid value: "_9": must contain at least one letter (a-z)',
    ]
    assert (
        found[3]
        == "spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
    )
    assert found[4].startswith('spec.ports[1]: Duplicate value: core.ServicePort{Name:"", '
                               'Protocol:"TCP", AppProtocol:(*string)(nil), Port:80,')  # fmt: skip
    assert port_name_problems("a--b-") == ["must not contain consecutive hyphens",
                                           "must not begin or end with a hyphen"]  # fmt: skip
    assert port_name_problems("sixteen-letters-")[0] == "must be no more than 15 characters"


def test_affinity_cluster_ip_and_external_name() -> None:
    assert messages(spec(sessionAffinity="Sticky")) == [
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'
    ]
    too_long = {"clientIP": {"timeoutSeconds": 86401}}
    assert messages(spec(sessionAffinity="ClientIP", sessionAffinityConfig=too_long)) == [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: "
        "must be greater than 0 and less than 86400"]  # fmt: skip
    assert messages(spec(clusterIP="10.96.0.300")) == [
        "spec.clusterIP: Invalid value: \"10.96.0.300\": must be empty, 'None', or a valid IP "
        "address"]  # fmt: skip
    assert messages(spec(type="ExternalName", externalName="db.example.com.")) == []
    (bad,) = messages(spec(type="ExternalName", externalName="Bad_Host"))
    assert bad.startswith('spec.externalName: Invalid value: "Bad_Host": a lowercase RFC 1123')


def test_session_affinity_defaults() -> None:
    client_ip: dict[str, Any] = {"sessionAffinity": "ClientIP"}
    default_session_affinity(client_ip)
    assert client_ip["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    kept: dict[str, Any] = {
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
    }
    default_session_affinity(kept)
    assert kept["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 60
    client_ip["sessionAffinity"] = "None"  # kubectl patch back to None: the config goes
    default_session_affinity(client_ip)
    assert "sessionAffinityConfig" not in client_ip
