"""kubectl exec, cp, attach and port-forward through the API server to a real node.

The real kubectl against the in-process API server, which relays to the
kubelet (tests/node/kubelet/test_kubelet.py's `node`: runc pods in an
isolated host namespace). `kubectl exec -t` runs under a pseudo-terminal
made here, as a user's shell would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import ssl
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest

from kybernetes.apiserver.pki import ADMIN_CERT, ADMIN_KEY
from kybernetes.client.rest import ApiClient
from kybernetes.node.kubelet.kubelet import Kubelet
from tests.apiserver.conftest import KUBECTL, Cluster
from tests.node.kubelet.test_kubelet import PODS, get_pod, node, pod, until

pytestmark = pytest.mark.root

__all__ = ["node"]  # the fixture, shared with test_kubelet.py

WEB = ("mkdir -p /www && echo hello through port-forward > /www/index.html && "
       "exec httpd -f -p 8080 -h /www")  # fmt: skip

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def _env(cluster: Cluster) -> dict[str, str]:
    return {**os.environ, "HOME": str(cluster.home), "KUBECONFIG": str(cluster.kubeconfig)}


async def kubectl(cluster: Cluster, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """The real kubectl: (exit code, stdout, stderr)."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    process = await asyncio.create_subprocess_exec(
        KUBECTL, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_env(cluster),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Terminal:
    """kubectl on a pseudo-terminal we hold the other end of (blocking: use from a thread);
    `prefix` runs it through another command (tests/e2e_node: nsenter into the node)."""

    def __init__(self, env: dict[str, str], args: list[str], rows: int, columns: int,
                 prefix: Sequence[str] = ()) -> None:  # fmt: skip
        assert KUBECTL is not None
        self.master, slave = pty.openpty()
        self.resize(rows, columns, slave)
        self.process = subprocess.Popen([*prefix, KUBECTL, *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=env, start_new_session=True)  # fmt: skip
        os.close(slave)
        self.screen = b""

    def resize(self, rows: int, columns: int, fd: int | None = None) -> None:
        size = struct.pack("HHHH", rows, columns, 0, 0)
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ, size)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, text: bytes, timeout: float = 30) -> None:
        """Read the screen until `text` shows (or fail at the deadline)."""
        assert self.shows(text, timeout), f"{text!r} never showed; the screen: {self.screen!r}"

    def shows(self, text: bytes, timeout: float) -> bool:
        """Read the screen until `text` shows (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:  # EIO: kubectl is gone
                    raise AssertionError(f"{text!r} never showed: {self.screen!r}") from None
        return True

    def finish(self) -> int:
        """Read to the end; kubectl's exit code."""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not chunk:
                break
            self.screen += chunk
        os.close(self.master)
        return self.process.wait(timeout=30)


def _shell_session(env: dict[str, str]) -> tuple[int, str]:
    """`kubectl exec -it box -- sh`: a tty of the terminal's size, a resize, an exit code."""
    terminal = Terminal(env, ["exec", "-it", "box", "--", "sh"], rows=40, columns=132)
    try:
        # Typed only once the shell prompts: input queued before the shell starts could
        # run before runc has copied the size into the container's terminal.
        terminal.wait_for(b"/ # ")
        terminal.type(b"tty; stty size\r")
        terminal.wait_for(b"40 132")
        # A resized window: kubectl hears SIGWINCH (here from us: this pty is not
        # its controlling terminal) and sends the new size on the resize channel.
        terminal.resize(50, 100)
        terminal.process.send_signal(signal.SIGWINCH)
        terminal.type(b"stty size\r")
        terminal.wait_for(b"50 100")
        terminal.type(b"exit 4\r")
        return terminal.finish(), terminal.screen.decode(errors="replace")
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()


async def running_pod(client: ApiClient, name: str, script: str) -> None:
    await client.create(PODS, pod(name, [
        {"name": "main", "image": "busybox", "command": ["sh", "-c", script]},
    ]))  # fmt: skip

    async def running() -> bool:
        statuses = (await get_pod(client, name)).get("status", {}).get("containerStatuses") or []
        return bool(statuses) and "running" in statuses[0]["state"]

    await until(running)


async def test_exec_returns_output_and_exit_code(
    cluster: Cluster, node: tuple[Kubelet, ApiClient], tmp_path: Path
) -> None:
    _, client = node
    await running_pod(client, "box", "sleep 3600")

    code, out, err = await kubectl(cluster, "exec", "box", "--", "sh", "-c",
                                   "echo hi; echo oops >&2; exit 3")  # fmt: skip
    assert (code, out) == (3, "hi\n")
    assert "oops" in err and "command terminated with exit code 3" in err

    code, out, _ = await kubectl(cluster, "exec", "-i", "box", "--", "tr", "a-z", "A-Z",
                                 stdin=b"piped through\n")  # fmt: skip
    assert (code, out) == (0, "PIPED THROUGH\n")

    # A terminal: the shell sees a tty of the size kubectl's terminal has.
    env = _env(cluster)
    code, text = await asyncio.to_thread(_shell_session, env)
    assert code == 4, text
    assert "/dev/pts/" in text

    # kubectl cp: tar over exec, both ways.
    local = tmp_path / "in.txt"
    local.write_text("copied in and out\n")
    code, out, err = await kubectl(cluster, "cp", str(local), "default/box:/tmp/in.txt")
    assert code == 0, out + err
    back = tmp_path / "back.txt"
    code, out, err = await kubectl(cluster, "cp", "default/box:/tmp/in.txt", str(back))
    assert code == 0, out + err
    assert back.read_text() == "copied in and out\n"


