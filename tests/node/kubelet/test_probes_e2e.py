"""Probes, lifecycle hooks, termination details and adoption, with real runc pods.

The node's host is an isolated namespace (tests/node/conftest.py); httpGet
and tcpSocket probes reach the pod from it, exec probes and hooks go
through `runc exec`. Images are busybox layers built here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.endpoints import EndpointsController
from kybernetes.node.kubelet.kubelet import Kubelet
from kybernetes.node.kubelet.podworker import PulledImage
from kybernetes.node.kubelet.restarts import CrashLoopBackoff
from kybernetes.node.network.commands import run
from kybernetes.node.network.podnet import netns_name
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.node.support.accounts import publish_account_basics
from tests.node.support.images import LocalImages, busybox_layers
from tests.node.support.scrub import scrub_node

pytestmark = pytest.mark.root

NODE = "node-p"
PODS = resource_path("", "v1", "pods", "default")
CIDR = "10.244.7.0/24"
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 40) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


class Node:
    """A kubelet that a test can stop and start again on the same data directory."""

    def __init__(self, client: ApiClient, data_dir: Path, images: LocalImages,
                 host_netns: str) -> None:  # fmt: skip
        self.client = client
        self.data_dir = data_dir
        self.images = images
        self.host_netns = host_netns
        self.kubelet: Kubelet | None = None
        self.task: asyncio.Task[None] | None = None

    def make(self) -> Kubelet:
        return Kubelet(self.client, node_name=NODE, data_dir=self.data_dir,
                       host_ip="127.0.0.1", images=self.images, host_netns=self.host_netns,
                       backoff=CrashLoopBackoff(initial=0.5, maximum=1),
                       listen=("127.0.0.1", 0))  # fmt: skip

    async def start(self) -> Kubelet:
        self.kubelet = self.make()
        self.task = asyncio.create_task(self.kubelet.run())
        return self.kubelet

    async def stop(self) -> None:
        """Stop the kubelet task only: its containers go on running."""
        await cancel_and_wait(self.task)
        self.task = None


@pytest.fixture
async def node(cluster: Cluster, host_netns: str, tmp_path: Path) -> AsyncIterator[Node]:
    layers = tuple(busybox_layers(tmp_path / "image"))
    images = LocalImages({"busybox": PulledImage("busybox", "sha256:busybox-test", layers, {})})
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        test_node = Node(client, tmp_path / "node", images, host_netns)
        await test_node.start()

        async def registered() -> bool:
            nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
            return any(n["metadata"]["name"] == NODE for n in nodes)

        await until(registered)
        await publish_account_basics(client)
        await client.patch(resource_path("", "v1", "nodes", name=NODE),
                           {"spec": {"podCIDR": CIDR, "podCIDRs": [CIDR]}})  # fmt: skip
        try:
            yield test_node
        finally:
            uids = [p["metadata"]["uid"] for p in (await client.get(PODS))["items"]]
            await test_node.stop()
            last = test_node.make()
            try:
                await last.remove_all_pods()
                assert await last.runtime.containers() == []
                mounts = Path("/proc/self/mounts").read_text()
                assert str(test_node.data_dir) not in mounts
                for uid in uids:
                    assert not Path("/run/netns", netns_name(uid)).exists()
            finally:
                scrub_node(test_node.data_dir)  # a failed test must not leak either


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"nodeName": NODE, "containers": containers,
                     "terminationGracePeriodSeconds": 5, **spec}}  # fmt: skip


async def status_of(client: ApiClient, name: str) -> dict[str, Any]:
    return dict((await client.get(f"{PODS}/{name}")).get("status") or {})


def condition(status: dict[str, Any], kind: str) -> str:
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == kind), "")


def container(status: dict[str, Any], index: int = 0) -> dict[str, Any]:
    statuses = status.get("containerStatuses") or [{}]
    return dict(statuses[index])


async def events_of(client: ApiClient, name: str) -> list[tuple[str, str, str]]:
    events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
    return [(e["type"], e["reason"], e["message"]) for e in events
            if e["involvedObject"]["name"] == name]  # fmt: skip


def rootfs(node: Node, status: dict[str, Any]) -> Path:
    """The running container's root filesystem as the host sees it (to flip files in it)."""
    assert node.kubelet is not None
    container_id = container(status)["containerID"].removeprefix("runc://")
    return node.kubelet.runtime.container_dir(container_id) / "rootfs"


