"""The Table kubectl prints for `get`: columns and cells of every kind, as kube-apiserver 1.32.

Each object is written by hand from the API reference, the clock is fixed, and
each test states the whole header (name, declared type, priority) and the
whole row, wide columns included: the server always sends every cell and
kubectl hides the priority-1 ones without `-o wide`.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.apiserver.printers import REGISTRY
from kybernetes.apiserver.printers.quantity import canonical_quantity
from kybernetes.apiserver.resources import BUILTIN_TYPES
from kybernetes.apiserver.tables import columns_for, human_duration, table

NOW = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)

Obj = dict[str, Any]
Header = list[tuple[str, str, int]]


def ago(**delta: float) -> str:
    moment = NOW - datetime.timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, namespace: str | None = "default", **extra: Any) -> Obj:
    out: Obj = {"name": name, "uid": f"uid-{name}", "resourceVersion": "1042"}
    if namespace is not None:
        out["namespace"] = namespace
    out["creationTimestamp"] = extra.pop("created", ago(days=5))
    out.update(extra)
    return out


def header(group: str, kind: str) -> Header:
    return [(c.name, c.type, c.priority) for c in columns_for(group, kind)]


def row(group: str, kind: str, obj: Obj) -> list[Any]:
    cells: list[Any] = table(group, kind, [obj], now=NOW)["rows"][0]["cells"]
    return cells


# -- ages -----------------------------------------------------------------------------------

M, H, D, Y = 60, 3600, 86400, 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (119, "119s"),
        (119.9, "119s"),
        (2 * M, "2m"),
        (9 * M + 59, "9m59s"),
        (10 * M, "10m"),
        (10 * M + 30, "10m"),
        (2 * H + 59 * M, "179m"),
        (3 * H, "3h"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H, "8h"),
        (8 * H + 59 * M, "8h"),
        (47 * H, "47h"),
        (2 * D, "2d"),
        (7 * D + 23 * H, "7d23h"),
        (8 * D, "8d"),
        (729 * D, "729d"),
        (2 * Y, "2y"),
        (7 * Y + 364 * D, "7y364d"),
        (8 * Y, "8y"),
        (30 * Y + 200 * D, "30y"),
        # Up to a second in the future is "now" (clock skew); more is invalid.
        (-1, "0s"),
        (-1.9, "0s"),
        (-2, "<invalid>"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# -- quantities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("10Gi", "10Gi"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("2048Ki", "2Mi"),
        ("0.5Ki", "512"),
        ("5000", "5k"),
        ("1000M", "1G"),
        ("1500M", "1500M"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("100m", "100m"),
        ("1e3", "1e3"),
        ("0.0000000001", "1n"),
        ("0", "0"),
        ("0Gi", "0"),
        (10, "10"),
        ("not-a-size", "not-a-size"),
    ],
)
def test_canonical_quantity(raw: Any, text: str) -> None:
    assert canonical_quantity(raw) == text


# -- pods -----------------------------------------------------------------------------------

POD_HEADER: Header = [
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Status", "string", 0),
    ("Restarts", "string", 0),
    ("Age", "string", 0),
    ("IP", "string", 1),
    ("Node", "string", 1),
    ("Nominated Node", "string", 1),
    ("Readiness Gates", "string", 1),
]


def running(name: str = "web", *, ready: bool = True, restarts: int = 0) -> Obj:
    return {
        "name": name,
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "image": "docker.io/library/nginx:1.27",
        "imageID": "docker.io/library/nginx@sha256:0a2f",
        "containerID": "containerd://4f3c",
        "state": {"running": {"startedAt": ago(minutes=20)}},
    }


def waiting(name: str, reason: str, *, restarts: int = 0, last: Obj | None = None) -> Obj:
    status: Obj = {
        "name": name,
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "image": "docker.io/library/nginx:1.27",
        "imageID": "",
        "state": {"waiting": {"reason": reason}},
        "lastState": {},
    }
    if last is not None:
        status["lastState"] = {"terminated": last}
    return status


def terminated(name: str, code: int, reason: str | None, **extra: Any) -> Obj:
    state: Obj = {"exitCode": code, "startedAt": ago(minutes=9), "finishedAt": ago(minutes=8)}
    if reason is not None:
        state["reason"] = reason
    state.update(extra)
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


def pod(
    *,
    phase: str = "Running",
    statuses: list[Obj] | None = None,
    init: list[Obj] | None = None,
    init_statuses: list[Obj] | None = None,
    containers: int = 1,
    conditions: list[Obj] | None = None,
    **metadata: Any,
) -> Obj:
    names = ["web", "sidecar", "cache"][:containers]
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("web-7d4b9c8f5-x2k9p", created=ago(minutes=20), **metadata),
        "spec": {
            "containers": [{"name": n, "image": "nginx:1.27"} for n in names],
            "restartPolicy": "Always",
            "nodeName": "kyb-1",
        },
        "status": {"phase": phase, "conditions": conditions or [], "qosClass": "BestEffort"},
    }
    if init is not None:
        obj["spec"]["initContainers"] = init
    if statuses is not None:
        obj["status"]["containerStatuses"] = statuses
    if init_statuses is not None:
        obj["status"]["initContainerStatuses"] = init_statuses
    return obj


def cond(kind: str, status: str, reason: str = "") -> Obj:
    out = {"type": kind, "status": status, "lastTransitionTime": ago(minutes=19)}
    if reason:
        out["reason"] = reason
    return out


INIT_TWO = [{"name": "migrate", "image": "busybox:1.36"}, {"name": "seed", "image": "busybox"}]

POD_STATUSES: list[tuple[str, Obj, list[str]]] = [
    (
        "unschedulable",
        pod(phase="Pending", conditions=[cond("PodScheduled", "False", "Unschedulable")]),
        ["0/1", "Pending", "0"],
    ),
    (
        "scheduling gated",
        pod(phase="Pending", conditions=[cond("PodScheduled", "False", "SchedulingGated")]),
        ["0/1", "SchedulingGated", "0"],
    ),
    (
        "container creating",
        pod(phase="Pending", statuses=[waiting("web", "ContainerCreating")]),
        ["0/1", "ContainerCreating", "0"],
    ),
    (
        "running",
        pod(statuses=[running()], conditions=[cond("Ready", "True")]),
        ["1/1", "Running", "0"],
    ),
    (
        "running, not ready yet",
        pod(statuses=[running(ready=False)]),
        ["0/1", "Running", "0"],
    ),
    (
        "crash loop with restarts",
        pod(
            statuses=[
                waiting(
                    "web",
                    "CrashLoopBackOff",
                    restarts=4,
                    last={"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=130)},
                )
            ]
        ),
        ["0/1", "CrashLoopBackOff", "4 (2m10s ago)"],
    ),
    (
        "image pull back-off",
        pod(phase="Pending", statuses=[waiting("web", "ImagePullBackOff")]),
        ["0/1", "ImagePullBackOff", "0"],
    ),
    (
        "completed",
        pod(phase="Succeeded", statuses=[terminated("web", 0, "Completed")]),
        ["0/1", "Completed", "0"],
    ),
    (
        "error",
        pod(phase="Failed", statuses=[terminated("web", 1, "Error")]),
        ["0/1", "Error", "0"],
    ),
    (
        "killed by a signal, no reason",
        pod(phase="Failed", statuses=[terminated("web", 137, None, signal=9)]),
        ["0/1", "Signal:9", "0"],
    ),
    (
        "exit code, no reason",
        pod(phase="Failed", statuses=[terminated("web", 3, None)]),
        ["0/1", "ExitCode:3", "0"],
    ),
    (
        "one container completed, one still running and ready",
        pod(
            containers=2,
            statuses=[terminated("web", 0, "Completed"), running("sidecar")],
            conditions=[cond("Ready", "False")],
        ),
        ["1/2", "NotReady", "0"],
    ),
    (
        "one container completed, the pod still ready",
        pod(
            containers=2,
            statuses=[terminated("web", 0, "Completed"), running("sidecar")],
            conditions=[cond("Ready", "True")],
        ),
        ["1/2", "Running", "0"],
    ),
    (
        "first init container running",
        pod(
            phase="Pending",
            init=INIT_TWO,
            init_statuses=[running("migrate", ready=False), waiting("seed", "PodInitializing")],
            statuses=[waiting("web", "PodInitializing")],
        ),
        ["0/1", "Init:0/2", "0"],
    ),
    (
        "second init container running",
        pod(
            phase="Pending",
            init=INIT_TWO,
            init_statuses=[terminated("migrate", 0, "Completed"), running("seed", ready=False)],
            statuses=[waiting("web", "PodInitializing")],
        ),
        ["0/1", "Init:1/2", "0"],
    ),
    (
        "init container crash loop",
        pod(
            phase="Pending",
            init=INIT_TWO,
            init_statuses=[
                terminated("migrate", 0, "Completed"),
                waiting(
                    "seed",
                    "CrashLoopBackOff",
                    restarts=3,
                    last={"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=40)},
                ),
            ],
            statuses=[waiting("web", "PodInitializing")],
        ),
        ["0/1", "Init:CrashLoopBackOff", "3 (40s ago)"],
    ),
    (
        "init container failed",
        pod(
            phase="Failed",
            init=INIT_TWO,
            init_statuses=[terminated("migrate", 2, "Error"), waiting("seed", "PodInitializing")],
            statuses=[waiting("web", "PodInitializing")],
        ),
        ["0/1", "Init:Error", "0"],
    ),
    (
        "init container killed by a signal",
        pod(
            phase="Pending",
            init=INIT_TWO,
            init_statuses=[terminated("migrate", 137, None, signal=9)],
        ),
        ["0/1", "Init:Signal:9", "0"],
    ),
    (
        "init container exit code",
        pod(phase="Pending", init=INIT_TWO, init_statuses=[terminated("migrate", 2, None)]),
        ["0/1", "Init:ExitCode:2", "0"],
    ),
    (
        "terminating",
        pod(
            statuses=[running()],
            conditions=[cond("Ready", "True")],
            deletionTimestamp=ago(seconds=5),
            deletionGracePeriodSeconds=30,
        ),
        ["1/1", "Terminating", "0"],
    ),
    (
        "deleted after it finished keeps its final status",
        pod(
            phase="Succeeded",
            statuses=[terminated("web", 0, "Completed")],
            deletionTimestamp=ago(seconds=5),
        ),
        ["0/1", "Completed", "0"],
    ),
    (
        "deleted while its node is lost",
        {
            **pod(statuses=[running()], deletionTimestamp=ago(minutes=1)),
            "status": {"phase": "Running", "reason": "NodeLost", "containerStatuses": [running()]},
        },
        ["1/1", "Unknown", "0"],
    ),
    (
        "evicted",
        {
            **pod(phase="Failed"),
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
        },
        ["0/1", "Evicted", "0"],
    ),
    (
        "sidecar counts in READY and RESTARTS",
        pod(
            init=[{"name": "proxy", "image": "envoy:1.31", "restartPolicy": "Always"}],
            init_statuses=[
                {
                    **running("proxy"),
                    "restartCount": 1,
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}},
                }
            ],
            statuses=[running()],
            conditions=[cond("Initialized", "True"), cond("Ready", "True")],
        ),
        ["2/2", "Running", "1 (5m ago)"],
    ),
    (
        "restarts sum over containers; the latest restart is shown",
        pod(
            containers=2,
            statuses=[
                {
                    **running("web", restarts=2),
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(hours=3)}},
                },
                {
                    **running("sidecar", restarts=1),
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=15)}},
                },
            ],
        ),
        ["2/2", "Running", "3 (15m ago)"],
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [(obj, expected) for _, obj, expected in POD_STATUSES],
    ids=[case for case, _, _ in POD_STATUSES],
)
def test_pod_ready_status_restarts(obj: Obj, expected: list[str]) -> None:
    assert row("", "Pod", obj)[1:4] == expected


def test_pod_table_with_wide_columns() -> None:
    obj = pod(statuses=[running()], conditions=[cond("Ready", "True")])
    obj["spec"]["readinessGates"] = [
        {"conditionType": "example.com/lb-ready"},
        {"conditionType": "example.com/dns-ready"},
    ]
    obj["status"]["conditions"].append(cond("example.com/lb-ready", "True"))
    obj["status"].update(
        {"podIP": "10.244.1.17", "podIPs": [{"ip": "10.244.1.17"}, {"ip": "fd00::17"}]}
    )
    assert header("", "Pod") == POD_HEADER
    assert row("", "Pod", obj) == [
        "web-7d4b9c8f5-x2k9p", "1/1", "Running", "0", "20m",
        "10.244.1.17", "kyb-1", "<none>", "1/2",
    ]  # fmt: skip


def test_pending_pod_wide_columns_are_none() -> None:
    obj = pod(phase="Pending")
    del obj["spec"]["nodeName"]
    obj["status"]["nominatedNodeName"] = "kyb-2"
    assert row("", "Pod", obj)[5:] == ["<none>", "<none>", "kyb-2", "<none>"]


def test_finished_pods_carry_a_completed_row_condition() -> None:
    done = pod(phase="Succeeded", statuses=[terminated("web", 0, "Completed")])
    failed = pod(phase="Failed", statuses=[terminated("web", 1, "Error")])
    live = pod(statuses=[running()])
    rows = table("", "Pod", [done, failed, live], now=NOW)["rows"]
    assert [r.get("conditions", [{}])[0].get("reason") for r in rows] == [
        "Succeeded",
        "Failed",
        None,
    ]
    assert rows[0]["conditions"][0]["type"] == "Completed"
    assert rows[0]["conditions"][0]["status"] == "True"


# -- core kinds -----------------------------------------------------------------------------


def test_namespace() -> None:
    ns: Obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta("shop", None, created=ago(days=30)),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    assert header("", "Namespace") == [
        ("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("", "Namespace", ns) == ["shop", "Active", "30d"]
    ns["status"]["phase"] = "Terminating"
    assert row("", "Namespace", ns)[1] == "Terminating"


NODE_HEADER: Header = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Roles", "string", 0),
    ("Age", "string", 0),
    ("Version", "string", 0),
    ("Internal-IP", "string", 1),
    ("External-IP", "string", 1),
    ("OS-Image", "string", 1),
    ("Kernel-Version", "string", 1),
    ("Container-Runtime", "string", 1),
]


def node(*, ready: str | None = "True", **labels: str) -> Obj:
    conditions = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
    ]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "KubeletReady"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(
            "kyb-1",
            None,
            created=ago(days=30),
            labels={"kubernetes.io/hostname": "kyb-1", "kubernetes.io/os": "linux", **labels},
        ),
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": "kyb-1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4",
                "osImage": "Ubuntu 24.04.1 LTS",
                "kernelVersion": "6.8.0-51-generic",
                "containerRuntimeVersion": "containerd://1.7.24",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def test_node() -> None:
    obj = node(**{"node-role.kubernetes.io/control-plane": ""})
    assert header("", "Node") == NODE_HEADER
    assert row("", "Node", obj) == [
        "kyb-1", "Ready", "control-plane", "30d", "v1.32.4",
        "192.168.1.10", "<none>", "Ubuntu 24.04.1 LTS", "6.8.0-51-generic",
        "containerd://1.7.24",
    ]  # fmt: skip


def test_node_status_and_roles_variants() -> None:
    cordoned = node(ready="False")
    cordoned["spec"]["unschedulable"] = True
    assert row("", "Node", cordoned)[1:3] == ["NotReady,SchedulingDisabled", "<none>"]
    assert row("", "Node", node(ready="Unknown"))[1] == "NotReady"
    assert row("", "Node", node(ready=None))[1] == "Unknown"
    legacy = node(**{"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": "true"})
    assert row("", "Node", legacy)[2] == "infra,worker"
    bare = node()
    bare["status"]["nodeInfo"] = {}
    bare["status"]["addresses"].append({"type": "ExternalIP", "address": "203.0.113.4"})
    assert row("", "Node", bare)[4:] == [
        "", "192.168.1.10", "203.0.113.4", "<unknown>", "<unknown>", "<unknown>"
    ]  # fmt: skip


SERVICE_HEADER: Header = [
    ("Name", "string", 0),
    ("Type", "string", 0),
    ("Cluster-IP", "string", 0),
    ("External-IP", "string", 0),
    ("Port(s)", "string", 0),
    ("Age", "string", 0),
    ("Selector", "string", 1),
]


def service(kind: str = "ClusterIP", **spec: Any) -> Obj:
    body: Obj = {
        "type": kind,
        "clusterIP": "10.96.12.7",
        "clusterIPs": ["10.96.12.7"],
        "ipFamilies": ["IPv4"],
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
        ],
        "selector": {"app": "web", "tier": "front"},
        "sessionAffinity": "None",
    }
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("web"),
        "spec": body,
        "status": {"loadBalancer": {}},
    }


def test_service_cluster_ip() -> None:
    assert header("", "Service") == SERVICE_HEADER
    assert row("", "Service", service()) == [
        "web", "ClusterIP", "10.96.12.7", "<none>", "80/TCP,443/TCP", "5d", "app=web,tier=front",
    ]  # fmt: skip


def test_service_node_port_with_external_ips() -> None:
    svc = service(
        "NodePort",
        ports=[
            {"port": 80, "nodePort": 30080, "protocol": "TCP", "targetPort": 80},
            {"port": 53, "nodePort": 30053, "protocol": "UDP", "targetPort": 53},
        ],
        externalIPs=["203.0.113.9"],
    )
    assert row("", "Service", svc)[1:5] == [
        "NodePort", "10.96.12.7", "203.0.113.9", "80:30080/TCP,53:30053/UDP",
    ]  # fmt: skip


def test_service_load_balancer() -> None:
    pending = service("LoadBalancer", ports=[{"port": 80, "nodePort": 31380, "protocol": "TCP"}])
    assert row("", "Service", pending)[3:5] == ["<pending>", "80:31380/TCP"]
    ready = service("LoadBalancer", externalIPs=["203.0.113.9"])
    ready["status"]["loadBalancer"] = {
        "ingress": [
            {"hostname": "a1b2c3d4e5f6-1234567890.eu-west-1.elb.example.com"},
            {"ip": "198.51.100.7", "ipMode": "VIP"},
        ]
    }
    # Not cut at 16 characters: the server prints wide and kubectl shows the cell as it is.
    assert row("", "Service", ready)[3] == (
        "198.51.100.7,a1b2c3d4e5f6-1234567890.eu-west-1.elb.example.com,203.0.113.9"
    )


def test_service_external_name_and_headless() -> None:
    external = service("ExternalName", externalName="db.example.com", ports=[], selector={})
    del external["spec"]["clusterIP"], external["spec"]["clusterIPs"]
    assert row("", "Service", external) == [
        "web", "ExternalName", "<none>", "db.example.com", "<none>", "5d", "<none>",
    ]  # fmt: skip
    headless = service(clusterIP="None", clusterIPs=["None"])
    assert row("", "Service", headless)[2:4] == ["None", "<none>"]


def endpoints(*subsets: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": meta("web", created=ago(hours=5)),
        "subsets": list(subsets),
    }


def addrs(*ips: str) -> list[Obj]:
    return [{"ip": ip, "nodeName": "kyb-1"} for ip in ips]


def test_endpoints() -> None:
    assert header("", "Endpoints") == [
        ("Name", "string", 0), ("Endpoints", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    two = endpoints({"addresses": addrs("10.244.1.5", "10.244.2.7"), "ports": [{"port": 8080}]})
    assert row("", "Endpoints", two) == ["web", "10.244.1.5:8080,10.244.2.7:8080", "5h"]


@pytest.mark.parametrize(
    ("subsets", "text"),
    [
        # Per port, then per address; cut after three with the rest counted.
        (
            [
                {
                    "addresses": addrs("10.244.1.5", "10.244.2.7"),
                    "ports": [{"name": "http", "port": 8080}, {"name": "https", "port": 8443}],
                }
            ],
            "10.244.1.5:8080,10.244.2.7:8080,10.244.1.5:8443 + 1 more...",
        ),
        ([{"addresses": addrs("10.244.1.5", "10.244.2.7")}], "10.244.1.5,10.244.2.7"),
        ([{"addresses": addrs("fd00::5"), "ports": [{"port": 80}]}], "[fd00::5]:80"),
        ([], "<none>"),
        ([{"notReadyAddresses": addrs("10.244.1.5"), "ports": [{"port": 80}]}], ""),
    ],
)
def test_endpoints_cell(subsets: list[Obj], text: str) -> None:
    assert row("", "Endpoints", endpoints(*subsets))[1] == text


def test_configmap_secret_serviceaccount() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("settings", created=ago(minutes=45)),
        "data": {"app.properties": "color=blue\n", "LOG_LEVEL": "info"},
        "binaryData": {"logo.png": "iVBORw0KGgo="},
    }
    assert header("", "ConfigMap") == [
        ("Name", "string", 0), ("Data", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("", "ConfigMap", cm) == ["settings", 3, "45m"]

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta("web-tls", created=ago(days=12)),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "LS0tLS1CRUdJTi==", "tls.key": "LS0tLS1CRUdJTi=="},
    }
    assert header("", "Secret") == [
        ("Name", "string", 0), ("Type", "string", 0), ("Data", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("", "Secret", secret) == ["web-tls", "kubernetes.io/tls", 2, "12d"]
    empty = {**secret, "type": "Opaque", "data": None}
    assert row("", "Secret", empty)[1:3] == ["Opaque", 0]

    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta("builder", created=ago(hours=30)),
        "secrets": [{"name": "builder-token"}],
    }
    assert header("", "ServiceAccount") == [
        ("Name", "string", 0), ("Secrets", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("", "ServiceAccount", sa) == ["builder", 1, "30h"]
    assert row("", "ServiceAccount", {**sa, "secrets": None})[1] == 0


PV_HEADER: Header = [
    ("Name", "string", 0),
    ("Capacity", "string", 0),
    ("Access Modes", "string", 0),
    ("Reclaim Policy", "string", 0),
    ("Status", "string", 0),
    ("Claim", "string", 0),
    ("StorageClass", "string", 0),
    ("VolumeAttributesClass", "string", 0),
    ("Reason", "string", 0),
    ("Age", "string", 0),
    ("VolumeMode", "string", 1),
]

PVC_HEADER: Header = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Volume", "string", 0),
    ("Capacity", "string", 0),
    ("Access Modes", "string", 0),
    ("StorageClass", "string", 0),
    ("VolumeAttributesClass", "string", 0),
    ("Age", "string", 0),
    ("VolumeMode", "string", 1),
]


def test_persistent_volume() -> None:
    pv: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": meta("pv-data", None, created=ago(days=3)),
        "spec": {
            "capacity": {"storage": "10240Mi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "hostPath": {"path": "/srv/data", "type": ""},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "data"},
        },
        "status": {"phase": "Bound"},
    }
    assert header("", "PersistentVolume") == PV_HEADER
    assert row("", "PersistentVolume", pv) == [
        "pv-data", "10Gi", "RWO,RWX", "Retain", "Bound", "shop/data", "standard", "<unset>",
        "", "3d", "Filesystem",
    ]  # fmt: skip

    released = {
        **pv,
        "metadata": {**pv["metadata"], "deletionTimestamp": ago(seconds=3),
                     "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {"capacity": {"storage": "1.5Gi"}, "accessModes": ["ReadWriteOncePod"],
                 "persistentVolumeReclaimPolicy": "Delete",
                 "volumeAttributesClassName": "gold"},
        "status": {"phase": "Failed", "reason": "VolumeFailedDelete"},
    }  # fmt: skip
    assert row("", "PersistentVolume", released) == [
        "pv-data", "1536Mi", "RWOP", "Delete", "Terminating", "", "legacy", "gold",
        "VolumeFailedDelete", "3d", "<unset>",
    ]  # fmt: skip


def test_persistent_volume_claim() -> None:
    bound: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta("data", created=ago(days=3)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "8Gi"}},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "volumeName": "pv-data",
        },
        "status": {
            "phase": "Bound",
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "capacity": {"storage": "10Gi"},
        },
    }
    assert header("", "PersistentVolumeClaim") == PVC_HEADER
    assert row("", "PersistentVolumeClaim", bound) == [
        "data", "Bound", "pv-data", "10Gi", "RWO,ROX", "standard", "<unset>", "3d", "Filesystem",
    ]  # fmt: skip

    pending = {
        **bound,
        "metadata": meta("scratch", created=ago(seconds=50)),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
                 "storageClassName": "fast"},
        "status": {"phase": "Pending"},
    }  # fmt: skip
    assert row("", "PersistentVolumeClaim", pending) == [
        "scratch", "Pending", "", "", "", "fast", "<unset>", "50s", "<unset>",
    ]  # fmt: skip
    deleting = {**bound, "metadata": {**bound["metadata"], "deletionTimestamp": ago(seconds=1)}}
    assert row("", "PersistentVolumeClaim", deleting)[1] == "Terminating"


# -- events (both groups) -------------------------------------------------------------------

EVENT_HEADER: Header = [
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "string", 1),
    ("Name", "string", 1),
]


def test_core_event() -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("web-1.17f0a3b2c4d5e6f7", created=ago(minutes=2)),
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "web-1",
            "uid": "uid-web-1",
            "apiVersion": "v1",
            "fieldPath": "spec.containers{web}",
        },
        "reason": "BackOff",
        "message": "Back-off restarting failed container web in pod web-1\n",
        "source": {"component": "kubelet", "host": "kyb-1"},
        "firstTimestamp": ago(minutes=2),
        "lastTimestamp": ago(seconds=30),
        "count": 3,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "kyb-1",
    }
    assert header("", "Event") == EVENT_HEADER
    assert columns_for("", "Event")[-1].format == "name"
    assert row("", "Event", event) == [
        "30s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, kyb-1",
        "Back-off restarting failed container web in pod web-1", "2m", 3,
        "web-1.17f0a3b2c4d5e6f7",
    ]  # fmt: skip


def test_core_event_written_the_new_way() -> None:
    # Written through events.k8s.io and read as core/v1: no count, no legacy timestamps.
    # A MicroTime 89.9s ago is "89s": ages truncate, they never round.
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("web.18a1", created=ago(seconds=90)),
        "involvedObject": {"kind": "Deployment", "namespace": "default", "name": "web"},
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set web-7d4b9c8f5 from 0 to 3",
        "source": {},
        "type": "Normal",
        "eventTime": "2025-03-01T11:58:30.123456Z",
        "action": "Scaling",
        "reportingComponent": "deployment-controller",
        "reportingInstance": "",
    }
    assert row("", "Event", event) == [
        "89s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller",
        "Scaled up replica set web-7d4b9c8f5 from 0 to 3", "89s", 1, "web.18a1",
    ]  # fmt: skip
    unknown = {**event, "eventTime": None, "involvedObject": {"kind": "Node"}}
    assert row("", "Event", unknown)[0] == "<unknown>"
    assert row("", "Event", unknown)[3] == "node"


def test_events_k8s_io_event_prints_like_a_core_one() -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("web-1.18a2", created=ago(seconds=90)),
        "eventTime": "2025-03-01T11:58:30.000000Z",
        "series": {"count": 4, "lastObservedTime": "2025-03-01T11:59:50.000000Z"},
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-kyb-1",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u"},
        "note": "Successfully assigned default/web-1 to kyb-1",
        "type": "Normal",
    }
    assert header("events.k8s.io", "Event") == EVENT_HEADER
    assert row("events.k8s.io", "Event", event) == [
        "10s", "Normal", "Scheduled", "pod/web-1", "", "default-scheduler, default-scheduler-kyb-1",
        "Successfully assigned default/web-1 to kyb-1", "90s", 4, "web-1.18a2",
    ]  # fmt: skip
    legacy = {
        **event,
        "series": None,
        "deprecatedSource": {"component": "kubelet", "host": "kyb-1"},
        "deprecatedFirstTimestamp": ago(hours=1),
        "deprecatedLastTimestamp": ago(minutes=4),
        "deprecatedCount": 7,
    }
    assert row("events.k8s.io", "Event", legacy)[5:9] == [
        "kubelet, kyb-1", "Successfully assigned default/web-1 to kyb-1", "60m", 7,
    ]  # fmt: skip
    assert row("events.k8s.io", "Event", legacy)[0] == "4m"


# -- apps -----------------------------------------------------------------------------------

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "metrics", "image": "prom/nginx-exporter:1.3"},
        ]
    },
}


def test_deployment() -> None:
    deploy: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("web", generation=3),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": TEMPLATE,
            "strategy": {"type": "RollingUpdate"},
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "unavailableReplicas": 1,
        },
    }
    assert header("apps", "Deployment") == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Up-to-date", "string", 0),
        ("Available", "string", 0), ("Age", "string", 0), ("Containers", "string", 1),
        ("Images", "string", 1), ("Selector", "string", 1),
    ]  # fmt: skip
    assert row("apps", "Deployment", deploy) == [
        "web", "2/3", 3, 2, "5d", "web,metrics", "nginx:1.27,prom/nginx-exporter:1.3", "app=web",
    ]  # fmt: skip
    fresh = {**deploy, "status": {}, "spec": {**deploy["spec"], "replicas": 0}}
    assert row("apps", "Deployment", fresh)[1:4] == ["0/0", 0, 0]


@pytest.mark.parametrize(
    ("selector", "deployment", "others"),
    [
        (
            {
                "matchLabels": {"tier": "front"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "NotIn", "values": ["b"]},
                    {"key": "app", "operator": "Exists"},
                ],
            },
            "app,!canary,env in (dev,prod),tier=front,zone notin (b)",
            "app,!canary,env in (dev,prod),tier=front,zone notin (b)",
        ),
        ({}, "", "<none>"),
        (
            {"matchExpressions": [{"key": "env", "operator": "Sometimes", "values": ["x"]}]},
            "<invalid>",
            "<error>",
        ),
    ],
)
def test_label_selector_cells(selector: Obj, deployment: str, others: str) -> None:
    obj = {"metadata": meta("web"), "spec": {"selector": selector, "template": TEMPLATE}}
    assert row("apps", "Deployment", obj)[-1] == deployment
    assert row("apps", "ReplicaSet", obj)[-1] == others
    assert row("apps", "DaemonSet", obj)[-1] == others


def test_replicaset() -> None:
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta("web-7d4b9c8f5", labels={"app": "web", "pod-template-hash": "7d4b9c8f5"}),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"pod-template-hash": "7d4b9c8f5", "app": "web"}},
            "template": TEMPLATE,
        },
        "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 1},
    }
    assert header("apps", "ReplicaSet") == [
        ("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0),
        ("Ready", "integer", 0), ("Age", "string", 0), ("Containers", "string", 1),
        ("Images", "string", 1), ("Selector", "string", 1),
    ]  # fmt: skip
    assert row("apps", "ReplicaSet", rs) == [
        "web-7d4b9c8f5", 3, 3, 1, "5d", "web,metrics", "nginx:1.27,prom/nginx-exporter:1.3",
        "app=web,pod-template-hash=7d4b9c8f5",
    ]  # fmt: skip
    scaled_down = {**rs, "spec": {**rs["spec"], "replicas": 0}, "status": {"replicas": 0}}
    assert row("apps", "ReplicaSet", scaled_down)[1:4] == [0, 0, 0]


def test_pod_template() -> None:
    template: Obj = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": meta("web-template", labels={"team": "a"}),
        "template": TEMPLATE,
    }
    assert header("", "PodTemplate") == [
        ("Name", "string", 0), ("Containers", "string", 0), ("Images", "string", 0),
        ("Pod Labels", "string", 0),
    ]  # fmt: skip
    labels = ",".join(f"{k}={v}" for k, v in sorted(TEMPLATE["metadata"]["labels"].items()))
    assert row("", "PodTemplate", template) == [
        "web-template", "web,metrics", "nginx:1.27,prom/nginx-exporter:1.3", labels,
    ]  # fmt: skip


def test_statefulset() -> None:
    sts: Obj = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta("db", created=ago(days=2)),
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:16"}]}},
        },
        "status": {"replicas": 2, "readyReplicas": 1, "currentReplicas": 2},
    }
    assert header("apps", "StatefulSet") == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Age", "string", 0),
        ("Containers", "string", 1), ("Images", "string", 1),
    ]  # fmt: skip
    assert row("apps", "StatefulSet", sts) == ["db", "1/3", "2d", "postgres", "postgres:16"]
    no_replicas = {**sts, "spec": {k: v for k, v in sts["spec"].items() if k != "replicas"}}
    assert row("apps", "StatefulSet", no_replicas)[1] == "1/1"


def test_daemonset() -> None:
    ds: Obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("fluentd", "kube-system", created=ago(days=30)),
        "spec": {
            "selector": {"matchLabels": {"name": "fluentd"}},
            "template": {
                "metadata": {"labels": {"name": "fluentd"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"},
                    "containers": [{"name": "fluentd", "image": "fluent/fluentd:v1.16"}],
                },
            },
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
            "numberMisscheduled": 0,
        },
    }
    assert header("apps", "DaemonSet") == [
        ("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0),
        ("Ready", "integer", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0),
        ("Node Selector", "string", 0), ("Age", "string", 0), ("Containers", "string", 1),
        ("Images", "string", 1), ("Selector", "string", 1),
    ]  # fmt: skip
    assert row("apps", "DaemonSet", ds) == [
        "fluentd", 3, 3, 2, 3, 2, "disk=ssd,kubernetes.io/os=linux", "30d", "fluentd",
        "fluent/fluentd:v1.16", "name=fluentd",
    ]  # fmt: skip
    ds["spec"]["template"]["spec"]["nodeSelector"] = {}
    assert row("apps", "DaemonSet", ds)[6] == "<none>"


# -- batch ----------------------------------------------------------------------------------

JOB_HEADER: Header = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Completions", "string", 0),
    ("Duration", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]

JOB_TEMPLATE = {
    "metadata": {"labels": {"job-name": "pi"}},
    "spec": {
        "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-e", "1"]}],
        "restartPolicy": "Never",
    },
}


def job(**status: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta("pi", created=ago(minutes=3)),
        "spec": {
            "completions": 5,
            "parallelism": 2,
            "backoffLimit": 6,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "6f1c"}},
            "template": JOB_TEMPLATE,
        },
        "status": status,
    }


def job_condition(kind: str, status: str = "True") -> Obj:
    return {"type": kind, "status": status, "lastTransitionTime": ago(minutes=1)}


def test_job_running() -> None:
    running_job = job(startTime=ago(minutes=3), active=2, succeeded=2, ready=2)
    assert header("batch", "Job") == JOB_HEADER
    assert row("batch", "Job", running_job) == [
        "pi", "Running", "2/5", "3m", "3m", "pi", "perl:5.34",
        "batch.kubernetes.io/controller-uid=6f1c",
    ]  # fmt: skip


def test_job_complete_has_a_fixed_duration() -> None:
    done = job(
        startTime=ago(minutes=3),
        completionTime=ago(minutes=1, seconds=55),
        succeeded=5,
        conditions=[job_condition("SuccessCriteriaMet"), job_condition("Complete")],
    )
    assert row("batch", "Job", done)[1:4] == ["Complete", "5/5", "65s"]


@pytest.mark.parametrize(
    ("status", "deleting", "text"),
    [
        ({"conditions": [job_condition("Failed")]}, True, "Failed"),
        (
            {"conditions": [job_condition("FailureTarget"), job_condition("Failed")]},
            False,
            "Failed",
        ),
        ({"conditions": [job_condition("Suspended")]}, False, "Suspended"),
        ({"conditions": [job_condition("Suspended")]}, True, "Terminating"),
        ({"conditions": [job_condition("FailureTarget")]}, False, "FailureTarget"),
        ({"conditions": [job_condition("Complete", "False")]}, False, "Running"),
        ({}, False, "Running"),
    ],
)
def test_job_status(status: Obj, deleting: bool, text: str) -> None:
    obj = job(**status)
    if deleting:
        obj["metadata"]["deletionTimestamp"] = ago(seconds=2)
    assert row("batch", "Job", obj)[1] == text


def test_job_completions_without_completions() -> None:
    queue = job(succeeded=1)
    queue["spec"] = {**queue["spec"], "parallelism": 3}
    del queue["spec"]["completions"]
    assert row("batch", "Job", queue)[2:4] == ["1/1 of 3", ""]
    queue["spec"]["parallelism"] = 1
    assert row("batch", "Job", queue)[2] == "1/1"


def test_cronjob() -> None:
    cj: Obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta("report", created=ago(days=7)),
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "jobTemplate": {"spec": {"template": JOB_TEMPLATE}},
        },
        "status": {
            "active": [{"kind": "Job", "namespace": "default", "name": "report-29012345"}],
            "lastScheduleTime": ago(minutes=2),
        },
    }
    assert header("batch", "CronJob") == [
        ("Name", "string", 0), ("Schedule", "string", 0), ("Timezone", "string", 0),
        ("Suspend", "boolean", 0), ("Active", "integer", 0), ("Last Schedule", "string", 0),
        ("Age", "string", 0), ("Containers", "string", 1), ("Images", "string", 1),
        ("Selector", "string", 1),
    ]  # fmt: skip
    assert row("batch", "CronJob", cj) == [
        "report", "*/5 * * * *", "<none>", "False", 1, "2m", "7d", "pi", "perl:5.34", "<none>",
    ]  # fmt: skip
    never = {
        **cj,
        "spec": {**cj["spec"], "timeZone": "Europe/Paris", "suspend": True},
        "status": {},
    }
    assert row("batch", "CronJob", never)[2:6] == ["Europe/Paris", "True", 0, "<none>"]
    del never["spec"]["suspend"]
    assert row("batch", "CronJob", never)[3] == "<unset>"


# -- networking, discovery, coordination ----------------------------------------------------


def ingress(*hosts: str, tls: bool = False) -> Obj:
    rule_backend = {"service": {"name": "web", "port": {"number": 80}}}
    rules = [
        {"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                        "backend": rule_backend}]}}
        if h else {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                       "backend": rule_backend}]}}
        for h in hosts
    ]  # fmt: skip
    spec: Obj = {"ingressClassName": "nginx", "rules": rules}
    if tls:
        spec["tls"] = [{"hosts": [h for h in hosts if h], "secretName": "web-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta("web", created=ago(hours=4)),
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.240"}]}},
    }


def test_ingress() -> None:
    assert header("networking.k8s.io", "Ingress") == [
        ("Name", "string", 0), ("Class", "string", 0), ("Hosts", "string", 0),
        ("Address", "string", 0), ("Ports", "string", 0), ("Age", "string", 0),
    ]  # fmt: skip
    obj = ingress("shop.example.com", "api.example.com", tls=True)
    assert row("networking.k8s.io", "Ingress", obj) == [
        "web", "nginx", "shop.example.com,api.example.com", "192.168.1.240", "80, 443", "4h",
    ]  # fmt: skip
    plain = ingress("")
    del plain["spec"]["ingressClassName"]
    plain["status"] = {"loadBalancer": {}}
    assert row("networking.k8s.io", "Ingress", plain) == ["web", "<none>", "*", "", "80", "4h"]


@pytest.mark.parametrize(
    ("hosts", "text"),
    [
        (("a.example", "b.example", "c.example", "d.example", "e.example"),
         "a.example,b.example,c.example + 2 more..."),
        (("a.example", "", "b.example", "c.example"), "a.example,b.example,c.example"),
        (("a.example", "b.example", "c.example", ""), "a.example,b.example,c.example + 1 more..."),
        (("", ""), "*"),
    ],
)  # fmt: skip
def test_ingress_hosts(hosts: tuple[str, ...], text: str) -> None:
    assert row("networking.k8s.io", "Ingress", ingress(*hosts))[2] == text


def test_ingress_class() -> None:
    ic = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": meta("external-lb", None, created=ago(days=9)),
        "spec": {
            "controller": "example.com/ingress-controller",
            "parameters": {
                "apiGroup": "k8s.example.com",
                "kind": "IngressParameters",
                "name": "external-lb",
                "scope": "Cluster",
            },
        },
    }
    assert header("networking.k8s.io", "IngressClass") == [
        ("Name", "string", 0), ("Controller", "string", 0), ("Parameters", "string", 0),
        ("Age", "string", 0),
    ]  # fmt: skip
    assert row("networking.k8s.io", "IngressClass", ic) == [
        "external-lb", "example.com/ingress-controller",
        "IngressParameters.k8s.example.com/external-lb", "9d",
    ]  # fmt: skip
    params = {"kind": "ConfigMap", "name": "nginx"}
    core_params = {**ic, "spec": {"controller": "k8s.io/ingress-nginx", "parameters": params}}
    assert row("networking.k8s.io", "IngressClass", core_params)[2] == "ConfigMap/nginx"
    bare = {**ic, "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert row("networking.k8s.io", "IngressClass", bare)[2] == "<none>"


def test_network_policy() -> None:
    np = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("db-ingress", created=ago(hours=6)),
        "spec": {
            "podSelector": {"matchLabels": {"role": "db"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "api"}}}]}],
        },
    }
    assert header("networking.k8s.io", "NetworkPolicy") == [
        ("Name", "string", 0), ("Pod-Selector", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("networking.k8s.io", "NetworkPolicy", np) == ["db-ingress", "role=db", "6h"]
    deny_all = {**np, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert row("networking.k8s.io", "NetworkPolicy", deny_all)[1] == "<none>"


def test_endpoint_slice() -> None:
    eps = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta("web-abc12", labels={"kubernetes.io/service-name": "web"}),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.1.5"], "conditions": {"ready": True}, "nodeName": "kyb-1"},
            {"addresses": ["10.244.1.6"], "conditions": {"ready": True}},
            {"addresses": ["10.244.2.3", "10.244.2.4"], "conditions": {"ready": False}},
        ],
    }
    assert header("discovery.k8s.io", "EndpointSlice") == [
        ("Name", "string", 0), ("AddressType", "string", 0), ("Ports", "string", 0),
        ("Endpoints", "string", 0), ("Age", "string", 0),
    ]  # fmt: skip
    assert row("discovery.k8s.io", "EndpointSlice", eps) == [
        "web-abc12", "IPv4", "8080", "10.244.1.5,10.244.1.6,10.244.2.3 + 1 more...", "5d",
    ]  # fmt: skip
    many_ports = {**eps, "ports": [{"name": "", "port": p} for p in (80, 443, 8080, 9090)]}
    assert row("discovery.k8s.io", "EndpointSlice", many_ports)[2] == "80,443,8080 + 1 more..."
    named = {**eps, "ports": [{"name": "http", "port": None}, {"port": None}]}
    assert row("discovery.k8s.io", "EndpointSlice", named)[2] == "http,*"
    empty = {**eps, "ports": None, "endpoints": []}
    assert row("discovery.k8s.io", "EndpointSlice", empty)[2:4] == ["<unset>", "<unset>"]


def test_lease() -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta("kyb-1", "kube-node-lease", created=ago(days=10)),
        "spec": {
            "holderIdentity": "kyb-1",
            "leaseDurationSeconds": 40,
            "renewTime": "2025-03-01T11:59:58.000000Z",
        },
    }
    assert header("coordination.k8s.io", "Lease") == [
        ("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)
    ]  # fmt: skip
    assert row("coordination.k8s.io", "Lease", lease) == ["kyb-1", "kyb-1", "10d"]
    assert row("coordination.k8s.io", "Lease", {**lease, "spec": {}})[1] == ""


# -- rbac, CRDs and custom resources --------------------------------------------------------

RBAC = "rbac.authorization.k8s.io"
BINDING_HEADER: Header = [
    ("Name", "string", 0),
    ("Role", "string", 0),
    ("Age", "string", 0),
    ("Users", "string", 1),
    ("Groups", "string", 1),
    ("ServiceAccounts", "string", 1),
]


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_bindings(kind: str) -> None:
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": meta("viewers", "shop" if kind == "RoleBinding" else None),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "apiGroup": RBAC, "name": "jane@example.com"},
            {"kind": "Group", "apiGroup": RBAC, "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "shop", "name": "ci"},
            {"kind": "User", "apiGroup": RBAC, "name": "bob"},
            {"kind": "ServiceAccount", "namespace": "kube-system", "name": "auditor"},
        ],
    }
    assert header(RBAC, kind) == BINDING_HEADER
    assert row(RBAC, kind, binding) == [
        "viewers", "ClusterRole/view", "5d", "jane@example.com, bob", "devs",
        "shop/ci, kube-system/auditor",
    ]  # fmt: skip
    assert row(RBAC, kind, {**binding, "subjects": None})[3:] == ["", "", ""]


@pytest.mark.parametrize(
    ("group", "kind", "name"),
    [
        (RBAC, "Role", "pod-reader"),
        (RBAC, "ClusterRole", "system:aggregate-to-view"),
        ("apiextensions.k8s.io", "CustomResourceDefinition", "widgets.example.com"),
    ],
)
def test_kinds_without_a_printer_show_created_at(group: str, kind: str, name: str) -> None:
    # kube-apiserver's default table: a `date` cell sent as RFC 3339, which kubectl prints raw.
    obj = {"apiVersion": "v1", "kind": kind, "metadata": meta(name, None, created=ago(days=1))}
    columns = columns_for(group, kind)
    assert header(group, kind) == [("Name", "string", 0), ("Created At", "date", 0)]
    assert columns[0].format == "name"
    assert row(group, kind, obj) == [name, "2025-02-28T12:00:00Z"]
    offset = {**obj, "metadata": meta(name, None, created="2025-02-28T13:00:00+01:00")}
    assert row(group, kind, offset)[1] == "2025-02-28T12:00:00Z"


def test_custom_resources_show_an_age() -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": meta("w1", created=ago(minutes=5)),
        "spec": {"size": 3},
    }
    assert header("example.com", "Widget") == [("Name", "string", 0), ("Age", "date", 0)]
    assert row("example.com", "Widget", widget) == ["w1", "5m"]


# -- the Table itself -----------------------------------------------------------------------


def test_table_shape() -> None:
    cm = {"metadata": meta("settings", labels={"app": "web"}), "data": {"a": "1"}}
    result = table("", "ConfigMap", [cm], now=NOW, list_meta={"resourceVersion": "1012"})
    assert result["kind"] == "Table"
    assert result["apiVersion"] == "meta.k8s.io/v1"
    assert result["metadata"] == {"resourceVersion": "1012"}
    assert result["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": result["columnDefinitions"][0]["description"],
        "priority": 0,
    }
    assert all(d["description"] for d in result["columnDefinitions"])
    assert result["rows"] == [
        {
            "cells": ["settings", 1, "5d"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": cm["metadata"],
            },
        }
    ]


def test_watch_rows_leave_out_the_column_definitions() -> None:
    cm = {"metadata": meta("settings"), "data": {}}
    result = table("", "ConfigMap", [cm], include_columns=False)
    assert result["columnDefinitions"] == []
    assert result["metadata"] == {}
    # Without a clock the current time is used: a brand-new object is "0s" old.
    fresh = {"metadata": {"name": "x", "creationTimestamp": datetime.datetime.now(
        datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}  # fmt: skip
    assert table("", "ConfigMap", [fresh])["rows"][0]["cells"][2] in ("0s", "1s", "2s")


def test_every_served_kind_has_its_printer() -> None:
    served = {(rt.group, rt.kind) for rt in BUILTIN_TYPES if "get" in rt.verbs}
    assert served - set(REGISTRY) == set()


@pytest.mark.parametrize(("group", "kind"), sorted(REGISTRY), ids=lambda v: v or "core")
def test_sparse_objects_print_without_errors(group: str, kind: str) -> None:
    # A bare object (what a client may store) still prints one cell per column.
    result = table(group, kind, [{"metadata": {"name": "x"}}, {}], now=NOW)
    columns = result["columnDefinitions"]
    assert [c["name"] for c in columns if c["format"] == "name"] == ["Name"]
    for printed in result["rows"]:
        assert len(printed["cells"]) == len(columns)
        assert all(isinstance(c, str | int) for c in printed["cells"])
