"""A node under test: a host namespace with the pod bridge, pods serving TCP and UDP, and an
outside client — every packet stays in namespaces made here (DESIGN.md, network safety).

Pods `a` and `b` (and `c`, the in-cluster client) sit on the bridge as the
kubelet would put them (kybernetes.node.network.podnet: bridge netfilter
and hairpin on). `outside` is a namespace joined to the host by a veth,
playing a client on another machine; the host's end of it holds the node's
address.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kybernetes.node.network.podnet import PodAddress, PodNetwork

__all__ = ["NODE_IP", "OUTSIDE_IP", "Node", "make_node"]

NODE_IP = "192.168.241.1"
OUTSIDE_IP = "192.168.241.2"
POD_CIDR = "10.244.9.0/24"

SERVE = """
import socket, sys, threading
name = sys.argv[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5353))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(128)
def udp():
    while True:
        data, peer = u.recvfrom(100); u.sendto(f"{name} {peer[0]}".encode(), peer)
threading.Thread(target=udp, daemon=True).start()
print("listening", flush=True)
while True:
    c, peer = s.accept(); c.sendall(f"{name} {peer[0]}".encode()); c.close()
"""
# One line per attempt: "<server> <source address the server saw>" or "ERR <why>".
CONNECT = """
import errno, socket, sys
host, port, n, proto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
source_port = int(sys.argv[5])  # 0: a new one each time; UDP from a fixed port is one flow
for _ in range(n):
    try:
        if proto == "udp":
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind(("0.0.0.0", source_port)); c.connect((host, port))
            c.send(b"hi"); print(c.recv(100).decode())
        else:
            c = socket.create_connection((host, port), timeout=2); print(c.recv(100).decode())
        c.close()
    except OSError as e:
        print("ERR", errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout")
"""


def nsenter(netns: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{netns}", *argv]


async def sh(*argv: str) -> str:
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   timeout=60)  # fmt: skip
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


@dataclass
class Node:
    host: str
    outside: str
    network: PodNetwork
    pods: dict[str, PodAddress] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)
    servers: list[asyncio.subprocess.Process] = field(default_factory=list)

    def netns(self, pod: str) -> str:
        return Path(self.pods[pod].netns_path).name

    async def connect(self, source: str, ip: str, port: int, *, count: int = 40,
                      proto: str = "tcp", source_port: int = 0) -> list[str]:  # fmt: skip
        """`count` connections from `source` (host, outside, or a pod): one reply line each."""
        netns = {"host": self.host, "outside": self.outside}.get(source) or self.netns(source)
        out = await sh(*nsenter(netns, sys.executable, "-c", CONNECT, ip, str(port),
                                str(count), proto, str(source_port)))  # fmt: skip
        return out.splitlines()

    async def servers_hit(self, source: str, ip: str, port: int, *, count: int = 40,
                          proto: str = "tcp", source_port: int = 0) -> Counter[str]:  # fmt: skip
        """Which server answered each of `count` connections (or ERR <why>)."""
        lines = await self.connect(source, ip, port, count=count, proto=proto,
                                   source_port=source_port)  # fmt: skip
        return Counter(line if line.startswith("ERR") else line.split()[0] for line in lines)


async def make_node(host: str, state_dir: Path) -> Node:
    token = secrets.token_hex(3)
    outside = f"kybt-out-{token}"
    node = Node(host, outside, PodNetwork(cidr=POD_CIDR, state_dir=state_dir, host_netns=host))
    try:
        await _build(node)
    except BaseException:
        await destroy_node(node)
        raise
    return node


async def _build(node: Node) -> None:
    host, outside, token = node.host, node.outside, node.outside.rsplit("-", 1)[1]
    await node.network.ensure_bridge()
    for name in ("a", "b", "c"):
        node.uids[name] = f"kybt-{token}-{name}"
        node.pods[name] = await node.network.setup(node.uids[name])
    await sh("ip", "netns", "add", outside)
    await sh("ip", "-n", host, "link", "add", "kybt-up", "type", "veth", "peer", "name", "eth0",
             "netns", outside)  # fmt: skip
    await sh("ip", "-n", host, "addr", "add", f"{NODE_IP}/24", "dev", "kybt-up")
    await sh("ip", "-n", host, "link", "set", "kybt-up", "up")
    for line in ("link set lo up", f"addr add {OUTSIDE_IP}/24 dev eth0", "link set eth0 up",
                 f"route add default via {NODE_IP}"):  # fmt: skip
        await sh("ip", "-n", outside, *line.split())
    for name in ("a", "b"):
        server = await asyncio.create_subprocess_exec(
            *nsenter(node.netns(name), sys.executable, "-c", SERVE, name),
            stdout=asyncio.subprocess.PIPE,
        )
        node.servers.append(server)
        assert server.stdout is not None
        assert (await asyncio.wait_for(server.stdout.readline(), 20)).strip() == b"listening"


async def destroy_node(node: Node) -> None:
    for server in node.servers:
        if server.returncode is None:
            server.kill()
        await server.wait()
    for uid in node.uids.values():
        await node.network.teardown(uid)
    await asyncio.to_thread(subprocess.run, ["ip", "netns", "del", node.outside],
                            capture_output=True, check=False)  # fmt: skip