async def test_exec_errors_are_kubernetes_shaped(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    await running_pod(client, "box", "sleep 3600")
    code, _, err = await kubectl(cluster, "exec", "box", "-c", "nosuch", "--", "true")
    assert code != 0 and "container nosuch is not valid for pod box" in err, err
    code, _, err = await kubectl(cluster, "exec", "box", "--", "/no/such/program")
    # runc could not start it: an internal error (exit 1), not the command's exit code.
    assert code == 1, err
    assert (
        "error: Internal error occurred: error executing command in container: exec failed" in err
    )
    assert "/no/such/program: no such file or directory" in err
    # A container that is not running (it waits for a ConfigMap that never comes).
    await client.create(PODS, pod("waiting", [{
        "name": "main", "image": "busybox", "command": ["sleep", "3600"],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x"}}}],
    }]))  # fmt: skip

    async def config_error() -> bool:
        statuses = (await get_pod(client, "waiting")).get("status", {}).get("containerStatuses")
        return bool(statuses) and "waiting" in statuses[0]["state"]

    await until(config_error)
    code, _, err = await kubectl(cluster, "exec", "waiting", "--", "true")
    assert code == 1 and 'container not found ("main")' in err, err
    # A pod that is not running yet (no node, so never): the server says why.
    await client.create(PODS, {"metadata": {"name": "unbound"}, "spec": {
        "containers": [{"name": "main", "image": "busybox"}]}})  # fmt: skip
    code, _, err = await kubectl(cluster, "exec", "unbound", "--", "true")
    assert code != 0 and "pod unbound does not have a host assigned" in err, err
    # Finished pods are refused by kubectl itself, from the pod's phase.
    finished = [{"name": "main", "image": "busybox", "command": ["true"]}]
    await client.create(PODS, pod("done", finished, restartPolicy="Never"))

    async def succeeded() -> bool:
        return (await get_pod(client, "done")).get("status", {}).get("phase") == "Succeeded"

    await until(succeeded)
    code, _, err = await kubectl(cluster, "exec", "done", "--", "true")
    assert code != 0 and "completed pod" in err, err


async def test_attach_follows_the_output(cluster: Cluster, node: tuple[Kubelet, ApiClient]) -> None:
    _, client = node
    await running_pod(client, "ticker", TICKER)
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "attach", "ticker", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_env(cluster),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert re.fullmatch(rb"tick \d+\n", line), line
    finally:
        process.kill()
        await process.wait()
    code, _, err = await kubectl(cluster, "attach", "-i", "ticker")
    assert code != 0 and "stdin is not enabled" in err, err


async def test_port_forward_reaches_the_pod(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    await running_pod(client, "web", WEB)
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "port-forward", "pod/web", "0:8080", "--address", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cluster),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        match = re.match(rb"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
        assert match, line
        port = int(match.group(1))
        for _ in range(2):  # two connections over the one tunnel
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            reply = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert reply.startswith(b"HTTP/1.") and b"hello through port-forward" in reply
    finally:
        process.kill()
        await process.wait()
    # A port nothing listens on: the connection ends, kubectl reports the kubelet's words.
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "port-forward", "pod/web", "0:9999", "--address", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cluster),
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        match = re.match(rb"Forwarding from 127\.0\.0\.1:(\d+) -> 9999", line)
        assert match, line
        reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
        said = await asyncio.wait_for(process.stderr.readline(), 30)
        assert b"error forwarding port 9999 to pod web" in said and b"refused" in said, said
    finally:
        # kubectl may end by itself after reporting the error (it lost the tunnel).
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()


def _python_client_exec(kubeconfig: Path) -> tuple[str, str, int | None]:
    """The official Python client's exec (blocking: run it in a thread)."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    session = stream(api.connect_get_namespaced_pod_exec, "box", "default",
                     command=["sh", "-c", "echo out; echo err >&2; exit 7"], stderr=True,
                     stdin=False, stdout=True, tty=False, _preload_content=False)  # fmt: skip
    session.run_forever(timeout=30)
    return session.read_stdout(), session.read_stderr(), session.returncode


async def _first_protocol_exec(cluster: Cluster, *command: str) -> tuple[str, list[bytes]]:
    """A raw WebSocket exec with `channel.k8s.io`, as the conformance test opens it:
    (the subprotocol chosen, every message received)."""
    pki = cluster.pki
    context = ssl.create_default_context(cadata=pki.ca_pem.decode())
    context.load_cert_chain(pki.directory / ADMIN_CERT, pki.directory / ADMIN_KEY)
    url = f"{cluster.api.url}/api/v1/namespaces/default/pods/box/exec"
    params = [("stdout", "1"), ("stderr", "1"), *(("command", c) for c in command)]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, ssl=context, protocols=("channel.k8s.io",), params=params
        ) as socket,
    ):
        received = [m.data async for m in socket if m.type == aiohttp.WSMsgType.BINARY]
        return socket.protocol or "", received


async def test_the_official_python_client_execs(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    """The Python client (v4.channel.k8s.io), and a raw WebSocket speaking the first
    version, channel.k8s.io (conformance P08)."""
    _, client = node
    await running_pod(client, "box", "sleep 3600")
    out, err, code = await asyncio.to_thread(_python_client_exec, cluster.kubeconfig)
    assert (out, err, code) == ("out\n", "err\n", 7)

    protocol, received = await _first_protocol_exec(cluster, "echo", "remote execution test")
    assert protocol == "channel.k8s.io"
    # Only stdout carries anything: on success the error channel says nothing.
    assert {m[:1] for m in received if len(m) > 1} == {b"\x01"}, received
    assert b"".join(m[1:] for m in received) == b"remote execution test\n"
    _, received = await _first_protocol_exec(cluster, "sh", "-c", "exit 3")
    said = b"".join(m[1:] for m in received if m[:1] == b"\x03")
    # A failure is the Status' message as text, not the Status (v4's JSON).
    assert said.startswith(b"command terminated with non-zero exit code: "), received


def _python_client_port_forward(kubeconfig: Path) -> bytes:
    """The official Python client's port-forward (channels, not SPDY), blocking."""
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    forward = portforward(api.connect_get_namespaced_pod_portforward, "web", "default",
                          ports="8080")  # fmt: skip
    sock = forward.socket(8080)
    sock.settimeout(30)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert forward.error(8080) is None
    return reply


async def test_the_official_python_client_forwards_a_port(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    await running_pod(client, "web", WEB)
    reply = await asyncio.to_thread(_python_client_port_forward, cluster.kubeconfig)
    assert reply.startswith(b"HTTP/1.") and b"hello through port-forward" in reply


async def test_open_streams_do_not_hold_the_kubelet_server_stop(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    kubelet, client = node
    await running_pod(client, "web", WEB)
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "port-forward", "pod/web", "0:8080", "--address", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cluster),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert b"Forwarding from" in await asyncio.wait_for(process.stdout.readline(), 30)

        async def tunnel_open() -> bool:
            return bool(kubelet.server and kubelet.server._open)

        await until(tunnel_open)  # kubectl opens its tunnel before any local connection
        assert kubelet.server is not None
        # aiohttp would wait up to a minute for open requests; the tunnel is ended instead.
        await asyncio.wait_for(kubelet.server.stop(), 10)
        # The API server's relay sees the kubelet's end and closes kubectl's tunnel.
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def _run_it_session(env: dict[str, str], node: str) -> str:
    """`kubectl run -it … -- sh`: a pod with a terminal, attached, typed into, left."""
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": node}})
    args = ["run", "shell", "-it", "--image=busybox", "--restart=Never",
            f"--overrides={overrides}", "--", "sh"]  # fmt: skip
    terminal = Terminal(env, args, rows=30, columns=100)
    try:
        terminal.wait_for(b"try pressing enter", timeout=60)
        terminal.type(b"\r")
        terminal.type(b"echo hi-$((6*7))\r")
        terminal.wait_for(b"hi-42")
        # kubectl attach sends the size plus one, then the size (to make programs
        # redraw); keys typed at once may reach the shell between the two (31 101).
        asked = 0
        while not terminal.shows(b"30 100", 0.5):
            assert asked < 20, f"the size never reached the shell: {terminal.screen!r}"
            terminal.type(b"stty size\r")
            asked += 1
        terminal.type(b"exit\r")
        terminal.finish()
        return terminal.screen.decode(errors="replace")
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()


async def test_kubectl_run_it_gives_an_interactive_shell(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    kubelet, client = node
    screen = await asyncio.to_thread(_run_it_session, _env(cluster), kubelet.node_name)
    assert "hi-42" in screen

    async def finished() -> bool:
        status = (await get_pod(client, "shell")).get("status") or {}
        return status.get("phase") in ("Succeeded", "Failed")

    await until(finished)  # `exit` ended the shell: the container ended with it
    logged = await kubectl(cluster, "logs", "shell")
    assert "hi-42" in logged[1]  # what the terminal showed is in the pod's log too
