"""What a user sees of a pod's containers, on a whole node driven with the real kubectl.

The conformance rows of the Pods section (conformance-checklist.md §2) that
need real containers and that no other root test covers: the environment
(`$(VAR)` expansion, the downward API), command and args against the
image's Entrypoint and Cmd, the security context (users and groups,
runAsNonRoot, a read-only root, privileged, no_new_privs, sysctls), the
managed /etc/hosts with hostAliases, hostname and subdomain, restart
policies and activeDeadlineSeconds. Every pod starts at once, and holds
several containers, each answering one row, so that the module costs one
node and a few seconds of containers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection

from kybernetes.api.times import parse_time
from tests.e2e_node.node import Node, build_image, until

pytestmark = pytest.mark.root

BUSYBOX = "kybernetes.local/pods-busybox:1"  # every applet on the PATH, no Entrypoint
ENTRY = "kybernetes.local/pods-entry:1"  # Entrypoint and Cmd both set
Obj = dict[str, Any]


def box(name: str, script: str, **fields: Any) -> Obj:
    return {"name": name, "image": BUSYBOX, "imagePullPolicy": "Never",
            "command": ["sh", "-c", script], **fields}  # fmt: skip


def pod(name: str, containers: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, "terminationGracePeriodSeconds": 2,
                     **spec}}  # fmt: skip


ENV = pod("env", [
    box("env", "echo command $(FOO); echo args $0 $1; env", args=["$(BAR)", "$$(FOO)"],
        terminationMessagePolicy="FallbackToLogsOnError",
        resources={"requests": {"cpu": "250m", "memory": "32Mi"},
                   "limits": {"cpu": "1250m", "memory": "64Mi"}},
        env=[
            {"name": "FOO", "value": "foo-value"},
            {"name": "BAR", "value": "bar-value"},
            {"name": "FOOBAR", "value": "$(FOO);;$(BAR)"},
            {"name": "ESCAPED", "value": "$$(FOO)"},
            {"name": "UNKNOWN", "value": "$(NOPE)"},
            *({"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}} for n, p in (
                ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                ("POD_UID", "metadata.uid"), ("POD_IP", "status.podIP"),
                ("HOST_IP", "status.hostIP"), ("HOST_IPS", "status.hostIPs"),
                ("NODE_NAME", "spec.nodeName"))),
            *({"name": n, "valueFrom": {"resourceFieldRef": {"resource": r, **d}}} for n, r, d in (
                ("CPU_LIMIT", "limits.cpu", {}),
                ("CPU_REQUEST", "requests.cpu", {"divisor": "1m"}),
                ("MEMORY_LIMIT", "limits.memory", {"divisor": "1Mi"}),
                ("MEMORY_REQUEST", "requests.memory", {}))),
        ]),
    box("defaults", "env", env=[
        {"name": n, "valueFrom": {"resourceFieldRef": {"resource": r}}}
        for n, r in (("CPU_LIMIT", "limits.cpu"), ("MEMORY_LIMIT", "limits.memory"))]),
], restartPolicy="Never")  # fmt: skip

ENTRYPOINT = pod("entry", [
    {"name": "neither", "image": ENTRY},
    {"name": "args", "image": ENTRY, "args": ["replaced", "args"]},
    {"name": "command", "image": ENTRY, "command": ["/bin/echo", "own", "command"]},
    {"name": "both", "image": ENTRY, "command": ["/bin/echo", "own"], "args": ["and", "args"]},
], restartPolicy="Never")  # fmt: skip

SECURE = pod("secure", [
    box("pod-level", "id -u; id -g"),
    box("container-level", "id -u; id -g",
        securityContext={"runAsUser": 1002, "runAsGroup": 3003}),
    box("nobody", "id -u", securityContext={"runAsUser": 65534}),
    box("read-only", "echo x > /file",
        securityContext={"runAsUser": 0, "readOnlyRootFilesystem": True}),
    box("writable", "echo written > /file && cat /file",
        securityContext={"runAsUser": 0, "readOnlyRootFilesystem": False}),
    box("unprivileged", "ip link add dummy0 type dummy",
        securityContext={"runAsUser": 0, "privileged": False}),
    box("no-new-privs", "grep NoNewPrivs /proc/self/status",
        securityContext={"allowPrivilegeEscalation": False}),
    box("may-escalate", "grep NoNewPrivs /proc/self/status"),
    box("sysctl", "cat /proc/sys/kernel/shm_rmid_forced"),
    box("files", "cat /etc/hosts; hostname"),
], restartPolicy="Never", hostname="web-0", subdomain="sub",
   securityContext={"runAsUser": 1001, "runAsGroup": 2002,
                    "sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]},
   hostAliases=[{"ip": "123.45.67.89", "hostnames": ["foo.local", "bar.local"]}])  # fmt: skip

NON_ROOT = pod("nonroot", [
    box("root-image", "sleep 600", securityContext={"runAsNonRoot": True}),
    box("root-user", "sleep 600", securityContext={"runAsNonRoot": True, "runAsUser": 0}),
    box("non-root", "sleep 600", securityContext={"runAsNonRoot": True, "runAsUser": 1000}),
])  # fmt: skip

# Fails its first run and succeeds its second (the emptyDir outlives the container).
ON_FAILURE = pod("onfailure", [
    box("flaky", "if [ -f /d/ran ]; then exit 0; fi; touch /d/ran; echo failing; exit 1",
        volumeMounts=[{"name": "d", "mountPath": "/d"}]),
], restartPolicy="OnFailure", volumes=[{"name": "d", "emptyDir": {}}])  # fmt: skip

NO_LINKS = pod("nolinks", [box("env", "env")], restartPolicy="Never", enableServiceLinks=False)
FOO_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fooservice"},
               "spec": {"selector": {"app": "foo"},
                        "ports": [{"port": 8765, "targetPort": 8080}]}}  # fmt: skip
DEADLINE = pod("deadline", [box("sleeper", "sleep 600")])


def _grpc_serving_answer() -> bytes:
    """A server's bytes for one `grpc.health.v1.Health/Check` on a new connection:
    its SETTINGS, then stream 1's headers, `HealthCheckResponse{status: SERVING}`
    and `grpc-status: 0` (what agnhost's grpc-health-checking answers)."""
    client = H2Connection(config=H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "pod"),
                            (":path", "/grpc.health.v1.Health/Check")],
                        end_stream=True)  # fmt: skip
    server = H2Connection(config=H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    server.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    server.send_data(1, b"\x00\x00\x00\x00\x02\x08\x01")
    server.send_headers(1, [("grpc-status", "0")], end_stream=True)
    return server.data_to_send()


# busybox nc answers each connection with those bytes, then reads the request to its end
# (closing with it unread would reset the connection under the answer).
GRPC_HEALTH = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "grpc-health"},
    "data": {"serve": "#!/bin/sh\ncat /grpc/answer\nexec cat > /dev/null\n"},
    "binaryData": {"answer": base64.b64encode(_grpc_serving_answer()).decode()},
}
WEB = "mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 8081 -h /w"
HEALTH = {"exec": {"command": ["cat", "/tmp/health"]}, "periodSeconds": 1}
# Each probe with its failureThreshold. Liveness keeps kube's default (3): the first
# probe may come before the server listens, and one refusal would restart it (as kube's).
BOTH_PROBES = (("livenessProbe", 3), ("readinessProbe", 1))
PROBED = pod("probed", [
    box("exec-ok", "touch /tmp/health; exec sleep 600", livenessProbe=HEALTH),
    box("exec-fails", "touch /tmp/health; sleep 2; rm /tmp/health; exec sleep 600",
        livenessProbe={**HEALTH, "failureThreshold": 1}),
    # httpd answers 404 for "/" (no index): the socket is open all the same.
    box("tcp", "mkdir -p /empty && exec httpd -f -p 8080 -h /empty",
        livenessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1}),
    box("grpc-closed", "exec sleep 600",
        livenessProbe={"grpc": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 1}),
    box("never-ready", "exec sleep 600",
        readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1}),
    # Probed for liveness and readiness alike: Ready proves the probe passes.
    box("http-ok", WEB, **{probe: {"httpGet": {"path": "/", "port": 8081}, "periodSeconds": 1,
                                   "failureThreshold": threshold}
                           for probe, threshold in BOTH_PROBES}),
    box("grpc-ok", "exec nc -ll -p 9000 -e /grpc/serve",
        volumeMounts=[{"name": "grpc", "mountPath": "/grpc"}],
        **{probe: {"grpc": {"port": 9000}, "periodSeconds": 1, "failureThreshold": threshold}
           for probe, threshold in BOTH_PROBES}),
], volumes=[{"name": "grpc", "configMap": {"name": "grpc-health",
                                           "defaultMode": 0o755}}])  # fmt: skip
