"""What simulated nodes write, checked without an API server."""

from __future__ import annotations

import datetime
import ipaddress

import pytest

from kybernetes.simnode.objects import (
    EXIT_CODE_ANNOTATION,
    RUN_SECONDS_ANNOTATION,
    NodeConfig,
    PodIPs,
    fallback_pod_cidr,
    lease_object,
    node_address,
    node_conditions,
    node_object,
    pod_status,
    requested_exit,
    terminated_status,
)

NOW = datetime.datetime(2026, 11, 30, 6, 0, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(seconds=30)


def test_node_object_is_labelled_honestly() -> None:
    config = NodeConfig(cpu="8", memory="16Gi", pods=50, labels={"zone": "z1"})
    node = node_object("sim-7", 7, config, NOW)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "sim-7"
    assert labels["kybernetes.io/simulated"] == "true" and labels["zone"] == "z1"
    status = node["status"]
    assert status["capacity"] == status["allocatable"] == {
        "cpu": "8", "memory": "16Gi", "ephemeral-storage": "1Ti", "pods": "50"}  # fmt: skip
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("simulated://")
    internal = status["addresses"][0]
    assert internal == {"type": "InternalIP", "address": "198.18.16.8"}
    healthy = {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False",
               "PIDPressure": "False"}  # fmt: skip
    assert {c["type"]: c["status"] for c in status["conditions"]} == healthy


def test_node_addresses_stay_in_the_benchmark_range() -> None:
    benchmark = ipaddress.ip_network("198.18.0.0/15")
    assert ipaddress.ip_address(node_address(0)) in benchmark
    assert ipaddress.ip_address(node_address(100_000)) in benchmark
    with pytest.raises(ValueError):
        node_address(200_000)


def test_conditions_keep_transitions_and_renew_heartbeats() -> None:
    first = node_conditions(NOW)
    lost = [{**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in first]
    again = node_conditions(LATER, lost)
    by_type = {c["type"]: c for c in again}
    assert by_type["Ready"]["lastTransitionTime"] == "2026-11-30T06:00:30Z"  # changed back
    assert by_type["DiskPressure"]["lastTransitionTime"] == "2026-11-30T06:00:00Z"
    assert by_type["DiskPressure"]["lastHeartbeatTime"] == "2026-11-30T06:00:30Z"


def test_lease_is_owned_by_its_node() -> None:
    node = node_object("sim-0", 0, NodeConfig(), NOW)
    node["metadata"]["uid"] = "u-1"
    lease = lease_object(node, NodeConfig(), NOW)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert lease["spec"]["renewTime"] == "2026-11-30T06:00:00.000000Z"
    assert lease["spec"]["leaseDurationSeconds"] == 40


def test_pod_ips_from_the_cidr() -> None:
    ips = PodIPs("10.244.3.0/24")
    assert ips.assign("a") == "10.244.3.2"  # .1 is the gateway
    assert ips.assign("a") == "10.244.3.2"
    assert ips.claim("b", "10.244.3.7")
    assert not ips.claim("c", "10.244.3.7") and not ips.claim("c", "10.9.9.9")
    ips.release("a")
    # 253 usable addresses (.2 … .254), one held by b: 252 more, then none.
    assigned = [ips.assign(str(n)) for n in range(253)]
    assert None not in assigned[:252] and assigned[252] is None
    assert len(set(assigned[:252])) == 252
    assert "10.244.3.255" not in assigned and "10.244.3.1" not in assigned
    tiny = PodIPs("10.0.0.0/30")
    assert tiny.assign("x") == "10.0.0.2" and tiny.assign("y") is None


def test_fallback_cidrs_are_distinct_per_node() -> None:
    assert fallback_pod_cidr(0) == "100.64.0.0/24"
    assert fallback_pod_cidr(1) == "100.64.1.0/24"
    assert fallback_pod_cidr(300) == "100.65.44.0/24"


def pod(**annotations: str) -> dict:
    return {"metadata": {"uid": "u", "annotations": annotations},
            "spec": {"containers": [{"name": "a", "image": "nginx"},
                                    {"name": "b", "image": "busybox"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True",
                                       "lastTransitionTime": "2026-11-30T05:59:00Z"}]}}  # fmt: skip


def test_running_status_then_ready() -> None:
    waiting = pod_status(pod(), host_ip="198.18.16.1", pod_ip="10.244.0.2", now=NOW, ready=False)
    assert waiting["phase"] == "Running" and waiting["qosClass"] == "BestEffort"
    conditions = {c["type"]: c for c in waiting["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["message"] == "containers with unready status: [a b]"
    assert conditions["PodScheduled"]["lastTransitionTime"] == "2026-11-30T05:59:00Z"
    assert waiting["podIPs"] == [{"ip": "10.244.0.2"}] and waiting["hostIP"] == "198.18.16.1"
    assert [s["ready"] for s in waiting["containerStatuses"]] == [False, False]
    ready = pod_status({**pod(), "status": waiting}, host_ip="198.18.16.1", pod_ip="10.244.0.2",
                       now=LATER, ready=True)  # fmt: skip
    assert ready["startTime"] == waiting["startTime"]
    container = ready["containerStatuses"][0]
    assert container["ready"] and container["started"] and container["restartCount"] == 0
    assert container["state"]["running"]["startedAt"] == "2026-11-30T06:00:00Z"
    assert container["containerID"].startswith("simulated://")
    assert container["imageID"].startswith("simulated://sha256:")
    # A condition another component owns stays.
    target = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}
    marked = {**ready, "conditions": [*ready["conditions"], target]}
    kept = pod_status({**pod(), "status": marked}, host_ip="198.18.16.1", pod_ip="10.244.0.2",
                      now=LATER, ready=True)  # fmt: skip
    assert target in kept["conditions"]
    # Nothing changed: the same status again (no write).
    same = pod_status({**pod(), "status": ready}, host_ip="198.18.16.1", pod_ip="10.244.0.2",
                      now=LATER + datetime.timedelta(seconds=5), ready=True)  # fmt: skip
    assert same == ready
    assert "observedGeneration" not in same
    # A pod with a generation has it observed.
    versioned = {**pod(), "metadata": {"uid": "u", "generation": 3}}
    assert pod_status(versioned, host_ip="198.18.16.1", pod_ip="10.244.0.2", now=LATER,
                      ready=True)["observedGeneration"] == 3  # fmt: skip


def test_told_to_end() -> None:
    assert requested_exit(pod()) is None
    assert requested_exit(pod(**{EXIT_CODE_ANNOTATION: "2", RUN_SECONDS_ANNOTATION: "1.5"})) == (
        2, 1.5)  # fmt: skip
    assert requested_exit(pod(**{EXIT_CODE_ANNOTATION: "x"})) is None
    running = pod_status(pod(), host_ip="h", pod_ip="p", now=NOW, ready=True)
    done = terminated_status({**pod(), "status": running}, exit_code=0, now=LATER)
    assert done["phase"] == "Succeeded"
    terminated = done["containerStatuses"][0]["state"]["terminated"]
    assert terminated == {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-30T06:00:00Z",
                          "finishedAt": "2026-11-30T06:00:30Z",
                          "containerID": done["containerStatuses"][0]["containerID"]}  # fmt: skip
    ready = next(c for c in done["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodCompleted"
    failed = terminated_status({**pod(), "status": running}, exit_code=1, now=LATER)
    assert failed["phase"] == "Failed"
    assert failed["containerStatuses"][1]["state"]["terminated"]["reason"] == "Error"


def test_ephemeral_containers_run_from_when_they_were_added() -> None:
    debugged = {**pod(), "spec": {**pod()["spec"], "ephemeralContainers": [
        {"name": "debugger", "image": "busybox"}]}}  # fmt: skip
    first = pod_status(debugged, host_ip="198.18.16.1", pod_ip="10.244.0.2", now=LATER,
                       ready=True)  # fmt: skip
    (status,) = first["ephemeralContainerStatuses"]
    assert (status["name"], status["ready"], status["restartCount"]) == ("debugger", False, 0)
    started = status["state"]["running"]["startedAt"]
    again = pod_status({**debugged, "status": first}, host_ip="198.18.16.1", pod_ip="10.244.0.2",
                       now=LATER + datetime.timedelta(seconds=9), ready=True)  # fmt: skip
    assert again["ephemeralContainerStatuses"][0]["state"]["running"]["startedAt"] == started
    assert "ephemeralContainerStatuses" not in pod_status(
        pod(), host_ip="198.18.16.1", pod_ip="10.244.0.2", now=LATER, ready=True)  # fmt: skip
