"""Pod phase, conditions and container statuses from what the containers do."""

from __future__ import annotations

from typing import Any

from kybernetes.node.kubelet.podstatus import (
    DEADLINE_MESSAGE,
    DEADLINE_REASON,
    Observed,
    deadline_left,
    pod_phase,
    pod_status,
    qos_class,
)

RUNNING = Observed({"running": {"startedAt": "2026-11-30T10:00:00Z"}}, ready=True)
NOT_READY = Observed({"running": {"startedAt": "2026-11-30T10:00:00Z"}}, ready=False)
OK = Observed({"terminated": {"exitCode": 0, "reason": "Completed"}})
FAILED = Observed({"terminated": {"exitCode": 1, "reason": "Error"}})
CREATING = Observed({"waiting": {"reason": "ContainerCreating"}})
CRASHING = Observed({"waiting": {"reason": "CrashLoopBackOff"}},
                    last_state={"terminated": {"exitCode": 1}}, restart_count=3)  # fmt: skip


def spec(policy: str = "Always", n: int = 2, init: int = 0) -> dict[str, Any]:
    def named(prefix: str, count: int) -> list[dict[str, Any]]:
        return [{"name": f"{prefix}{i}", "image": "busybox"} for i in range(count)]

    return {"restartPolicy": policy, "containers": named("c", n),
            "initContainers": named("i", init)}  # fmt: skip


def test_phase_follows_the_kubelet_rules() -> None:
    assert pod_phase(spec(), {"c0": RUNNING, "c1": RUNNING}, {}) == "Running"
    assert pod_phase(spec(), {"c0": RUNNING, "c1": CREATING}, {}) == "Pending"
    assert pod_phase(spec(), {"c0": RUNNING}, {}) == "Pending"  # c1 unknown yet
    assert pod_phase(spec(), {"c0": RUNNING, "c1": CRASHING}, {}) == "Running"
    assert pod_phase(spec("Always"), {"c0": OK, "c1": FAILED}, {}) == "Running"  # restarting
    assert pod_phase(spec("OnFailure"), {"c0": OK, "c1": OK}, {}) == "Succeeded"
    assert pod_phase(spec("OnFailure"), {"c0": OK, "c1": FAILED}, {}) == "Running"
    assert pod_phase(spec("Never"), {"c0": OK, "c1": FAILED}, {}) == "Failed"
    assert pod_phase(spec("Never"), {"c0": OK, "c1": OK}, {}) == "Succeeded"
    assert pod_phase(spec("Never"), {"c0": OK, "c1": RUNNING}, {}) == "Running"


def test_init_containers_gate_the_pod() -> None:
    assert pod_phase(spec(init=2), {}, {"i0": OK, "i1": RUNNING}) == "Pending"
    assert pod_phase(spec("Never", init=1), {}, {"i0": FAILED}) == "Failed"
    assert pod_phase(spec("Always", init=1), {}, {"i0": FAILED}) == "Pending"  # retried
    assert pod_phase(spec(init=1), {"c0": RUNNING, "c1": RUNNING}, {"i0": OK}) == "Running"


def status_of(pod_spec: dict[str, Any], containers: dict[str, Observed],
              init: dict[str, Observed] | None = None, old: Any = None) -> Any:  # fmt: skip
    pod = {"metadata": {"name": "p"}, "spec": pod_spec, "status": old or {}}
    return pod_status(pod, containers, init or {}, pod_ip="10.244.0.5", host_ip="198.18.0.10",
                      start_time="2026-11-30T10:00:00Z", sandbox_ready=True,
                      now="2026-11-30T10:00:05Z")  # fmt: skip


def by_type(status: Any) -> dict[str, Any]:
    return {c["type"]: c for c in status["conditions"]}