DELAYED = pod("delayed", [box(
    "web", "exec sleep 600", readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 1,
                                             "initialDelaySeconds": 5})])  # fmt: skip
INITS = [box("init-1", "true"), box("init-2", "true")]
INIT_ALWAYS = pod("init-always", [box("app", "exec sleep 600")], initContainers=INITS)
INIT_NEVER = pod("init-never", [box("app", "true")], initContainers=INITS, restartPolicy="Never")
INIT_FAILS_NEVER = pod("init-fails-never", [box("app", "exec sleep 600")],
                       initContainers=[box("init", "exit 1")], restartPolicy="Never")  # fmt: skip
INIT_FAILS_ALWAYS = pod("init-fails-always", [box("app", "exec sleep 600")],
                        initContainers=[box("init", "exit 1")])  # fmt: skip
POD_NAME_ENV = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def subpath_pod(name: str, script: str, *, value: Obj | None = None) -> Obj:
    """A pod mounting an emptyDir at /all and its $(POD_NAME) sub-directory at /mine."""
    variable = {"name": "POD_NAME", **value} if value else POD_NAME_ENV
    return pod(name, [box(name, script, env=[variable], volumeMounts=[
        {"name": "work", "mountPath": "/all"},
        {"name": "work", "mountPath": "/mine", "subPathExpr": "$(POD_NAME)"}])],
        volumes=[{"name": "work", "emptyDir": {}}], restartPolicy="Never")  # fmt: skip