async def test_readiness_drives_the_ready_condition(cluster: Cluster, node: Node) -> None:
    client = node.client
    web = pod("web", [{
        "name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
    }])  # fmt: skip
    web["metadata"]["labels"] = {"app": "web"}
    await client.create(PODS, web)
    await client.create(resource_path("", "v1", "services", "default"), {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    })  # fmt: skip
    # The Endpoints controller, as the controller manager runs it, reads the Ready condition.
    informers = InformerFactory(client)
    endpoints = EndpointsController(informers)
    informers.start()
    controller = asyncio.create_task(endpoints.run())
    try:

        async def running() -> bool:
            return "running" in container(await status_of(client, "web")).get("state", {})

        await until(running)
        status = await status_of(client, "web")
        # Running but not ready: /ready is missing, so the probe gets a 404.
        assert condition(status, "Ready") == "False" and not container(status)["ready"]
        await until(lambda: addresses(client, "notReadyAddresses", status["podIP"]))
        (rootfs(node, status) / "www" / "ready").write_text("yes\n")

        async def ready(want: str) -> bool:
            return condition(await status_of(client, "web"), "Ready") == want

        await until(lambda: ready("True"))
        assert container(await status_of(client, "web"))["ready"] is True
        table = (await cluster.kubectl("get", "pod", "web")).splitlines()
        assert table[1].split()[1] == "1/1"
        await until(lambda: addresses(client, "addresses", status["podIP"]))

        (rootfs(node, status) / "www" / "ready").unlink()
        await until(lambda: ready("False"))
        table = (await cluster.kubectl("get", "pod", "web")).splitlines()
        assert table[1].split()[1:3] == ["0/1", "Running"]
        await until(lambda: addresses(client, "notReadyAddresses", status["podIP"]))
        assert container(await status_of(client, "web"))["restartCount"] == 0
        assert ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                "statuscode: 404") in await events_of(client, "web")  # fmt: skip
    finally:
        await cancel_and_wait(controller)
        await informers.stop()


async def addresses(client: ApiClient, kind: str, ip: str) -> bool:
    """Whether the web Service's Endpoints list `ip` (only) under `kind`."""
    try:
        found = await client.get(resource_path("", "v1", "endpoints", "default", "web"))
    except ApiStatusError:
        return False
    subsets = found.get("subsets") or [{}]
    other = "addresses" if kind == "notReadyAddresses" else "notReadyAddresses"
    listed = [a["ip"] for a in subsets[0].get(kind) or []]
    return listed == [ip] and not subsets[0].get(other)


async def test_liveness_failure_restarts_the_container(cluster: Cluster, node: Node) -> None:
    """An HTTP liveness probe whose /healthz starts failing restarts the container
    (conformance P42)."""
    client = node.client
    script = "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"
    await client.create(PODS, pod("live", [{
        "name": "web", "image": "busybox", "command": ["sh", "-c", script],
        "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http",
                                      "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                          "periodSeconds": 1, "failureThreshold": 2},
    }], terminationGracePeriodSeconds=2))  # fmt: skip

    async def running() -> bool:
        return condition(await status_of(client, "live"), "Ready") == "True"

    await until(running)
    first = container(await status_of(client, "live"))
    (rootfs(node, await status_of(client, "live")) / "www" / "healthz").unlink()

    async def restarted() -> bool:
        return container(await status_of(client, "live")).get("restartCount", 0) >= 1

    await until(restarted)
    events = await events_of(client, "live")
    assert ("Normal", "Killing", "Container web failed liveness probe, will be restarted") in events
    assert ("Warning", "Unhealthy",
            "Liveness probe failed: HTTP probe failed with statuscode: 404") in events  # fmt: skip
    again = container(await status_of(client, "live"))
    assert again["containerID"] != first["containerID"]
    # httpd ends on SIGTERM from the kill (143), and the new attempt is healthy again.
    assert again["lastState"]["terminated"]["exitCode"] in (143, 137)

    async def running_again() -> bool:
        now = container(await status_of(client, "live"))
        return "running" in now.get("state", {}) and now["ready"]

    await until(running_again)
    assert container(await status_of(client, "live"))["restartCount"] == 1
    described = await cluster.kubectl("describe", "pod", "live")
    assert "Container web failed liveness probe, will be restarted" in described
    assert (await cluster.kubectl("get", "pod", "live")).splitlines()[1].split()[3] == "1"


