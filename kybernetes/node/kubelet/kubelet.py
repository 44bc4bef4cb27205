"""The kubelet: this node's Node and Lease, and one worker per pod bound here.

It joins like any client, through the API over HTTPS (STYLE.md habit 9):
registers its Node (created, or brought up to date after a restart),
renews its Lease in `kube-node-lease` every 10 s, reports the node's
conditions, waits for the node IPAM controller to give it a podCIDR, and
then runs every pod whose `spec.nodeName` is this node, each in its own
supervised task (`PodWorker` does the work). A pod being deleted is
stopped within its grace period, cleaned up, and then deleted for good
(`gracePeriodSeconds=0`), as a kubelet finishes a graceful delete.

Pods found on disk at start (a restarted kubelet) are picked up again
without restarting their containers; pods on disk that the API no longer
has are cleaned up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kybernetes.api.noderesources import merged_resources
from kybernetes.api.qos import qos_class
from kybernetes.client.events import EventRecorder
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.node.kubelet.admission import admission_refusal
from kybernetes.node.kubelet.machine import node_conditions, node_object, read_machine
from kybernetes.node.kubelet.podworker import ImageService, PodWorker
from kybernetes.node.kubelet.resourcemetrics import ResourceMetrics, running_containers
from kybernetes.node.kubelet.restarts import CrashLoopBackoff
from kybernetes.node.kubelet.server import (
    KubeletServer,
    LogSource,
    StreamLocator,
    serving_certificate,
)
from kybernetes.node.kubelet.streams import ContainerTarget, PodTarget
from kybernetes.node.network.hostnet import HostNetwork
from kybernetes.node.network.hostports import HostPorts, host_port_mappings
from kybernetes.node.network.podnet import NETNS_DIR, PodNetwork, netns_name
from kybernetes.node.network.routes import apply_routes, wanted_routes
from kybernetes.node.runtime.registry import RUNTIMES
from kybernetes.util.commands import CommandError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["Kubelet"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LEASE_SECONDS = 40
RENEW_EVERY = 10.0
STATUS_EVERY = 60.0
BUSY_RESYNC = 0.5  # a pod with containers coming up is looked at this often
STEADY_RESYNC = 10.0
KUBELET_PORT = 10250
RUNTIME_LABEL = "kybernetes.io/runtime"  # which runtime runs this node's pods


def _utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Kubelet:
    def __init__(
        self,
        client: ApiClient,
        *,
        node_name: str,
        data_dir: Path,
        host_ip: str,
        images: ImageService,
        host_netns: str | None = None,
        control_plane: bool = False,
        renew_every: float = RENEW_EVERY,
        backoff: CrashLoopBackoff | None = None,
        listen: tuple[str, int] = ("0.0.0.0", KUBELET_PORT),
        now: Callable[[], datetime.datetime] = _utc,
        runtime: str = "runc",
    ) -> None:
        self._client = client
        self.node_name = node_name
        self.data_dir = data_dir
        self.host_ip = host_ip
        self._images = images
        self._host_netns = host_netns
        self._control_plane = control_plane
        self._renew_every = renew_every
        self._now = now
        self.runtime = RUNTIMES[runtime](data_dir / "runtime")
        self.events = EventRecorder(client, "kubelet", host=node_name)
        self.backoff = backoff or CrashLoopBackoff()
        self.nodes = Informer(client, resource_path("", "v1", "nodes"))
        self.services = Informer(client, resource_path("", "v1", "services"))
        self.pods = Informer(client, resource_path("", "v1", "pods"),
                             field_selector=f"spec.nodeName={node_name}")  # fmt: skip
        self.network: PodNetwork | HostNetwork | None = None
        self.host_ports: HostPorts | None = None  # with a pod network: hostPort forwarding
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._admitted: dict[str, Obj] = {}  # uid -> pod: those this node runs or will run
        self._wake: dict[str, asyncio.Event] = {}
        self._runtime_version = ""
        self._listen = listen
        self.server: KubeletServer | None = None
        self._node: Obj = {}  # the Node as last written (labels, allocatable)

    # -- the node -----------------------------------------------------------------

    async def _machine_node(self) -> Obj:
        machine = await asyncio.to_thread(read_machine, self.data_dir, (self.host_ip,),
                                          self.node_name)  # fmt: skip
        port = self.server.port if self.server else KUBELET_PORT
        node = node_object(self.node_name, machine, runtime_version=self._runtime_version,
                           now=self._now(), control_plane=self._control_plane,
                           kubelet_port=port)  # fmt: skip
        node["metadata"].setdefault("labels", {})[RUNTIME_LABEL] = self.runtime.name
        return node

    async def register(self) -> Obj:
        """Create the Node, or update the one a previous run registered."""
        wanted = await self._machine_node()
        path = resource_path("", "v1", "nodes", name=self.node_name)
        try:
            existing = await self._client.get(path)
        except ApiStatusError as err:
            if err.code != 404:
                raise
            created: Obj = await self._client.create(resource_path("", "v1", "nodes"), wanted)
            self._node = created
            log.info("registered node %s", self.node_name)
            self.events.record(created, "Normal", "RegisteredNode",
                               f"Node {self.node_name} event: Registered Node {self.node_name} "
                               "in Controller")  # fmt: skip
            return created
        labels = {**(existing["metadata"].get("labels") or {}), **wanted["metadata"]["labels"]}
        meta = {**existing["metadata"], "labels": labels}
        updated: Obj = await self._client.update(path, {**existing, "metadata": meta})
        return await self._write_node_status(updated)

    async def _write_node_status(self, node: Obj) -> Obj:
        machine = await asyncio.to_thread(read_machine, self.data_dir, (self.host_ip,),
                                          self.node_name)  # fmt: skip
        port = self.server.port if self.server else KUBELET_PORT
        fresh = node_object(self.node_name, machine, runtime_version=self._runtime_version,
                            now=self._now(), control_plane=self._control_plane,
                            kubelet_port=port)  # fmt: skip
        previous = (node.get("status") or {}).get("conditions")
        conditions = node_conditions(machine, ready=True, now=self._now(), previous=previous)
        own = fresh["status"]
        capacity, allocatable = merged_resources(node.get("status") or {},
                                                 capacity=own["capacity"],
                                                 allocatable=own["allocatable"])  # fmt: skip
        status = {**fresh["status"], "conditions": conditions, "capacity": capacity,
                  "allocatable": allocatable}  # fmt: skip
        path = resource_path("", "v1", "nodes", name=self.node_name, sub="status")
        written: Obj = await self._client.update(path, {**node, "status": status})
        self._node = written
        return written

    async def _renew_lease(self) -> None:
        path = resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease",
                             self.node_name)  # fmt: skip
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": self._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")}  # fmt: skip
        try:
            lease = await self._client.get(path)
        except ApiStatusError as err:
            if err.code != 404:
                raise
            node = await self._client.get(resource_path("", "v1", "nodes", name=self.node_name))
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                     "uid": node["metadata"]["uid"]}  # fmt: skip
            await self._client.create(
                resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease"),
                {"metadata": {"name": self.node_name, "ownerReferences": [owner]}, "spec": spec},
            )
            return
        await self._client.update(path, {**lease, "spec": {**lease.get("spec", {}), **spec}})

    async def _heartbeat(self) -> None:
        """Lease every `renew_every`, node status every minute, until cancelled."""
        loop = asyncio.get_running_loop()
        last_status = loop.time()
        while True:
            try:
                await self._renew_lease()
                if loop.time() - last_status >= STATUS_EVERY:
                    node = await self._client.get(
                        resource_path("", "v1", "nodes", name=self.node_name)
                    )
                    await self._write_node_status(node)
                    last_status = loop.time()
            except (ApiStatusError, OSError) as err:
                log.warning("node %s: heartbeat failed: %s", self.node_name, err)
            await asyncio.sleep(self._renew_every)

    async def _wait_for_pod_cidr(self) -> str:
        path = resource_path("", "v1", "nodes", name=self.node_name)
        waited = False
        while True:
            cidr = str(((await self._client.get(path)).get("spec") or {}).get("podCIDR") or "")
            if cidr:
                return cidr
            if not waited:
                log.info("node %s: waiting for the node IPAM controller to assign spec.podCIDR",
                         self.node_name)  # fmt: skip
                waited = True
            await asyncio.sleep(0.2)

    # -- running ------------------------------------------------------------------

    async def run(self) -> None:
        """Register, heartbeat and run pods until cancelled."""
        self._runtime_version = f"{self.runtime.name}://{await self.runtime.version()}"
        await self._serve()
        await self.register()
        heartbeat = asyncio.create_task(self._heartbeat(), name="kyb-kubelet-heartbeat")
        writer = asyncio.create_task(self.events.run(), name="kyb-kubelet-events")
        try:
            if self.runtime.isolated:
                cidr = await self._wait_for_pod_cidr()
                self.network = PodNetwork(cidr=cidr, state_dir=self.data_dir / "network",
                                          host_netns=self._host_netns)  # fmt: skip
                self.host_ports = HostPorts(bridge=self.network.bridge,
                                            host_netns=self._host_netns)  # fmt: skip
            else:  # no namespaces to put a pod in: every pod on the host's network
                self.network = HostNetwork(self.host_ip)
            await self.network.ensure_bridge()
            self.pods.on_add(self._pod_event)
            self.pods.on_update(lambda old, new: self._pod_event(new))
            self.pods.on_delete(self._pod_deleted)
            # Services first: a container's environment names them (FOO_SERVICE_HOST);
            # this Node too: admission reads its labels and taints as they are now.
            self.services.start()
            self.nodes.start()
            await self.services.synced.wait()
            await self.nodes.synced.wait()
            self.pods.start()
            await self.pods.synced.wait()
            await self._collect_orphans()
            if self.runtime.isolated:
                await self._route_to_other_nodes()  # until cancelled
            await asyncio.Event().wait()
        finally:
            await self.pods.stop()
            await self.services.stop()
            await self.nodes.stop()
            for task in list(self._workers.values()):
                await cancel_and_wait(task)
            await cancel_and_wait(heartbeat)
            await cancel_and_wait(writer)
            if self.server is not None:
                await self.server.stop()
            if self.network is not None:
                await self.network.close()
            await self.runtime.close()

    async def _route_to_other_nodes(self) -> None:
        """host-gw: keep a route to every other real node's podCIDR via its address."""
        changed = asyncio.Event()
        self.nodes.on_add(lambda _: changed.set())
        self.nodes.on_update(lambda _old, _new: changed.set())
        self.nodes.on_delete(lambda _: changed.set())
        changed.set()
        while True:
            await changed.wait()
            changed.clear()
            wanted = wanted_routes(self.nodes.items.values(), self_name=self.node_name)
            try:
                await apply_routes(wanted, self._host_netns)
            except CommandError as err:
                log.warning("node %s: routes to other nodes' pods: %s", self.node_name, err)
            await asyncio.sleep(1.0)  # a burst of node updates is one pass

    async def _serve(self) -> None:
        """The kubelet API (logs), with a self-signed certificate, for the API server."""
        cert, key = await asyncio.to_thread(serving_certificate, self.data_dir / "pki",
                                            self.node_name, [self.host_ip])  # fmt: skip
        self.server = KubeletServer(locate=self._log_source, client_ca_pem=self._client.ca_pem,
                                    cert=cert, key=key,
                                    streams=StreamLocator(self._stream_pod,
                                                          self._stream_container),
                                    metrics=self._resource_metrics())  # fmt: skip
        await self.server.start(*self._listen)

    def _resource_metrics(self) -> ResourceMetrics:
        """/metrics/resource: the node, and each running container's cgroup (runc only)."""

        def exited(container_id: str) -> bool:
            return self.runtime.exit_status(container_id) is not None

        containers = functools.partial(running_containers, exited=exited,
                                       pods_dir=self.data_dir / "kubelet" / "pods")  # fmt: skip
        return ResourceMetrics(lambda: list(self.pods.items.values()),
                               containers if self.runtime.isolated else None)  # fmt: skip

    def _log_source(self, namespace: str, name: str, container: str,
                    previous: bool) -> LogSource | None:  # fmt: skip
        pod = self.pods.get(f"{namespace}/{name}")
        if pod is None:
            return None
        record = self._worker(str(pod["metadata"]["uid"])).record
        attempts = record.attempts.get(container) or []
        index = -2 if previous else -1
        if len(attempts) < -index:
            return None
        container_id = attempts[index].container_id
        return LogSource(
            self.runtime.log_path(container_id),
            lambda: self.runtime.exit_status(container_id) is not None,
        )

    def _stream_pod(self, namespace: str, name: str) -> PodTarget | None:
        pod = self.pods.get(f"{namespace}/{name}")
        if pod is None:
            return None
        uid = str(pod["metadata"]["uid"])
        if isinstance(self.network, HostNetwork) or (pod.get("spec") or {}).get("hostNetwork"):
            return PodTarget(name, uid, "")  # the host's network: dialled from here
        return PodTarget(name, uid, str(NETNS_DIR / netns_name(uid)))

    async def _stream_container(self, namespace: str, name: str,
                                container: str) -> ContainerTarget | None:  # fmt: skip
        """The container's current run, if runc says it is running (exec, attach)."""
        pod = self.pods.get(f"{namespace}/{name}")
        pod_spec = (pod or {}).get("spec") or {}
        # kubectl debug -it attaches to an ephemeral container as to any other.
        every = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or []),
                 *(pod_spec.get("ephemeralContainers") or [])]  # fmt: skip
        spec = next((c for c in every if c.get("name") == container), None)
        if pod is None or spec is None:
            return None
        attempts = self._worker(str(pod["metadata"]["uid"])).record.attempts.get(container)
        if not attempts:
            return None
        container_id = attempts[-1].container_id
        state = await self.runtime.state(container_id)
        if (state or {}).get("status") != "running":
            return None
        return ContainerTarget(
            container_id,
            self.runtime.runc_root,
            self.runtime.log_path(container_id),
            spec,
            lambda: self.runtime.exit_status(container_id) is not None,
            self.runtime.exec_argv,
        )

    def _pod_deleted(self, pod: Obj) -> None:
        # Gone from the API: admission stops counting it at once, as kube's pod
        # manager forgets it, before any later event (a pod created next) is handled;
        # its worker, which may be busy, notices later and stops what still runs.
        self._admitted.pop(str(pod["metadata"].get("uid", "")), None)
        self._pod_event(pod)

    def _pod_event(self, pod: Obj) -> None:
        uid = str(pod["metadata"].get("uid", ""))
        if uid in self._wake:
            self._wake[uid].set()
            return
        self._wake[uid] = asyncio.Event()
        self._workers[uid] = asyncio.create_task(self._work(uid, pod), name=f"kyb-pod-{uid}")

    async def _collect_orphans(self) -> None:
        """Pods on disk that the API no longer lists: clean them up."""
        known = {str(p["metadata"].get("uid")) for p in self.pods.items.values()}
        pods_dir = self.data_dir / "kubelet" / "pods"
        on_disk = await asyncio.to_thread(
            lambda: [p.name for p in pods_dir.iterdir()] if pods_dir.is_dir() else []
        )
        for uid in on_disk:
            if uid not in known:
                log.info("node %s: cleaning up pod %s, gone from the API", self.node_name, uid)
                await self._worker(uid).cleanup()

    async def remove_all_pods(self) -> None:
        """Kill and remove every pod this node has on disk (`kyb delete`, tests).

        Containers outlive a stopped kubelet on purpose; this is the one way to
        take them down with nothing left behind.
        """
        pods_dir = self.data_dir / "kubelet" / "pods"
        if self.network is None and not self.runtime.isolated:
            self.network = HostNetwork(self.host_ip)
        if self.network is None:
            node = await self._client.get(resource_path("", "v1", "nodes", name=self.node_name))
            cidr = str((node.get("spec") or {}).get("podCIDR") or "")
            if not cidr:
                return  # no network was ever set up: no pod can have started
            self.network = PodNetwork(cidr=cidr, state_dir=self.data_dir / "network",
                                      host_netns=self._host_netns)  # fmt: skip
        uids = await asyncio.to_thread(
            lambda: [p.name for p in pods_dir.iterdir()] if pods_dir.is_dir() else []
        )
        for uid in uids:
            worker = self._worker(uid)
            await worker.kill_all()
            await worker.cleanup()
        if isinstance(self.network, PodNetwork):
            await HostPorts(bridge=self.network.bridge, host_netns=self._host_netns).clear()

    def _worker(self, uid: str) -> PodWorker:
        assert self.network is not None
        return PodWorker(uid=uid, state_dir=self.data_dir / "kubelet" / "pods" / uid,
                         runtime=self.runtime, network=self.network, images=self._images,
                         client=self._client, events=self.events, host_ip=self.host_ip,
                         backoff=self.backoff, allocatable=self._node_allocatable,
                         services=lambda: list(self.services.items.values()))  # fmt: skip

    def _current(self, uid: str, last: Obj) -> Obj | None:
        """The pod as the cache has it now; None once deleted from the API."""
        meta = last["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        pod = self.pods.get(key)
        if pod is None or str(pod["metadata"].get("uid")) != uid:
            return None
        return pod

    def _node_allocatable(self) -> dict[str, str]:
        return dict((self._node.get("status") or {}).get("allocatable") or {})

    def _admit(self, uid: str, pod: Obj, worker: PodWorker) -> tuple[str, str] | None:
        """The kubelet's admission (admission.py) of a pod new to this node; one it
        has started before (a restarted kubelet adopting it) is not asked again."""
        if worker.record.start_time:
            refusal = None
        else:
            others = [p for other, p in self._admitted.items() if other != uid]
            # The watched Node (a label or taint added a moment ago counts), else the
            # one last written here.
            node = self.nodes.get(self.node_name) or self._node
            refusal = admission_refusal(pod, others, node)
        if refusal is None:
            self._admitted[uid] = pod
        return refusal

    async def _reject(self, pod: Obj, reason: str, message: str) -> None:
        """A refused pod fails without starting, as the kubelet's rejectPod leaves it."""
        self.events.record(pod, "Warning", reason, message)
        status = {"phase": "Failed", "reason": reason, "message": f"Pod was rejected: {message}",
                  "qosClass": qos_class(pod.get("spec") or {})}  # fmt: skip
        await self._write_status(pod, status)

    async def _work(self, uid: str, first: Obj) -> None:
        """The life of one pod on this node."""
        worker = self._worker(uid)
        wake = self._wake[uid]
        worker.notify = wake.set  # a probe result changed: look at the pod again
        pod: Obj | None = first
        last = first
        refusal = self._admit(uid, first, worker)
        try:
            while True:
                pod = self._current(uid, last)
                if pod is None or pod["metadata"].get("deletionTimestamp"):
                    if pod is None:
                        # Gone from the API (a forced delete): no longer counted by
                        # admission, as kube's pod manager forgets it, though its
                        # containers are still being stopped.
                        self._admitted.pop(uid, None)
                    await self._finish(worker, pod or last, gone=pod is None)
                    return
                last = pod
                if refusal is not None:  # never started: waits to be deleted
                    if (pod.get("status") or {}).get("phase") != "Failed":
                        await self._reject(pod, *refusal)
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), STEADY_RESYNC)
                    continue
                try:
                    status = await worker.sync(pod)
                    await self._write_status(pod, status)
                    await self._forward_host_ports(uid, pod, status)
                    if status.get("phase") in ("Succeeded", "Failed"):
                        self._admitted.pop(uid, None)  # holds no port any more
                except asyncio.CancelledError:
                    raise
                except Exception:  # one pod's trouble never stops the node
                    log.exception("node %s: syncing pod %s failed", self.node_name, uid)
                    status = {}
                steady = status.get("phase") in ("Running", "Succeeded", "Failed") and all(
                    "running" in c.get("state", {}) or "terminated" in c.get("state", {})
                    for c in status.get("containerStatuses") or [])  # fmt: skip
                wake.clear()
                resync = STEADY_RESYNC if steady else BUSY_RESYNC
                left = worker.deadline_left(pod)
                if left is not None:  # look again when activeDeadlineSeconds runs out
                    resync = min(resync, max(left, BUSY_RESYNC))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), resync)
        finally:
            await worker.close()
            self._workers.pop(uid, None)
            self._wake.pop(uid, None)
            self._admitted.pop(uid, None)

    async def _forward_host_ports(self, uid: str, pod: Obj, status: Obj) -> None:
        """The pod's hostPorts forwarded while it runs (hostports.py)."""
        if self.host_ports is None:
            return
        running = status.get("phase") not in ("Succeeded", "Failed")
        ip = str(status.get("podIP") or "") if running else ""
        await self.host_ports.set_pod(uid, host_port_mappings(pod, ip))

    async def _finish(self, worker: PodWorker, pod: Obj, *, gone: bool) -> None:
        """Stop the pod within its grace period, clean up, then delete it for good."""
        spec_grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or spec_grace or 30)
        if self.host_ports is not None:
            await self.host_ports.set_pod(str(pod["metadata"].get("uid", "")), ())
        status = await worker.terminate(pod, grace)
        if not gone:
            await self._write_status(pod, status)
        await worker.cleanup()
        if gone:
            return
        meta = pod["metadata"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
        try:
            await self._client.delete(path, {"gracePeriodSeconds": 0,
                                             "preconditions": {"uid": meta["uid"]}})  # fmt: skip
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        old = pod.get("status") or {}
        if old == {**old, **status}:
            return
        meta = pod["metadata"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"], "status")
        merged = {**old, **status}
        try:
            await self._client.update(path, {**pod, "status": merged})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise  # 409: the next look writes it again from the fresh pod