SUBPATHS = [
    subpath_pod("subpath", "echo written > /mine/file && cat /all/subpath/file"),
    subpath_pod("subpath-absolute", "true", value={"value": "/tmp"}),
    subpath_pod("subpath-dots", "true", value={"value": ".."}),
]
# The annotation is missing at first: "$(ANNOTATION)/$(POD_NAME)" is absolute until it comes.
SUBPATH_LATER = pod("subpath-later", [box("subpath-later", "exec sleep 600", env=[POD_NAME_ENV, {
    "name": "ANNOTATION", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['mysubpath']"}}}], volumeMounts=[
    {"name": "work", "mountPath": "/mine", "subPathExpr": "$(ANNOTATION)/$(POD_NAME)"}])],
    volumes=[{"name": "work", "emptyDir": {}}])  # fmt: skip
HOOK_PATHS = ("poststart-exec", "poststart-http", "prestop-exec", "prestop-http")
# Serves every hook's path and logs each request (busybox httpd -vv: "url:/<path>").
HANDLER = pod("handler", [box(
    "web", f"mkdir -p /www && cd /www && touch {' '.join(HOOK_PATHS)} && "
    "exec httpd -f -vv -p 8080 -h /www")])  # fmt: skip
FAILING = pod("failing", [box("false", "exit 2")])
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
API_ACCESS = pod(
    "api-access",
    [box("c", f"cat {SA_DIR}/namespace; echo; head -n 1 {SA_DIR}/ca.crt; exec sleep 3600")],
)
NO_TOKEN = pod("no-token", [box("c", "exec sleep 3600")], automountServiceAccountToken=False)


@pytest.fixture(scope="module")
def pods(node: Node) -> Iterator[Node]:
    build_image(node.data_dir, BUSYBOX, '{"Cmd": ["sh"]}', applets=True)
    build_image(node.data_dir, ENTRY, '{"Entrypoint": ["/bin/echo", "entrypoint"], '
                '"Cmd": ["from", "cmd"]}', applets=True)  # fmt: skip
    # The Service first: a pod gets the variables of the Services that exist when it starts.
    node.kubectl("apply", "-f", "-", stdin=json.dumps(FOO_SERVICE))
    every = [GRPC_HEALTH, ENV, ENTRYPOINT, SECURE, NON_ROOT, ON_FAILURE, DEADLINE, FAILING,
             NO_LINKS, HANDLER, PROBED, DELAYED, INIT_ALWAYS, INIT_NEVER, INIT_FAILS_NEVER,
             INIT_FAILS_ALWAYS, API_ACCESS, NO_TOKEN, *SUBPATHS, SUBPATH_LATER]  # fmt: skip
    node.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                       "items": every}))  # fmt: skip
    yield node