async def test_liveness_failures_restart_it_again_and_again(node: Node) -> None:
    """/healthz never answers: restart after restart, restartCount only grows (conformance
    P45, to 5 restarts; this node's back-off is short, so it takes seconds, not minutes)."""
    client = node.client
    script = "mkdir -p /www && exec httpd -f -p 8080 -h /www"  # no /www/healthz: 404
    await client.create(PODS, pod("relive", [{
        "name": "web", "image": "busybox", "command": ["sh", "-c", script],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1,
                          "failureThreshold": 1},
    }], terminationGracePeriodSeconds=1))  # fmt: skip
    seen: list[int] = []

    async def restarted_five_times() -> bool:
        seen.append(container(await status_of(client, "relive")).get("restartCount", 0))
        return seen[-1] >= 5

    await until(restarted_five_times, timeout=90)
    assert seen == sorted(seen), seen  # never reset, never back
    assert len(set(seen)) >= 3, seen  # watched while it grew, not only at the end
    killed = [m for _, reason, m in await events_of(client, "relive") if reason == "Killing"]
    assert killed and set(killed) == {"Container web failed liveness probe, will be restarted"}


async def test_a_startup_probe_holds_liveness_back(node: Node) -> None:
    client = node.client
    # Nothing listens for the first 3 s: a liveness probe alone would kill it at once.
    script = "sleep 3; exec httpd -f -p 8080 -h /"
    await client.create(PODS, pod("slow", [{
        "name": "app", "image": "busybox", "command": ["sh", "-c", script],
        "startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1,
                         "failureThreshold": 30},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1,
                          "failureThreshold": 1},
    }]))  # fmt: skip

    async def running() -> bool:
        return "running" in container(await status_of(client, "slow")).get("state", {})

    await until(running)
    early = container(await status_of(client, "slow"))
    assert early["started"] is False and early["ready"] is False

    async def started() -> bool:
        return container(await status_of(client, "slow")).get("started") is True

    await until(started)
    now = container(await status_of(client, "slow"))
    assert now["ready"] is True and now["restartCount"] == 0
    assert now["containerID"] == early["containerID"]
    events = await events_of(client, "slow")
    assert any(reason == "Unhealthy" and message.startswith("Startup probe failed: dial tcp ")
               and message.endswith(":8080: connect: connection refused")
               for _, reason, message in events)  # fmt: skip
    assert not any(reason == "Killing" for _, reason, _ in events)


