"""Namespaces made and entered from threads of their own, pinned to files (root)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from kybernetes.node.namespaces import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWUTS,
    in_netns,
    pin_new,
    unpin,
)

pytestmark = pytest.mark.root


def output(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout


def run_in(flag: str, pin: Path, *argv: str) -> str:
    return output("nsenter", f"{flag}={pin}", *argv)


async def test_ipc_and_uts_are_pinned_with_the_hostname_and_the_caller_is_untouched(
    tmp_path: Path,
) -> None:
    ipc, uts = tmp_path / "ipc", tmp_path / "uts"
    own = (os.readlink("/proc/self/ns/ipc"), os.readlink("/proc/self/ns/uts"), socket.gethostname())
    await pin_new({CLONE_NEWIPC: str(ipc), CLONE_NEWUTS: str(uts)}, hostname="web-0")
    try:
        assert run_in("--uts", uts, "hostname").strip() == "web-0"
        assert os.path.ismount(ipc) and os.path.ismount(uts)
        assert os.stat(ipc).st_ino != os.stat("/proc/self/ns/ipc").st_ino
        # The process (and this thread) kept its own namespaces and name.
        assert own == (os.readlink("/proc/self/ns/ipc"), os.readlink("/proc/self/ns/uts"),
                       socket.gethostname())  # fmt: skip
    finally:
        unpin(str(ipc))
        unpin(str(uts))
    assert not ipc.exists() and not uts.exists()
    unpin(str(ipc))  # gone already: nothing to do


async def test_an_action_runs_in_the_pinned_network_namespace_and_its_socket_stays_there() -> None:
    pin = f"/run/netns/kybt-ns-{os.getpid()}"
    await pin_new({CLONE_NEWNET: pin})
    try:
        links = run_in("--net", Path(pin), "ip", "-o", "link")
        assert [line.split()[1] for line in links.splitlines()] == ["lo:"]  # a new namespace
        assert pin.rsplit("/", 1)[1] in output("ip", "netns", "list")

        def where() -> int:
            return os.stat("/proc/thread-self/ns/net").st_ino

        assert await in_netns(pin, where) == os.stat(pin).st_ino != where()
        with socket.create_server(("127.0.0.1", 0)) as server:  # in this thread's namespace
            port = server.getsockname()[1]
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            sock = await in_netns(pin, socket.socket)
            with sock, pytest.raises(OSError):
                sock.settimeout(5)
                sock.connect(("127.0.0.1", port))  # not there from the pod's namespace
    finally:
        unpin(pin)
    assert not Path(pin).exists()


async def test_a_failure_in_the_thread_reaches_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await pin_new({CLONE_NEWUTS: str(tmp_path / "missing" / "uts")}, hostname="x")
