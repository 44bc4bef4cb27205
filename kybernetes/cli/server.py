"""`kyb server`: the composition root, in the order the components need.

store -> PKI -> API server (ready: system namespaces exist) -> admin
kubeconfig -> the components of `kybernetes.cli.components` (controller
manager, scheduler, ...: each through the API, leader-elected) -> state
file (STYLE.md habit 9). `--disable NAME` leaves a component out, to run
it as its own process instead. The store can also be
served to other processes (`--serve-store`), as the crash tests use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path

from kybernetes.apiserver.auth import Authenticator
from kybernetes.apiserver.pki import ClusterPKI, UserInfo
from kybernetes.apiserver.server import start_apiserver
from kybernetes.apiserver.tokenfile import read_token_file
from kybernetes.cli.apiprocesses import READY_TIMEOUT, ApiProcesses
from kybernetes.cli.components import (
    COMPONENTS,
    RunningComponent,
    Settings,
    describe_running,
    kubelet_unavailable,
    start_component,
)
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.cli.paths import ADMIN_KUBECONFIG, ServerState, remove_state, write_state
from kybernetes.store import Store, open_store
from kybernetes.store.remote.server import listening_url, serve_store
from kybernetes.util.addresses import split_host_port

__all__ = ["run_server"]

log = logging.getLogger("kybernetes.server")


def default_route_address(route_table: str, addresses: dict[str, str]) -> str | None:
    """The IPv4 address of the interface that holds the default route (as k3s picks
    a node's address), from /proc/net/route's text and interface -> address."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 0x2:
            return addresses.get(fields[0])
    return None


def _interface_addresses() -> dict[str, str]:
    """Interface -> its first IPv4 address (a routing-table read: no packet is sent)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=5, check=False).stdout  # fmt: skip
        for line in out.splitlines():
            fields = line.split()
            if len(fields) > 3:
                found.setdefault(fields[1], fields[3].split("/")[0])
    return found


def _node_addresses(bind: str) -> tuple[list[str], list[str]]:
    hostname = socket.gethostname()
    ips = ["127.0.0.1"]
    if bind not in ("0.0.0.0", "::", "127.0.0.1", "localhost"):
        ips.append(bind)
    with contextlib.suppress(OSError):
        ips += [str(a[4][0]) for a in socket.getaddrinfo(hostname, None, socket.AF_INET)]
    with contextlib.suppress(OSError):
        routes = Path("/proc/net/route").read_text()
        primary = default_route_address(routes, _interface_addresses())
        if primary:
            ips.insert(1, primary)  # the node's address: first after loopback
    return [hostname], list(dict.fromkeys(ips))


@dataclasses.dataclass(frozen=True)
class ServingIdentity:
    """What every API process of a server serves with."""

    pki: ClusterPKI
    tokens: dict[str, UserInfo]  # --token-auth-file's
    advertise: str  # where the `kubernetes` service points: the first non-loopback address


async def load_serving_identity(
    data_dir: Path, bind: str, token_auth_file: Path | None
) -> ServingIdentity:
    """The static tokens, the node's addresses and the PKI (made on first start)."""
    tokens = await asyncio.to_thread(read_token_file, token_auth_file) if token_auth_file else {}
    hostnames, ips = await asyncio.to_thread(_node_addresses, bind)
    pki = await asyncio.to_thread(
        ClusterPKI.load_or_create, data_dir / "pki", hostnames=hostnames, ips=ips
    )
    advertise = next((ip for ip in ips if not ip.startswith("127.")), "127.0.0.1")
    return ServingIdentity(pki, tokens, advertise)


def settle_heap() -> None:
    """What exists after start-up lives as long as the server: keep it out of
    the collector's full passes (they paused every watcher), and collect young
    objects less often: decoding a LIST of 10,000 pods made ~400k containers
    and spent most of its time in the collector (bench/run apiserver: LIST 10k
    450 -> 270 ms)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def _close_when_open(opening: asyncio.Task[Store]) -> None:
    """Close the store `opening` opens, or stop it opening (start-up failed)."""
    opening.cancel()
    with contextlib.suppress(BaseException):
        store = await opening
        await store.close()


async def run_server(
    *,
    data_dir: Path,
    store_url: str,
    bind: str,
    port: int,
    serve_store_at: str = "",
    api_processes: int = 1,
    token_auth_file: Path | None = None,
    disable: frozenset[str] = frozenset(),
    settings: Settings | None = None,
) -> None:
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # The store opens (the SQLite writer's process starts) while the rest is read.
    opening = asyncio.create_task(open_store(store_url))
    try:
        identity = await load_serving_identity(data_dir, bind, token_auth_file)
    except BaseException:
        await _close_when_open(opening)
        raise
    store = await opening
    store_runner = None
    components: list[RunningComponent] = []
    # The other API processes start beside ours (their imports and watch caches
    # take ~0.45 s) and listen once ours does, told its port.
    others = None
    if api_processes > 1:
        others = ApiProcesses(store, store_url=store_url, count=api_processes,
                              data_dir=data_dir, bind=bind,
                              token_auth_file=token_auth_file)  # fmt: skip
        others.start()
    try:
        pki, advertise = identity.pki, identity.advertise
        api = await start_apiserver(
            store=store, pki=pki, host=bind, port=port, advertise_address=advertise,
            authenticator=Authenticator(identity.tokens), shared=api_processes > 1,
        )  # fmt: skip
        try:
            if others is not None:
                api.runner.ctx.checks.append(("api-processes", others.not_ready))
                others.listen(int(api.url.rsplit(":", 1)[1]))
            store_endpoint = ""
            if serve_store_at:
                host, store_port = split_host_port(serve_store_at)
                store_runner = await serve_store(store, host, store_port)
                store_endpoint = listening_url(store_runner).replace("http://", "kyb://")
            local = f"https://127.0.0.1:{api.url.rsplit(':', 1)[1]}"
            await asyncio.to_thread(
                write_admin_kubeconfig,
                data_dir / ADMIN_KUBECONFIG,
                server=local,
                ca_pem=pki.ca_pem,
                client_cert_pem=pki.admin_cert_pem,
                client_key_pem=pki.admin_key_pem,
            )
            state = ServerState(os.getpid(), store_url, local, store_endpoint,
                                api_processes=api_processes)  # fmt: skip
            settle_heap()
            settings = dataclasses.replace(
                settings or Settings(data_dir=data_dir),
                data_dir=data_dir,
                node_ip=(settings.node_ip if settings and settings.node_ip else advertise),
            )
            no_node = "kubelet" in disable or not COMPONENTS["kubelet"].in_server(settings)
            for name, component in COMPONENTS.items():
                if name in disable:
                    state.components[name] = "Disabled (--disable; it may run on its own)"
                    continue
                if component.node_level and no_node:
                    state.components[name] = "Stopped (it runs beside a local node)"
                    continue
                if not component.in_server(settings):
                    if name in ("dns", "ingress"):
                        state.components[name] = "Stopped (its port is below 1024: needs root)"
                    if name == "kubelet":
                        reason = kubelet_unavailable()
                        log.warning("no local node: the kubelet %s", reason)
                        state.components[name] = f"Stopped (no local node: the kubelet {reason})"
                    continue
                components.append(start_component(component, data_dir / ADMIN_KUBECONFIG, settings))
                state.components[name] = describe_running(name, settings)
            # `kyb start` says "Ready" once the state is written: every API process serves.
            if others is not None:
                try:
                    async with asyncio.timeout(READY_TIMEOUT):
                        await others.wait_ready()
                except TimeoutError:
                    log.warning("%s after %.0f s", others.not_ready(), READY_TIMEOUT)
            write_state(data_dir, state)
            log.info("ready: API at %s, store %s", local, store_url)
            await stop.wait()
            log.info("stopping")
        finally:
            remove_state(data_dir)
            for running in reversed(components):
                await running.stop()
            await api.stop()
            if store_runner is not None:
                await store_runner.cleanup()
    finally:
        if others is not None:
            await others.stop()
        await store.close()