async def test_hooks_run_around_the_container(cluster: Cluster, node: Node,
                                              tmp_path: Path) -> None:  # fmt: skip
    client = node.client
    out = tmp_path / "out"
    out.mkdir()
    script = ("trap 'echo term >> /out/order; exit 0' TERM; "
              "while true; do sleep 0.1; done")  # fmt: skip
    await client.create(PODS, pod("hooked", [{
        "name": "app", "image": "busybox", "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "out", "mountPath": "/out"}],
        "lifecycle": {
            "postStart": {"exec": {"command": ["sh", "-c", "echo poststart >> /out/order"]}},
            "preStop": {"exec": {"command": ["sh", "-c", "sleep 0.5; echo prestop >> /out/order"]}},
        },
    }], volumes=[{"name": "out", "hostPath": {"path": str(out)}}]))  # fmt: skip

    async def running() -> bool:
        return "running" in container(await status_of(client, "hooked")).get("state", {})

    await until(running)
    assert (out / "order").read_text().split() == ["poststart"]
    await cluster.kubectl("delete", "pod", "hooked", "--wait=true", "--timeout=30s")
    # preStop ran to its end before the container got SIGTERM.
    assert (out / "order").read_text().split() == ["poststart", "prestop", "term"]

    # An httpGet preStop reaches the pod's own server (busybox httpd -vv logs each url).
    web = "mkdir -p /www && echo bye > /www/bye && exec httpd -f -vv -p 8080 -h /www 2>>/out/web"
    await client.create(PODS, pod("httphook", [{
        "name": "app", "image": "busybox", "command": ["sh", "-c", web],
        "volumeMounts": [{"name": "out", "mountPath": "/out"}],
        "lifecycle": {"preStop": {"httpGet": {"path": "/bye", "port": 8080}}},
    }], volumes=[{"name": "out", "hostPath": {"path": str(out)}}],
        terminationGracePeriodSeconds=1))  # fmt: skip

    async def serving() -> bool:
        return condition(await status_of(client, "httphook"), "Ready") == "True"

    await until(serving)
    await cluster.kubectl("delete", "pod", "httphook", "--wait=true", "--timeout=30s")
    assert "url:/bye" in (out / "web").read_text()

    await client.create(PODS, pod("badhook", [{
        "name": "app", "image": "busybox", "command": ["sleep", "60"],
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo no; exit 3"]}}},
    }], restartPolicy="Never", terminationGracePeriodSeconds=1))  # fmt: skip

    async def ended() -> bool:
        return "terminated" in container(await status_of(client, "badhook")).get("state", {})

    await until(ended)
    uid = (await client.get(f"{PODS}/badhook"))["metadata"]["uid"]
    events = await events_of(client, "badhook")
    assert ("Warning", "FailedPostStartHook",
            f'Exec lifecycle hook ([sh -c echo no; exit 3]) for Container "app" in Pod '
            f'"badhook_default({uid})" failed - error: command \'sh -c echo no; exit 3\' exited '
            f'with 3: no\n, message: "no\\n"') in events  # fmt: skip
    assert ("Normal", "Killing", "FailedPostStartHook") in events
    assert (await status_of(client, "badhook"))["phase"] == "Failed"


async def test_termination_messages_and_oom(node: Node) -> None:
    """Termination messages from the file, a custom path as a user, the log's tail
    (conformance P24, P25, P26), and an OOM kill."""
    client = node.client
    await client.create(PODS, pod("ends", [
        {"name": "file", "image": "busybox",
         "command": ["sh", "-c", "echo all done > /dev/termination-log; exit 2"]},
        {"name": "custom", "image": "busybox",
         "terminationMessagePath": "/dev/termination-custom-log",
         "securityContext": {"runAsUser": 1000},
         "command": ["sh", "-c", "echo custom path > /dev/termination-custom-log"]},
        {"name": "logs", "image": "busybox", "terminationMessagePolicy": "FallbackToLogsOnError",
         "command": ["sh", "-c", "echo first; echo -n DONE; exit 1"]},
        {"name": "quiet", "image": "busybox", "terminationMessagePolicy": "FallbackToLogsOnError",
         "command": ["sh", "-c", "echo printed"]},
        {"name": "file-wins", "image": "busybox",
         "terminationMessagePolicy": "FallbackToLogsOnError",
         "command": ["sh", "-c", "echo logged; printf OK > /dev/termination-log"]},
        {"name": "hog", "image": "busybox", "resources": {"limits": {"memory": "32Mi"}},
         "command": ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]},
    ], restartPolicy="Never"))  # fmt: skip

    async def finished() -> bool:
        return (await status_of(client, "ends")).get("phase") == "Failed"

    await until(finished)
    status = await status_of(client, "ends")
    ended = {c["name"]: c["state"]["terminated"] for c in status["containerStatuses"]}
    assert (ended["file"]["exitCode"], ended["file"]["message"]) == (2, "all done\n")
    custom = ended["custom"]
    assert (custom["reason"], custom["message"]) == ("Completed", "custom path\n")
    assert ended["logs"]["message"] == "first\nDONE"  # the log's tail, as written
    assert "message" not in ended["quiet"]  # it succeeded: its log is not copied
    wins = ended["file-wins"]
    assert (wins["reason"], wins["message"]) == ("Completed", "OK")  # the file, not the log
    assert (ended["hog"]["reason"], ended["hog"]["exitCode"]) == ("OOMKilled", 137)


