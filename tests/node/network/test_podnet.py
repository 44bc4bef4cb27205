"""Pods get namespaces, addresses and a bridge, inside an isolated test host."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kybernetes.node.network.podnet import PodNetwork, netns_name, veth_name

pytestmark = pytest.mark.root

SERVE = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(); print("listening", flush=True)
c, peer = s.accept(); c.sendall(("hello " + peer[0]).encode()); c.close()
"""
CONNECT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5); print(c.recv(100).decode())
"""


def in_netns(name: str, code: str, *args: str) -> list[str]:
    return in_netns_path(f"/run/netns/{name}", code, *args)


def in_netns_path(path: str, code: str, *args: str) -> list[str]:
    return ["nsenter", f"--net={path}", sys.executable, "-c", code, *args]


async def sh(*argv: str) -> str:
    """Run a command off the loop; its stdout (it must succeed)."""
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   timeout=20)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_two_pods_reach_each_other_and_leave_nothing_behind(
    host_netns: str, tmp_path: Path
) -> None:
    network = PodNetwork(cidr="10.244.7.0/24", state_dir=tmp_path, host_netns=host_netns)
    await network.ensure_bridge()
    await network.ensure_bridge()  # idempotent
    a = await network.setup("pod-a")
    b = await network.setup("pod-b")
    try:
        assert (a.ip, b.ip, a.gateway, a.prefix) == ("10.244.7.2", "10.244.7.3", "10.244.7.1", 24)
        assert a.netns_path == f"/run/netns/{netns_name('pod-a')}"
        assert await network.setup("pod-a") == a  # adopted, not re-made

        server = await asyncio.create_subprocess_exec(
            *in_netns(netns_name("pod-b"), SERVE), stdout=asyncio.subprocess.PIPE
        )
        assert server.stdout is not None
        assert (await server.stdout.readline()).decode().strip() == "listening"
        reply = await sh(*in_netns(netns_name("pod-a"), CONNECT, b.ip))
        assert reply.strip() == f"hello {a.ip}"  # pod to pod, no NAT on the way
        await asyncio.wait_for(server.wait(), 10)

        hairpin = await sh("ip", "-n", host_netns, "-d", "link", "show", veth_name("pod-a"))
        assert "hairpin on" in hairpin and "master kyb0" in hairpin
    finally:
        await network.teardown("pod-a")
        await network.teardown("pod-b")
    assert not Path(a.netns_path).exists() and not Path(b.netns_path).exists()
    links = await sh("ip", "-n", host_netns, "-o", "link")
    assert "veth" not in links
    assert network.pods() == {}


async def test_a_half_made_namespace_is_replaced(host_netns: str, tmp_path: Path) -> None:
    network = PodNetwork(cidr="10.244.8.0/24", state_dir=tmp_path, host_netns=host_netns)
    await network.ensure_bridge()
    await sh("ip", "netns", "add", netns_name("pod-x"))  # a crash left it half-made
    try:
        address = await network.setup("pod-x")
        shown = await sh("ip", "-n", netns_name("pod-x"), "-o", "-4", "addr")
        assert f"{address.ip}/24" in shown
    finally:
        await network.teardown("pod-x")


async def test_traffic_leaving_the_pod_network_is_masqueraded(
    host_netns: str, tmp_path: Path
) -> None:
    """A pod reaches a host beyond the node as the node itself (no route back to pods)."""
    outside = f"{host_netns}-out"
    await sh("ip", "netns", "add", outside)
    try:
        # host <-> outside over a veth pair, in namespaces this test made: nothing leaves.
        await sh("ip", "-n", host_netns, "link", "add", "up0", "type", "veth", "peer", "name",
                 "down0", "netns", outside)  # fmt: skip
        await sh("ip", "-n", host_netns, "addr", "add", "198.18.5.1/24", "dev", "up0")
        await sh("ip", "-n", host_netns, "link", "set", "up0", "up")
        await sh("ip", "-n", outside, "addr", "add", "198.18.5.2/24", "dev", "down0")
        await sh("ip", "-n", outside, "link", "set", "down0", "up")
        await sh("ip", "-n", outside, "link", "set", "lo", "up")
        network = PodNetwork(cidr="10.244.6.0/24", state_dir=tmp_path, host_netns=host_netns)
        await network.ensure_bridge()
        pod = await network.setup("pod-m")
        server = await asyncio.create_subprocess_exec(
            *in_netns_path(f"/run/netns/{outside}", SERVE), stdout=asyncio.subprocess.PIPE
        )
        assert server.stdout is not None
        assert (await server.stdout.readline()).decode().strip() == "listening"
        reply = await sh(*in_netns(netns_name("pod-m"), CONNECT, "198.18.5.2"))
        assert reply.strip() == "hello 198.18.5.1"  # the node's address, not 10.244.6.x
        assert pod.ip.startswith("10.244.6.")
        await asyncio.wait_for(server.wait(), 10)
        await network.teardown("pod-m")
    finally:
        await sh("ip", "netns", "del", outside)


async def test_a_configured_pod_is_looked_at_with_a_stat(
    host_netns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sync step of each pod calls setup: once configured here it is a stat of the
    namespace's pin, no namespace made and no netlink socket opened in it."""
    import kybernetes.node.network.podnet as podnet

    network = PodNetwork(cidr="10.244.9.0/24", state_dir=tmp_path, host_netns=host_netns)
    await network.ensure_bridge()
    address = await network.setup("pod-y")
    calls: list[str] = []
    real_pin, real_opened = podnet.pin_new, podnet.opened

    async def counting_pin(*args: Any, **kwargs: Any) -> None:
        calls.append("pin")
        await real_pin(*args, **kwargs)

    def counting_opened(path: str) -> Any:
        calls.append("open")
        return real_opened(path)

    monkeypatch.setattr(podnet, "pin_new", counting_pin)
    monkeypatch.setattr(podnet, "opened", counting_opened)
    try:
        assert await network.setup("pod-y") == address
        assert calls == []
        # Removed behind our back: the stat notices, and the pod is made again.
        await sh("ip", "netns", "del", netns_name("pod-y"))
        assert await network.setup("pod-y") == address
        # (pinned twice when the old veth, freed lazily by the kernel, is still there)
        assert calls[0] == "pin" and calls[-1] == "open" and Path(address.netns_path).exists()
        shown = await sh("ip", "-n", netns_name("pod-y"), "-o", "-4", "addr")
        assert f"{address.ip}/24" in shown
    finally:
        await network.teardown("pod-y")
