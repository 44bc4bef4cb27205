"""The Endpoints controller's pure decisions."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.endpoints_decisions import (
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    MANAGED_BY_LABEL,
    OVER_CAPACITY,
    TriggerTimes,
    desired_endpoints,
    endpoint_subsets,
    find_port,
    format_time,
    namespace_terminating,
    parse_time,
    pod_change_keys,
    services_of_pod,
    truncate_subsets,
)

Obj = dict[str, Any]


def pod(
    name: str,
    ip: str = "",
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    node: str = "node-1",
    deleting: bool = False,
    phase: str = "Running",
    hostname: str = "",
    subdomain: str = "",
    since: str = "2026-11-30T10:00:00Z",
) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "ports": ports or []}], "nodeName": node}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                 "labels": labels if labels is not None else {"app": "web"},
                 "resourceVersion": "1"}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T10:05:00Z"
    status: Obj = {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": since}
        ],
    }
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"metadata": meta, "spec": spec, "status": status}


def service(
    ports: list[Obj] | None = None,
    *,
    name: str = "web",
    cluster_ip: str = "10.96.0.10",
    publish: bool = False,
    labels: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {"selector": {"app": "web"}, "clusterIP": cluster_ip, "ipFamilies": ["IPv4"],
                 "ports": ports if ports is not None else [
                     {"port": 80, "targetPort": 8080, "protocol": "TCP"}]}  # fmt: skip
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"metadata": {"name": name, "namespace": "ns", "uid": "svc-uid",
                         "labels": labels or {}, "creationTimestamp": "2026-11-30T09:00:00Z"},
            "spec": spec}  # fmt: skip


def ips(addresses: list[Obj]) -> list[str]:
    return [a["ip"] for a in addresses]


def test_ready_and_not_ready_pods_are_kept_apart() -> None:
    subsets = endpoint_subsets(service(), [
        pod("a", "10.0.0.2"), pod("b", "10.0.0.1"), pod("c", "10.0.0.3", ready=False)])  # fmt: skip
    assert len(subsets) == 1
    assert ips(subsets[0]["addresses"]) == ["10.0.0.1", "10.0.0.2"]  # sorted
    assert ips(subsets[0]["notReadyAddresses"]) == ["10.0.0.3"]
    assert subsets[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]  # no name when unnamed
    address = subsets[0]["addresses"][0]
    assert address == {"ip": "10.0.0.1", "nodeName": "node-1", "targetRef": {
        "kind": "Pod", "namespace": "ns", "name": "b", "uid": "uid-b"}}  # fmt: skip


def test_pods_without_ip_finished_or_terminating_are_left_out() -> None:
    pods = [pod("no-ip"), pod("done", "10.0.0.1", phase="Succeeded"),
            pod("failed", "10.0.0.2", phase="Failed"), pod("going", "10.0.0.3", deleting=True),
            pod("ok", "10.0.0.4")]  # fmt: skip
    subsets = endpoint_subsets(service(), pods)
    assert ips(subsets[0]["addresses"]) == ["10.0.0.4"]
    assert "notReadyAddresses" not in subsets[0]


def test_publish_not_ready_addresses_counts_everyone_ready_even_terminating() -> None:
    pods = [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)]
    subsets = endpoint_subsets(service(publish=True), pods)
    assert ips(subsets[0]["addresses"]) == ["10.0.0.1", "10.0.0.2"]


def test_named_target_ports_resolve_per_pod_and_pods_lacking_them_are_left_out() -> None:
    svc = service([{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [
        pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080, "protocol": "TCP"}]),
        pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}]),  # TCP by default
        pod("c", "10.0.0.3", ports=[{"name": "other", "containerPort": 7070}]),
        pod("d", "10.0.0.4", ports=[{"name": "web", "containerPort": 6060, "protocol": "UDP"}]),
    ]
    subsets = endpoint_subsets(svc, pods)
    by_port = {s["ports"][0]["port"]: ips(s["addresses"]) for s in subsets}
    assert by_port == {8080: ["10.0.0.1"], 9090: ["10.0.0.2"]}
    assert all(s["ports"][0]["name"] == "http" for s in subsets)


def test_find_port_numbers_names_and_sidecars() -> None:
    sidecar = pod("s", "10.0.0.1")
    sidecar["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "ports": [{"name": "m", "containerPort": 9}]},
        {"name": "init", "ports": [{"name": "i", "containerPort": 10}]},
    ]
    assert find_port(sidecar, {"port": 80, "targetPort": 8080}) == 8080
    assert find_port(sidecar, {"port": 80}) == 80  # no targetPort: the port itself
    assert find_port(sidecar, {"port": 80, "targetPort": "m"}) == 9
    assert find_port(sidecar, {"port": 80, "targetPort": "i"}) is None  # plain init container


def test_ports_sharing_the_same_addresses_share_a_subset() -> None:
    svc = service(
        [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": 9000, "targetPort": 9100, "protocol": "TCP"},
        ]
    )
    both = [{"name": "http", "containerPort": 8080}]
    pods = [pod("a", "10.0.0.1", ports=both), pod("b", "10.0.0.2", ports=both),
            pod("c", "10.0.0.3")]  # c has no http port: only metrics  # fmt: skip
    subsets = endpoint_subsets(svc, pods)
    assert [(ips(s["addresses"]), [p["name"] for p in s["ports"]]) for s in subsets] == [
        (["10.0.0.1", "10.0.0.2"], ["http"]),
        (["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["metrics"]),
    ]
    # Every port served by the same pods: one subset with both ports, sorted.
    subsets = endpoint_subsets(svc, pods[:2])
    assert len(subsets) == 1 and [p["name"] for p in subsets[0]["ports"]] == ["http", "metrics"]


def test_an_address_not_ready_for_one_port_is_not_ready() -> None:
    svc = service(
        [
            {"name": "a", "port": 80, "targetPort": 80, "protocol": "TCP"},
            {"name": "b", "port": 81, "targetPort": 81, "protocol": "TCP"},
        ]
    )
    subsets = endpoint_subsets(svc, [pod("x", "10.0.0.1", ready=False), pod("y", "10.0.0.2")])
    assert len(subsets) == 1
    assert ips(subsets[0]["addresses"]) == ["10.0.0.2"]
    assert ips(subsets[0]["notReadyAddresses"]) == ["10.0.0.1"]


def test_hostname_only_for_pods_whose_subdomain_is_the_service() -> None:
    svc = service(cluster_ip="None")
    pods = [pod("web-0", "10.0.0.1", hostname="web-0", subdomain="web"),
            pod("other", "10.0.0.2", hostname="other", subdomain="elsewhere")]  # fmt: skip
    addresses = endpoint_subsets(svc, pods)[0]["addresses"]
    assert addresses[0]["hostname"] == "web-0"
    assert "hostname" not in addresses[1]


def test_headless_service_without_ports_lists_addresses_without_ports() -> None:
    svc = service([], cluster_ip="None")
    subsets = endpoint_subsets(svc, [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)])
    assert subsets == [{"addresses": [subsets[0]["addresses"][0]],
                        "notReadyAddresses": [subsets[0]["notReadyAddresses"][0]]}]  # fmt: skip
    # A service with a cluster IP and no ports gets no addresses at all.
    assert endpoint_subsets(service([]), [pod("a", "10.0.0.1")]) == []


def test_ip_family_follows_the_service() -> None:
    dual = pod("a", "10.0.0.1")
    dual["status"]["podIPs"] = [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]
    svc6 = service()
    svc6["spec"]["ipFamilies"] = ["IPv6"]
    assert ips(endpoint_subsets(svc6, [dual])[0]["addresses"]) == ["fd00::1"]
    assert endpoint_subsets(svc6, [pod("b", "10.0.0.2")]) == []  # no IPv6 address: left out


def test_truncation_keeps_ready_first_and_shares_per_subset() -> None:
    ready = [{"ip": f"10.0.{i // 250}.{i % 250}"} for i in range(1200)]
    subsets = [{"addresses": ready[:600], "notReadyAddresses": [{"ip": "1.1.1.1"}],
                "ports": [{"port": 1}]},
               {"addresses": ready[600:], "ports": [{"port": 2}]}]  # fmt: skip
    kept, truncated = truncate_subsets(subsets)
    assert truncated
    assert [len(s.get("addresses", [])) for s in kept] == [500, 500]
    assert all("notReadyAddresses" not in s for s in kept)
    # Under capacity in ready addresses: only not-ready ones are cut.
    subsets = [{"addresses": ready[:900], "notReadyAddresses": ready[900:1100]}]
    kept, truncated = truncate_subsets(subsets)
    assert truncated and len(kept[0]["addresses"]) == 900
    assert len(kept[0]["notReadyAddresses"]) == 100
    assert truncate_subsets(subsets[:0]) == ([], False)


def test_desired_endpoints_labels_annotations_and_no_write_when_unchanged() -> None:
    svc = service(labels={"team": "a"})
    pods = [pod("a", "10.0.0.1")]
    created = desired_endpoints(svc, pods, None, trigger_time="2026-11-30T09:00:00Z")
    assert created is not None
    assert created["metadata"]["name"] == "web" and "resourceVersion" not in created["metadata"]
    assert created["metadata"]["labels"] == {"team": "a", MANAGED_BY_LABEL: "endpoint-controller"}
    assert created["metadata"]["annotations"] == {LAST_CHANGE_TRIGGER_TIME: "2026-11-30T09:00:00Z"}
    stored = {**created, "metadata": {**created["metadata"], "resourceVersion": "7"}}
    assert desired_endpoints(svc, pods, stored, trigger_time="") is None
    # A pod change: an update of the stored object, its resourceVersion kept.
    changed = desired_endpoints(svc, [*pods, pod("b", "10.0.0.2")], stored, trigger_time="")
    assert changed is not None and changed["metadata"]["resourceVersion"] == "7"
    assert LAST_CHANGE_TRIGGER_TIME not in changed["metadata"].get("annotations", {})
    # Headless services are labelled so.
    headless = desired_endpoints(service(cluster_ip="None"), pods, None, trigger_time="")
    assert headless is not None and headless["metadata"]["labels"][HEADLESS_LABEL] == ""


def test_over_capacity_is_annotated_and_stable() -> None:
    pods = [pod(f"p{i}", f"10.1.{i // 250}.{i % 250}") for i in range(1001)]
    first = desired_endpoints(service(), pods, None, trigger_time="")
    assert first is not None
    assert first["metadata"]["annotations"][OVER_CAPACITY] == "truncated"
    assert len(first["subsets"][0]["addresses"]) == 1000
    stored = {**first, "metadata": {**first["metadata"], "resourceVersion": "3"}}
    assert desired_endpoints(service(), pods, stored, trigger_time="") is None
    fewer = desired_endpoints(service(), pods[:10], stored, trigger_time="")
    assert fewer is not None and OVER_CAPACITY not in fewer["metadata"].get("annotations", {})


def test_which_services_a_pod_change_concerns() -> None:
    web = service()
    api = service(name="api")
    api["spec"]["selector"] = {"tier": "api"}
    no_selector = service(name="manual")
    no_selector["spec"].pop("selector")
    services = [web, api, no_selector]
    old = pod("a", "10.0.0.1")
    assert services_of_pod(services, old) == {"ns/web"}
    # Nothing an endpoint shows changed: no work.
    same = {**old, "metadata": {**old["metadata"], "resourceVersion": "2",
                                "annotations": {"x": "y"}}}  # fmt: skip
    assert pod_change_keys(services, old, same) == set()
    # Readiness changed: the services selecting it.
    not_ready = pod("a", "10.0.0.1", ready=False)
    not_ready["metadata"]["resourceVersion"] = "2"
    assert pod_change_keys(services, old, not_ready) == {"ns/web"}
    # Labels moved it from web to api: both, as membership changed.
    moved = pod("a", "10.0.0.1", labels={"tier": "api"})
    moved["metadata"]["resourceVersion"] = "2"
    assert pod_change_keys(services, old, moved) == {"ns/web", "ns/api"}
    # A label that changes no membership: nobody.
    extra = pod("a", "10.0.0.1", labels={"app": "web", "x": "1"})
    extra["metadata"]["resourceVersion"] = "2"
    assert pod_change_keys(services, old, extra) == set()
    # The same resourceVersion (a relist): nothing.
    assert pod_change_keys(services, old, not_ready | {"metadata": old["metadata"]}) == set()


def test_trigger_time_first_sync_then_earliest_change() -> None:
    times = TriggerTimes()
    svc = service()
    a = pod("a", "10.0.0.1", since="2026-11-30T10:00:00Z")
    assert times.compute("ns/web", svc, [a]) == "2026-11-30T09:00:00Z"  # service creation
    assert times.compute("ns/web", svc, [a]) == ""  # nothing new
    b = pod("b", "10.0.0.2", since="2026-11-30T10:02:00Z")
    a2 = pod("a", "10.0.0.1", since="2026-11-30T10:01:30.250Z")
    assert times.compute("ns/web", svc, [a2, b]) == "2026-11-30T10:01:30.25Z"
    times.forget("ns/web")
    assert times.compute("ns/web", svc, [a2, b]) == "2026-11-30T09:00:00Z"


def test_time_format_is_go_rfc3339nano() -> None:
    when = parse_time("2026-11-30T10:00:00.500000Z")
    assert when is not None and format_time(when) == "2026-11-30T10:00:00.5Z"
    assert parse_time("nonsense") is None


def test_namespace_terminating_status() -> None:
    status = {"code": 403, "details": {"causes": [{"reason": "NamespaceTerminating"}]}}
    assert namespace_terminating(status)
    assert not namespace_terminating({"code": 403})
