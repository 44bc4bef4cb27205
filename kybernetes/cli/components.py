"""Cluster components as tasks: inside `kyb server`, or alone as their own process.

Every component is a client of the API like any other (STYLE.md habit 9):
it needs only a kubeconfig and its settings. `kyb server` runs them beside
the API server through the admin kubeconfig, in this order: controller
manager, scheduler, the local node (kubelet) with its service proxy,
cluster DNS and ingress, simulated nodes; `kyb controller-manager`, `kyb
scheduler`, `kyb agent`, `kyb proxy`, `kyb dns`, `kyb ingress` and `kyb sim`
run one of them in a process of their own against any cluster. Both go
through `COMPONENTS`, one entry per component.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from kybernetes.client.rest import ApiClient

# Each component imports its package when it runs, not when `kyb` starts: a
# `kyb status` or `kyb start` should not pay for importing the whole cluster
# (asyncio included: `kyb start` launches the server ~40 ms sooner without it).

__all__ = [
    "COMPONENTS",
    "Component",
    "RunningComponent",
    "Settings",
    "describe_running",
    "kubelet_runtime",
    "kubelet_unavailable",
    "run_alone",
    "start_component",
]

log = logging.getLogger("kybernetes.components")

CLUSTER_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class Settings:
    """What components need beyond a client (flags of kyb server / agent / sim)."""

    data_dir: Path
    node_name: str = ""
    node_ip: str = "127.0.0.1"
    node_netns: str = ""  # the node's pods live behind this namespace (tests)
    runtime: str = ""  # the kubelet's container runtime ("": runc when possible, else process)
    kubelet_listen: tuple[str, int] = ("0.0.0.0", 10250)
    insecure_registries: tuple[str, ...] = ()
    dns_port: int = 53  # on the node's address; the service proxy sends 10.96.0.10:53 there
    ingress_http: tuple[str, int] = ("0.0.0.0", 80)
    ingress_https: tuple[str, int] = ("0.0.0.0", 443)
    simulated_nodes: int = 0
    simulated_prefix: str = "sim-"
    control_plane: bool = True


Runner = Callable[["ApiClient", Settings], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Component:
    name: str  # in `kyb server --disable NAME` and in logs
    command: str  # `kyb COMMAND` runs it alone
    help: str
    run: Runner
    in_server: Callable[[Settings], bool] = lambda settings: True
    # Runs on a node beside its kubelet (ingress, service proxy, DNS): not without one.
    node_level: bool = False


def kubelet_unavailable() -> str:
    """Why this machine cannot run real containers ("" when it can)."""
    if os.geteuid() != 0:
        return "runs real containers only as root (runc, network namespaces)"
    if shutil.which("runc") is None:
        return "needs runc (apt install runc, or run scripts/setup.sh)"
    return ""


def kubelet_runtime(settings: Settings) -> str:
    """The runtime the kubelet runs: the one asked for, else runc when possible, else process."""
    if settings.runtime:
        return settings.runtime
    return "process" if kubelet_unavailable() else "runc"


def userspace_proxy_reason(settings: Settings) -> str:
    """Why the service proxy runs in userspace mode here ("" for nftables).

    The process runtime's pods are host processes with no pod network (no
    bridge to route the service range to), so its node gets the userspace
    proxy even where nftables would work.
    """
    from kybernetes.proxy.host import proxy_unavailable

    if kubelet_runtime(settings) == "process":
        return "the node runs the process runtime: no pod network for kernel rules"
    return proxy_unavailable()


def describe_running(name: str, settings: Settings) -> str:
    """What `kyb status` says about a running component."""
    if name == "kubelet":
        node = settings.node_name or socket.gethostname().lower()
        if kubelet_runtime(settings) == "process":
            return (f"Running (node {node}, runtime process: each container's command as a "
                    "plain process on this host, no image, no isolation)")  # fmt: skip
        return f"Running (node {node}, runtime runc: real containers)"
    if name == "proxy":
        if userspace_proxy_reason(settings):
            return (
                "Running (userspace mode: this process relays connections; "
                "client addresses are not kept)"
            )
        return "Running (nftables: the kernel forwards Service traffic)"
    if name == "dns":
        return f"Running ({settings.node_ip}:{settings.dns_port}, the kube-dns endpoint)"
    if name == "ingress":
        http, https = settings.ingress_http, settings.ingress_https
        return f"Running (HTTP on {http[0]}:{http[1]}, HTTPS on {https[0]}:{https[1]})"
    if name == "simulated-nodes":
        return f"Running ({settings.simulated_nodes} simulated nodes: pods only in the API)"
    return "Running"


async def _controller_manager(client: ApiClient, settings: Settings) -> None:
    from kybernetes.controllers.csrsigning import SigningCA
    from kybernetes.controllers.manager import run_controller_manager

    # The CSR signer runs where the cluster CA's key is (kyb server's data dir).
    pki = settings.data_dir / "pki"
    signing = SigningCA.load(pki) if (pki / "ca.key").is_file() else None
    await run_controller_manager(client, signing=signing)


async def _scheduler(client: ApiClient, settings: Settings) -> None:
    from kybernetes.client.factory import InformerFactory
    from kybernetes.scheduler.scheduler import run_scheduler

    await run_scheduler(InformerFactory(client))


async def _kubelet(client: ApiClient, settings: Settings) -> None:
    import asyncio

    import aiohttp

    from kybernetes.node.images import ImageStore
    from kybernetes.node.kubelet.images import RegistryImages
    from kybernetes.node.kubelet.kubelet import Kubelet

    runtime = kubelet_runtime(settings)
    reason = kubelet_unavailable()
    if reason and runtime == "runc":
        raise RuntimeError(f"the kubelet {reason}")
    node_dir = settings.data_dir / "node"
    store = await asyncio.to_thread(ImageStore, node_dir / "images")
    async with aiohttp.ClientSession() as session:
        images = RegistryImages(store, session, insecure_registries=settings.insecure_registries)
        kubelet = Kubelet(client, node_name=settings.node_name or socket.gethostname().lower(),
                          data_dir=node_dir, host_ip=settings.node_ip, images=images,
                          host_netns=settings.node_netns or None,
                          control_plane=settings.control_plane,
                          listen=settings.kubelet_listen, runtime=runtime)  # fmt: skip
        await kubelet.run()


async def _proxy(client: ApiClient, settings: Settings) -> None:
    import asyncio

    from kybernetes.proxy.host import remove_rules
    from kybernetes.proxy.proxier import run_proxy
    from kybernetes.proxy.userspace import run_userspace_proxy

    node = settings.node_name or socket.gethostname().lower()
    if userspace_proxy_reason(settings):
        await run_userspace_proxy(client, node_name=node, node_ips=[settings.node_ip])
        return
    netns = settings.node_netns or None
    try:
        await run_proxy(client, node_name=node, node_ips=[settings.node_ip], host_netns=netns,
                        cluster_cidr=CLUSTER_CIDR)  # fmt: skip
    finally:
        # Rules go with the proxy (`kyb stop`); a restart loads them again.
        await asyncio.shield(remove_rules(netns))


async def _dns(client: ApiClient, settings: Settings) -> None:
    from kybernetes.dns.run import run_dns

    await run_dns(client, listen=(settings.node_ip, settings.dns_port))


async def _ingress(client: ApiClient, settings: Settings) -> None:
    from kybernetes.ingress.controller import run_ingress

    await run_ingress(client, http=settings.ingress_http, https=settings.ingress_https,
                      address=settings.node_ip)  # fmt: skip


async def _simulated(client: ApiClient, settings: Settings) -> None:
    from kybernetes.simnode.runner import run_simulated_nodes

    await run_simulated_nodes(client, count=settings.simulated_nodes,
                              prefix=settings.simulated_prefix)  # fmt: skip


def _may_bind(*ports: int) -> bool:
    """Ports below 1024 need root; without it the component would only fail."""
    return os.geteuid() == 0 or all(port == 0 or port >= 1024 for port in ports)


# One entry per component, in start order.
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("controller-manager", "controller-manager",
                  "run the controllers (leader-elected)", _controller_manager),
        Component("scheduler", "scheduler", "place pending pods on nodes (leader-elected)",
                  _scheduler),
        Component("kubelet", "agent", "run this machine as a node: real containers with runc "
                  "(root), else plain host processes (--runtime process)", _kubelet,
                  in_server=lambda settings: kubelet_runtime(settings) == "process"
                  or not kubelet_unavailable()),
        Component("proxy", "proxy", "the service proxy: Services' virtual IPs (nftables)",
                  _proxy, node_level=True),
        Component("dns", "dns", "cluster DNS for the kube-dns service (10.96.0.10)", _dns,
                  node_level=True, in_server=lambda s: _may_bind(s.dns_port)),
        Component("ingress", "ingress", "serve Ingresses of class kybernetes on ports 80/443",
                  _ingress, node_level=True,
                  in_server=lambda s: _may_bind(s.ingress_http[1], s.ingress_https[1])),
        Component("simulated-nodes", "sim", "add simulated nodes (pods only in the API, as KWOK)",
                  _simulated, in_server=lambda settings: settings.simulated_nodes > 0),
    )
}  # fmt: skip


@dataclass
class RunningComponent:
    name: str
    task: asyncio.Task[None]
    client: ApiClient

    async def stop(self) -> None:
        from kybernetes.util.tasks import cancel_and_wait

        await cancel_and_wait(self.task)
        await self.client.close()


def start_component(component: Component, kubeconfig: Path, settings: Settings) -> RunningComponent:
    """Run `component` as a supervised task; an unexpected end is logged loudly."""
    import asyncio

    from kybernetes.client.rest import ApiClient

    client = ApiClient.from_kubeconfig(kubeconfig)
    task = asyncio.create_task(component.run(client, settings), name=f"kyb-{component.name}")

    def report_end(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("the %s stopped", component.name, exc_info=done.exception())

    task.add_done_callback(report_end)
    return RunningComponent(component.name, task, client)


async def run_alone(component: Component, kubeconfig: Path, settings: Settings) -> None:
    """One component in this process until SIGTERM/SIGINT or until it fails."""
    import asyncio

    from kybernetes.util.tasks import cancel_and_wait

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = start_component(component, kubeconfig, settings)
    log.info("%s running against %s", component.name, kubeconfig)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([running.task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(waiter)
        failed = running.task.done() and not running.task.cancelled()
        error = running.task.exception() if failed else None
        await running.stop()
    if error is not None:
        raise error