def test_conditions_name_what_is_not_ready() -> None:
    status = status_of(spec(init=1), {"c0": RUNNING, "c1": NOT_READY}, {"i0": OK})
    conditions = by_type(status)
    assert conditions["Initialized"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Ready"]["message"] == "containers with unready status: [c1]"
    assert conditions["ContainersReady"]["message"] == "containers with unready status: [c1]"
    assert conditions["PodScheduled"]["status"] == "True"
    waiting = by_type(status_of(spec(init=1), {}, {"i0": RUNNING}))["Initialized"]
    assert (waiting["reason"], waiting["message"]) == (
        "ContainersNotInitialized", "containers with incomplete status: [i0]")  # fmt: skip
    assert status["podIP"] == "10.244.0.5" and status["podIPs"] == [{"ip": "10.244.0.5"}]
    assert [c["name"] for c in status["containerStatuses"]] == ["c0", "c1"]
    assert status["initContainerStatuses"][0]["state"] == OK.state


def test_transition_times_hold_while_a_condition_stays() -> None:
    first = status_of(spec(n=1), {"c0": RUNNING})
    assert by_type(first)["Ready"]["lastTransitionTime"] == "2026-11-30T10:00:05Z"
    again = status_of(spec(n=1), {"c0": RUNNING}, old={
        "conditions": [{**by_type(first)["Ready"], "lastTransitionTime": "2026-11-30T09:00:00Z"}]
    })  # fmt: skip
    assert by_type(again)["Ready"]["lastTransitionTime"] == "2026-11-30T09:00:00Z"


def test_a_finished_pod_is_not_ready_because_it_completed() -> None:
    status = status_of(spec("Never", n=1), {"c0": OK})
    assert status["phase"] == "Succeeded"
    assert by_type(status)["Ready"]["reason"] == "PodCompleted"


def test_unknown_containers_show_as_creating() -> None:
    status = status_of(spec(n=1), {})
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert status["containerStatuses"][0]["ready"] is False
    initializing = status_of(spec(n=1, init=2), {}, init={"i0": RUNNING})
    waiting = {"waiting": {"reason": "PodInitializing"}}
    assert initializing["containerStatuses"][0]["state"] == waiting
    assert initializing["initContainerStatuses"][1]["state"] == waiting


def test_qos_classes() -> None:
    def pod_spec(**resources: Any) -> dict[str, Any]:
        return {"containers": [{"name": "c", "resources": resources}]}

    assert qos_class(pod_spec()) == "BestEffort"
    assert qos_class(pod_spec(requests={"cpu": "100m"})) == "Burstable"
    assert qos_class(pod_spec(limits={"cpu": "1", "memory": "1Gi"})) == "Guaranteed"
    assert qos_class(pod_spec(requests={"cpu": "1", "memory": "1Gi"},
                              limits={"cpu": "1", "memory": "2Gi"})) == "Burstable"  # fmt: skip
    # Quantities, not their spelling; and only cpu and memory count.
    assert qos_class(pod_spec(requests={"cpu": "1000m", "memory": "1024Mi"},
                              limits={"cpu": "1", "memory": "1Gi"})) == "Guaranteed"  # fmt: skip
    assert qos_class(pod_spec(requests={"ephemeral-storage": "1Gi"})) == "BestEffort"


def test_the_active_deadline_counts_from_the_start_and_fails_the_pod() -> None:
    assert deadline_left({}, started_at=100.0, now=200.0) is None
    assert deadline_left({"activeDeadlineSeconds": 30}, started_at=None, now=200.0) is None
    assert deadline_left({"activeDeadlineSeconds": 30}, started_at=100.0, now=110.0) == 20.0
    assert deadline_left({"activeDeadlineSeconds": 5}, started_at=100.0, now=110.0) == -5.0
    pod = {"metadata": {"name": "p"}, "spec": spec("Always", n=1)}
    killed = Observed({"terminated": {"exitCode": 143, "reason": "Error"}})
    status = pod_status(pod, {"c0": killed}, {}, pod_ip="10.244.0.9", host_ip="198.18.0.10",
                        start_time="2026-11-30T10:00:00Z", sandbox_ready=True,
                        now="2026-11-30T10:00:09Z",
                        failure=(DEADLINE_REASON, DEADLINE_MESSAGE))  # fmt: skip
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed", "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline")  # fmt: skip
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


def test_conditions_of_other_writers_are_kept() -> None:
    gate = {
        "type": "example.com/gate",
        "status": "True",
        "lastTransitionTime": "2026-11-30T09:00:00Z",
    }
    status = status_of(spec(n=1), {"c0": RUNNING}, old={
        "conditions": [{"type": "Ready", "status": "False"}, gate]})  # fmt: skip
    kinds = [c["type"] for c in status["conditions"]]
    assert kinds == ["example.com/gate", "PodReadyToStartContainers", "Initialized", "Ready",
                     "ContainersReady", "PodScheduled"]  # fmt: skip
    assert status["conditions"][0] == gate


def test_the_status_says_which_generation_of_the_spec_it_reflects() -> None:
    """Checklist P17: status.observedGeneration and the kubelet's conditions' follow
    metadata.generation; the scheduler's PodScheduled and other writers' are theirs."""
    pod = {"metadata": {"name": "p", "generation": 7}, "spec": spec(n=1), "status": {}}
    status = pod_status(pod, {"c0": RUNNING}, {}, pod_ip="10.244.0.5", host_ip="198.18.0.10",
                        start_time="2026-11-30T10:00:00Z", sandbox_ready=True,
                        now="2026-11-30T10:00:05Z")  # fmt: skip
    assert status["observedGeneration"] == 7
    observed = {c["type"]: c.get("observedGeneration") for c in status["conditions"]}
    assert observed == {"PodReadyToStartContainers": 7, "Initialized": 7, "Ready": 7,
                        "ContainersReady": 7, "PodScheduled": None}  # fmt: skip
    assert "observedGeneration" not in status_of(spec(n=1), {"c0": RUNNING})