async def test_containers_outlive_the_kubelet(node: Node) -> None:
    client = node.client
    wait_then_exit = "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 7"
    await client.create(PODS, pod("stays", [
        {"name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD],
         "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}},
        {"name": "quits", "image": "busybox", "command": ["sh", "-c", wait_then_exit]},
    ], restartPolicy="Never"))  # fmt: skip

    async def ready() -> bool:
        return condition(await status_of(client, "stays"), "Ready") == "True"

    await until(ready)
    before = await status_of(client, "stays")
    web_before = container(before, 0)
    quits_id = container(before, 1)["containerID"].removeprefix("runc://")

    await node.stop()
    # While no kubelet runs: one container ends on its own, the other goes on.
    assert node.kubelet is not None
    runtime = node.kubelet.runtime
    (runtime.container_dir(quits_id) / "rootfs" / "tmp" / "go").write_text("")

    async def exited() -> bool:
        return runtime.exit_status(quits_id) is not None

    await until(exited)
    await node.start()

    async def reported() -> bool:
        quits = container(await status_of(client, "stays"), 1)
        return "terminated" in quits.get("state", {})

    await until(reported)
    after = await status_of(client, "stays")
    web_after, quits_after = container(after, 0), container(after, 1)
    assert web_after["containerID"] == web_before["containerID"]
    assert web_after["restartCount"] == 0
    assert web_after["state"]["running"]["startedAt"] == web_before["state"]["running"]["startedAt"]
    assert (quits_after["state"]["terminated"]["exitCode"],
            quits_after["state"]["terminated"]["reason"]) == (7, "Error")  # fmt: skip
    assert quits_after["containerID"] == f"runc://{quits_id}"

    # The new kubelet probes the adopted container too: readiness follows the page.
    (runtime.container_dir(web_after["containerID"].removeprefix("runc://")) / "rootfs" / "www"
     / "index.html").unlink()  # fmt: skip

    async def unready() -> bool:
        return not container(await status_of(client, "stays"), 0).get("ready")

    await until(unready)
    assert container(await status_of(client, "stays"), 0)["restartCount"] == 0


async def test_an_exec_probe_that_hangs_times_out_and_is_killed(node: Node) -> None:
    client = node.client
    await client.create(PODS, pod("hangs", [{
        "name": "app", "image": "busybox", "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["sleep", "30"]}, "periodSeconds": 1,
                           "timeoutSeconds": 1},
    }]))  # fmt: skip
    timed_out = ("Warning", "Unhealthy", 'Readiness probe failed: command "sleep 30" timed out')

    async def three_timeouts() -> bool:
        events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
        return any((e["type"], e["reason"], e["message"]) == timed_out and e.get("count", 1) >= 3
                   for e in events)  # fmt: skip

    await until(three_timeouts)
    status = await status_of(client, "hangs")
    assert condition(status, "Ready") == "False" and container(status)["restartCount"] == 0
    assert node.kubelet is not None
    container_id = container(status)["containerID"].removeprefix("runc://")
    listed = await run("runc", "--root", str(node.kubelet.runtime.runc_root), "ps", container_id)
    # The timed-out commands were killed: at most the one in flight is left.
    assert listed.count("sleep 30") <= 1, listed