def get(node: Node, name: str) -> Obj:
    found: Obj = json.loads(node.kubectl("get", "pod", name, "-o", "json"))
    return found


def phase_is(node: Node, name: str, *phases: str) -> bool:
    return get(node, name).get("status", {}).get("phase") in phases


def statuses(pod_status: Obj) -> dict[str, Obj]:
    return {c["name"]: c for c in pod_status.get("containerStatuses") or []}


def logs(node: Node, name: str, container: str) -> str:
    return node.kubectl("logs", name, "-c", container)


def test_env_expansion_and_the_downward_api(pods: Node) -> None:
    until(lambda: phase_is(pods, "env", "Succeeded", "Failed"), timeout=90, what="env to end")
    env_pod = get(pods, "env")
    assert env_pod["status"]["phase"] == "Succeeded"
    out = logs(pods, "env", "env").splitlines()
    assert out[:2] == ["command foo-value", "args bar-value $(FOO)"]  # P61, P62
    env = dict(line.split("=", 1) for line in out[2:] if "=" in line)
    assert (env["FOOBAR"], env["ESCAPED"], env["UNKNOWN"]) == (
        "foo-value;;bar-value", "$(FOO)", "$(NOPE)")  # P60  # fmt: skip
    meta, status = env_pod["metadata"], env_pod["status"]
    assert (env["POD_NAME"], env["POD_NAMESPACE"], env["POD_UID"]) == (
        "env", "default", meta["uid"])  # P58, P59  # fmt: skip
    assert env["POD_IP"] == status["podIP"]  # P59
    assert env["HOST_IP"] == status["hostIP"] == "198.18.0.10"  # P56, P05
    assert env["HOST_IPS"] == ",".join(i["ip"] for i in status["hostIPs"])  # P57
    assert env["NODE_NAME"] == "node1"
    # P54: cpu rounds up to whole cores (1250m -> 2), the divisor scales.
    assert (env["CPU_LIMIT"], env["CPU_REQUEST"]) == ("2", "250")
    assert (env["MEMORY_LIMIT"], env["MEMORY_REQUEST"]) == ("64", str(32 * 2**20))
    # P23: it succeeded, so FallbackToLogsOnError copies nothing.
    assert "message" not in statuses(status)["env"]["state"]["terminated"]
    assert status["qosClass"] == "Burstable"

    # P03: the Services of the pod's namespace, and the API server's, as variables.
    foo = json.loads(pods.kubectl("get", "service", "fooservice", "-o", "json"))["spec"]
    api = json.loads(pods.kubectl("get", "service", "kubernetes", "-o", "json"))["spec"]
    ip = foo["clusterIP"]
    assert {k: v for k, v in env.items() if k.startswith("FOOSERVICE_")} == {
        "FOOSERVICE_SERVICE_HOST": ip, "FOOSERVICE_SERVICE_PORT": "8765",
        "FOOSERVICE_PORT": f"tcp://{ip}:8765", "FOOSERVICE_PORT_8765_TCP": f"tcp://{ip}:8765",
        "FOOSERVICE_PORT_8765_TCP_PROTO": "tcp", "FOOSERVICE_PORT_8765_TCP_PORT": "8765",
        "FOOSERVICE_PORT_8765_TCP_ADDR": ip}  # fmt: skip
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (
        api["clusterIP"], "443")  # fmt: skip
    until(lambda: phase_is(pods, "nolinks", "Succeeded"), timeout=60, what="nolinks to end")
    unlinked = logs(pods, "nolinks", "env")
    assert "FOOSERVICE_" not in unlinked  # enableServiceLinks: false
    assert f"KUBERNETES_SERVICE_HOST={api['clusterIP']}" in unlinked.splitlines()

    # P55: no limits: the node's allocatable.
    allocatable = json.loads(pods.kubectl("get", "node", "node1", "-o", "json"))["status"][
        "allocatable"]  # fmt: skip
    defaults = dict(line.split("=", 1) for line in logs(pods, "env", "defaults").splitlines()
                    if "=" in line)  # fmt: skip
    cpu = allocatable["cpu"]
    cores = -(-int(cpu[:-1]) // 1000) if cpu.endswith("m") else int(cpu)
    assert defaults["CPU_LIMIT"] == str(cores)
    memory = allocatable["memory"]
    assert memory.endswith("Ki") and defaults["MEMORY_LIMIT"] == str(int(memory[:-2]) * 1024)


def test_command_and_args_against_the_image(pods: Node) -> None:
    until(lambda: phase_is(pods, "entry", "Succeeded", "Failed"), timeout=90, what="entry")
    assert get(pods, "entry")["status"]["phase"] == "Succeeded"
    assert logs(pods, "entry", "neither") == "entrypoint from cmd\n"  # P21
    assert logs(pods, "entry", "args") == "entrypoint replaced args\n"  # P18
    assert logs(pods, "entry", "command") == "own command\n"  # P19
    assert logs(pods, "entry", "both") == "own and args\n"  # P20


def test_the_security_context_and_the_managed_files(pods: Node) -> None:
    until(lambda: phase_is(pods, "secure", "Succeeded", "Failed"), timeout=90, what="secure")
    found = statuses(get(pods, "secure")["status"])
    ended = {name: seen["state"]["terminated"] for name, seen in found.items()}
    out = {name: logs(pods, "secure", name) for name in ended}
    assert out["pod-level"] == "1001\n2002\n"  # P72
    assert out["container-level"] == "1002\n3003\n"  # P71
    assert out["nobody"] == "65534\n"  # P68
    assert "Read-only file system" in out["read-only"]  # P30
    assert ended["read-only"]["exitCode"] != 0
    assert out["writable"] == "written\n"  # P70
    assert "Operation not permitted" in out["unprivileged"]  # P69
    assert out["no-new-privs"].split() == ["NoNewPrivs:", "1"]  # P73
    assert out["may-escalate"].split() == ["NoNewPrivs:", "0"]
    assert out["sysctl"] == "1\n"  # P75
    hosts, _, hostname = out["files"].rpartition("# Entries added by HostAliases.\n")
    assert hosts.startswith("# Kubernetes-managed hosts file.")
    ip = get(pods, "secure")["status"]["podIP"]
    assert f"{ip}\tweb-0.sub.default.svc.cluster.local\tweb-0\n" in hosts
    assert hostname.splitlines() == ["123.45.67.89\tfoo.local\tbar.local", "web-0"]  # P31


def test_run_as_non_root_refuses_root(pods: Node) -> None:
    def refused() -> bool:
        found = statuses(get(pods, "nonroot").get("status") or {})
        return all("reason" in (c.get("state", {}).get("waiting") or {})
                   for n, c in found.items() if n != "non-root") and bool(found)  # fmt: skip

    until(refused, timeout=90, what="nonroot's containers to be refused")
    until(lambda: "running" in statuses(get(pods, "nonroot")["status"])["non-root"]["state"],
          timeout=60, what="the non-root container")  # fmt: skip
    nonroot = get(pods, "nonroot")
    found = statuses(nonroot["status"])
    who = f'"nonroot_default({nonroot["metadata"]["uid"]})"'
    assert found["root-image"]["state"]["waiting"] == {
        "reason": "CreateContainerConfigError",
        "message": f"container has runAsNonRoot and image will run as root (pod: {who}, "
                   "container: root-image)"}  # fmt: skip
    assert found["root-user"]["state"]["waiting"] == {
        "reason": "CreateContainerConfigError",
        "message": f"container's runAsUser breaks non-root policy (pod: {who}, "
                   "container: root-user)"}  # fmt: skip
    assert nonroot["status"]["phase"] == "Pending"
    described = pods.kubectl("describe", "pod", "nonroot")
    assert "Error: container has runAsNonRoot and image will run as root" in described


def test_on_failure_restarts_until_success(pods: Node) -> None:
    until(lambda: phase_is(pods, "onfailure", "Succeeded", "Failed"), timeout=120,
          what="onfailure to end")  # fmt: skip
    status = get(pods, "onfailure")["status"]
    assert status["phase"] == "Succeeded"  # P22
    flaky = statuses(status)["flaky"]
    assert flaky["restartCount"] == 1 and not flaky["ready"]
    assert flaky["state"]["terminated"]["reason"] == "Completed"
    last = flaky["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")


def test_an_always_failing_container_reports_and_deletes(pods: Node) -> None:
    def crashed() -> bool:
        found = statuses(get(pods, "failing").get("status") or {}).get("false") or {}
        return bool(found.get("lastState", {}).get("terminated"))

    until(crashed, timeout=90, what="failing to crash")
    status = get(pods, "failing")["status"]
    assert status["phase"] == "Running"  # Always: it will be started again
    last = statuses(status)["false"]["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (2, "Error")  # P29
    pods.kubectl("delete", "pod", "failing", "--wait=true", "--timeout=60s")  # P28
    missing = pods.kubectl("get", "pod", "failing", check=False)
    assert missing == ""


def test_active_deadline_fails_the_pod(pods: Node) -> None:
    until(lambda: phase_is(pods, "deadline", "Running"), timeout=90, what="deadline to run")
    # P06: a condition of another writer survives the kubelet's next status write.
    checked = {"type": "example.com/checked", "status": "True", "reason": "E2E"}
    pods.kubectl("patch", "pod", "deadline", "--subresource=status", "--type=strategic", "-p",
                 json.dumps({"status": {"conditions": [checked]}}))  # fmt: skip
    pods.kubectl("patch", "pod", "deadline", "-p", '{"spec": {"activeDeadlineSeconds": 5}}')
    until(lambda: phase_is(pods, "deadline", "Failed"), timeout=60, what="the deadline")
    status = get(pods, "deadline")["status"]
    assert status["reason"] == "DeadlineExceeded"  # P10
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    assert {**checked, "status": "True"}.items() <= next(
        c for c in status["conditions"] if c["type"] == checked["type"]).items()  # fmt: skip
    sleeper = statuses(status)["sleeper"]["state"]
    assert "terminated" in sleeper
    selector = "involvedObject.name=deadline"
    events = json.loads(pods.kubectl("get", "events", "-o", "json", "--field-selector", selector))
    seen = {(event["type"], event["reason"]) for event in events["items"]}
    assert ("Normal", "DeadlineExceeded") in seen


def test_lifecycle_hooks_call_another_pod(pods: Node) -> None:
    """P33-P36; a preStop hook reaching a server pod on delete (conformance P37)."""
    until(lambda: phase_is(pods, "handler", "Running"), timeout=90, what="the hook handler")
    ip = get(pods, "handler")["status"]["podIP"]

    def fetch(path: str) -> Obj:
        return {"exec": {"command": ["wget", "-qO-", f"http://{ip}:8080/{path}"]}}

    def call(path: str) -> Obj:
        return {"httpGet": {"host": ip, "port": 8080, "path": f"/{path}"}}

    hooked = pod("hooked", [
        box("exec", "sleep 600", lifecycle={"postStart": fetch("poststart-exec"),
                                            "preStop": fetch("prestop-exec")}),
        box("http", "sleep 600", lifecycle={"postStart": call("poststart-http"),
                                            "preStop": call("prestop-http")}),
    ])  # fmt: skip
    pods.kubectl("apply", "-f", "-", stdin=json.dumps(hooked))

    def requested(*paths: str) -> bool:
        served = pods.kubectl("logs", "handler")
        return all(f"url:/{path}" in served for path in paths)

    until(lambda: phase_is(pods, "hooked", "Running"), timeout=60, what="hooked to run")
    until(lambda: requested("poststart-exec", "poststart-http"), timeout=30,
          what="the postStart hooks")  # P33, P34  # fmt: skip
    assert not requested("prestop-exec") and not requested("prestop-http")
    pods.kubectl("delete", "pod", "hooked", "--wait=true", "--timeout=60s")
    assert requested("prestop-exec", "prestop-http")  # P35, P36: before the containers ended


def test_liveness_and_readiness_probes(pods: Node) -> None:
    """P40, P41, P43, P44, P46, P47; liveness probes over HTTP and gRPC that pass never
    restart (conformance P38, P39)."""

    def restarts() -> dict[str, int]:
        found = statuses(get(pods, "probed").get("status") or {})
        return {name: seen["restartCount"] for name, seen in found.items()}

    until(lambda: restarts().get("exec-fails", 0) >= 1 and restarts().get("grpc-closed", 0) >= 1,
          timeout=90, what="the failing liveness probes to restart their containers")  # fmt: skip
    found = statuses(get(pods, "probed")["status"])
    assert found["exec-fails"]["lastState"]["terminated"]["exitCode"] in (137, 143)  # P44
    assert found["grpc-closed"]["restartCount"] >= 1  # P43
    for name in ("exec-ok", "tcp", "never-ready", "http-ok", "grpc-ok"):  # P40, P41, P47
        assert found[name]["restartCount"] == 0, name  # P38, P39
        assert "running" in found[name]["state"], name
    assert found["exec-ok"]["ready"] and found["tcp"]["ready"]
    assert found["http-ok"]["ready"] and found["grpc-ok"]["ready"]
    assert not found["never-ready"]["ready"]
    ready = next(c for c in get(pods, "probed")["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    # kubectl describe reads a grpc probe's service without a nil check: it must be defaulted.
    assert "grpc <pod>:9999  delay=0s timeout=1s period=1s" in pods.kubectl(
        "describe", "pod", "probed")  # fmt: skip

    # P46: not ready before initialDelaySeconds, ready after, never restarted.
    until(lambda: phase_is(pods, "delayed", "Running"), timeout=60, what="delayed to run")

    def is_ready() -> bool:
        conditions = get(pods, "delayed")["status"]["conditions"]
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    until(is_ready, timeout=60, what="delayed to be ready")
    status = get(pods, "delayed")["status"]
    web = statuses(status)["web"]
    started = parse_time(web["state"]["running"]["startedAt"])
    ready_at = parse_time(next(c["lastTransitionTime"] for c in status["conditions"]
                               if c["type"] == "Ready"))  # fmt: skip
    assert started is not None and ready_at is not None
    assert (ready_at - started).total_seconds() >= 5
    assert web["restartCount"] == 0


def test_init_containers_run_first_and_hold_the_app_when_they_fail(pods: Node) -> None:
    def condition(status: Obj, kind: str) -> str:
        return next((c["status"] for c in status.get("conditions") or [] if c["type"] == kind), "")

    def inits(status: Obj) -> dict[str, Obj]:
        return {c["name"]: c for c in status.get("initContainerStatuses") or []}

    until(lambda: phase_is(pods, "init-always", "Running"), timeout=90, what="init-always")
    status = get(pods, "init-always")["status"]  # P48
    assert condition(status, "Initialized") == "True"
    assert [c["state"]["terminated"]["reason"] for c in inits(status).values()] == [
        "Completed", "Completed"]  # fmt: skip
    assert "running" in statuses(status)["app"]["state"]

    until(lambda: phase_is(pods, "init-never", "Succeeded"), timeout=90, what="init-never")
    status = get(pods, "init-never")["status"]  # P49
    assert all(c["restartCount"] == 0 for c in [*inits(status).values(), statuses(status)["app"]])

    until(lambda: phase_is(pods, "init-fails-never", "Failed"), timeout=90,
          what="init-fails-never to fail")  # fmt: skip
    status = get(pods, "init-fails-never")["status"]  # P50
    assert inits(status)["init"]["state"]["terminated"]["exitCode"] == 1
    assert statuses(status)["app"]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert condition(status, "Initialized") == "False"

    def retried() -> bool:
        found = inits(get(pods, "init-fails-always").get("status") or {})
        return found.get("init", {}).get("restartCount", 0) >= 1

    until(retried, timeout=90, what="the failing init container to be retried")
    status = get(pods, "init-fails-always")["status"]  # P51
    assert status["phase"] == "Pending"
    assert condition(status, "Initialized") == "False"
    assert statuses(status)["app"]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert statuses(status)["app"]["restartCount"] == 0
    table = pods.kubectl("get", "pod", "init-fails-always", "--no-headers").split()
    assert table[2] in ("Init:Error", "Init:CrashLoopBackOff")


def test_sub_path_expr_expands_and_refuses_to_leave_the_volume(pods: Node) -> None:
    """P63-P66; a refused expansion recovers when its annotation comes (conformance P67)."""
    until(lambda: phase_is(pods, "subpath", "Succeeded", "Failed"), timeout=90, what="subpath")
    assert get(pods, "subpath")["status"]["phase"] == "Succeeded"  # P63, P66
    assert logs(pods, "subpath", "subpath") == "written\n"

    def refused(name: str) -> str:
        found = statuses(get(pods, name).get("status") or {}).get(name) or {}
        return str((found.get("state", {}).get("waiting") or {}).get("reason", ""))

    for refused_pod in ("subpath-absolute", "subpath-dots"):  # P64, P65
        until(lambda name=refused_pod: refused(name) == "CreateContainerConfigError", timeout=60,
              what=f"{refused_pod} to be refused")  # fmt: skip
        assert get(pods, refused_pod)["status"]["phase"] == "Pending"

    # P67: refused while the annotation is missing, started once it is set.
    until(lambda: refused("subpath-later") == "CreateContainerConfigError", timeout=60,
          what="subpath-later to be refused")  # fmt: skip
    pods.kubectl("annotate", "pod", "subpath-later", "mysubpath=mypath")
    until(lambda: phase_is(pods, "subpath-later", "Running"), timeout=90,
          what="subpath-later to run once annotated")  # fmt: skip
    pods.kubectl("exec", "subpath-later", "--", "touch", "/mine/file")  # fails if not mounted


def test_a_pod_gets_its_service_accounts_api_credentials(pods: Node) -> None:
    """Checklist Q01-Q03: the kube-api-access volume, with a token bound to the pod."""
    until(lambda: phase_is(pods, "api-access", "Running"), what="api-access running")
    until(lambda: "BEGIN CERTIFICATE" in logs(pods, "api-access", "c"), what="the files read")
    namespace, ca_head = logs(pods, "api-access", "c").splitlines()[:2]
    assert (namespace, ca_head) == ("default", "-----BEGIN CERTIFICATE-----")
    spec = get(pods, "api-access")["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": SA_DIR}]  # fmt: skip
    token = pods.kubectl("exec", "api-access", "--", "cat", f"{SA_DIR}/token")
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": token}}  # fmt: skip
    answer = json.loads(pods.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(review)))
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["user"]["username"] == "system:serviceaccount:default:default"
    # Opting out leaves the pod without one.
    assert not any(v["name"].startswith("kube-api-access-")
                   for v in get(pods, "no-token")["spec"].get("volumes") or [])  # fmt: skip


def test_the_kubelet_reports_the_generation_it_acted_on(pods: Node) -> None:
    """Checklist P16/P17 (fewer updates): generation starts at 1, grows on spec changes
    only, and status.observedGeneration catches up with it."""
    until(lambda: phase_is(pods, "api-access", "Running"), what="api-access running")
    start = get(pods, "api-access")
    generation = start["metadata"]["generation"]
    until(lambda: get(pods, "api-access")["status"].get("observedGeneration") == generation,
          what="the first generation observed")  # fmt: skip
    pods.kubectl("label", "pod", "api-access", "touched=yes")
    assert get(pods, "api-access")["metadata"]["generation"] == generation  # metadata only
    for deadline in range(100_000, 99_990, -1):  # activeDeadlineSeconds may only shrink
        patch = {"spec": {"activeDeadlineSeconds": deadline}}
        pods.kubectl("patch", "pod", "api-access", "-p", json.dumps(patch))
    assert get(pods, "api-access")["metadata"]["generation"] == generation + 10

    def caught_up() -> bool:
        status = get(pods, "api-access")["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        return status.get("observedGeneration") == ready.get("observedGeneration") == (
            generation + 10)  # fmt: skip

    until(caught_up, what="observedGeneration to follow")
