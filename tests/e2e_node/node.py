"""A whole node under test: `python -m kybernetes server` inside its own network namespace.

The namespace plays a machine with one network card and no wire: `lo` up, a
bridge with no ports carrying the node's address 198.18.0.10/24 and the
default route through it (DESIGN.md: a portless bridge delivers nothing, so
no packet can leave). Everything the user sees runs there, for real: the API
server on :6443, the kubelet's pods behind the node's pod bridge, the service
proxy's nftables, the DNS on 198.18.0.10:53, the ingress on :80/:443, and
the real kubectl (`nsenter --net=...`). The image is built into the node's
store beforehand (`kyb image build`), so nothing is pulled.

Shared by the root tests in this directory and by bench/services.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kybernetes.node.teardown import teardown_node

__all__ = ["IMAGE", "NODE_IP", "Node", "running_node"]

NODE_IP = "198.18.0.10"
IMAGE = "kybernetes.local/test-web:1"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = (
    '{"Entrypoint": ["/bin/busybox"], "Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"]}'
)


def _run(*argv: str, check: bool = True, timeout: float = 60, stdin: str | None = None) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=REPO, input=stdin)  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {done.stdout}{done.stderr}")
    return done.stdout


def build_image(data_dir: Path, name: str = IMAGE, config: str = "", *,
                applets: bool = False) -> None:  # fmt: skip
    """busybox-static as an image: `/bin/busybox`, `/www/index.html`, httpd by default.

    `config` replaces the image config (Docker's words); `applets` links every
    busybox applet into /bin, so that `sh`, `id` or `cat` are on the PATH.
    """
    busybox = shutil.which("busybox")
    if busybox is None:
        raise RuntimeError("busybox is not installed: run scripts/setup.sh")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "rootfs")
        for directory in ("bin", "www", "tmp", "etc"):
            (root / directory).mkdir(parents=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy(busybox, root / "bin" / "busybox")
        if applets:
            for applet in _run(busybox, "--list").split():
                if applet != "busybox":
                    (root / "bin" / applet).symlink_to("busybox")
        (root / "www" / "index.html").write_text("hello\n")
        Path(tmp, "config.json").write_text(config or DEFAULT_CONFIG)
        _run(sys.executable, "-m", "kybernetes", "image", "--data-dir", str(data_dir), "build",
             tmp, "-t", name)  # fmt: skip


class Node:
    def __init__(self, netns: str, data_dir: Path, home: Path) -> None:
        self.netns = netns
        self.data_dir = data_dir
        self.home = home

    def inside(self, *argv: str, check: bool = True, timeout: float = 60,
               stdin: str | None = None) -> str:  # fmt: skip
        """Run a command in the node's namespace."""
        return _run("nsenter", f"--net=/run/netns/{self.netns}", *argv, check=check,
                    timeout=timeout, stdin=stdin)  # fmt: skip

    def kubectl(self, *args: str, check: bool = True, timeout: float = 90,
                stdin: str | None = None) -> str:  # fmt: skip
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise RuntimeError("kubectl is not installed: run scripts/setup.sh")
        env = ["env", f"KUBECONFIG={self.data_dir / 'kubeconfig'}", f"HOME={self.home}"]
        return self.inside(*env, kubectl, *args, check=check, timeout=timeout, stdin=stdin)

    def fetch(self, url: str, *curl: str) -> str:
        """One HTTP(S) request from the node's namespace ("" when it fails)."""
        return self.inside("curl", "-sSk", "--max-time", "5", *curl, url, check=False).strip()

    def from_pod(self, pod: str, url: str) -> str:
        """One request from inside `pod` (busybox wget, bounded by timeout(1)); "" on failure."""
        return self.kubectl("exec", pod, "--", "/bin/busybox", "timeout", "5", "/bin/busybox",
                            "wget", "-qO-", url, check=False).strip()  # fmt: skip

    def replies_from_pod(self, pod: str, url: str, count: int) -> set[str]:
        """The different replies to `count` requests from inside `pod`, each on a
        connection of its own, in one exec (an exec per request made the Service
        tests spend most of their time starting execs)."""
        fetch = f"/bin/busybox timeout 5 /bin/busybox wget -qO- {url}"
        loop = f"i=0; while [ $i -lt {count} ]; do {fetch}; echo; i=$((i + 1)); done"
        out = self.kubectl("exec", pod, "--", "/bin/busybox", "sh", "-c", loop, check=False)
        return {line.strip() for line in out.splitlines() if line.strip()}

    def jsonpath(self, *args: str, path: str) -> str:
        return self.kubectl("get", *args, "-o", f"jsonpath={path}")


def until(check: Callable[[], object], timeout: float = 60, what: str = "") -> None:
    """Poll `check` until it returns something true, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, subprocess.TimeoutExpired) as err:
            last = err
        else:
            if last:
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def make_netns(name: str) -> None:
    ip = ["ip", "-n", name]
    _run("ip", "netns", "add", name)
    _run(*ip, "link", "set", "lo", "up")
    _run(*ip, "link", "add", "uplink", "type", "bridge")  # no ports: a card with no wire
    _run(*ip, "addr", "add", f"{NODE_IP}/24", "dev", "uplink")
    _run(*ip, "link", "set", "uplink", "up")
    _run(*ip, "route", "add", "default", "via", "198.18.0.1", "dev", "uplink", "onlink")


def leftovers(node_dir: Path, uids: list[str]) -> list[str]:
    """What a deleted node left on the machine (empty when nothing)."""
    found: list[str] = []
    runc_root = node_dir / "runtime" / "runc"
    if runc_root.is_dir():
        found += _run("runc", "--root", str(runc_root), "list", "-q", check=False).split()
    found += [m for m in Path("/proc/self/mounts").read_text().split() if str(node_dir) in m]
    found += [f"netns kyb-{u}" for u in uids if os.path.exists(f"/run/netns/kyb-{u}")]
    found += [str(p) for u in uids for p in Path("/sys/fs/cgroup").glob(f"*kubepods/pod{u}")]
    return found


@contextmanager
def running_node(tmp: Path) -> Iterator[Node]:
    """A fresh namespace, a server in it with its node; all of it removed afterwards."""
    if os.geteuid() != 0:
        raise RuntimeError("this needs root (network namespaces, runc); "
                           "deselect root tests with -m 'not root'")  # fmt: skip
    netns = f"kybt-node-{secrets.token_hex(4)}"
    data_dir = tmp / "cluster"
    home = tmp / "home"
    home.mkdir()
    make_netns(netns)
    log = (tmp / "server.log").open("w")
    server: subprocess.Popen[bytes] | None = None
    try:
        build_image(data_dir)
        server = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m", "kybernetes",
             "server", "--data-dir", str(data_dir), "--node-name", "node1",
             "--node-ip", NODE_IP, "--bind-address", "0.0.0.0", "--port", "6443"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        node = Node(netns, data_dir, home)

        def ready() -> bool:
            if server is not None and server.poll() is not None:
                raise RuntimeError(f"kyb server exited: {(tmp / 'server.log').read_text()}")
            if not (data_dir / "kubeconfig").exists():
                return False
            return "True" in node.jsonpath(
                "node", "node1", path='{.status.conditions[?(@.type=="Ready")].status}',
            )  # fmt: skip

        until(ready, timeout=60, what="the node to be Ready")
        yield node
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        node_dir = data_dir / "node"
        pods = node_dir / "kubelet" / "pods"
        uids = [p.name for p in pods.iterdir()] if pods.is_dir() else []
        problems = teardown_node(node_dir, netns=netns)
        _run("ip", "netns", "del", netns, check=False)
        left = leftovers(node_dir, uids)
        if os.path.exists(f"/run/netns/{netns}"):
            left.append(f"netns {netns}")
        if problems or left:
            raise AssertionError(f"the node left things behind: {problems + left}")
